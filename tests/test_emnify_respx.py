"""The emnify connector against payloads shaped as documented, through respx (no network).

Shapes follow the reference (mvno-platforms.md section 1: the SIM list and daily stats
examples of 1.11, the error bodies of 1.10, the tariff profile and tariff plan of the
emnify docs) and the recorded traffic (header casing, the event list); values are made up,
with valid ICCID check digits.
"""

from __future__ import annotations

import base64
import json
import time
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
    PermissionDeniedError,
    SimStatus,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.testing import FakeSleep

BASE = "https://cdn.emnify.net"
APP_TOKEN = "emnify-app-token-secret"
ICCID = "89883030000123456789"  # iccid 8988303000012345678 + its check digit


def jwt(expires_in: float = 7 * 24 * 3600) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {
        "aud": "/api/v1/authentication",
        "esc.org": 51234,
        "iat": now,
        "exp": now + int(expires_in),
    }
    return f"{part({'alg': 'HS512'})}.{part(claims)}.signature"


TOKEN = jwt()


def sim_record(state: int = 1, *, endpoint: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": 4100012,
        "iccid": "8988303000012345678",
        "iccid_with_luhn": ICCID,
        "eid": None,
        "imsi": "295050912345678",
        "msisdn": "423663912345678",
        "production_date": "2023-02-10T09:14:00.000+0000",
        "activation_date": "2023-03-01T12:00:00.000+0000",
        "status": {"id": state, "description": ["Issued", "Activated", "Suspended"][state]},
        "customer_org": {
            "id": 51234,
            "name": "Acme Fleet",
            "country": {"id": 74, "name": "Germany"},
        },
        "issuer_org": {"id": 2, "name": "emnify", "country": {"id": 74, "name": "Germany"}},
        "model": {"id": 4, "description": "Classic", "memory_size": 128},
    }
    if endpoint:
        record["endpoint"] = {
            "id": 9001,
            "name": "truck-17",
            "imei": "356938035643809",
            "imei_lock": False,
            "tags": "fleet,de",
            "ip_address": "10.192.0.17",
        }
    return record


def page_headers(page: int, pages: int, total: int) -> dict[str, str]:
    return {
        "X-Count-Per-Page": "1000",
        "X-Current-Page": str(page),
        "X-Sort": "id",
        "X-Total-Count": str(total),
        "X-Total-Pages": str(pages),
    }


STATS_DAY = [
    {
        "date": "2024-05-01",
        "data": {
            "volume": 12.5,
            "volume_tx": 2.25,
            "volume_rx": 10.25,
            "cost": 0,
            "traffic_type": {"id": 5, "description": "Data", "unit": "MB"},
            "currency": {"id": 1, "code": "EUR", "symbol": "€"},
        },
        "sms": {
            "volume": 3,
            "volume_tx": 1,
            "volume_rx": 2,
            "cost": 0.18,
            "traffic_type": {"id": 6, "description": "SMS", "unit": "SMS"},
            "currency": {"id": 1, "code": "EUR", "symbol": "€"},
        },
    },
    {"date": "2024-05-02"},
]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/api/v1/authenticate").respond(json={"auth_token": TOKEN})
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def emnify(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async(
        "emnify", application_token=APP_TOKEN, rate_limit=None
    ) as connector:
        connector.plugin.http.sleep = sleep
        yield connector


def lookup(api: respx.MockRouter, *records: dict[str, Any]) -> respx.Route:
    return api.get("/api/v1/sim", params={"q": "iccid:8988303000012345678"}).respond(
        json=list(records), headers=page_headers(1, 1, len(records))
    )


# -- authentication and listing ------------------------------------------------------------


async def test_a_status_filter_asks_for_one_sim_status_id(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    # The SIM list filters with q=<field>:<value> (the SDK's SimFilter: `status` is the
    # status id). One status is asked of the platform; several are filtered here.
    suspended = api.get("/api/v1/sim", params={"q": "status:2"}).respond(
        json=[sim_record(2)], headers=page_headers(1, 1, 1)
    )
    every = api.get("/api/v1/sim", params={"page": "1"}).respond(
        json=[sim_record(2), {**sim_record(1), "id": 4100013}], headers=page_headers(1, 1, 2)
    )

    found = [sim async for sim in emnify.subscriptions(status="suspended")]
    assert [sim.status for sim in found] == [SimStatus.SUSPENDED]
    assert suspended.call_count == 1

    both = [sim async for sim in emnify.subscriptions(status=["suspended", "active"])]
    assert [sim.status for sim in both] == [SimStatus.SUSPENDED, SimStatus.ACTIVE]
    assert "q" not in every.calls.last.request.url.params
    assert [sim async for sim in emnify.subscriptions(status="deactivated")] == []
    assert suspended.call_count + every.call_count == 2  # no state is deactivated: no call


async def test_listing_logs_in_once_and_follows_x_total_pages(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    second = api.get("/api/v1/sim", params={"page": "2"}).respond(
        json=[{**sim_record(0, endpoint=False), "id": 4100013}], headers=page_headers(2, 2, 2)
    )
    first = api.get("/api/v1/sim", params={"page": "1"}).respond(
        json=[sim_record()], headers=page_headers(1, 2, 2)
    )

    sims = [sim async for sim in emnify.subscriptions()]
    again = [sim async for sim in emnify.subscriptions()]

    assert [sim.status for sim in sims] == [SimStatus.ACTIVE, SimStatus.INVENTORY]
    assert again == sims
    login = api.routes[0]
    assert login.call_count == 1, "the JWT is cached across calls"
    assert json.loads(login.calls.last.request.content) == {"application_token": APP_TOKEN}
    request = first.calls.last.request
    assert dict(request.url.params) == {"page": "1", "per_page": "2500"}  # the maximum
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert dict(second.calls.last.request.url.params) == {"page": "2", "per_page": "2500"}


async def test_an_empty_page_that_x_total_pages_says_is_not_the_last_is_followed(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    # X-Total-Pages says 3: an empty page 2 does not end the listing.
    api.get("/api/v1/sim", params={"page": "1"}).respond(
        json=[sim_record()], headers=page_headers(1, 3, 2)
    )
    middle = api.get("/api/v1/sim", params={"page": "2"}).respond(
        json=[], headers=page_headers(2, 3, 2)
    )
    api.get("/api/v1/sim", params={"page": "3"}).respond(
        json=[{**sim_record(0, endpoint=False), "id": 4100013}], headers=page_headers(3, 3, 2)
    )

    sims = [sim async for sim in emnify.subscriptions()]

    assert [sim.id for sim in sims] == ["4100012", "4100013"]
    assert middle.call_count == 1


async def test_a_sim_listed_on_two_pages_raises(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    # A SIM added between two requests shifts the list: page 2 starts with page 1's last SIM.
    api.get("/api/v1/sim", params={"page": "1"}).respond(
        json=[sim_record()], headers=page_headers(1, 2, 2)
    )
    api.get("/api/v1/sim", params={"page": "2"}).respond(
        json=[sim_record(), {**sim_record(0), "id": 4100013}], headers=page_headers(2, 2, 3)
    )
    with pytest.raises(UnexpectedResponseError, match="same record twice") as caught:
        [sim async for sim in emnify.subscriptions()]
    assert "GET /api/v1/sim" in caught.value.message


@pytest.mark.parametrize("pages", ["two", "", "2.0", "-3"])
async def test_an_unreadable_x_total_pages_is_an_unexpected_response(
    api: respx.MockRouter, emnify: AsyncConnector, pages: str
) -> None:
    api.get("/api/v1/sim").respond(
        json=[sim_record()], headers={**page_headers(1, 1, 1), "X-Total-Pages": pages}
    )
    with pytest.raises(UnexpectedResponseError, match="paging signal") as caught:
        [sim async for sim in emnify.subscriptions()]
    assert caught.value.connector == "emnify"
    assert caught.value.status_code == 200


async def test_lower_case_paging_headers_are_honoured(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    route = api.get("/api/v1/sim").respond(
        json=[sim_record()], headers={k.lower(): v for k, v in page_headers(1, 1, 1).items()}
    )
    assert len([sim async for sim in emnify.subscriptions()]) == 1
    assert route.call_count == 1


async def test_a_401_logs_in_again_once(api: respx.MockRouter, emnify: AsyncConnector) -> None:
    gateway = httpx.Response(401, json={"message": "token contains an invalid number of segments"})
    route = api.get("/api/v1/sim").mock(
        side_effect=[gateway, httpx.Response(200, json=[], headers=page_headers(1, 1, 0))]
    )
    assert [sim async for sim in emnify.subscriptions()] == []
    assert api.routes[0].call_count == 2
    assert route.call_count == 2


async def test_an_expired_jwt_is_renewed_before_use(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    api.routes[0].respond(json={"auth_token": jwt(expires_in=30)})  # inside the refresh margin
    api.get("/api/v1/sim").respond(json=[], headers=page_headers(1, 1, 0))
    for _ in range(2):
        assert [sim async for sim in emnify.subscriptions()] == []
    assert api.routes[0].call_count == 2


async def test_a_refused_application_token(api: respx.MockRouter, emnify: AsyncConnector) -> None:
    api.routes[0].respond(
        401, json={"error_code": 1101, "error_token": "InvalidCredentials", "message": "Bad token"}
    )
    with pytest.raises(AuthenticationError) as caught:
        await emnify.check()
    assert caught.value.vendor_code == "InvalidCredentials"
    assert APP_TOKEN not in str(caught.value)


async def test_a_rate_limited_login_is_retried(
    api: respx.MockRouter, emnify: AsyncConnector, sleep: FakeSleep
) -> None:
    limited = httpx.Response(
        429, json={"error_code": 1105, "error_token": "TooManyRequests", "message": "Slow down"}
    )
    api.routes[0].mock(side_effect=[limited, httpx.Response(200, json={"auth_token": TOKEN})])
    api.get("/api/v1/sim").respond(json=[], headers=page_headers(1, 1, 0))
    assert [sim async for sim in emnify.subscriptions()] == []
    assert len(sleep.calls) == 1


# -- one SIM ----------------------------------------------------------------------------------


async def test_subscription_filters_by_iccid_without_check_digit(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    route = lookup(api, sim_record())
    sim = await emnify.subscription(ICCID)
    assert (sim.id, sim.iccid, sim.imei) == ("4100012", ICCID, "356938035643809")
    assert dict(route.calls.last.request.url.params) == {
        "q": "iccid:8988303000012345678",
        "page": "1",
        "per_page": "10",
    }


async def test_an_unknown_iccid_is_not_found(api: respx.MockRouter, emnify: AsyncConnector) -> None:
    lookup(api)
    as_given = api.get("/api/v1/sim", params={"q": f"iccid:{ICCID}"}).respond(json=[])
    with pytest.raises(NotFoundError):
        await emnify.subscription(ICCID)
    assert as_given.call_count == 1, "the ICCID is also tried as given"


# -- status and tags --------------------------------------------------------------------------


async def test_change_status_patches_the_status_id(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    lookup(api, sim_record(1))
    patch = api.patch("/api/v1/sim/4100012").respond(204)

    change = await emnify.change_status(ICCID, SimStatus.SUSPENDED)

    assert (change.state, change.requested, change.iccid) == ("done", SimStatus.SUSPENDED, ICCID)
    assert json.loads(patch.calls.last.request.content) == {"status": {"id": 2}}


async def test_an_illegal_move_is_refused_before_any_patch(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    lookup(api, sim_record(1))  # no PATCH route: respx fails any PATCH sent
    with pytest.raises(ConflictError, match="Activated"):
        await emnify.change_status(ICCID, SimStatus.TEST)
    with pytest.raises(InvalidRequestError, match="ready"):
        await emnify.change_status(ICCID, SimStatus.READY)
    change = await emnify.change_status(ICCID, SimStatus.ACTIVE)  # already there
    assert change.state == "done"


@pytest.mark.parametrize("status", [400, 409])
async def test_the_platform_refusing_a_move_is_a_conflict(
    api: respx.MockRouter, emnify: AsyncConnector, status: int
) -> None:
    # The PATCH documents 400 with an error_code/error_token/message body; the errors
    # reference shows 1406 NotAllowed as its 400 example. The token decides, not the status.
    lookup(api, sim_record(0))
    api.patch("/api/v1/sim/4100012").respond(
        status, json={"error_code": 1406, "error_token": "NotAllowed", "message": "Not allowed."}
    )
    with pytest.raises(ConflictError) as caught:
        await emnify.change_status(ICCID, SimStatus.ACTIVE)
    assert (caught.value.status_code, caught.value.vendor_code) == (status, "NotAllowed")


async def test_a_400_with_another_token_is_an_invalid_request(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    lookup(api, sim_record(0))
    api.patch("/api/v1/sim/4100012").respond(
        400, json={"error_code": 1000, "error_token": "BadRequest", "message": "Bad request."}
    )
    with pytest.raises(InvalidRequestError) as caught:
        await emnify.change_status(ICCID, SimStatus.ACTIVE)
    assert caught.value.vendor_code == "BadRequest"


async def test_deactivated_has_no_emnify_state_and_says_what_does(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    lookup(api, sim_record(1))  # no PATCH route: respx fails any PATCH sent
    with pytest.raises(InvalidRequestError, match="request 'suspended'"):
        await emnify.change_status(ICCID, SimStatus.DEACTIVATED)


async def test_per_sim_calls_accept_the_iccid_without_its_check_digit(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    lookup(api, sim_record(1))
    api.patch("/api/v1/sim/4100012").respond(204)
    api.get("/api/v1/sim/4100012/stats/daily").respond(json=STATS_DAY)
    plain = ICCID[:-1]

    change = await emnify.change_status(plain, SimStatus.SUSPENDED)
    records = [r async for r in emnify.usage(plain, start=date(2024, 5, 1), end=date(2024, 5, 3))]

    assert change.iccid == ICCID
    assert records
    assert {r.iccid for r in records} == {ICCID}


async def test_update_tags_rewrites_the_endpoint_tags(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    lookup(api, sim_record())
    api.get("/api/v1/endpoint/9001").respond(
        json={"id": 9001, "name": "truck-17", "tags": "Customer A, Project B", "status": {"id": 0}}
    )
    patch = api.patch("/api/v1/endpoint/9001").respond(204)

    await emnify.update_tags(ICCID, {"north": None}, remove=["Project B"])

    assert json.loads(patch.calls.last.request.content) == {"tags": "Customer A,north"}


async def test_a_sim_without_endpoint_cannot_carry_tags(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    lookup(api, sim_record(0, endpoint=False))
    with pytest.raises(ConflictError, match="endpoint"):
        await emnify.update_tags(ICCID, {"north": None})


# -- tariffs, usage, events -------------------------------------------------------------------


async def test_tariffs_are_the_profiles_and_the_readable_plan(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    profile = {
        "id": 1,
        "name": "Tariff Profile 1",
        "used_count": 56,
        "tariff": {
            "id": 1,
            "name": "Tariff 1",
            "sim_activated_rate": 1,
            "currency": {"id": 1, "code": "EUR", "symbol": "€"},
        },
    }
    profiles = api.get("/api/v1/tariff_profile").respond(json=[profile])
    plan = api.get("/api/v1/tariff_plan/active")
    plan.respond(
        json={
            "id": 2,
            "sim_activated_rate": 0.9,
            "tariff_plan": {"id": 7, "name": "Plan", "currency": {"code": "EUR"}},
        }
    )
    assert [t.id async for t in emnify.tariffs()] == ["1", "plan-7"]
    assert dict(profiles.calls.last.request.url.params) == {}, "the operation takes no paging"
    plan.respond(403, json={"error_code": 1104, "error_token": "Forbidden", "message": "No access"})
    assert [t.id async for t in emnify.tariffs()] == ["1"]


async def test_daily_usage_of_a_sim(api: respx.MockRouter, emnify: AsyncConnector) -> None:
    lookup(api, sim_record())
    stats = api.get("/api/v1/sim/4100012/stats/daily").respond(json=STATS_DAY)

    records = [r async for r in emnify.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 3))]

    assert dict(stats.calls.last.request.url.params) == {
        "start_date": "2024-05-01",
        "end_date": "2024-05-03",
    }
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, Direction.MO, 2_250_000),
        (Bearer.DATA, Direction.MT, 10_250_000),
        (Bearer.SMS, Direction.MO, 1),
        (Bearer.SMS, Direction.MT, 2),
    ]
    assert {r.iccid for r in records} == {ICCID}


async def test_long_ranges_are_asked_in_windows_without_double_days(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        # Answer with the window's first day and its end date, as if end_date were inclusive.
        days = [request.url.params["start_date"], request.url.params["end_date"]]
        return httpx.Response(200, json=[{**STATS_DAY[0], "date": day} for day in days])

    lookup(api, sim_record())
    stats = api.get("/api/v1/sim/4100012/stats/daily").mock(side_effect=answer)
    start, end = date(2024, 1, 1), date(2024, 12, 31)
    records = [r async for r in emnify.usage(ICCID, start=start, end=end)]
    assert stats.call_count == 3
    days = sorted({r.start for r in records if r.start})
    assert days == [
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 6, 29, tzinfo=UTC),
        datetime(2024, 12, 26, tzinfo=UTC),
    ]


async def test_account_usage_from_the_organisation_stats(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    day = {
        "date": "2024-05-01",
        "data": {
            "volume": "3.0",
            "volume_rx": "2.0",
            "volume_tx": "1.0",
            "cost": "0.3",
            "currency": {"code": "EUR"},
            "traffic_type": {"unit": "MB"},
        },
    }
    api.get("/api/v1/organisation/my/stats/daily").respond(json=[day, {**day, "date": "TOTAL"}])
    records = [r async for r in emnify.usage(start=date(2024, 5, 1), end=date(2024, 5, 2))]
    assert [(r.iccid, r.direction, r.quantity) for r in records] == [
        (None, Direction.MO, 1_000_000),
        (None, Direction.MT, 2_000_000),
    ]


async def test_monthly_usage_from_sim_stats(api: respx.MockRouter, emnify: AsyncConnector) -> None:
    lookup(api, sim_record())
    month = {**STATS_DAY[0]["sms"], "month": "2024-05-01", "sim_id": 4100012}
    api.get("/api/v1/sim/4100012/stats").respond(json={"last_month": {"sms": month}})
    records = [r async for r in emnify.usage(ICCID, granularity="month")]
    assert [(r.granularity, r.final, r.quantity) for r in records] == [
        ("month", True, 1),
        ("month", True, 2),
    ]
    with pytest.raises(InvalidRequestError, match="by day, month"):
        [r async for r in emnify.usage(ICCID, granularity="hour")]


async def test_events_page_with_lower_case_headers_and_a_time_filter(
    api: respx.MockRouter, emnify: AsyncConnector
) -> None:
    event = {
        "timestamp": "2024-06-02T10:00:00.000Z",
        "alert": False,
        "description": "Status of SIM changed from 'Activated' to 'Suspended'",
        "id": 351732524384257,
        "event_type": {"id": 9, "description": "SIM suspension"},
        "event_source": {"id": 2, "description": "API"},
        "event_severity": {"id": 0, "description": "Info"},
        "sim": {"iccid": "8988303000012345678", "iccid_with_luhn": ICCID, "id": 4100012},
    }
    headers = {k.lower(): v for k, v in page_headers(1, 1, 1).items()} | {"Link": ""}
    route = api.get("/api/v1/event").respond(json=[event], headers=headers)

    events = [
        e
        async for e in emnify.audit_events(
            start=datetime(2024, 6, 1, tzinfo=UTC), end=datetime(2024, 6, 3, tzinfo=UTC)
        )
    ]

    assert [(e.kind, e.old_value, e.new_value, e.iccid) for e in events] == [
        (AuditKind.STATUS_CHANGE, "Activated", "Suspended", ICCID)
    ]
    assert dict(route.calls.last.request.url.params) == {
        "q": "from:2024-06-01T00:00:00Z,until:2024-06-03T00:00:00Z",
        "page": "1",
        "per_page": "1000",
    }


async def test_sim_events_use_the_sim_path(api: respx.MockRouter, emnify: AsyncConnector) -> None:
    lookup(api, sim_record())
    api.get("/api/v1/sim/4100012/event").respond(json=[], headers=page_headers(1, 1, 0))
    assert [e async for e in emnify.audit_events(ICCID)] == []


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            404,
            {"error_code": 1201, "error_token": "NotFound", "message": "SIM with id 1 not found"},
            NotFoundError,
            "NotFound",
        ),
        (
            403,
            {"error_code": 1104, "error_token": "Forbidden", "message": "No permission"},
            PermissionDeniedError,
            "Forbidden",
        ),
        (
            422,
            {"error_code": 1301, "error_token": "InvalidQueryCriteria", "message": "Bad q"},
            InvalidRequestError,
            "InvalidQueryCriteria",
        ),
        (500, {"message": "Internal server error"}, TransientError, None),
    ],
)
async def test_vendor_errors_map_to_error_classes(
    api: respx.MockRouter,
    emnify: AsyncConnector,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
    code: str | None,
) -> None:
    api.get("/api/v1/sim").respond(status, json=body)
    with pytest.raises(error) as caught:
        [sim async for sim in emnify.subscriptions()]
    assert caught.value.vendor_code == code  # type: ignore[attr-defined]
    assert caught.value.connector == "emnify"  # type: ignore[attr-defined]


async def test_a_429_is_retried_then_succeeds(
    api: respx.MockRouter, emnify: AsyncConnector, sleep: FakeSleep
) -> None:
    limited = httpx.Response(
        429, json={"error_code": 1105, "error_token": "TooManyRequests", "message": "Slow down"}
    )
    ok = httpx.Response(200, json=[sim_record()], headers=page_headers(1, 1, 1))
    route = api.get("/api/v1/sim").mock(side_effect=[limited, limited, ok])
    assert len([sim async for sim in emnify.subscriptions()]) == 1
    assert route.call_count == 3
    assert len(sleep.calls) == 2  # no Retry-After from emnify: exponential backoff
