"""The ThingSpace emulator: documented auth, paging, asynchronous requests and errors.

Most checks speak HTTP to the emulator directly; the end-to-end ones go through the
connector. A hand-moved clock drives token lifetimes, session idleness and request
processing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import AuthenticationError, Bearer, Connector, Granularity, SimStatus, Tag
from cdp_sdk.connectors.thingspace import ThingSpaceConnector, ThingSpaceEmulator
from cdp_sdk.connectors.thingspace.emulator import (
    ACCOUNT_NAME,
    DEFAULT_APP_KEY,
    DEFAULT_APP_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
)
from cdp_sdk.mapping import parse_datetime
from cdp_sdk.models import luhn_valid
from cdp_sdk.sandbox import Fault, Fleet

BASE = "https://thingspace.verizon.com"
M2M = "/api/m2m/v1"
BASIC = "Basic " + base64.b64encode(f"{DEFAULT_APP_KEY}:{DEFAULT_APP_SECRET}".encode()).decode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SETTINGS: dict[str, Any] = {
    "app_key": DEFAULT_APP_KEY,
    "app_secret": DEFAULT_APP_SECRET,
    "username": DEFAULT_USERNAME,
    "password": DEFAULT_PASSWORD,
    "account_name": ACCOUNT_NAME,
    "activation_service_plan": "M2MSHR10MB",
    "activation_zip_code": "98801",
    "rate_limit": None,
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def fleet(size: int = 30, **options: Any) -> Fleet:
    return Fleet(size, seed=5, iccid_prefix="891480", iccid_digits=20, **options)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> ThingSpaceEmulator:
    return ThingSpaceEmulator(fleet(), clock=clock)


@pytest.fixture
def http(emulator: ThingSpaceEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        yield client


@pytest.fixture
def ts(emulator: ThingSpaceEmulator) -> Iterator[Connector]:
    with cdp_sdk.connect("thingspace", transport=emulator.transport(), **SETTINGS) as client:
        yield client


def oauth(http: httpx.Client) -> str:
    answer = http.post(
        "/api/ts/v1/oauth2/token",
        content="grant_type=client_credentials",
        headers={"Authorization": BASIC, **FORM},
    )
    assert answer.status_code == 200
    token: str = answer.json()["access_token"]
    return token


def login(http: httpx.Client, token: str | None = None) -> dict[str, str]:
    """Headers of a logged-in session."""
    token = token or oauth(http)
    answer = http.post(
        f"{M2M}/session/login",
        json={"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {token}", "VZ-M2M-Token": answer.json()["sessionToken"]}


def listed(emulator: ThingSpaceEmulator) -> list[str]:
    return [iccid for iccid, sim in emulator.fleet.sims.items() if emulator.lists(iccid)]


def first_in(emulator: ThingSpaceEmulator, state: str) -> str:
    return next(iccid for iccid in listed(emulator) if emulator.state_of(iccid) == state)


def device_list(iccid: str) -> list[dict[str, Any]]:
    return [{"deviceIds": [{"id": iccid, "kind": "iccid"}]}]


# -- OAuth token --------------------------------------------------------------------------


def test_the_token_needs_the_basic_key_and_secret(http: httpx.Client) -> None:
    missing = http.post(
        "/api/ts/v1/oauth2/token", content="grant_type=client_credentials", headers=FORM
    )
    assert missing.status_code == 401
    assert missing.json()["fault"]["code"] == "900902"
    wrong = "Basic " + base64.b64encode(b"key:nope").decode()
    refused = http.post(
        "/api/ts/v1/oauth2/token",
        content="grant_type=client_credentials",
        headers={"Authorization": wrong, **FORM},
    )
    assert refused.status_code == 401
    assert refused.json()["fault"] == {
        "code": "900901",
        "message": "Invalid Credentials",
        "description": "Access failure for API: /m2m/v1, version: v1",
    }
    no_grant = http.post("/api/ts/v1/oauth2/token", headers={"Authorization": BASIC, **FORM})
    assert no_grant.status_code == 400
    assert no_grant.json() == {
        "error_description": "Missing grant_type parameter value",
        "error": "invalid_request",
    }


def test_the_same_token_is_returned_within_the_hour(
    http: httpx.Client, emulator: ThingSpaceEmulator, clock: Clock
) -> None:
    first = http.post(
        "/api/ts/v1/oauth2/token",
        content="grant_type=client_credentials",
        headers={"Authorization": BASIC, **FORM},
    ).json()
    clock.now += 1000
    second = http.post(
        "/api/ts/v1/oauth2/token",
        content="grant_type=client_credentials",
        headers={"Authorization": BASIC, **FORM},
    ).json()
    assert second["access_token"] == first["access_token"]
    assert (first["expires_in"], second["expires_in"]) == (3600, 2600)
    assert first["token_type"] == "Bearer"
    clock.now += 2600
    assert oauth(http) != first["access_token"]
    assert emulator.oauth_logins == 3


# -- M2M session --------------------------------------------------------------------------


def test_the_session_login_needs_the_oauth_token(http: httpx.Client) -> None:
    body = {"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD}
    assert http.post(f"{M2M}/session/login", json=body).json()["fault"]["code"] == "900902"
    stale = http.post(f"{M2M}/session/login", json=body, headers={"Authorization": "Bearer old"})
    assert (stale.status_code, stale.json()["fault"]["code"]) == (401, "900901")


def test_five_failed_logins_lock_the_user(http: httpx.Client, emulator: ThingSpaceEmulator) -> None:
    token = oauth(http)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(5):
        wrong = http.post(
            f"{M2M}/session/login",
            json={"username": DEFAULT_USERNAME, "password": "guess"},
            headers=headers,
        )
        assert wrong.status_code == 400
        assert wrong.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.UnexpectedError"
    right = http.post(
        f"{M2M}/session/login",
        json={"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD},
        headers=headers,
    )
    assert right.status_code == 400
    assert emulator.locked


def test_four_failures_then_a_success_do_not_lock(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    token = oauth(http)
    for _ in range(4):
        http.post(
            f"{M2M}/session/login",
            json={"username": DEFAULT_USERNAME, "password": "guess"},
            headers={"Authorization": f"Bearer {token}"},
        )
    login(http, token)
    assert emulator.failed_logins == 0
    assert not emulator.locked


def test_calls_need_both_tokens(http: httpx.Client) -> None:
    body = {"accountName": ACCOUNT_NAME}
    headers = login(http)
    no_bearer = http.post(
        f"{M2M}/devices/actions/list", json=body, headers={"VZ-M2M-Token": headers["VZ-M2M-Token"]}
    )
    assert (no_bearer.status_code, no_bearer.json()["fault"]["code"]) == (401, "900902")
    no_session = http.post(
        f"{M2M}/devices/actions/list",
        json=body,
        headers={"Authorization": headers["Authorization"]},
    )
    assert no_session.status_code == 400
    assert no_session.json()["errorCode"] == "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid"
    assert http.post(f"{M2M}/devices/actions/list", json=body, headers=headers).status_code == 200


def test_a_session_expires_after_20_idle_minutes(http: httpx.Client, clock: Clock) -> None:
    headers = login(http)
    body = {"accountName": ACCOUNT_NAME}
    for _ in range(2):  # each use keeps it alive
        clock.now += 19 * 60
        assert (
            http.post(f"{M2M}/devices/actions/list", json=body, headers=headers).status_code == 200
        )
    clock.now += 20 * 60
    expired = http.post(f"{M2M}/devices/actions/list", json=body, headers=headers)
    assert expired.status_code == 400
    assert expired.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired"


def test_the_connector_logs_in_again_only_when_the_session_expired(
    ts: Connector, emulator: ThingSpaceEmulator, clock: Clock
) -> None:
    iccid = listed(emulator)[0]
    ts.subscription(iccid)
    clock.now += 10 * 60
    ts.subscription(iccid)
    assert (emulator.oauth_logins, emulator.session_logins) == (1, 1)
    clock.now += 21 * 60  # idle: the session expires
    ts.subscription(iccid)
    assert (emulator.oauth_logins, emulator.session_logins) == (1, 2)
    clock.now += 3600  # the OAuth token expires on the platform too
    ts.subscription(iccid)
    assert emulator.oauth_logins == 2


def test_the_connector_stops_after_two_refused_logins(emulator: ThingSpaceEmulator) -> None:
    settings = {**SETTINGS, "password": "wrong-password"}
    with cdp_sdk.connect("thingspace", transport=emulator.transport(), **settings) as ts:
        for _ in range(4):
            with pytest.raises(AuthenticationError):
                ts.subscription(listed(emulator)[0])
    assert emulator.session_logins == 2
    assert not emulator.locked


# -- devices ------------------------------------------------------------------------------


def test_devices_come_2000_a_page_with_202_while_more_wait(clock: Clock) -> None:
    emulator = ThingSpaceEmulator(fleet(2100), clock=clock)
    rendered = 0
    render = emulator._render

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal rendered
        rendered += 1
        return render(*args, **kwargs)

    emulator._render = counting  # type: ignore[method-assign]
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as http:
        headers = login(http)
        body: dict[str, Any] = {"accountName": ACCOUNT_NAME, "largestDeviceIdSeen": 0}
        first = http.post(f"{M2M}/devices/actions/list", json=body, headers=headers)
        assert first.status_code == 202
        page = first.json()
        assert page["hasMoreData"] is True
        assert len(page["devices"]) == 2000
        assert rendered == 2000  # the work of one page, not of the fleet
        body["largestDeviceIdSeen"] = page["largestDeviceIdSeen"]
        second = http.post(f"{M2M}/devices/actions/list", json=body, headers=headers)
    assert second.status_code == 200
    assert second.json()["hasMoreData"] is False
    ids = [d["deviceIds"][0]["id"] for d in page["devices"] + second.json()["devices"]]
    assert sorted(ids) == sorted(listed(emulator))
    assert len(set(ids)) == len(ids)


def test_the_listing_through_the_connector(ts: Connector, emulator: ThingSpaceEmulator) -> None:
    emulator.max_page_size = 4
    sims = list(ts.subscriptions())
    assert sorted(sim.iccid for sim in sims) == sorted(listed(emulator))
    assert all(len(sim.iccid) == 20 and luhn_valid(sim.iccid) for sim in sims)
    assert len(emulator.requests_to("devices/actions/list")) == -(-len(sims) // 4)
    retired = [i for i, s in emulator.fleet.sims.items() if s.status is SimStatus.RETIRED]
    assert retired
    assert not set(retired) & {sim.iccid for sim in sims}


def test_listed_states_follow_the_fleet(ts: Connector, emulator: ThingSpaceEmulator) -> None:
    expected = {
        SimStatus.ACTIVE: SimStatus.ACTIVE,
        SimStatus.SUSPENDED: SimStatus.SUSPENDED,
        SimStatus.DEACTIVATED: SimStatus.DEACTIVATED,
        SimStatus.READY: SimStatus.INVENTORY,
        SimStatus.TEST: SimStatus.INVENTORY,
        SimStatus.INVENTORY: SimStatus.INVENTORY,
    }
    for sim in ts.subscriptions():
        assert sim.status is expected[emulator.fleet.sims[sim.iccid].status]
        in_service = sim.status in (SimStatus.ACTIVE, SimStatus.SUSPENDED)
        assert (sim.msisdn is not None) == in_service  # no MDN once deactive
        assert (sim.tariff is not None) == in_service


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"accountName": ACCOUNT_NAME, "pageSize": 10}, "REQUEST_FAILED.UnexpectedError"),
        ({"accountName": "0000999999-00001"}, "REQUEST_FAILED.AccountNotFound"),
        (
            {"accountName": ACCOUNT_NAME, "maxNumberOfDevices": 2001},
            "REQUEST_FAILED.UnexpectedError",
        ),
        (
            {"accountName": ACCOUNT_NAME, "largestDeviceIdSeen": -1},
            "REQUEST_FAILED.UnexpectedError",
        ),
        ({"accountName": ACCOUNT_NAME, "deviceId": {"id": "1"}}, "REQUEST_FAILED.UnexpectedError"),
        ({"deviceId": {"id": "1", "kind": "serial"}}, "REQUEST_FAILED.UnexpectedError"),
        ({"earliest": "yesterday"}, "REQUEST_FAILED.UnexpectedError"),
        ([], "REQUEST_FAILED.UnexpectedError"),
    ],
)
def test_the_listing_refuses_what_verizon_refuses(http: httpx.Client, body: Any, code: str) -> None:
    answer = http.post(f"{M2M}/devices/actions/list", json=body, headers=login(http))
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == f"UnifiedWebService.{code}"


def test_a_request_without_body_lists_everything(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    answer = http.post(f"{M2M}/devices/actions/list", headers=login(http))
    assert answer.status_code == 200
    assert len(answer.json()["devices"]) == len(listed(emulator))


def test_listing_by_date_added(http: httpx.Client, emulator: ThingSpaceEmulator) -> None:
    emulator.max_page_size = 5
    headers = login(http)
    answer = http.post(
        f"{M2M}/devices/actions/list", json={"accountName": ACCOUNT_NAME}, headers=headers
    )
    devices = answer.json()["devices"]
    assert answer.status_code == 202
    assert "largestDeviceIdSeen" not in answer.json()
    created = [d["createdAt"] for d in devices]
    assert created == sorted(created, key=_utc)
    later = http.post(
        f"{M2M}/devices/actions/list",
        json={"accountName": ACCOUNT_NAME, "earliest": devices[-1]["createdAt"]},
        headers=headers,
    ).json()["devices"]
    assert later[0] == devices[-1]  # earliest is inclusive


def _utc(text: str) -> Any:
    return parse_datetime(text)


def test_a_single_device_lookup(http: httpx.Client, emulator: ThingSpaceEmulator) -> None:
    iccid = listed(emulator)[0]
    headers = login(http)
    one = http.post(
        f"{M2M}/devices/actions/list",
        json={"accountName": ACCOUNT_NAME, "deviceId": {"id": iccid, "kind": "ICCID"}},
        headers=headers,
    ).json()
    assert one["hasMoreData"] is False
    [found] = one["devices"]
    assert found["extendedAttributes"]  # only for a single device
    unknown = http.post(
        f"{M2M}/devices/actions/list",
        json={"deviceId": {"id": "89148000000000000000", "kind": "iccid"}},
        headers=headers,
    ).json()
    assert unknown == {"hasMoreData": False, "devices": []}
    listing = http.post(f"{M2M}/devices/actions/list", json={}, headers=headers).json()
    assert all("extendedAttributes" not in d for d in listing["devices"])


def test_lookups_by_other_identifiers(http: httpx.Client, emulator: ThingSpaceEmulator) -> None:
    sim = emulator.fleet.sims[first_in(emulator, "active")]
    headers = login(http)
    for kind, value in (("imsi", sim.imsi), ("msisdn", sim.msisdn), ("mdn", sim.msisdn[-10:])):
        found = http.post(
            f"{M2M}/devices/actions/list",
            json={"deviceId": {"id": value, "kind": kind}},
            headers=headers,
        ).json()["devices"]
        assert [d["deviceIds"][0]["id"] for d in found] == [sim.iccid]


def test_listing_filters(http: httpx.Client, emulator: ThingSpaceEmulator) -> None:
    headers = login(http)
    body = {"accountName": ACCOUNT_NAME, "currentState": "suspend", "largestDeviceIdSeen": 0}
    found = http.post(f"{M2M}/devices/actions/list", json=body, headers=headers).json()["devices"]
    assert found
    assert all(d["carrierInformations"][0]["state"] == "suspend" for d in found)
    assert len(found) == sum(1 for i in listed(emulator) if emulator.state_of(i) == "suspend")


# -- asynchronous requests ----------------------------------------------------------------


def test_a_change_is_pending_until_verizon_applies_it(clock: Clock) -> None:
    emulator = ThingSpaceEmulator(fleet(), clock=clock, processing_seconds=60)
    iccid = first_in(emulator, "active")
    with cdp_sdk.connect("thingspace", transport=emulator.transport(), **SETTINGS) as ts:
        plugin = ts.plugin
        assert isinstance(plugin, ThingSpaceConnector)
        change = ts.change_status(iccid, SimStatus.SUSPENDED)
        assert change.state == "pending"
        assert change.request_id
        during = ts.subscription(iccid)
        assert (during.status, during.status_raw) == (SimStatus.ACTIVE, "pending suspend")
        assert ts._loop.run(plugin.request_status(change.request_id)) == "pending"
        clock.now += 61
        after = ts.subscription(iccid)
        assert (after.status, after.status_raw) == (SimStatus.SUSPENDED, "suspend")
        assert ts._loop.run(plugin.request_status(change.request_id)) == "done"
        back = ts.change_status(iccid, SimStatus.ACTIVE)  # restore
        clock.now += 61
        assert ts.subscription(iccid).status is SimStatus.ACTIVE
        assert ts._loop.run(plugin.request_status(back.request_id)) == "done"
    assert emulator.fleet.sims[iccid].status is SimStatus.ACTIVE


def test_an_illegal_move_is_accepted_and_fails(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    iccid = first_in(emulator, "deactive")
    headers = login(http)
    answer = http.post(
        f"{M2M}/devices/actions/suspend",
        json={"accountName": ACCOUNT_NAME, "devices": device_list(iccid)},
        headers=headers,
    )
    assert answer.status_code == 200
    request_id = answer.json()["requestId"]
    status = http.get(
        f"{M2M}/accounts/{ACCOUNT_NAME}/requests/{request_id}/status", headers=headers
    )
    assert status.json() == {"requestId": request_id, "status": "Failed"}
    assert emulator.state_of(iccid) == "deactive"


def test_a_device_outside_the_account_fails(http: httpx.Client) -> None:
    headers = login(http)
    answer = http.post(
        f"{M2M}/devices/actions/restore",
        json={"devices": device_list("89148000000000000000")},
        headers=headers,
    )
    request_id = answer.json()["requestId"]
    status = http.get(
        f"{M2M}/accounts/{ACCOUNT_NAME}/requests/{request_id}/status", headers=headers
    )
    assert status.json()["status"] == "Failed"


def test_activation_takes_a_plan_and_a_zip_code(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    iccid = first_in(emulator, "deactive")
    headers = login(http)
    base = {"accountName": ACCOUNT_NAME, "devices": device_list(iccid)}
    for body in (base, {**base, "servicePlan": "M2MSHR1GB", "mdnZipCode": "988"}):
        refused = http.post(f"{M2M}/devices/actions/activate", json=body, headers=headers)
        assert refused.status_code == 400
    ok = http.post(
        f"{M2M}/devices/actions/activate",
        json={**base, "servicePlan": "M2MSHR1GB", "mdnZipCode": "98801"},
        headers=headers,
    )
    assert ok.status_code == 200
    assert emulator.state_of(iccid) == "active"
    device = http.post(
        f"{M2M}/devices/actions/list",
        json={"deviceId": {"id": iccid, "kind": "iccid"}},
        headers=headers,
    ).json()["devices"][0]
    assert device["carrierInformations"][0]["servicePlan"] == "M2MSHR1GB"


def test_deactivation_needs_reason_ff_and_the_account(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    iccid = first_in(emulator, "active")
    headers = login(http)
    for body in (
        {"devices": device_list(iccid), "reasonCode": "FF"},
        {"accountName": ACCOUNT_NAME, "devices": device_list(iccid), "reasonCode": "XX"},
        {
            "accountName": ACCOUNT_NAME,
            "devices": device_list(iccid),
            "reasonCode": "FF",
            "why": "x",
        },
    ):
        assert (
            http.post(f"{M2M}/devices/actions/deactivate", json=body, headers=headers).status_code
            == 400
        )
    assert emulator.state_of(iccid) == "active"


def test_request_status_of_an_unknown_request(http: httpx.Client) -> None:
    headers = login(http)
    answer = http.get(f"{M2M}/accounts/{ACCOUNT_NAME}/requests/no-such-id/status", headers=headers)
    assert answer.status_code == 400
    other = http.get(f"{M2M}/accounts/0000999999-00001/requests/x/status", headers=headers)
    assert other.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.AccountNotFound"


# -- custom fields ------------------------------------------------------------------------


def test_custom_fields_round_trip(ts: Connector, emulator: ThingSpaceEmulator) -> None:
    iccid = listed(emulator)[0]
    ts.update_tags(iccid, {"CustomField5": "West Region"})
    assert Tag(key="CustomField5", value="West Region") in ts.subscription(iccid).tags
    ts.update_tags(iccid, {}, remove=["CustomField5"])
    assert "CustomField5" not in {tag.key for tag in ts.subscription(iccid).tags}


@pytest.mark.parametrize(
    ("update", "code"),
    [
        (
            {"key": "CustomField6", "value": "x"},
            "DeviceService.INPUT_INVALID.CustomField.InvalidName",
        ),
        ({"key": "Region", "value": "x"}, "DeviceService.INPUT_INVALID.CustomField.InvalidName"),
        (
            {"key": "CustomField1", "value": "O'Brien"},
            "DeviceService.INPUT_INVALID.Request.InvalidCharacter",
        ),
        ({"key": "CustomField1"}, "UnifiedWebService.REQUEST_FAILED.UnexpectedError"),
    ],
)
def test_custom_fields_refuse_what_verizon_refuses(
    http: httpx.Client, emulator: ThingSpaceEmulator, update: dict[str, str], code: str
) -> None:
    body = {"customFieldsToUpdate": [update], "devices": device_list(listed(emulator)[0])}
    answer = http.put(f"{M2M}/devices/actions/customFields", json=body, headers=login(http))
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == code


# -- plans, usage and history -------------------------------------------------------------


def test_plans(ts: Connector, http: httpx.Client, emulator: ThingSpaceEmulator) -> None:
    plans = list(ts.tariffs())
    assert [plan.id for plan in plans] == ["M2MSHR10MB", "M2MSHR100MB", "M2MSHR1GB"]
    assert plans[0].included_data_bytes == 10_000_000
    wrong = http.get(f"{M2M}/plans/0000999999-00001", headers=login(http))
    assert wrong.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.AccountNotFound"


def test_daily_usage_pages_and_matches_the_fleet(
    ts: Connector, emulator: ThingSpaceEmulator
) -> None:
    emulator.max_page_size = 10
    iccid = first_in(emulator, "active")
    today = emulator.fleet.today
    start = today - timedelta(days=40)
    records = list(ts.usage(iccid, start=start, end=today))
    data = [r for r in records if r.bearer is Bearer.DATA]
    expected = [
        u
        for u in emulator.fleet.usage_days(iccid, start, today)
        if u.data_mo_bytes or u.data_mt_bytes or u.sms_mo or u.sms_mt
    ]
    assert [r.quantity for r in data] == [u.data_mo_bytes + u.data_mt_bytes for u in expected]
    assert len({r.start for r in data}) == len(data) == 40
    mo = [r.quantity for r in records if r.bearer is Bearer.SMS and r.direction == "mo"]
    assert mo == [u.sms_mo for u in expected]
    pages = emulator.requests_to("usage/actions/list")
    assert len(pages) == 5  # 10 days a page, each next page repeating the last day


def test_usage_pages_repeat_the_boundary_record(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    emulator.max_page_size = 3
    iccid = first_in(emulator, "active")
    headers = login(http)
    body = {
        "deviceId": {"id": iccid, "kind": "iccid"},
        "earliest": "2024-05-01T00:00:00Z",
        "latest": "2024-05-10T00:00:00Z",
    }
    first = http.post(f"{M2M}/devices/usage/actions/list", json=body, headers=headers)
    assert first.status_code == 202
    assert first.json()["hasMoreData"] is True
    last = first.json()["usageHistory"][-1]
    body["earliest"] = last["timestamp"]
    second = http.post(f"{M2M}/devices/usage/actions/list", json=body, headers=headers)
    assert second.json()["usageHistory"][0] == last


@pytest.mark.parametrize("missing", ["deviceId", "earliest", "latest"])
def test_history_requests_need_device_and_dates(
    http: httpx.Client, emulator: ThingSpaceEmulator, missing: str
) -> None:
    body = {
        "deviceId": {"id": listed(emulator)[0], "kind": "iccid"},
        "earliest": "2024-05-01T00:00:00Z",
        "latest": "2024-05-10T00:00:00Z",
    }
    del body[missing]
    headers = login(http)
    for path in ("usage/actions/list", "connections/actions/listHistory", "history/actions/list"):
        assert http.post(f"{M2M}/devices/{path}", json=body, headers=headers).status_code == 400


def test_sessions_through_the_connector(ts: Connector, emulator: ThingSpaceEmulator) -> None:
    emulator.max_page_size = 3
    iccid = first_in(emulator, "active")
    today = emulator.fleet.today
    sessions = list(
        ts.usage(iccid, start=today - timedelta(days=6), end=today, granularity=Granularity.SESSION)
    )
    days = [
        u
        for u in emulator.fleet.usage_days(iccid, today - timedelta(days=6), today)
        if u.data_mo_bytes or u.data_mt_bytes
    ]
    assert [s.quantity for s in sessions] == [u.data_mo_bytes + u.data_mt_bytes for u in days]
    assert all(
        s.start is not None and s.end - s.start == timedelta(hours=12) for s in sessions if s.end
    )


def test_provisioning_history_records_the_changes(
    ts: Connector, emulator: ThingSpaceEmulator
) -> None:
    iccid = first_in(emulator, "active")
    before = list(ts.audit_events(iccid, start=date(2000, 1, 1)))
    ts.change_status(iccid, SimStatus.SUSPENDED)
    after = list(ts.audit_events(iccid, start=date(2000, 1, 1)))
    assert len(after) == len(before) + 1
    assert after[-1].new_value == "Suspend"
    assert after[-1].actor == DEFAULT_USERNAME
    assert after[-1].extra["status"] == "Success"


def test_provisioning_history_comes_as_a_list(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    iccid = first_in(emulator, "suspend")
    answer = http.post(
        f"{M2M}/devices/history/actions/list",
        json={
            "deviceId": {"id": iccid, "kind": "iccid"},
            "earliest": "2000-01-01T00:00:00Z",
            "latest": "2030-01-01T00:00:00Z",
        },
        headers=login(http),
    )
    [part] = answer.json()
    assert part["hasMoreData"] is False
    assert [entry["eventType"] for entry in part["provisioningHistory"]][-1] == "Suspend"


# -- errors -------------------------------------------------------------------------------


def test_an_unknown_resource_is_the_gateway_fault(http: httpx.Client) -> None:
    answer = http.post(f"{M2M}/devices/actions/nothing", json={}, headers=login(http))
    assert answer.status_code == 400
    assert answer.json()["fault"]["code"] == "900906"


def test_injected_faults_take_the_vendor_shapes(
    http: httpx.Client, emulator: ThingSpaceEmulator
) -> None:
    headers = login(http)
    emulator.faults.append(Fault(status=429, retry_after=3))
    limited = http.post(f"{M2M}/devices/actions/list", json={}, headers=headers)
    assert (limited.status_code, limited.content, limited.headers["Retry-After"]) == (429, b"", "3")
    emulator.faults.append(Fault(status=403))
    forbidden = http.post(f"{M2M}/devices/actions/list", json={}, headers=headers)
    assert forbidden.status_code == 403
    assert forbidden.text.startswith("<am:fault")
    emulator.faults.append(Fault(status=503))
    unavailable = http.post(f"{M2M}/devices/actions/list", json={}, headers=headers)
    assert unavailable.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.UnexpectedError"
