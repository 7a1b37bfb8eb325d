"""What goes on the wire and what comes back through HttpClient: the headers a request
carries, the timeout a login takes, the headers and size limit of a decoded body, the
reason a server gives, and the way a request bypasses a proxy for a NO_PROXY host."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.errors import (
    ConfigurationError,
    ResponseTooLargeError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http import (
    ChainedLoginAuth,
    HttpClient,
    JsonLoginAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    call_timeout,
)
from test_network import OkHandler

BASE = "https://api.example.test"

# -- what a request carries ------------------------------------------------------------------


async def test_a_request_carries_only_the_headers_the_client_means_to_send(
    mock_client: Callable[..., HttpClient],
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = mock_client(handler)
    await client.request("GET", "/v1/sims")
    headers = seen[0].headers
    assert {name.lower() for name in headers} == {
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "connection",
    }
    # Only the codings the client decodes itself, whatever decoders httpx has installed.
    assert headers["Accept-Encoding"] == "gzip, deflate"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("cdp-sdk/")


async def login_timeouts(
    mock_client: Callable[..., HttpClient],
    auth: httpx.Auth,
    *,
    setting: float,
    call: float | None = None,
) -> dict[str, Any]:
    """The path and timeout of each login ``authenticate()`` sends for a client whose
    ``timeout`` is ``setting``, within a ``call_timeout(call)`` when one is given."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"token": "tok-0123456789", "access_token": "a-0123456789"})

    client = mock_client(handler, auth=auth, timeout=setting)
    if call is None:
        assert await client.authenticate()
    else:
        with call_timeout(call):
            assert await client.authenticate()
    return {request.url.path: request.extensions["timeout"] for request in seen}


async def test_a_login_made_by_authenticate_takes_the_connectors_timeout(
    mock_client: Callable[..., HttpClient],
) -> None:
    auth = JsonLoginAuth("/login", {"user": "u"}, token_field="token")
    assert await login_timeouts(mock_client, auth, setting=7.0) == {
        "/login": {"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    }


# -- what comes back -------------------------------------------------------------------------


async def test_a_compressed_answer_keeps_its_other_headers_and_drops_the_wire_length(
    mock_client: Callable[..., HttpClient],
) -> None:
    body = b'{"sims": [' + b'{"iccid": "x"},' * 200 + b'{"iccid": "y"}]}'
    raw = gzip.compress(body)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={
                "Content-Encoding": "gzip",
                "Content-Length": str(len(raw)),
                "Content-Type": "application/json",
                "X-Request-Id": "req-42",
            },
            stream=httpx.ByteStream(raw),
        )

    response = await mock_client(handler).request("GET", "/v1/sims")
    assert response.content == body
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Request-Id"] == "req-42"
    # The body handed on is the decoded one: no header may describe the compressed one.
    assert "Content-Encoding" not in response.headers
    assert "Content-Length" not in response.headers


async def test_a_plain_answer_keeps_its_length(mock_client: Callable[..., HttpClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"ok": true}', headers={"Content-Type": "text/x"})

    response = await mock_client(handler).request("GET", "/v1/ping")
    assert response.headers["Content-Length"] == "12"
    assert response.headers["Content-Type"] == "text/x"


async def test_a_body_of_exactly_the_limit_is_read(mock_client: Callable[..., HttpClient]) -> None:
    body = b'{"n": 1}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client = mock_client(handler, max_response_bytes=len(body))
    assert (await client.request("GET", "/v1/x")).content == body


async def test_a_limit_of_one_byte_is_a_valid_setting(
    mock_client: Callable[..., HttpClient],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"1" if request.url.path == "/one" else b"12")

    client = mock_client(handler, max_response_bytes=1)
    assert (await client.request("GET", "/one")).content == b"1"
    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", "/two")


def test_a_limit_below_one_byte_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match=r"^max_bytes must be at least 1$"):
        HttpClient(
            connector="toy",
            base_url=BASE,
            transport=httpx.MockTransport(lambda request: httpx.Response(200)),
            max_response_bytes=0,
        )


async def test_a_decoded_body_over_the_limit_names_the_call(
    mock_client: Callable[..., HttpClient],
) -> None:
    raw = gzip.compress(bytes(100_000))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(raw)
        )

    client = mock_client(handler, max_response_bytes=50_000)
    with pytest.raises(ResponseTooLargeError) as caught:
        await client.request("GET", "/v1/usage")
    assert caught.value.message.startswith(
        "GET /v1/usage returned a body larger than max_response_bytes (50000 bytes"
    )


async def test_a_broken_compressed_body_is_reported_in_words(
    mock_client: Callable[..., HttpClient],
) -> None:
    raw = gzip.compress(b'{"sims": []}')
    broken = raw[:10] + bytes(b ^ 0xFF for b in raw[10:20]) + raw[20:]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(broken)
        )

    with pytest.raises(UnexpectedResponseError) as caught:
        await mock_client(handler).request("GET", "/v1/sims")
    assert caught.value.message == (
        "GET /v1/sims returned a compressed body that cannot be decompressed"
    )


async def test_a_compressed_body_cut_short_anywhere_is_reported_as_such(
    mock_client: Callable[..., HttpClient],
) -> None:
    """Wherever the compressed stream is cut, even before any output (which would read as
    an empty body), the call fails in words rather than returning what came."""
    # Long runs of one byte: the decoder holds back output at some cuts, to be flushed.
    raw = zlib.compress(b'{"pad": "' + b"a" * 300_000 + b'"}', 9)
    cuts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent = raw[: cuts[-1]]
        return httpx.Response(
            200, headers={"Content-Encoding": "deflate"}, stream=httpx.ByteStream(sent)
        )

    client = mock_client(handler)
    for cut in range(1, len(raw)):
        cuts.append(cut)
        with pytest.raises(UnexpectedResponseError) as caught:
            await client.request_json("GET", "/v1/sims")
        assert caught.value.message == "GET /v1/sims returned a compressed body cut short"
    cuts.append(len(raw))
    assert await client.request_json("GET", "/v1/sims") == {"pad": "a" * 300_000}


async def test_an_empty_body_with_a_content_coding_is_an_empty_body(
    mock_client: Callable[..., HttpClient],
) -> None:
    """No compressed data at all (a 204 that names a coding) is not a stream cut short."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204, headers={"Content-Encoding": "gzip"})

    response = await mock_client(handler).request("DELETE", "/v1/sims/1/tags/site")
    assert response.status_code == 204
    assert response.content == b""


async def test_the_reason_a_server_gives_reaches_the_error(
    mock_client: Callable[..., HttpClient],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, extensions={"reason_phrase": b"Backend Overloaded"})

    with pytest.raises(TransientError) as caught:
        await mock_client(handler).request("GET", "/v1/sims")
    assert caught.value.message == "GET /v1/sims failed: Backend Overloaded"


# -- a proxy from the environment and NO_PROXY -----------------------------------------------


@pytest.fixture
def direct_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OkHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def test_a_no_proxy_host_is_reached_directly(
    direct_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy named in the environment listens nowhere: a request through it would fail.
    for name in ("HTTPS_PROXY", "ALL_PROXY", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = HttpClient(
        connector="toy",
        base_url=f"http://127.0.0.1:{direct_server}",
        retry=RetryPolicy(max_retries=0),
        timeout=5.0,
    )
    try:
        assert await client.request_json("GET", "/v1/ping") == {"ok": True}
    finally:
        await client.aclose()


def test_an_unreadable_ca_bundle_names_the_connector(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        HttpClient(connector="toy", base_url=BASE, verify=str(tmp_path / "missing.pem"))
    assert caught.value.connector == "toy"
    assert "setting 'verify': the CA bundle cannot be read" in str(caught.value)


async def test_a_given_transport_is_the_network_even_with_a_proxy_setting(
    mock_client: Callable[..., HttpClient],
) -> None:
    # An emulator or recorder passed as the transport answers; the proxy setting (here one
    # that listens nowhere) applies only to the network cdp-sdk opens itself.
    client = mock_client(
        lambda request: httpx.Response(200, json={"from": "transport"}),
        proxy="http://127.0.0.1:9",
    )
    assert await client.request_json("GET", "/v1/ping") == {"from": "transport"}


@pytest.mark.parametrize("chained", [False, True])
async def test_a_login_made_by_authenticate_takes_the_timeout_of_the_call(
    mock_client: Callable[..., HttpClient], chained: bool
) -> None:
    # check(timeout=3) logs in through authenticate() inside call_timeout(3): the login
    # must not wait the connector's 30 s instead.
    session = JsonLoginAuth("/login", {"user": "u"}, token_field="token")
    auth: httpx.Auth = session
    if chained:
        oauth = OAuth2ClientCredentials("/oauth/token", "client", SecretStr("s3cret-value"))
        auth = ChainedLoginAuth(oauth, session)
    timeouts = await login_timeouts(mock_client, auth, setting=30.0, call=3.0)
    logins = ["/oauth/token", "/login"] if chained else ["/login"]
    three = {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert timeouts == dict.fromkeys(logins, three)


class _OwnTimeoutLogin(JsonLoginAuth):
    """A plugin's flow that gives its login call a timeout of its own."""

    def login_request(self, request: httpx.Request) -> httpx.Request:
        login = super().login_request(request)
        login.extensions["timeout"] = {"connect": 1.0, "read": 2.0, "write": 3.0, "pool": 4.0}
        return login


async def test_a_login_with_a_timeout_of_its_own_keeps_it_through_authenticate(
    mock_client: Callable[..., HttpClient],
) -> None:
    auth = _OwnTimeoutLogin("/login", {"user": "u"}, token_field="token")
    assert await login_timeouts(mock_client, auth, setting=30.0, call=9.0) == {
        "/login": {"connect": 1.0, "read": 2.0, "write": 3.0, "pool": 4.0}
    }
