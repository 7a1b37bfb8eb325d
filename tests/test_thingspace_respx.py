"""The ThingSpace connector against payloads shaped as documented, through respx.

The payloads follow the examples of Verizon's API reference pages and of the SDK generated
from Verizon's spec (``sdks-io/verizon-apis-python-sdk``: ``doc/controllers/
device-management.md``, ``session-management.md``, ``service-plans.md``,
``account-requests.md``), as recorded in operator-platforms.md section 2; error bodies
follow Verizon's "Synchronous Error Messages" page. Nothing here comes from the emulator.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

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
    Granularity,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    SimStatus,
    Tag,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.connectors.thingspace import ThingSpaceConnector
from cdp_sdk.connectors.thingspace.connector import parse_error_body
from cdp_sdk.testing import FakeSleep

BASE = "https://thingspace.verizon.com"
APP_KEY = "ts-app-key-5d41402abc4b2a76"
APP_SECRET = "ts-app-secret-7d793037a0760186"
USERNAME = "zbeeblebrox"
PASSWORD = "IMgr8-pass-0f1e2d"
ACCOUNT = "0000123456-00001"
OAUTH_TOKEN = "d7bc43e9acc31aba9654fc5cd0d8c520"
SESSION = "bcce3ea6-fe4f-4952-bacf-eadd80718e83"
REQUEST_ID = "595f5c44-c31c-4552-8670-020a1545a84d"
ICCID = "89148000000800784259"
ICCID_19 = ICCID[:-1]
OTHER = "89141390780800784259"

SETTINGS: dict[str, Any] = {
    "app_key": APP_KEY,
    "app_secret": APP_SECRET,
    "username": USERNAME,
    "password": PASSWORD,
    "account_name": ACCOUNT,
    "rate_limit": None,
}


def device(iccid: str = ICCID, state: str = "active", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "accountName": ACCOUNT,
        "billingCycleEndDate": "2024-06-09T20:00:00-04:00",
        "carrierInformations": [
            {"carrierName": "Verizon Wireless", "servicePlan": "M2MSHR5GB", "state": state}
        ],
        "connected": True,
        "createdAt": "2023-08-07T10:42:15-04:00",
        "customFields": [{"key": "CustomField1", "value": "fleet-A"}],
        "deviceIds": [
            {"id": iccid, "kind": "iccid"},
            {"id": "990013907835573", "kind": "imei"},
        ],
        "groupNames": ["4G West"],
        "ipAddress": "10.1.2.3",
        "lastActivationBy": "Jane Ops",
        "lastActivationDate": "2023-08-07T10:42:34-04:00",
        "lastConnectionDate": "2024-05-01T04:23:37-04:00",
    }
    record.update(changes)
    return record


def m2m_error(
    code: str, message: str = "error message string", status: int = 400
) -> httpx.Response:
    return httpx.Response(status, json={"errorCode": code, "errorMessage": message})


def fault(code: str, message: str) -> httpx.Response:
    return httpx.Response(
        401,
        json={"fault": {"code": code, "message": message, "description": "Access failure"}},
    )


def body_of(call: Any) -> Any:
    return json.loads(call.request.content)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("/api/ts/v1/oauth2/token", name="oauth").respond(
            json={"access_token": OAUTH_TOKEN, "token_type": "Bearer", "expires_in": 3600}
        )
        router.post("/api/m2m/v1/session/login", name="login").respond(
            json={"sessionToken": SESSION}
        )
        yield router


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def ts(sleep: FakeSleep) -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async(
        "thingspace",
        **SETTINGS,
        activation_service_plan="M2MSHR5GB",
        activation_zip_code="98801",
    ) as connector:
        connector.plugin.http.sleep = sleep
        yield connector


def devices_route(api: respx.MockRouter, *answers: httpx.Response) -> respx.Route:
    return api.post("/api/m2m/v1/devices/actions/list", name="devices").mock(
        side_effect=list(answers)
    )


def one_device(record: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"hasMoreData": False, "devices": [record]})


# -- settings ------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = ThingSpaceConnector.settings_model.model_validate(
        {key: value for key, value in SETTINGS.items() if key != "rate_limit"}
    )
    assert settings.base_url == BASE
    assert settings.rate_limit == 1.0
    assert settings.activation_service_plan is None
    assert settings.activation_zip_code is None
    assert sorted(ThingSpaceConnector.settings_model.secret_fields()) == [
        "app_key",
        "app_secret",
        "password",
        "proxy",  # a common setting: a proxy URL may carry credentials
    ]


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("activation_zip_code", "9880", "5-digit ZIP"),
        ("activation_zip_code", "98801-1234", "5-digit ZIP"),
        ("account_name", "  ", "must not be empty"),
    ],
)
def test_bad_settings_are_refused(setting: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        cdp_sdk.connect("thingspace", **{**SETTINGS, setting: value})


def test_a_missing_setting_is_named() -> None:
    settings = {key: value for key, value in SETTINGS.items() if key != "account_name"}
    with pytest.raises(ConfigurationError, match="missing setting 'account_name'"):
        cdp_sdk.connect("thingspace", **settings)


# -- auth ---------------------------------------------------------------------------------


async def test_the_basic_pair_is_the_key_and_secret_as_given(api: respx.MockRouter) -> None:
    # Verizon: base64 of "key:secret"; no form-encoding of "+", "/" or "=" first.
    secret = "s3cr+t/with=signs"
    async with cdp_sdk.connect_async("thingspace", **{**SETTINGS, "app_secret": secret}) as ts:
        await ts.check()
    pair = base64.b64encode(f"{APP_KEY}:{secret}".encode()).decode()
    assert api["oauth"].calls[0].request.headers["Authorization"] == f"Basic {pair}"


async def test_both_tokens_are_fetched_once_and_sent_on_every_call(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = devices_route(api, one_device(device()), one_device(device()))

    await ts.subscription(ICCID)
    await ts.subscription(ICCID)

    oauth = api["oauth"].calls
    assert len(oauth) == 1
    token_call = oauth[0].request
    pair = base64.b64encode(f"{APP_KEY}:{APP_SECRET}".encode()).decode()
    assert token_call.headers["Authorization"] == f"Basic {pair}"
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_call.content.decode()) == {"grant_type": ["client_credentials"]}
    [login] = api["login"].calls
    assert login.request.headers["Authorization"] == f"Bearer {OAUTH_TOKEN}"
    assert login.request.headers["Content-Type"] == "application/json"
    assert "VZ-M2M-Token" not in login.request.headers
    assert body_of(login) == {"username": USERNAME, "password": PASSWORD}
    for call in route.calls:
        assert call.request.headers["Authorization"] == f"Bearer {OAUTH_TOKEN}"
        assert call.request.headers["VZ-M2M-Token"] == SESSION


async def test_check_logs_in_with_both_credentials(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    await ts.check()
    assert [call.request.url.path for call in api.calls] == [
        "/api/ts/v1/oauth2/token",
        "/api/m2m/v1/session/login",
    ]


async def test_an_expired_session_logs_in_again_once(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    expired = m2m_error("UnifiedWebService.REQUEST_FAILED.SessionToken.Expired", "expired")
    api["login"].mock(
        side_effect=[
            httpx.Response(200, json={"sessionToken": SESSION}),
            httpx.Response(200, json={"sessionToken": "second-session"}),
        ]
    )
    route = devices_route(api, one_device(device()), expired, one_device(device()))

    await ts.subscription(ICCID)
    sim = await ts.subscription(ICCID)

    assert sim.iccid == ICCID
    assert api["login"].call_count == 2
    assert api["oauth"].call_count == 1
    assert route.call_count == 3  # the refused call was sent again with the new session
    assert route.calls[-1].request.headers["VZ-M2M-Token"] == "second-session"


async def test_an_invalid_session_is_not_a_reason_to_log_in_again(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    devices_route(api, m2m_error("UnifiedWebService.INPUT_INVALID.SessionToken.Invalid"))
    with pytest.raises(AuthenticationError) as caught:
        await ts.subscription(ICCID)
    assert caught.value.vendor_code == "INPUT_INVALID.SessionToken.Invalid"
    assert api["login"].call_count == 1


async def test_a_session_expired_twice_raises(api: respx.MockRouter, ts: AsyncConnector) -> None:
    expired = m2m_error("UnifiedWebService.REQUEST_FAILED.SessionToken.Expired")
    devices_route(api, expired, expired)
    with pytest.raises(AuthenticationError) as caught:
        await ts.subscription(ICCID)
    assert caught.value.vendor_code == "REQUEST_FAILED.SessionToken.Expired"
    assert api["login"].call_count == 2


async def test_a_gateway_401_renews_the_oauth_token(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api["oauth"].mock(
        side_effect=[
            httpx.Response(200, json={"access_token": OAUTH_TOKEN, "expires_in": 3600}),
            httpx.Response(200, json={"access_token": "renewed", "expires_in": 3600}),
        ]
    )
    route = devices_route(api, fault("900901", "Invalid Credentials"), one_device(device()))

    await ts.subscription(ICCID)

    assert api["oauth"].call_count == 2
    assert api["login"].call_count == 1  # the session is kept
    assert route.calls[-1].request.headers["Authorization"] == "Bearer renewed"


@pytest.mark.parametrize(
    ("code", "message"), [("900901", "Invalid Credentials"), ("900902", "Missing Credentials")]
)
async def test_a_gateway_fault_that_persists_is_an_authentication_error(
    api: respx.MockRouter, ts: AsyncConnector, code: str, message: str
) -> None:
    api.post("/api/m2m/v1/devices/actions/list").mock(return_value=fault(code, message))
    with pytest.raises(AuthenticationError, match=message) as caught:
        await ts.subscription(ICCID)
    assert caught.value.vendor_code == code
    assert caught.value.status_code == 401


async def test_failed_session_logins_stop_after_two(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api["login"].mock(return_value=m2m_error("UnifiedWebService.REQUEST_FAILED.UnexpectedError"))
    route = devices_route(api)

    for _ in range(2):
        with pytest.raises(AuthenticationError, match="login refused"):
            await ts.subscription(ICCID)
    for _ in range(3):
        with pytest.raises(AuthenticationError, match="no further login"):
            await ts.subscription(ICCID)

    assert api["login"].call_count == 2  # five failures would lock the user
    assert route.call_count == 0


async def test_secrets_stay_out_of_errors_and_logs(
    api: respx.MockRouter, ts: AsyncConnector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api["login"].mock(
        return_value=m2m_error(
            "UnifiedWebService.REQUEST_FAILED.UnexpectedError", f"bad {PASSWORD}"
        )
    )
    with pytest.raises(AuthenticationError) as caught:
        await ts.check()
    text = caplog.text + str(caught.value) + repr(caught.value)
    for secret in (APP_KEY, APP_SECRET, PASSWORD):
        assert secret not in text


# -- subscriptions ------------------------------------------------------------------------


async def test_listing_pages_by_largest_device_id_seen(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = devices_route(
        api,
        httpx.Response(
            202,
            json={"hasMoreData": True, "devices": [device()], "largestDeviceIdSeen": 7001},
        ),
        httpx.Response(200, json={"hasMoreData": False, "devices": [device(OTHER)]}),
    )

    sims = [sim async for sim in ts.subscriptions()]

    assert [sim.iccid for sim in sims] == [ICCID, OTHER]
    assert [body_of(call) for call in route.calls] == [
        {"accountName": ACCOUNT, "largestDeviceIdSeen": 0},
        {"accountName": ACCOUNT, "largestDeviceIdSeen": 7001},
    ]
    assert all(call.request.method == "POST" for call in route.calls)


async def test_http_202_alone_means_more_devices(api: respx.MockRouter, ts: AsyncConnector) -> None:
    route = devices_route(
        api,
        httpx.Response(202, json={"devices": [device()], "largestDeviceIdSeen": 12}),
        httpx.Response(200, json={"hasMoreData": False, "devices": [device(OTHER)]}),
    )
    sims = [sim async for sim in ts.subscriptions()]
    assert len(sims) == 2
    assert route.call_count == 2


async def test_an_empty_page_that_claims_more_without_moving_on_raises(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    # The empty page repeats the largest id seen: the next request would be the same one.
    devices_route(
        api,
        httpx.Response(
            202, json={"hasMoreData": True, "devices": [device()], "largestDeviceIdSeen": 3}
        ),
        httpx.Response(202, json={"hasMoreData": True, "devices": [], "largestDeviceIdSeen": 3}),
    )
    seen: list[str] = []

    async def drain() -> None:
        async for sim in ts.subscriptions():
            seen.append(sim.iccid)

    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        await drain()
    assert seen == [ICCID]


async def test_an_empty_page_that_claims_more_devices_is_followed(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    # Verizon's end signal decides, not the empty page: an answer that moves the largest
    # id seen on and says more devices wait is followed to the end.
    route = devices_route(
        api,
        httpx.Response(
            202, json={"hasMoreData": True, "devices": [device()], "largestDeviceIdSeen": 3}
        ),
        httpx.Response(202, json={"hasMoreData": True, "devices": [], "largestDeviceIdSeen": 9}),
        httpx.Response(200, json={"hasMoreData": False, "devices": [device(OTHER)]}),
    )
    sims = [sim.iccid async for sim in ts.subscriptions()]
    assert sims == [ICCID, OTHER]
    sent = [json.loads(call.request.content)["largestDeviceIdSeen"] for call in route.calls]
    assert sent == [0, 3, 9]


async def test_a_device_listed_twice_raises_naming_the_endpoint(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    # Page 2 moves the largest id on but serves the first device again, in its 19-digit
    # form: the ICCID is the natural key, whatever the form.
    devices_route(
        api,
        httpx.Response(
            202, json={"hasMoreData": True, "devices": [device()], "largestDeviceIdSeen": 3}
        ),
        httpx.Response(
            200, json={"hasMoreData": False, "devices": [device(OTHER), device(ICCID_19)]}
        ),
    )
    with pytest.raises(UnexpectedResponseError, match="POST /api/m2m/v1/devices/actions/list"):
        [sim async for sim in ts.subscriptions()]


async def test_a_deactivated_filter_asks_verizon_for_that_state(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    # currentState filters the device list (AccountDeviceListRequest [SDK]).
    route = devices_route(api, one_device(device(state="deactive")))
    sims = [sim async for sim in ts.subscriptions(status="deactivated")]
    assert [sim.status for sim in sims] == [SimStatus.DEACTIVATED]
    assert [body_of(call) for call in route.calls] == [
        {"accountName": ACCOUNT, "largestDeviceIdSeen": 0, "currentState": "deactive"}
    ]


@pytest.mark.parametrize("status", ["active", "suspended", "inventory", "unknown"])
async def test_a_status_with_transitional_states_is_filtered_after_a_full_listing(
    api: respx.MockRouter, ts: AsyncConnector, status: str
) -> None:
    # Those statuses also stand for "pending ..." states, whose REST spelling the docs do
    # not give: the whole list is read and the records are filtered here.
    records = [
        device(state="active"),
        device(OTHER, state="pending deactivation"),
        device("89148000000800784267", state="suspend"),
        device("89148000000800784275", state="pending activation"),
        device("89148000000800784283", state="pending account update"),
    ]
    route = devices_route(api, httpx.Response(200, json={"hasMoreData": False, "devices": records}))
    sims = [sim async for sim in ts.subscriptions(status=status)]
    assert [body_of(call) for call in route.calls] == [
        {"accountName": ACCOUNT, "largestDeviceIdSeen": 0}
    ]
    expected = {
        "active": ["active", "pending deactivation"],
        "suspended": ["suspend"],
        "inventory": ["pending activation"],
        "unknown": ["pending account update"],
    }[status]
    assert [sim.status_raw for sim in sims] == expected


@pytest.mark.parametrize("status", ["retired", "test", "ready"])
async def test_a_status_no_verizon_state_maps_to_asks_nothing(
    api: respx.MockRouter, ts: AsyncConnector, status: str
) -> None:
    route = devices_route(api, one_device(device()))
    assert [sim async for sim in ts.subscriptions(status=status)] == []
    assert route.call_count == 0


async def test_more_devices_without_a_largest_id_raises(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    devices_route(api, httpx.Response(202, json={"hasMoreData": True, "devices": [device()]}))
    with pytest.raises(UnexpectedResponseError, match="no largestDeviceIdSeen"):
        [sim async for sim in ts.subscriptions()]


async def test_an_empty_account_is_an_empty_listing(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    devices_route(api, httpx.Response(200, json={"hasMoreData": False, "devices": []}))
    assert [sim async for sim in ts.subscriptions()] == []


async def test_devices_without_an_iccid_are_left_out(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    cdma = device(deviceIds=[{"id": "A100003685E561", "kind": "meid"}])
    devices_route(
        api, httpx.Response(200, json={"hasMoreData": False, "devices": [cdma, device()]})
    )
    assert [sim.iccid async for sim in ts.subscriptions()] == [ICCID]


async def test_a_malformed_device_raises_naming_the_endpoint(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    broken = device(carrierInformations=[{"carrierName": "Verizon Wireless"}])
    devices_route(api, httpx.Response(200, json={"hasMoreData": False, "devices": [broken]}))
    with pytest.raises(UnexpectedResponseError, match="POST /api/m2m/v1/devices/actions/list"):
        [sim async for sim in ts.subscriptions()]


async def test_lookup_accepts_both_iccid_forms(api: respx.MockRouter, ts: AsyncConnector) -> None:
    route = devices_route(api, one_device(device()), one_device(device(ICCID_19)))

    first = await ts.subscription(ICCID_19)  # the user gives 19 digits
    second = await ts.subscription(ICCID)  # the platform answers 19 digits

    assert first.iccid == second.iccid == ICCID
    for call in route.calls:
        assert body_of(call) == {
            "accountName": ACCOUNT,
            "deviceId": {"id": ICCID, "kind": "iccid"},
        }


@pytest.mark.parametrize(
    "answer", [{"hasMoreData": False, "devices": []}, {"devices": [device(OTHER)]}, {}]
)
async def test_an_unknown_iccid_is_not_found(
    api: respx.MockRouter, ts: AsyncConnector, answer: dict[str, Any]
) -> None:
    devices_route(api, httpx.Response(200, json=answer))
    with pytest.raises(NotFoundError):
        await ts.subscription(ICCID)


async def test_an_unknown_account_is_not_found(api: respx.MockRouter, ts: AsyncConnector) -> None:
    devices_route(api, m2m_error("UnifiedWebService.REQUEST_FAILED.AccountNotFound", "no account"))
    with pytest.raises(NotFoundError, match="no account") as caught:
        [sim async for sim in ts.subscriptions()]
    assert caught.value.vendor_code == "REQUEST_FAILED.AccountNotFound"
    assert caught.value.status_code == 400


async def test_a_lookup_is_retried_after_a_server_error(
    api: respx.MockRouter, ts: AsyncConnector, sleep: FakeSleep
) -> None:
    route = devices_route(api, httpx.Response(502), one_device(device()))
    assert (await ts.subscription(ICCID)).iccid == ICCID
    assert route.call_count == 2


async def test_listing_is_retried_after_a_server_error(
    api: respx.MockRouter, ts: AsyncConnector, sleep: FakeSleep
) -> None:
    route = devices_route(api, httpx.Response(503), one_device(device()))
    assert [sim.iccid async for sim in ts.subscriptions()] == [ICCID]
    assert route.call_count == 2
    assert len(sleep.calls) == 1


# -- status changes -----------------------------------------------------------------------


def action(api: respx.MockRouter, name: str) -> respx.Route:
    return api.post(f"/api/m2m/v1/devices/actions/{name}", name=name).respond(
        json={"requestId": REQUEST_ID}
    )


@pytest.mark.parametrize(
    ("state", "target", "endpoint", "extra"),
    [
        ("active", SimStatus.SUSPENDED, "suspend", {}),
        ("suspend", SimStatus.ACTIVE, "restore", {}),
        ("active", SimStatus.DEACTIVATED, "deactivate", {"reasonCode": "FF"}),
        (
            "deactive",
            SimStatus.ACTIVE,
            "activate",
            {"servicePlan": "M2MSHR5GB", "mdnZipCode": "98801"},
        ),
        (
            "pre-active",
            SimStatus.ACTIVE,
            "activate",
            {"servicePlan": "M2MSHR5GB", "mdnZipCode": "98801"},
        ),
    ],
)
async def test_status_changes_use_the_action_of_the_current_state(
    api: respx.MockRouter,
    ts: AsyncConnector,
    state: str,
    target: SimStatus,
    endpoint: str,
    extra: dict[str, str],
) -> None:
    devices_route(api, one_device(device(state=state)))
    route = action(api, endpoint)

    change = await ts.change_status(ICCID_19, target)

    assert change.state == "pending"
    assert change.request_id == REQUEST_ID
    assert change.requested is target
    assert change.iccid == ICCID
    [call] = route.calls
    assert body_of(call) == {
        "devices": [{"deviceIds": [{"id": ICCID, "kind": "iccid"}]}],
        "accountName": ACCOUNT,
        **extra,
    }


@pytest.mark.parametrize(
    ("state", "target"),
    [
        ("suspend", SimStatus.DEACTIVATED),
        ("deactive", SimStatus.SUSPENDED),
        ("active", SimStatus.ACTIVE),
        ("pending suspend", SimStatus.ACTIVE),
        ("pending account update", SimStatus.SUSPENDED),
    ],
)
async def test_an_illegal_move_is_a_conflict_before_any_write(
    api: respx.MockRouter, ts: AsyncConnector, state: str, target: SimStatus
) -> None:
    devices_route(api, one_device(device(state=state)))
    writes = [action(api, name) for name in ("activate", "deactivate", "suspend", "restore")]
    with pytest.raises(ConflictError, match=f"state {state!r}"):
        await ts.change_status(ICCID, target)
    assert all(route.call_count == 0 for route in writes)


@pytest.mark.parametrize(
    "settings",
    [{}, {"activation_service_plan": "M2MSHR5GB"}, {"activation_zip_code": "98801"}],
)
async def test_activation_without_its_extras_is_refused_before_any_request(
    settings: dict[str, str],
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        async with cdp_sdk.connect_async("thingspace", **SETTINGS, **settings) as ts:
            with pytest.raises(InvalidRequestError, match="activation_"):
                await ts.change_status(ICCID, SimStatus.ACTIVE)
        assert api.calls.call_count == 0


@pytest.mark.parametrize("target", [SimStatus.READY, SimStatus.TEST, SimStatus.INVENTORY])
async def test_statuses_without_an_action_are_refused_before_any_request(
    target: SimStatus,
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        async with cdp_sdk.connect_async("thingspace", **SETTINGS) as ts:
            with pytest.raises(InvalidRequestError, match="no action"):
                await ts.change_status(ICCID, target)
            with pytest.raises(InvalidRequestError):
                await ts.change_status(ICCID, SimStatus.RETIRED, confirm_irreversible=True)
        assert api.calls.call_count == 0


async def test_a_refused_action_is_an_invalid_request(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    devices_route(api, one_device(device(state="deactive")))
    api.post("/api/m2m/v1/devices/actions/activate").mock(
        return_value=m2m_error("UnifiedWebService.REQUEST_FAILED.UnexpectedError", "bad plan")
    )
    with pytest.raises(InvalidRequestError, match="bad plan") as caught:
        await ts.change_status(ICCID, SimStatus.ACTIVE)
    assert caught.value.vendor_code == "REQUEST_FAILED.UnexpectedError"


async def test_a_failing_write_is_not_retried(api: respx.MockRouter, ts: AsyncConnector) -> None:
    devices_route(api, one_device(device()))
    route = api.post("/api/m2m/v1/devices/actions/suspend").respond(500)
    with pytest.raises(TransientError):
        await ts.change_status(ICCID, SimStatus.SUSPENDED)
    assert route.call_count == 1


async def test_an_answer_without_request_id_is_unexpected(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    devices_route(api, one_device(device()))
    api.post("/api/m2m/v1/devices/actions/suspend").respond(json={"status": "ok"})
    with pytest.raises(UnexpectedResponseError, match="requestId"):
        await ts.change_status(ICCID, SimStatus.SUSPENDED)


@pytest.mark.parametrize(
    ("status", "state"), [("Pending", "pending"), ("Success", "done"), ("Failed", "failed")]
)
async def test_request_status_without_a_callback(
    api: respx.MockRouter, ts: AsyncConnector, status: str, state: str
) -> None:
    route = api.get(f"/api/m2m/v1/accounts/{ACCOUNT}/requests/{REQUEST_ID}/status").respond(
        json={"requestId": REQUEST_ID, "status": status}
    )
    plugin = ts.plugin
    assert isinstance(plugin, ThingSpaceConnector)
    assert await plugin.request_status(REQUEST_ID) == state
    assert route.call_count == 1


async def test_request_status_needs_an_id(ts: AsyncConnector) -> None:
    plugin = ts.plugin
    assert isinstance(plugin, ThingSpaceConnector)
    with pytest.raises(InvalidRequestError, match="request_id"):
        await plugin.request_status(" ")


# -- custom fields ------------------------------------------------------------------------


async def test_update_tags_writes_custom_fields(api: respx.MockRouter, ts: AsyncConnector) -> None:
    route = api.put("/api/m2m/v1/devices/actions/customFields").respond(
        json={"requestId": REQUEST_ID}
    )

    await ts.update_tags(ICCID_19, {"CustomField1": "West Region"}, remove=["CustomField2"])

    [call] = route.calls
    assert body_of(call) == {
        "accountName": ACCOUNT,
        "customFieldsToUpdate": [
            {"key": "CustomField1", "value": "West Region"},
            {"key": "CustomField2", "value": ""},
        ],
        "devices": [{"deviceIds": [{"id": ICCID, "kind": "iccid"}]}],
    }


@pytest.mark.parametrize(
    ("tags", "remove"),
    [({"region": "west"}, ()), ({}, ("CustomField6",)), ({"CustomField1": "it's"}, ())],
)
async def test_bad_tags_are_refused_before_any_request(
    tags: dict[str, str], remove: tuple[str, ...]
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        async with cdp_sdk.connect_async("thingspace", **SETTINGS) as ts:
            with pytest.raises(InvalidRequestError):
                await ts.update_tags(ICCID, tags, remove=remove)
        assert api.calls.call_count == 0


async def test_an_invalid_custom_field_name_from_verizon(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api.put("/api/m2m/v1/devices/actions/customFields").mock(
        return_value=m2m_error("DeviceService.INPUT_INVALID.CustomField.InvalidName", "bad name")
    )
    with pytest.raises(InvalidRequestError) as caught:
        await ts.update_tags(ICCID, {"CustomField1": "x"})
    assert caught.value.vendor_code == "INPUT_INVALID.CustomField.InvalidName"


async def test_tags_are_read_from_the_slots(api: respx.MockRouter, ts: AsyncConnector) -> None:
    fields = [{"key": "CustomField2", "value": "SuperVend"}, {"key": "CustomField1", "value": ""}]
    devices_route(api, one_device(device(customFields=fields)))
    sim = await ts.subscription(ICCID)
    assert sim.tags == (Tag(key="CustomField2", value="SuperVend"),)


# -- tariffs ------------------------------------------------------------------------------


async def test_service_plans(api: respx.MockRouter, ts: AsyncConnector) -> None:
    route = api.get(f"/api/m2m/v1/plans/{ACCOUNT}").respond(
        json=[
            {
                "name": "2MSHR5GB",
                "code": "M2MSHR5GB",
                "sizeKb": 0,
                "carrierServicePlanCode": "84638",
            },
            {
                "name": "TNTL200TALK",
                "code": "NTL200TALK",
                "sizeKb": 0,
                "carrierServicePlanCode": "74644",
            },
        ]
    )
    plans = [plan async for plan in ts.tariffs()]
    assert [(plan.id, plan.name) for plan in plans] == [
        ("M2MSHR5GB", "2MSHR5GB"),
        ("NTL200TALK", "TNTL200TALK"),
    ]
    assert route.call_count == 1


# -- usage --------------------------------------------------------------------------------


def usage_day(day: str, volume: int, mo: int = 0, mt: int = 0) -> dict[str, Any]:
    return {
        "bytesUsed": volume,
        "extendedAttributes": [
            {"key": "MoSms", "value": str(mo)},
            {"key": "MtSms", "value": str(mt)},
        ],
        "servicePlan": "service plan name",
        "smsUsed": mo + mt,
        "source": "Usage Feed",
        "timestamp": f"{day}T00:00:00Z",
    }


async def test_daily_usage_pages_by_moving_earliest(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = api.post("/api/m2m/v1/devices/usage/actions/list").mock(
        side_effect=[
            httpx.Response(
                202,
                json={
                    "hasMoreData": True,
                    "usageHistory": [
                        usage_day("2023-10-25", 105369575),
                        usage_day("2023-10-26", 64963283, 2),
                    ],
                },
            ),
            # the next page starts at the last day seen, which it repeats
            httpx.Response(
                200,
                json={
                    "hasMoreData": False,
                    "usageHistory": [
                        usage_day("2023-10-26", 64963283, 2),
                        usage_day("2023-10-27", 54895113),
                    ],
                },
            ),
        ]
    )
    start = datetime(2023, 10, 25, 12, tzinfo=UTC)
    records = [record async for record in ts.usage(ICCID_19, start=start, end=date(2023, 10, 28))]

    data = [r for r in records if r.bearer is Bearer.DATA]
    assert [(r.start.day, r.quantity) for r in data if r.start] == [
        (25, 105369575),
        (26, 64963283),
        (27, 54895113),
    ]
    sms_mo = [r.quantity for r in records if r.bearer is Bearer.SMS and r.direction == "mo"]
    assert sms_mo == [0, 2, 0]
    assert all(r.iccid == ICCID and r.granularity is Granularity.DAY for r in records)
    assert [body_of(call) for call in route.calls] == [
        {
            "deviceId": {"id": ICCID, "kind": "iccid"},
            "earliest": "2023-10-25T00:00:00Z",  # the day's record is stamped at midnight
            "latest": "2023-10-28T00:00:00Z",
        },
        {
            "deviceId": {"id": ICCID, "kind": "iccid"},
            "earliest": "2023-10-26T00:00:00Z",
            "latest": "2023-10-28T00:00:00Z",
        },
    ]


async def test_usage_reaches_back_30_days_by_default(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = api.post("/api/m2m/v1/devices/usage/actions/list").respond(
        json={"hasMoreData": False, "usageHistory": []}
    )
    assert [r async for r in ts.usage(ICCID, end=date(2024, 6, 15))] == []
    assert body_of(route.calls[0])["earliest"] == "2024-05-16T00:00:00Z"
    assert body_of(route.calls[0])["latest"] == "2024-06-15T00:00:00Z"


async def test_usage_outside_the_range_is_dropped(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api.post("/api/m2m/v1/devices/usage/actions/list").respond(
        json={
            "hasMoreData": False,
            "usageHistory": [
                usage_day("2024-04-30", 1),
                usage_day("2024-05-01", 2),
                usage_day("2024-05-02", 3),
            ],
        }
    )
    records = [r async for r in ts.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 2))]
    assert {r.quantity for r in records if r.bearer is Bearer.DATA} == {2}


async def test_usage_in_the_second_documented_shape(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api.post("/api/m2m/v1/devices/usage/actions/list").respond(
        json={
            "hasMoreData": False,
            "deviceId": {"id": ICCID, "kind": "iccid"},
            "usageHistory": [
                {
                    "bytesUsed": 3072,
                    "servicePlan": "service plan name",
                    "smsUsed": 0,
                    "moSMS": 0,
                    "mtSMS": 0,
                    "source": "Raw Usage",
                    "eventDateTime": "2021-08-15T00:00:00Z",
                }
            ],
        }
    )
    records = [r async for r in ts.usage(ICCID, start=date(2021, 8, 15), end=date(2021, 8, 16))]
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, None, 3072),
        (Bearer.SMS, "mo", 0),
        (Bearer.SMS, "mt", 0),
    ]


async def test_a_usage_page_full_of_one_instant_is_a_loop(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    same = {
        "hasMoreData": True,
        "usageHistory": [usage_day("2024-05-01", 1), usage_day("2024-05-01", 2)],
    }
    api.post("/api/m2m/v1/devices/usage/actions/list").mock(
        side_effect=[httpx.Response(202, json=same), httpx.Response(202, json=same)]
    )
    with pytest.raises(UnexpectedResponseError, match="repeated"):
        [r async for r in ts.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 3))]


async def test_an_empty_usage_page_that_claims_more_raises(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api.post("/api/m2m/v1/devices/usage/actions/list").respond(
        202, json={"hasMoreData": True, "usageHistory": []}
    )
    with pytest.raises(UnexpectedResponseError, match="empty page says more records follow"):
        [r async for r in ts.usage(ICCID, start=date(2024, 5, 1), end=date(2024, 5, 3))]


def connection(moment: str, event: str, volume: int) -> dict[str, Any]:
    return {
        "connectionEventAttributes": [
            {"key": "BytesUsed", "value": str(volume)},
            {"key": "Event", "value": event},
        ],
        "extendedAttributes": [],
        "occurredAt": moment,
    }


async def test_sessions_come_from_the_connection_history(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = api.post("/api/m2m/v1/devices/connections/actions/listHistory").mock(
        side_effect=[
            httpx.Response(
                202,
                json={
                    "connectionHistory": [connection("2015-12-17T14:12:36-05:00", "Start", 0)],
                    "hasMoreData": True,
                },
            ),
            httpx.Response(
                200,
                json={
                    "connectionHistory": [
                        connection("2015-12-17T14:12:36-05:00", "Start", 0),  # repeated: dropped
                        connection("2015-12-19T01:20:00-05:00", "Stop", 419863234),
                    ],
                    "hasMoreData": False,
                },
            ),
        ]
    )
    [session] = [
        r
        async for r in ts.usage(
            ICCID, start=date(2015, 12, 1), end=date(2016, 1, 1), granularity="session"
        )
    ]
    assert session.granularity is Granularity.SESSION
    assert session.quantity == 419863234
    assert session.start == datetime(2015, 12, 17, 19, 12, 36, tzinfo=UTC)
    assert session.end == datetime(2015, 12, 19, 6, 20, tzinfo=UTC)
    assert body_of(route.calls[1])["earliest"] == "2015-12-17T19:12:36Z"
    assert body_of(route.calls[0]) == {
        "deviceId": {"id": ICCID, "kind": "iccid"},
        "earliest": "2015-12-01T00:00:00Z",
        "latest": "2016-01-01T00:00:00Z",
    }


async def test_usage_is_per_sim_and_by_day_or_session(ts: AsyncConnector) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        with pytest.raises(InvalidRequestError, match="per SIM"):
            ts.usage()
        with pytest.raises(InvalidRequestError, match="day, session"):
            ts.usage(ICCID, granularity="month")
        with pytest.raises(InvalidRequestError, match="per SIM"):
            ts.audit_events()
        assert api.calls.call_count == 0


# -- audit events -------------------------------------------------------------------------


def provisioning(moment: str, event_type: str) -> dict[str, Any]:
    return {
        "occurredAt": moment,
        "status": "Success",
        "eventBy": "Harry Potter",
        "eventType": event_type,
        "servicePlan": "Tablet5GB",
        "mdn": "",
        "msisdn": "15086303371",
        "extendedAttributes": [],
    }


async def test_provisioning_history_pages_and_maps(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = api.post("/api/m2m/v1/devices/history/actions/list").mock(
        side_effect=[
            httpx.Response(
                202,
                json=[
                    {
                        "provisioningHistory": [
                            provisioning("2015-12-17T13:56:13-05:00", "Activation Confirmed")
                        ],
                        "hasMoreData": True,
                    }
                ],
            ),
            httpx.Response(
                200,
                json={
                    "provisioningHistory": [
                        provisioning("2015-12-17T13:56:13-05:00", "Activation Confirmed"),
                        provisioning("2015-12-18T09:00:00-05:00", "Suspend"),
                        provisioning("2016-02-01T09:00:00-05:00", "Restore"),  # after end
                    ],
                    "hasMoreData": False,
                },
            ),
        ]
    )
    events = [
        event
        async for event in ts.audit_events(ICCID, start=date(2015, 12, 1), end=date(2016, 1, 1))
    ]
    assert [(e.kind, e.new_value, e.actor) for e in events] == [
        (AuditKind.STATUS_CHANGE, "Activation Confirmed", "Harry Potter"),
        (AuditKind.STATUS_CHANGE, "Suspend", "Harry Potter"),
    ]
    assert body_of(route.calls[1])["earliest"] == "2015-12-17T18:56:13Z"


async def test_history_reaches_back_a_year_and_keeps_the_window_half_open(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = api.post("/api/m2m/v1/devices/history/actions/list").respond(
        json={
            "provisioningHistory": [
                provisioning("2023-06-15T23:59:59Z", "Activate"),  # before start
                provisioning("2023-06-16T00:00:00", "Suspend"),  # at start (UTC: no offset)
                provisioning("2024-06-14T23:59:59Z", "Restore"),
                provisioning("2024-06-15T00:00:00Z", "Deactivate"),  # at end: excluded
            ],
            "hasMoreData": False,
        }
    )
    events = [e async for e in ts.audit_events(ICCID, end=date(2024, 6, 15))]
    assert [e.new_value for e in events] == ["Suspend", "Restore"]
    assert body_of(route.calls[0])["earliest"] == "2023-06-16T00:00:00Z"


async def test_history_pages_move_from_a_time_without_offset(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    route = api.post("/api/m2m/v1/devices/history/actions/list").mock(
        side_effect=[
            httpx.Response(
                202,
                json={
                    "provisioningHistory": [provisioning("2024-01-02T03:04:05", "Suspend")],
                    "hasMoreData": True,
                },
            ),
            httpx.Response(200, json={"provisioningHistory": [], "hasMoreData": False}),
        ]
    )
    [event] = [
        e async for e in ts.audit_events(ICCID, start=date(2024, 1, 1), end=date(2024, 2, 1))
    ]
    assert event.new_value == "Suspend"
    assert body_of(route.calls[1])["earliest"] == "2024-01-02T03:04:05Z"


async def test_malformed_provisioning_history_raises(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api.post("/api/m2m/v1/devices/history/actions/list").respond(json={"events": []})
    with pytest.raises(UnexpectedResponseError, match="provisioningHistory"):
        [e async for e in ts.audit_events(ICCID)]


# -- other errors -------------------------------------------------------------------------


async def test_a_gateway_403_is_permission_denied(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    xml = (
        '<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>404</am:code>'
        "<am:type>Status report</am:type><am:message>Not Found</am:message>"
        "<am:description>The requested resource is not available.</am:description></am:fault>"
    )
    devices_route(api, httpx.Response(403, content=xml))
    with pytest.raises(PermissionDeniedError):
        await ts.subscription(ICCID)


async def test_a_wrong_path_fault_is_an_invalid_request(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    body = {
        "fault": {
            "code": "900906",
            "message": "No matching resource found in the API for the given request",
        }
    }
    devices_route(api, httpx.Response(400, json=body))
    with pytest.raises(InvalidRequestError, match="No matching resource") as caught:
        await ts.subscription(ICCID)
    assert caught.value.vendor_code == "900906"


async def test_the_oauth_refusal_is_an_authentication_error(
    api: respx.MockRouter, ts: AsyncConnector
) -> None:
    api["oauth"].mock(
        return_value=httpx.Response(
            400,
            json={
                "error_description": "Missing grant_type parameter value",
                "error": "invalid_request",
            },
        )
    )
    with pytest.raises(AuthenticationError, match="Missing grant_type") as caught:
        await ts.check()
    assert caught.value.vendor_code == "invalid_request"
    assert api["login"].call_count == 0


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"fault": {"code": True, "message": "m"}}, None, "m"),
        ({"fault": {"code": 900901, "description": "d"}}, "900901", "d"),
        ({"errorCode": "", "errorMessage": "m"}, None, "m"),
        ({"errorCode": "Svc.B", "errorMessage": False}, "B", None),
        ({"error": "invalid_client"}, "invalid_client", None),
        ({"message": "x"}, None, None),
        (["errorCode"], None, None),
    ],
)
def test_error_bodies(body: Any, code: str | None, message: str | None) -> None:
    vendor = parse_error_body(body)
    assert (vendor.code, vendor.message) == (code, message)
