"""Response bodies: decoded by cdp-sdk in bounded steps, and never larger than the limit."""

from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import cdp_sdk
from cdp_sdk.errors import (
    ConfigurationError,
    ResponseTooLargeError,
    UnexpectedResponseError,
)
from cdp_sdk.http import HttpClient, JsonLoginAuth, RetryPolicy
from cdp_sdk.http._transport import LimitedTransport

BASE = "https://api.example.test"
MIB = 1024 * 1024

Handler = Callable[[httpx.Request], httpx.Response]


def gzip_bomb(expanded: int = 1024 * MIB) -> bytes:
    """A valid gzip member of about 1 MiB that expands to ``expanded`` zero bytes.

    Each MiB of zeros compresses (full flush: byte-aligned, same output every time) to the
    same block of about a KiB; the block is repeated, then closed with the CRC and size.
    """
    zeros = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    crc = 0
    for _ in range(expanded // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, expanded & 0xFFFFFFFF)
    return header + block * (expanded // MIB) + end + trailer


def encoded(status: int, raw: bytes, coding: str | None, **headers: str) -> httpx.Response:
    """A response whose body arrives as sent on the wire (not decoded by httpx here)."""
    if coding:
        headers["Content-Encoding"] = coding
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(raw))


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., HttpClient]]:
    made: list[HttpClient] = []

    def make(handler: Handler, **kwargs: Any) -> HttpClient:
        kwargs.setdefault("retry", RetryPolicy(max_retries=2))
        client = HttpClient(
            connector="test", base_url=BASE, transport=httpx.MockTransport(handler), **kwargs
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def test_a_gzip_bomb_is_stopped_without_expanding_it(
    make_client: Callable[..., HttpClient],
) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 1.1 * MIB
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return encoded(200, bomb, "gzip", **{"Content-Type": "application/json"})

    client = make_client(handler)  # the default limit: 64 MiB after decompression
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.request_json("GET", "/v1/sims")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Held: the 1 MiB bomb and at most the 64 MiB limit, never the 1 GiB it expands to.
    print(f"peak traced memory: {peak / MIB:.0f} MiB")
    assert peak < 160 * MIB
    assert caught.value.limit == 64 * MIB
    assert caught.value.status_code == 200
    assert caught.value.connector == "test"
    assert isinstance(caught.value, UnexpectedResponseError)
    assert "max_response_bytes" in caught.value.message
    assert len(sent) == 1  # not retried: the same answer would come again


async def test_the_limit_counts_bytes_after_decompression(
    make_client: Callable[..., HttpClient],
) -> None:
    body = json.dumps([{"iccid": "8988303000000000016", "pad": "x" * 3000}]).encode()
    small = gzip.compress(body)
    assert len(small) < 2048 < len(body)

    client = make_client(lambda r: encoded(200, small, "gzip"), max_response_bytes=2048)
    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", "/v1/sims")

    roomy = make_client(lambda r: encoded(200, small, "gzip"), max_response_bytes=len(body))
    assert await roomy.request_json("GET", "/v1/sims") == json.loads(body)


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
        ("identity", lambda data: data),
        (None, lambda data: data),
        ("GZIP", gzip.compress),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "identity", "none", "upper-case"],
)
async def test_bodies_are_decoded(
    make_client: Callable[..., HttpClient],
    coding: str | None,
    compress: Callable[[bytes], bytes],
) -> None:
    body = json.dumps({"data": list(range(5000))}).encode()
    client = make_client(lambda r: encoded(200, compress(body), coding))
    response = await client.request("GET", "/v1/sims")
    assert response.json() == {"data": list(range(5000))}
    if coding not in (None, "identity"):  # decoded here: the header no longer applies
        assert "content-encoding" not in {name.lower() for name in response.headers}


async def test_two_codings_are_undone_in_reverse_order(
    make_client: Callable[..., HttpClient],
) -> None:
    body = b'{"ok": true}'
    twice = gzip.compress(zlib.compress(body))  # deflate first, then gzip
    client = make_client(lambda r: encoded(200, twice, "deflate, gzip"))
    assert await client.request_json("GET", "/x") == {"ok": True}


async def test_the_client_asks_only_for_codings_it_decodes(
    make_client: Callable[..., HttpClient],
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    await make_client(handler).request("GET", "/x")
    assert seen[0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("raw", "coding", "match"),
    [
        (b"\x1f\x8b garbage", "gzip", "cannot be decompressed"),
        (b"anything", "br", "content coding"),
        (b"anything", "gzip, zstd", "content coding"),
    ],
    ids=["corrupt-gzip", "brotli", "zstd"],
)
async def test_unreadable_codings_are_unexpected_responses(
    make_client: Callable[..., HttpClient], raw: bytes, coding: str, match: str
) -> None:
    client = make_client(lambda r: encoded(200, raw, coding))
    with pytest.raises(UnexpectedResponseError, match=match) as caught:
        await client.request("GET", "/x")
    assert caught.value.status_code == 200
    assert caught.value.connector == "test"


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    make_client: Callable[..., HttpClient],
) -> None:
    class Endless(httpx.AsyncByteStream):
        read = 0

        async def __aiter__(self) -> AsyncIterator[bytes]:
            while True:
                Endless.read += 1
                yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10 * MIB)}, stream=Endless())

    client = make_client(handler, max_response_bytes=MIB)
    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", "/x")
    assert Endless.read == 0


async def test_an_undeclared_length_is_stopped_at_the_limit(
    make_client: Callable[..., HttpClient],
) -> None:
    chunks = 0

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            nonlocal chunks
            while True:
                chunks += 1
                yield b" " * 1024

    client = make_client(lambda r: httpx.Response(200, stream=Endless()), max_response_bytes=MIB)
    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", "/x")
    assert chunks == 1025  # the first 1,024 KiB, and the chunk that went past


async def test_an_error_body_is_limited_too(make_client: Callable[..., HttpClient]) -> None:
    client = make_client(lambda r: encoded(503, gzip_bomb(128 * MIB), "gzip"))
    with pytest.raises(ResponseTooLargeError) as caught:
        await client.request("GET", "/x")
    assert caught.value.status_code == 503


async def test_a_login_answer_is_limited_too(make_client: Callable[..., HttpClient]) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return encoded(200, gzip_bomb(128 * MIB), "gzip")

    auth = JsonLoginAuth("/auth", {"key": SecretStr("k" * 12)}, token_field="token")
    client = make_client(handler, auth=auth)
    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", "/v1/sims")
    assert seen == ["/auth"]


def test_proxies_from_the_environment_are_limited_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = HttpClient(connector="test", base_url=BASE)
    inner = client._client
    transports = [inner._transport, *inner._mounts.values()]
    assert len(transports) >= 2, "the proxy from the environment was not mounted"
    assert all(isinstance(t, LimitedTransport) for t in transports if t is not None)


def test_the_setting_and_its_bounds() -> None:
    settings = cdp_sdk.connect("sandbox").settings
    assert settings.max_response_bytes == 64 * MIB
    connector = cdp_sdk.connect("sandbox", max_response_bytes=4096)
    assert connector.plugin.http.max_response_bytes == 4096
    connector.close()
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        cdp_sdk.connect("sandbox", max_response_bytes=100)


def test_limited_transport_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LimitedTransport(httpx.MockTransport(lambda r: httpx.Response(200)), max_bytes=0)


async def test_closing_the_client_closes_the_wrapped_transport() -> None:
    class Closable(httpx.MockTransport):
        closed = False

        async def aclose(self) -> None:
            Closable.closed = True

    client = HttpClient(
        connector="test",
        base_url=BASE,
        transport=Closable(lambda r: httpx.Response(200, json={})),
    )
    await client.request("GET", "/x")
    await client.aclose()
    assert Closable.closed
