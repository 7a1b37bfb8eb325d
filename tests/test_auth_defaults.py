"""Token flows with their defaults: the refresh margin, a flow used on a plain
``httpx.AsyncClient`` (unbound, or bound without a sleep), the refusal of a bad
``max_failed_logins``, and a bearer token masked wherever a platform echoes it."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.errors import AuthenticationError, InvalidRequestError
from cdp_sdk.http import (
    ErrorTable,
    HttpClient,
    JsonLoginAuth,
    LoginTokenAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    Token,
)

BASE = "https://api.example.test"
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _platform(logins: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            logins.append(request)
            return httpx.Response(200, json={"token": "tok-0123456789", "expires_in": 3600})
        return httpx.Response(200, json={})

    return handler


class PluginLogin(LoginTokenAuth):
    """A plugin's own flow, built on the base class with its defaults."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)

    def login_request(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request("POST", self.endpoint(request, "/login"), json={"user": "u"})

    def parse_login(self, response: httpx.Response) -> Token:
        body = response.json()
        return Token.bearer(body["token"], expires_at=self._clock() + body["expires_in"])


@pytest.mark.parametrize("flow", ["json", "plugin"])
async def test_a_token_is_reused_until_a_minute_before_it_expires(flow: str) -> None:
    logins: list[httpx.Request] = []
    clock = FakeClock()
    auth: LoginTokenAuth = (
        JsonLoginAuth(
            "/login", {"user": "u"}, token_field="token", expires_in_field="expires_in", clock=clock
        )
        if flow == "json"
        else PluginLogin(clock)
    )
    async with httpx.AsyncClient(
        base_url=BASE, auth=auth, transport=httpx.MockTransport(_platform(logins))
    ) as client:
        await client.get("/v1/sims")
        clock.now = T0 + 3600 - 60.5  # 60.5 s left: still good
        await client.get("/v1/sims")
        assert len(logins) == 1
        clock.now = T0 + 3600 - 59.5  # inside the last minute: log in again first
        await client.get("/v1/sims")
        assert len(logins) == 2


async def test_an_unbound_flow_reports_a_refused_login_as_of_an_unknown_connector() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "bad credentials"})

    auth = JsonLoginAuth("/login", {"user": "u"}, token_field="token")
    async with httpx.AsyncClient(
        base_url=BASE, auth=auth, transport=httpx.MockTransport(handler)
    ) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get("/v1/sims")
    assert caught.value.connector == "unknown"
    assert str(caught.value) == (
        "POST /login failed: bad credentials (connector=unknown, status=401)"
    )


async def test_a_flow_bound_without_a_sleep_waits_after_a_429_and_logs_in_again() -> None:
    logins: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            logins.append(request)
            if len(logins) == 1:
                return httpx.Response(429, headers={"Retry-After": "0"})
            return httpx.Response(200, json={"token": "tok-0123456789"})
        return httpx.Response(200, json={"ok": True})

    auth = JsonLoginAuth("/login", {"user": "u"}, token_field="token")
    auth.bind(connector="toy", errors=ErrorTable(), retry=RetryPolicy(max_retries=2))
    async with httpx.AsyncClient(
        base_url=BASE, auth=auth, transport=httpx.MockTransport(handler)
    ) as client:
        response = await client.get("/v1/sims")
    assert response.json() == {"ok": True}
    assert len(logins) == 2


@pytest.mark.parametrize("limit", [0, -1])
def test_a_failed_login_limit_below_one_is_refused_in_words(limit: int) -> None:
    with pytest.raises(ValueError, match=r"^max_failed_logins must be at least 1$"):
        JsonLoginAuth("/login", {}, token_field="token", max_failed_logins=limit)


async def test_a_bearer_token_a_platform_echoes_is_masked_in_the_error(
    mock_client: Callable[..., HttpClient],
) -> None:
    # Letters only: nothing in it may read as an identifier and be masked for that reason.
    token = "".join(random.choices(string.ascii_letters, k=24))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": token, "expires_in": 3600})
        return httpx.Response(400, json={"message": f"credential {token} has no such scope"})

    auth = OAuth2ClientCredentials("/oauth/token", "client", SecretStr("s3cret-value"))
    with pytest.raises(InvalidRequestError) as caught:
        await mock_client(handler, auth=auth).request("GET", "/v1/sims")
    assert token not in str(caught.value)
    assert caught.value.message == "GET /v1/sims failed: credential *** has no such scope"
