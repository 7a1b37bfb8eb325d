"""Query parameter checks for emulators (``cdp_sdk.sandbox.QueryParam`` and friends)."""

from __future__ import annotations

import httpx
import pytest

from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    QueryParam,
    checks_query,
    json_response,
    query_problem,
    route,
)

DOCUMENTED = {
    "page": QueryParam("integer", minimum=1),
    "size": QueryParam("integer", minimum=1, maximum=100),
    "below": QueryParam("integer", maximum=5),
    "order": QueryParam(choices=("asc", "desc")),
    "flag": QueryParam("boolean"),
    "tag": QueryParam(repeatable=True),
    "since": QueryParam(required=True),
}


def problem(*pairs: tuple[str, str]) -> str | None:
    return query_problem(httpx.QueryParams([("since", "1"), *pairs]), DOCUMENTED)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((), None),
        ((("page", "1"), ("size", "100"), ("below", "-3")), None),
        ((("order", "desc"), ("flag", "false"), ("tag", "a"), ("tag", "b")), None),
        ((("colour", "red"),), "Unknown query parameter colour"),
        ((("page", "2"), ("page", "3")), "Query parameter page is given more than once"),
        ((("page", "x"),), 'Cannot parse parameter page as Int: For Input String "x"'),
        ((("page", "0"),), "Parameter page must be >= 1"),
        ((("size", "101"),), "Parameter size must be >= 1 and <= 100"),
        ((("below", "6"),), "Parameter below must be <= 5"),
        ((("flag", "yes"),), 'Cannot parse parameter flag as Boolean: For Input String "yes"'),
        ((("order", "up"),), "Parameter order must be one of asc, desc"),
    ],
)
def test_query_problem_names_the_first_thing_wrong(
    pairs: tuple[tuple[str, str], ...], expected: str | None
) -> None:
    assert problem(*pairs) == expected


def test_a_missing_required_parameter() -> None:
    assert query_problem(httpx.QueryParams(), DOCUMENTED) == (
        "Missing required query parameter since"
    )
    assert query_problem(httpx.QueryParams(), {}) is None


class Checked(Emulator):
    name = "checked"

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        return json_response({"code": code, "message": message}, status)

    @route("GET", "/items")
    @checks_query({"limit": QueryParam("integer", minimum=1)}, code="E400")
    def items(self, request: EmulatorRequest) -> httpx.Response:
        return json_response({"limit": request.params.get("limit")})


def test_checks_query_answers_the_vendor_400_before_the_handler() -> None:
    with httpx.Client(base_url="https://x.test", transport=Checked().transport()) as client:
        assert client.get("/items", params={"limit": "3"}).json() == {"limit": "3"}
        refused = client.get("/items", params={"limit": "0"})
        unknown = client.get("/items", params={"offset": "1"})
    assert (refused.status_code, refused.json()) == (
        400,
        {"code": "E400", "message": "Parameter limit must be >= 1"},
    )
    assert unknown.json()["message"] == "Unknown query parameter offset"
