"""The 1NCE connector against payloads shaped as 1NCE's OpenAPI specs document them (respx).

Bodies, headers and error shapes follow the official specs (Authorization v2.1.1, SIM
Management v1 and v2, Product Information) and the reference (mvno-platforms.md section 2);
values are made up, with valid ICCID check digits.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import respx

import cdp_sdk
from cdp_sdk import (
    AsyncConnector,
    AuditKind,
    AuthenticationError,
    Bearer,
    ConflictError,
    Direction,
    InvalidRequestError,
    NotFoundError,
    SimStatus,
    Tag,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.testing import FakeSleep

BASE = "https://api.1nce.com/management-api"
USERNAME = "ops+api@example.com"
PASSWORD = "p@ss:w0rd&more"
ICCID = "89882806660000000176"
KEY = "8988280666000000017"  # the vendor's iccid: no check digit


def token(expires_in: int = 3600) -> dict[str, Any]:
    return {
        "status_code": 200,
        "access_token": "eyJpZHRva2VuIjoic2FuZGJveCJ9.payload.sig",
        "token_type": "bearer",
        "expires_in": expires_in,
        "userId": "user",
        "scope": "all",
    }


def sim_record(status: str = "Enabled", **changes: Any) -> dict[str, Any]:
    return {
        "iccid": KEY,
        "iccid_with_luhn": ICCID,
        "imsi": "901405100000017",
        "imsi_2": "901405100000917",
        "current_imsi": "901405100000017",
        "msisdn": "882285100000017",
        "imei": "356938035643809",
        "imei_lock": True,
        "status": status,
        "activation_date": "2023-04-11T08:02:41.000+0000",
        "ip_address": "10.212.4.17",
        "current_quota": 412.5,
        "quota_status": {"id": 0, "description": "More than 20% available"},
        "current_quota_SMS": 243,
        "quota_status_SMS": {"id": 0, "description": "More than 20% available"},
        "label": "pump-station-3",
    } | changes


def page_headers(page: int, pages: int, total: int, size: int = 100) -> dict[str, str]:
    return {
        "X-Count-Per-Page": str(size),
        "X-Current-Page": str(page),
        "X-Total-Count": str(total),
        "X-Total-Pages": str(pages),
    }


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/oauth/token").respond(json=token())
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def onence(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async(
        "1nce", username=USERNAME, password=PASSWORD, rate_limit=None
    ) as connector:
        connector.plugin.http.sleep = sleep
        yield connector


def sim_route(api: respx.MockRouter, record: dict[str, Any]) -> respx.Route:
    return api.get(f"/v1/sims/{KEY}").respond(json=record)


# -- authorization -------------------------------------------------------------------------


async def test_token_request_is_plain_basic_with_a_json_grant(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    api.get("/v1/sims").respond(json=[], headers=page_headers(1, 1, 0))
    [sim async for sim in onence.subscriptions()]
    login = api.routes[0].calls.last.request
    assert login.url == f"{BASE}/oauth/token"
    expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert login.headers["Authorization"] == f"Basic {expected}"  # not form-encoded
    assert login.headers["Content-Type"] == "application/json"
    assert json.loads(login.content) == {"grant_type": "client_credentials"}


async def test_the_token_is_reused_until_shortly_before_it_expires(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    sims = api.get("/v1/sims").respond(json=[], headers=page_headers(1, 1, 0))
    for _ in range(3):
        [sim async for sim in onence.subscriptions()]
    assert api.routes[0].call_count == 1
    assert sims.calls.last.request.headers["Authorization"] == f"Bearer {token()['access_token']}"
    api.routes[0].respond(json=token(expires_in=30))  # inside the one-minute refresh margin
    await onence.check()
    for _ in range(2):
        [sim async for sim in onence.subscriptions()]
    assert api.routes[0].call_count == 4


@pytest.mark.parametrize("code", ["BadCredentials", "AuthValidationError"])
async def test_refused_credentials(
    api: respx.MockRouter, onence: AsyncConnector, code: str
) -> None:
    api.routes[0].respond(
        400, json={"statusCode": 400, "errorCode": code, "message": "User does not exist."}
    )
    with pytest.raises(AuthenticationError) as caught:
        await onence.check()
    assert caught.value.vendor_code == code
    assert PASSWORD not in str(caught.value)


# -- SIMs ------------------------------------------------------------------------------------


async def test_listing_pages_with_page_size_100(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    second = api.get("/v1/sims", params={"page": "2"}).respond(
        json=[
            sim_record(
                "Disabled",
                iccid="8988280666000000025",
                iccid_with_luhn="89882806660000000259",
                label=None,
            )
        ],
        headers=page_headers(2, 2, 2),
    )
    first = api.get("/v1/sims", params={"page": "1"}).respond(
        json=[sim_record()], headers=page_headers(1, 2, 2)
    )

    sims = [sim async for sim in onence.subscriptions()]

    assert [(sim.iccid, sim.status, sim.tags) for sim in sims] == [
        (ICCID, SimStatus.ACTIVE, (Tag(key="label", value="pump-station-3"),)),
        ("89882806660000000259", SimStatus.DEACTIVATED, ()),
    ]
    assert dict(first.calls.last.request.url.params) == {"page": "1", "pageSize": "100"}
    assert dict(second.calls.last.request.url.params) == {"page": "2", "pageSize": "100"}


async def test_an_empty_page_that_x_total_pages_says_is_not_the_last_is_followed(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    api.get("/v1/sims", params={"page": "1"}).respond(
        json=[sim_record()], headers=page_headers(1, 3, 2)
    )
    api.get("/v1/sims", params={"page": "2"}).respond(json=[], headers=page_headers(2, 3, 2))
    last = api.get("/v1/sims", params={"page": "3"}).respond(
        json=[sim_record(iccid="8988280666000000025", iccid_with_luhn="89882806660000000259")],
        headers=page_headers(3, 3, 2),
    )

    sims = [sim async for sim in onence.subscriptions()]

    assert [sim.iccid for sim in sims] == [ICCID, "89882806660000000259"]
    assert last.call_count == 1


async def test_a_page_served_again_raises(api: respx.MockRouter, onence: AsyncConnector) -> None:
    # Page 3 comes back with page 1's SIMs: a paging loop, not two more SIMs.
    one = [sim_record()]
    two = [sim_record(iccid="8988280666000000025", iccid_with_luhn="89882806660000000259")]
    api.get("/v1/sims", params={"page": "1"}).respond(json=one, headers=page_headers(1, 3, 3))
    api.get("/v1/sims", params={"page": "2"}).respond(json=two, headers=page_headers(2, 3, 3))
    api.get("/v1/sims", params={"page": "3"}).respond(json=one, headers=page_headers(3, 3, 3))
    with pytest.raises(UnexpectedResponseError, match="repeated a page") as caught:
        [sim async for sim in onence.subscriptions()]
    assert caught.value.connector == "1nce"


async def test_an_unreadable_x_total_pages_is_an_unexpected_response(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    api.get("/v1/sims").respond(
        json=[sim_record()], headers={**page_headers(1, 1, 1), "X-Total-Pages": "n/a"}
    )
    with pytest.raises(UnexpectedResponseError, match="paging signal"):
        [sim async for sim in onence.subscriptions()]


async def test_subscription_adds_the_quotas(api: respx.MockRouter, onence: AsyncConnector) -> None:
    sim_route(api, sim_record())
    quota = {
        "volume": 435.787951,
        "total_volume": 500,
        "expiry_date": "2029-01-01T00:00:00.000Z",
        "threshold_percentage": 20,
    }
    api.get(f"/v1/sims/{KEY}/quota/data").respond(json=quota)
    api.get(f"/v1/sims/{KEY}/quota/sms").respond(
        404, json={"error_code": 1000, "error_token": "NotFound", "message": "No quota"}
    )

    sim = await onence.subscription(ICCID)

    assert sim.id == KEY
    assert sim.extra["quota_data"]["remaining_bytes"] == 435_787_951  # type: ignore[index]
    assert "quota_sms" not in sim.extra


async def test_an_iccid_without_check_digit_is_tried_as_given(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    plain = "8988280666000000025"  # its last digit is no check digit: one lookup, as given
    route = api.get(f"/v1/sims/{plain}").respond(json=sim_record(iccid=plain, iccid_with_luhn=None))
    api.get(f"/v1/sims/{plain}/quota/data").respond(json={})
    api.get(f"/v1/sims/{plain}/quota/sms").respond(json={})
    assert (await onence.subscription(plain)).iccid == "89882806660000000259"
    assert route.call_count == 1


async def test_an_unknown_iccid_is_the_vendors_404(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    not_found = {"error_code": 1000, "error_token": "NotFound", "message": "Element not found"}
    api.get(f"/v1/sims/{KEY}").respond(404, json=not_found)
    api.get(f"/v1/sims/{ICCID}").respond(404, json=not_found)
    with pytest.raises(NotFoundError) as caught:
        await onence.subscription(ICCID)
    assert (caught.value.status_code, caught.value.vendor_code) == (404, "NotFound")


# -- status and label ------------------------------------------------------------------------


async def test_change_status_puts_the_whole_update(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    sim_route(api, sim_record("Enabled"))
    put = api.put(f"/v1/sims/{KEY}").respond(200)

    change = await onence.change_status(ICCID, SimStatus.DEACTIVATED)

    assert (change.state, change.iccid) == ("done", ICCID)
    assert json.loads(put.calls.last.request.content) == {
        "iccid": KEY,
        "status": "Disabled",
        "imei_lock": True,
        "label": "pump-station-3",
    }


@pytest.mark.parametrize(
    "status", [SimStatus.TEST, SimStatus.SUSPENDED, SimStatus.INVENTORY, SimStatus.READY]
)
async def test_states_1nce_lacks_are_refused_before_any_call(
    api: respx.MockRouter, onence: AsyncConnector, status: SimStatus
) -> None:
    api.routes.clear()  # not even a token request
    with pytest.raises(
        InvalidRequestError, match=r"Enabled \(active\) or Disabled \(deactivated\)"
    ):
        await onence.change_status(ICCID, status)


async def test_update_tags_sets_and_clears_the_label(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    sim_route(api, sim_record())
    put = api.put(f"/v1/sims/{KEY}").respond(200)

    await onence.update_tags(ICCID, {"label": "north"})
    set_body = json.loads(put.calls.last.request.content)
    await onence.update_tags(ICCID, {}, remove=["label"])
    clear_body = json.loads(put.calls.last.request.content)

    assert (set_body["label"], set_body["status"]) == ("north", "Enabled")
    assert clear_body["label"] == ""
    calls = len(api.calls)
    with pytest.raises(InvalidRequestError, match="'fleet' is not a tag of this platform"):
        await onence.update_tags(ICCID, {"fleet": "trucks"})
    assert len(api.calls) == calls  # refused before any request


async def test_an_expired_sim_cannot_be_modified(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    sim_route(api, sim_record())
    api.put(f"/v1/sims/{KEY}").respond(422)
    with pytest.raises(ConflictError) as caught:
        await onence.change_status(ICCID, SimStatus.DEACTIVATED)
    assert caught.value.status_code == 422


# -- usage, events, products -----------------------------------------------------------------


async def test_daily_usage_with_an_inclusive_end_date(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    # One request: the usage of the ICCID without its check digit (1NCE's key), with no
    # look-up of the SIM first (the router refuses any call it does not know).
    day = {
        "date": "2021-06-30T00:00:00.000Z",
        "data": {
            "cost": "0.002803",
            "currency": {"id": 1, "symbol": "€", "code": "EUR"},
            "traffic_type": {"description": "Data", "id": 1, "unit": "MB"},
            "volume": "0.002803",
            "volume_rx": "0.001482",
            "volume_tx": "0.001321",
        },
        "sms": {
            "cost": "3",
            "currency": {"id": 1, "symbol": "€", "code": "EUR"},
            "traffic_type": {"description": "SMS", "id": 1, "unit": "SMS"},
            "volume": "3",
            "volume_rx": "2",
            "volume_tx": "1",
        },
    }
    usage = api.get(f"/v1/sims/{KEY}/usage").respond(json={"stats": [day]})

    records = [r async for r in onence.usage(ICCID, start=date(2021, 6, 30), end=date(2021, 7, 1))]

    assert usage.call_count == 1
    assert dict(usage.calls.last.request.url.params) == {
        "start_dt": "2021-06-30",
        "end_dt": "2021-06-30",
    }
    assert {r.iccid for r in records} == {ICCID}
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, Direction.MO, 1321),  # volume_tx: "upstream, send by SIM"
        (Bearer.DATA, Direction.MT, 1482),
        (Bearer.SMS, Direction.MO, 2),  # volume_rx: "the used MO-SMS message count"
        (Bearer.SMS, Direction.MT, 1),
    ]


async def test_usage_and_events_need_an_iccid(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    api.routes.clear()
    with pytest.raises(InvalidRequestError, match="per SIM"):
        [r async for r in onence.usage()]
    with pytest.raises(InvalidRequestError, match="per SIM"):
        [e async for e in onence.audit_events()]
    with pytest.raises(InvalidRequestError, match="by day, not month"):
        [r async for r in onence.usage(ICCID, granularity="month")]


async def test_events_page_by_header_or_body(api: respx.MockRouter, onence: AsyncConnector) -> None:
    # No look-up of the SIM first: its events are asked under 1NCE's key directly.
    event = {
        "timestamp": "2024-06-02T14:08:05.000+0000",
        "event_type": "Create PDP Context",
        "iccid": KEY,
        "alert": False,
        "event_severity": "Info",
    }
    second = api.get(f"/v1/sims/{KEY}/events", params={"page": "2"}).respond(
        json={
            "events": [
                {**event, "event_type": "Status of SIM changed from 'Activated' to 'Suspended'"}
            ],
            "totalEvents": 2,
            "totalPages": 2,
        }
    )
    api.get(f"/v1/sims/{KEY}/events", params={"page": "1"}).respond(
        json={"events": [event], "totalEvents": 2, "totalPages": 2}  # no X-* headers
    )

    events = [e async for e in onence.audit_events(ICCID, start=datetime(2024, 6, 1, tzinfo=UTC))]

    assert [(e.kind, e.iccid) for e in events] == [
        (AuditKind.SESSION, ICCID),
        (AuditKind.STATUS_CHANGE, ICCID),
    ]
    assert dict(second.calls.last.request.url.params) == {"page": "2", "pageSize": "1000"}


LUHN_VALID_KEY = "8988280666000000023"
"""A vendor key (19 digits, no check digit) whose last digit happens to pass Luhn."""


@pytest.mark.parametrize("refusal", [404, 400])
async def test_per_sim_calls_fall_back_to_the_iccid_as_given(
    api: respx.MockRouter, onence: AsyncConnector, refusal: int
) -> None:
    # Given a Luhn-valid 19-digit key, the 18 digits before it are tried first; 1NCE
    # answers 404 (documented for every per-SIM operation), or 400 for a malformed ICCID,
    # and the key is asked as given.
    unknown = api.get(f"/v1/sims/{LUHN_VALID_KEY[:-1]}/usage").respond(refusal)
    usage = api.get(f"/v1/sims/{LUHN_VALID_KEY}/usage").respond(json={"stats": []})
    unknown_events = api.get(f"/v1/sims/{LUHN_VALID_KEY[:-1]}/events").respond(refusal)
    events = api.get(f"/v1/sims/{LUHN_VALID_KEY}/events").respond(
        json={
            "events": [
                {
                    "timestamp": "2024-06-02T14:08:05.000+0000",
                    "event_type": "Create PDP Context",
                    "iccid": LUHN_VALID_KEY,
                }
            ],
            "totalEvents": 1,
            "totalPages": 1,
        }
    )

    assert [r async for r in onence.usage(LUHN_VALID_KEY)] == []
    found = [e async for e in onence.audit_events(LUHN_VALID_KEY)]

    assert (unknown.call_count, usage.call_count) == (1, 1)
    assert (unknown_events.call_count, events.call_count) == (1, 1)
    assert [e.iccid for e in found] == [LUHN_VALID_KEY + "4"]  # its own check digit added


async def test_a_sim_unknown_in_both_forms_is_not_found(
    api: respx.MockRouter, onence: AsyncConnector
) -> None:
    api.get(f"/v1/sims/{KEY}/usage").respond(404)
    api.get(f"/v1/sims/{ICCID}/usage").respond(404)
    with pytest.raises(NotFoundError):
        [r async for r in onence.usage(ICCID)]


async def test_products_are_the_tariffs(api: respx.MockRouter, onence: AsyncConnector) -> None:
    product = {
        "id": 1001,
        "product": "1NCE IoT FlexSIM - Standard",
        "material": "1NCE FlexSIM",
        "package_size": 1,
        "minQuantity": 1,
        "min_contract_duration": 120,
        "one_time_charges": [{"name": "provisionCharge", "amount_net": 10, "currency": "EUR"}],
        "recurring_charges": [],
    }
    api.get("/v1/products").respond(json=[product])
    assert [(t.id, t.currency, t.recurring_fee) async for t in onence.tariffs()] == [
        ("1001", "EUR", None)
    ]


# -- errors and retries ----------------------------------------------------------------------


async def test_a_429_is_retried_then_succeeds(
    api: respx.MockRouter, onence: AsyncConnector, sleep: FakeSleep
) -> None:
    limited = httpx.Response(429, json={"message": "Too Many Requests"})
    route = api.get("/v1/products").mock(side_effect=[limited, httpx.Response(200, json=[])])
    assert [t async for t in onence.tariffs()] == []
    assert route.call_count == 2
    assert len(sleep.calls) == 1


async def test_server_errors_are_transient(
    api: respx.MockRouter, onence: AsyncConnector, sleep: FakeSleep
) -> None:
    failure = {
        "error_code": 1000,
        "error_token": "InternalServerError",
        "message": "Internal Server Error",
    }
    route = api.get("/v1/sims").respond(500, json=failure)
    with pytest.raises(TransientError) as caught:
        [sim async for sim in onence.subscriptions()]
    assert caught.value.vendor_code == "InternalServerError"
    assert route.call_count == 4  # the first try and three retries
