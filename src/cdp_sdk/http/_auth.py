"""Authentication flows as ``httpx.Auth`` classes.

Static credentials (:class:`BasicAuth`, :class:`HeaderAuth`) add a header to each request.
Token flows (:class:`LoginTokenAuth` and its subclasses) call a login endpoint on first
use, cache the token until shortly before it expires, log in again when the platform
answers 401 (once per request), and make a single login call when many concurrent tasks
find the token missing or expired together. Secrets stay ``SecretStr`` until the moment a
header is written.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from cdp_sdk._redact import register_secret
from cdp_sdk.errors import (
    AuthenticationError,
    CdpError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    UnexpectedResponseError,
)
from cdp_sdk.http._errors import ErrorTable

__all__ = [
    "BasicAuth",
    "HeaderAuth",
    "JsonLoginAuth",
    "LoginTokenAuth",
    "OAuth2ClientCredentials",
    "Token",
    "jwt_expiry",
]


def _reveal(secret: SecretStr) -> str:
    value = secret.get_secret_value()
    register_secret(value)
    return value


class BasicAuth(httpx.Auth):
    """HTTP Basic authentication with a secret password (or API key)."""

    def __init__(self, username: str, password: SecretStr) -> None:
        credentials = f"{username}:{_reveal(password)}".encode()
        self._header = SecretStr("Basic " + base64.b64encode(credentials).decode("ascii"))
        register_secret(self._header.get_secret_value())

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header.get_secret_value()
        yield request


class HeaderAuth(httpx.Auth):
    """A static secret in a request header, e.g. ``Authorization: <key>`` or ``X-API-Key``."""

    def __init__(self, header: str, secret: SecretStr, *, prefix: str = "") -> None:
        self._header = header
        self._value = SecretStr(prefix + _reveal(secret))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value.get_secret_value()
        yield request


@dataclass(frozen=True)
class Token:
    """The headers a login grants and the wall-clock instant (epoch seconds) they expire."""

    headers: Mapping[str, SecretStr]
    expires_at: float | None = None

    @classmethod
    def bearer(cls, access_token: str, *, expires_at: float | None) -> Token:
        """A ``Authorization: Bearer <access_token>`` token."""
        register_secret(access_token)
        return cls({"Authorization": SecretStr(f"Bearer {access_token}")}, expires_at)


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (epoch seconds), read without verifying the signature."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class LoginTokenAuth(httpx.Auth, ABC):
    """Base of the flows that trade credentials for a token at a login endpoint.

    Subclasses say how to build the login request and how to read its answer; this class
    does the rest:

    - no call before the first request (``connect()`` stays offline);
    - the token is reused until ``refresh_margin`` seconds before ``Token.expires_at``;
    - a 401 on a request with a cached token triggers one new login and one resend;
    - concurrent tasks that need a token wait for a single login (an ``asyncio.Lock``);
    - a refused login raises :class:`~cdp_sdk.errors.AuthenticationError`.

    The flow runs on ``httpx.AsyncClient`` (the sync facade drives it from its loop thread).
    """

    requires_response_body = True

    def __init__(
        self,
        *,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self.connector = "unknown"
        self.errors = ErrorTable()
        self.logins = 0

    @abstractmethod
    def login_request(self, request: httpx.Request) -> httpx.Request:
        """The login call, built against the URL of the request that needs a token."""

    @abstractmethod
    def parse_login(self, response: httpx.Response) -> Token:
        """The token in a successful login response."""

    def bind(self, *, connector: str, errors: ErrorTable) -> None:
        """Name the connector and the error table used to report a failed login."""
        self.connector = connector
        self.errors = errors

    @property
    def token_valid(self) -> bool:
        """Whether a cached token exists and is not about to expire."""
        token = self._token
        if token is None:
            return False
        return token.expires_at is None or self._clock() < token.expires_at - self.refresh_margin

    def invalidate(self) -> None:
        """Forget the cached token; the next request logs in again."""
        self._token = None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("cdp-sdk token flows run on httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self.token_valid:
            async with self._lock:
                if not self.token_valid:
                    login = yield self.login_request(request)
                    await self._accept(login)
        used = self._token
        self._apply(request, used)
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            if self._token is used:
                login = yield self.login_request(request)
                await self._accept(login)
        self._apply(request, self._token)
        yield request

    async def login(
        self, send: Callable[[httpx.Request], Awaitable[httpx.Response]], url: str
    ) -> None:
        """Log in now through ``send`` (used by ``check()``), replacing any cached token."""
        async with self._lock:
            self._token = None
            await self._accept(await send(self.login_request(httpx.Request("GET", url))))

    async def _accept(self, response: httpx.Response) -> None:
        await response.aread()
        self.logins += 1
        error = self.errors.classify(response, connector=self.connector)
        if isinstance(error, InvalidRequestError | NotFoundError | PermissionDeniedError):
            error = AuthenticationError(
                f"login refused: {error.message}",
                connector=self.connector,
                status_code=error.status_code,
                vendor_code=error.vendor_code,
                request_id=error.request_id,
            )
        if error is not None:
            raise error
        try:
            self._token = self.parse_login(response)
        except CdpError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(
                f"login response could not be read ({type(exc).__name__})",
                connector=self.connector,
                status_code=response.status_code,
            ) from None

    @staticmethod
    def _apply(request: httpx.Request, token: Token | None) -> None:
        if token is None:  # pragma: no cover - _accept either stores a token or raises
            raise AuthenticationError("no token available")
        for name, value in token.headers.items():
            request.headers[name] = value.get_secret_value()


class JsonLoginAuth(LoginTokenAuth):
    """Login by POSTing a JSON body to ``path``; the token is a field of the JSON answer.

    The lifetime comes from ``expires_in_field`` when given, else from the token's JWT
    ``exp`` claim, else ``default_lifetime`` seconds.
    """

    def __init__(
        self,
        path: str,
        payload: Mapping[str, str | SecretStr],
        *,
        token_field: str,
        expires_in_field: str | None = None,
        default_lifetime: float = 3600.0,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self.path = path
        self._payload = dict(payload)
        self.token_field = token_field
        self.expires_in_field = expires_in_field
        self.default_lifetime = default_lifetime

    def login_request(self, request: httpx.Request) -> httpx.Request:
        body = {
            key: _reveal(value) if isinstance(value, SecretStr) else value
            for key, value in self._payload.items()
        }
        return httpx.Request("POST", request.url.join(self.path), json=body)

    def parse_login(self, response: httpx.Response) -> Token:
        body: dict[str, Any] = response.json()
        token = str(body[self.token_field])
        return Token.bearer(token, expires_at=self._expiry(body, token))

    def _expiry(self, body: Mapping[str, Any], token: str) -> float:
        now = self._clock()
        if self.expires_in_field and self.expires_in_field in body:
            return now + float(body[self.expires_in_field])
        return jwt_expiry(token) or now + self.default_lifetime


class OAuth2ClientCredentials(LoginTokenAuth):
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4).

    The client authenticates with HTTP Basic (``client_auth="basic"``) or in the body;
    ``body_format`` selects a form-encoded body (the RFC) or JSON (as 1NCE expects).
    """

    def __init__(
        self,
        token_path: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        scope: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        body_format: Literal["form", "json"] = "form",
        default_lifetime: float = 3600.0,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self.token_path = token_path
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.client_auth = client_auth
        self.body_format = body_format
        self.default_lifetime = default_lifetime

    def login_request(self, request: httpx.Request) -> httpx.Request:
        body = {"grant_type": "client_credentials"}
        if self.scope:
            body["scope"] = self.scope
        headers = {"Accept": "application/json"}
        secret = _reveal(self._client_secret)
        if self.client_auth == "basic":
            pair = base64.b64encode(f"{self.client_id}:{secret}".encode()).decode("ascii")
            register_secret(pair)
            headers["Authorization"] = f"Basic {pair}"
        else:
            body |= {"client_id": self.client_id, "client_secret": secret}
        url = request.url.join(self.token_path)
        if self.body_format == "json":
            return httpx.Request("POST", url, json=body, headers=headers)
        return httpx.Request("POST", url, data=body, headers=headers)

    def parse_login(self, response: httpx.Response) -> Token:
        body: dict[str, Any] = response.json()
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if expires_in is not None else self.default_lifetime
        return Token.bearer(str(body["access_token"]), expires_at=self._clock() + lifetime)
