"""The fault-injecting transport of the fault matrix, and the faults it can inject.

:class:`FaultTransport` wraps an emulator's own transport and knows no vendor: what a
fault needs of the vendor's shapes comes from the emulator (its ``error()`` and
``rate_limited()`` answers, its token store) or from earlier answers of the same run.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from cdp_sdk.http._auth import LOGIN_STARTED
from cdp_sdk.sandbox import Emulator, TokenStore

__all__ = [
    "Action",
    "AtRequest",
    "Exchange",
    "FaultTransport",
    "Injection",
    "OnRecord",
    "identifier_values",
    "items_of",
    "json_of",
    "records_of",
    "set_items",
]

FAULT_CODE = "90001"
"""The vendor code the injected error answers carry (digits: some vendors' codes are)."""
OTHER_ORIGIN = "https://elsewhere.invalid"
OVERSIZED_BYTES = 8 * 1024 * 1024
"""What an oversized answer expands to (the matrix reads at most 1 MiB)."""


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


def json_of(response: httpx.Response | None) -> Any:
    if response is None or not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def items_of(body: Any) -> list[Any] | None:
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


def set_items(body: Any, items: list[Any]) -> Any:
    if isinstance(body, list):
        return items
    current = items_of(body)
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
        earlier = items_of(json_of(transport.answered(key, index))) or []
        body = json_of(answer)
        items = items_of(body)
        if not earlier or items is None:
            return answer
        return _with_json(answer, set_items(body, [earlier[0], *items]))

    return act


def emptied() -> Action:
    """The real page with its records taken out; its end signal unchanged."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        answer = await transport.forward(exchange)
        return _with_json(answer, set_items(json_of(answer), []))

    return act


def empty_after(key: tuple[str, str], index: int) -> Action:
    """An empty page whose end signal is that of the page before: it claims more data but
    points back at itself (a cursor that cannot advance)."""

    async def act(transport: FaultTransport, exchange: Exchange) -> httpx.Response:
        earlier = transport.answered(key, index)
        return _with_json(earlier, set_items(json_of(earlier), []))

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
        body = json_of(answer)
        changed = False
        for record in records_of(body, self.iccids):
            changed = self.rewrite(record) or changed
        if not changed:
            return answer
        self.done = True
        return _with_json(answer, body)


def records_of(body: Any, iccids: frozenset[str]) -> list[dict[str, Any]]:
    """The objects in ``body`` that hold one of ``iccids`` among their
    :func:`identifier_values`."""
    found: list[dict[str, Any]] = []
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if identifier_values(value) & iccids:
                found.append(value)
            else:
                stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def identifier_values(record: dict[str, Any]) -> set[str]:
    """The text of a record's direct values, and of the ids in its lists of identifier
    entries (objects that name their kind, as ThingSpace's ``deviceIds[{id, kind}]``)."""
    values = {str(v) for v in record.values() if isinstance(v, str | int)}
    for value in record.values():
        if isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict) and isinstance(entry.get("kind"), str):
                    values.update(str(v) for v in entry.values() if isinstance(v, str | int))
    return values


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
