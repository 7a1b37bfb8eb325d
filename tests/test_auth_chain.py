"""Token flows that refresh on a vendor's own condition, stop after failed logins, send a
bare token in a header of their choice, and the chain of two flows on every request.

The platform here is a two-token API in the shape of Verizon ThingSpace: an OAuth token
from ``POST /oauth/token`` (Basic client credentials), then a session token from
``POST /session/login`` (JSON credentials, the OAuth token required), and every call
needs ``Authorization: Bearer <oauth>`` and ``X-Session: <session>``. An expired session
answers ``400 {"errorCode": "Svc.REQUEST_FAILED.SessionToken.Expired"}``; a stale OAuth
token answers 401 with a gateway fault.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.errors import AuthenticationError, InvalidRequestError, TransientError
from cdp_sdk.http import (
    CallRecord,
    ChainedLoginAuth,
    HttpClient,
    JsonLoginAuth,
    LoginTokenAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    unauthorized,
)

BASE_URL = "https://api.example.test"
T0 = 1_700_000_000.0
EXPIRED = "Svc.REQUEST_FAILED.SessionToken.Expired"

MakeClient = Callable[..., HttpClient]


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def session_expired(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("errorCode") == EXPIRED


class TwoTokenApi:
    """The platform: counts logins per step and checks both tokens on every call."""

    def __init__(self) -> None:
        self.oauth: str | None = None
        self.session: str | None = None
        self.requests: list[httpx.Request] = []
        self.headers: list[tuple[str, dict[str, str]]] = []  # (path, headers) as sent
        self.oauth_logins = 0
        self.session_logins = 0
        self.password = "pw-0123456789"
        self.refuse_oauth = False
        self.stale_bearer_on_login = 0  # session logins to answer with a gateway 401

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.headers.append((request.url.path, dict(request.headers)))
        await asyncio.sleep(0)
        if request.url.path == "/oauth/token":
            self.oauth_logins += 1
            if self.refuse_oauth:
                return httpx.Response(401, json={"error": "invalid_client"})
            self.oauth = f"oauth-{self.oauth_logins}"
            return httpx.Response(200, json={"access_token": self.oauth, "expires_in": 3600})
        bearer_ok = self.oauth is not None and (
            request.headers.get("Authorization") == f"Bearer {self.oauth}"
        )
        if request.url.path == "/session/login":
            self.session_logins += 1
            if self.stale_bearer_on_login:
                self.stale_bearer_on_login -= 1
                return gateway_fault()
            if not bearer_ok:
                return gateway_fault()
            if json.loads(request.content) != {"username": "ops", "password": self.password}:
                return httpx.Response(
                    400,
                    json={"errorCode": "Svc.INPUT_INVALID.Password.Invalid", "errorMessage": "no"},
                )
            self.session = f"session-{self.session_logins}"
            return httpx.Response(200, json={"sessionToken": self.session})
        if not bearer_ok:
            return gateway_fault()
        if self.session is None or request.headers.get("X-Session") != self.session:
            return httpx.Response(400, json={"errorCode": EXPIRED, "errorMessage": "expired"})
        return httpx.Response(200, json={"ok": True})

    @property
    def api_calls(self) -> list[dict[str, str]]:
        """The headers of each API call as it was sent (a resend reuses the request)."""
        return [h for path, h in self.headers if path not in {"/oauth/token", "/session/login"}]


def gateway_fault() -> httpx.Response:
    return httpx.Response(401, json={"fault": {"code": "900901", "message": "Invalid Credentials"}})


def oauth_flow(clock: FakeClock) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        "/oauth/token", "app-key", SecretStr("app-secret-abcdef"), clock=clock
    )


def session_flow(clock: FakeClock, **kwargs: Any) -> JsonLoginAuth:
    kwargs.setdefault("refresh_on", session_expired)
    return JsonLoginAuth(
        "/session/login",
        {"username": "ops", "password": SecretStr("pw-0123456789")},
        token_field="sessionToken",
        header="X-Session",
        scheme=None,
        default_lifetime=None,
        clock=clock,
        **kwargs,
    )


def chain(clock: FakeClock | None = None, **session: Any) -> ChainedLoginAuth:
    clock = clock or FakeClock()
    return ChainedLoginAuth(oauth_flow(clock), session_flow(clock, **session))


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    made: list[HttpClient] = []

    def factory(auth: httpx.Auth, handler: Any, **kwargs: Any) -> HttpClient:
        kwargs.setdefault("sleep", no_sleep)
        kwargs.setdefault("retry", RetryPolicy(max_retries=0))
        client = HttpClient(
            connector="two",
            base_url=BASE_URL,
            auth=auth,
            transport=httpx.MockTransport(handler),
            **kwargs,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


# -- a single flow: header, lifetime, refresh condition, failed logins ---------------------


async def test_bare_token_in_a_named_header_without_expiry(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    api.oauth = "fixed"
    clock = FakeClock()
    flow = session_flow(clock)
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        request.headers["Authorization"] = "Bearer fixed"
        return await api.handler(request)

    client = make_client(flow, handler)
    await client.request("GET", "/v1/things")
    clock.now += 30 * 86_400  # no client-side expiry: kept until the platform refuses it
    await client.request("GET", "/v1/things")

    assert [r.url.path for r in seen] == ["/session/login", "/v1/things", "/v1/things"]
    assert seen[1].headers["X-Session"] == "session-1"
    assert seen[2].headers["X-Session"] == "session-1"
    assert flow.token_valid


async def test_a_vendor_refresh_condition_relogs_in_once_and_resends(
    make_client: MakeClient,
) -> None:
    api = TwoTokenApi()
    auth = chain()
    client = make_client(auth, api.handler)
    await client.request("GET", "/v1/things")
    api.session = "revoked-by-the-platform"

    response = await client.request("GET", "/v1/things")

    assert response.json() == {"ok": True}
    assert (api.oauth_logins, api.session_logins) == (1, 2)
    assert [h["x-session"] for h in api.api_calls] == [
        "session-1",
        "session-1",
        "session-2",
    ]


async def test_an_answer_the_condition_does_not_match_is_not_a_refresh(
    make_client: MakeClient,
) -> None:
    # refresh_on replaces the 401 default: a 401 alone does not log in again.
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/session/login":
            return httpx.Response(200, json={"sessionToken": "s"})
        return httpx.Response(401, json={"errorCode": "Svc.OTHER"})

    client = make_client(session_flow(FakeClock()), handler)
    with pytest.raises(AuthenticationError):
        await client.request("GET", "/v1/things")
    assert calls == ["/session/login", "/v1/things"]


@pytest.mark.parametrize("chained", [True, False], ids=["chain", "single"])
async def test_a_streamed_answer_is_read_before_the_refresh_condition(
    make_client: MakeClient, chained: bool
) -> None:
    # A transport that streams its answers: refresh_on reads a body nobody read yet.
    api = TwoTokenApi()
    api.oauth = "fixed"
    refused = [True]

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/things" and refused.pop() if refused else False:
            body = json.dumps({"errorCode": EXPIRED}).encode()
            return httpx.Response(400, stream=httpx.ByteStream(body))
        if not chained:
            request.headers["Authorization"] = "Bearer fixed"
        return await api.handler(request)

    auth = chain() if chained else session_flow(FakeClock())
    client = make_client(auth, handler)
    response = await client.request("GET", "/v1/things")

    assert response.json() == {"ok": True}
    assert api.session_logins == 2


def test_the_default_refresh_condition_is_a_401() -> None:
    assert unauthorized(httpx.Response(401))
    assert not unauthorized(httpx.Response(400))
    assert not unauthorized(httpx.Response(403))


async def test_failed_logins_stop_after_the_limit(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    api.password = "changed-on-the-platform"
    auth = chain(max_failed_logins=2)
    client = make_client(auth, api.handler)

    for _ in range(2):
        with pytest.raises(AuthenticationError, match="login refused") as caught:
            await client.request("GET", "/v1/things")
        assert caught.value.vendor_code == "Svc.INPUT_INVALID.Password.Invalid"
    for _ in range(3):  # no third login: the account could be locked
        with pytest.raises(AuthenticationError, match="2 logins in a row failed") as caught:
            await client.request("GET", "/v1/things")
        assert caught.value.status_code == 400
    with pytest.raises(AuthenticationError, match="no further login"):
        await client.authenticate()

    assert api.session_logins == 2
    assert api.api_calls == []


async def test_a_successful_login_resets_the_failed_count(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    api.password = "wrong-for-now"
    clock = FakeClock()
    session = session_flow(clock, max_failed_logins=2)
    client = make_client(ChainedLoginAuth(oauth_flow(clock), session), api.handler)

    with pytest.raises(AuthenticationError):
        await client.request("GET", "/v1/things")
    assert session.failed_logins == 1
    api.password = "pw-0123456789"
    await client.request("GET", "/v1/things")
    assert session.failed_logins == 0
    api.session = None  # expired; the next login is the first of a new run
    await client.request("GET", "/v1/things")
    assert api.session_logins == 3


async def test_a_login_cut_off_counts_as_failed(make_client: MakeClient) -> None:
    api = TwoTokenApi()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/session/login":
            api.session_logins += 1
            raise httpx.ReadTimeout("no answer", request=request)
        return await api.handler(request)

    session = session_flow(FakeClock(), max_failed_logins=2)
    client = make_client(ChainedLoginAuth(oauth_flow(FakeClock()), session), handler)
    for _ in range(2):
        with pytest.raises(TransientError):
            await client.request("GET", "/v1/things")
    with pytest.raises(AuthenticationError, match="2 logins in a row failed"):
        await client.request("GET", "/v1/things")
    assert api.session_logins == 2
    assert session.failed_logins == 2


async def test_a_single_flow_counts_failed_logins_too(make_client: MakeClient) -> None:
    logins = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal logins
        logins += 1
        return httpx.Response(401, json={"message": "bad key"})

    flow = OAuth2ClientCredentials(
        "/oauth/token", "k", SecretStr("s-0123456789"), max_failed_logins=1
    )
    client = make_client(flow, handler)
    with pytest.raises(AuthenticationError, match="bad key"):
        await client.request("GET", "/v1/things")
    with pytest.raises(AuthenticationError, match="1 logins in a row failed"):
        await client.request("GET", "/v1/things")
    assert logins == 1


@pytest.mark.parametrize("when", ["first login", "login after a 401"])
async def test_a_single_flow_counts_a_login_cut_off(make_client: MakeClient, when: str) -> None:
    logins = 0
    refuse_calls = when == "login after a 401"

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal logins
        if request.url.path == "/oauth/token":
            logins += 1
            if logins == 1 and refuse_calls:
                return httpx.Response(200, json={"access_token": "t1", "expires_in": 3600})
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(401 if refuse_calls else 200, json={})

    flow = OAuth2ClientCredentials(
        "/oauth/token", "k", SecretStr("s-0123456789"), max_failed_logins=1
    )
    client = make_client(flow, handler)
    with pytest.raises(TransientError):
        await client.request("GET", "/v1/things")
    assert flow.failed_logins == 1
    with pytest.raises(AuthenticationError, match="1 logins in a row failed"):
        await client.request("GET", "/v1/things")
    assert logins == (2 if when == "login after a 401" else 1)


def test_max_failed_logins_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        session_flow(FakeClock(), max_failed_logins=0)


# -- the chain ----------------------------------------------------------------------------


async def test_both_tokens_go_on_every_call_and_log_in_once(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    client = make_client(chain(), api.handler)

    for _ in range(3):
        assert (await client.request("GET", "/v1/things")).json() == {"ok": True}

    (oauth_path, oauth_login), (session_path, session_login), *calls = api.headers
    assert oauth_path == "/oauth/token"
    assert oauth_login["authorization"].startswith("Basic ")
    assert session_path == "/session/login"
    assert session_login["authorization"] == "Bearer oauth-1"  # the earlier token
    assert "x-session" not in session_login
    assert [(h["authorization"], h["x-session"]) for _, h in calls] == [
        ("Bearer oauth-1", "session-1")
    ] * 3


async def test_a_401_renews_the_oauth_token_and_keeps_the_session(
    make_client: MakeClient,
) -> None:
    api = TwoTokenApi()
    client = make_client(chain(), api.handler)
    await client.request("GET", "/v1/things")
    api.oauth = "rotated"  # the cached bearer is refused from now on

    await client.request("GET", "/v1/things")

    assert (api.oauth_logins, api.session_logins) == (2, 1)
    assert [h["authorization"] for h in api.api_calls] == [
        "Bearer oauth-1",
        "Bearer oauth-1",
        "Bearer oauth-2",
    ]


async def test_both_stale_tokens_are_renewed_in_one_request(make_client: MakeClient) -> None:
    # After an idle hour: the bearer is refused first, then the session.
    api = TwoTokenApi()
    client = make_client(chain(), api.handler)
    await client.request("GET", "/v1/things")
    api.oauth, api.session = "rotated", None

    response = await client.request("GET", "/v1/things")

    assert response.json() == {"ok": True}
    assert (api.oauth_logins, api.session_logins) == (2, 2)
    assert [(h["authorization"], h["x-session"]) for h in api.api_calls] == [
        ("Bearer oauth-1", "session-1"),
        ("Bearer oauth-1", "session-1"),
        ("Bearer oauth-2", "session-1"),
        ("Bearer oauth-2", "session-2"),
    ]


async def test_the_oauth_token_is_renewed_before_it_expires(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    clock = FakeClock()
    client = make_client(chain(clock), api.handler)
    await client.request("GET", "/v1/things")
    clock.now += 3600 - 30  # inside the refresh margin

    await client.request("GET", "/v1/things")

    assert (api.oauth_logins, api.session_logins) == (2, 1)
    assert len(api.api_calls) == 2


async def test_a_stale_bearer_on_the_session_login_is_renewed_once(
    make_client: MakeClient,
) -> None:
    api = TwoTokenApi()
    api.stale_bearer_on_login = 1
    client = make_client(chain(), api.handler)

    await client.request("GET", "/v1/things")

    assert (api.oauth_logins, api.session_logins) == (2, 2)
    assert api.api_calls[0]["authorization"] == "Bearer oauth-2"


async def test_a_second_stale_bearer_on_the_session_login_is_not_retried_again(
    make_client: MakeClient,
) -> None:
    api = TwoTokenApi()
    api.stale_bearer_on_login = 5
    client = make_client(chain(), api.handler)

    with pytest.raises(AuthenticationError) as caught:
        await client.request("GET", "/v1/things")

    assert caught.value.vendor_code == "900901"
    assert (api.oauth_logins, api.session_logins) == (2, 2)
    assert api.api_calls == []


async def test_a_refused_oauth_login_stops_before_the_session_login(
    make_client: MakeClient,
) -> None:
    api = TwoTokenApi()
    api.refuse_oauth = True
    client = make_client(chain(), api.handler)

    with pytest.raises(AuthenticationError):
        await client.request("GET", "/v1/things")
    assert (api.oauth_logins, api.session_logins) == (1, 0)


async def test_a_session_still_refused_after_a_new_login_raises(make_client: MakeClient) -> None:
    api = TwoTokenApi()

    async def handler(request: httpx.Request) -> httpx.Response:
        response = await api.handler(request)
        if request.url.path == "/v1/things":
            return httpx.Response(400, json={"errorCode": EXPIRED, "errorMessage": "expired"})
        return response

    client = make_client(chain(), handler)
    with pytest.raises(InvalidRequestError, match="expired"):
        await client.request("GET", "/v1/things")
    assert (api.oauth_logins, api.session_logins) == (1, 2)
    assert len(api.api_calls) == 2


async def test_concurrent_requests_share_one_login_per_flow(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    client = make_client(chain(), api.handler)

    await asyncio.gather(*(client.request("GET", "/v1/things") for _ in range(8)))

    assert (api.oauth_logins, api.session_logins) == (1, 1)
    assert len(api.api_calls) == 8


async def test_concurrent_expired_sessions_share_one_new_login(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    client = make_client(chain(), api.handler)
    await client.request("GET", "/v1/things")
    api.session = None

    await asyncio.gather(*(client.request("GET", "/v1/things") for _ in range(6)))

    assert (api.oauth_logins, api.session_logins) == (1, 2)


async def test_a_session_login_refused_with_429_waits_and_is_not_a_failed_login(
    make_client: MakeClient,
) -> None:
    # A 429 was not processed: it waits Retry-After, once for every waiting task, and does
    # not count towards the lockout limit (two 429s with a limit of two still log in).
    api = TwoTokenApi()
    limited = 2

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal limited
        if request.url.path == "/session/login" and limited:
            limited -= 1
            api.session_logins += 1
            return httpx.Response(429, headers={"Retry-After": "3"})
        return await api.handler(request)

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    session = session_flow(FakeClock(), max_failed_logins=2)
    client = make_client(
        ChainedLoginAuth(oauth_flow(FakeClock()), session),
        handler,
        retry=RetryPolicy(max_retries=3),
        sleep=sleep,
    )
    await asyncio.gather(*(client.request("GET", "/v1/things") for _ in range(5)))

    assert waits == [3.0, 3.0]
    assert (api.oauth_logins, api.session_logins) == (1, 3)
    assert session.failed_logins == 0
    assert len(api.api_calls) == 5


async def test_a_session_login_failing_on_the_server_counts_towards_the_limit(
    make_client: MakeClient,
) -> None:
    # A 5xx may have reached the platform: waited for and retried, but counted, so a
    # limit of two stops after one retry.
    api = TwoTokenApi()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/session/login":
            api.session_logins += 1
            return httpx.Response(503, json={"errorMessage": "busy"})
        return await api.handler(request)

    session = session_flow(FakeClock(), max_failed_logins=2)
    client = make_client(
        ChainedLoginAuth(oauth_flow(FakeClock()), session), handler, retry=RetryPolicy()
    )
    with pytest.raises(AuthenticationError, match="2 logins in a row failed"):
        await client.request("GET", "/v1/things")
    assert api.session_logins == 2
    assert session.failed_logins == 2
    assert api.api_calls == []


async def test_authenticate_logs_every_flow_in_in_order(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    client = make_client(chain(), api.handler)

    assert await client.authenticate() is True
    assert [r.url.path for r in api.requests] == ["/oauth/token", "/session/login"]
    assert await client.authenticate(force=False) is True  # both still valid: no call
    assert len(api.requests) == 2
    await client.authenticate()  # forced: both again
    assert (api.oauth_logins, api.session_logins) == (2, 2)


async def test_chain_logins_are_journaled(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    client = make_client(chain(), api.handler)
    records: list[CallRecord] = []
    client.add_observer(records.append)

    await client.request("GET", "/v1/things")

    assert [(r.method, r.path, r.status_code) for r in records] == [
        ("POST", "/oauth/token", 200),
        ("POST", "/session/login", 200),
        ("GET", "/v1/things", 200),
    ]


async def test_chain_token_valid_and_invalidate(make_client: MakeClient) -> None:
    api = TwoTokenApi()
    auth = chain()
    client = make_client(auth, api.handler)
    assert not auth.token_valid
    await client.request("GET", "/v1/things")
    assert auth.token_valid
    auth.invalidate()
    assert not auth.token_valid
    await client.request("GET", "/v1/things")
    assert (api.oauth_logins, api.session_logins) == (2, 2)


async def test_an_unbound_chain_refuses_clearly() -> None:
    auth = chain()
    flow = auth.async_auth_flow(httpx.Request("GET", BASE_URL))
    with pytest.raises(RuntimeError, match="bind the chain"):
        await anext(flow)


def test_a_chain_needs_a_flow() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ChainedLoginAuth()


def test_flows_of_a_chain_are_login_token_flows() -> None:
    auth = chain()
    assert all(isinstance(flow, LoginTokenAuth) for flow in auth.flows)
    with pytest.raises(RuntimeError, match="AsyncClient"):
        next(auth.sync_auth_flow(httpx.Request("GET", BASE_URL)))
