"""The emulator's answers and the connector's requests, validated against Soracom's OpenAPI.

Every endpoint the connector uses is called through the connector against the emulator;
each request and each successful response is then checked with ``openapi-core`` against
the official spec (``soracom-api.en.yaml``). The spec fails openapi-core's own spec
validation (an enum whose default is not one of its values), so it is loaded with spec
validation turned off.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

import cdp_sdk
from cdp_sdk import Connector, SimStatus
from cdp_sdk.connectors.soracom import SoracomEmulator
from cdp_sdk.connectors.soracom.emulator import DEFAULT_AUTH_KEY, DEFAULT_AUTH_KEY_ID
from cdp_sdk.sandbox import Fleet
from cdp_sdk.testing import OpenApiRequestChecker

SPEC = "openapi/soracom-api.en.yaml"
BASE_URL = "https://g.api.soracom.io"  # the spec's global server is this host + /v1

USED_OPERATIONS = {
    ("post", "/auth"),
    ("get", "/sims"),
    ("get", "/sims/{sim_id}"),
    ("get", "/query/sims"),
    ("post", "/sims/{sim_id}/activate"),
    ("post", "/sims/{sim_id}/deactivate"),
    ("post", "/sims/{sim_id}/suspend"),
    ("post", "/sims/{sim_id}/set_to_standby"),
    ("post", "/sims/{sim_id}/enable_termination"),
    ("post", "/sims/{sim_id}/terminate"),
    ("put", "/sims/{sim_id}/tags"),
    ("delete", "/sims/{sim_id}/tags/{tag_name}"),
    ("get", "/stats/air/sims/{sim_id}"),
    ("get", "/stats/air/operators/{operator_id}"),
    ("get", "/sims/{sim_id}/statuses/history"),
    ("get", "/sims/{sim_id}/events/sessions"),
    ("get", "/audit_logs/api"),
    ("get", "/bills"),
    ("get", "/bills/{yyyyMM}"),
    ("get", "/bills/summaries/bill_items"),
}


@functools.cache
def load_spec(path: Path) -> OpenAPI:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as file:
        data = yaml.load(file, Loader=loader)  # a safe loader: C-accelerated when present
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


class _Request:
    """An ``httpx.Request`` as openapi-core reads it (the raw, still encoded path)."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self._request.url.scheme}://{self._request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self._request.url.raw_path.decode("ascii").split("?", 1)[0]

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return str(self._request.headers.get("Content-Type", "application/json")).lower()


class _Response:
    """An ``httpx.Response`` as openapi-core reads it."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("Content-Type", "application/json").lower()
        self.data = response.content or None


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the emulator and keeps every request and response."""

    def __init__(self, emulator: SoracomEmulator) -> None:
        self.inner = emulator.transport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.exchanges.append((request, response))
        return response


@pytest.fixture
def spec(reference: Path) -> OpenAPI:
    path = reference / SPEC
    if not path.is_file():
        pytest.skip(f"{SPEC} is not in the reference folder")
    return load_spec(path)


@pytest.fixture
def recording() -> Recording:
    emulator = SoracomEmulator(Fleet(30, seed=11))
    emulator.max_page_size = 4  # several pages of every listing
    return Recording(emulator)


@pytest.fixture
def soracom(recording: Recording) -> Iterator[Connector]:
    with cdp_sdk.connect(
        "soracom",
        auth_key_id=DEFAULT_AUTH_KEY_ID,
        auth_key=DEFAULT_AUTH_KEY,
        base_url=BASE_URL,
        transport=recording,
    ) as connector:
        yield connector


def exercise(soracom: Connector) -> None:
    """Call every endpoint the connector uses."""
    sims = list(soracom.subscriptions())
    active = [sim for sim in sims if sim.status is SimStatus.ACTIVE]
    first, second = active[0].iccid, active[1].iccid
    soracom.subscription(first)
    soracom.subscription(first)  # by the remembered simId
    for target in ("deactivated", "suspended", "ready", "active"):
        soracom.change_status(first, target)
    soracom.change_status(second, "retired", confirm_irreversible=True)
    soracom.update_tags(first, {"fleet": "north", "room/2": None})
    soracom.update_tags(first, {}, remove=["room/2"])
    list(soracom.usage(first, start=date(2024, 6, 1), end=date(2024, 6, 12)))
    list(soracom.usage(first, start=date(2024, 3, 1), end=date(2024, 6, 1), granularity="month"))
    list(soracom.usage(None, start=date(2024, 6, 8), end=date(2024, 6, 15)))
    list(soracom.audit_events(first))
    list(soracom.audit_events())
    list(soracom.invoices())


def test_every_used_endpoint_is_exercised(
    spec: OpenAPI, soracom: Connector, recording: Recording
) -> None:
    exercise(soracom)
    seen = {_operation(spec, request) for request, _ in recording.exchanges}
    assert seen == USED_OPERATIONS


def test_requests_follow_the_spec(spec: OpenAPI, soracom: Connector, recording: Recording) -> None:
    exercise(soracom)
    for request, _ in recording.exchanges:
        spec.validate_request(_Request(request))


def test_successful_responses_follow_the_spec(
    spec: OpenAPI, soracom: Connector, recording: Recording
) -> None:
    exercise(soracom)
    answered = [(q, r) for q, r in recording.exchanges if r.is_success]
    assert len(answered) == len(recording.exchanges)
    for request, response in answered:
        spec.validate_response(_Request(request), _Response(response))


@functools.cache
def strict_checker(path: Path) -> OpenApiRequestChecker:
    return OpenApiRequestChecker.load(path)


def test_requests_pass_the_strict_check(
    reference: Path, soracom: Connector, recording: Recording
) -> None:
    """No parameter, header or body field the spec does not name; types and ranges hold."""
    exercise(soracom)
    checker = strict_checker(reference / SPEC)
    operations = {
        (operation.method.lower(), operation.path)
        for operation in (checker.check(request) for request, _ in recording.exchanges)
    }
    assert operations == USED_OPERATIONS


def test_the_emulator_refuses_what_the_strict_check_refuses(
    reference: Path, recording: Recording
) -> None:
    checker = strict_checker(reference / SPEC)
    with httpx.Client(base_url=BASE_URL, transport=recording.inner) as client:
        login = client.post(
            "/v1/auth", json={"authKeyId": DEFAULT_AUTH_KEY_ID, "authKey": DEFAULT_AUTH_KEY}
        ).json()
        client.headers.update(
            {"X-Soracom-API-Key": login["apiKey"], "X-Soracom-Token": login["token"]}
        )
        for params in ({"limit": "101"}, {"limit": "10", "sort": "asc"}):
            answer = client.get("/v1/query/sims", params=params)
            assert checker.problems(answer.request), params
            assert answer.status_code == 400
        sim_id = client.get("/v1/sims").json()[0]["simId"]
        tag = {"tagName": "a", "tagValue": "b", "c": 1}
        unknown_field = client.put(f"/v1/sims/{sim_id}/tags", json=[tag])
        assert checker.problems(unknown_field.request) == [
            "body[0].c is not a property the schema names"
        ]
        assert unknown_field.status_code == 400


def _operation(spec: OpenAPI, request: httpx.Request) -> tuple[str, Any]:
    result = spec.request_validator.path_finder.find(  # type: ignore[attr-defined]
        request.method.lower(), str(request.url).split("?", 1)[0]
    )
    return request.method.lower(), result.path.parts[-1]
