"""The HTTP client every connector talks through: the only place cdp-sdk does I/O."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from cdp_sdk._redact import redact_text
from cdp_sdk._version import __version__
from cdp_sdk.errors import CdpError, ClosedError, ConfigurationError, UnexpectedResponseError
from cdp_sdk.http._auth import LOGIN_STARTED, TokenAuth
from cdp_sdk.http._errors import ErrorTable
from cdp_sdk.http._guard import ItemKey, ListingGuard
from cdp_sdk.http._network import network_error
from cdp_sdk.http._paced import PacedTransport
from cdp_sdk.http._paginate import PageRequest, Paginator
from cdp_sdk.http._ratelimit import RateLimiter
from cdp_sdk.http._retry import IDEMPOTENT_METHODS, RetryPolicy
from cdp_sdk.http._text import load_json
from cdp_sdk.http._timeout import current_timeout, http_timeout
from cdp_sdk.http._tls import shared_ssl_context
from cdp_sdk.http._transport import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_RESPONSE_BYTES,
    LimitedTransport,
    limit_client,
)

__all__ = [
    "CallRecord",
    "HttpClient",
    "Page",
    "check_base_url",
    "is_loopback",
    "tls_verification",
]

logger = logging.getLogger("cdp_sdk")

USER_AGENT = f"cdp-sdk/{__version__}"

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

MAX_EMPTY_PAGES = 50
"""Empty pages in a row that a listing follows while the platform says more data comes."""

_SIGNAL_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)


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

    Every call goes through :meth:`request`, which sends, classifies the response through
    the error table, and retries under the retry policy; every request that reaches the
    server (logins and resends included) takes a slot of the rate limiter on its way out.
    Paths are templates (``/v1/sims/{iccid}``) filled from ``path_params`` with
    percent-encoding; logs and call records show the template, never the identifiers.

    TLS: ``verify`` is ``True`` (the CA bundle of ``certifi``, or the standard
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set), the path of a PEM CA bundle file (or a
    directory of hashed certificates), or ``False`` (no verification). ``proxy`` sends every
    request through that proxy; without it, the standard ``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY`` and ``NO_PROXY`` variables apply (when no ``transport`` is given). A call
    made inside :func:`~cdp_sdk.http.call_timeout` uses that timeout instead of ``timeout``.
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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: bool | str = True,
        proxy: str | None = None,
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
                retry=self.retry,
                sleep=lambda seconds: self.sleep(seconds),
                send=self._send_as_is,
            )
        self._origin = urlsplit(self.base_url)[:2]
        self.sleep = sleep
        """The async sleep between retries (replaceable in tests)."""
        self._clock = clock
        self._observers: list[Callable[[CallRecord], None]] = []
        self.max_response_bytes = max_response_bytes
        self.timeout = timeout
        """The seconds each network operation may take (see :func:`call_timeout`)."""
        self._host = urlsplit(self.base_url).hostname or "the platform"
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            timeout=http_timeout(timeout),
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                **(headers or {}),
            },
            transport=transport,
            follow_redirects=False,
            # One context per verify setting, shared by every client of the process:
            # building one per client was most of a first connect().
            verify=tls_verification(verify, connector=connector) if transport is None else True,
            proxy=proxy if transport is None else None,  # a given transport is the network
            event_hooks={"response": [self._journal_login]},
        )
        # Every request takes a slot of the rate limiter and every response is read
        # through the size limit: logins, resends and proxied calls included.
        limit_client(
            self._client,
            lambda inner: LimitedTransport(
                PacedTransport(inner, self.limiter, self.errors),
                max_bytes=max_response_bytes,
                connector=connector,
            ),
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
        response hook; the transport takes a rate-limiter slot for it like for any request)."""
        return await self._client.send(request, auth=None)

    async def aclose(self) -> None:
        """Close the connection pool; later calls raise :class:`ClosedError`."""
        await self._client.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._client.is_closed

    def _require_open(self) -> None:
        if self._client.is_closed:
            raise ClosedError(
                f"the {self.connector} connector is closed; connect again", connector=self.connector
            )

    def _timeout(self) -> httpx.Timeout:
        """The timeout of the call in progress (its override, else :attr:`timeout`)."""
        return http_timeout(current_timeout(self.timeout))

    async def authenticate(self, *, force: bool = True) -> bool:
        """Log in now if the auth flow is a login-token flow; ``False`` if there is none.

        ``force=False`` keeps a valid cached token (a login only when needed).
        """
        self._require_open()
        auth = self.auth
        if not isinstance(auth, TokenAuth):
            return False

        async def send(request: httpx.Request) -> httpx.Response:
            # No call of the connector's own is there for the login to take its timeout
            # from: it takes this call's (a per-call timeout, else the setting).
            if "timeout" not in request.extensions:
                request.extensions["timeout"] = self._timeout().as_dict()
            try:
                return await self._client.send(request, auth=None)
            except httpx.HTTPError as exc:
                error = network_error(exc, where="login", host=self._host, connector=self.connector)
            raise error from error.__cause__

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
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one logical call (with retries) and return its successful response.

        The body is ``json`` (a JSON document) or ``data`` (form fields, sent
        ``application/x-www-form-urlencoded``), not both. ``idempotent`` defaults to the
        method's HTTP semantics (GET, HEAD, OPTIONS, PUT and DELETE are); pass it for a POST
        that only reads or a POST or PATCH that sets a value.

        Raises:
            CdpError: the classified failure after the retry policy gave up.
        """
        if json is not None and data is not None:
            raise ValueError("send a JSON body or form data, not both")
        return await self._send(
            method,
            path,
            self._url(path, path_params),
            params=params,
            json=json,
            data=data,
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
        data: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        # ``template`` is what logs and call records show; ``url`` is what is sent.
        self._require_open()
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
                        method, template, url, params, json, headers, idempotent, number, data
                    )
        except _Retry as retry:
            raise retry.error from retry.error.__cause__
        raise AssertionError("unreachable")  # pragma: no cover

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request` and decode the JSON body (``None`` for an empty body)."""
        response = await self.request(method, path, **kwargs)
        return self.decode(response, path)

    def decode(self, response: httpx.Response, path: str) -> Any:
        """The JSON body of ``response``, or :class:`UnexpectedResponseError` for a body
        that is not JSON or is nested too deeply to decode."""
        if not response.content:
            return None
        try:
            return load_json(response.content)  # invalid UTF-8 read as U+FFFD, not refused
        except (ValueError, UnicodeDecodeError):
            reason = "a body that is not JSON"
        except RecursionError:
            reason = "a JSON body nested too deeply to read"
        # Raised outside the handler: the decoder's error (which quotes the body) is not kept.
        raise self._unexpected(response, f"{response.request.method} {path} returned {reason}")

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
        key: ItemKey | None = None,
        max_empty_pages: int = MAX_EMPTY_PAGES,
    ) -> AsyncIterator[Page]:
        """Stream the pages of a listing, one request at a time.

        ``items`` locates the list in the body: a key (``"sims"``), a callable, or ``None``
        when the body is the list. The paginator's reading of the vendor's end signal alone
        ends the listing: an empty page that the vendor says is not the last is followed
        (or, where the paginator cannot go on from it, raises). A listing is complete or
        raises :class:`UnexpectedResponseError`, never silently short. That error is also
        raised, before the offending page is yielded, for a paging signal that cannot be
        read, a page request or a page seen before anywhere in the listing, a record whose
        natural ``key`` was seen before (``key`` reads it from a vendor record; memory then
        grows with the records), more than ``max_empty_pages`` empty pages in a row that
        claim more data, and more than ``max_pages`` pages.
        """
        endpoint = f"{method.upper()} {path}"
        guard = ListingGuard(connector=self.connector, endpoint=endpoint, key=key)
        request: PageRequest | None = paginator.first(
            PageRequest(self._url(path, path_params), dict(params or {}), json)
        )
        empty_run = 0
        try:
            while request is not None:
                if max_pages is not None and guard.requests >= max_pages:
                    raise UnexpectedResponseError(
                        f"{path}: more than {max_pages} pages", connector=self.connector
                    )
                guard.check_request(request)
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
                guard.check_page(page_items)
                # The next request is worked out before the page is handed over, so that this
                # frame keeps nothing of it while the caller reads it (the caller's records
                # and the page's decoded body at once) nor while the next page is fetched (two
                # pages at once). An error it finds is raised after the page, as before.
                failure: UnexpectedResponseError | None = None
                try:
                    following = self._next_page(
                        paginator, request, response, body, page_items, path
                    )
                except UnexpectedResponseError as error:
                    following, failure = None, error
                empty_run = 0 if page_items else empty_run + 1
                if following is not None and empty_run >= max_empty_pages:
                    failure = self._unexpected(
                        response,
                        f"{endpoint}: {empty_run} empty pages in a row, yet the platform says "
                        "more data follows; stopping rather than page forever",
                    )
                handover = [Page(page_items, body, response)]
                del body, page_items, response
                yield handover.pop()  # popped: the frame holds no reference while suspended
                if failure is not None:
                    raise failure
                request = following
        finally:
            guard.close()

    def _next_page(
        self,
        paginator: Paginator,
        request: PageRequest,
        response: httpx.Response,
        body: Any,
        items: Sequence[Any],
        path: str,
    ) -> PageRequest | None:
        """The paginator's next request; an unreadable or impossible paging signal raises
        :class:`UnexpectedResponseError` naming the endpoint."""
        try:
            return paginator.next(request, response, body, items)
        except _SIGNAL_ERRORS as exc:
            reason = str(exc)[:200] if isinstance(exc, ValueError) else type(exc).__name__
        raise self._unexpected(
            response,
            f"{response.request.method} {path}: the paging signal cannot be followed ({reason})",
        )

    def _unexpected(self, response: httpx.Response, message: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            message,
            connector=self.connector,
            status_code=response.status_code,
            request_id=self.errors.request_id(response),
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
        data: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        started = self._clock()
        response: httpx.Response | None = None
        error: CdpError | None = None
        sent = True
        try:
            # The transport takes a slot of the rate limiter for each request it sends:
            # this one, and any login the auth flow sends first or after a 401.
            response = await self._client.request(
                method,
                url,
                params=_query(params),
                json=json,
                data=data,
                headers=headers,
                timeout=self._timeout(),
            )
            _unbind_stream(response)
        except CdpError as exc:
            # Raised inside httpx by the auth flow (a refused login: the request itself
            # was not sent) or by the body limit (not retried anyway).
            error, sent = exc, False
        except httpx.HTTPError as exc:
            # A login the auth flow made failed: the request itself was never sent.
            sent = not isinstance(exc, _NOT_SENT) and not _is_login(exc)
            error = network_error(
                exc,
                where=f"{method} {template}",
                host=self._host,
                connector=self.connector,
                outcome_unknown=sent and not idempotent,
            )
        if response is not None:
            error = self.errors.classify(response, connector=self.connector)
            if error is None and _is_html(response):
                # A proxy, captive portal or maintenance page answered, not the platform's
                # API: a write "done" this way never reached it.
                error = self._unexpected(
                    response,
                    f"{method} {template} was answered with an HTML page, not by the "
                    "platform's API (a proxy or a maintenance page?)",
                )
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
            try:
                found = items(body)
            except _SIGNAL_ERRORS as exc:
                raise self._unexpected(
                    response,
                    f"{response.request.method} {path}: the list of items cannot be read "
                    f"({type(exc).__name__})",
                ) from None
        elif items is None or body is None:
            found = body
        elif isinstance(body, Mapping) and items in body:
            found = body[items]
        else:
            raise self._unexpected(
                response, f"{response.request.method} {path}: the response has no {items!r} list"
            )
        if found is None:
            found = []
        if not isinstance(found, list):
            raise self._unexpected(
                response, f"{response.request.method} {path}: expected a list of items"
            )
        return found


def tls_verification(verify: bool | str, *, connector: str | None = None) -> ssl.SSLContext:
    """The SSL context ``httpx`` is given as ``verify``: the process-wide one
    (:func:`shared_ssl_context`) for ``True`` (the default CA bundle, or the standard
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), ``False``, or the CA bundle file or certificate
    directory at the path ``verify``.

    Raises:
        ConfigurationError: the path is not a readable CA bundle.
    """
    try:
        return shared_ssl_context(
            verify if isinstance(verify, bool) else os.path.expanduser(verify)
        )
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(
            f"setting 'verify': the CA bundle cannot be read ({reason}); give the path of a "
            "PEM file of CA certificates",
            connector=connector,
        ) from None


def _unbind_stream(response: httpx.Response) -> None:
    """Break the cycle between a read response and its stream, so that the response, and
    its body, go as soon as their last user lets them go.

    httpx's client wraps each response's stream in one that refers back to the response.
    Such a cycle is freed only by the garbage collector's passes over older objects, which
    come seldom: a listing held the bodies of several earlier pages besides its current
    one (6 MiB more for emnify's pages of 2,500 SIMs). The body is read by now; the
    stream that replaces the spent one gives the same bytes.
    """
    response.stream = httpx.ByteStream(response.content)


def _is_html(response: httpx.Response) -> bool:
    """Whether a response is an HTML page (by its content type, with a body)."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml") and bool(response.content)


def _is_login(exc: httpx.HTTPError) -> bool:
    """Whether ``exc`` came from a login call of the auth flow."""
    try:
        return LOGIN_STARTED in exc.request.extensions
    except RuntimeError:  # an error raised without its request
        return False


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # None when there is nothing to add: httpx replaces a URL's own query with any params
    # mapping, even an empty one, which would drop the query of a next-page URL.
    query = {key: value for key, value in (params or {}).items() if value is not None}
    return query or None
