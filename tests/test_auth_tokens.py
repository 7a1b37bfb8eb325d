"""Token flows as a user meets them: what is masked, what a login carries (timeout, agent,
URL), the error after too many failed logins, waits after a refused login, lifetimes."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.errors import AuthenticationError, CdpError, UnexpectedResponseError
from cdp_sdk.http import (
    ChainedLoginAuth,
    ErrorTable,
    HttpClient,
    JsonLoginAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    Token,
    call_timeout,
    jwt_expiry,
)

BASE_URL = "https://api.example.test"
T0 = 1_700_000_000.0

Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def no_sleep(seconds: float) -> None:
    return None


def client_for(
    made: list[HttpClient], auth: httpx.Auth, handler: Handler, **kwargs: Any
) -> HttpClient:
    kwargs.setdefault("sleep", no_sleep)
    kwargs.setdefault("retry", RetryPolicy(max_retries=0))
    kwargs.setdefault("base_url", BASE_URL)
    client = HttpClient(
        connector="toy", auth=auth, transport=httpx.MockTransport(handler), **kwargs
    )
    made.append(client)
    return client


def secret_text() -> str:
    return "tk" + secrets.token_hex(12)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cdp_sdk"):
        logging.getLogger("cdp_sdk").info("answer: %s", text)
    return caplog.records[-1].getMessage()


# -- what a token masks -------------------------------------------------------------------


def test_a_bearer_token_is_masked_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    value = secret_text()
    token = Token.bearer(value, expires_at=None)
    assert token.headers["Authorization"].get_secret_value() == f"Bearer {value}"
    assert value not in logged(caplog, f"token={value}")


def test_a_basic_credential_is_masked_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    pair = base64.b64encode(secret_text().encode()).decode("ascii")
    Token.of({"Authorization": f"Basic {pair}"}, expires_at=None)
    assert pair not in logged(caplog, f"pair {pair}")


def test_a_bare_token_header_is_masked_whole(caplog: pytest.LogCaptureFixture) -> None:
    value = secret_text()
    Token.of({"VZ-M2M-Token": value}, expires_at=None)
    assert value not in logged(caplog, f"session {value} expired")


# -- what a login carries -----------------------------------------------------------------


def _emnify_like(logins: list[httpx.Request], calls: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authenticate"):
            logins.append(request)
            return httpx.Response(200, json={"auth_token": "tok-123456789"})
        calls.append(request)
        return httpx.Response(200, json={"ok": True})

    return handler


async def test_a_login_takes_the_timeout_of_the_call_that_needs_it(
    http_clients: list[HttpClient],
) -> None:
    logins: list[httpx.Request] = []
    calls: list[httpx.Request] = []
    auth = JsonLoginAuth(
        "/authenticate", {"key": SecretStr("k-0123456789")}, token_field="auth_token"
    )
    client = client_for(http_clients, auth, _emnify_like(logins, calls), timeout=30.0)
    with call_timeout(4.5):
        await client.request("GET", "/sims")
    assert calls[0].extensions["timeout"]["read"] == 4.5
    assert logins[0].extensions["timeout"] == calls[0].extensions["timeout"]
    assert logins[0].headers["User-Agent"] == calls[0].headers["User-Agent"]


class OwnLogin(JsonLoginAuth):
    """A plugin's flow that gives its login call its own timeout and user agent."""

    def login_request(self, request: httpx.Request) -> httpx.Request:
        login = super().login_request(request)
        login.extensions["timeout"] = {"connect": 1.0, "read": 2.0, "write": 3.0, "pool": 4.0}
        login.headers["User-Agent"] = "vendor-login/1.0"
        return login


async def test_a_login_keeps_its_own_timeout_and_user_agent(http_clients: list[HttpClient]) -> None:
    logins: list[httpx.Request] = []
    calls: list[httpx.Request] = []
    auth = OwnLogin("/authenticate", {"key": "k-0123456789"}, token_field="auth_token")
    client = client_for(http_clients, auth, _emnify_like(logins, calls))
    with call_timeout(9.0):
        await client.request("GET", "/sims")
    assert logins[0].extensions["timeout"]["read"] == 2.0
    assert logins[0].headers["User-Agent"] == "vendor-login/1.0"
    assert calls[0].headers["User-Agent"].startswith("cdp-sdk/")


def test_a_login_path_goes_under_the_bound_base_url() -> None:
    auth = JsonLoginAuth("/XAuth/token", {}, token_field="t")
    auth.bind(connector="toy", errors=ErrorTable(), base_url="https://api.example.test/MAX/")
    request = httpx.Request("GET", "https://other.example.test/v1/sims")
    assert auth.endpoint(request, "/XAuth/token") == httpx.URL(
        "https://api.example.test/MAX/XAuth/token"
    )
    assert auth.endpoint(request, "XAuth/token") == httpx.URL(
        "https://api.example.test/MAX/XAuth/token"
    )


async def test_an_unbound_oauth_flow_logs_in_at_the_host_of_the_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "at-0123456789", "expires_in": 60})
        return httpx.Response(200, json={})

    auth = OAuth2ClientCredentials("/oauth/token", "client", SecretStr("s-0123456789"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as raw:
        await raw.get("https://iot.example.test/api/v1/sims")
    assert str(seen[0].url) == "https://iot.example.test/oauth/token"
    assert seen[1].headers["Authorization"] == "Bearer at-0123456789"


def test_token_flows_refuse_a_sync_client() -> None:
    auth = JsonLoginAuth("/authenticate", {}, token_field="t")
    with (
        httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200)), auth=auth
        ) as raw,
        pytest.raises(RuntimeError, match=r"^cdp-sdk token flows run on httpx\.AsyncClient$"),
    ):
        raw.get("https://api.example.test/sims")


async def test_an_unbound_chain_says_to_bind_it() -> None:
    chain = ChainedLoginAuth(JsonLoginAuth("/authenticate", {}, token_field="t"))
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport, auth=chain) as raw:
        with pytest.raises(RuntimeError, match=r"^bind the chain to an HttpClient before use$"):
            await raw.get("https://api.example.test/sims")


def test_a_chain_needs_a_flow() -> None:
    with pytest.raises(ValueError, match=r"^a chain needs at least one login flow$"):
        ChainedLoginAuth()


# -- failed logins ------------------------------------------------------------------------


def _refusing(logins: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/authenticate":
            logins.append(request)
            return httpx.Response(
                401,
                json={"errorCode": "AUTH_1001", "errorMessage": "invalid application token"},
                headers={"X-Request-Id": f"req-{len(logins)}"},
            )
        return httpx.Response(200, json={})

    return handler


async def test_the_lockout_error_carries_the_last_refusal(http_clients: list[HttpClient]) -> None:
    logins: list[httpx.Request] = []
    auth = JsonLoginAuth(
        "/authenticate", {"key": "k-0123456789"}, token_field="t", max_failed_logins=2
    )
    client = client_for(http_clients, auth, _refusing(logins))
    refusals = []
    for _ in range(2):
        with pytest.raises(AuthenticationError) as caught:
            await client.request("GET", "/sims")
        refusals.append(caught.value)
    assert refusals[-1].request_id == "req-2"
    with pytest.raises(AuthenticationError) as caught:
        await client.request("GET", "/sims")
    error = caught.value
    assert len(logins) == 2  # no third login
    assert error.message == (
        "2 logins in a row failed, so no further login is attempted (repeated failed logins "
        "can lock the account); check the credentials and connect again: " + refusals[-1].message
    )
    assert error.connector == "toy"
    assert error.status_code == 401
    assert error.vendor_code == "AUTH_1001"
    assert error.request_id == "req-2"


async def test_logins_cut_off_count_towards_the_lockout(http_clients: list[HttpClient]) -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ReadError("connection reset", request=request)

    auth = JsonLoginAuth(
        "/authenticate", {"key": "k-0123456789"}, token_field="t", max_failed_logins=2
    )
    client = client_for(http_clients, auth, handler)
    for _ in range(2):
        with pytest.raises(CdpError) as cut:
            await client.request("GET", "/sims")
        assert not isinstance(cut.value, AuthenticationError)
    with pytest.raises(AuthenticationError) as caught:
        await client.request("GET", "/sims")
    assert len(attempts) == 2
    assert caught.value.message == (
        "2 logins in a row failed, so no further login is attempted (repeated failed logins "
        "can lock the account); check the credentials and connect again"
    )
    assert caught.value.status_code is None
    assert caught.value.vendor_code is None
    assert caught.value.request_id is None


async def test_a_refused_login_names_its_request_id(http_clients: list[HttpClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "forbidden"}, headers={"X-Request-Id": "r-9"})

    auth = JsonLoginAuth("/authenticate", {"key": "k-0123456789"}, token_field="t")
    client = client_for(http_clients, auth, handler)
    with pytest.raises(AuthenticationError, match=r"^login refused: ") as caught:
        await client.request("GET", "/sims")
    assert caught.value.request_id == "r-9"
    assert caught.value.status_code == 403


async def test_an_unreadable_login_answer_names_the_reason(http_clients: list[HttpClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"other": 1}, headers={"X-Request-Id": "r-10"})

    auth = JsonLoginAuth("/authenticate", {"key": "k-0123456789"}, token_field="auth_token")
    client = client_for(http_clients, auth, handler)
    with pytest.raises(UnexpectedResponseError) as caught:
        await client.request("GET", "/sims")
    assert caught.value.message == "login response could not be read (KeyError)"
    assert caught.value.request_id == "r-10"
    assert caught.value.status_code == 200


# -- a login refused with 429 -------------------------------------------------------------


def _busy_once(logins: list[httpx.Request], path: str = "/authenticate") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(path):
            logins.append(request)
            if len(logins) == 1:
                return httpx.Response(429, headers={"Retry-After": "2"})
            return httpx.Response(
                200, json={"auth_token": "tok-123456789", "access_token": "a" * 12}
            )
        return httpx.Response(200, json={"ok": True})

    return handler


async def test_a_login_refused_with_429_is_tried_again_within_one_retry(
    http_clients: list[HttpClient], caplog: pytest.LogCaptureFixture
) -> None:
    logins: list[httpx.Request] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    auth = JsonLoginAuth("/authenticate", {"key": "k-0123456789"}, token_field="auth_token")
    client = client_for(
        http_clients, auth, _busy_once(logins), retry=RetryPolicy(max_retries=1), sleep=sleep
    )
    with caplog.at_level(logging.WARNING, logger="cdp_sdk"):
        response = await client.request("GET", "/sims")
    assert response.json() == {"ok": True}
    assert len(logins) == 2
    assert waits == [2.0]
    assert (
        "toy: the login was refused (429); every call waits 2.0 s for the next one"
        in caplog.messages
    )


async def test_authenticate_waits_out_a_429_on_the_login(http_clients: list[HttpClient]) -> None:
    logins: list[httpx.Request] = []
    auth = JsonLoginAuth("/authenticate", {"key": "k-0123456789"}, token_field="auth_token")
    client = client_for(http_clients, auth, _busy_once(logins), retry=RetryPolicy(max_retries=1))
    assert await client.authenticate() is True
    assert len(logins) == 2
    assert auth.token_valid


async def test_a_chained_flow_waits_out_a_429_and_logs_in_under_the_base_path(
    http_clients: list[HttpClient], caplog: pytest.LogCaptureFixture
) -> None:
    logins: list[httpx.Request] = []
    flow = OAuth2ClientCredentials("/oauth/token", "client", SecretStr("s-0123456789"))
    client = client_for(
        http_clients,
        ChainedLoginAuth(flow),
        _busy_once(logins, "/oauth/token"),
        base_url=f"{BASE_URL}/prefix",
        retry=RetryPolicy(max_retries=1),
    )
    with caplog.at_level(logging.WARNING, logger="cdp_sdk"):
        await client.request("GET", "/things")
    assert [request.url.path for request in logins] == ["/prefix/oauth/token"] * 2
    # the flow itself waited (not a resend of the whole call)
    assert caplog.messages == [
        "toy: the login was refused (429); every call waits 2.0 s for the next one"
    ]


# -- login() and lifetimes ----------------------------------------------------------------


def _sender(handler: Handler) -> Callable[[httpx.Request], Any]:
    async def send(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        response.request = request
        return response

    return send


async def test_login_replaces_a_valid_token_unless_told_otherwise() -> None:
    logins: list[httpx.Request] = []
    send = _sender(_emnify_like(logins, []))
    auth = JsonLoginAuth("/authenticate", {"key": "k-0123456789"}, token_field="auth_token")
    await auth.login(send, f"{BASE_URL}/sims")
    await auth.login(send, f"{BASE_URL}/sims", force=False)
    assert len(logins) == 1
    await auth.login(send, f"{BASE_URL}/sims")
    assert len(logins) == 2


async def test_a_chain_login_logs_in_only_the_flows_without_a_token() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"access_token": "at-0123456789", "expires_in": 3600})

    flow = OAuth2ClientCredentials("/oauth/token", "client", SecretStr("s-0123456789"))
    chain = ChainedLoginAuth(flow)
    send = _sender(handler)
    await chain.login(send, f"{BASE_URL}/sims", force=False)
    assert len(calls) == 1
    assert chain.token_valid
    await chain.login(send, f"{BASE_URL}/sims", force=False)
    assert len(calls) == 1
    await chain.login(send, f"{BASE_URL}/sims")
    assert len(calls) == 2


def _at(auth: JsonLoginAuth | OAuth2ClientCredentials, clock: FakeClock, now: float) -> bool:
    clock.now = now
    return auth.token_valid


async def test_a_json_login_token_without_expiry_lasts_an_hour_less_a_minute() -> None:
    clock = FakeClock()
    auth = JsonLoginAuth("/authenticate", {"key": "k"}, token_field="auth_token", clock=clock)
    await auth.login(_sender(_emnify_like([], [])), f"{BASE_URL}/sims")
    assert _at(auth, clock, T0 + 3539.5)
    assert not _at(auth, clock, T0 + 3540.0)


async def test_an_oauth_token_without_expires_in_lasts_an_hour_less_the_margin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "at-0123456789"})

    clock = FakeClock()
    auth = OAuth2ClientCredentials("/t", "c", SecretStr("s-0123456789"), clock=clock)
    await auth.login(_sender(handler), f"{BASE_URL}/sims")
    assert _at(auth, clock, T0 + 3539.5)
    assert not _at(auth, clock, T0 + 3540.0)
    margin = OAuth2ClientCredentials(
        "/t", "c", SecretStr("s-0123456789"), clock=clock, refresh_margin=10.0
    )
    clock.now = T0
    await margin.login(_sender(handler), f"{BASE_URL}/sims")
    assert _at(margin, clock, T0 + 3589.5)
    assert not _at(margin, clock, T0 + 3590.0)


async def test_an_oauth_flow_refreshes_on_its_own_condition(http_clients: list[HttpClient]) -> None:
    logins: list[httpx.Request] = []
    api: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            logins.append(request)
            return httpx.Response(200, json={"access_token": f"at-{len(logins):010d}"})
        api.append(request.headers.get("Authorization"))
        return httpx.Response(403 if len(api) == 1 else 200, json={})

    auth = OAuth2ClientCredentials(
        "/oauth/token",
        "c",
        SecretStr("s-0123456789"),
        refresh_on=lambda response: response.status_code == 403,
    )
    client = client_for(http_clients, auth, handler)
    await client.request("GET", "/sims")
    assert len(logins) == 2
    assert api == ["Bearer at-0000000001", "Bearer at-0000000002"]


@pytest.mark.parametrize("filler", range(24))
def test_a_jwt_expiry_is_read_whatever_the_payload_length(filler: int) -> None:
    claims = {"exp": 1_700_000_123, "sub": "x" * filler}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert jwt_expiry(f"eyJhbGciOiJub25lIn0.{payload}.") == 1_700_000_123.0


async def test_refresh_logins_cut_off_count_towards_the_lockout(
    http_clients: list[HttpClient],
) -> None:
    logins: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/authenticate":
            logins.append(request)
            if len(logins) > 1:
                raise httpx.ReadError("connection reset", request=request)
            return httpx.Response(200, json={"auth_token": "tok-123456789"})
        return httpx.Response(401, json={"message": "token revoked"})

    auth = JsonLoginAuth(
        "/authenticate", {"key": "k-0123456789"}, token_field="auth_token", max_failed_logins=2
    )
    client = client_for(http_clients, auth, handler)
    for _ in range(2):  # the platform refuses the token; each new login is cut off
        with pytest.raises(CdpError) as cut:
            await client.request("GET", "/sims")
        assert not isinstance(cut.value, AuthenticationError)
    with pytest.raises(AuthenticationError, match="2 logins in a row failed"):
        await client.request("GET", "/sims")
    assert len(logins) == 3
