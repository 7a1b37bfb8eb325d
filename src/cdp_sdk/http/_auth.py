"""Authentication flows as ``httpx.Auth`` classes.

Static credentials (:class:`BasicAuth`, :class:`HeaderAuth`) add a header to each request.
Token flows (:class:`LoginTokenAuth` and its subclasses) call a login endpoint on first
use, cache the token until shortly before it expires, log in again when the platform
refuses the token (a 401 by default; once per request), and make a single login call when
many concurrent tasks find the token missing or expired together. A flow may stop logging
in after a number of failed logins in a row, for platforms that lock an account.
:class:`ChainedLoginAuth` puts the tokens of several flows on every request (an OAuth token
and a session token). Secrets stay ``SecretStr`` until the moment a header is written.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import itertools
import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx
from pydantic import SecretStr

from cdp_sdk._redact import register_secret
from cdp_sdk.errors import (
    AuthenticationError,
    CdpError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http._errors import ErrorTable
from cdp_sdk.http._retry import RetryPolicy

logger = logging.getLogger("cdp_sdk")

LOGIN_STARTED = "cdp_sdk.login_started"
"""Request extension that marks a login call (its value: the monotonic start time)."""

__all__ = [
    "BasicAuth",
    "ChainedLoginAuth",
    "HeaderAuth",
    "JsonLoginAuth",
    "LoginTokenAuth",
    "OAuth2ClientCredentials",
    "Token",
    "TokenAuth",
    "jwt_expiry",
    "unauthorized",
]

Sender = Callable[[httpx.Request], Awaitable[httpx.Response]]
"""Sends a request as given (no auth flow): how token flows make their login calls."""


def _reveal(secret: SecretStr) -> str:
    value = secret.get_secret_value()
    register_secret(value)
    return value


class BasicAuth(httpx.Auth):
    """HTTP Basic authentication with a secret password (or API key)."""

    def __init__(self, username: str, password: SecretStr) -> None:
        credentials = f"{username}:{_reveal(password)}".encode()
        encoded = base64.b64encode(credentials).decode("ascii")
        register_secret(encoded)
        self._header = SecretStr(f"Basic {encoded}")

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
        return cls.of({"Authorization": f"Bearer {access_token}"}, expires_at=expires_at)

    @classmethod
    def of(cls, headers: Mapping[str, str], *, expires_at: float | None) -> Token:
        """A token made of these header values, each registered for redaction."""
        for value in headers.values():
            scheme, _, credential = value.partition(" ")
            register_secret(credential if scheme in {"Bearer", "Basic"} else value)
        return cls({name: SecretStr(value) for name, value in headers.items()}, expires_at)


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (epoch seconds), read without verifying the signature."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, RecursionError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    try:
        value = float(exp)
    except OverflowError:  # an integer too large for a float
        return None
    return value if math.isfinite(value) else None


def unauthorized(response: httpx.Response) -> bool:
    """The default refresh condition of a token flow: the platform answered 401."""
    return response.status_code == 401


def _token_text(value: Any) -> str:
    """The token a login answer carries; ``ValueError`` when it is null, empty or not text."""
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValueError("the login answer carries no token")
    return str(value)


@dataclass
class _Flight:
    """A login in progress: set when it ends, with its failure if it failed."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    failure: CdpError | None = None


class TokenAuth(httpx.Auth, ABC):
    """Base of the flows that log in for tokens.

    :class:`~cdp_sdk.http.HttpClient` binds such a flow to its connector (the name, the
    error table that classifies a failed login, the base URL that login paths are relative
    to, the retry policy and sleep for a login refused with 429 or 5xx, and a sender that
    sends a login call as it is), and its ``authenticate()`` calls :meth:`login`. The flows
    run on ``httpx.AsyncClient`` only.
    """

    requires_response_body = True

    @abstractmethod
    def bind(
        self,
        *,
        connector: str,
        errors: ErrorTable,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        send: Sender | None = None,
    ) -> None:
        """Name the connector, the error table for a failed login, the base URL (with any
        deployment prefix) that login paths are relative to, the retry policy and sleep for
        a login refused with 429 or 5xx (unbound: such a login raises at once), and how a
        login made outside the request's own auth flow is sent."""

    @property
    @abstractmethod
    def token_valid(self) -> bool:
        """Whether every token the flow needs is cached and not about to expire."""

    @abstractmethod
    def invalidate(self) -> None:
        """Forget the cached tokens; the next request logs in again."""

    @abstractmethod
    async def login(self, send: Sender, url: str, *, force: bool = True) -> None:
        """Log in now through ``send`` (``force=False``: only where no token is valid)."""

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("cdp-sdk token flows run on httpx.AsyncClient")


class LoginTokenAuth(TokenAuth):
    """Base of the flows that trade credentials for a token at a login endpoint.

    Subclasses say how to build the login request and how to read its answer; this class
    does the rest:

    - no call before the first request (``connect()`` stays offline);
    - the token is reused until ``refresh_margin`` seconds before ``Token.expires_at``
      (a token without ``expires_at`` is kept until the platform refuses it);
    - an answer that ``refresh_on`` matches (by default a 401) on a request with a cached
      token triggers one new login and one resend;
    - concurrent tasks that need a token wait for a single login, and all wake together
      when it ends;
    - a login answered with 429 (or 5xx) is tried again after ``Retry-After`` (or the retry
      policy's backoff) while every waiting task keeps waiting: one login at a time, never
      one per task;
    - a refused login raises :class:`~cdp_sdk.errors.AuthenticationError`, shared with
      the tasks that waited for it;
    - with ``max_failed_logins``, that many failed logins in a row (refused, unreadable,
      failed on the server or cut off; not one refused with 429, which the platform did
      not process) stop all further logins of this flow: each later request raises
      :class:`~cdp_sdk.errors.AuthenticationError` without a call, for platforms that lock
      an account after repeated failures. A successful login resets the count.

    The flow runs on ``httpx.AsyncClient`` (the sync facade drives it from its loop thread).
    """

    def __init__(
        self,
        *,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        refresh_on: Callable[[httpx.Response], bool] = unauthorized,
        max_failed_logins: int | None = None,
    ) -> None:
        if max_failed_logins is not None and max_failed_logins < 1:
            raise ValueError("max_failed_logins must be at least 1")
        self.refresh_margin = refresh_margin
        self._clock = clock
        self.refresh_on = refresh_on
        self.max_failed_logins = max_failed_logins
        self._token: Token | None = None
        self._flight: _Flight | None = None
        self._failure: CdpError | None = None
        self.connector = "unknown"
        self.errors = ErrorTable()
        self.base_url: str | None = None
        self.retry: RetryPolicy | None = None
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.send: Sender | None = None
        self.logins = 0
        """Login answers read so far (refused ones included)."""
        self.failed_logins = 0
        """Failed logins in a row (see ``max_failed_logins``)."""

    @abstractmethod
    def login_request(self, request: httpx.Request) -> httpx.Request:
        """The login call, built against the URL of the request that needs a token."""

    @abstractmethod
    def parse_login(self, response: httpx.Response) -> Token:
        """The token in a successful login response."""

    def bind(
        self,
        *,
        connector: str,
        errors: ErrorTable,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        send: Sender | None = None,
    ) -> None:
        self.connector = connector
        self.errors = errors
        self.base_url = base_url
        self.retry = retry
        if sleep is not None:
            self._sleep = sleep
        self.send = send

    def endpoint(self, request: httpx.Request, path: str) -> httpx.URL:
        """The absolute URL of a login ``path``: under the bound base URL, else the request's."""
        if self.base_url is not None:
            return httpx.URL(self.base_url.rstrip("/") + "/" + path.lstrip("/"))
        return request.url.join(path)

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

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self.token_valid:
            stale = self._token
            await self._follow()
            if self._needs_login(stale, force=False):
                with self._leading():
                    for attempt in itertools.count(1):
                        login = self._login_request(request)
                        try:
                            answer = yield login
                        except BaseException:
                            self.failed_logins += 1  # cut off: it may have reached the platform
                            raise
                        if await self._accept(answer, attempt):
                            break
        used = self._token
        self._apply(request, used)
        response = yield request
        await response.aread()  # refresh_on may read the body
        if not self.refresh_on(response):
            return
        await self._follow()
        if self._needs_login(used, force=True):
            with self._leading():
                for attempt in itertools.count(1):
                    login = self._login_request(request)
                    try:
                        answer = yield login
                    except BaseException:
                        self.failed_logins += 1
                        raise
                    if await self._accept(answer, attempt):
                        break
        self._apply(request, self._token)
        yield request

    def _needs_login(self, stale: Token | None, *, force: bool) -> bool:
        """Whether a login is still due once no other login is in flight: not when another
        task stored a new token meanwhile, even one already inside the refresh margin
        (short lifetime, clock skew). ``force``: the platform refused ``stale``."""
        if self._token is None:
            return True
        return self._token is stale and (force or not self.token_valid)

    async def _follow(self) -> None:
        """Wait for the login another task has in flight, if any, and share its outcome:
        its failure is raised here too, rather than queueing one more login (a stampede
        risks a lockout of the login endpoint). Every waiting task wakes at once."""
        while (flight := self._flight) is not None:
            await flight.done.wait()
            if flight.failure is not None:
                raise copy.copy(flight.failure)

    @contextmanager
    def _leading(self) -> Iterator[None]:
        """Mark this task's login as the one in flight until it ends (nothing may await
        between :meth:`_follow` and entering this, so two tasks never both lead)."""
        flight = _Flight()
        self._flight = flight
        try:
            yield
        except CdpError as error:
            flight.failure = error
            raise
        finally:
            self._flight = None
            flight.done.set()

    def _check_failed_logins(self) -> None:
        """Refuse to log in again after ``max_failed_logins`` failures in a row."""
        limit = self.max_failed_logins
        if limit is None or self.failed_logins < limit:
            return
        last = self._failure
        reason = f": {last.message}" if last is not None else ""
        raise AuthenticationError(
            f"{self.failed_logins} logins in a row failed, so no further login is attempted "
            "(repeated failed logins can lock the account); check the credentials and "
            f"connect again{reason}",
            connector=self.connector,
            status_code=last.status_code if last is not None else None,
            vendor_code=last.vendor_code if last is not None else None,
            request_id=last.request_id if last is not None else None,
        )

    async def _send_login(self, send: Sender, login: httpx.Request) -> httpx.Response:
        """``send(login)``; a login cut off counts as a failed one (it may have arrived)."""
        try:
            return await send(login)
        except BaseException:
            self.failed_logins += 1
            raise

    def _login_request(self, request: httpx.Request) -> httpx.Request:
        self._check_failed_logins()
        login = self.login_request(request)
        login.extensions[LOGIN_STARTED] = time.monotonic()  # journaled by HttpClient
        # A request the auth flow yields is sent as it is: without this, a login would
        # have no timeout at all. It takes the timeout of the call that needs the token.
        if "timeout" in request.extensions and "timeout" not in login.extensions:
            login.extensions["timeout"] = request.extensions["timeout"]
        user_agent = request.headers.get("User-Agent")
        if user_agent and "User-Agent" not in login.headers:
            login.headers["User-Agent"] = user_agent
        return login

    async def login(self, send: Sender, url: str, *, force: bool = True) -> None:
        """Log in now through ``send``, replacing any cached token (``force=False``: only
        when there is no valid token)."""
        await self._follow()
        if not force and self.token_valid:
            return
        with self._leading():
            self._token = None
            for attempt in itertools.count(1):
                login = self._login_request(httpx.Request("GET", url))
                if await self._accept(await self._send_login(send, login), attempt):
                    return

    async def _accept(self, response: httpx.Response, attempt: int) -> bool:
        """Store the token of login ``attempt``'s answer (``True``); after a refusal worth
        another login (429, 5xx), wait as the retry policy says and return ``False``.

        The wait happens while this login is in flight, so every task that needs a token
        waits with it, and the next login is one call, not one per task.
        """
        try:
            self._token = await self._read_login(response)
        except CdpError as error:
            self._failure = error
            if not isinstance(error, RateLimitedError):  # a 429 was not processed
                self.failed_logins += 1
            if not isinstance(error, RateLimitedError | TransientError):
                raise
            wait = self._wait_before_login(error, attempt)
            if wait is None:
                raise
            logger.warning(
                "%s: the login was refused (%s); every call waits %.1f s for the next one",
                self.connector,
                error.status_code,
                wait,
            )
            await self._sleep(wait)
            return False
        self._failure = None
        self.failed_logins = 0
        return True

    def _wait_before_login(self, error: CdpError, attempt: int) -> float | None:
        """Seconds to wait before login ``attempt + 1``; ``None`` to give up."""
        policy = self.retry
        if policy is None or attempt > policy.max_retries:
            return None
        if not policy.should_retry(error, idempotent=True, sent=False):
            return None
        return policy.wait(error, attempt)

    async def _read_login(self, response: httpx.Response) -> Token:
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
            return self.parse_login(response)
        except CdpError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            reason = type(exc).__name__
        # Raised outside the handler, so the decoder's error (quoting the body) is not kept.
        raise UnexpectedResponseError(
            f"login response could not be read ({reason})",
            connector=self.connector,
            status_code=response.status_code,
            request_id=self.errors.request_id(response),
        )

    @staticmethod
    def _apply(request: httpx.Request, token: Token | None) -> None:
        if token is None:  # pragma: no cover - _accept either stores a token or raises
            raise AuthenticationError("no token available")
        for name, value in token.headers.items():
            request.headers[name] = value.get_secret_value()


class JsonLoginAuth(LoginTokenAuth):
    """Login by POSTing a JSON body to ``path``; the token is a field of the JSON answer.

    The token is sent as ``<header>: <scheme> <token>`` (by default
    ``Authorization: Bearer <token>``; ``scheme=None`` sends the bare token, e.g.
    ``VZ-M2M-Token: <token>``). The lifetime comes from ``expires_in_field`` when given,
    else from the token's JWT ``exp`` claim, else ``default_lifetime`` seconds;
    ``default_lifetime=None`` keeps such a token until the platform refuses it (see
    ``refresh_on``).
    """

    def __init__(
        self,
        path: str,
        payload: Mapping[str, str | SecretStr],
        *,
        token_field: str,
        expires_in_field: str | None = None,
        default_lifetime: float | None = 3600.0,
        header: str = "Authorization",
        scheme: str | None = "Bearer",
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        refresh_on: Callable[[httpx.Response], bool] = unauthorized,
        max_failed_logins: int | None = None,
    ) -> None:
        super().__init__(
            refresh_margin=refresh_margin,
            clock=clock,
            refresh_on=refresh_on,
            max_failed_logins=max_failed_logins,
        )
        self.header = header
        self.scheme = scheme
        self.path = path
        self._payload = dict(payload)
        for value in self._payload.values():
            if isinstance(value, SecretStr):
                register_secret(value.get_secret_value())
        self.token_field = token_field
        self.expires_in_field = expires_in_field
        self.default_lifetime = default_lifetime

    def login_request(self, request: httpx.Request) -> httpx.Request:
        body = {
            key: _reveal(value) if isinstance(value, SecretStr) else value
            for key, value in self._payload.items()
        }
        return httpx.Request("POST", self.endpoint(request, self.path), json=body)

    def parse_login(self, response: httpx.Response) -> Token:
        body: dict[str, Any] = response.json()
        token = _token_text(body[self.token_field])
        value = f"{self.scheme} {token}" if self.scheme else token
        return Token.of({self.header: value}, expires_at=self._expiry(body, token))

    def _expiry(self, body: Mapping[str, Any], token: str) -> float | None:
        now = self._clock()
        if self.expires_in_field and self.expires_in_field in body:
            return now + float(body[self.expires_in_field])
        expiry = jwt_expiry(token)
        if expiry is not None:
            return expiry
        return None if self.default_lifetime is None else now + self.default_lifetime


class OAuth2ClientCredentials(LoginTokenAuth):
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4).

    The client authenticates with HTTP Basic (``client_auth="basic"``; the id and secret
    form-encoded first as the RFC says, unless ``form_encode_basic=False``) or in the body;
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
        form_encode_basic: bool = True,
        default_lifetime: float = 3600.0,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        refresh_on: Callable[[httpx.Response], bool] = unauthorized,
        max_failed_logins: int | None = None,
    ) -> None:
        super().__init__(
            refresh_margin=refresh_margin,
            clock=clock,
            refresh_on=refresh_on,
            max_failed_logins=max_failed_logins,
        )
        self.token_path = token_path
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.client_auth = client_auth
        self.body_format = body_format
        self.form_encode_basic = form_encode_basic
        self.default_lifetime = default_lifetime

    def login_request(self, request: httpx.Request) -> httpx.Request:
        body = {"grant_type": "client_credentials"}
        if self.scope:
            body["scope"] = self.scope
        headers = {"Accept": "application/json"}
        secret = _reveal(self._client_secret)
        if self.client_auth == "basic":
            # RFC 6749 section 2.3.1 form-encodes the id and secret before Basic; some
            # vendors (1NCE) expect the raw pair.
            encode = quote_plus if self.form_encode_basic else str
            credentials = f"{encode(self.client_id)}:{encode(secret)}"
            pair = base64.b64encode(credentials.encode()).decode("ascii")
            register_secret(pair)
            headers["Authorization"] = f"Basic {pair}"
        else:
            body |= {"client_id": self.client_id, "client_secret": secret}
        url = self.endpoint(request, self.token_path)
        if self.body_format == "json":
            return httpx.Request("POST", url, json=body, headers=headers)
        return httpx.Request("POST", url, data=body, headers=headers)

    def parse_login(self, response: httpx.Response) -> Token:
        body: dict[str, Any] = response.json()
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if expires_in is not None else self.default_lifetime
        token = _token_text(body["access_token"])
        return Token.bearer(token, expires_at=self._clock() + lifetime)


class ChainedLoginAuth(TokenAuth):
    """Several login-token flows whose tokens all go on every request, in order.

    Verizon ThingSpace, for one, wants an OAuth token and a session token on each call,
    and its session login needs the OAuth token. The flows log in in the order given, and
    each login call carries the headers of the flows before it. Each flow keeps its own
    token, lifetime, refresh condition (``refresh_on``), failed-login count and single
    login in flight (with its waits after a 429):

    - a request whose answer a flow's ``refresh_on`` matches (the first such flow) makes
      that flow log in again and the request is resent; each flow does so at most once
      per request (after an idle hour both an OAuth token and a session may be stale);
    - a login refused in a way that an earlier flow's ``refresh_on`` matches (a stale OAuth
      token on the session login) makes that earlier flow log in again, and the login is
      retried once.

    Logins are sent through the sender :class:`~cdp_sdk.http.HttpClient` binds (journaled
    like every call, each taking a slot of the rate limiter as every request does).
    """

    def __init__(self, *flows: LoginTokenAuth) -> None:
        if not flows:
            raise ValueError("a chain needs at least one login flow")
        self.flows = flows
        self.send: Sender | None = None

    def bind(
        self,
        *,
        connector: str,
        errors: ErrorTable,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        send: Sender | None = None,
    ) -> None:
        for flow in self.flows:
            flow.bind(
                connector=connector,
                errors=errors,
                base_url=base_url,
                retry=retry,
                sleep=sleep,
                send=send,
            )
        self.send = send

    @property
    def token_valid(self) -> bool:
        return all(flow.token_valid for flow in self.flows)

    def invalidate(self) -> None:
        for flow in self.flows:
            flow.invalidate()

    async def login(self, send: Sender, url: str, *, force: bool = True) -> None:
        request = httpx.Request("GET", url)
        for index, flow in enumerate(self.flows):
            if force or not flow.token_valid:
                await self._login(index, request, send, stale=flow._token, force=force)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        send = self.send
        if send is None:
            raise RuntimeError("bind the chain to an HttpClient before use")
        for index, flow in enumerate(self.flows):
            if not flow.token_valid:
                await self._login(index, request, send, stale=flow._token, force=False)
        renewed: set[int] = set()
        while True:
            used = [flow._token for flow in self.flows]
            self._apply_all(request)
            response = yield request
            await response.aread()  # the flows' refresh_on may read the body
            refused = self._refresher(response, len(self.flows))
            if refused is None or refused in renewed:
                return
            renewed.add(refused)  # each flow logs in again at most once per request
            await self._login(refused, request, send, stale=used[refused], force=True)

    def _refresher(self, response: httpx.Response, before: int) -> int | None:
        """The first flow (among the first ``before``) whose token ``response`` refuses."""
        for index, flow in enumerate(self.flows[:before]):
            if flow.refresh_on(response):
                return index
        return None

    def _apply_all(self, request: httpx.Request, before: int | None = None) -> None:
        for flow in self.flows[:before]:
            LoginTokenAuth._apply(request, flow._token)

    async def _login(
        self, index: int, request: httpx.Request, send: Sender, *, stale: Token | None, force: bool
    ) -> None:
        """Log flow ``index`` in (unless another task just did), carrying the tokens of the
        flows before it; a stale earlier token is renewed once along the way."""
        flow = self.flows[index]
        await flow._follow()
        if not flow._needs_login(stale, force=force):
            return
        with flow._leading():
            renewed_earlier = False
            for attempt in itertools.count(1):
                login = flow._login_request(request)
                self._apply_all(login, before=index)
                response = await flow._send_login(send, login)
                earlier = None if renewed_earlier else self._refresher(response, index)
                if earlier is not None:
                    await response.aclose()
                    renewed_earlier = True
                    renew = self.flows[earlier]
                    await self._login(earlier, request, send, stale=renew._token, force=True)
                    continue
                if await flow._accept(response, attempt):
                    return
