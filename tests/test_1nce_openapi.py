"""1NCE's official OpenAPI specs check the emulator's answers and the connector's requests.

The connector runs every capability against the emulator through a recording transport;
each exchange is then validated with ``openapi_core`` against the spec that documents it
(Authorization, Product Information, SIM Management v1). Error bodies are checked against
the v2 spec, the only one that gives them a schema.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

import cdp_sdk
from cdp_sdk import SimStatus
from cdp_sdk.connectors.onence import OneNceEmulator
from cdp_sdk.connectors.onence.emulator import DEFAULT_PASSWORD, DEFAULT_USERNAME
from cdp_sdk.sandbox import Fleet
from cdp_sdk.testing import OpenApiRequestChecker

BASE = "https://api.1nce.com/management-api"
SPECS = {
    "auth": "1nce-authorization-openapi.yml",
    "products": "1nce-product-information-openapi.yml",
    "sims": "1nce-sim-management-openapi.yml",
    "sims-v2": "1nce-sim-management-v2-openapi.yml",
}
OPERATIONS = [
    "POST /oauth/token",
    "GET /v1/sims",
    "GET /v1/sims/{iccid}",
    "PUT /v1/sims/{iccid}",
    "GET /v1/sims/{iccid}/quota/data",
    "GET /v1/sims/{iccid}/quota/sms",
    "GET /v1/sims/{iccid}/usage",
    "GET /v1/sims/{iccid}/events",
    "GET /v1/products",
]


class SpecRequest:
    """An ``httpx.Request`` as openapi-core's request protocol."""

    def __init__(self, request: httpx.Request, *, path: str | None = None) -> None:
        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.path = path or request.url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("Content-Type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class SpecResponse:
    """An ``httpx.Response`` as openapi-core's response protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("Content-Type", "")
        self.data = response.content or None


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the emulator and keeps every exchange."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.exchanges.append((request, response))
        return response


def operation(request: httpx.Request) -> str:
    path = request.url.path.removeprefix("/management-api")
    parts = path.split("/")
    if len(parts) > 3 and parts[2] == "sims":
        parts[3] = "{iccid}"
    return f"{request.method} {'/'.join(parts)}"


def spec_for(name: str) -> str:
    if "/oauth/" in name:
        return "auth"
    return "products" if "/products" in name else "sims"


async def drive(transport: Recording, fleet: Fleet) -> None:
    active = next(sim for sim in fleet.sorted_sims() if sim.status is SimStatus.ACTIVE)
    async with cdp_sdk.connect_async(
        "1nce",
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        base_url=BASE,
        rate_limit=None,
        transport=transport,
    ) as client:
        await client.check()
        [sim async for sim in client.subscriptions()]
        await client.subscription(active.iccid)
        await client.change_status(active.iccid, SimStatus.DEACTIVATED)
        await client.update_tags(active.iccid, {"label": "openapi"})
        await client.update_tags(active.iccid, {}, remove=["label"])
        [r async for r in client.usage(active.iccid, start=date(2024, 5, 1), end=date(2024, 6, 1))]
        [e async for e in client.audit_events(active.iccid)]
        [t async for t in client.tariffs()]


@functools.cache
def load_specs(folder: Path) -> Mapping[str, OpenAPI]:
    return {
        key: OpenAPI.from_dict(yaml.safe_load((folder / name).read_text()))
        for key, name in SPECS.items()
    }


@pytest.fixture
def openapi(reference: Path) -> Mapping[str, OpenAPI]:
    return load_specs(reference / "openapi")


@pytest.fixture(scope="module")
def exchanges() -> Mapping[str, list[tuple[httpx.Request, httpx.Response]]]:
    fleet = Fleet(25, seed=11)
    recording = Recording(OneNceEmulator(fleet).transport())
    asyncio.run(drive(recording, fleet))
    grouped: dict[str, list[tuple[httpx.Request, httpx.Response]]] = defaultdict(list)
    for request, response in recording.exchanges:
        grouped[operation(request)].append((request, response))
    return grouped


@pytest.mark.parametrize("name", OPERATIONS)
def test_exchanges_follow_the_official_spec(
    name: str,
    openapi: Mapping[str, OpenAPI],
    exchanges: Mapping[str, list[tuple[httpx.Request, httpx.Response]]],
) -> None:
    assert exchanges[name], f"the connector never called {name}"
    spec = openapi[spec_for(name)]
    for request, response in exchanges[name]:
        assert response.is_success, response.text
        spec.validate_request(SpecRequest(request))
        if response.content:
            spec.validate_response(SpecRequest(request), SpecResponse(response))
        else:  # v1 documents PUT's 200 with an empty content map, which openapi-core
            # reads as "a body is required"; the v2 spec answers it with No Content.
            assert (request.method, response.status_code) == ("PUT", 200)


@functools.cache
def strict_checkers(folder: Path) -> Mapping[str, OpenApiRequestChecker]:
    return {
        key: OpenApiRequestChecker.load(folder / name)
        for key, name in SPECS.items()
        if key != "sims-v2"
    }


def test_every_request_passes_the_strict_check(
    reference: Path, exchanges: Mapping[str, list[tuple[httpx.Request, httpx.Response]]]
) -> None:
    """No parameter, header or body field the spec does not name; types and ranges hold."""
    checkers = strict_checkers(reference / "openapi")
    checked = set()
    for name, pairs in exchanges.items():
        for request, _ in pairs:
            operation = checkers[spec_for(name)].check(request)
            checked.add(f"{operation.method} {operation.path}")
    assert checked == set(OPERATIONS)


def test_the_strict_check_catches_what_openapi_core_lets_through(
    reference: Path, openapi: Mapping[str, OpenAPI]
) -> None:
    request = httpx.Request(
        "GET",
        f"{BASE}/v1/sims",
        params={"page": 1, "pageSize": 100, "per_page": 100},
        headers={"Authorization": "Bearer token"},
    )
    openapi["sims"].validate_request(SpecRequest(request))  # an unknown parameter passes
    checker = strict_checkers(reference / "openapi")["sims"]
    assert checker.problems(request) == ["query parameter per_page is not documented"]
    too_big = httpx.Request(
        "GET", f"{BASE}/v1/sims", params={"pageSize": 101}, headers=request.headers
    )
    assert checker.problems(too_big) == ["query parameter pageSize is above the maximum 100"]


def test_error_bodies_follow_the_v2_schema(openapi: Mapping[str, OpenAPI]) -> None:
    emulator = OneNceEmulator(Fleet(3, seed=1))
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        login = client.post(
            "/oauth/token",
            json={"grant_type": "client_credentials"},
            auth=(DEFAULT_USERNAME, DEFAULT_PASSWORD),
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        missing = client.get("/v1/sims/8988303999999999990", headers=headers)
        refused = client.post(
            "/oauth/token", json={"grant_type": "client_credentials"}, auth=("nobody", "x")
        )
    assert missing.status_code == 404
    v2_path = "/management-api/v2/sims/8988303999999999990"
    openapi["sims-v2"].validate_response(
        SpecRequest(missing.request, path=v2_path), SpecResponse(missing)
    )
    assert refused.status_code == 400
    openapi["auth"].validate_response(SpecRequest(refused.request), SpecResponse(refused))


def test_the_spec_would_catch_a_wrong_request(openapi: Mapping[str, OpenAPI]) -> None:
    """The check is not vacuous: a PUT without the required ``status`` fails validation."""
    request = httpx.Request(
        "PUT",
        f"{BASE}/v1/sims/8988303000000000001",
        json={"iccid": "8988303000000000001"},
        headers={"Authorization": "Bearer token"},
    )
    with pytest.raises(Exception, match="status"):
        openapi["sims"].validate_request(SpecRequest(request))


def test_the_spec_would_catch_a_wrong_answer(openapi: Mapping[str, OpenAPI]) -> None:
    """Nor for answers: a SIM whose status is outside Enabled/Disabled fails validation."""
    request = httpx.Request(
        "GET", f"{BASE}/v1/sims/8988303000000000001", headers={"Authorization": "Bearer token"}
    )
    response = httpx.Response(200, json={"iccid": "8988303000000000001", "status": "Active"})
    with pytest.raises(Exception, match="is not one of"):
        openapi["sims"].validate_response(SpecRequest(request), SpecResponse(response))
