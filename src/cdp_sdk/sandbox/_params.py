"""Query parameter checks for emulators: refuse what the vendor's API documents it refuses.

An emulator route declares the query parameters its operation documents, each with its
type and range; :func:`query_problem` names the first thing wrong with a request's query
(an unknown parameter, a repeated one, a value of the wrong type, out of range or not one
of the documented values), and :func:`checks_query` makes a route answer it with the
vendor's own 400 before the handler runs::

    @route("GET", "/v1/sims")
    @checks_query({"limit": QueryParam("integer", minimum=1, maximum=100)})
    def list_sims(self, request): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx

__all__ = ["QueryParam", "checks_query", "query_problem"]

H = TypeVar("H", bound=Callable[..., httpx.Response])


@dataclass(frozen=True)
class QueryParam:
    """One documented query parameter: its type, bounds and allowed values."""

    kind: Literal["string", "integer", "boolean"] = "string"
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    repeatable: bool = False


def query_problem(params: httpx.QueryParams, documented: Mapping[str, QueryParam]) -> str | None:
    """What is wrong with ``params`` for an operation that takes ``documented``, or ``None``.

    The messages follow the wording vendors use for parameter errors (``Cannot parse
    parameter pageSize as Int: For Input String "abc"``).
    """
    for name in params:
        if name not in documented:
            return f"Unknown query parameter {name}"
    for name, rule in documented.items():
        values = params.get_list(name)
        if not values:
            if rule.required:
                return f"Missing required query parameter {name}"
            continue
        if len(values) > 1 and not rule.repeatable:
            return f"Query parameter {name} is given more than once"
        for value in values:
            problem = _value_problem(name, value, rule)
            if problem is not None:
                return problem
    return None


def _value_problem(name: str, value: str, rule: QueryParam) -> str | None:
    if rule.kind == "integer":
        try:
            number = int(value)
        except ValueError:
            return f'Cannot parse parameter {name} as Int: For Input String "{value}"'
        if (rule.minimum is not None and number < rule.minimum) or (
            rule.maximum is not None and number > rule.maximum
        ):
            low = "" if rule.minimum is None else f" >= {rule.minimum}"
            high = "" if rule.maximum is None else f" <= {rule.maximum}"
            joined = " and".join(part for part in (low, high) if part)
            return f"Parameter {name} must be{joined}"
    elif rule.kind == "boolean" and value not in ("true", "false"):
        return f'Cannot parse parameter {name} as Boolean: For Input String "{value}"'
    if rule.choices and value not in rule.choices:
        return f"Parameter {name} must be one of {', '.join(rule.choices)}"
    return None


def checks_query(
    documented: Mapping[str, QueryParam], *, code: str = "bad_request"
) -> Callable[[H], H]:
    """Answer a request whose query breaks ``documented`` with the emulator's 400 error
    (``code`` goes to :meth:`~cdp_sdk.sandbox.Emulator.error`) instead of the handler."""

    def wrap(handler: H) -> H:
        @functools.wraps(handler)
        def checked(emulator: Any, request: Any) -> httpx.Response:
            problem = query_problem(request.params, documented)
            if problem is not None:
                response: httpx.Response = emulator.error(400, code, problem)
                return response
            return handler(emulator, request)

        return checked  # type: ignore[return-value]

    return wrap
