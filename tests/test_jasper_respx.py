"""The jasper connector against payloads shaped exactly as documented, through respx.

``DEVICE``, ``SEARCH_PAGE``, ``CTD_USAGE``, ``AUDIT_TRAILS`` and ``ERROR`` are the example
bodies of the reference (operator-platforms.md section 1: 1.3, 1.6, 1.7, 1.10), which
follow the Cisco Control Center pages. The reference has no example of Get Device Usage by
Zone; ``ZONE_USAGE`` follows the shape seen in public client code of a Control Center
deployment (``cycleStartDate``/``cycleEndDate`` and ``deviceCycleUsageInZones`` keyed
``"<rate plan>, <version>"``), with the field names the reference lists. Get Rate Plans is
built from the documented top-level fields.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
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
    ConfigurationError,
    ConflictError,
    Direction,
    Granularity,
    InvalidRequestError,
    NotFoundError,
    SimStatus,
    Tag,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.testing import FakeSleep

BASE = "https://restapi1.jasper.example.test"
API = "/rws/api/v1"
USER = "ops-user"
KEY = "cc-api-key-0123456789"
ICCID = "8988216716970004975"
ICCID_2 = "8988216716970004976"

DEVICE: dict[str, Any] = json.loads(
    """
{
  "iccid": "8988216716970004975",
  "imsi": "901161697004975",
  "msisdn": "882351697004975",
  "imei": "356938035643809",
  "status": "ACTIVATED",
  "ratePlan": "IoT 10MB Pool",
  "communicationPlan": "CP_Data_SMS",
  "customer": null,
  "endConsumerId": null,
  "dateActivated": "2024-03-04 09:12:44.120+0000",
  "dateAdded": "2023-11-20 17:02:10.004+0000",
  "dateUpdated": "2024-05-01 08:00:03.551+0000",
  "dateShipped": "2024-02-27 07:00:00.000+0000",
  "accountId": "100020620",
  "fixedIPAddress": null,
  "fixedIpv6Address": null,
  "accountCustom1": "fleet-A",
  "accountCustom2": "",
  "operatorCustom1": "",
  "customerCustom1": "",
  "simNotes": null,
  "deviceID": "truck-0042",
  "modemID": "2221",
  "globalSimType": "",
  "eid": null
}
"""
)

SEARCH_PAGE: dict[str, Any] = json.loads(
    """
{
  "pageNumber": 1,
  "lastPage": false,
  "devices": [
    {"iccid": "8988216716970004975", "status": "ACTIVATED", "ratePlan": "IoT 10MB Pool", "communicationPlan": "CP_Data_SMS"},
    {"iccid": "8988216716970004976", "status": "TEST_READY", "ratePlan": "IoT 10MB Pool", "communicationPlan": "CP_Data_SMS"}
  ]
}
"""  # noqa: E501
)

CTD_USAGE: dict[str, Any] = json.loads(
    """
{
  "iccid": "8988216716970004975", "imsi": "901161697004975", "msisdn": "882351697004975",
  "imei": "356938035643809", "status": "ACTIVATED", "ratePlan": "IoT 10MB Pool",
  "communicationPlan": "CP_Data_SMS", "ctdDataUsage": 7340032, "ctdSMSUsage": 12,
  "ctdVoiceUsage": 0, "ctdSessionCount": 41, "overageLimitReached": false,
  "overageLimitOverride": "DEFAULT"
}
"""
)

AUDIT_TRAILS: dict[str, Any] = json.loads(
    """
{"iccid":"8988216716970004975","timestamp":"2024-05-02T10:00:00.000Z","pageNumber":1,"lastPage":true,
 "deviceAuditTrails":[
  {"field":"SIM Status","priorValue":"ACTIVATION_READY","value":"ACTIVATED","effectiveDate":"2024-03-04T09:12:44.120Z","status":"Executed","userName":"AutoActivation"},
  {"field":"Rate Plan","priorValue":"","value":"IoT 10MB Pool","effectiveDate":"2023-11-20T17:02:10.004Z","status":"Executed","userName":"opsuser"}]}
"""  # noqa: E501
)

ERROR = {"errorMessage": "Invalid credentials", "errorCode": "10000001"}


def zone_usage(start: str, end: str, data: int = 61489152) -> dict[str, Any]:
    """A Get Device Usage by Zone answer for the cycle ``[start, end]``."""
    return {
        "iccid": ICCID,
        "timeStamp": "2024-05-02T10:00:00.000Z",
        "cycleStartDate": start,
        "cycleEndDate": end,
        "deviceCycleUsageInZones": {
            "IoT 10MB Pool, 1": [
                {
                    "ratePlan": "IoT 10MB Pool",
                    "ratePlanVersion": "1",
                    "zone": "Zone 1",
                    "dataUsage": data,
                    "dataUsageUnit": "bytes",
                    "voiceMTUsage": None,
                    "voiceMTUsageUnit": None,
                    "voiceMOUsage": None,
                    "voiceMOUsageUnit": None,
                    "smsMTUsage": 3,
                    "smsMOUsage": 5,
                }
            ]
        },
    }


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def jasper(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async(
        "jasper", base_url=BASE, username=USER, api_key=KEY, rate_limit=None
    ) as connector:
        connector.plugin.http.sleep = sleep
        yield connector


def params(route: respx.Route, call: int = -1) -> dict[str, str]:
    return dict(route.calls[call].request.url.params)


# -- settings -------------------------------------------------------------------------------


def test_settings_follow_the_contract() -> None:
    with pytest.raises(ConfigurationError, match="missing setting 'base_url'"):
        cdp_sdk.connect_async("jasper", username=USER, api_key=KEY)
    connector = cdp_sdk.connect_async("jasper", base_url=BASE, username=USER, api_key=KEY)
    settings = connector.settings
    assert (settings.rate_limit, settings.max_concurrency) == (1.0, 1)
    assert KEY not in repr(settings)


# -- subscriptions --------------------------------------------------------------------------


async def test_search_then_details_per_device(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    search = api.get(f"{API}/devices").mock(
        side_effect=[
            httpx.Response(200, json=SEARCH_PAGE),
            httpx.Response(200, json={"pageNumber": 2, "lastPage": True, "devices": []}),
        ]
    )
    first = api.get(f"{API}/devices/{ICCID}").respond(json=DEVICE)
    second = api.get(f"{API}/devices/{ICCID_2}").respond(
        json={**DEVICE, "iccid": ICCID_2, "status": "TEST_READY", "accountCustom1": ""}
    )
    since = datetime.now(UTC) - timedelta(days=30)

    sims = [sim async for sim in jasper.subscriptions(modified_since=since)]

    assert [(sim.iccid, sim.status) for sim in sims] == [
        (ICCID, SimStatus.ACTIVE),
        (ICCID_2, SimStatus.TEST),
    ]
    assert params(search, 0) == {
        "modifiedSince": since.replace(microsecond=0).isoformat(),
        "pageNumber": "1",
        "pageSize": "50",
    }
    assert params(search, 1)["pageNumber"] == "2"
    assert "%2B00%3A00" in str(search.calls[0].request.url)  # "+" sent as %2B
    expected = "Basic " + base64.b64encode(f"{USER}:{KEY}".encode()).decode()
    assert search.calls[0].request.headers["Authorization"] == expected
    assert first.call_count == second.call_count == 1
    assert sims[1].tags == ()


async def test_a_status_filter_searches_each_of_its_states(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # Search Devices takes one `status` value (Cisco's Search Devices page): `retired`
    # covers RETIRED, PURGED and REPLACED, so three searches; `active` one.
    search = api.get(f"{API}/devices").respond(
        json={"pageNumber": 1, "lastPage": True, "devices": SEARCH_PAGE["devices"][:1]}
    )
    api.get(f"{API}/devices/{ICCID}").respond(json=DEVICE)
    since = datetime.now(UTC) - timedelta(days=30)

    active = [sim async for sim in jasper.subscriptions(modified_since=since, status="active")]
    assert [sim.iccid for sim in active] == [ICCID]
    assert params(search, 0)["status"] == "ACTIVATED"

    calls = search.call_count
    retired = [sim async for sim in jasper.subscriptions(modified_since=since, status=["retired"])]
    assert retired == []  # the device listed is ACTIVATED: left out whatever the platform says
    assert [params(search, n)["status"] for n in range(calls, search.call_count)] == [
        "RETIRED",
        "PURGED",
        "REPLACED",
    ]


async def test_a_device_found_by_two_searches_is_listed_once(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # It moved from RETIRED to PURGED while the searches ran: both list it.
    page = {"pageNumber": 1, "lastPage": True, "devices": SEARCH_PAGE["devices"][:1]}
    search = api.get(f"{API}/devices").respond(json=page)
    details = api.get(f"{API}/devices/{ICCID}").respond(json={**DEVICE, "status": "PURGED"})
    since = datetime.now(UTC) - timedelta(days=30)

    found = [sim async for sim in jasper.subscriptions(modified_since=since, status="retired")]

    assert [(sim.iccid, sim.status) for sim in found] == [(ICCID, SimStatus.RETIRED)]
    assert search.call_count == 3
    assert details.call_count == 1


async def test_a_status_no_state_maps_to_asks_nothing(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # Control Center has no state for `suspended` (see the status table): nothing to ask.
    assert [sim async for sim in jasper.subscriptions(status="suspended")] == []
    assert not api.calls


async def test_an_empty_search_page_that_is_not_the_last_is_followed(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # lastPage decides: an empty page 2 with lastPage false does not end the listing.
    first, second = SEARCH_PAGE["devices"]
    search = api.get(f"{API}/devices").mock(
        side_effect=[
            httpx.Response(200, json={**SEARCH_PAGE, "devices": [first]}),
            httpx.Response(200, json={"pageNumber": 2, "lastPage": False, "devices": []}),
            httpx.Response(200, json={"pageNumber": 3, "lastPage": True, "devices": [second]}),
        ]
    )
    api.get(f"{API}/devices/{ICCID}").respond(json=DEVICE)
    api.get(f"{API}/devices/{ICCID_2}").respond(json={**DEVICE, "iccid": ICCID_2})
    since = datetime.now(UTC) - timedelta(days=30)

    sims = [sim async for sim in jasper.subscriptions(modified_since=since)]

    assert [sim.iccid for sim in sims] == [ICCID, ICCID_2]
    assert [params(search, n)["pageNumber"] for n in range(3)] == ["1", "2", "3"]


async def test_a_device_listed_twice_in_one_search_raises(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # Page 2 repeats a device of page 1 (the list shifted between two requests).
    first, second = SEARCH_PAGE["devices"]
    api.get(f"{API}/devices").mock(
        side_effect=[
            httpx.Response(200, json={**SEARCH_PAGE, "devices": [first]}),
            httpx.Response(
                200, json={"pageNumber": 2, "lastPage": True, "devices": [second, first]}
            ),
        ]
    )
    api.get(f"{API}/devices/{ICCID}").respond(json=DEVICE)
    since = datetime.now(UTC) - timedelta(days=30)

    with pytest.raises(UnexpectedResponseError, match="same record twice") as caught:
        [sim async for sim in jasper.subscriptions(modified_since=since)]
    assert "GET /rws/api/v1/devices" in caught.value.message
    assert caught.value.connector == "jasper"


async def test_a_full_listing_is_one_search_from_2000(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # Cisco's Search Devices takes modifiedSince alone and "returns any devices that have
    # been modified since this time": one search lists them all. The device listed was
    # updated long after 2000 (dateUpdated 2024-05-01), so no search could have been cut.
    search = api.get(f"{API}/devices").respond(json={**SEARCH_PAGE, "lastPage": True})
    api.get(f"{API}/devices/{ICCID}").respond(json=DEVICE)
    api.get(f"{API}/devices/{ICCID_2}").respond(json={**DEVICE, "iccid": ICCID_2})

    sims = [sim async for sim in jasper.subscriptions()]

    assert [sim.iccid for sim in sims] == [ICCID, ICCID_2]
    assert search.call_count == 1
    assert dict(search.calls.last.request.url.params) == {
        "modifiedSince": "2000-01-01T00:00:00+00:00",
        "pageSize": "50",
        "pageNumber": "1",
    }


@pytest.mark.parametrize("answer", ["nothing", "a device updated within that year"])
async def test_a_search_that_may_have_stopped_a_year_on_is_walked_in_yearly_windows(
    api: respx.MockRouter, jasper: AsyncConnector, answer: str
) -> None:
    # Tele2's catalogue limits modifiedTill to a year after modifiedSince. Where the open
    # search could have been cut there (nothing listed was updated later), the years after
    # it are searched in windows of a year; the same device closes one window and opens the
    # next (a shared boundary) and is listed once.
    windows: list[dict[str, str]] = []
    early = {**DEVICE, "dateUpdated": "2000-06-01 08:00:03.551+0000"}
    one = {**SEARCH_PAGE, "lastPage": True, "devices": SEARCH_PAGE["devices"][:1]}
    empty = {"pageNumber": 1, "lastPage": True, "devices": []}
    hits = (3, 4) if answer == "nothing" else (1, 2)

    def search(request: httpx.Request) -> httpx.Response:
        windows.append(dict(request.url.params))
        return httpx.Response(200, json=one if len(windows) in hits else empty)

    api.get(f"{API}/devices").mock(side_effect=search)
    details = api.get(f"{API}/devices/{ICCID}").respond(json=early)

    sims = [sim async for sim in jasper.subscriptions()]

    assert [sim.iccid for sim in sims] == [ICCID]
    assert details.call_count == 1
    assert windows[0] == {
        "modifiedSince": "2000-01-01T00:00:00+00:00",
        "pageSize": "50",
        "pageNumber": "1",
    }
    walked = windows[1:]
    assert walked[0]["modifiedSince"] == "2000-12-31T00:00:00+00:00"  # 365 days on
    for earlier, later in pairwise(walked):
        assert earlier["modifiedTill"] == later["modifiedSince"]
        start = datetime.fromisoformat(earlier["modifiedSince"])
        assert datetime.fromisoformat(earlier["modifiedTill"]) - start <= timedelta(days=365)
    assert "modifiedTill" not in walked[-1]
    assert datetime.fromisoformat(walked[-1]["modifiedSince"]) > datetime.now(UTC) - timedelta(
        days=366
    )


async def test_a_recent_since_is_one_search_whatever_it_lists(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # Within a year of now no reading cuts the search: nothing listed is one request.
    search = api.get(f"{API}/devices").respond(
        json={"pageNumber": 1, "lastPage": True, "devices": []}
    )
    since = datetime.now(UTC) - timedelta(days=364)
    assert [sim async for sim in jasper.subscriptions(modified_since=since)] == []
    assert search.call_count == 1
    assert "modifiedTill" not in search.calls.last.request.url.params


@pytest.mark.parametrize(
    ("repeat_in", "raises"), [("a closed window", True), ("the open window", False)]
)
async def test_a_device_in_two_windows_that_do_not_touch(
    api: respx.MockRouter, jasper: AsyncConnector, repeat_in: str, raises: bool
) -> None:
    # The first search lists nothing, so the years are walked. Window 3 lists the device;
    # window 6 (closed) lists it again: no shared boundary can explain it, so the platform
    # paged wrongly. In the last, open window, the device was changed again while the
    # listing ran: already read, it is not listed twice.
    one = {**SEARCH_PAGE, "lastPage": True, "devices": SEARCH_PAGE["devices"][:1]}
    windows: list[dict[str, str]] = []

    def search(request: httpx.Request) -> httpx.Response:
        windows.append(dict(request.url.params))
        last_window = len(windows) > 1 and "modifiedTill" not in request.url.params
        again = last_window if repeat_in == "the open window" else len(windows) == 6
        if len(windows) == 3 or again:
            return httpx.Response(200, json=one)
        return httpx.Response(200, json={"pageNumber": 1, "lastPage": True, "devices": []})

    api.get(f"{API}/devices").mock(side_effect=search)
    early = {**DEVICE, "dateUpdated": "2002-06-01 08:00:03.551+0000"}
    api.get(f"{API}/devices/{ICCID}").respond(json=early)

    if raises:
        with pytest.raises(UnexpectedResponseError, match="two search windows") as caught:
            [sim async for sim in jasper.subscriptions()]
        assert caught.value.connector == "jasper"
        assert len(windows) == 6
    else:
        sims = [sim async for sim in jasper.subscriptions()]
        assert [sim.iccid for sim in sims] == [ICCID]


OLD_WINDOW = {"errorMessage": "modifiedSince is older than one year", "errorCode": "10000045"}


async def test_a_platform_refusing_old_windows_is_listed_from_the_last_year(
    api: respx.MockRouter, jasper: AsyncConnector, caplog: pytest.LogCaptureFixture
) -> None:
    windows: list[dict[str, str]] = []
    year_ago = datetime.now(UTC) - timedelta(days=365)

    def search(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        windows.append(query)
        if datetime.fromisoformat(query["modifiedSince"]) < year_ago:
            return httpx.Response(400, json=OLD_WINDOW)
        return httpx.Response(200, json={**SEARCH_PAGE, "lastPage": True})

    api.get(f"{API}/devices").mock(side_effect=search)
    api.get(f"{API}/devices/{ICCID}").respond(json=DEVICE)
    api.get(f"{API}/devices/{ICCID_2}").respond(json={**DEVICE, "iccid": ICCID_2})

    with caplog.at_level("WARNING", logger="cdp_sdk"):
        first = [sim.iccid async for sim in jasper.subscriptions()]
        again = [sim.iccid async for sim in jasper.subscriptions()]

    assert first == again == [ICCID, ICCID_2]
    starts = [datetime.fromisoformat(window["modifiedSince"]) for window in windows]
    assert starts[0] == datetime(2000, 1, 1, tzinfo=UTC)  # refused with 10000045
    assert year_ago < starts[1] < year_ago + timedelta(days=2)  # the oldest accepted window
    assert "modifiedTill" not in windows[1]  # one open window covers the last year
    assert len(windows) == 3, "the second listing starts at the accepted window directly"
    assert year_ago < starts[2] < year_ago + timedelta(days=2)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, "warned once"
    assert "10000045" in warnings[0]
    assert "cannot be listed by this platform" in warnings[0]
    assert ICCID not in warnings[0]


async def test_10000045_for_a_recent_window_is_raised(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    api.get(f"{API}/devices").respond(400, json=OLD_WINDOW)
    since = datetime.now(UTC) - timedelta(days=30)
    with pytest.raises(InvalidRequestError) as caught:
        _ = [sim async for sim in jasper.subscriptions(modified_since=since)]
    assert caught.value.vendor_code == "10000045"


async def test_an_incremental_sync_older_than_a_year_is_clamped_too(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    search = api.get(f"{API}/devices").mock(
        side_effect=[
            httpx.Response(400, json=OLD_WINDOW),
            httpx.Response(200, json={"pageNumber": 1, "lastPage": True, "devices": []}),
        ]
    )
    since = datetime.now(UTC) - timedelta(days=500)
    assert [sim async for sim in jasper.subscriptions(modified_since=since)] == []
    assert search.call_count == 2


async def test_a_device_gone_between_search_and_details_is_skipped(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    api.get(f"{API}/devices").respond(json={**SEARCH_PAGE, "lastPage": True})
    api.get(f"{API}/devices/{ICCID}").respond(
        404, json={"errorMessage": "Invalid ICCID", "errorCode": "20000001"}
    )
    api.get(f"{API}/devices/{ICCID_2}").respond(json={**DEVICE, "iccid": ICCID_2})

    since = datetime.now(UTC) - timedelta(days=1)
    assert [sim.iccid async for sim in jasper.subscriptions(modified_since=since)] == [ICCID_2]


async def test_device_details_map_as_documented(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    api.get(f"{API}/devices/{ICCID}").respond(json=DEVICE)

    sim = await jasper.subscription(ICCID)

    assert (sim.id, sim.iccid, sim.account) == (ICCID, ICCID, "100020620")
    assert (sim.imsi, sim.msisdn, sim.imei, sim.eid) == (
        "901161697004975",
        "882351697004975",
        "356938035643809",
        None,
    )
    assert (sim.status, sim.status_raw, sim.tariff) == (
        SimStatus.ACTIVE,
        "ACTIVATED",
        "IoT 10MB Pool",
    )
    assert sim.activated_at == datetime(2024, 3, 4, 9, 12, 44, 120000, tzinfo=UTC)
    assert sim.created_at == datetime(2023, 11, 20, 17, 2, 10, 4000, tzinfo=UTC)
    assert sim.updated_at == datetime(2024, 5, 1, 8, 0, 3, 551000, tzinfo=UTC)
    assert sim.ip_address is None
    assert sim.tags == (Tag(key="accountCustom1", value="fleet-A"),)
    assert sim.extra == {
        "communicationPlan": "CP_Data_SMS",
        "dateShipped": "2024-02-27 07:00:00.000+0000",
        "deviceID": "truck-0042",
        "modemID": "2221",
        "globalSimType": "",
    }


async def test_a_malformed_device_raises_or_is_skipped(api: respx.MockRouter) -> None:
    api.get(f"{API}/devices").respond(json={**SEARCH_PAGE, "lastPage": True})
    api.get(f"{API}/devices/{ICCID}").respond(json={**DEVICE, "status": None})
    api.get(f"{API}/devices/{ICCID_2}").respond(json={**DEVICE, "iccid": ICCID_2})
    since = datetime.now(UTC) - timedelta(days=1)

    async with cdp_sdk.connect_async(
        "jasper", base_url=BASE, username=USER, api_key=KEY, rate_limit=None
    ) as strict:
        with pytest.raises(UnexpectedResponseError, match=r"/devices/\{iccid\}.*missing status"):
            _ = [sim async for sim in strict.subscriptions(modified_since=since)]
    async with cdp_sdk.connect_async(
        "jasper", base_url=BASE, username=USER, api_key=KEY, rate_limit=None, strict=False
    ) as lenient:
        assert [sim.iccid async for sim in lenient.subscriptions(modified_since=since)] == [ICCID_2]
        assert lenient.plugin.skipped_records == 1


# -- status changes and custom fields ----------------------------------------------------------


@pytest.mark.parametrize(("http_status", "state"), [(200, "done"), (202, "pending")])
async def test_change_status_puts_the_state(
    api: respx.MockRouter, jasper: AsyncConnector, http_status: int, state: str
) -> None:
    edit = api.put(f"{API}/devices/{ICCID}").respond(http_status, json={"iccid": ICCID})

    change = await jasper.change_status(ICCID, "deactivated")

    assert (change.iccid, change.requested, change.state) == (ICCID, SimStatus.DEACTIVATED, state)
    assert json.loads(edit.calls.last.request.content) == {"status": "DEACTIVATED"}
    assert edit.calls.last.request.headers["Content-Type"] == "application/json"


async def test_a_status_without_a_state_is_refused_before_any_request(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    with pytest.raises(InvalidRequestError, match="no state for 'suspended'"):
        await jasper.change_status(ICCID, SimStatus.SUSPENDED)
    assert not api.calls


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("10000029", "This SIM may not be moved back to a Pre Activation status"),
        ("10030000", "Cannot activate a SIM which is already activated"),
    ],
)
async def test_transition_errors_raise_conflict(
    api: respx.MockRouter, jasper: AsyncConnector, code: str, message: str
) -> None:
    api.put(f"{API}/devices/{ICCID}").respond(
        400, json={"errorMessage": message, "errorCode": code}
    )

    with pytest.raises(ConflictError) as caught:
        await jasper.change_status(ICCID, SimStatus.READY)

    assert (caught.value.vendor_code, caught.value.status_code) == (code, 400)


async def test_a_refusal_answered_with_202_is_raised(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    api.put(f"{API}/devices/{ICCID}").respond(
        202, json={"errorMessage": "SIM is not in Purged State", "errorCode": "1000512"}
    )

    with pytest.raises(ConflictError, match="not in Purged State") as caught:
        await jasper.change_status(ICCID, SimStatus.INVENTORY)

    assert (caught.value.vendor_code, caught.value.status_code) == ("1000512", 202)


async def test_update_tags_writes_custom_field_slots(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    edit = api.put(f"{API}/devices/{ICCID}").respond(json={"iccid": ICCID})

    await jasper.update_tags(ICCID, {"accountCustom1": "fleet-B"}, remove=["customerCustom2"])

    assert json.loads(edit.calls.last.request.content) == {
        "accountCustom1": "fleet-B",
        "customerCustom2": "",
    }


@pytest.mark.parametrize(
    ("tags", "remove", "match"),
    [
        ({"fleet": "A"}, (), "'fleet' is not a tag of this platform"),
        ({}, ("accountCustom11",), "'accountCustom11' is not a tag of this platform"),
        ({"accountCustom2": None}, (), "'accountCustom2' needs a value"),
    ],
)
async def test_update_tags_refuses_non_slots_before_any_request(
    api: respx.MockRouter,
    jasper: AsyncConnector,
    tags: dict[str, str | None],
    remove: tuple[str, ...],
    match: str,
) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        await jasper.update_tags(ICCID, tags, remove=remove)
    assert not api.calls


# -- tariffs ----------------------------------------------------------------------------------


def rate_plan_page(number: int, names: list[str], last: bool | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "operatorName": "Example Operator",
        "operatorId": 1012,
        "timeStamp": "2024-05-02T10:00:00.000Z",
        "pageNumber": number,
        "ratePlans": [{"name": name} for name in names],
    }
    if last is not None:
        body["lastPage"] = last
    return httpx.Response(200, json=body)


FULL = [f"Plan {n}" for n in range(50)]


async def test_rate_plans_are_paged(api: respx.MockRouter, jasper: AsyncConnector) -> None:
    plans = api.get(f"{API}/rateplans").mock(
        side_effect=[
            rate_plan_page(1, FULL),
            rate_plan_page(2, ["IoT 10MB Pool", "IoT 1GB Shared"]),
        ]
    )

    tariffs = [tariff async for tariff in jasper.tariffs()]

    assert len(tariffs) == 52
    assert (tariffs[-1].id, tariffs[-1].name) == ("IoT 1GB Shared", "IoT 1GB Shared")
    assert [params(plans, n) for n in (0, 1)] == [
        {"pageNumber": "1", "pageSize": "50"},
        {"pageNumber": "2", "pageSize": "50"},
    ]


async def test_a_full_last_page_of_rate_plans_costs_no_extra_call(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # Control Center's pagination: lastPage on the answer ends the listing.
    plans = api.get(f"{API}/rateplans").mock(side_effect=[rate_plan_page(1, FULL, last=True)])
    assert len([tariff async for tariff in jasper.tariffs()]) == 50
    assert plans.call_count == 1


async def test_rate_plans_without_last_page_end_on_a_short_page(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # Get Rate Plans lists no lastPage among its fields: a short page is the only signal,
    # so a full page without it needs one more call to learn that nothing follows.
    plans = api.get(f"{API}/rateplans").mock(
        side_effect=[rate_plan_page(1, FULL), rate_plan_page(2, [])]
    )
    assert len([tariff async for tariff in jasper.tariffs()]) == 50
    assert plans.call_count == 2
    plans.mock(side_effect=[rate_plan_page(1, FULL[:3])])
    assert len([tariff async for tariff in jasper.tariffs()]) == 3
    assert plans.call_count == 3


# -- usage ------------------------------------------------------------------------------------


async def test_cycle_to_date_usage(api: respx.MockRouter, jasper: AsyncConnector) -> None:
    zones = api.get(f"{API}/devices/{ICCID}/usageInZone").respond(
        json=zone_usage("2024-05-01T00:00:00.000Z", "2024-05-31T23:59:59.000Z")
    )
    api.get(f"{API}/devices/{ICCID}/ctdUsages").respond(json=CTD_USAGE)

    records = [record async for record in jasper.usage(ICCID)]

    assert [(r.bearer, r.direction, r.quantity, r.unit.value) for r in records] == [
        (Bearer.DATA, None, 7340032, "bytes"),
        (Bearer.SMS, None, 12, "messages"),
        (Bearer.VOICE, None, 0, "seconds"),
    ]
    cycle = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))
    for record in records:
        assert (record.start, record.end) == cycle
        assert (record.granularity, record.final) == (Granularity.CYCLE, False)
    assert records[0].extra["ctdSessionCount"] == 41
    assert not zones.calls.last.request.url.params  # the current cycle


async def test_past_cycles_come_from_usage_by_zone(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    # A cycle that starts at midnight +08:00, as a China Unicom deployment answers.
    current = zone_usage("2018-08-26T16:00:00.000Z", "2018-09-26T15:59:59.000Z")
    previous = zone_usage("2018-07-26T16:00:00.000Z", "2018-08-26T15:59:59.000Z", data=1024)
    zones = api.get(f"{API}/devices/{ICCID}/usageInZone").mock(
        side_effect=[httpx.Response(200, json=current), httpx.Response(200, json=previous)]
    )
    api.get(f"{API}/devices/{ICCID}/ctdUsages").respond(json=CTD_USAGE)

    start = datetime(2018, 8, 20, tzinfo=UTC)
    records = [record async for record in jasper.usage(ICCID, start=start)]

    assert params(zones, 1) == {"cycleStartDate": "2018-07-27+08:00"}
    closed = [record for record in records if record.final]
    assert [(r.bearer, r.direction, r.quantity, r.zone) for r in closed] == [
        (Bearer.DATA, None, 1024, "Zone 1"),
        (Bearer.SMS, Direction.MO, 5, "Zone 1"),
        (Bearer.SMS, Direction.MT, 3, "Zone 1"),
    ]
    assert closed[0].start == datetime(2018, 7, 26, 16, tzinfo=UTC)
    assert closed[0].end == datetime(2018, 8, 26, 16, tzinfo=UTC)
    assert closed[0].extra == {"ratePlan": "IoT 10MB Pool", "ratePlanVersion": "1"}
    assert [record.final for record in records[len(closed) :]] == [False, False, False]


async def test_a_range_before_the_current_cycle_skips_cycle_to_date(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    current = zone_usage("2024-05-01T00:00:00.000Z", "2024-05-31T23:59:59.000Z")
    two_back = zone_usage("2024-03-01T00:00:00.000Z", "2024-03-31T23:59:59.000Z")
    zones = api.get(f"{API}/devices/{ICCID}/usageInZone").mock(
        side_effect=[httpx.Response(200, json=current), httpx.Response(200, json=two_back)]
    )

    records = [
        record
        async for record in jasper.usage(
            ICCID, start=datetime(2024, 3, 10, tzinfo=UTC), end=datetime(2024, 3, 20, tzinfo=UTC)
        )
    ]

    assert params(zones, 1) == {"cycleStartDate": "2024-03-01Z"}
    assert zones.call_count == 2  # April lies outside the range
    assert {record.start for record in records} == {datetime(2024, 3, 1, tzinfo=UTC)}


async def test_usage_needs_an_iccid_and_cycles(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    with pytest.raises(InvalidRequestError, match="per SIM only: pass an iccid"):
        _ = [record async for record in jasper.usage()]
    with pytest.raises(InvalidRequestError, match="by cycle, not day"):
        _ = [record async for record in jasper.usage(ICCID, granularity="day")]
    assert not api.calls


# -- audit trail --------------------------------------------------------------------------------


async def test_audit_trail_maps_as_documented(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    trails = api.get(f"{API}/devices/{ICCID}/auditTrails").respond(json=AUDIT_TRAILS)

    events = [event async for event in jasper.audit_events(ICCID)]

    assert params(trails) == {"daysOfHistory": "365", "pageNumber": "1", "pageSize": "50"}
    status, plan = events
    assert (status.kind, status.field, status.old_value, status.new_value) == (
        AuditKind.STATUS_CHANGE,
        "SIM Status",
        "ACTIVATION_READY",
        "ACTIVATED",
    )
    assert status.occurred_at == datetime(2024, 3, 4, 9, 12, 44, 120000, tzinfo=UTC)
    assert (status.actor, status.iccid, status.extra) == (
        "AutoActivation",
        ICCID,
        {"status": "Executed"},
    )
    assert (plan.kind, plan.old_value, plan.new_value) == (
        AuditKind.TARIFF_CHANGE,
        None,
        "IoT 10MB Pool",
    )


async def test_audit_trail_is_asked_back_to_start(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    trails = api.get(f"{API}/devices/{ICCID}/auditTrails").respond(json=AUDIT_TRAILS)
    start = datetime.now(UTC) - timedelta(days=9, hours=1)

    events = [event async for event in jasper.audit_events(ICCID, start=start)]

    assert params(trails)["daysOfHistory"] == "10"
    assert events == []  # both documented entries are older than ten days
    with pytest.raises(InvalidRequestError, match="per SIM only: pass an iccid"):
        _ = [event async for event in jasper.audit_events()]


# -- errors and retries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, ERROR, AuthenticationError),
        (404, {"errorMessage": "Invalid ICCID", "errorCode": "20000001"}, NotFoundError),
        (400, {"errorMessage": "Invalid ICCID", "errorCode": "20000001"}, NotFoundError),
        (
            400,
            {"errorMessage": "ModifiedSince is required.", "errorCode": "10000003"},
            InvalidRequestError,
        ),
    ],
)
async def test_error_bodies_map_to_errors(
    api: respx.MockRouter,
    jasper: AsyncConnector,
    sleep: FakeSleep,
    status: int,
    body: dict[str, str],
    error: type[Exception],
) -> None:
    route = api.get(f"{API}/devices/{ICCID}").respond(status, json=body)

    with pytest.raises(error) as caught:
        await jasper.subscription(ICCID)

    assert caught.value.vendor_code == body["errorCode"]  # type: ignore[attr-defined]
    assert body["errorMessage"] in str(caught.value)
    assert route.call_count == 1
    assert not sleep.calls


@pytest.mark.parametrize("status", [429, 400])
async def test_rate_limit_code_is_retried_whatever_the_status(
    api: respx.MockRouter, jasper: AsyncConnector, sleep: FakeSleep, status: int
) -> None:
    limited = {"errorMessage": "Rate limit exceeded", "errorCode": "40000029"}
    route = api.get(f"{API}/devices/{ICCID}").mock(
        side_effect=[
            httpx.Response(status, json=limited),
            httpx.Response(200, json=DEVICE),
        ]
    )

    assert (await jasper.subscription(ICCID)).iccid == ICCID
    assert route.call_count == 2
    assert len(sleep.calls) == 1


async def test_server_errors_are_retried_then_raised(
    api: respx.MockRouter, jasper: AsyncConnector, sleep: FakeSleep
) -> None:
    route = api.get(f"{API}/devices/{ICCID}").respond(500, json={"errorMessage": "Server error"})

    with pytest.raises(TransientError):
        await jasper.subscription(ICCID)

    assert route.call_count == 4  # max_retries = 3
    assert len(sleep.calls) == 3


async def test_check_asks_for_one_recent_device(
    api: respx.MockRouter, jasper: AsyncConnector
) -> None:
    search = api.get(f"{API}/devices").respond(
        json={"pageNumber": 1, "lastPage": True, "devices": []}
    )

    await jasper.check()

    assert params(search)["pageSize"] == "1"
    assert search.call_count == 1
