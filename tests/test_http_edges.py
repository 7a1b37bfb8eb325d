"""Edges of the HTTP layer a user meets: bodies in other encodings, a request with two bodies,
a vendor error nested one level down, a rate-limit reset header read by default, and a
platform whose count resets at once."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from cdp_sdk.errors import ResponseTooLargeError, UnexpectedResponseError
from cdp_sdk.http import (
    ErrorTable,
    HttpClient,
    RateLimiter,
    RetryAfterHeader,
    RetryPolicy,
    parse_error_body,
)

BASE_URL = "https://api.example.test"


def client_answering(made: list[HttpClient], response: httpx.Response) -> HttpClient:
    client = HttpClient(
        connector="toy",
        base_url=BASE_URL,
        retry=RetryPolicy(max_retries=0),
        transport=httpx.MockTransport(lambda request: response),
    )
    made.append(client)
    return client


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-16"])
async def test_a_json_body_in_utf_16_or_32_is_read(
    http_clients: list[HttpClient], encoding: str
) -> None:
    body = '{"iccid": "8988303000000000001", "label": "Zürich"}'.encode(encoding)
    client = client_answering(http_clients, httpx.Response(200, content=body))
    assert await client.request_json("GET", "/sims/1") == {
        "iccid": "8988303000000000001",
        "label": "Zürich",
    }


async def test_a_body_with_a_byte_order_mark_is_read(http_clients: list[HttpClient]) -> None:
    body = b"\xef\xbb\xbf" + '{"label": "Zürich"}'.encode()
    client = client_answering(http_clients, httpx.Response(200, content=body))
    assert await client.request_json("GET", "/sims/1") == {"label": "Zürich"}


async def test_a_byte_that_is_not_utf_8_becomes_a_replacement_character(
    http_clients: list[HttpClient],
) -> None:
    body = b'{"label": "Z\xfcrich", "n": 1}'  # Latin-1, as some platforms send
    client = client_answering(http_clients, httpx.Response(200, content=body))
    assert await client.request_json("GET", "/sims/1") == {"label": "Z\ufffdrich", "n": 1}


async def test_a_body_that_is_not_json_is_an_unexpected_response(
    http_clients: list[HttpClient],
) -> None:
    client = client_answering(http_clients, httpx.Response(200, content=b"<html>"))
    with pytest.raises(UnexpectedResponseError):
        await client.request_json("GET", "/sims/1")


async def test_json_and_form_data_together_are_refused(http_clients: list[HttpClient]) -> None:
    client = client_answering(http_clients, httpx.Response(200))
    with pytest.raises(ValueError, match=r"^send a JSON body or form data, not both$"):
        await client.request("POST", "/sims", json={"a": 1}, data={"b": "2"})


def test_a_vendor_code_nested_under_a_flat_message_is_found() -> None:
    error = parse_error_body({"message": "SIM not found", "error": {"code": "E404"}})
    assert error.code == "E404"
    assert error.message == "SIM not found"


def test_a_rate_limit_reset_header_is_read_by_default() -> None:
    table = ErrorTable(
        retry_after_headers=(RetryAfterHeader("X-RateLimit-Retry-After", rate_limit_only=True),)
    )
    response = httpx.Response(429, headers={"X-RateLimit-Retry-After": "7"})
    assert table.retry_after(response) == 7.0
    assert table.retry_after(response, rate_limited=False) is None


async def test_a_platform_count_that_resets_now_costs_no_wait() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    limiter = RateLimiter(None, clock=lambda: 100.0, sleep=sleep)
    limiter.observe(0, 0.0)
    release = await limiter.acquire()
    release()
    assert sleeps == []
    limiter.observe(0, 0.25)
    release = await limiter.acquire()
    release()
    assert sleeps == [0.25]


async def test_a_body_over_the_limit_is_refused_with_the_limit_named(
    http_clients: list[HttpClient],
) -> None:
    client = HttpClient(
        connector="toy",
        base_url=BASE_URL,
        retry=RetryPolicy(max_retries=0),
        max_response_bytes=100,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"x" * 500)),
    )
    http_clients.append(client)
    with pytest.raises(ResponseTooLargeError) as caught:
        await client.request("GET", "/sims")
    assert caught.value.message == (
        "GET /sims returned a body larger than max_response_bytes (100 bytes after "
        "decompression); the read was stopped there"
    )
    assert caught.value.status_code == 200


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def test_a_deflate_body_corrupt_after_its_start_is_refused(
    http_clients: list[HttpClient],
) -> None:
    # zlib header, then a stored block of 5 bytes of which the first chunk carries 2.
    first = b"\x78\x01" + b"\x00\x05\x00\xfa\xff" + b"ab"
    # The 3 missing bytes, then an invalid block type (0x07): corrupt where it stands,
    # although read alone from its first byte it is a whole raw deflate stream.
    second = b"\x01\xf8\x00\x07\xff" + b"z" * 0xF8
    response = httpx.Response(
        200, headers={"Content-Encoding": "deflate"}, stream=_Chunks(first, second)
    )
    client = client_answering(http_clients, response)
    with pytest.raises(UnexpectedResponseError, match="cannot be decompressed"):
        await client.request("GET", "/sims")


async def test_a_deflate_body_without_its_zlib_header_is_read(
    http_clients: list[HttpClient],
) -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw.compress(b'{"n": 1}') + raw.flush()
    response = httpx.Response(
        200, headers={"Content-Encoding": "deflate"}, stream=_Chunks(body[:3], body[3:])
    )
    client = client_answering(http_clients, response)
    assert await client.request_json("GET", "/sims") == {"n": 1}


async def test_lone_surrogate_escapes_become_replacement_characters(
    http_clients: list[HttpClient],
) -> None:
    body = (
        b'{"a\\ud800": ["x\\udc00y", {"k": "\\ud83d\\ude00", "m": "\\uDBFF"}], '
        b'"n": 1, "t": true, "s": "plain"}'
    )
    client = client_answering(http_clients, httpx.Response(200, content=body))
    assert await client.request_json("GET", "/sims/1") == {
        "a\ufffd": ["x\ufffdy", {"k": "\U0001f600", "m": "\ufffd"}],
        "n": 1,
        "t": True,
        "s": "plain",
    }


@pytest.mark.parametrize("escape", [b"\\uDBFF", b"\\udAFF", b"\\uDc00"])
async def test_a_lone_surrogate_escape_in_any_case_is_replaced(
    http_clients: list[HttpClient], escape: bytes
) -> None:
    client = client_answering(
        http_clients, httpx.Response(200, content=b'{"m": "' + escape + b'"}')
    )
    assert await client.request_json("GET", "/sims/1") == {"m": "\ufffd"}
