"""The strict OpenAPI request checker (``cdp_sdk.testing.OpenApiRequestChecker``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from cdp_sdk.testing import CheckingTransport, OpenApiRequestChecker, SpecViolation

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "servers": [
        {"url": "https://api.example.com/{version}", "variables": {"version": {"default": "v1"}}}
    ],
    "security": [{"token": []}],
    "components": {
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"},
            "key": {"type": "apiKey", "in": "query", "name": "api_key"},
        },
        "parameters": {
            "Page": {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        },
        "schemas": {
            "Update": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": ["on", "off"]},
                    "label": {"type": "string", "maxLength": 5, "nullable": True},
                    "id": {"type": "string", "readOnly": True},
                },
            },
            "Tagged": {
                "allOf": [
                    {"$ref": "#/components/schemas/Update"},
                    {"properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
                ]
            },
        },
    },
    "paths": {
        "/sims": {
            "get": {
                "parameters": [
                    {"$ref": "#/components/parameters/Page"},
                    {
                        "name": "size",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["a", "b"]},
                        },
                    },
                    {
                        "name": "flag",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "boolean"},
                    },
                    {
                        "name": "X-Trace",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ]
            }
        },
        "/sims/{sim_id}": {
            "parameters": [
                {"name": "sim_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {},
            "put": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Tagged"}}
                    },
                }
            },
        },
        "/sims/{sim_id}/reset": {"post": {}},
        "/sims/{sim_id}/{action}": {"post": {"security": [{"key": []}]}},
        "/forms": {
            "post": {
                "security": [],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "Count": {
                                        "type": "integer",
                                        "exclusiveMinimum": True,
                                        "minimum": 0,
                                    },
                                    "Names": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    }
                },
            }
        },
    },
}
BASE = "https://api.example.com/v1"
AUTH = {"Authorization": "Bearer t"}
GOOD_LIST = {"page": "2", "size": "100", "status": "a", "flag": "true"}


@pytest.fixture
def checker() -> OpenApiRequestChecker:
    return OpenApiRequestChecker(SPEC)


def get(path: str, params: Any = None, headers: dict[str, str] | None = None) -> httpx.Request:
    return httpx.Request("GET", BASE + path, params=params, headers=headers)


def test_a_conforming_request_names_its_operation(checker: OpenApiRequestChecker) -> None:
    request = get("/sims", [*GOOD_LIST.items(), ("status", "b")], {**AUTH, "X-Trace": "1"})
    operation = checker.check(request)
    assert (operation.method, operation.path) == ("GET", "/sims")
    assert checker.check(get("/sims/12", headers=AUTH)).path == "/sims/{sim_id}"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({**GOOD_LIST, "sort": "id"}, "query parameter sort is not documented"),
        ({**GOOD_LIST, "size": "0"}, "query parameter size is below the minimum 1"),
        ({**GOOD_LIST, "size": "101"}, "query parameter size is above the maximum 100"),
        ({**GOOD_LIST, "size": "ten"}, "query parameter size is not of type integer"),
        ({**GOOD_LIST, "page": "1.5"}, "query parameter page is not of type integer"),
        ({**GOOD_LIST, "status": "c"}, "query parameter status[0] is not one of ['a', 'b']"),
        ({**GOOD_LIST, "flag": "yes"}, "query parameter flag is not of type boolean"),
        ({k: v for k, v in GOOD_LIST.items() if k != "flag"}, "required query parameter flag"),
    ],
)
def test_query_parameters_are_checked_by_name_type_and_range(
    checker: OpenApiRequestChecker, params: dict[str, str], problem: str
) -> None:
    problems = checker.problems(get("/sims", params, {**AUTH, "X-Trace": "1"}))
    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_a_single_valued_parameter_given_twice_is_a_problem(
    checker: OpenApiRequestChecker,
) -> None:
    request = get("/sims", [*GOOD_LIST.items(), ("size", "5")], {**AUTH, "X-Trace": "1"})
    assert checker.problems(request) == ["query parameter size is given 2 times"]


def test_required_headers_and_credentials(checker: OpenApiRequestChecker) -> None:
    problems = checker.problems(get("/sims", GOOD_LIST))
    assert "required header X-Trace is missing" in problems
    assert any(problem.startswith("no credentials") for problem in problems)
    # an apiKey in the query is a credential, not an undocumented parameter
    post = httpx.Request("POST", BASE + "/sims/7/wake", params={"api_key": "k"})
    assert checker.problems(post) == []
    assert checker.problems(httpx.Request("POST", BASE + "/sims/7/wake"))[0].startswith(
        "no credentials"
    )


def test_paths_and_methods(checker: OpenApiRequestChecker) -> None:
    assert checker.problems(get("/devices", headers=AUTH)) == ["no path of the spec matches"]
    assert checker.problems(get("/sims/abc", headers=AUTH)) == [
        "path parameter sim_id is not of type integer"
    ]
    deleted = httpx.Request("DELETE", BASE + "/sims/1", headers=AUTH)
    assert checker.problems(deleted) == ["/sims/{sim_id} documents GET, PUT, not DELETE"]
    outside = httpx.Request("GET", "https://api.example.com/v2/sims", headers=AUTH)
    assert checker.problems(outside)[0].startswith("the path is not under")
    # the literal path wins over the template
    reset = httpx.Request("POST", BASE + "/sims/1/reset", headers=AUTH)
    assert checker.check(reset).path == "/sims/{sim_id}/reset"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"status": "on", "colour": "red"}, "body.colour is not a property the schema names"),
        ({"label": "x"}, "body: required property status is missing"),
        ({"status": "maybe"}, "body.status is not one of ['on', 'off']"),
        ({"status": "on", "label": "too long"}, "body.label is longer than 5"),
        ({"status": "on", "id": "1"}, "body.id is read-only"),
        ({"status": "on", "tags": ["a", 2]}, "body.tags[1] is not of type string"),
        ({"status": 1}, "body.status is not of type string"),
    ],
)
def test_json_bodies_follow_the_schema_strictly(
    checker: OpenApiRequestChecker, body: dict[str, Any], problem: str
) -> None:
    request = httpx.Request("PUT", BASE + "/sims/1", json=body, headers=AUTH)
    assert checker.problems(request) == [problem]


def test_body_presence_and_content_type(checker: OpenApiRequestChecker) -> None:
    good = {"status": "on", "label": None, "tags": ["a"]}
    assert checker.problems(httpx.Request("PUT", BASE + "/sims/1", json=good, headers=AUTH)) == []
    assert checker.problems(httpx.Request("PUT", BASE + "/sims/1", headers=AUTH)) == [
        "the request body is required"
    ]
    text = httpx.Request(
        "PUT", BASE + "/sims/1", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert checker.problems(text) == ["the body is not valid JSON"]
    form = httpx.Request("PUT", BASE + "/sims/1", data={"status": "on"}, headers=AUTH)
    assert checker.problems(form)[0].startswith("content type application/x-www-form-urlencoded")
    with_body = httpx.Request("POST", BASE + "/sims/1/reset", json={}, headers=AUTH)
    assert checker.problems(with_body) == ["the operation takes no request body"]


def test_form_bodies_are_typed_like_query_values(checker: OpenApiRequestChecker) -> None:
    def post(*pairs: tuple[str, str]) -> list[str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        request = httpx.Request("POST", BASE + "/forms", content=urlencode(pairs), headers=headers)
        return checker.problems(request)

    assert post(("Count", "3"), ("Names", "a"), ("Names", "b")) == []
    assert post(("Count", "0")) == ["body.Count is below or at the minimum 0"]
    assert post(("Count", "x")) == ["body.Count is not of type integer"]
    assert post(("Other", "1")) == ["body.Other is not a property the schema names"]
    assert post(("Count", "1"), ("Count", "2")) == ["body.Count is given 2 times"]
    streamed = httpx.Request("POST", BASE + "/forms", data={"Count": "2"})
    assert checker.problems(streamed) == []


def test_a_violation_raises_with_every_problem(checker: OpenApiRequestChecker) -> None:
    with pytest.raises(SpecViolation) as caught:
        checker.check(get("/sims", {"size": "0", "x": "1"}))
    assert caught.value.request_line == "GET /v1/sims"
    assert len(caught.value.problems) == 5
    assert isinstance(caught.value, AssertionError)


def test_the_checking_transport_checks_before_sending(checker: OpenApiRequestChecker) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    transport = checker.transport(httpx.MockTransport(answer))
    assert isinstance(transport, CheckingTransport)
    with httpx.Client(transport=transport, headers=AUTH) as client:
        assert client.get(BASE + "/sims/3").status_code == 200
        with pytest.raises(SpecViolation):
            client.get(BASE + "/sims/3", params={"expand": "all"})
    assert len(sent) == 1
    assert [op.path for op in transport.operations] == ["/sims/{sim_id}"]


async def test_the_checking_transport_works_async(checker: OpenApiRequestChecker) -> None:
    transport = checker.transport(httpx.MockTransport(lambda r: httpx.Response(204)))
    async with httpx.AsyncClient(transport=transport, headers=AUTH) as client:
        assert (await client.get(BASE + "/sims/3")).status_code == 204
        with pytest.raises(SpecViolation):
            await client.get(BASE + "/sims/x")


def test_specs_load_from_json_and_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    yaml_spec = "openapi: 3.0.3\npaths:\n  /ping:\n    get: {}\n"
    (tmp_path / "spec.yaml").write_text(yaml_spec)
    assert (
        OpenApiRequestChecker.load(tmp_path / "spec.json").check(get("/sims/1", headers=AUTH)).path
        == "/sims/{sim_id}"
    )
    checker = OpenApiRequestChecker.load(tmp_path / "spec.yaml", base_path="/api")
    assert checker.check(httpx.Request("GET", "https://h/api/ping")).path == "/ping"


def test_only_local_references_are_read() -> None:
    spec = {"paths": {"/a": {"get": {"parameters": [{"$ref": "other.yaml#/p"}]}}}}
    with pytest.raises(ValueError, match="local"):
        OpenApiRequestChecker(spec).problems(httpx.Request("GET", "https://h/a"))
