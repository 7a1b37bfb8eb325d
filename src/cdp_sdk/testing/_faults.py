"""The fault matrix: every connector that has an emulator, under every fault we know of.

A connector joins by shipping an emulator (an :class:`~cdp_sdk.sandbox.Emulator` subclass
whose ``name`` is the connector's, exported by the connector's package or its ``emulator``
module); the credentials come from :meth:`Emulator.connector_settings`. Nothing here knows
a vendor: faults are injected by :class:`FaultTransport`, which wraps the emulator's own
transport, and every fault that needs to know the vendor's shapes gets them from the
emulator (its error and rate-limit answers, its token store) or by replaying an earlier
answer of the same listing.

Each cell runs one operation (the subscriptions listing, or one write: a status change
or a tag update) against a fresh emulator with one fault injected, and ends:

- ``RECOVERED``: the operation completed, duplicate-free and equal to the fault-free run;
- ``TYPED``: it raised a :class:`~cdp_sdk.errors.CdpError` naming the connector, with the
  HTTP status and vendor code where the fault has them;
- anything else (a short or changed result, duplicates, a raw exception, a hang) fails.

Every cell declares the outcome it must have; :func:`run_matrix` checks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import json
import struct
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import import_module
from typing import Any

import httpx

import cdp_sdk
from cdp_sdk._connector import BaseConnector
from cdp_sdk._facade import AsyncConnector
from cdp_sdk._redact import redact_text
from cdp_sdk.errors import (
    CdpError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseTooLargeError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http._auth import LOGIN_STARTED
from cdp_sdk.models import Capability, SimStatus, Subscription
from cdp_sdk.sandbox import Emulator, Fleet, TokenStore

__all__ = [
    "FAULTS",
    "Cell",
    "CellResult",
    "EmulatedConnector",
    "Expected",
    "FaultCase",
    "FaultTransport",
    "Outcome",
    "emulated_connectors",
    "matrix_cells",
    "run_cell",
    "run_matrix",
]

FLEET_SIZE = 12
FLEET_SEED = 7
PAGE_SIZE = 2
"""A small fleet served two SIMs a page: a listing of several pages (also within each
window of a listing walked in windows), so that page 3 can repeat page 1."""
MAX_RESPONSE_BYTES = 1024 * 1024
"""``max_response_bytes`` in the matrix: far above any page of the small fleet."""
OVERSIZED_BYTES = 8 * MAX_RESPONSE_BYTES
CELL_TIMEOUT = 30.0
"""Seconds a cell may run (retries do not really sleep, so none comes close)."""
FAULT_CODE = "90001"
"""The vendor code the injected error answers carry (digits: some vendors' codes are)."""
OTHER_ORIGIN = "https://elsewhere.invalid"
TAG_KEY = "fault-matrix"

LISTING = "subscriptions"
WRITE = "write"
OPERATIONS = (LISTING, WRITE)


# -- who joins --------------------------------------------------------------------------


@dataclass(frozen=True)
class EmulatedConnector:
    """An installed connector with an emulator: what the matrix (and any generic tool)
    needs to run it offline."""

    name: str
    connector: type[BaseConnector]
    emulator: type[Emulator]

    def settings(self) -> dict[str, Any]:
        """Settings that reach an emulator built with its defaults."""
        model = self.connector.settings_model
        settings = self.emulator.connector_settings(model)
        if "base_url" not in settings and model.model_fields["base_url"].is_required():
            settings["base_url"] = f"https://{self.name}.emulator.invalid"
        return settings

    def start(self, fleet: Fleet) -> Emulator:
        """The emulator over ``fleet``, paging small and with no server-side rate limit."""
        emulator = self.emulator(fleet)
        emulator.max_page_size = PAGE_SIZE
        emulator.rate_limit = None
        return emulator


def find_emulator(connector: type[BaseConnector]) -> type[Emulator] | None:
    """The emulator of ``connector``: an :class:`Emulator` subclass named like it, in the
    connector's package or that package's ``emulator`` module."""
    package = connector.__module__.rpartition(".")[0] or connector.__module__
    modules = [import_module(package)]
    with contextlib.suppress(ImportError):
        modules.append(import_module(f"{package}.emulator"))
    for module in modules:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Emulator)
                and value is not Emulator
                and getattr(value, "name", None) == connector.name
            ):
                return value
    return None


def emulated_connectors(
    names: Iterable[str] | None = None,
) -> tuple[list[EmulatedConnector], list[str]]:
    """The installed connectors that have an emulator, and the names of those that do
    not (all of :func:`cdp_sdk.available_connectors`, or only ``names``)."""
    wanted = set(names) if names is not None else None
    found: list[EmulatedConnector] = []
    missing: list[str] = []
    for info in cdp_sdk.available_connectors():
        if wanted is not None and info.name not in wanted:
            continue
        connector = cdp_sdk.load_connector(info.name)
        emulator = find_emulator(connector)
        if emulator is None:
            missing.append(info.name)
        else:
            found.append(EmulatedConnector(info.name, connector, emulator))
    return found, missing


# -- the fault-injecting transport ------------------------------------------------------


@dataclass
class Exchange:
    """One request through the fault transport, and the emulator's answer to it."""

    request: httpx.Request
    key: tuple[str, str]
    """``(method, path)``: requests with the same key are pages of one listing, or
    retries of one call."""
    index: int
    """How many requests with this key (logins: how many logins) came before."""
    login: bool
    response: httpx.Response | None = None


class Injection:
    """What a fault does: which exchanges it takes over (:meth:`hits`) and how it answers
    them (:meth:`act`). Exchanges it does not take go to the emulator unchanged."""

    def hits(self, exchange: Exchange) -> bool:
        raise NotImplementedError

    async def act(self, transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        raise NotImplementedError


Action = Callable[["FaultTransport", Exchange], Awaitable[httpx.Response]]


class AtRequest(Injection):
    """Take over ``times`` consecutive requests with ``key`` (``None``: logins), starting
    with the one at ``index``: retries of a failed page are the next requests of its key."""

    def __init__(self, key: tuple[str, str] | None, index: int, action: Action, times: int = 1):
        self.key, self.index, self.action, self.left = key, index, action, times
        self.started = False

    def hits(self, exchange: Exchange) -> bool:
        mine = (
            exchange.login
            if self.key is None
            else (not exchange.login and exchange.key == self.key)
        )
        if not mine or self.left <= 0:
            return False
        if not self.started and exchange.index != self.index:
            return False
        self.started = True
        self.left -= 1
        return True

    async def act(self, transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        return await self.action(transport, exchange)


class FaultTransport(httpx.AsyncBaseTransport):
    """An emulator's transport with one fault injected; it records every exchange."""

    def __init__(self, emulator: Emulator, injection: Injection | None = None) -> None:
        self.emulator = emulator
        self.inner = emulator.transport()
        self.injection = injection
        self.exchanges: list[Exchange] = []
        self._counts: Counter[tuple[str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        login = LOGIN_STARTED in request.extensions
        key = ("LOGIN", "") if login else (request.method, request.url.path)
        exchange = Exchange(request, (request.method, request.url.path), self._counts[key], login)
        self._counts[key] += 1
        self.exchanges.append(exchange)
        if self.injection is not None and self.injection.hits(exchange):
            return await self.injection.act(self, exchange)
        return await self.forward(exchange)

    async def forward(
        self, exchange: Exchange, request: httpx.Request | None = None
    ) -> httpx.Response:
        """The emulator's answer to ``exchange`` (or to ``request`` in its place)."""
        response = await self.inner.handle_async_request(request or exchange.request)
        await response.aread()
        exchange.response = response
        return _copy(response)

    def answered(self, key: tuple[str, str], index: int) -> httpx.Response:
        """The emulator's answer to an earlier request of this run."""
        for exchange in self.exchanges:
            mine = not exchange.login and exchange.key == key and exchange.index == index
            if mine and exchange.response is not None:
                return _copy(exchange.response)
        raise LookupError(f"no answer recorded for {key} #{index}")

    @property
    def hosts(self) -> set[str]:
        """Every host a request was sent to."""
        return {exchange.request.url.host for exchange in self.exchanges}

    @property
    def logins(self) -> int:
        return sum(1 for exchange in self.exchanges if exchange.login)


# -- answers the faults give ------------------------------------------------------------


def _copy(response: httpx.Response, content: bytes | None = None) -> httpx.Response:
    body = response.content if content is None else content
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-length", "content-encoding", "transfer-encoding")
    ]
    return httpx.Response(response.status_code, headers=headers, content=body)


def _with_json(response: httpx.Response, body: Any) -> httpx.Response:
    return _copy(response, json.dumps(body).encode())


def _json_of(response: httpx.Response | None) -> Any:
    if response is None or not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _items_of(body: Any) -> list[Any] | None:
    """The list of records in a page: the body when it is a list, else the longest
    top-level list of objects (``{"sims": [...]}``, ``{"data": [...]}``)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        lists = [
            value
            for value in body.values()
            if isinstance(value, list) and all(isinstance(item, dict) for item in value)
        ]
        if lists:
            return max(lists, key=len)
    return None


def _set_items(body: Any, items: list[Any]) -> Any:
    if isinstance(body, list):
        return items
    current = _items_of(body)
    assert isinstance(body, dict)
    assert current is not None
    return {key: items if value is current else value for key, value in body.items()}


async def _raise(error: type[httpx.TransportError], exchange: Exchange) -> httpx.Response:
    raise error(f"injected {error.__name__}", request=exchange.request)


def connect_timeout() -> Action:
    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        return await _raise(httpx.ConnectTimeout, exchange)  # never reaches the platform

    return act


def lost_answer(error: type[httpx.TransportError]) -> Action:
    """The platform receives and handles the request; its answer never arrives."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        await transport.forward(exchange)
        return await _raise(error, exchange)

    return act


class _CutStream(httpx.AsyncByteStream):
    def __init__(self, content: bytes, request: httpx.Request) -> None:
        self.content, self.request = content, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content[: max(1, len(self.content) // 2)]
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=self.request
        )


def reset_mid_body() -> Action:
    """The answer's headers and half its body arrive; then the connection is reset."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = await transport.forward(exchange)
        headers = {"Content-Type": answer.headers.get("Content-Type", "application/json")}
        headers["Content-Length"] = str(len(answer.content))
        return httpx.Response(
            answer.status_code, headers=headers, stream=_CutStream(answer.content, exchange.request)
        )

    return act


def vendor_error(status: int) -> Action:
    """The vendor's own error answer (the emulator's) with ``status``."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        return _copy(transport.emulator.error(status, FAULT_CODE, "injected failure"))

    return act


def vendor_rate_limit(wait: float = 2.0) -> Action:
    """The vendor's own 429 answer, with whatever rate headers the vendor sends."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        return _copy(transport.emulator.rate_limited(wait))

    return act


def bare_rate_limit(wait_headers: Sequence[str]) -> Action:
    """A 429 in the vendor's error shape with no header saying how long to wait."""
    names = {name.lower() for name in wait_headers} | {"retry-after"}

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = _copy(transport.emulator.error(429, FAULT_CODE, "too many requests"))
        for name in [n for n in answer.headers if n.lower() in names]:
            del answer.headers[name]
        return answer

    return act


def fixed(status: int, content: bytes, content_type: str = "application/json") -> Action:
    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        return httpx.Response(status, headers={"Content-Type": content_type}, content=content)

    return act


HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service unavailable</title></head>"
    b"<body><h1>We'll be back soon</h1></body></html>"
)
MALFORMED = b'{"data": [{"id": "1",, "status" ]'
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_ERROR = b'{"error": {"details": ' + DEEP + b"}}"


def garbled(content: bytes) -> Action:
    """The platform handles the request; its 200 answer arrives as ``content``."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = await transport.forward(exchange)
        kind = answer.headers.get("Content-Type", "application/json")
        return httpx.Response(200, headers={"Content-Type": kind}, content=content)

    return act


def truncated() -> Action:
    """The real answer cut in half, as a proxy that lost the rest would pass it on."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = await transport.forward(exchange)
        return _copy(answer, answer.content[: max(1, len(answer.content) // 2)])

    return act


@functools.cache
def _gzip_bomb(expanded: int) -> bytes:
    """A gzip member of about ``expanded / 1000`` bytes that expands to ``expanded`` zeros."""
    step = 1024 * 1024
    zeros = bytes(step)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    crc = 0
    for _ in range(expanded // step):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * (expanded // step) + end + struct.pack("<II", crc, expanded)


def oversized() -> Action:
    """A compressed answer that expands past ``max_response_bytes``."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return httpx.Response(
            200, headers=headers, stream=httpx.ByteStream(_gzip_bomb(OVERSIZED_BYTES))
        )

    return act


def redirect_elsewhere() -> Action:
    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        url = exchange.request.url
        target = f"{OTHER_ORIGIN}{url.raw_path.decode('ascii')}"
        return httpx.Response(307, headers={"Location": target})

    return act


def expire_tokens(emulator: Emulator) -> bool:
    """Expire every token the emulator issued (its token stores, or its own
    ``expire_tokens()``); ``False`` when it has none (static credentials)."""
    stores = [value for value in vars(emulator).values() if isinstance(value, TokenStore)]
    for store in stores:
        store.expire_all()
    if stores:
        return True
    expire = getattr(emulator, "expire_tokens", None)
    if callable(expire):
        expire()
        return True
    return False


def tokens_expire_first(action: Action | None = None) -> Action:
    """The platform expires its tokens just before this request arrives."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        expire_tokens(transport.emulator)
        return await (action or _forward)(transport, exchange)

    return act


async def _forward(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
    return await transport.forward(exchange)


def replay(key: tuple[str, str], index: int) -> Action:
    """Answer with the platform's earlier answer to the request ``key`` #``index``."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        return transport.answered(key, index)

    return act


def with_record_of(key: tuple[str, str], index: int) -> Action:
    """The real page, with the first record of an earlier page of the listing added."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = await transport.forward(exchange)
        earlier = _items_of(_json_of(transport.answered(key, index))) or []
        body = _json_of(answer)
        items = _items_of(body)
        if not earlier or items is None:
            return answer
        return _with_json(answer, _set_items(body, [earlier[0], *items]))

    return act


def emptied() -> Action:
    """The real page with its records taken out; its end signal unchanged."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = await transport.forward(exchange)
        return _with_json(answer, _set_items(_json_of(answer), []))

    return act


def empty_after(key: tuple[str, str], index: int) -> Action:
    """An empty page whose end signal is that of the page before: it claims more data but
    points back at itself (a cursor that cannot advance)."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        earlier = transport.answered(key, index)
        return _with_json(earlier, _set_items(_json_of(earlier), []))

    return act


class OnRecord(Injection):
    """Rewrite the record of one SIM (found by its ICCID) in the answers that carry it:
    in the first one only (``once``) or in all of them."""

    def __init__(
        self, iccids: frozenset[str], rewrite: Callable[[dict[str, Any]], bool], once: bool
    ):
        self.iccids, self.rewrite, self.once = iccids, rewrite, once
        self.done = False

    def hits(self, exchange: Exchange) -> bool:
        return not exchange.login and not (self.once and self.done)

    async def act(self, transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = await transport.forward(exchange)
        body = _json_of(answer)
        changed = False
        for record in _records_of(body, self.iccids):
            changed = self.rewrite(record) or changed
        if not changed:
            return answer
        self.done = True
        return _with_json(answer, body)


def _records_of(body: Any, iccids: frozenset[str]) -> list[dict[str, Any]]:
    """The objects in ``body`` that hold one of ``iccids`` as a direct value."""
    found: list[dict[str, Any]] = []
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if any(isinstance(v, str) and v in iccids for v in value.values()):
                found.append(value)
            else:
                stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


UNKNOWN_STATE = "ZZ_UNKNOWN_STATE"
_STATUS_KEYS = frozenset({"status", "state"})


def unknown_status(record: dict[str, Any]) -> bool:
    """Every ``status``/``state`` field of the record (at any depth) set to a value no
    vendor documents; ``False`` if it has none."""
    changed = False
    stack: list[Any] = [record]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key.lower() in _STATUS_KEYS:
                    value[key] = _unknown(item)
                    changed = True
                else:
                    stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return changed


def _unknown(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _unknown(item) for key, item in value.items()}
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return 987_654
    return UNKNOWN_STATE


def wrong_types(record: dict[str, Any]) -> bool:
    """Every text field of the record becomes an object."""
    for key, value in list(record.items()):
        if isinstance(value, str):
            record[key] = {"unexpected": "object"}
    return True


# -- what each cell must end with -------------------------------------------------------


class Outcome(StrEnum):
    """How a cell ended."""

    RECOVERED = "RECOVERED"
    TYPED = "TYPED"
    WRONG = "WRONG"
    """Completed, but short, with duplicates, or different from the fault-free result."""
    RAW = "RAW"
    """Raised something that is not a :class:`~cdp_sdk.errors.CdpError`."""
    HUNG = "HUNG"


ANY: Any = object()


@dataclass(frozen=True)
class Expected:
    """The outcomes a cell may end with; for ``TYPED``, the error class and, where the
    fault has them, the HTTP status and the vendor code."""

    outcomes: frozenset[Outcome]
    error: type[CdpError] = CdpError
    status: Any = ANY
    vendor_code: Any = ANY

    def describe(self) -> str:
        parts = []
        if Outcome.RECOVERED in self.outcomes:
            parts.append("RECOVERED")
        if Outcome.TYPED in self.outcomes:
            parts.append(f"TYPED {_typed_detail(self.error, self.status, self.vendor_code)}")
        return " or ".join(parts)


def recovered() -> Expected:
    return Expected(frozenset({Outcome.RECOVERED}))


def typed(error: type[CdpError], status: Any = ANY, vendor_code: Any = ANY) -> Expected:
    return Expected(frozenset({Outcome.TYPED}), error, status, vendor_code)


def either(error: type[CdpError], status: Any = ANY) -> Expected:
    return Expected(frozenset({Outcome.RECOVERED, Outcome.TYPED}), error, status)


def _typed_detail(error: type[CdpError], status: Any, vendor_code: Any) -> str:
    detail = error.__name__
    if status is not ANY and status is not None:
        detail += f" {status}"
    if vendor_code is not ANY and vendor_code is not None:
        detail += f" ({vendor_code})"
    return detail


# -- plans: what the fault-free run showed ------------------------------------------------


@dataclass
class ListingPlan:
    """The fault-free subscriptions listing of a connector, and where its pages are."""

    result: list[Subscription]
    key: tuple[str, str]
    pages: list[int]
    """Indices (among the requests with ``key``) of the pages that held records."""
    numbered: str | None
    """The page-number parameter, when the listing is paged by number."""
    page_records: list[frozenset[str]]
    """The ICCIDs of the SIMs on each of those pages."""
    target: Subscription | None
    """A SIM on the second page (its record is rewritten by some faults)."""
    target_has_status: bool
    logins: int
    tokens: bool


@dataclass
class WritePlan:
    """The fault-free write of a connector: what is called, on what, and its effect."""

    description: str
    iccid: str
    status: SimStatus | None
    """The status asked for, for a status change; ``None`` for a tag update."""
    key: tuple[str, str]
    method: str
    result: Any
    after: Any
    logins: int
    tokens: bool

    async def call(self, connector: AsyncConnector) -> Any:
        if self.status is not None:
            return _Change.of(await connector.change_status(self.iccid, self.status))
        await connector.update_tags(self.iccid, {TAG_KEY: "on"})
        return None

    async def effect(self, connector: AsyncConnector) -> Any:
        sim = await connector.subscription(self.iccid)
        return sim.status if self.status is not None else sorted(t.key for t in sim.tags)


@dataclass(frozen=True)
class _Change:
    """A status change as compared across runs (the vendor's request id differs)."""

    iccid: str
    requested: SimStatus
    state: str

    @classmethod
    def of(cls, change: Any) -> _Change:
        return cls(change.iccid, change.requested, change.state)


@dataclass
class Plan:
    entry: EmulatedConnector
    listing: ListingPlan | None
    write: WritePlan | None
    problem: str | None = None


class _Sleep:
    """Retries and the rate limiter wait for nothing; the waits asked for are kept."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def _fleet() -> Fleet:
    return Fleet(FLEET_SIZE, seed=FLEET_SEED)


def _connect(entry: EmulatedConnector, transport: httpx.AsyncBaseTransport) -> AsyncConnector:
    connector = cdp_sdk.connect_async(
        entry.name,
        transport=transport,
        **{**entry.settings(), "max_response_bytes": MAX_RESPONSE_BYTES},
    )
    connector.plugin.http.sleep = _Sleep()
    connector.plugin.http.limiter.sleep = _Sleep()
    return connector


async def _listing_plan(entry: EmulatedConnector) -> ListingPlan:
    emulator = entry.start(_fleet())
    transport = FaultTransport(emulator)
    async with _connect(entry, transport) as connector:
        result = [sim async for sim in connector.subscriptions()]
    first = next(exchange for exchange in transport.exchanges if not exchange.login)
    runs = [e for e in transport.exchanges if not e.login and e.key == first.key]
    numbered = _page_number_param([e.request for e in runs])
    pages = _longest_run(runs, numbered)
    by_index = {e.index: e for e in runs}
    page_records = [
        frozenset(
            sim.iccid
            for record in _items_of(_json_of(by_index[index].response)) or []
            if (sim := _sim_in(record, result)) is not None
        )
        for index in pages
    ]
    target = None
    if len(pages) > 1:
        second = _items_of(_json_of(by_index[pages[1]].response)) or []
        target = _sim_in(second[0] if second else None, result)
    has_status = False
    if target is not None:
        probe = {"body": [_json_of(e.response) for e in transport.exchanges]}
        has_status = any(unknown_status(r) for r in _records_of(probe, _iccid_forms(target)))
    return ListingPlan(
        result=result,
        key=first.key,
        pages=pages,
        page_records=page_records,
        numbered=numbered,
        target=target,
        target_has_status=has_status,
        logins=transport.logins,
        tokens=expire_tokens(entry.start(_fleet())),
    )


def _iccid_forms(sim: Subscription) -> frozenset[str]:
    """The ICCID as platforms may write it: in full, and without its check digit."""
    return frozenset({sim.iccid, sim.iccid[:-1]})


def _sim_in(record: Any, sims: Sequence[Subscription]) -> Subscription | None:
    if not isinstance(record, dict):
        return None
    values = {str(v) for v in record.values() if isinstance(v, str | int)}
    for sim in sims:
        if values & (_iccid_forms(sim) | {sim.id}):
            return sim
    return None


def _longest_run(exchanges: Sequence[Exchange], numbered: str | None) -> list[int]:
    """The indices of the non-empty pages of the longest single pass over the listing.

    A connector may walk a listing several times (in time windows, say); a pass starts
    with a request shaped like the very first one: the same parameters (and JSON body
    keys), and the first page number when pages are numbered.
    """
    if not exchanges:
        return []
    first = exchanges[0].request
    passes: list[list[int]] = []
    for exchange in exchanges:
        request = exchange.request
        starts = _shape(request) == _shape(first) and (
            numbered is None or request.url.params.get(numbered) == first.url.params.get(numbered)
        )
        if starts or not passes:
            passes.append([])
        if _items_of(_json_of(exchange.response)) != []:
            passes[-1].append(exchange.index)
    return max(passes, key=len)


def _shape(request: httpx.Request) -> tuple[frozenset[str], frozenset[str]]:
    """The names of a request's query parameters and JSON body keys."""
    body: Any = None
    if request.content:
        with contextlib.suppress(ValueError):
            body = json.loads(request.content)
    keys = frozenset(body) if isinstance(body, dict) else frozenset()
    return frozenset(request.url.params.keys()), keys


def _page_number_param(requests: Sequence[httpx.Request]) -> str | None:
    """The query parameter that numbers the pages: present (as digits) in every request of
    the listing, the first included, and one higher from each request to the next that
    asks for the same thing otherwise (a listing walked in windows starts each at 1)."""
    first: dict[str, str] = dict(requests[0].url.params) if requests else {}
    for name, value in first.items():
        if not value.isdigit():
            continue
        queries: list[dict[str, str]] = [dict(request.url.params) for request in requests]
        if not all(query.get(name, "").isdigit() for query in queries):
            continue
        steps = [
            int(after[name]) - int(before[name])
            for before, after in itertools.pairwise(queries)
            if _without(before, name) == _without(after, name)
        ]
        if steps and all(step == 1 for step in steps):
            return name
    return None


def _without(query: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in query.items() if key != name}


async def _write_plan(entry: EmulatedConnector, listing: ListingPlan) -> WritePlan | None:
    chosen = await _choose_write(entry, listing.result)
    if chosen is None:
        return None
    description, iccid, status = chosen
    emulator = entry.start(_fleet())
    transport = FaultTransport(emulator)
    plan = WritePlan(description, iccid, status, ("", ""), "", None, None, 0, False)
    async with _connect(entry, transport) as connector:
        plan.result = await plan.call(connector)
        writes = [e for e in transport.exchanges if not e.login and e.key[0] != "GET"]
        plan.logins = transport.logins
    if not writes:
        return None
    plan.key, plan.method = writes[0].key, writes[0].key[0]
    async with _connect(entry, emulator.transport()) as reader:
        plan.after = await plan.effect(reader)
    plan.tokens = listing.tokens
    return plan


async def _choose_write(
    entry: EmulatedConnector, sims: Sequence[Subscription]
) -> tuple[str, str, SimStatus | None] | None:
    """A status change the vendor's state machine allows, else a tag update."""
    capabilities = entry.connector.capabilities
    if Capability.CHANGE_STATUS in capabilities:
        async with _connect(entry, entry.start(_fleet()).transport()) as connector:
            modes = await connector.activation_modes()
        status_of = {mode.name: mode.status for mode in modes}
        settable = {mode.name for mode in modes if mode.settable}
        for sim in sims:
            for mode in modes:
                if mode.status is not sim.status:
                    continue
                for name in mode.next:
                    target = status_of.get(name)
                    if name in settable and target not in (None, sim.status, SimStatus.RETIRED):
                        assert target is not None
                        return f"change_status(..., {target.value})", sim.iccid, target
    if Capability.UPDATE_TAGS in capabilities and sims:
        return f"update_tags(..., {{{TAG_KEY!r}: 'on'}})", sims[0].iccid, None
    return None


async def _plan(entry: EmulatedConnector) -> Plan:
    if Capability.SUBSCRIPTIONS not in entry.connector.capabilities:
        return Plan(entry, None, None, "the connector does not list subscriptions")
    listing = await _listing_plan(entry)
    return Plan(entry, listing, await _write_plan(entry, listing))


@functools.cache
def plan_for(name: str) -> Plan:
    """The fault-free runs of connector ``name`` (computed once per process)."""
    entries, _ = emulated_connectors([name])
    if not entries:
        raise LookupError(f"no emulated connector named {name!r}")
    return asyncio.run(_plan(entries[0]))


# -- the faults ------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """How one cell injects its fault, and what it must end with."""

    injection: Injection
    expected: Expected
    compare: Callable[[Any, Any], str | None] | None = None
    """For a listing that must be RECOVERED with a known change: the check."""


@dataclass(frozen=True)
class NotApplicable:
    reason: str


Builder = Callable[[Plan], "Setup | NotApplicable"]


@dataclass(frozen=True)
class FaultCase:
    """One fault: how it is set up for the listing and for the write (``None``: that
    operation is not exposed to it)."""

    name: str
    title: str
    listing: Builder | None = None
    write: Builder | None = None


def _page(plan: Plan, number: int) -> int | NotApplicable:
    """The request index of the listing's page ``number`` (1-based) that held records."""
    assert plan.listing is not None
    if len(plan.listing.pages) < number:
        return NotApplicable(f"the fault-free listing has fewer than {number} pages")
    return plan.listing.pages[number - 1]


def _on_page(
    number: int, action: Callable[[Plan], Action], expected: Expected, times: int = 1
) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        index = _page(plan, number)
        if isinstance(index, NotApplicable):
            return index
        assert plan.listing is not None
        return Setup(AtRequest(plan.listing.key, index, action(plan), times), expected)

    return build


def _on_write(
    action: Callable[[Plan], Action], expected: Callable[[Plan], Expected], times: int = 1
) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        assert plan.write is not None
        return Setup(AtRequest(plan.write.key, 0, action(plan), times), expected(plan))

    return build


def _fixed_expect(expected: Expected) -> Callable[[Plan], Expected]:
    return lambda plan: expected


def _by_method(if_sent_and_unsafe: Expected) -> Callable[[Plan], Expected]:
    """A write safe to repeat (PUT, DELETE) must recover; a POST, which is not, must end
    typed; a PATCH is either, as the connector declares it idempotent or not."""

    def expect(plan: Plan) -> Expected:
        assert plan.write is not None
        method = plan.write.method
        if method in ("PUT", "DELETE"):
            return recovered()
        if method == "PATCH":
            return Expected(
                frozenset({Outcome.RECOVERED, Outcome.TYPED}),
                if_sent_and_unsafe.error,
                if_sent_and_unsafe.status,
                if_sent_and_unsafe.vendor_code,
            )
        return if_sent_and_unsafe

    return expect


def _vendor_expect(
    status: int, error: type[CdpError], rate_limit: bool = False
) -> Callable[[Plan], Expected]:
    """TYPED ``error`` with ``status`` and the vendor code the connector's own error table
    reads from the emulator's answer."""

    def expect(plan: Plan) -> Expected:
        emulator = plan.entry.start(_fleet())
        answer = (
            emulator.rate_limited(2.0) if rate_limit else emulator.error(status, FAULT_CODE, "x")
        )
        answer.request = httpx.Request("GET", "https://emulator.invalid/")
        classified = plan.entry.connector.error_table.classify(answer, connector=plan.entry.name)
        code = classified.vendor_code if classified is not None else None
        return typed(error, status, code)

    return expect


def _wait_headers(plan: Plan) -> list[str]:
    return [header.name for header in plan.entry.connector.error_table.retry_after_headers]


def _token_fault(inner: Callable[[Plan], Action] | None) -> Callable[[Plan], Action]:
    return lambda plan: tokens_expire_first(inner(plan) if inner else None)


def _needs_tokens(builder: Builder) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        tokens = plan.listing.tokens if plan.listing else False
        if not tokens:
            return NotApplicable("static credentials: no token to expire")
        return builder(plan)

    return build


def _first_login(action: Action, expected: Expected) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        logins = plan.listing.logins if plan.listing else 0
        if not logins:
            return NotApplicable("static credentials: no login call")
        return Setup(AtRequest(None, 0, action), expected)

    return build


def _empty_page(plan: Plan) -> Setup | NotApplicable:
    assert plan.listing is not None
    listing = plan.listing
    index = _page(plan, 2)
    if isinstance(index, NotApplicable):
        return index
    if listing.numbered is not None:
        # Paged by number: page 2 comes back empty, its end signal saying more is to come.
        # The listing must go on to the announced end: everything but page 2's records.
        return Setup(
            AtRequest(listing.key, index, emptied()),
            recovered(),
            compare=_without_page(listing.result, withheld=listing.page_records[1]),
        )
    # A cursor that comes back unchanged from an empty page cannot advance: typed.
    action = empty_after(listing.key, listing.pages[0])
    return Setup(AtRequest(listing.key, index, action), typed(UnexpectedResponseError))


def _without_page(
    result: Sequence[Subscription], withheld: frozenset[str]
) -> Callable[[Any, Any], str | None]:
    """The check of a listing that had to go on past a page whose records were withheld."""
    expected = [sim for sim in result if sim.iccid not in withheld]

    def compare(_: Any, actual: Any) -> str | None:
        if actual == expected:
            return None
        if len(actual) < len(expected):
            return f"short: {len(actual)} of the {len(expected)} SIMs served"
        return "the listing differs from what the platform served"

    return compare


def _replayed(source: int, at: int) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        assert plan.listing is not None
        index = _page(plan, at)
        if isinstance(index, NotApplicable):
            return index
        action = replay(plan.listing.key, plan.listing.pages[source - 1])
        return Setup(AtRequest(plan.listing.key, index, action), typed(UnexpectedResponseError))

    return build


def _twice(plan: Plan) -> Setup | NotApplicable:
    assert plan.listing is not None
    index = _page(plan, 3)
    if isinstance(index, NotApplicable):
        return index
    action = with_record_of(plan.listing.key, plan.listing.pages[0])
    return Setup(AtRequest(plan.listing.key, index, action), typed(UnexpectedResponseError))


def _on_target(
    rewrite: Callable[[dict[str, Any]], bool],
    once: bool,
    expected: Expected,
    compare: Callable[[Any, Any], str | None] | None = None,
    needs_status: bool = False,
) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        assert plan.listing is not None
        target = plan.listing.target
        if target is None:
            return NotApplicable("no SIM record found on the second page")
        if needs_status and not plan.listing.target_has_status:
            return NotApplicable("the SIM records carry no status or state field")
        return Setup(OnRecord(_iccid_forms(target), rewrite, once), expected, compare)

    return build


def _unknown_status_compare(plan: Plan) -> Callable[[Any, Any], str | None]:
    assert plan.listing is not None
    target = plan.listing.target
    assert target is not None

    def compare(expected: Any, actual: Any) -> str | None:
        if len(actual) != len(expected):
            return f"{len(actual)} SIMs listed instead of {len(expected)}"
        for before, after in zip(expected, actual, strict=True):
            if before.iccid != after.iccid:
                return "the SIMs came in another order or changed"
            if after.iccid != target.iccid:
                if after != before:
                    return "a SIM other than the changed one differs"
                continue
            if after.status is not SimStatus.UNKNOWN:
                return f"the unknown vendor status became {after.status.value!r}, not 'unknown'"
            if after.status_raw == before.status_raw:
                return "status_raw does not keep the vendor's new value"
            same = after.model_copy(
                update={
                    "status": before.status,
                    "status_raw": before.status_raw,
                    "extra": before.extra,
                }
            )
            if same != before:
                return "the SIM with the unknown status differs in other fields"
        return None

    return compare


def _unknown_status(plan: Plan) -> Setup | NotApplicable:
    setup = _on_target(unknown_status, False, recovered(), needs_status=True)(plan)
    if isinstance(setup, NotApplicable):
        return setup
    return dataclasses.replace(setup, compare=_unknown_status_compare(plan))


UNEXPECTED_200 = typed(UnexpectedResponseError, 200)


FAULTS: tuple[FaultCase, ...] = (
    FaultCase(
        "connect-timeout",
        "connect timeout (the request never left)",
        _on_page(2, lambda p: connect_timeout(), recovered()),
        _on_write(lambda p: connect_timeout(), _fixed_expect(recovered())),
    ),
    FaultCase(
        "read-timeout",
        "read timeout (handled by the platform, answer lost)",
        _on_page(2, lambda p: lost_answer(httpx.ReadTimeout), recovered()),
        _on_write(lambda p: lost_answer(httpx.ReadTimeout), _by_method(typed(OutcomeUnknownError))),
    ),
    FaultCase(
        "reset-mid-body",
        "connection reset halfway through the answer",
        _on_page(2, lambda p: reset_mid_body(), recovered()),
        _on_write(lambda p: reset_mid_body(), _by_method(typed(OutcomeUnknownError))),
    ),
    FaultCase(
        "500-burst",
        "two 500s in a row, in the vendor's error shape",
        _on_page(2, lambda p: vendor_error(500), recovered(), times=2),
        _on_write(lambda p: vendor_error(500), _by_method(typed(TransientError, 500)), times=2),
    ),
    FaultCase(
        "502-burst",
        "two 502s in a row, as a gateway's HTML page",
        _on_page(2, lambda p: fixed(502, HTML_PAGE, "text/html"), recovered(), times=2),
        _on_write(
            lambda p: fixed(502, HTML_PAGE, "text/html"),
            _by_method(typed(TransientError, 502)),
            times=2,
        ),
    ),
    FaultCase(
        "503-burst",
        "two 503s in a row, in the vendor's error shape",
        _on_page(2, lambda p: vendor_error(503), recovered(), times=2),
        _on_write(lambda p: vendor_error(503), _by_method(typed(TransientError, 503)), times=2),
    ),
    FaultCase(
        "503-persistent",
        "503 on every attempt",
        lambda plan: _on_page(
            2, lambda p: vendor_error(503), _vendor_expect(503, TransientError)(plan), times=99
        )(plan),
        _on_write(lambda p: vendor_error(503), _vendor_expect(503, TransientError), times=99),
    ),
    FaultCase(
        "429-vendor",
        "429 as the vendor sends it, with its own rate headers",
        _on_page(2, lambda p: vendor_rate_limit(), recovered()),
        _on_write(lambda p: vendor_rate_limit(), _fixed_expect(recovered())),
    ),
    FaultCase(
        "429-no-wait",
        "429 with no header saying how long to wait",
        _on_page(2, lambda p: bare_rate_limit(_wait_headers(p)), recovered()),
        _on_write(lambda p: bare_rate_limit(_wait_headers(p)), _fixed_expect(recovered())),
    ),
    FaultCase(
        "429-persistent",
        "the vendor's 429 on every attempt",
        lambda plan: _on_page(
            2,
            lambda p: vendor_rate_limit(),
            _vendor_expect(429, RateLimitedError, rate_limit=True)(plan),
            times=99,
        )(plan),
        _on_write(
            lambda p: vendor_rate_limit(),
            _vendor_expect(429, RateLimitedError, rate_limit=True),
            times=99,
        ),
    ),
    FaultCase(
        "malformed-body",
        "200 with a body that is not JSON (a write: handled, then its answer garbled)",
        _on_page(2, lambda p: fixed(200, MALFORMED), UNEXPECTED_200),
        _on_write(
            lambda p: garbled(MALFORMED), _fixed_expect(either(UnexpectedResponseError, 200))
        ),
    ),
    FaultCase(
        "truncated-body",
        "the real answer cut in half",
        _on_page(2, lambda p: truncated(), UNEXPECTED_200),
        _on_write(lambda p: truncated(), _fixed_expect(either(UnexpectedResponseError, 200))),
    ),
    FaultCase(
        "html-body",
        "200 with an HTML page: a proxy or maintenance page answered, not the platform",
        _on_page(2, lambda p: fixed(200, HTML_PAGE, "text/html"), UNEXPECTED_200),
        _on_write(lambda p: fixed(200, HTML_PAGE, "text/html"), _fixed_expect(UNEXPECTED_200)),
    ),
    FaultCase(
        "deep-nesting",
        "200 with JSON nested 100,000 deep (a write: handled, then its answer garbled)",
        _on_page(2, lambda p: fixed(200, DEEP), UNEXPECTED_200),
        _on_write(lambda p: garbled(DEEP), _fixed_expect(either(UnexpectedResponseError, 200))),
    ),
    FaultCase(
        "deep-error-body",
        "two 503s whose JSON error body is nested 100,000 deep",
        _on_page(2, lambda p: fixed(503, DEEP_ERROR), recovered(), times=2),
        _on_write(
            lambda p: fixed(503, DEEP_ERROR), _by_method(typed(TransientError, 503)), times=2
        ),
    ),
    FaultCase(
        "deep-login-answer",
        "a login answer nested 100,000 deep",
        _first_login(fixed(200, DEEP), UNEXPECTED_200),
        _first_login(fixed(200, DEEP), UNEXPECTED_200),
    ),
    FaultCase(
        "oversized-body",
        "a gzip body that expands past max_response_bytes",
        _on_page(2, lambda p: oversized(), typed(ResponseTooLargeError, 200)),
        _on_write(lambda p: oversized(), _fixed_expect(typed(ResponseTooLargeError, 200))),
    ),
    FaultCase(
        "token-expiry",
        "the platform expires its tokens mid-run",
        _needs_tokens(_on_page(2, _token_fault(None), recovered())),
        _needs_tokens(_on_write(_token_fault(None), _fixed_expect(recovered()))),
    ),
    FaultCase(
        "redirect-elsewhere",
        "307 to another origin",
        _on_page(2, lambda p: redirect_elsewhere(), typed(UnexpectedResponseError, 307)),
        _on_write(
            lambda p: redirect_elsewhere(), _fixed_expect(typed(UnexpectedResponseError, 307))
        ),
    ),
    FaultCase(
        "repeated-page",
        "page 1 served again as page 3",
        _replayed(1, 3),
    ),
    FaultCase(
        "stuck-cursor",
        "page 2 served again as page 3",
        _replayed(2, 3),
    ),
    FaultCase(
        "record-twice",
        "a record of page 1 listed again on page 3",
        _twice,
    ),
    FaultCase(
        "empty-page",
        "an empty page in the middle that claims more data",
        _empty_page,
    ),
    FaultCase(
        "wrong-types",
        "a SIM record whose text fields are objects",
        _on_target(wrong_types, True, typed(UnexpectedResponseError)),
    ),
    FaultCase(
        "unknown-status",
        "a SIM in a state the vendor never documented",
        _unknown_status,
    ),
)
"""Every fault, in the order the matrix shows them."""


# -- running cells -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One connector, one operation, one fault."""

    connector: str
    operation: str
    fault: str

    @property
    def id(self) -> str:
        return f"{self.connector}-{self.operation}-{self.fault}"


@dataclass
class CellResult:
    cell: Cell
    expected: Expected | None
    outcome: Outcome | None
    detail: str
    ok: bool
    reason: str | None = None
    """Why the cell does not apply (``outcome`` is then ``None``)."""


def matrix_cells(names: Iterable[str] | None = None) -> list[Cell]:
    """Every cell of the matrix for the emulated connectors (all, or ``names``)."""
    entries, _ = emulated_connectors(names)
    cells = []
    for entry in entries:
        for operation in OPERATIONS:
            for fault in FAULTS:
                if (fault.listing if operation == LISTING else fault.write) is not None:
                    cells.append(Cell(entry.name, operation, fault.name))
    return cells


def run_cell(cell: Cell) -> CellResult:
    """Run one cell on a fresh emulator and judge its outcome."""
    plan = plan_for(cell.connector)
    fault = next(f for f in FAULTS if f.name == cell.fault)
    if plan.problem is not None:
        return CellResult(cell, None, None, "", True, plan.problem)
    if cell.operation == WRITE and plan.write is None:
        return CellResult(cell, None, None, "", True, "the connector offers no write to test")
    builder = fault.listing if cell.operation == LISTING else fault.write
    assert builder is not None
    setup = builder(plan)
    if isinstance(setup, NotApplicable):
        return CellResult(cell, None, None, "", True, setup.reason)
    return asyncio.run(_run(plan, cell, setup))


async def _run(plan: Plan, cell: Cell, setup: Setup) -> CellResult:
    entry = plan.entry
    emulator = entry.start(_fleet())
    transport = FaultTransport(emulator, setup.injection)
    result: Any = None
    error: BaseException | None = None
    try:
        async with _connect(entry, transport) as connector:
            if cell.operation == LISTING:
                result = await asyncio.wait_for(_list(connector), CELL_TIMEOUT)
            else:
                assert plan.write is not None
                result = await asyncio.wait_for(plan.write.call(connector), CELL_TIMEOUT)
    except TimeoutError:
        return _judge(
            cell, setup.expected, Outcome.HUNG, f"still running after {CELL_TIMEOUT:.0f} s"
        )
    except Exception as exc:
        error = exc
    elsewhere = transport.hosts - {_host(entry)}
    if elsewhere:
        return _judge(cell, setup.expected, Outcome.WRONG, "a request went to another host")
    if error is not None:
        return _typed(cell, setup.expected, error)
    problem = (
        _compare_listing(plan, setup, result)
        if cell.operation == LISTING
        else await _compare_write(plan, emulator, result)
    )
    if problem is not None:
        return _judge(cell, setup.expected, Outcome.WRONG, problem)
    return _judge(cell, setup.expected, Outcome.RECOVERED, "")


async def _list(connector: AsyncConnector) -> list[Subscription]:
    return [sim async for sim in connector.subscriptions()]


def _host(entry: EmulatedConnector) -> str:
    settings = entry.settings()
    url = (
        settings.get("base_url") or entry.connector.settings_model.model_fields["base_url"].default
    )
    return httpx.URL(str(url)).host


def _compare_listing(plan: Plan, setup: Setup, result: list[Subscription]) -> str | None:
    assert plan.listing is not None
    expected = plan.listing.result
    ids = [sim.id for sim in result]
    if len(ids) != len(set(ids)):
        return "a SIM was listed twice"
    if setup.compare is not None:
        return setup.compare(expected, result)
    if len(result) < len(expected):
        return f"short: {len(result)} of {len(expected)} SIMs"
    if result != expected:
        return "the listing differs from the fault-free one"
    return None


async def _compare_write(plan: Plan, emulator: Emulator, result: Any) -> str | None:
    assert plan.write is not None
    if result != plan.write.result:
        return "the write returned something else than without the fault"
    async with _connect(plan.entry, emulator.transport()) as reader:
        after = await plan.write.effect(reader)
    if after != plan.write.after:
        return "the platform does not show the change the fault-free write made"
    return None


def _typed(cell: Cell, expected: Expected, error: BaseException) -> CellResult:
    if not isinstance(error, CdpError):
        return _judge(cell, expected, Outcome.RAW, f"{type(error).__name__}: {error}")
    detail = _typed_detail(type(error), error.status_code, error.vendor_code)
    result = _judge(cell, expected, Outcome.TYPED, detail)
    problems = []
    if error.connector != cell.connector:
        problems.append(f"connector is {error.connector!r}")
    if not isinstance(error, expected.error):
        problems.append(f"expected {expected.error.__name__}")
    if expected.status is not ANY and error.status_code != expected.status:
        problems.append(f"status {error.status_code}, expected {expected.status}")
    if expected.vendor_code is not ANY and error.vendor_code != expected.vendor_code:
        problems.append(f"vendor code {error.vendor_code!r}, expected {expected.vendor_code!r}")
    if problems and result.ok:
        result.ok = False
        result.detail += " [" + "; ".join(problems) + "]"
    return result


def _judge(cell: Cell, expected: Expected, outcome: Outcome, detail: str) -> CellResult:
    return CellResult(cell, expected, outcome, detail, outcome in expected.outcomes)


def run_matrix(
    names: Iterable[str] | None = None, *, progress: Callable[[CellResult], None] | None = None
) -> list[CellResult]:
    """Every cell of the matrix (all emulated connectors, or ``names``), judged."""
    results = []
    for cell in matrix_cells(names):
        result = run_cell(cell)
        if progress is not None:
            progress(result)
        results.append(result)
    return results


# -- printing ----------------------------------------------------------------------------

SHORT = {Outcome.RECOVERED: "R", Outcome.TYPED: "T"}


def _mark(result: CellResult | None) -> str:
    if result is None:
        return ""
    if result.outcome is None:
        return "-"
    mark = SHORT.get(result.outcome, result.outcome.value)
    return mark if result.ok else f"{mark}!"


def format_matrix(results: Sequence[CellResult], *, markdown: bool = False) -> str:
    """The matrix as a table (faults down, connector and operation across), then every
    TYPED cell's error and every cell that does not apply, with the reason."""
    columns = sorted(
        {(r.cell.connector, r.cell.operation) for r in results},
        key=lambda c: (c[0], OPERATIONS.index(c[1])),
    )
    by_cell = {(r.cell.connector, r.cell.operation, r.cell.fault): r for r in results}
    faults = [fault for fault in FAULTS if any(r.cell.fault == fault.name for r in results)]
    header = ["fault", *(f"{name} {'list' if op == LISTING else 'write'}" for name, op in columns)]
    rows = [
        [fault.name, *(_mark(by_cell.get((name, op, fault.name))) for name, op in columns)]
        for fault in faults
    ]
    lines = _table(header, rows, markdown)
    failed = [r for r in results if not r.ok]
    lines.append("")
    lines.append(
        f"{len(results)} cells: "
        f"{sum(r.outcome is Outcome.RECOVERED for r in results)} recovered, "
        f"{sum(r.outcome is Outcome.TYPED for r in results)} typed, "
        f"{sum(r.outcome is None for r in results)} not applicable, {len(failed)} failed"
    )
    lines.append("")
    lines.append("R = RECOVERED, T = TYPED, - = does not apply, ! = not the expected outcome")
    details = [
        [
            f"{r.cell.connector} {r.cell.operation}",
            r.cell.fault,
            _outcome_text(r),
            _expected_text(r),
        ]
        for r in results
        if r.outcome is not None and (r.outcome is not Outcome.RECOVERED or not r.ok)
    ]
    if details:
        lines.append("")
        lines.extend(_table(["cell", "fault", "outcome", "expected"], details, markdown))
    writes = []
    for name in sorted({r.cell.connector for r in results if r.cell.operation == WRITE}):
        write = plan_for(name).write
        if write is not None:
            method, path = write.key
            writes.append([name, write.description, f"{method} {redact_text(path)}"])
    if writes:
        lines.append("")
        lines.extend(_table(["connector", "write", "request"], writes, markdown))
    skipped = sorted({(r.cell.fault, r.reason or "") for r in results if r.outcome is None})
    if skipped:
        lines.append("")
        reasons: dict[str, list[str]] = {}
        for r in results:
            if r.outcome is None:
                reasons.setdefault(f"{r.cell.fault}: {r.reason}", []).append(
                    f"{r.cell.connector} {r.cell.operation}"
                )
        rows = [[key, ", ".join(cells)] for key, cells in sorted(reasons.items())]
        lines.extend(_table(["does not apply", "cells"], rows, markdown))
    return "\n".join(lines)


def _expected_text(result: CellResult) -> str:
    """What the cell had to end with, where that is not simply what it ended with."""
    if result.expected is None:
        return ""
    described = result.expected.describe()
    return "" if result.ok and described == _outcome_text(result) else described


def _outcome_text(result: CellResult) -> str:
    assert result.outcome is not None
    text = result.outcome.value
    if result.detail:
        text += f" {result.detail}"
    return text if result.ok else f"{text} (FAILED)"


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return out
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            str(value).ljust(width) for value, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *rows]
    ]
