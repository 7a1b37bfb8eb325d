"""The connector's requests and the emulator's answers, checked against Super SIM's official
OpenAPI (twilio-oai ``twilio_supersim_v1.yaml``).

Every endpoint the connector uses is called through the connector against the emulator.
Each request must match the spec and declare nothing more (no undeclared query parameter
or form field, :mod:`spec_check`); each successful answer must match its documented status
and schema and hold no field the schema lacks; each error answer must be Twilio's
``{"code", "message", "more_info", "status"}``. KORE's token endpoint is not part of this
spec: its exchange is checked in the respx and emulator tests.
"""

from __future__ import annotations

import base64
import functools
from datetime import date
from pathlib import Path

import httpx
import pytest

import cdp_sdk
from cdp_sdk import ConflictError, Connector, SimStatus
from cdp_sdk.connectors.supersim import SuperSimEmulator
from cdp_sdk.connectors.supersim.emulator import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    sim_sid,
)
from cdp_sdk.sandbox import Fleet
from spec_check import SpecCheck, SpecViolation

SPEC = "openapi/twilio_supersim_v1.yaml"
BASE = "https://supersim.twilio.com"  # the spec's server
USED_OPERATIONS = {
    "GET /v1/Sims",
    "POST /v1/Sims/{Sid}",
    "GET /v1/Fleets",
    "GET /v1/UsageRecords",
    "GET /v1/SettingsUpdates",
}
ERROR_KEYS = {"code", "message", "more_info", "status"}


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the emulator and keeps every request and answer."""

    def __init__(self, emulator: SuperSimEmulator) -> None:
        self.emulator = emulator
        self.inner = emulator.transport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.exchanges.append((request, response))
        return response


@functools.cache
def load(path: Path) -> SpecCheck:
    return SpecCheck(path)


@pytest.fixture
def spec(reference: Path) -> SpecCheck:
    path = reference / SPEC
    if not path.is_file():
        pytest.skip(f"{SPEC} is not in the reference folder")
    return load(path)


def connect(recording: Recording) -> Connector:
    return cdp_sdk.connect(
        "supersim",
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        base_url=BASE,
        transport=recording,
    )


@pytest.fixture(scope="module")
def exchanges() -> list[tuple[httpx.Request, httpx.Response]]:
    """Every capability of the connector, run against the emulator (small pages, and an
    update queued for later so that a 202 answer is part of it)."""
    recordings = []
    for delay in (None, 60.0):
        emulator = SuperSimEmulator(Fleet(30, seed=11), schedule_delay=delay)
        emulator.max_page_size = 4  # several pages of every listing
        recording = Recording(emulator)
        with connect(recording) as connector:
            exercise(connector, emulator, queued=delay is not None)
        assert emulator.warnings == [], "the connector sent parameters Super SIM ignores"
        recordings.append(recording)
    return [exchange for recording in recordings for exchange in recording.exchanges]


def exercise(connector: Connector, emulator: SuperSimEmulator, *, queued: bool) -> None:
    connector.check()
    sims = list(connector.subscriptions())
    active = [sim for sim in sims if sim.status is SimStatus.ACTIVE]
    if queued:
        assert connector.change_status(active[0].iccid, "deactivated").state == "pending"
        return
    new = next(sim for sim in sims if sim.status is SimStatus.INVENTORY)
    first = active[0].iccid
    connector.subscription(first)
    connector.change_status(first, "deactivated")
    connector.change_status(first, "active")
    connector.change_status(new.iccid, "ready")
    with pytest.raises(ConflictError):
        connector.change_status(first, "ready")
    connector.update_tags(first, {"label": "openapi"})
    connector.update_tags(first, {}, remove=["label"])
    list(connector.tariffs())
    list(connector.usage(first, start=date(2024, 6, 1), end=date(2024, 6, 12)))
    list(connector.usage(first, start=date(2024, 6, 10), end=date(2024, 6, 11), granularity="hour"))
    list(connector.usage(first, start=date(2024, 3, 1), end=date(2024, 6, 1), granularity="month"))
    list(connector.usage(None, start=date(2024, 6, 1), end=date(2024, 6, 8)))
    list(connector.usage(None))
    list(connector.audit_events(first))
    list(connector.audit_events())


def test_every_used_operation_is_exercised(
    spec: SpecCheck, exchanges: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    assert {spec.name(request) for request, _ in exchanges} == USED_OPERATIONS


def test_requests_follow_the_spec_strictly(
    spec: SpecCheck, exchanges: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    for request, _ in exchanges:
        spec.check_request(request)


def test_answers_follow_the_spec(
    spec: SpecCheck, exchanges: list[tuple[httpx.Request, httpx.Response]]
) -> None:
    statuses = set()
    for request, response in exchanges:
        statuses.add(response.status_code)
        if response.is_success:
            spec.check_response(request, response)
        else:
            body = response.json()
            assert set(body) == ERROR_KEYS
            assert body["status"] == response.status_code
            assert isinstance(body["code"], int)
    assert statuses == {200, 202, 400}  # 400: the refused move to ready


@pytest.mark.parametrize(
    "params",
    [
        {"PageSize": "2"},
        {"Status": "inactive"},
        {"Iccid": "8988303000000000010"},
        {"Fleet": "IoT M 100MB"},
    ],
)
def test_sim_lists_follow_the_spec(spec: SpecCheck, params: dict[str, str]) -> None:
    emulator = SuperSimEmulator(Fleet(10, seed=3))
    request, response = call(emulator, "GET", "/v1/Sims", params=params)
    spec.check_request(request)
    spec.check_response(request, response)
    assert response.json()["sims"] or "Iccid" in params


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/UsageRecords", {"Group": "sim", "Granularity": "day"}),
        ("/v1/UsageRecords", {"Group": "fleet", "IsoCountry": "DE"}),
        ("/v1/UsageRecords", {"Group": "network", "Granularity": "hour", "PageSize": "3"}),
        ("/v1/SettingsUpdates", {"Status": "scheduled"}),
        ("/v1/Fleets", {"NetworkAccessProfile": "HA" + "0b" * 16}),
    ],
)
def test_other_lists_follow_the_spec(spec: SpecCheck, path: str, params: dict[str, str]) -> None:
    emulator = SuperSimEmulator(Fleet(10, seed=3))
    request, response = call(emulator, "GET", path, params=params)
    spec.check_request(request)
    spec.check_response(request, response)


def test_a_fetched_sim_follows_the_spec(spec: SpecCheck) -> None:
    emulator = SuperSimEmulator(Fleet(10, seed=3))
    sid = sim_sid(emulator.fleet.sorted_sims()[0])
    request, response = call(emulator, "GET", f"/v1/Sims/{sid}")
    spec.check_request(request)
    spec.check_response(request, response)


# -- the strict checks catch what openapi-core lets through ---------------------------------


def test_an_undeclared_query_parameter_is_caught(spec: SpecCheck) -> None:
    request = httpx.Request("GET", f"{BASE}/v1/Sims", params={"PageSize": 5, "Imsi": "1"})
    with pytest.raises(SpecViolation, match="Imsi"):
        spec.check_request(request)


def test_an_undeclared_form_field_is_caught(spec: SpecCheck) -> None:
    request = httpx.Request(
        "POST", f"{BASE}/v1/Sims/HS{'a' * 32}", data={"Status": "active", "Tariff": "x"}
    )
    with pytest.raises(SpecViolation, match="Tariff"):
        spec.check_request(request)


def test_a_json_update_is_caught(spec: SpecCheck) -> None:
    request = httpx.Request("POST", f"{BASE}/v1/Sims/HS{'a' * 32}", json={"Status": "active"})
    with pytest.raises(SpecViolation, match="application/json"):
        spec.check_request(request)


@pytest.mark.parametrize(
    "params", [{"PageSize": "1001"}, {"Status": "suspended"}, {"PageSize": "0"}]
)
def test_a_query_value_out_of_the_spec_is_caught(spec: SpecCheck, params: dict[str, str]) -> None:
    spec.check_request(signed(httpx.Request("GET", f"{BASE}/v1/Sims")))
    [name] = params
    with pytest.raises(SpecViolation, match=f"query parameter {name} is"):
        spec.check_request(signed(httpx.Request("GET", f"{BASE}/v1/Sims", params=params)))


def test_a_form_value_out_of_the_spec_is_caught(spec: SpecCheck) -> None:
    url = f"{BASE}/v1/Sims/HS{'a' * 32}"
    spec.check_request(signed(httpx.Request("POST", url, data={"Status": "inactive"})))
    with pytest.raises(SpecViolation, match=r"body\.Status is not one of"):
        spec.check_request(signed(httpx.Request("POST", url, data={"Status": "suspended"})))


def test_an_unsigned_request_is_caught(spec: SpecCheck) -> None:
    with pytest.raises(SpecViolation, match="no credentials"):
        spec.check_request(httpx.Request("GET", f"{BASE}/v1/Sims"))


def test_an_answer_field_the_spec_lacks_is_caught(spec: SpecCheck) -> None:
    emulator = SuperSimEmulator(Fleet(5, seed=3))
    request, response = call(emulator, "GET", "/v1/Sims")
    body = response.json()
    body["sims"][0]["imsi"] = "001010123456789"
    drifted = httpx.Response(200, json=body, request=request)
    with pytest.raises(SpecViolation, match="imsi"):
        spec.check_response(request, drifted)
    body = response.json()
    body["meta"]["total"] = 5
    with pytest.raises(SpecViolation, match="total"):
        spec.check_response(request, httpx.Response(200, json=body, request=request))


def test_an_undocumented_status_is_caught(spec: SpecCheck) -> None:
    request = httpx.Request("GET", f"{BASE}/v1/Sims")
    with pytest.raises(SpecViolation, match="204"):
        spec.check_response(request, httpx.Response(204, request=request))


def test_an_operation_outside_the_spec_is_caught(spec: SpecCheck) -> None:
    with pytest.raises(SpecViolation, match="documents GET, POST, not DELETE"):
        spec.check_request(httpx.Request("DELETE", f"{BASE}/v1/Sims/HS{'a' * 32}"))


def signed(request: httpx.Request) -> httpx.Request:
    """``request`` with HTTP Basic credentials (the spec's security scheme)."""
    pair = base64.b64encode(f"{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}".encode()).decode()
    request.headers["Authorization"] = f"Basic {pair}"
    return request


def call(
    emulator: SuperSimEmulator, method: str, path: str, **kwargs: object
) -> tuple[httpx.Request, httpx.Response]:
    with httpx.Client(
        base_url=BASE,
        transport=emulator.transport(),
        auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN),
    ) as client:
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.request, response
