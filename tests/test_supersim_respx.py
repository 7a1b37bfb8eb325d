"""The Super SIM connector against payloads shaped as documented, through respx (no network).

The Sim, Fleet, UsageRecord and SettingsUpdate payloads are the examples of the official
OpenAPI (twilio-oai ``twilio_supersim_v1.yaml``: ``readFull``, ``readAll``,
``updateStatus`` ...) and the reference's own example (mvno-platforms.md section 4.11);
error bodies are Twilio's ``{"code", "message", "more_info", "status"}``; the OAuth
exchange is KORE's (docs.korewireless.com, developers/api-management/auth).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

import cdp_sdk
from cdp_sdk import (
    AsyncConnector,
    AuditKind,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
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
from cdp_sdk.connectors.supersim.connector import KORE_TOKEN_URL, token_url
from cdp_sdk.testing import FakeSleep

BASE = "https://supersim.twilio.com"
KORE = "https://supersim.api.korewireless.com"
ACCOUNT_SID = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
AUTH_TOKEN = "your_auth_token_0123456789"
CLIENT_ID = "kore-client-0123456789"
CLIENT_SECRET = "kore-secret-0123456789abcdef"
SID = "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
FLEET = "HFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
ICCID = "89883070000123456780"  # a Super SIM ICCID: 20 digits, the last its check digit
SPEC_ICCID = "89883070000123456789"  # the spec's placeholder (its last digit is not a check)


def sim(**changes: Any) -> dict[str, Any]:
    """A Sim as the spec's ``readFullByFleetSid`` example shows it."""
    return {
        "sid": SID,
        "account_sid": ACCOUNT_SID,
        "unique_name": "My SIM",
        "status": "new",
        "fleet_sid": FLEET,
        "iccid": SPEC_ICCID,
        "date_created": "2015-07-30T20:00:00Z",
        "date_updated": "2015-07-30T20:00:00Z",
        "url": f"{BASE}/v1/Sims/{SID}",
        "links": {
            "billing_periods": f"{BASE}/v1/Sims/{SID}/BillingPeriods",
            "sim_ip_addresses": f"{BASE}/v1/Sims/{SID}/IpAddresses",
        },
        **changes,
    }


def page(key: str, items: list[dict[str, Any]], next_url: str | None, number: int = 0) -> Any:
    """A list answer: the items under ``key`` and the ``meta`` envelope."""
    url = f"{BASE}/v1/Sims?PageSize=50&Page={number}"
    return {
        key: items,
        "meta": {
            "first_page_url": f"{BASE}/v1/Sims?PageSize=50&Page=0",
            "key": key,
            "next_page_url": next_url,
            "page": number,
            "page_size": 50,
            "previous_page_url": None,
            "url": url,
        },
    }


def error(status: int, code: int, message: str) -> httpx.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return httpx.Response(status, json=body, headers={"Twilio-Request-Id": "RQ0123"})


FLEET_RECORD = {
    "account_sid": ACCOUNT_SID,
    "unique_name": "Pilot Fleet",
    "data_enabled": True,
    "data_limit": 1000,
    "data_metering": "payg",
    "date_created": "2019-10-15T20:00:00Z",
    "date_updated": "2019-10-15T20:00:00Z",
    "sms_commands_enabled": True,
    "sms_commands_method": "POST",
    "sms_commands_url": None,
    "ip_commands_method": "POST",
    "ip_commands_url": None,
    "network_access_profile_sid": "HAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "sid": FLEET,
    "url": f"{BASE}/v1/Fleets/{FLEET}",
}

# The reference's example (section 4.11): a SIM's two days, newest first.
USAGE_DAYS = [
    {
        "account_sid": ACCOUNT_SID,
        "sim_sid": SID,
        "fleet_sid": None,
        "network_sid": None,
        "iso_country": None,
        "period": {"start_time": "2024-05-02T00:00:00Z", "end_time": "2024-05-03T00:00:00Z"},
        "data_upload": 120034,
        "data_download": 904211,
        "data_total": 1024245,
        "data_total_billed": 0.1,
        "billed_unit": "USD",
    },
    {
        "account_sid": ACCOUNT_SID,
        "sim_sid": SID,
        "fleet_sid": None,
        "network_sid": None,
        "iso_country": None,
        "period": {"start_time": "2024-05-01T00:00:00Z", "end_time": "2024-05-02T00:00:00Z"},
        "data_upload": 0,
        "data_download": 0,
        "data_total": 0,
        "data_total_billed": 0,
        "billed_unit": None,
    },
]

# The spec's ``readAll`` example: the billed amount is a string there, a number in the schema.
USAGE_ALL = {
    "period": {"start_time": "2015-05-01T20:00:00Z", "end_time": "2015-06-01T20:00:00Z"},
    "account_sid": ACCOUNT_SID,
    "data_upload": 150000,
    "data_download": 150000,
    "data_total": 300000,
    "data_total_billed": "0.03",
    "billed_unit": "USD",
    "sim_sid": None,
    "fleet_sid": None,
    "network_sid": None,
    "iso_country": None,
}


def settings_update(status: str, completed: str | None) -> dict[str, Any]:
    """A Settings Update as the spec's ``readSimOnly`` / ``readStatusOnly`` examples."""
    return {
        "sid": "OBaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "iccid": SPEC_ICCID,
        "sim_sid": SID,
        "status": status,
        "packages": [
            {
                "name": "base-settings",
                "version": "1.0.0",
                "more_info": "https://twilio.com/docs/iot/supersim/settings-packages/base-settings",
            }
        ],
        "date_completed": completed,
        "date_created": "2015-07-30T20:00:00Z",
        "date_updated": "2015-07-30T21:00:00Z",
    }


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def supersim(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async(
        "supersim", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    ) as connector:
        connector.plugin.http.sleep = sleep
        yield connector


def lookup(api: respx.MockRouter, *records: dict[str, Any]) -> respx.Route:
    """``GET /v1/Sims?Iccid=`` answering ``records`` (zero or one SIM)."""
    return api.get("/v1/Sims", params={"Iccid": ICCID}).respond(
        json=page("sims", list(records), None)
    )


def form(request: httpx.Request) -> list[tuple[str, str]]:
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    return parse_qsl(request.content.decode(), keep_blank_values=True)


# -- settings and auth --------------------------------------------------------------------


def test_settings_take_one_pair_of_credentials() -> None:
    with pytest.raises(ConfigurationError, match="not both") as mixed:
        cdp_sdk.connect(
            "supersim", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, client_id=CLIENT_ID
        )
    assert "account_sid" in str(mixed.value)
    assert "client_id" in str(mixed.value)
    assert AUTH_TOKEN not in str(mixed.value)
    with pytest.raises(ConfigurationError, match="missing credentials"):
        cdp_sdk.connect("supersim")
    with pytest.raises(ConfigurationError, match="'auth_token'"):
        cdp_sdk.connect("supersim", account_sid=ACCOUNT_SID)
    with pytest.raises(ConfigurationError, match="'client_id'"):
        cdp_sdk.connect("supersim", client_secret=CLIENT_SECRET)
    with pytest.raises(ConfigurationError, match="'auth_token'"):
        cdp_sdk.connect("supersim", account_sid=ACCOUNT_SID, auth_token="  ")


def test_the_credentials_choose_the_default_host() -> None:
    with cdp_sdk.connect("supersim", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as basic:
        assert basic.plugin.settings.base_url == BASE
    with cdp_sdk.connect("supersim", client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as kore:
        assert kore.plugin.settings.base_url == KORE
    with cdp_sdk.connect(
        "supersim", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=BASE
    ) as chosen:
        assert chosen.plugin.settings.base_url == BASE


def test_the_token_endpoint_follows_the_host() -> None:
    assert token_url(KORE) == KORE_TOKEN_URL
    assert token_url("https://korewireless.com") == KORE_TOKEN_URL
    assert token_url("https://supersim.api.korewireless.com/") == KORE_TOKEN_URL
    assert token_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/api-services/v1/auth/token"
    assert token_url("https://korewireless.com.example.net") == (
        "https://korewireless.com.example.net/api-services/v1/auth/token"
    )


async def test_basic_auth_signs_every_request(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    listing = api.get("/v1/Sims").respond(json=page("sims", [sim()], None))
    [found async for found in supersim.subscriptions()]
    sent = listing.calls.last.request
    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
    assert sent.url.params["PageSize"] == "1000"


async def test_kore_oauth_token_is_fetched_once_and_renewed_on_401() -> None:
    with respx.mock(assert_all_called=True) as router:
        token = router.post(KORE_TOKEN_URL).mock(
            side_effect=[
                httpx.Response(200, json={"access_token": "t1", "expires_in": "3600"}),
                httpx.Response(200, json={"access_token": "t2", "expires_in": 86400}),
            ]
        )
        sims = router.get(f"{KORE}/v1/Sims").mock(
            side_effect=[
                httpx.Response(200, json=page("sims", [sim()], None)),
                httpx.Response(200, json=page("sims", [sim()], None)),
                error(401, 20003, "Authenticate"),
                httpx.Response(200, json=page("sims", [sim()], None)),
            ]
        )
        async with cdp_sdk.connect_async(
            "supersim", client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        ) as connector:
            for _ in range(3):
                [s async for s in connector.subscriptions()]
    assert token.call_count == 2
    login = token.calls[0].request
    assert dict(form(login)) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert [call.request.headers["Authorization"] for call in sims.calls] == [
        "Bearer t1",
        "Bearer t1",
        "Bearer t1",
        "Bearer t2",
    ]


async def test_a_refused_kore_login_is_an_authentication_error() -> None:
    with respx.mock() as router:
        router.post(KORE_TOKEN_URL).respond(
            401,
            json={
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials",
            },
        )
        async with cdp_sdk.connect_async(
            "supersim", client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        ) as connector:
            with pytest.raises(AuthenticationError) as caught:
                await connector.check()
    assert caught.value.status_code == 401
    assert CLIENT_SECRET not in str(caught.value)


async def test_check_reads_one_sim(api: respx.MockRouter, supersim: AsyncConnector) -> None:
    probe = api.get("/v1/Sims", params={"PageSize": "1"}).respond(json=page("sims", [], None))
    await supersim.check()
    assert probe.call_count == 1


# -- subscriptions ------------------------------------------------------------------------


async def test_subscriptions_follow_next_page_url_across_an_empty_page(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    second = f"{BASE}/v1/Sims?PageSize=1000&Page=1&PageToken=PAHS01"
    third = f"{BASE}/v1/Sims?PageSize=1000&Page=2&PageToken=PAHS02"
    route = api.get("/v1/Sims").mock(
        side_effect=[
            httpx.Response(200, json=page("sims", [sim(), sim(sid="HS" + "b" * 32)], second)),
            httpx.Response(200, json=page("sims", [], third, 1)),
            httpx.Response(200, json=page("sims", [sim(sid="HS" + "c" * 32)], None, 2)),
        ]
    )
    found = [s async for s in supersim.subscriptions()]
    assert [s.id for s in found] == [SID, "HS" + "b" * 32, "HS" + "c" * 32]
    urls = [str(call.request.url) for call in route.calls]
    assert urls == [f"{BASE}/v1/Sims?PageSize=1000", second, third]


async def test_a_null_next_page_url_ends_the_listing(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    route = api.get("/v1/Sims").respond(json=page("sims", [sim()] * 1, None))
    found = [s async for s in supersim.subscriptions()]
    assert len(found) == 1
    assert route.call_count == 1


async def test_a_listing_without_its_sims_key_is_drift(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    api.get("/v1/Sims").respond(json=page("fleets", [], None))
    with pytest.raises(UnexpectedResponseError, match="'sims'"):
        [s async for s in supersim.subscriptions()]


async def test_a_sim_maps_as_documented(api: respx.MockRouter, supersim: AsyncConnector) -> None:
    api.get("/v1/Sims").respond(json=page("sims", [sim(status="active")], None))
    [found] = [s async for s in supersim.subscriptions()]
    assert found.id == SID
    assert found.account == ACCOUNT_SID
    assert found.iccid == SPEC_ICCID  # 20 digits: kept as the API gives it
    assert found.status is SimStatus.ACTIVE
    assert found.status_raw == "active"
    assert found.tariff == FLEET
    assert found.extra == {"fleet_sid": FLEET}
    assert found.tags == (Tag(key="label", value="My SIM"),)
    assert found.created_at == datetime(2015, 7, 30, 20, tzinfo=UTC)
    assert (found.imsi, found.msisdn, found.imei, found.eid) == (None, None, None, None)


async def test_subscription_finds_the_sim_by_its_iccid(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    route = lookup(api, sim(iccid=ICCID[:-1]))  # an answer without the check digit
    found = await supersim.subscription(ICCID)
    assert found.iccid == ICCID
    assert route.call_count == 1


async def test_subscription_tries_the_iccid_without_its_check_digit(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    full = lookup(api)
    short = api.get("/v1/Sims", params={"Iccid": ICCID[:-1]}).respond(
        json=page("sims", [sim(iccid=ICCID[:-1])], None)
    )
    found = await supersim.subscription(ICCID[:-1])  # given without its check digit
    assert found.iccid == ICCID
    assert (full.call_count, short.call_count) == (1, 1)


@pytest.mark.parametrize(
    "answer",
    [
        page("sims", [sim(iccid=ICCID, sid="")], None),
        page("sims", ["HS" + "a" * 32], None),
        {"sims": None, "meta": {}},
        [sim(iccid=ICCID)],
    ],
    ids=["empty-sid", "not-an-object", "null-list", "bare-list"],
)
async def test_a_lookup_answer_that_names_no_sim_is_unexpected(
    api: respx.MockRouter, supersim: AsyncConnector, answer: Any
) -> None:
    api.get("/v1/Sims", params={"Iccid": ICCID}).respond(json=answer)
    with pytest.raises(UnexpectedResponseError, match="GET /v1/Sims"):
        await supersim.change_status(ICCID, SimStatus.ACTIVE)
    assert not [call for call in api.calls if call.request.method == "POST"]


async def test_a_lookup_answer_that_cannot_be_mapped_names_the_endpoint(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID, status=None))
    with pytest.raises(UnexpectedResponseError, match=r"^GET /v1/Sims: "):
        await supersim.subscription(ICCID)


async def test_an_unknown_iccid_is_not_found(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    full = lookup(api)
    short = api.get("/v1/Sims", params={"Iccid": ICCID[:-1]}).respond(json=page("sims", [], None))
    with pytest.raises(NotFoundError) as caught:
        await supersim.subscription(ICCID)
    assert ICCID not in str(caught.value)
    assert (full.call_count, short.call_count) == (1, 1)


# -- status -------------------------------------------------------------------------------


async def test_change_status_posts_the_form_and_is_done_on_200(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID, status="active"))
    update = api.post(f"/v1/Sims/{SID}").respond(
        json=sim(iccid=ICCID, status="inactive", date_updated="2024-05-02T10:00:00Z"),
        headers={"Twilio-Request-Id": "RQ42"},
    )
    change = await supersim.change_status(ICCID, SimStatus.DEACTIVATED)
    assert form(update.calls.last.request) == [("Status", "inactive")]
    assert change.state == "done"
    assert change.requested is SimStatus.DEACTIVATED
    assert change.effective_at == datetime(2024, 5, 2, 10, tzinfo=UTC)
    assert change.request_id == "RQ42"
    assert change.extra == {"status": "inactive"}


async def test_a_status_change_names_the_full_iccid(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    api.get("/v1/Sims", params={"Iccid": ICCID}).respond(
        json=page("sims", [sim(iccid=ICCID)], None)
    )
    api.post(f"/v1/Sims/{SID}").respond(json=sim(iccid=ICCID, status="active"))
    change = await supersim.change_status(ICCID[:-1], SimStatus.ACTIVE)
    assert change.iccid == ICCID


async def test_a_scheduled_update_is_pending(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID))
    api.post(f"/v1/Sims/{SID}").respond(202, json=sim(iccid=ICCID, status="scheduled"))
    change = await supersim.change_status(ICCID, SimStatus.ACTIVE)
    assert change.state == "pending"
    assert change.effective_at is None
    assert change.extra == {"status": "scheduled"}


async def test_an_accepted_update_is_pending_whatever_status_it_shows(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID, status="new"))
    api.post(f"/v1/Sims/{SID}").respond(202, json=sim(iccid=ICCID, status="new"))
    change = await supersim.change_status(ICCID, SimStatus.ACTIVE)
    assert change.state == "pending"


async def test_an_update_answer_without_status_is_unexpected(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID))
    api.post(f"/v1/Sims/{SID}").respond(json=sim(iccid=ICCID, status=None))
    with pytest.raises(UnexpectedResponseError, match=r"^POST /v1/Sims/\{sid\}: "):
        await supersim.change_status(ICCID, SimStatus.ACTIVE)


async def test_a_status_the_sim_cannot_take_is_a_conflict(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID, status="active"))
    api.post(f"/v1/Sims/{SID}").mock(
        return_value=error(400, 83010, "Unable to update your Super SIM to the desired status")
    )
    with pytest.raises(ConflictError) as caught:
        await supersim.change_status(ICCID, SimStatus.READY)
    assert caught.value.vendor_code == "83010"
    assert caught.value.request_id == "RQ0123"


@pytest.mark.parametrize("status", [SimStatus.SUSPENDED, SimStatus.INVENTORY, SimStatus.TEST])
async def test_statuses_super_sim_lacks_are_refused_before_any_request(
    api: respx.MockRouter, supersim: AsyncConnector, status: SimStatus
) -> None:
    with pytest.raises(InvalidRequestError, match="ready, active and inactive"):
        await supersim.change_status(ICCID, status)
    assert not api.calls


async def test_retiring_is_refused_even_when_confirmed(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    with pytest.raises(InvalidRequestError):
        await supersim.change_status(ICCID, SimStatus.RETIRED, confirm_irreversible=True)
    assert not api.calls


async def test_the_sid_of_an_iccid_is_looked_up_once(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    found = lookup(api, sim(iccid=ICCID))
    api.post(f"/v1/Sims/{SID}").respond(json=sim(iccid=ICCID, status="active"))
    await supersim.change_status(ICCID, SimStatus.ACTIVE)
    await supersim.change_status(ICCID, SimStatus.ACTIVE)
    assert found.call_count == 1


# -- tags ---------------------------------------------------------------------------------


async def test_the_label_is_the_unique_name(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID))
    update = api.post(f"/v1/Sims/{SID}").respond(json=sim(iccid=ICCID, unique_name="truck-9"))
    await supersim.update_tags(ICCID, {"label": "truck-9"})
    await supersim.update_tags(ICCID, {}, remove=["label"])
    assert [form(call.request) for call in update.calls] == [
        [("UniqueName", "truck-9")],
        [("UniqueName", "")],
    ]


@pytest.mark.parametrize(
    ("tags", "remove"), [({"fleet": "north"}, ()), ({"label": None}, ()), ({}, ("fleet",))]
)
async def test_tags_other_than_a_label_text_are_refused(
    api: respx.MockRouter,
    supersim: AsyncConnector,
    tags: dict[str, str | None],
    remove: tuple[str, ...],
) -> None:
    with pytest.raises(InvalidRequestError, match="label"):
        await supersim.update_tags(ICCID, tags, remove=remove)
    assert not api.calls


# -- tariffs ------------------------------------------------------------------------------


async def test_fleets_are_tariffs_without_price(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    route = api.get("/v1/Fleets").respond(json=page("fleets", [FLEET_RECORD], None))
    [tariff] = [t async for t in supersim.tariffs()]
    assert route.calls.last.request.url.params["PageSize"] == "1000"
    assert (tariff.id, tariff.name) == (FLEET, "Pilot Fleet")
    assert tariff.recurring_fee is None
    assert tariff.currency is None
    assert tariff.included_data_bytes is None  # a cap on pay-as-you-go data, not included
    assert tariff.extra["data_limit_bytes"] == 1_000_000_000
    assert tariff.extra["data_enabled"] is True
    assert tariff.extra["sms_commands_enabled"] is True
    assert tariff.extra["data_metering"] == "payg"


# -- usage --------------------------------------------------------------------------------


async def test_usage_of_a_sim_by_day(api: respx.MockRouter, supersim: AsyncConnector) -> None:
    lookup(api, sim(iccid=ICCID))
    route = api.get("/v1/UsageRecords").respond(json=page("usage_records", USAGE_DAYS, None))
    rows = [r async for r in supersim.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 3))]
    params = dict(route.calls.last.request.url.params)
    assert params == {
        "Sim": SID,
        "Granularity": "day",
        "StartTime": "2024-05-01T00:00:00Z",
        "EndTime": "2024-05-03T00:00:00Z",
        "PageSize": "1000",
    }
    assert [(r.direction, r.quantity) for r in rows] == [
        (Direction.MO, 120034),
        (Direction.MT, 904211),
    ]
    first = rows[0]
    assert first.iccid == ICCID
    assert first.granularity is Granularity.DAY
    assert (first.start, first.end) == (
        datetime(2024, 5, 2, tzinfo=UTC),
        datetime(2024, 5, 3, tzinfo=UTC),
    )
    assert first.final is True
    assert first.cost is None
    assert first.extra == {"data_total": 1024245, "cost": "0.1", "currency": "USD", "sim_sid": SID}


async def test_usage_of_the_account_reads_a_string_billed_amount(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    route = api.get("/v1/UsageRecords").respond(json=page("usage_records", [USAGE_ALL], None))
    rows = [r async for r in supersim.usage(None, granularity=Granularity.HOUR)]
    params = route.calls.last.request.url.params
    assert "Sim" not in params
    assert "StartTime" not in params  # the vendor's default window
    assert params["Granularity"] == "hour"
    assert [r.iccid for r in rows] == [None, None]
    assert rows[0].extra["cost"] == "0.03"
    assert rows[0].extra["currency"] == "USD"


async def test_monthly_usage_asks_for_each_calendar_month(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    route = api.get("/v1/UsageRecords").respond(json=page("usage_records", [], None))
    start, end = datetime(2024, 3, 15, tzinfo=UTC), datetime(2024, 5, 10, tzinfo=UTC)
    [r async for r in supersim.usage(None, start=start, end=end, granularity="month")]
    windows = [
        (call.request.url.params["StartTime"], call.request.url.params["EndTime"])
        for call in route.calls
    ]
    assert windows == [
        ("2024-03-15T00:00:00Z", "2024-04-01T00:00:00Z"),
        ("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"),
        ("2024-05-01T00:00:00Z", "2024-05-10T00:00:00Z"),
    ]
    assert {call.request.url.params["Granularity"] for call in route.calls} == {"all"}


async def test_monthly_windows_cross_the_year_and_default_to_last_month(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    route = api.get("/v1/UsageRecords").respond(json=page("usage_records", [], None))
    start, end = datetime(2023, 11, 30, 12, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    [r async for r in supersim.usage(None, start=start, end=end, granularity="month")]
    [
        r
        async for r in supersim.usage(
            None, end=datetime(2024, 3, 5, 7, 30, tzinfo=UTC), granularity="month"
        )
    ]
    windows = [
        (call.request.url.params["StartTime"], call.request.url.params["EndTime"])
        for call in route.calls
    ]
    assert windows == [
        ("2023-11-30T12:00:00Z", "2023-12-01T00:00:00Z"),
        ("2023-12-01T00:00:00Z", "2024-01-01T00:00:00Z"),
        ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
        ("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
        ("2024-03-01T00:00:00Z", "2024-03-05T07:30:00Z"),
    ]


async def test_usage_times_are_sent_in_utc_to_the_second(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    route = api.get("/v1/UsageRecords").respond(json=page("usage_records", [], None))
    paris = timezone(timedelta(hours=2))
    start = datetime(2024, 5, 1, 2, 0, 0, 999_999, tzinfo=paris)
    [r async for r in supersim.usage(None, start=start, end=datetime(2024, 5, 2, tzinfo=UTC))]
    params = route.calls.last.request.url.params
    assert (params["StartTime"], params["EndTime"]) == (
        "2024-05-01T00:00:00Z",
        "2024-05-02T00:00:00Z",
    )


async def test_a_malformed_usage_record_is_unexpected_or_skipped(
    api: respx.MockRouter, sleep: FakeSleep
) -> None:
    drifted = {**USAGE_DAYS[0], "data_upload": "lots"}
    api.get("/v1/UsageRecords").respond(json=page("usage_records", [drifted, USAGE_ALL], None))
    async with cdp_sdk.connect_async(
        "supersim", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    ) as strict:
        with pytest.raises(UnexpectedResponseError, match=r"^GET /v1/UsageRecords: "):
            [r async for r in strict.usage(None)]
    async with cdp_sdk.connect_async(
        "supersim", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, strict=False
    ) as tolerant:
        rows = [r async for r in tolerant.usage(None)]
    assert [r.quantity for r in rows] == [150000, 150000]


async def test_a_billing_cycle_granularity_is_refused(supersim: AsyncConnector) -> None:
    with pytest.raises(InvalidRequestError):
        [r async for r in supersim.usage(None, granularity=Granularity.CYCLE)]


# -- audit events -------------------------------------------------------------------------


async def test_settings_updates_are_audit_events(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    lookup(api, sim(iccid=ICCID))
    updates = [
        settings_update("successful", "2015-07-30T20:30:00Z"),
        settings_update("scheduled", None),
    ]
    route = api.get("/v1/SettingsUpdates").respond(json=page("settings_updates", updates, None))
    done, queued = [e async for e in supersim.audit_events(ICCID)]
    assert dict(route.calls.last.request.url.params) == {"PageSize": "1000", "Sim": SID}
    assert done.kind is AuditKind.FIELD_CHANGE
    assert done.field == "settings_packages"
    assert done.new_value == "base-settings@1.0.0"
    assert done.occurred_at == datetime(2015, 7, 30, 20, 30, tzinfo=UTC)
    assert done.iccid == SPEC_ICCID
    assert queued.kind is AuditKind.OTHER
    assert queued.new_value is None
    assert queued.occurred_at == datetime(2015, 7, 30, 21, tzinfo=UTC)
    assert queued.description == "settings update scheduled: base-settings@1.0.0"


async def test_audit_events_keep_to_the_window(
    api: respx.MockRouter, supersim: AsyncConnector
) -> None:
    updates = [
        settings_update("successful", "2015-07-30T20:30:00Z"),
        settings_update("successful", "2015-08-30T20:30:00Z"),
    ]
    api.get("/v1/SettingsUpdates").respond(json=page("settings_updates", updates, None))
    events = [
        e
        async for e in supersim.audit_events(
            start=datetime(2015, 8, 1, tzinfo=UTC), end=datetime(2015, 8, 30, 20, 30, tzinfo=UTC)
        )
    ]
    assert events == []
    events = [
        e async for e in supersim.audit_events(start=datetime(2015, 7, 30, 20, 30, tzinfo=UTC))
    ]
    assert len(events) == 2


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (404, 20404, NotFoundError),
        (401, 20003, AuthenticationError),
        (403, 20403, PermissionDeniedError),
        (401, 20005, PermissionDeniedError),
        (403, 70051, PermissionDeniedError),
        (429, 20429, RateLimitedError),
    ],
)
async def test_twilio_error_codes_map_to_error_classes(
    api: respx.MockRouter, status: int, code: int, error_class: type[Exception]
) -> None:
    api.get("/v1/Fleets").mock(return_value=error(status, code, "failed"))
    async with cdp_sdk.connect_async(
        "supersim", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, max_retries=0
    ) as connector:
        with pytest.raises(error_class) as caught:
            [t async for t in connector.tariffs()]
    assert caught.value.vendor_code == str(code)  # type: ignore[attr-defined]
    assert caught.value.request_id == "RQ0123"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (20003, AuthenticationError),
        (20005, PermissionDeniedError),
        (20403, PermissionDeniedError),
        (70051, PermissionDeniedError),
        (20404, NotFoundError),
        (20429, RateLimitedError),
        (83010, ConflictError),
    ],
)
async def test_the_twilio_code_decides_whatever_the_status(
    api: respx.MockRouter, code: int, error_class: type[Exception]
) -> None:
    api.get("/v1/Fleets").mock(return_value=error(400, code, "failed"))
    async with cdp_sdk.connect_async(
        "supersim", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, max_retries=0
    ) as connector:
        with pytest.raises(error_class):
            [t async for t in connector.tariffs()]


async def test_a_429_is_retried_with_backoff(
    api: respx.MockRouter, supersim: AsyncConnector, sleep: FakeSleep
) -> None:
    api.get("/v1/Fleets").mock(
        side_effect=[
            error(429, 20429, "Too Many Requests"),
            httpx.Response(200, json=page("fleets", [FLEET_RECORD], None)),
        ]
    )
    assert len([t async for t in supersim.tariffs()]) == 1
    assert len(sleep.calls) == 1


async def test_logs_keep_iccids_and_tokens_out(
    api: respx.MockRouter, supersim: AsyncConnector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lookup(api)
    api.get("/v1/Sims", params={"Iccid": ICCID[:-1]}).mock(
        return_value=error(500, 20500, f"Internal error for {ICCID}")
    )
    with pytest.raises(TransientError) as caught:
        await supersim.subscription(ICCID)
    text = caplog.text + str(caught.value)
    assert ICCID not in text
    assert ICCID[:-1] not in text
    assert AUTH_TOKEN not in text
