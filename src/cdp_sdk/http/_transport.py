"""The transport under every client: bodies decoded here, and never larger than a limit.

httpx decompresses a body in one call per network chunk, so a small gzip "bomb" can expand
to gigabytes in memory before anyone counts. :class:`LimitedTransport` wraps the real
transport (or an emulator's), does the decompression itself in bounded steps, counts the
bytes after decompression, and stops the read past ``max_bytes`` with
:class:`~cdp_sdk.errors.ResponseTooLargeError`. It applies to every response, logins and
event hooks included, because they all read through it.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable, Iterator

import httpx

from cdp_sdk.errors import ResponseTooLargeError, UnexpectedResponseError

__all__ = ["ACCEPT_ENCODING", "DEFAULT_MAX_RESPONSE_BYTES", "LimitedTransport", "limit_client"]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The default ``max_response_bytes``: 64 MiB after decompression."""

ACCEPT_ENCODING = "gzip, deflate"
"""The content codings the client asks for: those :class:`LimitedTransport` decodes."""

_STEP = 64 * 1024  # the most a decoder produces in one step
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Inflater:
    """One content coding, undone in steps of at most ``_STEP`` bytes of output."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._decoder = zlib.decompressobj(_WBITS[coding])
        self._started = False
        self._fed = False

    @property
    def cut_short(self) -> bool:
        """Whether compressed data came but its stream never reached its end."""
        return self._fed and not self._decoder.eof

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        try:
            yield from self._steps(data)
        except zlib.error:
            if self.coding != "deflate" or self._started:
                raise
            # "deflate" without its zlib header, as some servers send it.
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            yield from self._steps(data)

    def _steps(self, data: bytes) -> Iterator[bytes]:
        chunk = self._decoder.decompress(data, _STEP)
        self._started = True
        yield chunk
        while self._decoder.unconsumed_tail:
            yield self._decoder.decompress(self._decoder.unconsumed_tail, _STEP)

    def flush(self) -> Iterator[bytes]:
        yield self._decoder.flush()


class _LimitedStream(httpx.AsyncByteStream):
    """The decoded body of one response, read in bounded steps and counted."""

    def __init__(
        self,
        raw: httpx.AsyncByteStream,
        codings: list[str],
        *,
        max_bytes: int,
        too_large: Callable[[], Exception],
        unreadable: Callable[[str], Exception],
    ) -> None:
        self._raw = raw
        self._inflaters = [_Inflater(coding) for coding in reversed(codings)]
        self._max_bytes = max_bytes
        self._too_large = too_large
        self._unreadable = unreadable
        self.received = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._raw:
                for chunk in self._decode(data, 0):
                    yield self._count(chunk)
            for chunk in self._flush(0):
                yield self._count(chunk)
        except zlib.error:
            raise self._unreadable("a compressed body that cannot be decompressed") from None
        if any(inflater.cut_short for inflater in self._inflaters):
            raise self._unreadable("a compressed body cut short")

    def _decode(self, data: bytes, level: int) -> Iterator[bytes]:
        if level == len(self._inflaters):
            if data:
                yield data
            return
        for step in self._inflaters[level].feed(data):
            yield from self._decode(step, level + 1)

    def _flush(self, level: int) -> Iterator[bytes]:
        if level == len(self._inflaters):
            return
        for rest in self._inflaters[level].flush():
            yield from self._decode(rest, level + 1)
        yield from self._flush(level + 1)

    def _count(self, chunk: bytes) -> bytes:
        self.received += len(chunk)
        if self.received > self._max_bytes:
            raise self._too_large()
        return chunk

    async def aclose(self) -> None:
        await self._raw.aclose()


class LimitedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: responses come back decoded (gzip, deflate) and at most
    ``max_bytes`` long after decoding, else reading them raises
    :class:`~cdp_sdk.errors.ResponseTooLargeError`; a body in a coding it cannot decode
    raises :class:`~cdp_sdk.errors.UnexpectedResponseError`."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        connector: str | None = None,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.inner = inner
        self.max_bytes = max_bytes
        self.connector = connector

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        where = f"{request.method} {request.url.path}"
        codings = [
            coding.strip().lower()
            for coding in response.headers.get("Content-Encoding", "").split(",")
            if coding.strip() and coding.strip().lower() != "identity"
        ]
        unknown = [coding for coding in codings if coding not in _WBITS]
        if unknown:
            await response.aclose()
            raise UnexpectedResponseError(
                f"{where} answered in a content coding cdp-sdk does not read ({unknown[0]})",
                connector=self.connector,
                status_code=response.status_code,
            )
        declared = response.headers.get("Content-Length", "")
        if not codings and declared.isdigit() and int(declared) > self.max_bytes:
            await response.aclose()
            raise self._too_large(where, response.status_code)
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if not (codings and name.lower() in ("content-encoding", "content-length"))
        ]
        assert isinstance(response.stream, httpx.AsyncByteStream)
        stream = _LimitedStream(
            response.stream,
            codings,
            max_bytes=self.max_bytes,
            too_large=lambda: self._too_large(where, response.status_code),
            unreadable=lambda reason: UnexpectedResponseError(
                f"{where} returned {reason}",
                connector=self.connector,
                status_code=response.status_code,
            ),
        )
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=stream,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _too_large(self, where: str, status: int) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"{where} returned a body larger than max_response_bytes ({self.max_bytes} bytes "
            "after decompression); the read was stopped there",
            connector=self.connector,
            status_code=status,
            limit=self.max_bytes,
        )


def limit_client(
    client: httpx.AsyncClient, wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]
) -> None:
    """Put ``wrap`` around every transport of ``client``: its own and those httpx mounted
    for proxies from the environment (``HTTPS_PROXY`` ...), which it builds only when no
    transport is given, so this is done after construction."""
    # httpx has no public way to reach the proxy mounts; both names are stable in httpx<1.
    client._transport = wrap(client._transport)
    client._mounts = {
        pattern: None if transport is None else wrap(transport)
        for pattern, transport in client._mounts.items()
    }
