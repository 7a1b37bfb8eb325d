"""The emulator's own behaviour: auth, shapes, paging, status changes, usage, rate limits."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from typing import Any

import cdp_sdk
import httpx
import pytest
from cdp_sdk import (
    AuthenticationError,
    Connector,
    RateLimitedError,
    SimStatus,
)
from cdp_sdk.sandbox import Fleet, RateWindow

from cdp_sdk_onomondo import OnomondoEmulator

KEY = "onomondo-test-key"


@pytest.fixture
def fleet() -> Fleet:
    return Fleet(40, seed=11)


@pytest.fixture
def emulator(fleet: Fleet) -> OnomondoEmulator:
    return OnomondoEmulator(fleet)


@pytest.fixture
def client(emulator: OnomondoEmulator) -> Iterator[Connector]:
    with cdp_sdk.connect(
        "onomondo", api_key=KEY, rate_limit=None, transport=emulator.transport()
    ) as connector:
        yield connector


def call(emulator: OnomondoEmulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", {"Authorization": KEY})
    request = httpx.Request(method, "https://api.onomondo.com" + path, headers=headers, **kwargs)
    return emulator.handle(request)


def first(fleet: Fleet, status: SimStatus, *, online: bool | None = None) -> str:
    return next(
        sim.iccid
        for sim in fleet.sorted_sims()
        if sim.status is status and (online is None or (sim.imei is not None) == online)
    )


def test_auth_accepts_the_raw_key_and_bearer(emulator: OnomondoEmulator) -> None:
    assert call(emulator, "GET", "/sims").status_code == 200
    assert call(emulator, "GET", "/sims", headers={"Authorization": f"Bearer {KEY}"}).is_success
    refused = call(emulator, "GET", "/sims", headers={"Authorization": "wrong"})
    assert refused.status_code == 401
    assert refused.json() == {"error": "unauthorized", "message": "Missing or invalid API key"}
    assert call(emulator, "GET", "/sims", headers={}).status_code == 401


def test_a_wrong_key_is_an_authentication_error(emulator: OnomondoEmulator) -> None:
    with (
        cdp_sdk.connect("onomondo", api_key="wrong-key", transport=emulator.transport()) as c,
        pytest.raises(AuthenticationError),
    ):
        c.check()


def test_list_shape_and_cursor(emulator: OnomondoEmulator, fleet: Fleet) -> None:
    body = call(emulator, "GET", "/sims", params={"limit": "3"}).json()
    assert list(body) == ["count", "limit", "offset", "total", "sims", "next_page"]
    assert (body["count"], body["limit"], body["offset"]) == (3, 3, 0)
    assert base64.b64decode(body["next_page"]).decode() == body["sims"][-1]["id"] == "000000003"
    page = call(emulator, "GET", "/sims", params={"limit": "3", "next_page": body["next_page"]})
    assert page.json()["sims"][0]["id"] == "000000004"
    bad = call(emulator, "GET", "/sims", params={"next_page": "%%%"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "next_page_invalid"


def test_header_cursor(fleet: Fleet) -> None:
    emulator = OnomondoEmulator(fleet, cursor_in="header")
    response = call(emulator, "GET", "/sims", params={"limit": "3"})
    assert "next_page" not in response.json()
    assert base64.b64decode(response.headers["next_page"]).decode() == "000000003"


def test_retired_sims_have_left(emulator: OnomondoEmulator, fleet: Fleet) -> None:
    retired = first(fleet, SimStatus.RETIRED)
    assert not emulator.lists(retired)
    assert call(emulator, "GET", f"/sims/{retired}").json()["error"] == "sim_not_found"


def test_lookup_by_id_or_iccid(emulator: OnomondoEmulator, fleet: Fleet) -> None:
    iccid = fleet.sorted_sims()[0].iccid
    by_id = call(emulator, "GET", "/sims/000000001").json()
    assert by_id == call(emulator, "GET", f"/sims/{iccid}").json()
    assert by_id["iccid"] == iccid


@pytest.mark.parametrize(
    ("status", "online", "activated", "expected"),
    [
        (SimStatus.ACTIVE, True, False, SimStatus.SUSPENDED),
        (SimStatus.SUSPENDED, True, True, SimStatus.ACTIVE),
        (SimStatus.INVENTORY, False, True, SimStatus.ACTIVE),
        (SimStatus.INVENTORY, False, False, SimStatus.INVENTORY),  # accepted, no change
    ],
)
def test_status_changes_are_kept_in_the_fleet(
    client: Connector,
    fleet: Fleet,
    status: SimStatus,
    online: bool,
    activated: bool,
    expected: SimStatus,
) -> None:
    iccid = first(fleet, status, online=online)
    change = client.change_status(iccid, SimStatus.ACTIVE if activated else SimStatus.SUSPENDED)
    assert change.state == "done"
    assert client.subscription(iccid).status is expected
    assert fleet.sims[iccid].status is expected


def test_deactivating_a_sim_never_online_leaves_it_inventory(
    client: Connector, fleet: Fleet
) -> None:
    iccid = first(fleet, SimStatus.INVENTORY)
    client.change_status(iccid, SimStatus.ACTIVE)
    client.change_status(iccid, SimStatus.SUSPENDED)
    assert client.subscription(iccid).status is SimStatus.INVENTORY


def test_patch_validates_its_body(emulator: OnomondoEmulator) -> None:
    response = call(emulator, "PATCH", "/sims/000000001", json={"activated": "yes"})
    assert response.status_code == 400
    assert response.json()["error"] == "activated_invalid"


def test_usage_follows_the_time_filter(client: Connector, fleet: Fleet) -> None:
    iccid = first(fleet, SimStatus.ACTIVE)
    may = list(client.usage(iccid, start=date(2024, 5, 1), end=date(2024, 6, 1)))
    assert may
    assert {(r.start.year, r.start.month) for r in may if r.start} == {(2024, 5)}
    days = {r.start.date() for r in may if r.start}
    expected = {d.day for d in fleet.usage_days(iccid, date(2024, 5, 1), date(2024, 6, 1))}
    assert days == expected
    total = sum(r.quantity for r in may)
    assert total == sum(
        d.data_mo_bytes + d.data_mt_bytes
        for d in fleet.usage_days(iccid, date(2024, 5, 1), date(2024, 6, 1))
    )


def test_usage_rejects_a_bad_filter(emulator: OnomondoEmulator) -> None:
    response = call(emulator, "GET", "/usage/000000001", params={"filter": "time:2024-13"})
    assert response.status_code == 400


def test_rate_limit_answers_429_with_reset_headers(fleet: Fleet) -> None:
    emulator = OnomondoEmulator(fleet, rate_limit=RateWindow(1, 60.0))
    assert call(emulator, "GET", "/sims").status_code == 200
    limited = call(emulator, "GET", "/sims")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-limit"] == "1"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) > emulator.clock() + 50
    with (
        cdp_sdk.connect("onomondo", api_key=KEY, transport=emulator.transport()) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        client.check()  # the reset is a minute away: beyond the retry policy's patience
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 50
