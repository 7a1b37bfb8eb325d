"""Tests of ``extra``'s type (``cdp_sdk.models._json.JsonObject``): it accepts, keeps and
writes exactly what ``dict[str, JsonValue]`` does; only its error is its own."""

from __future__ import annotations

import enum
import random
import re
import sys
import warnings
from collections import OrderedDict
from decimal import Decimal
from fractions import Fraction
from typing import Any, get_args

import pydantic
import pytest
from pydantic import BaseModel, ConfigDict, Field, JsonValue

import cdp_sdk.models as models
from cdp_sdk.models import Subscription, Tariff
from cdp_sdk.models._json import JsonObject


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class _Pydantic(_Config):
    extra: dict[str, JsonValue] = Field(default_factory=dict)


def _ours() -> type[_Config]:
    """A model with a ``JsonObject`` field, its schema made now: inside the test that
    uses it, not when this module is imported (so that mutation testing reaches it)."""

    class _Ours(_Config):
        extra: JsonObject = Field(default_factory=dict)

    return _Ours


class _Text(enum.StrEnum):
    X = "x"


class _Number(enum.IntEnum):
    ONE = 1


class _SubStr(str):
    pass


class _SubInt(int):
    pass


class _SubFloat(float):
    pass


class _SubDict(dict[str, Any]):
    pass


class _SubList(list[Any]):
    pass


def _nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


CASES: list[Any] = [
    {},
    {"a": None},
    {"s": "text", "i": 1, "f": 1.5, "t": True, "n": False},
    {"nan": float("nan"), "inf": float("inf"), "-inf": -float("inf")},
    {"big": 10**30, "negative": -(10**20)},
    {"text": "h\u00e9llo \u2603 \U0001f600"},
    {"list": [1, "a", None, [True, {"k": [1.0]}]]},
    *({"deep": _nested(depth)} for depth in (*range(6), 60)),
    {"enum": _Text.X},
    {"enum": _Number.ONE},
    {"sub": _SubStr("q")},
    {"sub": _SubInt(3)},
    {"sub": _SubFloat(2.5)},
    {"sub": _SubDict(a=1)},
    {"sub": _SubList([1])},
    {"mixed": [_SubFloat(1.5), _SubInt(2), _Number.ONE, _Text.X, _SubStr("z")]},
    {_SubStr("key"): 1, _Text.X: {_SubStr("inner"): 2}},
    _SubDict(a=1),
    OrderedDict(a=1),
    # refused by both
    {"tuple": (1, 2)},
    {"set": {1}},
    {"object": object()},
    {1: "a key that is not a string"},
    {"bytes": b"x"},
    {"decimal": Decimal("1.5")},
    {"fraction": Fraction(1, 2)},
    {"deep": [_nested(5), {"x": object()}]},
    {"inner key": {1: "a key that is not a string"}},
    {"inner tuple": [(1,)]},
    "not an object",
    [("a", 1)],
    None,
]


def _types(value: Any) -> Any:
    """``value`` with the type of every part of it, keys included."""
    if isinstance(value, dict):
        return type(value), [(type(key), key, _types(item)) for key, item in value.items()]
    if isinstance(value, list):
        return type(value), [_types(item) for item in value]
    return type(value), repr(value)


def _outcome(model: type[_Config], value: Any) -> Any:
    try:
        made = model(extra=value)  # type: ignore[call-arg]
    except pydantic.ValidationError as error:
        return "refused", _problems(error)
    extra = made.extra  # type: ignore[attr-defined]
    return (
        _types(extra),
        extra is value,
        repr(made.model_dump()),
        repr(made.model_dump(mode="json")),
        made.model_dump_json(),
    )


def _problems(error: pydantic.ValidationError) -> list[tuple[Any, ...]]:
    """The errors' types and locations; an error inside a value of ``extra`` counts as
    that value refused (``JsonObject`` names the value, not the place inside it)."""
    found = set()
    for problem in error.errors():
        loc = problem["loc"]
        inside = (len(loc) > 2 and loc[2] != "[key]") or problem["type"] == "invalid-json-value"
        found.add(("invalid-json-value", loc[:2]) if inside else (problem["type"], loc))
    return sorted(found, key=repr)


def _case_id(case: Any) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", repr(case))[:40]


@pytest.mark.parametrize("value", CASES, ids=[_case_id(case) for case in CASES])
def test_it_takes_keeps_and_writes_what_json_value_does(value: Any) -> None:
    ours = _ours()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a serializer warning fails the test
        assert _outcome(ours, value) == _outcome(_Pydantic, value)


def _random_value(rng: random.Random, depth: int) -> Any:
    kinds = ["str", "int", "float", "bool", "none", "odd"]
    if depth:
        kinds += ["list", "dict"] * 2
    kind = rng.choice(kinds)
    if kind == "list":
        return [_random_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    if kind == "dict":
        return {f"k{i}": _random_value(rng, depth - 1) for i in range(rng.randrange(4))}
    if kind == "odd":
        return rng.choice([_SubStr("s"), _SubInt(1), _SubFloat(0.5), _Text.X, Decimal(1), (1,)])
    return {
        "str": "s",
        "int": rng.randrange(-(2**70), 2**70),
        "float": rng.random(),
        "bool": True,
        "none": None,
    }[kind]


def test_random_values_as_json_value_does() -> None:
    rng = random.Random(17)
    ours = _ours()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a serializer warning fails the test
        for _ in range(500):
            value = {f"k{i}": _random_value(rng, 5) for i in range(rng.randrange(1, 6))}
            assert _outcome(ours, value) == _outcome(_Pydantic, value)


@pytest.mark.parametrize(
    "text",
    [
        '{"extra": {"a": 1, "b": [1, {"c": null}], "d": 1.5e300, "e": "x"}}',
        '{"extra": {"a": NaN}}',
        '{"extra": {"d": [[[[[[1]]]]]]}}',
        '{"extra": []}',
        '{"extra": {"a": 1, "a": 2}}',
    ],
)
def test_json_input_is_read_as_json_value_reads_it(text: str) -> None:
    def read(model: type[_Config]) -> Any:
        try:
            return _types(model.model_validate_json(text).extra)  # type: ignore[attr-defined]
        except pydantic.ValidationError as error:
            return [problem["type"] for problem in error.errors()]

    assert read(_ours()) == read(_Pydantic)


def test_json_schema_is_json_values() -> None:
    ours, theirs = _ours().model_json_schema(), _Pydantic.model_json_schema()
    assert ours.pop("title") == "_Ours"
    assert theirs.pop("title") == "_Pydantic"
    assert ours == theirs


@pytest.mark.parametrize("make", [_ours, lambda: Tariff], ids=["JsonObject", "Tariff"])
def test_a_refused_value_is_json_values_error_at_its_key(make: Any) -> None:
    model = make()
    fields = {"connector": "sandbox", "id": "t", "name": "T"} if model is Tariff else {}
    with pytest.raises(pydantic.ValidationError) as caught:
        model(**fields, extra={"fine": [1], "when": [{"at": object()}]})
    [problem] = caught.value.errors()
    assert problem["loc"] == ("extra", "when")
    assert problem["type"] == "invalid-json-value"
    assert problem["msg"] == "input was not a valid JSON value"


def _python_calls(validate: Any, data: Any) -> list[str]:
    """The Python functions called while ``validate(data)`` runs."""
    called: list[str] = []

    def profile(frame: Any, event: str, _arg: Any) -> None:
        if event == "call":
            called.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        validate(data)
    finally:
        sys.setprofile(None)
    return called


@pytest.mark.parametrize(
    "extra",
    [
        {"s": "text", "i": 1, "f": 1.5, "t": True, "n": None, "big": 10**30},
        {"sub": [_SubStr("q"), _SubInt(3), _SubFloat(2.5), _Number.ONE, _Text.X]},
        {"deep": _nested(60), "list": [[1, "a"], {"k": [None, 2.5]}]},
    ],
    ids=["scalars", "subclasses", "nested"],
)
def test_json_values_are_checked_without_calling_python(extra: Any) -> None:
    """The point of ``JsonObject``: pydantic's ``JsonValue`` calls a Python function for
    every value (``_get_type_name``, which picks the value's schema), ``JsonObject`` never."""
    ours = _python_calls(_ours().__pydantic_validator__.validate_python, {"extra": extra})
    theirs = _python_calls(_Pydantic.__pydantic_validator__.validate_python, {"extra": extra})
    assert "_get_type_name" not in ours
    assert theirs.count("_get_type_name") >= len(extra)


def test_every_model_with_extra_uses_it() -> None:
    with_extra = [
        model
        for model in vars(models).values()
        if isinstance(model, type)
        and issubclass(model, BaseModel)
        and "extra" in model.model_fields
    ]
    assert len(with_extra) == 7
    for model in with_extra:
        field = model.model_fields["extra"]
        assert field.annotation == dict[str, JsonValue]
        assert tuple(field.metadata) == get_args(JsonObject)[1:]


def test_a_subscription_keeps_nested_extra() -> None:
    sim = Subscription.model_validate(
        {
            "connector": "sandbox",
            "id": "1",
            "iccid": "8988303000000000010",
            "status": "active",
            "status_raw": "live",
            "extra": {"network": {"mcc": "262"}, "tags": [{"id": "a", "on": True}]},
        }
    )
    assert sim.extra == {"network": {"mcc": "262"}, "tags": [{"id": "a", "on": True}]}
    with pytest.raises(pydantic.ValidationError) as caught:
        Subscription.model_validate({**sim.model_dump(), "extra": {"x": Decimal(1)}})
    assert caught.value.errors()[0]["type"] == "invalid-json-value"
