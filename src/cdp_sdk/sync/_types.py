"""Column types that keep money exact, instants in UTC and JSON native on every database.

SQLite has neither an exact decimal nor a timestamp with a time zone, so there the values
are stored as text in a form that sorts correctly; PostgreSQL gets ``NUMERIC`` and
``TIMESTAMP WITH TIME ZONE``. Either way Python sees ``Decimal`` and aware UTC
``datetime`` values. JSON documents are ``JSONB`` on PostgreSQL and ``JSON`` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["ExactDecimal", "JsonDocument", "UtcDateTime"]

_SQLITE_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"
_FOUR_DIGIT_YEAR_INSTANT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
"""The same text from the fields, formatted at once (half the time of ``isoformat``)."""


def _sqlite_instant(value: datetime | None) -> str | None:
    """An aware instant as the fixed-width UTC text SQLite stores,
    ``2024-06-15T00:00:00.000000Z`` (a naive one is refused)."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("the store only takes aware datetimes")
    if offset or value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.year < 1000:  # the fields below pad the year to four digits, strftime does not
        return value.strftime(_SQLITE_INSTANT)
    return _FOUR_DIGIT_YEAR_INSTANT % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


class UtcDateTime(TypeDecorator[datetime]):
    """An aware instant, given back in UTC.

    PostgreSQL: ``TIMESTAMP WITH TIME ZONE``. SQLite: fixed-width ISO 8601 text in UTC,
    ``2024-06-15T00:00:00.000000Z``, so that text order is time order and SQL comparisons
    with bound datetimes work. A naive datetime is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(27))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return _sqlite_instant(value)
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the store only takes aware datetimes")
        return value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":  # the text column converts nothing more: one call
            return _sqlite_instant
        return super().bind_processor(dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, datetime)
        if moment.tzinfo is None:  # a database that dropped the zone stored UTC
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A :class:`~decimal.Decimal` stored exactly, never through a float.

    PostgreSQL: unconstrained ``NUMERIC`` (scale kept: ``1.50`` stays ``1.50``). SQLite:
    the decimal's text (SQLite's own ``NUMERIC`` affinity would store a float). SQLite
    aggregates such as ``SUM`` still work on the text, in floating point.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError("the store only takes finite Decimal amounts")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class JsonDocument(TypeDecorator[Any]):
    """A JSON document: ``JSONB`` on PostgreSQL, the dialect's ``JSON`` elsewhere.

    PostgreSQL's dialect is imported only for a PostgreSQL store, which saves a store on
    SQLite 2 MiB and a few milliseconds of imports. Python ``None`` is stored as JSON
    ``null``, as ``JSON`` does.
    """

    impl = JSON
    cache_ok = True
    should_evaluate_none = True

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        # As JSON does: a plain value compared with the column binds as that value's type.
        return self.impl_instance.coerce_compared_value(op, value)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())
