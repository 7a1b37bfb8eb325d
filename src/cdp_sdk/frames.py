"""DataFrames of models: ``to_pandas`` and ``to_arrow`` (the ``frames`` extra).

>>> from cdp_sdk import Workspace
>>> from cdp_sdk.frames import to_pandas
>>> with Workspace.load("cdp.toml") as workspace:  # doctest: +SKIP
...     sims = to_pandas(workspace.subscriptions())
...     usage = to_pandas(workspace.usage(start=date(2024, 5, 1)))

One row per record and one column per model field, in the model's order; records wrapped
in an :class:`~cdp_sdk.workspace.AccountRecord` get an ``account`` column first. Column
types keep what the models promise:

=====================================  ==========================  =========================
field                                  Arrow                       pandas
=====================================  ==========================  =========================
``str``, enums (their value),          ``string``                  strings
``Literal``
``int``                                ``int64``                   ``Int64`` (nullable)
``bool``                               ``bool``                    ``boolean`` (nullable)
``Decimal`` (money)                    ``decimal128(38, s)``, s    ``object`` of ``Decimal``
                                       the largest scale seen
                                       (``decimal256`` beyond 38
                                       digits)
``datetime`` (aware)                   ``timestamp[us, UTC]``      ``datetime64[us, UTC]``
``date``                               ``date32``                  ``object`` of ``date``
anything else (``tags``, ``lines``,    ``string``: the field's     strings
``extra``, ``next``...)                JSON, as ``model_dump_json``
                                       writes it
=====================================  ==========================  =========================

Nested values are JSON text rather than nested columns so that every frame also fits
CSV, Parquet readers without nested support, and SQL. ``json.loads`` gives them back.

pandas and pyarrow are imported on first use; without them the functions raise an
``ImportError`` naming the ``frames`` extra.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = ["ColumnKind", "to_arrow", "to_pandas"]

_EXTRA_HINT = "pip install 'cdp-iot-sdk[frames]'"


class ColumnKind(StrEnum):
    """How a column is typed in Arrow and pandas."""

    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    FLOAT = "float"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    DATE = "date"
    JSON = "json"


def to_arrow(records: Iterable[Any], *, model: type[BaseModel] | None = None) -> pyarrow.Table:
    """A ``pyarrow.Table`` of ``records`` (models of one class, or account records).

    Args:
        records: models of one class, or :class:`~cdp_sdk.workspace.AccountRecord` pairs
            wrapping them; any iterable, consumed once (a workspace listing works).
        model: the model class, which gives the columns when ``records`` is empty.

    Raises:
        TypeError: records of different classes, or that are not models.
        ImportError: pyarrow is not installed (the ``frames`` extra).
    """
    pyarrow = _require("pyarrow")
    items = list(records)
    wrapped = bool(items) and _is_account_record(items[0])
    models: list[BaseModel] = [item[1] if wrapped else item for item in items]
    model_class = _model_class(models, model)
    if model_class is None:
        return pyarrow.table({})
    columns = [(name, _kind(field.annotation)) for name, field in model_class.model_fields.items()]
    json_fields = {name for name, kind in columns if kind is ColumnKind.JSON}
    rows: list[list[Any]] = []
    for position, record in enumerate(models):
        dumped = record.model_dump(mode="json", include=json_fields) if json_fields else {}
        row = [
            _json_text(dumped[name]) if kind is ColumnKind.JSON else getattr(record, name)
            for name, kind in columns
        ]
        if wrapped:
            account = items[position][0]
            if "account" in model_class.model_fields:
                row[list(model_class.model_fields).index("account")] = account
            else:
                row.insert(0, account)
        rows.append(row)
    if wrapped and "account" not in model_class.model_fields:
        columns.insert(0, ("account", ColumnKind.TEXT))
    return arrow_table(columns, rows)


def to_pandas(records: Iterable[Any], *, model: type[BaseModel] | None = None) -> pandas.DataFrame:
    """A ``pandas.DataFrame`` of ``records``: :func:`to_arrow`, then to pandas with the
    types in the module's table (nullable integers and booleans, ``Decimal`` objects,
    UTC timestamps)."""
    return arrow_to_pandas(to_arrow(records, model=model))


def arrow_table(
    columns: Sequence[tuple[str, ColumnKind]], rows: Iterable[Sequence[Any]]
) -> pyarrow.Table:
    """A ``pyarrow.Table`` from typed columns and rows of plain values (enums, Decimals,
    aware datetimes, dicts for JSON columns are all accepted)."""
    pyarrow = _require("pyarrow")
    data = list(rows)
    arrays = []
    for position, (_name, kind) in enumerate(columns):
        values = [_plain(row[position], kind) for row in data]
        arrays.append(pyarrow.array(values, type=_arrow_type(kind, values)))
    return pyarrow.Table.from_arrays(arrays, names=[name for name, _ in columns])


def arrow_to_pandas(table: pyarrow.Table) -> pandas.DataFrame:
    """``table`` in pandas: ``int64`` as nullable ``Int64``, ``bool`` as nullable
    ``boolean``; decimals as ``Decimal`` objects, timestamps keep their UTC zone."""
    pd = _require("pandas")
    pa = _require("pyarrow")
    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    frame: pandas.DataFrame = table.to_pandas(types_mapper=nullable.get)
    return frame


# -- internals ------------------------------------------------------------------------------


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"cdp_sdk.frames needs pandas and pyarrow ({module} is missing): {_EXTRA_HINT}"
        ) from exc


def _is_account_record(item: Any) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], BaseModel)
    )


def _model_class(models: Sequence[Any], model: type[BaseModel] | None) -> type[BaseModel] | None:
    classes = {type(record) for record in models}
    if model is not None:
        classes.add(model)
    if not classes:
        return None
    if len(classes) > 1:
        names = ", ".join(sorted(c.__name__ for c in classes))
        raise TypeError(f"records must all be of one model class (found {names})")
    (found,) = classes
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise TypeError(f"records must be cdp-sdk models, not {found.__name__}")
    return found


def _kind(annotation: Any) -> ColumnKind:
    """The column kind of a field annotation (``Optional`` and ``Annotated`` unwrapped)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kind(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _kind(options[0]) if len(options) == 1 else ColumnKind.JSON
    if origin is Literal:
        values = get_args(annotation)
        return ColumnKind.TEXT if all(isinstance(v, str) for v in values) else ColumnKind.JSON
    if not isinstance(annotation, type):
        return ColumnKind.JSON
    for base, kind in _KINDS:
        if issubclass(annotation, base):
            return kind
    return ColumnKind.JSON


# Order matters: bool is an int, datetime is a date, a StrEnum is a str.
_KINDS: tuple[tuple[type, ColumnKind], ...] = (
    (Enum, ColumnKind.TEXT),
    (bool, ColumnKind.BOOLEAN),
    (int, ColumnKind.INTEGER),
    (float, ColumnKind.FLOAT),
    (Decimal, ColumnKind.DECIMAL),
    (datetime, ColumnKind.DATETIME),
    (date, ColumnKind.DATE),
    (str, ColumnKind.TEXT),
)


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _plain(value: Any, kind: ColumnKind) -> Any:
    if value is None:
        return None
    if kind is ColumnKind.TEXT and isinstance(value, Enum):
        return str(value.value)
    if kind is ColumnKind.JSON and not isinstance(value, str):
        return _json_text(value)
    return value


def _arrow_type(kind: ColumnKind, values: Sequence[Any]) -> Any:
    pyarrow = _require("pyarrow")
    if kind is ColumnKind.DECIMAL:
        return _decimal_type(pyarrow, [v for v in values if v is not None])
    return {
        ColumnKind.TEXT: pyarrow.string(),
        ColumnKind.JSON: pyarrow.string(),
        ColumnKind.INTEGER: pyarrow.int64(),
        ColumnKind.BOOLEAN: pyarrow.bool_(),
        ColumnKind.FLOAT: pyarrow.float64(),
        ColumnKind.DATETIME: pyarrow.timestamp("us", tz="UTC"),
        ColumnKind.DATE: pyarrow.date32(),
    }[kind]


def _decimal_type(pyarrow: Any, values: Sequence[Decimal]) -> Any:
    """The narrowest Arrow decimal holding every value exactly."""
    scale = 0
    integer_digits = 1
    for value in values:
        _sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite: models refuse NaN and infinities
        scale = max(scale, -exponent)
        integer_digits = max(integer_digits, len(digits) + exponent)
    if integer_digits + scale <= 38:
        return pyarrow.decimal128(38, scale)
    if integer_digits + scale <= 76:
        return pyarrow.decimal256(76, scale)
    raise ValueError("a decimal needs more than 76 digits; Arrow cannot hold it exactly")
