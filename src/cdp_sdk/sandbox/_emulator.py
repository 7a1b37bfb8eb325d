"""The emulator framework: a vendor API as a plain request -> response function.

An emulator subclasses :class:`Emulator`, declares its endpoints with :func:`route` and
answers from a :class:`~cdp_sdk.sandbox.Fleet`. The base class adds what every vendor API
has: authentication hooks, token expiry, rate limits answered the vendor's way, latency,
and injected faults. The same emulator runs in-process (:meth:`Emulator.transport`, for
``httpx`` sync and async clients) or on a loopback port (:meth:`Emulator.serve`).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import unquote

import httpx
from pydantic import BaseModel

from cdp_sdk.http import is_loopback
from cdp_sdk.sandbox._fleet import Fleet, FleetSim

__all__ = [
    "Emulator",
    "EmulatorRequest",
    "EmulatorServer",
    "EmulatorTransport",
    "Fault",
    "RateWindow",
    "TokenStore",
    "json_response",
    "route",
]

Handler = Callable[[Any, "EmulatorRequest"], httpx.Response]
H = TypeVar("H", bound=Handler)


def route(method: str, template: str, *, auth: bool = True) -> Callable[[H], H]:
    """Declare an emulator method as the handler of ``method template``.

    ``template`` uses ``{name}`` placeholders for path segments (``/v1/sims/{sim_id}``);
    ``auth=False`` marks a public endpoint such as the login call.
    """

    def mark(handler: H) -> H:
        handler.__dict__["_route"] = (method.upper(), template, auth)
        return handler

    return mark


def json_response(
    data: Any, status: int = 200, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A JSON response, as an emulator handler returns it."""
    return httpx.Response(status, json=data, headers=headers)


class _BadBody(Exception):
    """The request body is not JSON (answered with the vendor's 400)."""


@dataclass(frozen=True)
class EmulatorRequest:
    """An incoming request with its matched path parameters."""

    request: httpx.Request
    path_params: dict[str, str]

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def params(self) -> httpx.QueryParams:
        return self.request.url.params

    @property
    def headers(self) -> httpx.Headers:
        return self.request.headers

    def json(self) -> Any:
        """The JSON body (``None`` when empty); a body that is not JSON answers 400."""
        try:
            return (
                httpx.Response(200, content=self.request.content).json()
                if self.request.content
                else None
            )
        except ValueError:
            raise _BadBody from None


@dataclass
class Fault:
    """A failure to inject into the next matching request(s).

    ``kind``: ``"status"`` answers ``status`` with the vendor's error body (429 goes
    through the vendor's rate-limit answer); ``"timeout"`` and ``"drop"`` fail the
    transport (a read timeout, a closed connection); ``"malformed"`` sends the real answer
    with a truncated body; ``"replay"`` answers with the previous response to the same
    path, as a server stuck on one page would. ``path`` is a regular expression searched
    in the URL path (``None``: any path); ``times`` is how many requests it hits, after
    letting ``after`` matching requests through.
    """

    kind: Literal["status", "timeout", "drop", "malformed", "replay"] = "status"
    status: int = 503
    path: str | None = None
    method: str | None = None
    times: int = 1
    after: int = 0
    """Matching requests to let through before the fault starts."""
    retry_after: float | None = None

    def matches(self, request: httpx.Request) -> bool:
        if self.method and request.method != self.method.upper():
            return False
        return self.path is None or re.search(self.path, request.url.path) is not None


class RateWindow:
    """At most ``limit`` requests per ``per`` seconds (a sliding window)."""

    def __init__(
        self, limit: int, per: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ):
        if limit < 1 or per <= 0:
            raise ValueError("a rate window needs limit >= 1 and per > 0")
        self.limit = limit
        self.per = per
        self._clock = clock
        self._hits: deque[float] = deque()

    def hit(self) -> float | None:
        """Count one request; ``None`` if allowed, else seconds until one is."""
        now = self._clock()
        while self._hits and self._hits[0] <= now - self.per:
            self._hits.popleft()
        if len(self._hits) >= self.limit:
            return self._hits[0] + self.per - now
        self._hits.append(now)
        return None


class TokenStore:
    """Tokens an emulator issues at login, each valid for ``ttl`` seconds."""

    def __init__(self, ttl: float = 3600.0, *, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self) -> str:
        """A new token."""
        token = secrets.token_urlsafe(24)
        self._expiry[token] = self._clock() + self.ttl
        self.issued += 1
        return token

    def valid(self, token: str | None) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        expiry = self._expiry.get(token or "")
        return expiry is not None and self._clock() < expiry

    def expire_all(self) -> None:
        """Expire every token now (simulates the platform revoking sessions)."""
        self._expiry.clear()


class Emulator:
    """Base class of vendor API emulators.

    Subclasses set ``name``, declare endpoints with :func:`route`, and override the hooks
    that give the vendor its shape:

    - :meth:`authenticate`: ``None`` when the request's credentials are good, else the
      vendor's refusal (usually 401);
    - :meth:`error`: the vendor's error response for a status, code and message;
    - :meth:`rate_limited`: the vendor's 429 (headers and body).

    Built in: a request log, ``faults`` to inject failures, ``rate_limit`` (a
    :class:`RateWindow`), ``latency`` seconds per request, ``max_page_size`` (honoured by
    handlers through :meth:`page_limit`, which also records each paged route's documented
    maximum in :attr:`page_maxima`), and a lock so a served emulator handles one request
    at a time. ``fleet_options`` shape the fleets generic tools give it.

    Handlers do O(page) work per page (the fleet keeps its orderings between pages, see
    :meth:`~cdp_sdk.sandbox.Fleet.ordered`), so a benchmark's floor does not drift with
    the size of the fleet.
    """

    name: ClassVar[str] = "emulator"
    fleet_options: ClassVar[Mapping[str, Any]] = {}
    """Arguments of :class:`Fleet` that give a fleet the platform's identifiers (e.g.
    ``{"iccid_digits": 20}`` where the platform's ICCIDs have 20 digits). Generic tools
    (the fault matrix, the conformance suite) build their fleets with them."""
    _routes: ClassVar[list[tuple[str, re.Pattern[str], str, bool, str]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Declaration order (base classes first) decides which route matches first; an
        # override without its own @route keeps the route of the method it overrides.
        markers: dict[str, tuple[str, str, bool]] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                marker = getattr(value, "_route", None)
                if marker:
                    markers[attribute] = marker
        cls._routes = [
            (method, _compile(template), template, auth, attribute)
            for attribute, (method, template, auth) in markers.items()
        ]

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        latency: float = 0.0,
        rate_limit: RateWindow | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fleet = fleet if fleet is not None else Fleet()
        self.latency = latency
        self.rate_limit = rate_limit
        self.clock = clock
        self.max_page_size: int | None = None
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.page_maxima: dict[tuple[str, str], int] = {}
        """The documented largest page of each paged route seen so far, by ``(method,
        template)``: recorded by :meth:`page_limit` (benchmarks count the fewest requests
        a listing needs from it)."""
        self._last_response: dict[str, httpx.Response] = {}
        self._route: tuple[str, str] | None = None
        self._listed: tuple[object, tuple[FleetSim, ...]] = (None, ())
        self._lock = threading.RLock()

    # -- hooks -------------------------------------------------------------------------

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        """``None`` if the request is authenticated, else the vendor's refusal."""
        return None

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        """The vendor's error response."""
        return json_response({"code": code, "message": message}, status)

    def response_headers(self, request: httpx.Request) -> Mapping[str, str]:
        """Headers the vendor adds to every answer (e.g. rate-limit counters)."""
        return {}

    def rate_limited(self, retry_after: float) -> httpx.Response:
        """The vendor's answer to a request over its rate limit."""
        response = self.error(429, "rate_limited", "Too many requests")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    @classmethod
    def connector_settings(cls, model: type[BaseModel]) -> dict[str, Any]:
        """The settings a connector (whose settings model is ``model``) needs to reach an
        emulator built with its defaults: the keyword arguments of ``__init__`` named like
        a setting, with their default values (the test credentials it accepts).

        The fault matrix and other generic tools use it; an emulator whose credentials are
        given another way overrides it.
        """
        fields = getattr(model, "model_fields", {})
        return {
            name: parameter.default
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if name in fields
            and parameter.kind is inspect.Parameter.KEYWORD_ONLY
            and isinstance(parameter.default, str | int | float)
            and not isinstance(parameter.default, bool)
        }

    # -- helpers for handlers ----------------------------------------------------------

    def page_limit(self, requested: Any, *, default: int, maximum: int) -> int:
        """The page size to serve: the request's (the default when missing, unreadable or
        below 1), clamped to the vendor maximum and to ``max_page_size`` (set by tests to
        force many pages from a small fleet)."""
        if self._route is not None:
            self.page_maxima[self._route] = maximum
        try:
            size = int(requested) if requested not in (None, "") else default
        except (TypeError, ValueError):
            size = default
        size = min(size if size >= 1 else default, maximum)
        return min(size, self.max_page_size) if self.max_page_size else size

    def lists(self, iccid: str) -> bool:
        """Whether the platform's SIM listing shows this SIM (all do by default)."""
        return True

    def listed(self) -> Sequence[FleetSim]:
        """The SIMs the platform's listing shows (:meth:`lists`), in serial order: kept
        until the fleet's :attr:`~cdp_sdk.sandbox.Fleet.revision` changes, so the pages of
        a listing are slices. ``lists`` must then depend on the fleet only (a SIM's status,
        say), as the built-in emulators' do."""
        key = self.fleet.revision
        if self._listed[0] != key:
            self._listed = (
                key,
                tuple(sim for sim in self.fleet.ordered() if self.lists(sim.iccid)),
            )
        return self._listed[1]

    def route_of(self, request: httpx.Request) -> tuple[str, str] | None:
        """The ``(method, template)`` of the route that answers ``request``, if any."""
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        for method, pattern, template, _auth, _attribute in self._routes:
            if method == request.method and pattern.fullmatch(path):
                return method, template
        return None

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (raises ``httpx`` transport errors for injected faults)."""
        with self._lock:
            self.requests.append(request)
            response = self._answer(request)
            for name, value in self.response_headers(request).items():
                response.headers.setdefault(name, value)
            return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        fault = self._take_fault(request)
        if fault is not None and fault.kind != "malformed":
            return self._fail(fault, request)
        response = self._dispatch(request)
        response.read()
        # The answer a "replay" fault repeats: the latest per path, for a bounded number of
        # paths (a long run of per-SIM calls must not keep every answer).
        last = self._last_response
        last.pop(request.url.path, None)
        last[request.url.path] = response
        if len(last) > _REPLAY_PATHS:
            del last[next(iter(last))]
        if fault is not None:
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return httpx.Response(
                response.status_code,
                headers=headers,
                content=response.content[: max(1, len(response.content) // 2)],
            )
        return response

    def requests_to(self, pattern: str, method: str | None = None) -> list[httpx.Request]:
        """The logged requests whose path matches ``pattern`` (a regular expression)."""
        return [
            r
            for r in self.requests
            if re.search(pattern, r.url.path) and (method is None or r.method == method.upper())
        ]

    def _dispatch(self, request: httpx.Request) -> httpx.Response:
        if self.rate_limit is not None:
            wait = self.rate_limit.hit()
            if wait is not None:
                return self.rate_limited(wait)
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        allowed = []
        for method, pattern, _template, auth, attribute in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            allowed.append(method)
            if method != request.method:
                continue
            params = {key: unquote(value) for key, value in match.groupdict().items()}
            incoming = EmulatorRequest(request, params)
            if auth and (refusal := self.authenticate(incoming)) is not None:
                return refusal
            handler: Handler = getattr(type(self), attribute)
            self._route = (method, _template)
            try:
                return handler(self, incoming)
            except _BadBody:
                return self.error(400, "invalid_body", "The request body is not valid JSON")
            finally:
                self._route = None
        if allowed:
            return self.error(405, "method_not_allowed", "Method not allowed")
        return self.error(404, "not_found", "No such endpoint")

    def _take_fault(self, request: httpx.Request) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.matches(request):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _fail(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        if fault.kind == "timeout":
            raise httpx.ReadTimeout("emulated timeout", request=request)
        if fault.kind == "drop":
            raise httpx.RemoteProtocolError("emulated dropped connection", request=request)
        if fault.kind == "replay":
            previous = self._last_response.get(request.url.path)
            if previous is not None:
                return httpx.Response(
                    previous.status_code, headers=previous.headers, content=previous.content
                )
            return self._dispatch(request)
        if fault.status == 429:
            return self.rate_limited(fault.retry_after if fault.retry_after is not None else 1)
        response = self.error(fault.status, f"emulated_{fault.status}", "Emulated failure")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return response

    # -- ways to run it ----------------------------------------------------------------

    def transport(self) -> EmulatorTransport:
        """An ``httpx`` transport (sync and async) that answers from this emulator."""
        return EmulatorTransport(self)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[EmulatorServer]:
        """Serve the emulator over HTTP on a loopback address while the block runs."""
        server = EmulatorServer(self, host, port)
        server.start()
        try:
            yield server
        finally:
            server.stop()


class EmulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends ``httpx`` requests to an emulator in-process, with its latency."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if self.emulator.latency:
            time.sleep(self.emulator.latency)
        return self.emulator.handle(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if self.emulator.latency:
            await asyncio.sleep(self.emulator.latency)
        return self.emulator.handle(request)


class EmulatorServer:
    """An emulator on a loopback HTTP port, for ``curl`` or another SDK."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise ValueError("emulators listen on loopback addresses only")
        self.emulator = emulator
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host.strip("[]"), port), _handler_for(emulator))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give a client, e.g. ``http://127.0.0.1:50123``."""
        address = self._server.server_address
        host, port = str(address[0]), int(address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, each answer
        # would wait for the client's delayed ACK (about 40 ms on Linux).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or "127.0.0.1"
            request = httpx.Request(
                self.command, f"http://{host}{self.path}", headers=dict(self.headers), content=body
            )
            if emulator.latency:
                time.sleep(emulator.latency)
            try:
                response = emulator.handle(request)
            except httpx.TimeoutException:
                time.sleep(5.0)
                self.close_connection = True
                return
            except httpx.TransportError:
                self.close_connection = True
                return
            content = response.read()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):  # the client hung up: fine
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: ids in paths
            return

    return _Handler


_REPLAY_PATHS = 1024
"""Paths whose latest answer an emulator keeps for "replay" faults."""


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(pattern)
