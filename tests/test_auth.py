"""Tests of the authentication flows in ``cdp_sdk.http._auth`` driven through ``HttpClient``.

Every test talks to an ``httpx.MockTransport``; nothing leaves the process. Token flows get
an injected wall clock (:class:`FakeClock`) and HTTP retries an injected sleep, so no test
waits for real time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.errors import (
    AuthenticationError,
    RateLimitedError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http import (
    BasicAuth,
    CallRecord,
    HeaderAuth,
    HttpClient,
    JsonLoginAuth,
    LoginTokenAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    jwt_expiry,
)

BASE_URL = "https://api.example.test"
LOGIN_PATH = "/api/v1/authenticate"
APP_TOKEN = "app-token-5d41402abc4b2a76"
T0 = 1_700_000_000.0

SyncHandler = Callable[[httpx.Request], httpx.Response]
Handler = SyncHandler | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
MakeClient = Callable[..., HttpClient]


# -- helpers ----------------------------------------------------------------------------


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (``alg: none``) carrying ``claims``."""
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def valid_at(auth: LoginTokenAuth, clock: FakeClock, now: float) -> bool:
    """Whether ``auth`` holds a token it would still use at wall-clock time ``now``."""
    clock.now = now
    return auth.token_valid


async def yield_control(times: int = 3) -> None:
    """Let the other tasks run, so that concurrent requests really overlap."""
    for _ in range(times):
        await asyncio.sleep(0)


class FakeEmnify:
    """An emnify-style platform: ``POST /api/v1/authenticate`` trades the application token
    for ``{"auth_token": <jwt>}``; every other path needs ``Bearer <the latest token>``.
    """

    def __init__(
        self,
        *,
        lifetime: float | None = None,
        clock: FakeClock | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.lifetime = lifetime
        self.clock = clock or FakeClock()
        self.extra = extra or {}
        self.logins: list[httpx.Request] = []
        self.calls: list[tuple[str | None, int]] = []  # (Authorization, status) per API call
        self.current: str | None = None
        self.refuse_api = False

    def issue(self) -> str:
        claims: dict[str, Any] = {"sub": "application", "jti": f"login-{len(self.logins)}"}
        if self.lifetime is not None:
            claims["exp"] = int(self.clock() + self.lifetime)
        return make_jwt(claims)

    def revoke(self) -> None:
        """Invalidate the token on the platform side (the client still holds it)."""
        self.current = None

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await yield_control()
        if request.url.path == LOGIN_PATH:
            self.logins.append(request)
            await yield_control()
            if json.loads(request.content) != {"application_token": APP_TOKEN}:
                return httpx.Response(401, json={"error_code": 1401, "message": "bad token"})
            self.current = self.issue()
            return httpx.Response(200, json={"auth_token": self.current, **self.extra})
        authorization = request.headers.get("Authorization")
        ok = (
            not self.refuse_api
            and self.current is not None
            and authorization == f"Bearer {self.current}"
        )
        self.calls.append((authorization, 200 if ok else 401))
        if ok:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, json={"error_code": 1401, "message": "Unauthorized"})

    @property
    def statuses(self) -> list[int]:
        return [status for _, status in self.calls]


def emnify_auth(clock: FakeClock | None = None, **kwargs: Any) -> JsonLoginAuth:
    return JsonLoginAuth(
        LOGIN_PATH,
        {"application_token": SecretStr(APP_TOKEN)},
        token_field="auth_token",
        clock=clock or FakeClock(),
        **kwargs,
    )


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Build ``HttpClient`` objects on a mock transport and close them after the test."""
    made: list[HttpClient] = []

    def factory(auth: httpx.Auth | None, handler: Handler, **kwargs: Any) -> HttpClient:
        kwargs.setdefault("sleep", no_sleep)
        kwargs.setdefault("retry", RetryPolicy(max_retries=0))
        client = HttpClient(
            connector="toy",
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


def recording(
    responder: Callable[[httpx.Request], httpx.Response] | None = None,
) -> tuple[list[httpx.Request], SyncHandler]:
    """A handler that records every request and answers ``responder(request)`` (200 ``{}``)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responder(request) if responder else httpx.Response(200, json={})

    return seen, handler


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


# -- static credentials -------------------------------------------------------------------


async def test_basic_auth_sends_the_rfc7617_header(make_client: MakeClient) -> None:
    seen, handler = recording()
    client = make_client(BasicAuth("jasper-user", SecretStr("pa55:word-Ä")), handler)

    await client.request("GET", "/v1/echo")
    await client.request("GET", "/v1/echo")

    expected = "Basic " + base64.b64encode("jasper-user:pa55:word-Ä".encode()).decode()
    assert [r.headers["Authorization"] for r in seen] == [expected, expected]


async def test_header_auth_without_prefix_sets_the_named_header(make_client: MakeClient) -> None:
    seen, handler = recording()
    client = make_client(HeaderAuth("X-API-Key", SecretStr("key-0123456789abcdef")), handler)

    await client.request("GET", "/v1/echo")

    assert seen[0].headers["X-API-Key"] == "key-0123456789abcdef"
    assert "Authorization" not in seen[0].headers


async def test_header_auth_with_prefix(make_client: MakeClient) -> None:
    seen, handler = recording()
    auth = HeaderAuth("Authorization", SecretStr("key-0123456789abcdef"), prefix="Token ")
    client = make_client(auth, handler)

    await client.request("GET", "/v1/echo")

    assert seen[0].headers["Authorization"] == "Token key-0123456789abcdef"


@pytest.mark.parametrize(
    "auth",
    [None, BasicAuth("u", SecretStr("secret-pw")), HeaderAuth("X-Key", SecretStr("key-abcdef"))],
    ids=["none", "basic", "header"],
)
async def test_authenticate_returns_false_for_static_auth(
    make_client: MakeClient, auth: httpx.Auth | None
) -> None:
    seen, handler = recording()
    client = make_client(auth, handler)

    assert await client.authenticate() is False
    assert seen == []


# -- JSON login (emnify style) --------------------------------------------------------------


async def test_json_login_posts_the_credentials_then_sends_the_bearer_token(
    make_client: MakeClient,
) -> None:
    platform = FakeEmnify()
    auth = emnify_auth()
    client = make_client(auth, platform.handler)

    response = await client.request("GET", "/api/v1/endpoint")

    assert response.json() == {"ok": True}
    [login] = platform.logins
    assert login.method == "POST"
    assert str(login.url) == f"{BASE_URL}{LOGIN_PATH}"
    assert login.headers["Content-Type"] == "application/json"
    assert json.loads(login.content) == {"application_token": APP_TOKEN}
    assert "Authorization" not in login.headers
    assert platform.calls == [(f"Bearer {platform.current}", 200)]
    assert auth.logins == 1
    assert auth.token_valid


async def test_expiry_comes_from_the_jwt_exp_claim(make_client: MakeClient) -> None:
    clock = FakeClock(T0)
    platform = FakeEmnify(lifetime=600, clock=clock)  # exp = T0 + 600
    auth = emnify_auth(clock, default_lifetime=99_999, refresh_margin=60)
    client = make_client(auth, platform.handler)
    await client.request("GET", "/api/v1/endpoint")

    assert valid_at(auth, clock, T0 + 539.5)  # still more than refresh_margin before exp
    await client.request("GET", "/api/v1/endpoint")
    assert len(platform.logins) == 1

    assert not valid_at(auth, clock, T0 + 540)  # exp - refresh_margin
    await client.request("GET", "/api/v1/endpoint")
    assert len(platform.logins) == 2


async def test_expires_in_field_wins_over_the_jwt_claim(make_client: MakeClient) -> None:
    clock = FakeClock(T0)
    platform = FakeEmnify(lifetime=10_000, clock=clock, extra={"expires_in": 300})
    auth = emnify_auth(clock, expires_in_field="expires_in", refresh_margin=60)
    client = make_client(auth, platform.handler)
    await client.request("GET", "/api/v1/endpoint")

    assert valid_at(auth, clock, T0 + 239)
    assert not valid_at(auth, clock, T0 + 240)
    await client.request("GET", "/api/v1/endpoint")
    assert len(platform.logins) == 2


async def test_absent_expires_in_field_falls_back_to_the_jwt_claim(
    make_client: MakeClient,
) -> None:
    clock = FakeClock(T0)
    platform = FakeEmnify(lifetime=1000, clock=clock)
    auth = emnify_auth(clock, expires_in_field="expires_in", refresh_margin=0)
    client = make_client(auth, platform.handler)
    await client.request("GET", "/api/v1/endpoint")

    assert valid_at(auth, clock, T0 + 999)
    assert not valid_at(auth, clock, T0 + 1000)


async def test_opaque_token_gets_the_default_lifetime(make_client: MakeClient) -> None:
    clock = FakeClock(T0)
    _, handler = recording(
        lambda r: httpx.Response(200, json={"auth_token": "opaque-token-without-dots"})
    )
    auth = emnify_auth(clock, default_lifetime=900, refresh_margin=60)
    client = make_client(auth, handler)
    await client.request("GET", "/api/v1/endpoint")

    assert valid_at(auth, clock, T0 + 839)
    assert not valid_at(auth, clock, T0 + 840)


async def test_token_is_reused_across_sequential_requests(make_client: MakeClient) -> None:
    platform = FakeEmnify(lifetime=3600)
    client = make_client(emnify_auth(), platform.handler)

    for _ in range(10):
        await client.request("GET", "/api/v1/endpoint")

    assert len(platform.logins) == 1
    assert len(platform.calls) == 10
    assert {authorization for authorization, _ in platform.calls} == {f"Bearer {platform.current}"}
    assert platform.statuses == [200] * 10


async def test_token_is_refreshed_before_it_expires(make_client: MakeClient) -> None:
    clock = FakeClock(T0)
    platform = FakeEmnify(lifetime=3600, clock=clock)
    auth = emnify_auth(clock, refresh_margin=120)
    client = make_client(auth, platform.handler)
    await client.request("GET", "/api/v1/endpoint")
    first = platform.current

    clock.now = T0 + 3600 - 120  # the platform would still accept the old token
    await client.request("GET", "/api/v1/endpoint")

    assert len(platform.logins) == 2
    assert platform.current != first
    # The refresh happened before the call: the platform never answered 401.
    assert platform.calls == [(f"Bearer {first}", 200), (f"Bearer {platform.current}", 200)]


async def test_a_401_triggers_one_login_and_one_resend(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    auth = emnify_auth()
    client = make_client(auth, platform.handler)
    await client.request("GET", "/api/v1/endpoint")
    stale = platform.current
    platform.revoke()

    response = await client.request("GET", "/api/v1/endpoint")

    assert response.status_code == 200
    assert len(platform.logins) == 2
    assert platform.calls[1:] == [
        (f"Bearer {stale}", 401),
        (f"Bearer {platform.current}", 200),
    ]
    assert platform.current != stale


async def test_a_second_401_raises_without_looping(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    platform.refuse_api = True
    auth = emnify_auth()
    client = make_client(auth, platform.handler, retry=RetryPolicy(max_retries=3))

    with pytest.raises(AuthenticationError) as raised:
        await client.request("GET", "/api/v1/endpoint")

    assert raised.value.status_code == 401
    assert raised.value.connector == "toy"
    assert len(platform.logins) == 2  # the first login and exactly one re-login
    assert platform.statuses == [401, 401]  # the request and its single resend
    assert auth.logins == 2


async def test_a_401_on_a_post_is_resent_with_the_same_body(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    bodies: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != LOGIN_PATH:
            bodies.append(request.content)
        return await platform.handler(request)

    client = make_client(emnify_auth(), handler)
    await client.request("GET", "/api/v1/endpoint")
    platform.revoke()
    bodies.clear()

    await client.request("POST", "/api/v1/endpoint", json={"tags": "a,b"}, idempotent=False)

    assert bodies == [b'{"tags":"a,b"}', b'{"tags":"a,b"}']
    assert platform.statuses[-2:] == [401, 200]
    assert len(platform.logins) == 2


# -- single flight ---------------------------------------------------------------------


async def test_concurrent_requests_share_a_single_login(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    auth = emnify_auth()
    client = make_client(auth, platform.handler)

    responses = await asyncio.gather(
        *(client.request("GET", "/api/v1/endpoint") for _ in range(20))
    )

    assert [r.status_code for r in responses] == [200] * 20
    assert len(platform.logins) == 1
    assert auth.logins == 1
    assert platform.calls == [(f"Bearer {platform.current}", 200)] * 20


async def test_concurrent_401s_on_the_same_stale_token_share_one_login(
    make_client: MakeClient,
) -> None:
    platform = FakeEmnify()
    client = make_client(emnify_auth(), platform.handler)
    await client.request("GET", "/api/v1/endpoint")
    stale = platform.current
    platform.revoke()

    responses = await asyncio.gather(
        *(client.request("GET", "/api/v1/endpoint") for _ in range(20))
    )

    assert [r.status_code for r in responses] == [200] * 20
    assert len(platform.logins) == 2  # the warm-up login and a single re-login
    fresh = platform.current
    calls = platform.calls[1:]
    # All 20 requests really went out with the stale token before the re-login ...
    assert calls.count((f"Bearer {stale}", 401)) == 20
    # ... and each was resent once with the new one.
    assert calls.count((f"Bearer {fresh}", 200)) == 20
    assert len(calls) == 40


async def test_concurrent_tasks_after_proactive_expiry_share_one_login(
    make_client: MakeClient,
) -> None:
    clock = FakeClock(T0)
    platform = FakeEmnify(lifetime=3600, clock=clock)
    client = make_client(emnify_auth(clock), platform.handler)
    await client.request("GET", "/api/v1/endpoint")

    clock.now = T0 + 3590  # inside the refresh margin for everyone at once
    await asyncio.gather(*(client.request("GET", "/api/v1/endpoint") for _ in range(20)))

    assert len(platform.logins) == 2
    assert platform.statuses == [200] * 21


async def test_tokens_shorter_than_the_margin_still_give_a_single_login(
    make_client: MakeClient,
) -> None:
    # A token that is already inside the refresh margin when it arrives (short lifetime,
    # or a JWT ``exp`` read with a skewed clock) must not make every waiting task log in.
    platform = FakeEmnify(extra={"expires_in": 30})
    auth = emnify_auth(expires_in_field="expires_in", refresh_margin=60)
    client = make_client(auth, platform.handler)

    await asyncio.gather(*(client.request("GET", "/api/v1/endpoint") for _ in range(20)))

    assert len(platform.logins) == 1
    assert platform.statuses == [200] * 20


# -- failed logins ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "vendor_code", "reason"),
    [
        (401, {"error_code": 1401, "message": "Invalid application token"}, "1401", "Invalid"),
        (400, {"errorCode": "E400", "errorMessage": "bad app token"}, "E400", "bad app token"),
        (403, {"code": "FORBIDDEN", "message": "token disabled"}, "FORBIDDEN", "token disabled"),
        (404, {"code": "NO_APP", "message": "no such application"}, "NO_APP", "no such app"),
    ],
    ids=["401", "400", "403", "404"],
)
async def test_refused_login_raises_authentication_error(
    make_client: MakeClient, status: int, body: dict[str, Any], vendor_code: str, reason: str
) -> None:
    seen, handler = recording(lambda r: httpx.Response(status, json=body))
    client = make_client(emnify_auth(), handler, retry=RetryPolicy(max_retries=3))

    with pytest.raises(AuthenticationError) as raised:
        await client.request("GET", "/api/v1/endpoint")

    error = raised.value
    assert type(error) is AuthenticationError
    assert error.status_code == status
    assert error.vendor_code == vendor_code
    assert error.connector == "toy"
    assert [r.url.path for r in seen] == [LOGIN_PATH]  # not retried, no API call made
    assert reason in error.message
    if status != 401:
        assert error.message.startswith("login refused: ")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"token": "wrong-field-name"}),
        httpx.Response(200, json=["auth_token"]),
        httpx.Response(200, text="<html>login ok</html>"),
        httpx.Response(200, json={"auth_token": None}),
        httpx.Response(200, json={"auth_token": ""}),
        httpx.Response(200, content=b'{"auth_token": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ],
    ids=["missing-field", "list-body", "not-json", "null-token", "empty-token", "nested-deeply"],
)
async def test_unreadable_login_answer_raises_unexpected_response(
    make_client: MakeClient, answer: httpx.Response
) -> None:
    seen, handler = recording(lambda r: answer)
    auth = emnify_auth()
    client = make_client(auth, handler)

    with pytest.raises(UnexpectedResponseError) as raised:
        await client.request("GET", "/api/v1/endpoint")

    assert raised.value.status_code == 200
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None  # the decoder's error quotes the answer
    assert [r.url.path for r in seen] == [LOGIN_PATH]
    assert not auth.token_valid


async def test_rate_limited_login_raises_rate_limited_error(make_client: MakeClient) -> None:
    seen, handler = recording(
        lambda r: httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow"})
    )
    client = make_client(emnify_auth(), handler)

    with pytest.raises(RateLimitedError) as raised:
        await client.request("GET", "/api/v1/endpoint")

    assert raised.value.status_code == 429
    assert raised.value.retry_after == 7.0
    assert [r.url.path for r in seen] == [LOGIN_PATH]


async def test_rate_limited_login_is_retried_by_the_client_policy(
    make_client: MakeClient,
) -> None:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    platform = FakeEmnify()
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"})])

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == LOGIN_PATH:
            queued = next(answers, None)
            if queued is not None:
                return queued
        return await platform.handler(request)

    client = make_client(emnify_auth(), handler, retry=RetryPolicy(max_retries=2), sleep=fake_sleep)

    response = await client.request("GET", "/api/v1/endpoint")

    assert response.status_code == 200
    assert sleeps == [2.0]
    assert len(platform.logins) == 1


# -- check(): HttpClient.authenticate --------------------------------------------------------


async def test_authenticate_forces_a_login_even_with_a_cached_token(
    make_client: MakeClient,
) -> None:
    platform = FakeEmnify()
    auth = emnify_auth()
    client = make_client(auth, platform.handler)
    await client.request("GET", "/api/v1/endpoint")
    first = platform.current

    assert await client.authenticate() is True

    assert len(platform.logins) == 2
    assert platform.logins[1].url.path == LOGIN_PATH
    assert "Authorization" not in platform.logins[1].headers
    await client.request("GET", "/api/v1/endpoint")
    assert len(platform.logins) == 2
    assert platform.calls[-1] == (f"Bearer {platform.current}", 200)
    assert platform.current != first


async def test_authenticate_on_a_fresh_client_logs_in_once(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    auth = emnify_auth()
    client = make_client(auth, platform.handler)

    assert await client.authenticate() is True
    assert auth.token_valid
    await client.request("GET", "/api/v1/endpoint")

    assert len(platform.logins) == 1
    assert platform.statuses == [200]


async def test_authenticate_reports_a_refused_login(make_client: MakeClient) -> None:
    _, handler = recording(lambda r: httpx.Response(401, json={"message": "bad credentials"}))
    auth = emnify_auth()
    client = make_client(auth, handler)

    with pytest.raises(AuthenticationError) as raised:
        await client.authenticate()

    assert raised.value.status_code == 401
    assert not auth.token_valid


async def test_authenticate_reports_a_transport_error_as_transient(
    make_client: MakeClient,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = make_client(emnify_auth(), handler)

    with pytest.raises(TransientError, match=r"login failed: api\.example\.test refused") as caught:
        await client.authenticate()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)  # kept for --debug


async def test_constructing_a_client_sends_nothing(make_client: MakeClient) -> None:
    seen, handler = recording()
    login = emnify_auth()
    oauth = OAuth2ClientCredentials("/oauth/token", "client", SecretStr("client-secret"))

    make_client(login, handler)
    make_client(oauth, handler)
    await asyncio.sleep(0)

    assert seen == []
    assert login.logins == 0
    assert oauth.logins == 0
    assert not login.token_valid


def test_the_sync_flow_refuses_clearly() -> None:
    seen, handler = recording()
    auth = emnify_auth()

    with (
        httpx.Client(auth=auth, transport=httpx.MockTransport(handler)) as client,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        client.get(f"{BASE_URL}/api/v1/endpoint")

    with pytest.raises(RuntimeError, match="AsyncClient"):
        next(iter(auth.sync_auth_flow(httpx.Request("GET", BASE_URL))))
    assert seen == []


def test_login_token_auth_is_abstract() -> None:
    with pytest.raises(TypeError):
        LoginTokenAuth()  # type: ignore[abstract]


# -- OAuth 2.0 client credentials ---------------------------------------------------------


class FakeTokenEndpoint:
    """An OAuth2 token endpoint at ``path`` and an API that wants its access token."""

    def __init__(self, path: str, answer: dict[str, Any] | None = None) -> None:
        self.path = path
        self.answer = answer
        self.logins: list[httpx.Request] = []
        self.calls: list[str | None] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            self.logins.append(request)
            answer = self.answer or {
                "access_token": f"access-token-{len(self.logins)}-e3b0c442",
                "expires_in": 3600,
                "token_type": "Bearer",
            }
            return httpx.Response(200, json=answer)
        self.calls.append(request.headers.get("Authorization"))
        return httpx.Response(200, json={})


async def test_oauth2_form_body_with_basic_client_auth(make_client: MakeClient) -> None:
    endpoint = FakeTokenEndpoint("/oauth2/token")
    clock = FakeClock(T0)
    auth = OAuth2ClientCredentials(
        "/oauth2/token", "my-client", SecretStr("s3cr3t:with/specials"), clock=clock
    )
    client = make_client(auth, endpoint.handler)

    await client.request("GET", "/v1/sims")

    [login] = endpoint.logins
    assert login.method == "POST"
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert login.headers["Accept"] == "application/json"
    # RFC 6749 section 2.3.1: id and secret are form-encoded before Basic encoding.
    assert login.headers["Authorization"] == basic("my-client", "s3cr3t%3Awith%2Fspecials")
    assert parse_qs(login.content.decode()) == {"grant_type": ["client_credentials"]}
    assert endpoint.calls == ["Bearer access-token-1-e3b0c442"]

    clock.now = T0 + 3600 - 60  # expires_in minus the default refresh margin
    await client.request("GET", "/v1/sims")
    assert len(endpoint.logins) == 2
    assert endpoint.calls[-1] == "Bearer access-token-2-e3b0c442"


async def test_oauth2_json_body_as_1nce_expects(make_client: MakeClient) -> None:
    endpoint = FakeTokenEndpoint("/oauth/token")
    auth = OAuth2ClientCredentials(
        "/oauth/token", "1nce-user", SecretStr("1nce-password"), body_format="json"
    )
    client = make_client(auth, endpoint.handler)

    await client.request("GET", "/management-api/v1/sims")

    [login] = endpoint.logins
    assert str(login.url) == f"{BASE_URL}/oauth/token"
    assert login.headers["Content-Type"] == "application/json"
    assert login.headers["Authorization"] == basic("1nce-user", "1nce-password")
    assert json.loads(login.content) == {"grant_type": "client_credentials"}
    assert endpoint.calls == ["Bearer access-token-1-e3b0c442"]


async def test_oauth2_client_auth_in_the_body(make_client: MakeClient) -> None:
    endpoint = FakeTokenEndpoint("/token")
    auth = OAuth2ClientCredentials(
        "/token", "body-client", SecretStr("body-secret"), client_auth="body"
    )
    client = make_client(auth, endpoint.handler)

    await client.request("GET", "/v1/sims")

    [login] = endpoint.logins
    assert "Authorization" not in login.headers
    assert parse_qs(login.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["body-client"],
        "client_secret": ["body-secret"],
    }


async def test_oauth2_client_auth_in_a_json_body_with_scope(make_client: MakeClient) -> None:
    endpoint = FakeTokenEndpoint("/token")
    auth = OAuth2ClientCredentials(
        "/token",
        "body-client",
        SecretStr("body-secret"),
        client_auth="body",
        body_format="json",
        scope="sims:read usage:read",
    )
    client = make_client(auth, endpoint.handler)

    await client.request("GET", "/v1/sims")

    assert json.loads(endpoint.logins[0].content) == {
        "grant_type": "client_credentials",
        "scope": "sims:read usage:read",
        "client_id": "body-client",
        "client_secret": "body-secret",
    }


async def test_oauth2_scope_in_a_form_body(make_client: MakeClient) -> None:
    endpoint = FakeTokenEndpoint("/token")
    auth = OAuth2ClientCredentials("/token", "c", SecretStr("client-secret"), scope="a b")
    client = make_client(auth, endpoint.handler)

    await client.request("GET", "/v1/sims")

    assert parse_qs(endpoint.logins[0].content.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["a b"],
    }


async def test_oauth2_without_expires_in_uses_the_default_lifetime(
    make_client: MakeClient,
) -> None:
    endpoint = FakeTokenEndpoint("/token", {"access_token": "access-token-no-expiry"})
    clock = FakeClock(T0)
    auth = OAuth2ClientCredentials(
        "/token", "c", SecretStr("client-secret"), default_lifetime=300, clock=clock
    )
    client = make_client(auth, endpoint.handler)
    await client.request("GET", "/v1/sims")

    assert valid_at(auth, clock, T0 + 239)
    assert not valid_at(auth, clock, T0 + 240)


@pytest.mark.parametrize(
    "answer",
    [
        {"token_type": "Bearer"},
        {"access_token": None, "expires_in": 3600},
        {"access_token": {"value": "x"}, "expires_in": 3600},
        {"access_token": "tok-1234567", "expires_in": "soon"},
    ],
    ids=["no-access-token", "null-access-token", "object-access-token", "bad-expires-in"],
)
async def test_oauth2_unreadable_answer_raises_unexpected_response(
    make_client: MakeClient, answer: dict[str, Any]
) -> None:
    endpoint = FakeTokenEndpoint("/token", answer)
    client = make_client(
        OAuth2ClientCredentials("/token", "c", SecretStr("client-secret")), endpoint.handler
    )

    with pytest.raises(UnexpectedResponseError):
        await client.request("GET", "/v1/sims")
    assert endpoint.calls == []


async def test_oauth2_401_triggers_one_new_token(make_client: MakeClient) -> None:
    endpoint = FakeTokenEndpoint("/token")
    statuses = iter([200, 401, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        response = endpoint.handler(request)
        if request.url.path == "/token":
            return response
        return httpx.Response(next(statuses))

    client = make_client(OAuth2ClientCredentials("/token", "c", SecretStr("cs-123456")), handler)
    await client.request("GET", "/v1/sims")
    await client.request("GET", "/v1/sims")

    assert len(endpoint.logins) == 2
    assert endpoint.calls == [
        "Bearer access-token-1-e3b0c442",
        "Bearer access-token-1-e3b0c442",
        "Bearer access-token-2-e3b0c442",
    ]


# -- jwt_expiry ---------------------------------------------------------------------------


@pytest.mark.parametrize("exp", [1_700_000_123, 1_700_000_123.5])
def test_jwt_expiry_reads_the_exp_claim(exp: float) -> None:
    assert jwt_expiry(make_jwt({"sub": "x", "exp": exp})) == float(exp)


def test_jwt_expiry_accepts_padded_and_signed_tokens() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"exp": 42}).encode()).decode()
    assert jwt_expiry(f"header.{payload}.c2lnbmF0dXJl") == 42.0


def test_jwt_expiry_of_a_deeply_nested_claim_set_is_none() -> None:
    payload = base64.urlsafe_b64encode(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert jwt_expiry(f"e30.{payload.decode()}.") is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.!!!!.c",
        "a.bm90IGpzb24.c",  # "not json"
        f"a.{b64url({'sub': 'x'})}.c",  # no exp
        f"a.{b64url({'exp': '1700000000'})}.c",  # exp as a string
        f"a.{b64url({'exp': True})}.c",  # exp as a bool
        f"a.{b64url({'exp': None})}.c",
        "a." + base64.urlsafe_b64encode(b"[1, 2]").decode() + ".c",  # not an object
        "a.\u00e9\u00e9\u00e9\u00e9.c",  # not ASCII
        "a." + base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode() + ".c",  # not UTF-8
        "a." + base64.urlsafe_b64encode(b'{"exp": ' + b"9" * 400 + b"}").decode() + ".c",
        "a." + base64.urlsafe_b64encode(b'{"exp": Infinity}').decode() + ".c",
        "a." + base64.urlsafe_b64encode(b'{"exp": NaN}').decode() + ".c",
    ],
    ids=[
        "empty",
        "one-part",
        "bad-base64",
        "not-json",
        "no-exp",
        "string-exp",
        "bool-exp",
        "null-exp",
        "array",
        "non-ascii",
        "non-utf8",
        "huge-exp",
        "infinite-exp",
        "nan-exp",
    ],
)
def test_jwt_expiry_of_a_malformed_token_is_none(token: str) -> None:
    assert jwt_expiry(token) is None


async def test_a_login_token_with_a_huge_exp_falls_back_to_the_default_lifetime(
    make_client: MakeClient,
) -> None:
    huge = "h." + base64.urlsafe_b64encode(b'{"exp": ' + b"9" * 400 + b"}").decode() + ".s"
    _, handler = recording(lambda r: httpx.Response(200, json={"auth_token": huge}))
    clock = FakeClock(T0)
    auth = emnify_auth(clock, default_lifetime=100, refresh_margin=0)
    client = make_client(auth, handler)

    await client.request("GET", "/api/v1/endpoint")

    assert auth.token_valid
    assert not valid_at(auth, clock, T0 + 100)


# -- login URL, headers and shared failures ------------------------------------------------


async def test_login_path_stays_under_the_base_url_prefix() -> None:
    seen, handler = recording(
        lambda r: httpx.Response(200, json={"access_token": "tok-123456", "expires_in": 3600})
    )
    client = HttpClient(
        connector="1nce",
        base_url="https://api.example.test/management-api",
        auth=OAuth2ClientCredentials(
            "/oauth/token", "user", SecretStr("password-123"), body_format="json"
        ),
        transport=httpx.MockTransport(handler),
    )
    try:
        await client.request("GET", "/v1/sims")
    finally:
        await client.aclose()
    assert [r.url.path for r in seen] == ["/management-api/oauth/token", "/management-api/v1/sims"]


async def test_login_request_carries_the_user_agent(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    await make_client(emnify_auth(), platform.handler).request("GET", "/api/v1/sim")
    [login] = platform.logins
    assert login.headers["User-Agent"].startswith("cdp-sdk/")


async def test_a_refused_login_is_shared_by_waiting_tasks(make_client: MakeClient) -> None:
    logins = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal logins
        await yield_control()
        if request.url.path == LOGIN_PATH:
            logins += 1
            await yield_control()
            return httpx.Response(401, json={"error_code": 1401, "message": "bad token"})
        return httpx.Response(200, json={})

    client = make_client(emnify_auth(), handler)
    results = await asyncio.gather(
        *(client.request("GET", "/api/v1/sim") for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(result, AuthenticationError) for result in results)
    assert logins == 1


def test_login_secrets_are_registered_at_construction() -> None:
    from cdp_sdk._redact import redact_text

    secret = "never-sent-login-secret-42"
    JsonLoginAuth(LOGIN_PATH, {"application_token": SecretStr(secret)}, token_field="t")
    assert secret not in redact_text(f"leaked {secret}")


def test_token_of_registers_every_header_value_for_redaction() -> None:
    from cdp_sdk._redact import redact_text
    from cdp_sdk.http import Token

    token = Token.of(
        {"X-Api-Key": "api-key-0123456789", "X-Token": "tok-abcdef-99"}, expires_at=1.0
    )
    assert token.headers["X-Token"].get_secret_value() == "tok-abcdef-99"
    assert "tok-abcdef-99" not in redact_text("token tok-abcdef-99 leaked")
    assert "api-key-0123456789" not in repr(token)


async def test_authenticate_without_force_keeps_a_valid_token(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    client = make_client(emnify_auth(), platform.handler)
    assert await client.authenticate(force=False)
    assert await client.authenticate(force=False)
    assert len(platform.logins) == 1
    assert await client.authenticate()
    assert len(platform.logins) == 2


async def test_logins_are_journaled_like_any_call(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    client = make_client(emnify_auth(), platform.handler)
    records: list[CallRecord] = []
    client.add_observer(records.append)
    await client.request("GET", "/api/v1/sim")
    assert [(r.method, r.path, r.status_code) for r in records] == [
        ("POST", LOGIN_PATH, 200),
        ("GET", "/api/v1/sim", 200),
    ]
    client.remove_observer(records.append)
    await client.request("GET", "/api/v1/sim")
    assert len(records) == 2


# -- logins under a login rate limit ---------------------------------------------------------


class ThrottledLogins:
    """A platform whose tokens live ``lifetime`` seconds of its clock (the client is not
    told: it learns of an expiry from a 401), whose login endpoint refuses (429) a login
    less than ``window`` seconds after the last one it accepted, and whose every answered
    call takes ``call_time`` seconds."""

    def __init__(
        self,
        *,
        lifetime: float,
        window: float,
        call_time: float,
        retry_after: bool,
        clock: FakeClock,
    ) -> None:
        self.lifetime = lifetime
        self.window = window
        self.call_time = call_time
        self.retry_after = retry_after
        self.clock = clock
        self.attempts = 0
        self.accepted = 0
        self.last_login = -math.inf
        self.current: str | None = None
        self.expires = -math.inf
        self.expiries = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await yield_control()
        now = self.clock()
        if self.current is not None and now >= self.expires:
            self.current, self.expiries = None, self.expiries + 1
        if request.url.path == LOGIN_PATH:
            self.attempts += 1
            if now - self.last_login < self.window:
                wait = {"Retry-After": str(math.ceil(self.last_login + self.window - now))}
                headers = wait if self.retry_after else {}
                return httpx.Response(429, headers=headers, json={"message": "slow down"})
            self.last_login, self.expires = now, now + self.lifetime
            self.accepted += 1
            self.current = f"token-{self.accepted}"
            return httpx.Response(200, json={"auth_token": self.current})
        if self.current is None or request.headers.get("Authorization") != f"Bearer {self.current}":
            return httpx.Response(401, json={"message": "token expired"})
        self.clock.now += self.call_time
        return httpx.Response(200, json={"task": request.url.params["task"]})


@pytest.mark.parametrize(
    ("retry_after", "refusals_per_expiry"),
    # With Retry-After the shared wait reaches the end of the login window at once; with
    # the backoff of 0.5 s then 1 s (no jitter), the second wait does.
    [(True, 1), (False, 2)],
    ids=["retry-after", "backoff"],
)
async def test_logins_under_a_login_rate_limit_wait_together(
    make_client: MakeClient, retry_after: bool, refusals_per_expiry: int
) -> None:
    # 100 tasks make 10 calls each, 10 ms a call: 10 s of calls. A token lives 3 s, so it
    # expires 3 times; each expiry finds up to 100 calls in flight on the old token, and
    # the login limit (one login per 4 s) refuses the first login after each expiry.
    clock = FakeClock()
    platform = ThrottledLogins(
        lifetime=3.0, window=4.0, call_time=0.01, retry_after=retry_after, clock=clock
    )
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds
        await yield_control()

    client = make_client(
        emnify_auth(clock),
        platform.handler,
        retry=RetryPolicy(max_retries=5, jitter=lambda: 1.0),
        sleep=sleep,
    )

    async def task(number: int) -> list[int]:
        answers = []
        for _ in range(10):
            response = await client.request("GET", "/api/v1/sim", params={"task": number})
            answers.append(int(response.json()["task"]))
        return answers

    results = await asyncio.gather(*(task(n) for n in range(100)))

    assert results == [[n] * 10 for n in range(100)]  # every task got its own answers
    assert platform.expiries == 3
    assert platform.accepted == 4  # the first login and one per expiry, never one per task
    assert platform.attempts == 4 + 3 * refusals_per_expiry
    assert len(sleeps) == 3 * refusals_per_expiry  # one shared wait per refused login


async def test_a_login_answered_503_is_tried_again_after_the_wait(
    make_client: MakeClient,
) -> None:
    platform = FakeEmnify()
    answers = iter([httpx.Response(503, headers={"Retry-After": "3"})])
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == LOGIN_PATH and (queued := next(answers, None)) is not None:
            platform.logins.append(request)
            return queued
        return await platform.handler(request)

    client = make_client(emnify_auth(), handler, retry=RetryPolicy(max_retries=2), sleep=sleep)
    assert (await client.request("POST", "/api/v1/sim", json={"x": 1})).status_code == 200
    assert sleeps == [3.0]
    assert len(platform.logins) == 2


async def test_a_write_whose_login_keeps_failing_is_sent_once_the_login_succeeds(
    make_client: MakeClient,
) -> None:
    """The write itself never left while its login failed: the client's retry sends it
    once a login gets through, even though a POST is not retried once sent."""
    platform = FakeEmnify()
    answers = iter([httpx.Response(503, headers={"Retry-After": "1"})] * 3)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == LOGIN_PATH and (queued := next(answers, None)) is not None:
            platform.logins.append(request)
            return queued
        return await platform.handler(request)

    client = make_client(emnify_auth(), handler, retry=RetryPolicy(max_retries=2))
    assert (await client.request("POST", "/api/v1/sim", json={"x": 1})).status_code == 200
    assert len(platform.logins) == 4  # three refused (the login's own retries), then one
    assert platform.statuses == [200]  # the write, sent once


async def test_a_login_asked_to_wait_too_long_gives_up_at_once(make_client: MakeClient) -> None:
    seen, handler = recording(
        lambda r: httpx.Response(429, headers={"Retry-After": "3600"}, json={"message": "later"})
    )
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = make_client(emnify_auth(), handler, retry=RetryPolicy(max_retries=3), sleep=sleep)
    with pytest.raises(RateLimitedError) as caught:
        await client.request("GET", "/api/v1/sim")
    assert caught.value.retry_after == 3600.0
    assert sleeps == []
    assert len(seen) == 1


async def test_an_unbound_login_flow_does_not_wait() -> None:
    # Used on a plain httpx client (no HttpClient to give it a retry policy): raise at once.
    seen, handler = recording(lambda r: httpx.Response(429, headers={"Retry-After": "1"}))
    async with httpx.AsyncClient(
        base_url=BASE_URL, auth=emnify_auth(), transport=httpx.MockTransport(handler)
    ) as client:
        with pytest.raises(RateLimitedError):
            await client.get("/api/v1/sim")
    assert len(seen) == 1


async def test_a_cancelled_login_lets_the_next_task_log_in(make_client: MakeClient) -> None:
    platform = FakeEmnify()
    gate = asyncio.Event()
    first = True

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal first
        if request.url.path == LOGIN_PATH and first:
            first = False
            await gate.wait()  # this login never completes: its task is cancelled
        return await platform.handler(request)

    client = make_client(emnify_auth(), handler)
    stuck = asyncio.create_task(client.request("GET", "/api/v1/sim"))
    await yield_control(5)
    waiting = asyncio.create_task(client.request("GET", "/api/v1/sim"))
    await yield_control(5)
    stuck.cancel()
    response = await asyncio.wait_for(waiting, 5)
    assert response.status_code == 200
    assert len(platform.logins) == 1  # the cancelled login never reached the platform
