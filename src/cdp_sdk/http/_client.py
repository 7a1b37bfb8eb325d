"""The HTTP client every connector talks through: the only place cdp-sdk does I/O."""

from __future__ import annotations

import asyncio
import ipaddress
import json as jsonlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from cdp_sdk._redact import redact_text
from cdp_sdk._version import __version__
from cdp_sdk.errors import CdpError, ConfigurationError, TransientError, UnexpectedResponseError
from cdp_sdk.http._auth import LOGIN_STARTED, TokenAuth
from cdp_sdk.http._errors import ErrorTable
from cdp_sdk.http._paginate import PageRequest, Paginator, PagingError
from cdp_sdk.http._ratelimit import RateLimiter
from cdp_sdk.http._retry import IDEMPOTENT_METHODS, RetryPolicy

__all__ = ["CallRecord", "HttpClient", "Page", "check_base_url", "is_loopback"]

logger = logging.getLogger("cdp_sdk")

USER_AGENT = f"cdp-sdk/{__version__}"

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

MAX_EMPTY_PAGES = 5
"""Empty pages in a row that a listing follows because the platform claims more data;
one more raises :class:`UnexpectedResponseError` instead of paging on forever."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8 or ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """``url`` without a trailing slash; refuses plain HTTP to anything but loopback."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("base_url must be an absolute http(s) URL")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ValueError(
            "base_url uses plain http to a non-loopback host; use https "
            "or set allow_insecure_http=True"
        )
    if parts.query or parts.fragment:
        raise ValueError("base_url must not carry a query or a fragment")
    if parts.username or parts.password:
        raise ValueError("base_url must not carry credentials; use the connector's settings")
    return url.rstrip("/")


@dataclass(frozen=True)
class Page:
    """One page of a listing: its items, the decoded body and the raw response."""

    items: Sequence[Any]
    body: Any
    response: httpx.Response


@dataclass(frozen=True)
class CallRecord:
    """What one HTTP attempt did, without secrets or identifiers (for journals and metrics)."""

    connector: str
    method: str
    path: str
    status_code: int | None
    duration: float
    attempt: int
    request_id: str | None
    error: str | None


class _Retry(Exception):
    """Carries a retryable error out of one attempt to the tenacity loop."""

    def __init__(self, error: CdpError) -> None:
        super().__init__(error.message)
        self.error = error


class HttpClient:
    """One ``httpx.AsyncClient`` per connector instance, with the shared policies around it.

    Every call goes through :meth:`request`, which takes a slot from the rate limiter,
    sends, classifies the response through the error table, and retries under the retry
    policy. Paths are templates (``/v1/sims/{iccid}``) filled from ``path_params`` with
    percent-encoding; logs and call records show the template, never the identifiers.
    """

    def __init__(
        self,
        *,
        connector: str,
        base_url: str,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        errors: ErrorTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        allow_insecure_http: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        except ValueError as exc:
            raise ConfigurationError(str(exc), connector=connector) from None
        self.connector = connector
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(None)
        self.errors = errors or ErrorTable()
        self.auth = auth
        if isinstance(auth, TokenAuth):
            auth.bind(
                connector=connector,
                errors=self.errors,
                base_url=self.base_url,
                send=self._send_as_is,
            )
        self._origin = urlsplit(self.base_url)[:2]
        self.sleep = sleep
        """The async sleep between retries (replaceable in tests)."""
        self._clock = clock
        self._observers: list[Callable[[CallRecord], None]] = []
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            transport=transport,
            follow_redirects=False,
            verify=True,
            event_hooks={"response": [self._journal_login]},
        )

    def add_observer(self, observer: Callable[[CallRecord], None]) -> None:
        """Call ``observer`` with a :class:`CallRecord` after every attempt (logins too)."""
        self._observers.append(observer)

    def remove_observer(self, observer: Callable[[CallRecord], None]) -> None:
        """Stop calling ``observer``."""
        self._observers.remove(observer)

    async def _journal_login(self, response: httpx.Response) -> None:
        # Logins happen inside the auth flow, out of request()'s sight: record them here.
        started = response.request.extensions.get(LOGIN_STARTED)
        if started is None:
            return
        await response.aread()
        path = response.request.url.path
        prefix = urlsplit(self.base_url).path.rstrip("/")
        template = path[len(prefix) :] if prefix and path.startswith(prefix) else path
        error = self.errors.classify(response, connector=self.connector)
        self._record(
            response.request.method, template, response, error, time.monotonic() - started, 1
        )

    def add_response_hook(self, hook: Callable[[httpx.Response], Awaitable[None]]) -> None:
        """Run ``hook`` on every response (an ``httpx`` event hook; e.g. a recorder)."""
        self._client.event_hooks["response"].append(hook)

    async def _send_as_is(self, request: httpx.Request) -> httpx.Response:
        """Send a login call of a token flow without any auth flow (journaled by the
        response hook; inside the rate-limiter slot of the call that needed the login)."""
        return await self._client.send(request, auth=None)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def authenticate(self, *, force: bool = True) -> bool:
        """Log in now if the auth flow is a login-token flow; ``False`` if there is none.

        ``force=False`` keeps a valid cached token (a login only when needed).
        """
        auth = self.auth
        if not isinstance(auth, TokenAuth):
            return False

        async def send(request: httpx.Request) -> httpx.Response:
            async with self.limiter.slot():
                try:
                    return await self._client.send(request, auth=None)
                except httpx.HTTPError as exc:
                    raise TransientError(
                        f"login failed: {type(exc).__name__}", connector=self.connector
                    ) from None

        await auth.login(send, self.base_url + "/", force=force)
        return True

    async def request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one logical call (with retries) and return its successful response.

        ``idempotent`` defaults to the method's HTTP semantics (GET, HEAD, OPTIONS, PUT and
        DELETE are); pass it for a POST that only reads or a PATCH that sets a value.

        Raises:
            CdpError: the classified failure after the retry policy gave up.
        """
        return await self._send(
            method,
            path,
            self._url(path, path_params),
            params=params,
            json=json,
            headers=headers,
            idempotent=idempotent,
        )

    async def _send(
        self,
        method: str,
        template: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
    ) -> httpx.Response:
        # ``template`` is what logs and call records show; ``url`` is what is sent.
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    return await self._attempt(
                        method, template, url, params, json, headers, idempotent, number
                    )
        except _Retry as retry:
            raise retry.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request` and decode the JSON body (``None`` for an empty body)."""
        response = await self.request(method, path, **kwargs)
        return self.decode(response, path)

    def decode(self, response: httpx.Response, path: str) -> Any:
        """The JSON body of ``response``, or :class:`UnexpectedResponseError`."""
        if not response.content:
            return None
        try:
            return response.json()
        except (jsonlib.JSONDecodeError, UnicodeDecodeError):
            raise UnexpectedResponseError(
                f"{response.request.method} {path} returned a body that is not JSON",
                connector=self.connector,
                status_code=response.status_code,
                request_id=self.errors.request_id(response),
            ) from None

    async def paginate(
        self,
        paginator: Paginator,
        path: str,
        *,
        items: str | Callable[[Any], Sequence[Any]] | None = None,
        method: str = "GET",
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        max_pages: int | None = None,
    ) -> AsyncIterator[Page]:
        """Stream the pages of a listing, one request at a time.

        ``items`` locates the list in the body: a key (``"sims"``), a callable, or ``None``
        when the body is the list. Iteration stops on the paginator's end signal, which
        decides on an empty page too: an empty page that claims more data is followed, or
        raises :class:`UnexpectedResponseError` where the paginator cannot continue from it,
        and so does a run of more than :data:`MAX_EMPTY_PAGES` such pages. A repeated page
        request or a page identical to the previous one raises
        :class:`UnexpectedResponseError` (a vendor paging loop), as does passing
        ``max_pages``.
        """
        request: PageRequest | None = paginator.first(
            PageRequest(self._url(path, path_params), dict(params or {}), json)
        )
        seen: set[str] = set()
        previous: Sequence[Any] | None = None
        empty_run = 0
        while request is not None:
            key = request.key()
            if key in seen:
                raise self._loop_error(path)
            if max_pages is not None and len(seen) >= max_pages:
                raise UnexpectedResponseError(
                    f"{path}: more than {max_pages} pages", connector=self.connector
                )
            seen.add(key)
            response = await self._send(
                method,
                path,
                self._same_origin(request.url, path),
                params=request.params,
                json=request.json,
                headers=None,
                idempotent=idempotent,
            )
            body = self.decode(response, path)
            page_items = self._items(body, items, path, response)
            if page_items and previous is not None and page_items == previous:
                raise self._loop_error(path)
            yield Page(page_items, body, response)
            try:
                request = paginator.next(request, response, body, page_items)
            except PagingError as exc:
                raise UnexpectedResponseError(
                    f"{method} {path}: {exc}", connector=self.connector
                ) from None
            if page_items:
                previous, empty_run = page_items, 0
            elif request is not None:
                empty_run += 1
                if empty_run > MAX_EMPTY_PAGES:
                    raise UnexpectedResponseError(
                        f"{method} {path}: {empty_run} empty pages in a row claim more data",
                        connector=self.connector,
                    )

    async def _attempt(
        self,
        method: str,
        template: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        number: int,
    ) -> httpx.Response:
        started = self._clock()
        response: httpx.Response | None = None
        error: CdpError | None = None
        sent = True
        async with self.limiter.slot():
            try:
                response = await self._client.request(
                    method, url, params=_query(params), json=json, headers=headers
                )
            except CdpError as exc:
                error = exc
            except httpx.HTTPError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                error = TransientError(
                    f"{method} {template} failed: {type(exc).__name__}", connector=self.connector
                )
        if response is not None:
            error = self.errors.classify(response, connector=self.connector)
        self._record(method, template, response, error, self._clock() - started, number)
        if error is None and response is not None:
            return response
        assert error is not None
        if self.retry.should_retry(error, idempotent=idempotent, sent=sent):
            raise _Retry(error)
        raise error

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        failure = outcome.exception() if outcome is not None else None
        if not isinstance(failure, _Retry):  # pragma: no cover - only _Retry is retried
            return 0.0
        return self.retry.wait(failure.error, state.attempt_number)

    def _log_retry(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retry):
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "%s: retrying in %.1f s after %s (attempt %d of %d)",
                self.connector,
                wait,
                redact_text(str(failure.error)),
                state.attempt_number,
                self.retry.max_retries + 1,
            )

    def _record(
        self,
        method: str,
        template: str,
        response: httpx.Response | None,
        error: CdpError | None,
        duration: float,
        attempt: int,
    ) -> None:
        status = response.status_code if response is not None else None
        request_id = self.errors.request_id(response) if response is not None else None
        # Connectors pass templates; a concrete path (or a request id echoing one) is
        # redacted all the same, so neither logs nor journals ever hold an identifier.
        template = redact_text(template)
        request_id = redact_text(request_id) if request_id is not None else None
        logger.debug(
            "%s: %s %s -> %s in %.0f ms (attempt %d)",
            self.connector,
            method,
            template,
            status if status is not None else type(error).__name__,
            duration * 1000,
            attempt,
        )
        record = CallRecord(
            connector=self.connector,
            method=method,
            path=template,
            status_code=status,
            duration=duration,
            attempt=attempt,
            request_id=request_id,
            error=type(error).__name__ if error is not None else None,
        )
        for observer in self._observers:
            observer(record)

    def _url(self, path: str, path_params: Mapping[str, Any] | None) -> str:
        if not path_params:
            return path
        missing = set(re.findall(r"\{(\w+)\}", path)) - set(path_params)
        if missing:
            raise ValueError(f"{path}: no value for {', '.join(sorted(missing))}")
        return path.format_map(
            {key: quote(str(value), safe="") for key, value in path_params.items()}
        )

    def _same_origin(self, url: str, template: str) -> str:
        parts = urlsplit(url)
        if parts.scheme and parts.netloc and tuple(parts[:2]) != self._origin:
            raise UnexpectedResponseError(
                f"{template}: refusing to follow a next-page link to another host",
                connector=self.connector,
            )
        return url

    def _items(
        self,
        body: Any,
        items: str | Callable[[Any], Sequence[Any]] | None,
        path: str,
        response: httpx.Response,
    ) -> Sequence[Any]:
        found: Any
        if callable(items):
            found = items(body)
        elif items is None or body is None:
            found = body
        elif isinstance(body, Mapping) and items in body:
            found = body[items]
        else:
            raise UnexpectedResponseError(
                f"{response.request.method} {path}: the response has no {items!r} list",
                connector=self.connector,
                status_code=response.status_code,
                request_id=self.errors.request_id(response),
            )
        if found is None:
            found = []
        if not isinstance(found, list):
            raise UnexpectedResponseError(
                f"{response.request.method} {path}: expected a list of items in the response",
                connector=self.connector,
                status_code=response.status_code,
                request_id=self.errors.request_id(response),
            )
        return found

    def _loop_error(self, path: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"{path}: the platform repeated a page; stopping to avoid an endless listing",
            connector=self.connector,
        )


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # None when there is nothing to add: httpx replaces a URL's own query with any params
    # mapping, even an empty one, which would drop the query of a next-page URL.
    query = {key: value for key, value in (params or {}).items() if value is not None}
    return query or None
