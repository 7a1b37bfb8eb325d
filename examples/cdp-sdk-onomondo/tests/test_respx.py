"""The connector against payloads shaped exactly as documented, through respx (no network).

``DOCUMENTED_PAGE`` is the reference's example list response (section 7.9, shaped on
docs.onomondo.com/readme/sims). The usage response schema is not documented, so the usage
tests use the two readings the connector accepts.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import cdp_sdk
import httpx
import pytest
import respx
from cdp_sdk import (
    AsyncConnector,
    AuthenticationError,
    Bearer,
    Direction,
    Granularity,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SimStatus,
    Tag,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.testing import FakeSleep

BASE = "https://api.onomondo.com"
KEY = "ono-secret-api-key"
ICCID = "89457387300001234567"
CURSOR = "MDAwMTIzNDU3"  # base64 of "000123457", the last SIM id of the page

DOCUMENTED_PAGE: dict[str, Any] = json.loads(
    """
{"count": 2, "limit": 2, "offset": 0, "total": 5,
 "sims": [
   {"id": "000123456", "iccid": "89457387300001234567", "label": "truck-17",
    "network_whitelist": "Europe", "imei_lock": null, "connector": "mqtt-bridge",
    "activated": true, "ipv4": "100.66.10.17", "online": true,
    "online_at": "2024-05-02T08:11:00.000Z", "last_came_online_at": "2024-05-02T08:11:00.000Z",
    "network": {"name": "Telekom", "country": "Germany", "country_code": "DE", "mcc": "262",
                "mnc": "01"},
    "usage": 1048576,
    "tags": [{"id": "5f1c2c2e-0d8e-4e41-9a51-1d7f6d2b8c11", "name": "north", "can_write": true,
              "color": "#5ba571"}]},
   {"id": "000123457", "iccid": "89457387300001234575", "label": null,
    "network_whitelist": "Europe", "imei_lock": null, "connector": null, "activated": false,
    "ipv4": "100.66.10.18", "online": false, "online_at": null, "last_came_online_at": null,
    "network": {"name": null, "country": null, "country_code": null, "mcc": null, "mnc": null},
    "usage": 0, "tags": []}]}
"""
)


def _second_page() -> dict[str, Any]:
    template = DOCUMENTED_PAGE["sims"][1]
    sims = [
        {**template, "id": f"00012345{n}", "iccid": f"8945738730000123458{n}"} for n in (8, 9)
    ] + [{**template, "id": "000123460", "iccid": "89457387300001234609"}]
    return {"count": 3, "limit": 1000, "offset": 2, "total": 5, "sims": sims}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def onomondo(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async("onomondo", api_key=KEY, rate_limit=None) as connector:
        connector.plugin.http.sleep = sleep
        connector.plugin.http.limiter.sleep = sleep
        yield connector


# -- listing and paging -------------------------------------------------------------------


async def test_list_follows_a_header_cursor(
    api: respx.MockRouter, onomondo: AsyncConnector
) -> None:
    second = api.get("/sims", params={"next_page": CURSOR}).respond(json=_second_page())
    first = api.get("/sims").respond(json=DOCUMENTED_PAGE, headers={"next_page": CURSOR})

    sims = [sim async for sim in onomondo.subscriptions()]

    assert [sim.id for sim in sims] == [
        "000123456",
        "000123457",
        "000123458",
        "000123459",
        "000123460",
    ]
    request = first.calls.last.request
    assert request.url.path == "/sims"
    assert dict(request.url.params) == {"limit": "1000"}
    assert request.headers["Authorization"] == KEY  # the raw key, no "Bearer"
    assert dict(second.calls.last.request.url.params) == {"limit": "1000", "next_page": CURSOR}


async def test_list_follows_a_body_cursor(api: respx.MockRouter, onomondo: AsyncConnector) -> None:
    api.get("/sims", params={"next_page": CURSOR}).respond(
        json={**_second_page(), "next_page": None}
    )
    api.get("/sims").respond(json={**DOCUMENTED_PAGE, "next_page": CURSOR})

    assert len([sim async for sim in onomondo.subscriptions()]) == 5


async def test_documented_page_maps(api: respx.MockRouter, onomondo: AsyncConnector) -> None:
    api.get("/sims").respond(json={**DOCUMENTED_PAGE, "total": 2})

    active, fresh = [sim async for sim in onomondo.subscriptions()]

    assert active.connector == "onomondo"
    assert (active.id, active.iccid) == ("000123456", ICCID)
    assert (active.status, active.status_raw) == (SimStatus.ACTIVE, "activated")
    assert active.ip_address == "100.66.10.17"
    assert active.tags == (Tag(key="north"), Tag(key="label", value="truck-17"))
    assert active.imsi is None
    assert active.msisdn is None
    assert active.updated_at is None
    assert active.extra["connector"] == "mqtt-bridge"
    assert active.extra["network"]["mcc"] == "262"  # type: ignore[index,call-overload]
    assert active.extra["last_came_online_at"] == "2024-05-02T08:11:00.000Z"
    assert (fresh.status, fresh.status_raw) == (SimStatus.INVENTORY, "deactivated-never-online")
    assert fresh.tags == ()


async def test_a_listing_cut_short_is_logged(
    api: respx.MockRouter, onomondo: AsyncConnector, caplog: pytest.LogCaptureFixture
) -> None:
    api.get("/sims").respond(json=DOCUMENTED_PAGE)  # total 5, no cursor anywhere

    sims = [sim async for sim in onomondo.subscriptions()]

    assert len(sims) == 2
    assert "ended after 2 of 5 SIMs" in caplog.text


async def test_check_reads_one_sim(api: respx.MockRouter, onomondo: AsyncConnector) -> None:
    route = api.get("/sims", params={"limit": "1"}).respond(json={**DOCUMENTED_PAGE, "total": 2})
    await onomondo.check()
    assert route.call_count == 1


# -- one SIM and status changes -------------------------------------------------------------


async def test_subscription_by_iccid(api: respx.MockRouter, onomondo: AsyncConnector) -> None:
    route = api.get(f"/sims/{ICCID}").respond(json=DOCUMENTED_PAGE["sims"][0])
    sim = await onomondo.subscription(ICCID)
    assert sim.id == "000123456"
    assert route.calls.last.request.headers["Authorization"] == KEY


async def test_change_status_patches_activated(
    api: respx.MockRouter, onomondo: AsyncConnector
) -> None:
    route = api.patch(f"/sims/{ICCID}").mock(
        side_effect=[
            httpx.Response(503, json={"error": "unavailable"}),
            httpx.Response(200, json={**DOCUMENTED_PAGE["sims"][0], "activated": False}),
        ]
    )

    change = await onomondo.change_status(ICCID, "suspended")

    assert (change.requested, change.state) == (SimStatus.SUSPENDED, "done")
    assert route.call_count == 2, "the idempotent PATCH is retried after a 503"
    assert json.loads(route.calls.last.request.content) == {"activated": False}


@pytest.mark.parametrize("status", ["deactivated", "test", "ready", "inventory", "retired"])
async def test_unrepresentable_status_is_refused_before_any_request(
    api: respx.MockRouter, onomondo: AsyncConnector, status: str
) -> None:
    with pytest.raises(InvalidRequestError, match="cannot set"):
        await onomondo.change_status(ICCID, status, confirm_irreversible=True)
    assert not api.calls


# -- errors and rate limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "vendor_code"),
    [
        (404, {"error": "sim_not_found"}, NotFoundError, "sim_not_found"),
        (400, {"error": "sim_not_found", "message": "No such SIM"}, NotFoundError, "sim_not_found"),
        (400, {"code": "id_invalid", "message": "Bad id"}, InvalidRequestError, "id_invalid"),
        (401, {"message": "Unauthorized"}, AuthenticationError, None),
        (403, "Forbidden", PermissionDeniedError, None),
        (500, "<html>oops</html>", TransientError, None),
    ],
)
async def test_error_bodies_of_any_shape(
    api: respx.MockRouter,
    status: int,
    body: Any,
    error: type[Exception],
    vendor_code: str | None,
) -> None:
    content = json.dumps(body) if isinstance(body, dict) else body
    api.get(f"/sims/{ICCID}").respond(status, content=content)
    async with cdp_sdk.connect_async("onomondo", api_key=KEY, max_retries=0) as onomondo:
        with pytest.raises(error) as caught:
            await onomondo.subscription(ICCID)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.vendor_code == vendor_code  # type: ignore[attr-defined]
    assert ICCID not in str(caught.value)


def _rate_headers(reset_in: int) -> dict[str, str]:
    reset = int(time.time()) + reset_in
    return {
        "x-ratelimit-limit": "600",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(reset),
    }


async def test_429_waits_until_the_rate_limit_reset(
    api: respx.MockRouter, onomondo: AsyncConnector, sleep: FakeSleep
) -> None:
    api.get(f"/sims/{ICCID}").mock(
        side_effect=[
            httpx.Response(429, headers=_rate_headers(5), json={"error": "rate_limit_exceeded"}),
            httpx.Response(200, json=DOCUMENTED_PAGE["sims"][0]),
        ]
    )
    assert (await onomondo.subscription(ICCID)).iccid == ICCID
    # The retry waits for the reset; the 429's count (none remaining) also holds the rate
    # limiter until then, for this call's resend and any other (the fake sleep lets no
    # time pass, so both waits show).
    assert len(sleep.calls) == 2
    assert all(3.0 <= seconds <= 5.0 for seconds in sleep.calls)


async def test_calls_wait_for_the_reset_once_none_remain(
    api: respx.MockRouter, onomondo: AsyncConnector, sleep: FakeSleep
) -> None:
    sim = DOCUMENTED_PAGE["sims"][0]
    api.get(f"/sims/{ICCID}").mock(
        side_effect=[
            httpx.Response(
                200, headers={**_rate_headers(30), "x-ratelimit-remaining": "1"}, json=sim
            ),
            httpx.Response(200, headers=_rate_headers(30), json=sim),
            httpx.Response(200, json=sim),
        ]
    )
    await onomondo.subscription(ICCID)
    assert sleep.calls == []
    await onomondo.subscription(ICCID)  # the last one the count allowed
    assert sleep.calls == []
    await onomondo.subscription(ICCID)
    assert len(sleep.calls) == 1
    assert 28.0 <= sleep.calls[0] <= 30.0


async def test_429_with_a_distant_reset_is_not_retried(
    api: respx.MockRouter, onomondo: AsyncConnector, sleep: FakeSleep
) -> None:
    route = api.get(f"/sims/{ICCID}").respond(429, headers=_rate_headers(600), json={})
    with pytest.raises(RateLimitedError) as caught:
        await onomondo.subscription(ICCID)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 500
    assert route.call_count == 1
    assert not sleep.calls


# -- usage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {
                "usage": [
                    {
                        "sim_id": "000123456",
                        "time": "2024-05-02T08:00:00.000Z",
                        "upload": 1000,
                        "download": 5000,
                        "country_code": "dk",
                    },
                    {"sim_id": "000123456", "timestamp": "2024-05-02T09:00:00Z", "bytes": 42},
                    {"sim_id": "000123456", "time": "2024-05-03T00:00:00Z", "bytes": 7},
                ]
            },
            id="envelope",
        ),
        pytest.param(
            [
                {"time": "2024-05-02T08:00:00.000Z", "upload": 1000, "download": 5000},
                {"timestamp": "2024-05-02T09:00:00Z", "bytes": 42},
            ],
            id="bare-list",
        ),
    ],
)
async def test_usage_reads_hourly_rows(
    api: respx.MockRouter, onomondo: AsyncConnector, body: Any
) -> None:
    api.get(f"/sims/{ICCID}").respond(json=DOCUMENTED_PAGE["sims"][0])
    usage = api.get("/usage/000123456").respond(json=body)

    records = [r async for r in onomondo.usage(ICCID, start=date(2024, 5, 2), end=date(2024, 5, 3))]

    assert dict(usage.calls.last.request.url.params) == {
        "group": "hours",
        "filter": "time:2024-05-02",
        "limit": "1000",
    }
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, Direction.MO, 1000),
        (Bearer.DATA, Direction.MT, 5000),
        (Bearer.DATA, None, 42),
    ]
    first = records[0]
    assert first.iccid == ICCID
    assert first.granularity is Granularity.HOUR
    assert first.final
    assert (first.start, first.end) == (
        datetime(2024, 5, 2, 8, tzinfo=UTC),
        datetime(2024, 5, 2, 9, tzinfo=UTC),
    )


async def test_usage_in_an_unknown_envelope_is_refused(
    api: respx.MockRouter, onomondo: AsyncConnector
) -> None:
    api.get(f"/sims/{ICCID}").respond(json=DOCUMENTED_PAGE["sims"][0])
    api.get("/usage/000123456").respond(json={"data": [{"time": "2024-05-02T08:00:00Z"}]})
    with pytest.raises(UnexpectedResponseError, match="expected a list"):
        [r async for r in onomondo.usage(ICCID)]


async def test_usage_needs_an_iccid_and_hours(onomondo: AsyncConnector) -> None:
    with pytest.raises(InvalidRequestError, match="per SIM only"):
        [r async for r in onomondo.usage()]
    with pytest.raises(InvalidRequestError, match="by hour"):
        [r async for r in onomondo.usage(ICCID, granularity="day")]


def test_sync_facade_and_logging_do_not_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with respx.mock(base_url=BASE) as router:
        router.get("/sims").respond(json={**DOCUMENTED_PAGE, "total": 2})
        with cdp_sdk.connect("onomondo", api_key=KEY, rate_limit=None) as onomondo:
            assert len(list(onomondo.subscriptions())) == 2
            assert KEY not in repr(onomondo.settings)
    assert KEY not in caplog.text
