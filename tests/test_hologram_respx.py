"""The Hologram connector against payloads shaped as documented, through respx (no network).

Payloads come from ``hologram_payloads`` (the API Blueprint's objects and examples, and
the newer reference's where marked); envelopes carry ``continues`` and ``links.next`` as
the Blueprint's response section describes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

import cdp_sdk
import cdp_sdk.connectors.hologram.connector as hologram_connector
from cdp_sdk import (
    AsyncConnector,
    AuthenticationError,
    Bearer,
    ConfigurationError,
    ConflictError,
    Direction,
    Granularity,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SimStatus,
    UnexpectedResponseError,
)
from cdp_sdk.models import luhn_check_digit
from cdp_sdk.testing import FakeSleep
from hologram_payloads import (
    API_KEY,
    BASE,
    DAILY,
    DEVICE,
    DEVICE_ID,
    HISTORY,
    ICCID,
    ICCID_BODY,
    LINK,
    LINK_ID,
    MONTHLY,
    ORG_ID,
    PLAN,
    SESSIONS,
    SMS,
    SMS_NEWER,
    answer,
    error,
    page,
    with_,
)

LINKS = "/api/1/links/cellular"
DEVICES = "/api/1/devices"
TAGS = "/api/1/devices/tags"
STATE = f"/api/1/devices/{DEVICE_ID}/state"
OTHER_ICCID = "8944500112233445575"


def link(number: int, device: int | None = None, **changes: Any) -> dict[str, Any]:
    """The documented link, renumbered."""
    body = f"89445001122334{number:04d}"
    return with_(
        LINK,
        id=number,
        deviceid=number + 10_000 if device is None else device,
        sim=body + str(luhn_check_digit(body)),
        **changes,
    )


def device(number: int, **changes: Any) -> dict[str, Any]:
    """The documented device, renumbered, with the link ``number - 10000``."""
    body = with_(DEVICE, id=number, **changes)
    body["links"]["cellular"][0]["id"] = number - 10_000
    return body


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


async def open_connector(sleep: FakeSleep, **settings: Any) -> AsyncConnector:
    connector = cdp_sdk.connect_async("hologram", api_key=API_KEY, rate_limit=None, **settings)
    connector.plugin.http.sleep = sleep
    return connector


@pytest.fixture
async def hologram(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with await open_connector(sleep) as connector:
        yield connector


def found(api: respx.MockRouter, *links: dict[str, Any]) -> respx.Route:
    """The ``sims=`` lookup answering ``links`` (default: the documented one)."""
    return api.get(LINKS, params={"sims": ",".join(candidates(ICCID))}).respond(
        json=page(LINKS, list(links) or [LINK], limit=200)
    )


def candidates(iccid: str) -> list[str]:
    forms = [iccid, iccid[:-1], iccid + str(luhn_check_digit(iccid))]
    return list(dict.fromkeys(forms))


def query(route: respx.Route, index: int = 0) -> dict[str, str]:
    return dict(route.calls[index].request.url.params)


def sent(route: respx.Route, index: int = 0) -> Any:
    return json.loads(route.calls[index].request.content)


# -- settings and auth --------------------------------------------------------------------


def test_settings_defaults() -> None:
    connector = cdp_sdk.connect("hologram", api_key=API_KEY)
    try:
        settings = connector.settings
        assert settings.base_url == "https://dashboard.hologram.io"
        assert settings.rate_limit == 2.0  # Hologram publishes no number: a cautious pace
        assert settings.org_id is None  # type: ignore[attr-defined]
        assert API_KEY not in repr(settings)
    finally:
        connector.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "missing setting 'api_key'"),
        ({"api_key": API_KEY, "org_id": 0}, "setting 'org_id'"),
        ({"api_key": API_KEY, "org_id": "acme"}, "setting 'org_id'"),
        ({"api_key": API_KEY, "orgid": 5}, "did you mean 'org_id'"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        cdp_sdk.connect("hologram", **settings)


async def test_every_call_carries_basic_auth_with_the_user_apikey(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    links = api.get(LINKS).respond(json=page(LINKS, [], limit=200))

    [sim async for sim in hologram.subscriptions()]

    request = links.calls[0].request
    expected = base64.b64encode(f"apikey:{API_KEY}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert "apikey" not in request.url.params  # the key never travels in the URL


# -- subscriptions ------------------------------------------------------------------------


async def test_links_are_paged_after_the_last_id_until_they_stop_continuing(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    second = api.get(LINKS, params={"startafter": "12"}).respond(
        json=page(LINKS, [link(13)], limit=200)
    )
    first = api.get(LINKS).respond(json=page(LINKS, [link(11), link(12)], limit=200, next_after=12))
    devices = api.get(DEVICES).mock(
        side_effect=[
            httpx.Response(200, json=page(DEVICES, [device(10_011), device(10_012)], limit=2)),
            httpx.Response(200, json=page(DEVICES, [device(10_013)], limit=1)),
        ]
    )

    sims = [sim async for sim in hologram.subscriptions()]

    assert [sim.id for sim in sims] == ["11", "12", "13"]
    assert query(first) == {"limit": "200"}
    assert query(second) == {"limit": "200", "startafter": "12"}
    # One devices call per page of links, for exactly that page's devices.
    assert query(devices, 0) == {"ids": "10011,10012", "limit": "2"}
    assert query(devices, 1) == {"ids": "10013", "limit": "1"}
    assert [sim.tariff for sim in sims] == ["127:1"] * 3
    assert sims[0].imei == "356938035643809"


async def test_an_empty_page_that_says_it_continues_raises(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    api.get(LINKS, params={"startafter": "11"}).respond(
        json={"success": True, "limit": 200, "size": 0, "continues": True, "data": []}
    )
    api.get(LINKS).respond(json=page(LINKS, [link(11)], limit=200, next_after=11))
    api.get(DEVICES).respond(json=page(DEVICES, [device(10_011)], limit=1))

    seen: list[str] = []

    async def drain() -> None:
        async for sim in hologram.subscriptions():
            seen.append(sim.id)

    with pytest.raises(UnexpectedResponseError, match="empty page says more records follow"):
        await drain()
    assert seen == ["11"]  # what came before is delivered, and the listing is not cut short


@pytest.mark.parametrize("flag", [{"continues": False}, {}])
async def test_an_empty_last_page_ends_the_listing(
    api: respx.MockRouter, hologram: AsyncConnector, flag: dict[str, Any]
) -> None:
    api.get(LINKS).respond(json={"success": True, "limit": 200, "size": 0, **flag, "data": []})

    assert [sim async for sim in hologram.subscriptions()] == []


async def test_a_link_whose_device_is_not_answered_still_lists(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    api.get(LINKS).respond(json=page(LINKS, [link(11)], limit=200))
    api.get(DEVICES).respond(json=page(DEVICES, [], limit=1))

    [sim] = [sim async for sim in hologram.subscriptions()]

    assert sim.imei is None
    assert sim.tags == ()


async def test_the_devices_of_a_page_are_paged_too(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    api.get(LINKS).respond(json=page(LINKS, [link(11), link(12)], limit=200))
    more = api.get(DEVICES, params={"startafter": "10012"}).respond(
        json=page(DEVICES, [device(10_011)], limit=2)
    )
    api.get(DEVICES).respond(json=page(DEVICES, [device(10_012)], limit=2, next_after=10_012))

    sims = [sim async for sim in hologram.subscriptions()]

    assert [sim.imei for sim in sims] == ["356938035643809"] * 2
    assert query(more) == {"ids": "10011,10012", "limit": "2", "startafter": "10012"}


async def test_org_id_scopes_the_listings(api: respx.MockRouter, sleep: FakeSleep) -> None:
    links = api.get(LINKS).respond(json=page(LINKS, [link(11)], limit=200))
    devices = api.get(DEVICES).respond(json=page(DEVICES, [device(10_011)], limit=1))
    plans = api.get("/api/1/plans").respond(json=page("/api/1/plans", [PLAN], limit=200))

    async with await open_connector(sleep, org_id=ORG_ID) as hologram:
        [sim async for sim in hologram.subscriptions()]
        [tariff async for tariff in hologram.tariffs()]

    assert query(links)["orgid"] == str(ORG_ID)
    assert query(devices)["orgid"] == str(ORG_ID)
    assert query(plans)["orgid"] == str(ORG_ID)


async def test_a_sim_is_found_by_its_iccid_with_or_without_check_digit(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    lookup = found(api)
    by_body = api.get(LINKS, params={"sims": f"{ICCID_BODY},{ICCID}"}).respond(
        json=page(LINKS, [LINK], limit=200)
    )
    devices = api.get(DEVICES).respond(json=page(DEVICES, [DEVICE], limit=1))

    sim = await hologram.subscription(ICCID)
    same = await hologram.subscription(ICCID_BODY)

    assert sim == same
    assert sim.iccid == ICCID
    assert query(lookup) == {"sims": ",".join(candidates(ICCID)), "limit": "200"}
    assert query(by_body)["sims"] == f"{ICCID_BODY},{ICCID}"
    assert query(devices) == {"ids": str(DEVICE_ID), "limit": "1"}


async def test_a_sim_stored_without_its_check_digit_is_shown_with_it(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api, with_(LINK, sim=ICCID_BODY))
    api.get(DEVICES).respond(json=page(DEVICES, [DEVICE], limit=1))

    assert (await hologram.subscription(ICCID)).iccid == ICCID


async def test_an_unknown_iccid_is_not_found(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api, with_(LINK, sim=OTHER_ICCID))  # a partial match is not taken

    with pytest.raises(NotFoundError):
        await hologram.subscription(ICCID)


# -- status -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "state"),
    [("suspended", "pause"), ("active", "live"), ("retired", "deactivate")],
)
async def test_change_status_posts_the_device_state(
    api: respx.MockRouter, hologram: AsyncConnector, target: str, state: str
) -> None:
    found(api)
    post = api.post(STATE).respond(json={"success": True})

    change = await hologram.change_status(ICCID, target, confirm_irreversible=True)

    assert sent(post) == {"state": state}
    assert change.iccid == ICCID
    assert change.requested == target
    assert change.state == "pending"  # the change reaches the network afterwards


async def test_an_answer_showing_the_settled_state_is_done(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    paused = with_(DEVICE)
    paused["links"]["cellular"][0]["state"] = "PAUSED-USER"
    api.post(STATE).respond(json=answer(paused))

    change = await hologram.change_status(ICCID, "suspended")

    assert change.state == "done"


async def test_the_sim_is_looked_up_once(api: respx.MockRouter, hologram: AsyncConnector) -> None:
    lookup = found(api)
    api.post(STATE).respond(json={"success": True})

    await hologram.change_status(ICCID, "suspended")
    await hologram.change_status(ICCID, "active")

    assert lookup.call_count == 1


@pytest.mark.parametrize("target", ["deactivated", "ready", "inventory", "test"])
async def test_statuses_without_a_state_change_are_refused_before_any_request(
    hologram: AsyncConnector, target: str
) -> None:
    with respx.mock(base_url=BASE) as api, pytest.raises(InvalidRequestError) as caught:
        await hologram.change_status(ICCID, target)
    assert not api.calls
    if target == "deactivated":
        assert "deactivate is permanent" in str(caught.value)


async def test_retiring_needs_confirmation(hologram: AsyncConnector) -> None:
    with respx.mock(base_url=BASE) as api, pytest.raises(InvalidRequestError):
        await hologram.change_status(ICCID, "retired")
    assert not api.calls


async def test_a_refused_state_change_is_a_conflict(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.post(STATE).respond(400, json=error("SIM state is locked (PAUSED-PENDING-USER)"))

    with pytest.raises(ConflictError, match="locked") as caught:
        await hologram.change_status(ICCID, "active")

    assert caught.value.status_code == 400
    assert caught.value.connector == "hologram"


async def test_a_missing_device_is_not_found(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.post(STATE).respond(404, json=error("Device not found"))

    with pytest.raises(NotFoundError):
        await hologram.change_status(ICCID, "active")


# -- tags ---------------------------------------------------------------------------------


async def test_tags_are_created_linked_and_unlinked_on_the_device(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    existing = [
        {"name": "pumps", "id": 890, "deviceids": [DEVICE_ID]},
        {"name": "south", "id": 892, "deviceids": [1]},
        {"name": "north", "id": 891, "deviceids": [DEVICE_ID, 2]},
        {"name": "spare", "id": 893, "deviceids": []},
    ]
    listing = api.get(TAGS).respond(json=answer(existing))
    create = api.post(TAGS).respond(json=answer({"name": "new", "id": 900, "deviceids": []}))
    link_south = api.post("/api/1/devices/tags/892/link").respond(json=answer(existing[1]))
    unlink_north = api.post("/api/1/devices/tags/891/unlink").respond(json=answer(existing[2]))

    await hologram.update_tags(
        ICCID,
        {"pumps": None, "south": "ignored", " new ": None},
        remove=["north", "spare", "absent"],
    )

    assert query(listing) == {"orgid": str(ORG_ID), "limit": "5000"}
    assert query(create) == {"orgid": str(ORG_ID)}
    assert sent(create) == {"name": "new", "deviceids": [DEVICE_ID]}  # values are dropped
    assert sent(link_south) == {"deviceids": [DEVICE_ID]}
    assert sent(unlink_north) == {"deviceids": [DEVICE_ID]}
    posts = [call.request.url.path for call in api.calls if call.request.method == "POST"]
    assert len(posts) == 3  # "pumps" is there already; "spare" and "absent" are not on it


async def test_the_settings_organization_scopes_the_tags(
    api: respx.MockRouter, sleep: FakeSleep
) -> None:
    api.get(LINKS).respond(json=page(LINKS, [LINK], limit=200))
    listing = api.get(TAGS).respond(json=answer([]))
    create = api.post(TAGS).respond(json=answer({"name": "x", "id": 1, "deviceids": []}))

    async with await open_connector(sleep, org_id=77) as hologram:
        await hologram.update_tags(ICCID, {"x": None})

    assert query(listing)["orgid"] == "77"
    assert query(create) == {"orgid": "77"}


async def test_a_tag_list_that_continues_stops_before_any_change(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.get(TAGS).respond(json=page(TAGS, [{"name": "a", "id": 1}], limit=1, next_after=1))

    with pytest.raises(UnexpectedResponseError, match="no cursor"):
        await hologram.update_tags(ICCID, {"b": None})
    assert not [call for call in api.calls if call.request.method == "POST"]


# -- tariffs ------------------------------------------------------------------------------


async def test_tariffs_page_through_the_plans(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    second = api.get("/api/1/plans", params={"startafter": "127"}).respond(
        json=page("/api/1/plans", [with_(PLAN, id=128, tiers={})], limit=200)
    )
    api.get("/api/1/plans").respond(json=page("/api/1/plans", [PLAN], limit=200, next_after=127))

    tariffs = [tariff async for tariff in hologram.tariffs()]

    assert [tariff.id for tariff in tariffs] == ["127:1", "127:global", "128"]
    assert tariffs[0].recurring_fee == Decimal("1.50")
    assert query(second) == {"limit": "200", "startafter": "127"}


# -- usage --------------------------------------------------------------------------------


async def test_daily_usage_of_a_sim_counts_bytes_and_sms_per_day(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    daily = api.get("/api/1/usage/data/daily").respond(
        json=page("/api/1/usage/data/daily", DAILY, limit=5000)
    )
    sms = api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", SMS, limit=200))

    records = [r async for r in hologram.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 3))]

    window = {"timestart": "1714521600", "timeend": "1714694400", "linkid": str(LINK_ID)}
    assert query(daily) == {**window, "limit": "5000"}
    assert query(sms) == {**window, "limit": "200"}
    data = [(r.start, r.quantity) for r in records if r.bearer is Bearer.DATA]
    assert data == [
        (datetime(2024, 5, 2, tzinfo=UTC), 5242880),
        (datetime(2024, 5, 1, tzinfo=UTC), 1048576),
    ]
    messages = [(r.start, r.direction, r.quantity) for r in records if r.bearer is Bearer.SMS]
    assert messages == [
        (datetime(2024, 5, 1, tzinfo=UTC), Direction.MO, 1),
        (datetime(2024, 5, 2, tzinfo=UTC), Direction.MO, 2),
    ]
    assert all(r.iccid == ICCID and r.granularity is Granularity.DAY for r in records)


async def test_usage_outside_the_window_is_left_out(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.get("/api/1/usage/data/daily").respond(
        json=page("/api/1/usage/data/daily", DAILY, limit=5000)
    )
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", SMS, limit=200))

    records = [
        r
        async for r in hologram.usage(
            ICCID, start=datetime(2024, 5, 2, 12, tzinfo=UTC), end=date(2024, 5, 3)
        )
    ]

    # The day of 2 May meets the window; one SMS of that day was sent before noon.
    assert [(r.bearer, r.quantity) for r in records] == [(Bearer.DATA, 5242880), (Bearer.SMS, 1)]


async def test_sms_costs_of_the_newer_shape_are_summed(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.get("/api/1/usage/data/daily").respond(json=page("/api/1/usage/data/daily", [], limit=5))
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", SMS_NEWER, limit=200))

    [record] = [
        r async for r in hologram.usage(ICCID, start=date(2024, 5, 2), end=date(2024, 5, 3))
    ]

    assert (record.quantity, record.cost, record.currency) == (2, Decimal("0.10"), "USD")
    assert "body" not in record.extra  # message content is never kept
    assert "temperature" not in record.model_dump_json()


async def test_monthly_usage_asks_for_months_by_date(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    monthly = api.get("/api/1/usage/data/monthly").respond(json=answer(MONTHLY))
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", SMS, limit=200))

    records = [
        r
        async for r in hologram.usage(
            ICCID, start=date(2024, 4, 10), end=date(2024, 6, 1), granularity="month"
        )
    ]

    assert query(monthly) == {
        "linkid": str(LINK_ID),
        "mintime": "04/01/2024",
        "maxtime": "05/31/2024",
        "limit": "5000",
    }
    assert [(r.bearer, r.start, r.quantity) for r in records] == [
        (Bearer.DATA, datetime(2024, 4, 1, tzinfo=UTC), 21474836),
        (Bearer.SMS, datetime(2024, 5, 1, tzinfo=UTC), 3),
    ]


async def test_monthly_usage_that_continues_raises(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    path = "/api/1/usage/data/monthly"
    api.get(path).respond(json=page(path, MONTHLY, limit=1, next_after=1))

    with pytest.raises(UnexpectedResponseError, match="no cursor"):
        [r async for r in hologram.usage(ICCID, start=date(2024, 4, 1), granularity="month")]


async def test_session_usage_reads_data_sessions_only(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    sessions = api.get("/api/1/usage/data").respond(
        json=page("/api/1/usage/data", SESSIONS, limit=250)
    )

    [record] = [
        r
        async for r in hologram.usage(
            ICCID, start=date(2024, 5, 2), end=date(2024, 5, 3), granularity="session"
        )
    ]

    assert query(sessions)["limit"] == "250"  # Hologram recommends 250 sessions or fewer
    assert record.granularity is Granularity.SESSION
    assert record.quantity == 500000


async def test_account_usage_names_the_sim_of_each_row(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    rows = [
        {**DAILY[0], "linkid": 11},
        {**DAILY[1], "linkid": 12},
        {**DAILY[1], "record_id": 1, "linkid": 11},
    ]
    path = "/api/1/usage/data/daily"
    api.get(path, params={"startafter": "104340784"}).respond(json=page(path, rows[2:], limit=5))
    daily = api.get(path).respond(json=page(path, rows[:2], limit=5, next_after=104340784))
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", [], limit=200))
    names = api.get(LINKS).respond(json=page(LINKS, [link(11), link(12)], limit=2))

    records = [r async for r in hologram.usage(start=date(2024, 5, 1), end=date(2024, 5, 3))]

    assert "linkid" not in query(daily)
    assert [r.iccid for r in records] == [link(11)["sim"], link(12)["sim"], link(11)["sim"]]
    assert names.call_count == 1  # the second page's link is already known
    assert query(names) == {"ids": "11,12", "limit": "2"}


async def test_account_usage_of_an_unlisted_link_raises(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    path = "/api/1/usage/data/daily"
    api.get(path).respond(json=page(path, [{**DAILY[0], "linkid": 99}], limit=5))
    api.get(LINKS).respond(json=page(LINKS, [], limit=1))

    with pytest.raises(UnexpectedResponseError, match="not listed"):
        [r async for r in hologram.usage(start=date(2024, 5, 1), end=date(2024, 5, 3))]


async def test_hourly_usage_is_refused_before_any_request(hologram: AsyncConnector) -> None:
    with respx.mock(base_url=BASE) as api, pytest.raises(InvalidRequestError):
        hologram.usage(ICCID, granularity="hour")
    assert not api.calls


# -- audit events -------------------------------------------------------------------------


async def test_audit_events_read_the_state_history(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    history = api.get(f"/api/1/links/cellular/{LINK_ID}/history").respond(json=answer(HISTORY))

    events = [
        e async for e in hologram.audit_events(ICCID, start=datetime(2024, 2, 3, 4, 6, tzinfo=UTC))
    ]

    assert dict(history.calls[0].request.url.params) == {}
    assert [(e.old_value, e.new_value) for e in events] == [("LIVE-PENDING", "LIVE")]


async def test_listed_sims_need_no_look_up_for_their_history_or_usage_rows(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    # A listing keeps its links' ids: the state history of a listed SIM is one call, and
    # account-wide usage rows name their SIM without asking for the links again.
    api.get(LINKS).respond(json=page(LINKS, [link(11), link(12)], limit=200))
    api.get(DEVICES).respond(json=page(DEVICES, [device(10_011), device(10_012)], limit=2))
    sims = [sim async for sim in hologram.subscriptions()]
    history = api.get(f"{LINKS}/12/history").respond(json=answer(HISTORY))
    path = "/api/1/usage/data/daily"
    api.get(path).respond(json=page(path, [{**DAILY[0], "linkid": 11}], limit=5))
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", [], limit=200))
    listed = len(api.calls)

    events = [e async for e in hologram.audit_events(sims[1].iccid)]
    usage = [r async for r in hologram.usage(start=date(2024, 5, 1), end=date(2024, 5, 3))]

    assert history.call_count == 1
    assert len(api.calls) == listed + 3  # the history, the daily usage, the SMS: no look-up
    assert {e.iccid for e in events} == {sims[1].iccid}
    assert {r.iccid for r in usage} == {sims[0].iccid}


async def test_the_ids_kept_from_a_listing_are_bounded(
    api: respx.MockRouter, hologram: AsyncConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the bound, listed links are not kept: their SIMs are looked up when needed.
    monkeypatch.setattr(hologram_connector, "MAX_CACHED_LINKS", 1)
    lookup = api.get(LINKS, params={"sims": ",".join(candidates(link(12)["sim"]))}).respond(
        json=page(LINKS, [link(12)], limit=200)
    )
    api.get(LINKS).respond(json=page(LINKS, [link(11), link(12)], limit=200))
    api.get(DEVICES).respond(json=page(DEVICES, [device(10_011), device(10_012)], limit=2))
    sims = [sim async for sim in hologram.subscriptions()]
    api.get(f"{LINKS}/11/history").respond(json=answer(HISTORY))
    api.get(f"{LINKS}/12/history").respond(json=answer(HISTORY))

    [e async for e in hologram.audit_events(sims[0].iccid)]
    assert lookup.call_count == 0  # the first link was kept
    [e async for e in hologram.audit_events(sims[1].iccid)]
    assert lookup.call_count == 1  # the second was not


async def test_a_sim_not_listed_yet_is_looked_up(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    lookup = found(api)  # the look-up's route first: the listing's matches it as well
    api.get(LINKS).respond(json=page(LINKS, [link(11)], limit=200))
    api.get(DEVICES).respond(json=page(DEVICES, [device(10_011)], limit=1))
    [sim async for sim in hologram.subscriptions()]
    assert lookup.call_count == 0
    api.get(f"/api/1/links/cellular/{LINK_ID}/history").respond(json=answer(HISTORY))

    [e async for e in hologram.audit_events(ICCID)]

    assert lookup.call_count == 1


async def test_audit_events_need_a_sim(hologram: AsyncConnector) -> None:
    with respx.mock(base_url=BASE) as api, pytest.raises(InvalidRequestError):
        hologram.audit_events()
    assert not api.calls


# -- errors -------------------------------------------------------------------------------


async def test_a_429_waits_the_documented_five_seconds(
    api: respx.MockRouter, hologram: AsyncConnector, sleep: FakeSleep
) -> None:
    api.get(LINKS).mock(
        side_effect=[
            httpx.Response(429, json=error("API rate limit exceeded")),
            httpx.Response(200, json=page(LINKS, [], limit=200)),
        ]
    )

    assert [sim async for sim in hologram.subscriptions()] == []
    assert sleep.calls == [5.0]


async def test_a_429_that_persists_is_rate_limited(api: respx.MockRouter, sleep: FakeSleep) -> None:
    api.get(LINKS).respond(429, json=error("API rate limit exceeded"))

    async with await open_connector(sleep, max_retries=1) as hologram:
        with pytest.raises(RateLimitedError, match="API rate limit exceeded") as caught:
            [sim async for sim in hologram.subscriptions()]

    assert caught.value.retry_after == 5.0
    assert caught.value.status_code == 429


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError)],
)
async def test_error_bodies_map_by_status(
    api: respx.MockRouter, hologram: AsyncConnector, status: int, error_class: type[Exception]
) -> None:
    api.get(LINKS).respond(status, json=error("Invalid API key"))

    with pytest.raises(error_class, match="Invalid API key") as caught:
        [sim async for sim in hologram.subscriptions()]

    assert API_KEY not in str(caught.value)


async def test_a_success_false_answer_with_200_is_unexpected(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    api.get(LINKS).respond(json=error("something odd"))

    with pytest.raises(UnexpectedResponseError, match="success=false"):
        [sim async for sim in hologram.subscriptions()]


async def test_the_status_of_a_sim_uses_the_documented_states(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    api.get(LINKS).respond(
        json=page(LINKS, [link(11, state="PAUSED-SYS"), link(12, state="DEAD")], limit=200)
    )
    api.get(DEVICES).respond(json=page(DEVICES, [], limit=2))

    sims = [sim async for sim in hologram.subscriptions()]

    assert [sim.status for sim in sims] == [SimStatus.SUSPENDED, SimStatus.RETIRED]


# -- windows, orders and names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "path", "days"),
    [
        (None, "/api/1/usage/data/daily", 30),
        ("session", "/api/1/usage/data", 7),
    ],
)
async def test_usage_without_start_reaches_back_a_default_span(
    api: respx.MockRouter,
    hologram: AsyncConnector,
    granularity: str | None,
    path: str,
    days: int,
) -> None:
    found(api)
    route = api.get(path).respond(json=page(path, [], limit=5))
    if granularity is None:
        api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", [], limit=5))
    end = datetime(2024, 6, 15, 12, tzinfo=UTC)

    [r async for r in hologram.usage(ICCID, end=end, granularity=granularity)]

    params = query(route)
    assert int(params["timeend"]) == int(end.timestamp())
    start = datetime.fromtimestamp(int(params["timestart"]), UTC)
    expected = end - timedelta(days=days)
    if granularity is None:  # the daily listing starts at the first day's midnight
        expected = expected.replace(hour=0)
    assert start == expected


async def test_monthly_usage_without_start_reaches_back_a_year(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    monthly = api.get("/api/1/usage/data/monthly").respond(json=answer([]))
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", [], limit=5))

    [r async for r in hologram.usage(ICCID, end=date(2024, 6, 15), granularity="month")]

    assert query(monthly)["mintime"] == "06/01/2023"
    assert query(monthly)["maxtime"] == "06/14/2024"


async def test_sms_without_a_cost_leave_the_count_without_cost(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.get("/api/1/usage/data/daily").respond(json=page("/api/1/usage/data/daily", [], limit=5))
    mixed = [SMS_NEWER[0], {**SMS_NEWER[1], "cost": None}]
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", mixed, limit=200))

    [record] = [
        r async for r in hologram.usage(ICCID, start=date(2024, 5, 2), end=date(2024, 5, 3))
    ]

    assert (record.quantity, record.cost, record.currency) == (2, None, None)


async def test_sms_counts_come_by_day_then_sim_then_direction(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    rows = [
        {**SMS[0], "record_id": 5, "linkid": 12, "timestamp": "2024-05-02 10:00:00"},
        {**SMS[0], "record_id": 4, "linkid": 11, "direction": "DT"},
        {**SMS[0], "record_id": 3, "linkid": 11, "timestamp": "2024-05-02 01:00:00"},
        {**SMS[0], "record_id": 2, "linkid": 12, "timestamp": "2024-05-01 10:00:00"},
    ]
    api.get("/api/1/usage/data/daily").respond(json=page("/api/1/usage/data/daily", [], limit=5))
    api.get("/api/1/usage/sms").respond(json=page("/api/1/usage/sms", rows, limit=200))
    api.get(LINKS).respond(json=page(LINKS, [link(11), link(12)], limit=2))

    records = [r async for r in hologram.usage(start=date(2024, 5, 1), end=date(2024, 5, 3))]

    assert [(r.start.day, r.iccid, r.direction) for r in records] == [
        (1, link(12)["sim"], Direction.MO),
        (2, link(11)["sim"], Direction.MO),
        (2, link(11)["sim"], Direction.MT),
        (2, link(12)["sim"], Direction.MO),
    ]


async def test_audit_events_stop_before_the_end(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.get(f"/api/1/links/cellular/{LINK_ID}/history").respond(json=answer(HISTORY))

    events = [
        e
        async for e in hologram.audit_events(ICCID, end=datetime(2024, 2, 3, 4, 6, 10, tzinfo=UTC))
    ]

    assert [e.new_value for e in events] == ["LIVE-PENDING"]


async def test_a_malformed_link_names_its_endpoint(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    api.get(LINKS).respond(json=page(LINKS, [with_(LINK, sim="12")], limit=200))
    api.get(DEVICES).respond(json=page(DEVICES, [DEVICE], limit=1))

    with pytest.raises(UnexpectedResponseError, match=r"^GET /api/1/links/cellular: a record"):
        [sim async for sim in hologram.subscriptions()]


async def test_malformed_answers_name_their_endpoints(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.get(f"/api/1/links/cellular/{LINK_ID}/history").respond(
        json=answer([{"timestamp": "soon"}])
    )
    api.post(STATE).respond(json=[])

    with pytest.raises(UnexpectedResponseError, match=r"^GET /api/1/links/cellular/\{linkid\}"):
        [e async for e in hologram.audit_events(ICCID)]
    with pytest.raises(UnexpectedResponseError, match=r"^POST /api/1/devices/\{deviceid\}/state"):
        await hologram.change_status(ICCID, "active")


async def test_a_malformed_sms_row_names_its_endpoint(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api)
    api.get("/api/1/usage/data/daily").respond(json=page("/api/1/usage/data/daily", [], limit=5))
    api.get("/api/1/usage/sms").respond(
        json=page("/api/1/usage/sms", [{**SMS[0], "direction": "??"}], limit=200)
    )

    with pytest.raises(UnexpectedResponseError, match=r"^GET /api/1/usage/sms: a record"):
        [r async for r in hologram.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 3))]


async def test_a_lookup_answer_without_device_names_its_endpoint(
    api: respx.MockRouter, hologram: AsyncConnector
) -> None:
    found(api, {k: v for k, v in LINK.items() if k != "deviceid"})

    with pytest.raises(UnexpectedResponseError, match=r"^GET /api/1/links/cellular: a record"):
        await hologram.change_status(ICCID, "active")
