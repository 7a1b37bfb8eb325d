"""The Soracom connector against payloads shaped as documented, through respx (no network).

``SIM`` and ``AIR_STATS`` are the reference's examples (mvno-platforms.md section 3.11);
the auth, bills and audit log payloads are the examples of Soracom's OpenAPI
(``soracom-api.en.yaml``); the other payloads follow that spec's schemas field by field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

import cdp_sdk
from cdp_sdk import (
    AsyncConnector,
    AuditKind,
    AuthenticationError,
    Bearer,
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
from cdp_sdk.connectors.soracom.connector import SoracomAuth, audit_log_next_key
from cdp_sdk.testing import FakeSleep

BASE = "https://g.api.soracom.io"
KEY_ID = "keyId-abcde12345fghij67890klmno12345pq"
KEY = "secret-abcde12345fghij67890klmno12345pqrst67890uvwxy12345abcde67890fghi"
API_KEY = "api-abcde123-45fg-hij6-7890-klmno12345pq"
TOKEN = "abcde12345fghij67890klmno12345pqrst67890uvwxy12345abcde67890fghi"
SIM_ID = ICCID = "8942310222000012345"
AUTH_ANSWER = {"apiKey": API_KEY, "operatorId": "OPXXXXXXXXXX", "token": TOKEN}
HEADERS = {"X-Soracom-API-Key": API_KEY, "X-Soracom-Token": TOKEN}

SIM: dict[str, Any] = json.loads(
    """
{"simId": "8942310222000012345", "operatorId": "OP0012345678", "status": "active",
 "type": "uicc", "moduleType": "trio", "speedClass": "s1.standard", "groupId": null,
 "tags": {"name": "truck-17", "fleet": "north"},
 "imeiLock": null, "terminationEnabled": false,
 "createdTime": 1700000000000, "lastModifiedTime": 1716200000000,
 "sessionStatus": {"online": true, "imei": "356938035643809", "imsi": "295050012345678",
                   "ueIpAddress": "10.128.4.17", "lastUpdatedAt": 1716200000000,
                   "cell": {"mcc": 262, "mnc": 1, "tac": 4711, "eci": 1234567, "radioType": "LTE"}},
 "profiles": {"8942310222000012345": {"iccid": "8942310222000012345",
               "primaryImsi": "295050012345678", "otaSupported": true,
               "subscribers": {"295050012345678": {"imsi": "295050012345678",
                                                   "msisdn": "423650012345678",
                                                   "status": "active",
                                                   "subscription": "plan01s"}}}}}
"""
)

AIR_STATS = [
    {
        "date": "20240501",
        "unixtime": 1714521600,
        "dataTrafficStatsMap": {
            "s1.standard": {
                "uploadByteSizeTotal": 204800,
                "downloadByteSizeTotal": 1048576,
                "uploadPacketSizeTotal": 410,
                "downloadPacketSizeTotal": 900,
            }
        },
    }
]


def sim_with(**changes: Any) -> dict[str, Any]:
    return {**SIM, **changes}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/v1/auth").respond(json=AUTH_ANSWER)
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def soracom(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async("soracom", auth_key_id=KEY_ID, auth_key=KEY) as connector:
        connector.plugin.http.sleep = sleep
        yield connector


def found(api: respx.MockRouter) -> respx.Route:
    """The search that finds the SIM of ``ICCID``."""
    return api.get("/v1/query/sims", params={"iccid": ICCID}).respond(json=[SIM])


# -- auth ---------------------------------------------------------------------------------


async def test_login_sends_the_auth_key_and_uses_both_headers(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    sims = api.get("/v1/sims").respond(json=[SIM])

    [sim async for sim in soracom.subscriptions()]
    [sim async for sim in soracom.subscriptions()]

    login = api.calls[0].request
    assert login.method == "POST"
    assert login.url.path == "/v1/auth"
    assert json.loads(login.content) == {
        "authKeyId": KEY_ID,
        "authKey": KEY,
        "tokenTimeoutSeconds": 86400,
    }
    assert api.routes[0].call_count == 1  # the token is reused
    for call in sims.calls:
        assert call.request.headers["X-Soracom-API-Key"] == API_KEY
        assert call.request.headers["X-Soracom-Token"] == TOKEN


async def test_a_401_logs_in_again_and_resends(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    expired = {"code": "AUM0001", "message": "Token is required in the request header"}
    api.get("/v1/sims").mock(
        side_effect=[httpx.Response(401, json=expired), httpx.Response(200, json=[SIM])]
    )

    sims = [sim async for sim in soracom.subscriptions()]

    assert [sim.iccid for sim in sims] == [ICCID]
    assert api.routes[0].call_count == 2


async def test_a_refused_login_is_an_authentication_error(soracom: AsyncConnector) -> None:
    with respx.mock(base_url=BASE) as api:
        api.post("/v1/auth").respond(401)
        with pytest.raises(AuthenticationError) as caught:
            await soracom.check()
    assert caught.value.status_code == 401
    assert KEY not in str(caught.value)


async def test_the_token_is_renewed_when_its_timeout_nears() -> None:
    now = [1_000_000.0]
    auth = SoracomAuth(SecretStr(KEY_ID), SecretStr(KEY), clock=lambda: now[0])
    with respx.mock(base_url=BASE) as api:
        login = api.post("/v1/auth").respond(json=AUTH_ANSWER)
        api.get("/v1/sims").respond(json=[])
        async with httpx.AsyncClient(base_url=BASE, auth=auth) as client:
            await client.get("/v1/sims")
            now[0] += 86_400 - 120  # still valid
            await client.get("/v1/sims")
            now[0] += 100  # inside the refresh margin
            await client.get("/v1/sims")
    assert login.call_count == 2
    assert auth.operator_id == "OPXXXXXXXXXX"


# -- subscriptions ------------------------------------------------------------------------


async def test_listing_follows_the_next_key_header(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    other = "8942310222000012352"
    second_sim = sim_with(simId=other, profiles={other: {"iccid": other, "subscribers": {}}})
    second = api.get("/v1/sims", params={"last_evaluated_key": SIM_ID}).respond(json=[second_sim])
    first = api.get("/v1/sims").respond(json=[SIM], headers={"x-soracom-next-key": SIM_ID})

    sims = [sim async for sim in soracom.subscriptions()]

    assert [sim.iccid for sim in sims] == [ICCID, other]
    assert dict(first.calls[0].request.url.params) == {"limit": "100"}
    assert dict(second.calls[0].request.url.params) == {
        "limit": "100",
        "last_evaluated_key": SIM_ID,
    }


async def test_an_empty_page_with_a_next_key_is_followed(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    # The next key, not the empty page, decides: the listing goes on after it.
    other = "8942310222000012352"
    second_sim = sim_with(simId=other, profiles={other: {"iccid": other, "subscribers": {}}})
    last = api.get("/v1/sims", params={"last_evaluated_key": "k-2"}).respond(json=[second_sim])
    middle = api.get("/v1/sims", params={"last_evaluated_key": SIM_ID}).respond(
        json=[], headers={"x-soracom-next-key": "k-2"}
    )
    api.get("/v1/sims").respond(json=[SIM], headers={"x-soracom-next-key": SIM_ID})

    sims = [sim async for sim in soracom.subscriptions()]

    assert [sim.iccid for sim in sims] == [ICCID, other]
    assert middle.call_count == last.call_count == 1


async def test_an_empty_page_handing_back_its_own_key_raises(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    api.get("/v1/sims", params={"last_evaluated_key": SIM_ID}).respond(
        json=[], headers={"x-soracom-next-key": SIM_ID}
    )
    api.get("/v1/sims").respond(json=[SIM], headers={"x-soracom-next-key": SIM_ID})
    with pytest.raises(UnexpectedResponseError, match="repeated a page") as caught:
        [sim async for sim in soracom.subscriptions()]
    assert caught.value.connector == "soracom"


async def test_the_documented_sim_maps_to_a_subscription(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    api.get("/v1/sims").respond(json=[SIM])

    [sim] = [sim async for sim in soracom.subscriptions()]

    assert sim.id == SIM_ID
    assert sim.iccid == ICCID
    assert sim.imsi == "295050012345678"
    assert sim.msisdn == "423650012345678"
    assert sim.imei == "356938035643809"
    assert sim.status is SimStatus.ACTIVE
    assert sim.status_raw == "active"
    assert sim.tariff == "plan01s"
    assert sim.account == "OP0012345678"
    assert sim.ip_address == "10.128.4.17"
    assert sim.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert sim.updated_at == datetime(2024, 5, 20, 10, 13, 20, tzinfo=UTC)
    assert sim.tags == (Tag(key="fleet", value="north"), Tag(key="name", value="truck-17"))
    assert sim.extra["speedClass"] == "s1.standard"
    assert sim.extra["online"] is True


async def test_a_sim_is_found_by_iccid_then_read_by_sim_id(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    search = found(api)
    read = api.get(f"/v1/sims/{SIM_ID}").respond(json=SIM)

    first = await soracom.subscription(ICCID)
    again = await soracom.subscription(ICCID)

    assert first == again
    assert dict(search.calls[0].request.url.params) == {"iccid": ICCID, "limit": "100"}
    assert search.call_count == 1
    assert read.call_count == 1


async def test_an_unknown_iccid_is_not_found(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    api.get("/v1/query/sims").respond(json=[])

    with pytest.raises(NotFoundError):
        await soracom.subscription("8942310222000099999")


async def test_a_partial_search_match_is_not_taken(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    longer = "89423102220000123450"
    api.get("/v1/query/sims").respond(
        json=[sim_with(profiles={longer: {"iccid": longer, "subscribers": {}}})]
    )

    with pytest.raises(NotFoundError):
        await soracom.subscription(ICCID)


# -- status -------------------------------------------------------------------------------


async def test_change_status_posts_the_action(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    suspend = api.post(f"/v1/sims/{SIM_ID}/suspend").respond(
        json=sim_with(status="suspended", lastModifiedTime=1716300000000)
    )

    change = await soracom.change_status(ICCID, "deactivated")

    assert suspend.calls[0].request.content == b""
    assert change.state == "done"
    assert change.requested is SimStatus.DEACTIVATED
    assert change.effective_at == datetime(2024, 5, 21, 14, 0, tzinfo=UTC)
    assert change.extra == {"status": "suspended"}


@pytest.mark.parametrize(
    ("target", "action", "state"),
    [
        ("active", "activate", "active"),
        ("suspended", "deactivate", "inactive"),
        ("deactivated", "suspend", "suspended"),
        ("ready", "set_to_standby", "standby"),
    ],
)
async def test_each_status_has_its_action(
    api: respx.MockRouter, soracom: AsyncConnector, target: str, action: str, state: str
) -> None:
    found(api)
    route = api.post(f"/v1/sims/{SIM_ID}/{action}").respond(json=sim_with(status=state))

    change = await soracom.change_status(ICCID, target)

    assert route.called
    assert change.extra == {"status": state}


async def test_an_action_answered_with_the_sim_unchanged_is_a_refusal(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    # activate documents 200 and 404 only: a refusal may come as the SIM as it is.
    found(api)
    api.post(f"/v1/sims/{SIM_ID}/activate").respond(json=sim_with(status="terminated"))

    with pytest.raises(ConflictError, match="still 'terminated'"):
        await soracom.change_status(ICCID, "active")


async def test_retiring_enables_termination_first(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    api.post(f"/v1/sims/{SIM_ID}/enable_termination").respond(
        json=sim_with(terminationEnabled=True)
    )
    api.post(f"/v1/sims/{SIM_ID}/terminate").respond(json=sim_with(status="terminated"))

    change = await soracom.change_status(ICCID, "retired", confirm_irreversible=True)

    paths = [call.request.url.path for call in api.calls if call.request.method == "POST"]
    assert paths[-2:] == [
        f"/v1/sims/{SIM_ID}/enable_termination",
        f"/v1/sims/{SIM_ID}/terminate",
    ]
    assert change.extra == {"status": "terminated"}


async def test_retiring_needs_confirmation(soracom: AsyncConnector) -> None:
    with respx.mock(base_url=BASE) as api, pytest.raises(InvalidRequestError):
        await soracom.change_status(ICCID, "retired")
    assert not api.calls


async def test_a_refused_action_is_a_conflict(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    api.post(f"/v1/sims/{SIM_ID}/activate").respond(
        400, json={"code": "SEM0123", "message": "The SIM status cannot be changed"}
    )

    with pytest.raises(ConflictError) as caught:
        await soracom.change_status(ICCID, "active")

    assert caught.value.status_code == 400
    assert caught.value.vendor_code == "SEM0123"


async def test_inventory_cannot_be_requested(soracom: AsyncConnector) -> None:
    with respx.mock(base_url=BASE) as api, pytest.raises(InvalidRequestError):
        await soracom.change_status(ICCID, "inventory")
    assert not api.calls


# -- tags ---------------------------------------------------------------------------------


async def test_tags_are_put_as_a_list_and_deleted_by_encoded_name(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    put = api.put(f"/v1/sims/{SIM_ID}/tags").respond(json=SIM)
    delete = api.delete(url__regex=rf"/v1/sims/{SIM_ID}/tags/.+").respond(204)

    await soracom.update_tags(ICCID, {"fleet": "south", "spare": None}, remove=["room 2/b"])

    assert json.loads(put.calls[0].request.content) == [
        {"tagName": "fleet", "tagValue": "south"},
        {"tagName": "spare", "tagValue": ""},
    ]
    assert delete.calls[0].request.url.raw_path == f"/v1/sims/{SIM_ID}/tags/room%202%2Fb".encode()


async def test_removing_a_missing_tag_is_not_an_error(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    api.delete(f"/v1/sims/{SIM_ID}/tags/gone").respond(
        404, json={"code": "SEM0004", "message": "The specified SIM or tag does not exist"}
    )

    await soracom.update_tags(ICCID, {}, remove=["gone"])


# -- usage --------------------------------------------------------------------------------


async def test_usage_reads_air_stats_in_unix_seconds(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    stats = api.get(f"/v1/stats/air/sims/{SIM_ID}").respond(json=AIR_STATS)

    records = [r async for r in soracom.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 2))]

    assert dict(stats.calls[0].request.url.params) == {
        "from": "1714521600",
        "to": "1714607999",
        "period": "day",
    }
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, Direction.MO, 204800),
        (Bearer.DATA, Direction.MT, 1048576),
    ]
    upload = records[0]
    assert upload.start == datetime(2024, 5, 1, tzinfo=UTC)
    assert upload.end == datetime(2024, 5, 2, tzinfo=UTC)
    assert upload.granularity is Granularity.DAY
    assert upload.final is True
    assert upload.extra == {
        "packets": 410,
        "speed_classes": {"s1.standard": {"bytes": 204800, "packets": 410}},
    }


async def test_usage_sums_speed_classes_by_month(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    row = {
        "date": "202405",
        "unixtime": 1714521600,
        "dataTrafficStatsMap": {
            "s1.minimum": {"uploadByteSizeTotal": 100, "downloadByteSizeTotal": 1000},
            "s1.fast": {"uploadByteSizeTotal": 50, "downloadByteSizeTotal": 0},
        },
    }
    stats = api.get(f"/v1/stats/air/sims/{SIM_ID}").respond(json=[row])

    records = [
        r
        async for r in soracom.usage(
            ICCID, start=date(2024, 5, 1), end=date(2024, 6, 1), granularity="month"
        )
    ]

    assert stats.calls[0].request.url.params["period"] == "month"
    assert [(r.direction, r.quantity) for r in records] == [
        (Direction.MO, 150),
        (Direction.MT, 1000),
    ]
    assert records[0].end == datetime(2024, 6, 1, tzinfo=UTC)
    assert records[0].extra["speed_classes"] == {
        "s1.fast": {"bytes": 50, "packets": 0},
        "s1.minimum": {"bytes": 100, "packets": 0},
    }


async def test_account_usage_uses_the_operator_of_the_login(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    stats = api.get("/v1/stats/air/operators/OPXXXXXXXXXX").respond(
        json=[{"unixtime": 1714521600, "uploadByteSizeTotal": 7, "downloadByteSizeTotal": 9}]
    )

    records = [r async for r in soracom.usage(start=date(2024, 5, 1), end=date(2024, 5, 2))]

    assert stats.called
    assert [(r.iccid, r.direction, r.quantity) for r in records] == [
        (None, Direction.MO, 7),
        (None, Direction.MT, 9),
    ]


async def test_hourly_usage_is_refused(soracom: AsyncConnector) -> None:
    with pytest.raises(InvalidRequestError, match="by day, month"):
        [r async for r in soracom.usage(ICCID, granularity="hour")]


# -- audit events -------------------------------------------------------------------------


async def test_sim_audit_events_come_from_status_history_and_sessions(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    entry = {
        "simId": SIM_ID,
        "imsi": "295050012345678",
        "primaryImsi": "295050012345678",
        "isPrimary": True,
        "speedClass": "s1.standard",
        "subscription": "plan01s",
        "bundles": [],
    }
    history = api.get(f"/v1/sims/{SIM_ID}/statuses/history").mock(
        side_effect=[
            httpx.Response(
                200,
                json=[{**entry, "status": "ready", "applyDateTimeEpochSec": 1700000000}],
                headers={"x-soracom-next-key": "k1"},
            ),
            httpx.Response(
                200,
                json=[
                    {**entry, "status": "active", "applyDateTimeEpochSec": 1700100000},
                    {
                        **entry,
                        "status": "active",
                        "speedClass": "s1.fast",
                        "applyDateTimeEpochSec": 1700200000,
                    },
                ],
            ),
        ]
    )
    sessions = api.get(f"/v1/sims/{SIM_ID}/events/sessions").respond(
        json=[
            {
                "event": "Created",
                "time": 1716200000000,
                "simId": SIM_ID,
                "imsi": "295050012345678",
                "imei": "356938035643809",
                "apn": "soracom.io",
                "ueIpAddress": "10.128.4.17",
                "sessionId": "3f2a0c0e-6b43-4a0c-9c9f-6f5f2b1e8a11",
                "subscription": "plan01s",
                "operatorId": "OP0012345678",
            }
        ]
    )

    events = [
        e
        async for e in soracom.audit_events(
            ICCID, start=datetime(2023, 11, 1, tzinfo=UTC), end=datetime(2024, 6, 1, tzinfo=UTC)
        )
    ]

    params = history.calls[0].request.url.params
    assert dict(params) == {
        "from": "1698796800000",
        "to": "1717199999999",
        "sort": "asc",
        "limit": "100",
    }
    assert history.calls[1].request.url.params["last_evaluated_key"] == "k1"
    assert sessions.calls[0].request.url.params["from"] == "1698796800000"
    assert [(e.kind, e.field, e.old_value, e.new_value) for e in events] == [
        (AuditKind.STATUS_CHANGE, "status", None, "ready"),
        (AuditKind.STATUS_CHANGE, "status", "ready", "active"),
        (AuditKind.FIELD_CHANGE, "speedClass", "s1.standard", "s1.fast"),
        (AuditKind.SESSION, "session", None, "Created"),
    ]
    assert events[0].occurred_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert events[-1].extra["imei"] == "356938035643809"


async def test_account_audit_events_come_from_the_api_audit_log(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    documented = {  # the spec's example, with its spelling of the time field
        "apiKind": "/v1/bills",
        "operatorId": "OPXXXXXXXXXX",
        "remoteIpAddress": "xxx.xxx.xxx.xxx",
        "requestPath": "/v1/bills",
        "requestedTimeEpocMs": 1234567890123,
        "statusCode": 200,
        "userName": "SORACOMAPI",
    }
    root = {**documented, "requestedTimeEpochMs": 1234567890000, "userName": ""}
    del root["requestedTimeEpocMs"]
    log = api.get("/v1/audit_logs/api").mock(
        side_effect=[
            httpx.Response(200, json=[documented], headers={"x-soracom-next-key": "1234567890123"}),
            httpx.Response(200, json=[root]),
        ]
    )

    events = [e async for e in soracom.audit_events()]

    assert dict(log.calls[0].request.url.params) == {"limit": "1000"}
    assert log.calls[1].request.url.params["last_evaluated_key"] == "1234567890123"
    assert [(e.kind, e.actor, e.field) for e in events] == [
        (AuditKind.OTHER, "SORACOMAPI", "/v1/bills"),
        (AuditKind.OTHER, "root", "/v1/bills"),
    ]
    assert events[0].occurred_at == datetime(2009, 2, 13, 23, 31, 30, 123000, tzinfo=UTC)
    assert events[0].description == "/v1/bills -> 200"


# -- invoices -----------------------------------------------------------------------------


async def test_invoices_from_bills_with_lines_from_bill_items(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    # GET /v1/bills and GET /v1/bills/{yyyyMM}: the spec's examples (the list has no currency).
    api.get("/v1/bills").respond(
        json={
            "billList": [
                {
                    "amount": 28734,
                    "paymentStatus": "paid",
                    "paymentTransactionId": "12345678901234567_xxxxxxxx",
                    "state": "closed",
                    "yearMonth": "202208",
                },
                {
                    "amount": 27075,
                    "paymentStatus": "paid",
                    "paymentTransactionId": "12345678901234567_yyyyyyyy",
                    "state": "closed",
                    "yearMonth": "202207",
                },
            ]
        }
    )
    api.get("/v1/bills/202208").respond(
        json={
            "amount": 28734,
            "currency": "JPY",
            "paymentStatus": "paid",
            "paymentTransactionId": "12345678901234567_xxxxxxxx",
            "state": "closed",
            "yearMonth": "202208",
        }
    )
    api.get("/v1/bills/202209").respond(
        json={"amount": 1200.5, "currency": "JPY", "state": "temporary", "yearMonth": "202209"}
    )
    api.get("/v1/bills/summaries/bill_items").respond(
        json=[
            {
                "yearMonth": "202209",
                "currency": "JPY",
                "updatedTime": 1662940800,
                "costBreakdownList": [
                    {"amount": 1000.5, "billItemCategory": "Air", "billItemName": "Data fee"},
                    {"amount": 200, "billItemCategory": "Air", "billItemName": "Basic fee"},
                ],
            },
            {"yearMonth": "202208", "currency": "JPY", "costBreakdownList": []},
        ]
    )

    invoices = [i async for i in soracom.invoices(start=date(2022, 8, 1))]

    assert [(i.id, i.status, i.total, i.currency) for i in invoices] == [
        ("202209", "temporary", Decimal("1200.5"), "JPY"),
        ("202208", "closed", Decimal("28734"), "JPY"),
    ]
    current = invoices[0]
    assert (current.period_start, current.period_end) == (date(2022, 9, 1), date(2022, 9, 30))
    assert [(line.description, line.amount, line.category) for line in current.lines] == [
        ("Data fee", Decimal("1000.5"), "Air"),
        ("Basic fee", Decimal("200"), "Air"),
    ]
    assert invoices[1].extra["paymentStatus"] == "paid"
    assert not any(call.request.url.path == "/v1/bills/202207" for call in api.calls)


async def test_a_month_without_a_bill_is_skipped(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    api.get("/v1/bills").respond(json={"billList": []})
    api.get("/v1/bills/summaries/bill_items").respond(
        json=[{"yearMonth": "202209", "currency": "USD", "costBreakdownList": []}]
    )
    api.get("/v1/bills/202209").respond(404)

    assert [i async for i in soracom.invoices()] == []


# -- errors and retries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (403, {"code": "AUM0007", "message": "No permission"}, PermissionDeniedError, "AUM0007"),
        (404, {"code": "SEM0095", "message": "No such SIM"}, NotFoundError, "SEM0095"),
        (
            400,
            {"httpStatus": 400, "errorMessage": {"code": "COM0001", "message": "Bad"}},
            InvalidRequestError,
            "COM0001",
        ),
    ],
)
async def test_vendor_error_bodies_map_to_errors(
    api: respx.MockRouter,
    soracom: AsyncConnector,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
    code: str,
) -> None:
    api.get("/v1/sims").respond(status, json=body)

    with pytest.raises(error) as caught:
        [sim async for sim in soracom.subscriptions()]

    assert caught.value.vendor_code == code  # type: ignore[attr-defined]


async def test_a_429_waits_the_seconds_before_refresh(
    api: respx.MockRouter, soracom: AsyncConnector, sleep: FakeSleep
) -> None:
    limited = httpx.Response(
        429,
        headers={
            "X-Soracom-Ratelimit-Limit": "100",
            "X-Soracom-Ratelimit-Remaining": "0",
            "X-Soracom-Ratelimit-Seconds-Before-Refresh": "17",
        },
    )
    api.get("/v1/sims").mock(side_effect=[limited, httpx.Response(200, json=[SIM])])

    sims = [sim async for sim in soracom.subscriptions()]

    assert len(sims) == 1
    assert sleep.calls == [17.0]


async def test_a_persisting_429_is_raised_with_its_wait(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    api.get("/v1/sims").respond(429, headers={"X-Soracom-Ratelimit-Seconds-Before-Refresh": "5"})

    with pytest.raises(RateLimitedError) as caught:
        [sim async for sim in soracom.subscriptions()]

    assert caught.value.retry_after == 5.0


async def test_a_failed_status_action_is_not_retried(
    api: respx.MockRouter, soracom: AsyncConnector
) -> None:
    found(api)
    action = api.post(f"/v1/sims/{SIM_ID}/suspend").respond(503)

    with pytest.raises(TransientError):
        await soracom.change_status(ICCID, "deactivated")

    assert action.call_count == 1


def test_a_full_audit_log_page_without_header_continues_from_its_last_time() -> None:
    full = [{"requestedTimeEpochMs": n} for n in range(1000, 0, -1)]
    request = httpx.Request("GET", f"{BASE}/v1/audit_logs/api")
    bare = httpx.Response(200, json=full, request=request)
    assert audit_log_next_key(bare, full) == 1
    assert audit_log_next_key(bare, full[:10]) is None
    headed = httpx.Response(200, json=[], headers={"x-soracom-next-key": "77"}, request=request)
    assert audit_log_next_key(headed, []) == "77"
