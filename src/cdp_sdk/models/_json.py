"""``extra``: a JSON object whose values pydantic-core checks without calling Python.

pydantic's :data:`~pydantic.JsonValue` picks the schema of each value by calling a Python
function, once per value. Vendor records carry many values in ``extra`` (Hologram's
SIMs about 28), so :data:`JsonObject` first tries a schema of its own, built from
pydantic-core's strict types alone: ``null``, strings, booleans, integers, floats, and
lists and objects of them nested up to :data:`NESTING` deep. Whatever that schema
refuses (deeper nesting, a subclass of ``str``, a value that is not JSON) goes
to ``dict[str, JsonValue]``, so the values accepted and the values kept are the same as
with ``JsonValue`` alone; only the error differs: one ``json_object`` error for the
whole field, without the path to the value refused. JSON input is read as before.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, JsonValue
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

__all__ = ["NESTING", "JsonObject"]

NESTING = 3
"""Lists and objects nested this deep inside a value are checked without Python."""

_ERROR_TYPE = "json_object"
_ERROR_MESSAGE = (
    "Input should be a JSON object: string keys, and values null, true, false, numbers,"
    " strings, lists or objects"
)


def _strict_value(nesting: int) -> CoreSchema:
    """A JSON value as pydantic-core's strict types, containers ``nesting`` deep."""
    choices: list[CoreSchema | tuple[CoreSchema, str]] = [
        core_schema.str_schema(strict=True),
        core_schema.bool_schema(strict=True),
        core_schema.int_schema(strict=True),
        # a float: pydantic-core's strict float also takes Decimal, Fraction and int
        # subclasses, which JsonValue refuses or reads as an int
        core_schema.chain_schema(
            [core_schema.is_instance_schema(float), core_schema.float_schema(strict=True)]
        ),
    ]
    if nesting:
        inner = _strict_value(nesting - 1)
        choices.append(core_schema.list_schema(inner, strict=True))
        choices.append(
            core_schema.dict_schema(core_schema.str_schema(strict=True), inner, strict=True)
        )
    # null first (no error is made for it), then the choices in order: a value fails only
    # the choices before its own, strings (the most common) first.
    return core_schema.nullable_schema(core_schema.union_schema(choices, mode="left_to_right"))


class _StrictFirst:
    """The schema of :data:`JsonObject` (see the module's docstring)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        usual = handler(source)  # dict[str, JsonValue]
        strict = core_schema.dict_schema(
            core_schema.str_schema(strict=True), _strict_value(NESTING), strict=True
        )
        return core_schema.json_or_python_schema(
            json_schema=usual,
            python_schema=core_schema.union_schema(
                [strict, usual],
                mode="left_to_right",
                custom_error_type=_ERROR_TYPE,
                custom_error_message=_ERROR_MESSAGE,
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(schema["json_schema"])


JsonObject = Annotated[dict[str, JsonValue], _StrictFirst]
"""A JSON object (``dict[str, JsonValue]``) checked mostly by pydantic-core alone."""
