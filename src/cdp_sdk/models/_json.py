"""``extra``: a JSON object whose values pydantic-core checks without calling Python.

pydantic's :data:`~pydantic.JsonValue` picks the schema of each value by calling a Python
function, once per value (and again to write it). Vendor records carry many values in
``extra`` (Hologram's SIMs about 28), so :data:`JsonObject` first tries, for each value, a
schema made of pydantic-core's strict types alone: ``null``, strings, booleans, integers,
floats, and lists and objects of them at any depth. A value that schema refuses goes to
``JsonValue``, alone, which takes it or refuses it as before. The keys, the values
accepted and the values kept are those of ``dict[str, JsonValue]``; JSON input is read
by it, as before. Only a refused value's error differs: it points at the value's key, not
deeper inside the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, cast

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
    StrictBool,
    StrictInt,
    StrictStr,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypeAliasType  # pydantic's own dependency, as in JsonValue

__all__ = ["JsonObject"]

_ERROR_TYPE = "invalid-json-value"
_ERROR_MESSAGE = "input was not a valid JSON value"
"""JsonValue's own error."""


class _Float:
    """A float, as pydantic-core's strict float takes it, but refusing what JsonValue
    refuses: that float also takes ``Decimal`` and ``Fraction``."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.chain_schema(
            [core_schema.is_instance_schema(float), core_schema.float_schema(strict=True)]
        )


class _Strict:
    """A list or a dict as pydantic-core's strict mode takes it: a ``list`` or a ``dict``
    (subclasses included), not a tuple, a set or another mapping. pydantic's ``Strict()``
    does so from 2.8 on; this works from the 2.7 that ``pyproject.toml`` allows."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return cast("CoreSchema", {**handler(source), "strict": True})


if TYPE_CHECKING:  # a recursive alias is pydantic's business; to mypy it is JsonValue
    _StrictJsonValue: TypeAlias = JsonValue
else:
    _StrictJsonValue = TypeAliasType(
        "_StrictJsonValue",
        Annotated[
            StrictStr
            | StrictBool
            | StrictInt
            | Annotated[float, _Float]
            | Annotated[list["_StrictJsonValue"], _Strict]
            | Annotated[dict[StrictStr, "_StrictJsonValue"], _Strict]
            | None,
            # the first choice that takes the value, strings (the most common) first
            Field(union_mode="left_to_right"),
        ],
    )
"""A JSON value in pydantic-core's strict types alone, at any depth."""


class _StrictFirst:
    """The schema of :data:`JsonObject` (see the module's docstring)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        usual = handler(source)  # dict[str, JsonValue]
        value = core_schema.union_schema(
            [handler.generate_schema(_StrictJsonValue), handler.generate_schema(JsonValue)],
            mode="left_to_right",
            custom_error_type=_ERROR_TYPE,
            custom_error_message=_ERROR_MESSAGE,
        )
        return core_schema.json_or_python_schema(
            json_schema=usual,
            # keys as JsonValue's objects take them (a subclass of str becomes a str)
            python_schema=core_schema.dict_schema(core_schema.str_schema(), value),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(schema["json_schema"])


JsonObject = Annotated[dict[str, JsonValue], _StrictFirst]
"""A JSON object (``dict[str, JsonValue]``) checked mostly by pydantic-core alone."""
