"""The settings an HTTP SDK's users expect: ``verify`` (a CA bundle, or off only when asked,
loudly) and ``proxy`` (or the standard ``HTTP(S)_PROXY``), through real loopback servers."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import CertificateError, ConfigurationError, InsecureTLSWarning
from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.sandbox import Emulator, Fleet
from test_network import self_signed

FLEET_SIZE = 7


def _fleet() -> Fleet:
    return Fleet(FLEET_SIZE, seed=5, today=date(2024, 6, 15))


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


# -- verify -------------------------------------------------------------------------------------


@pytest.fixture
def tls_sandbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The sandbox emulator over HTTPS on loopback, with a certificate no public CA signed."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    emulator = SandboxEmulator(_fleet())
    server = emulator.serve("127.0.0.1", 0)
    running = server.__enter__()
    raw = running._server  # the emulator's HTTP server: its listening socket speaks TLS now
    raw.socket = context.wrap_socket(raw.socket, server_side=True)
    try:
        port = raw.server_address[1]
        yield f"https://localhost:{port}", cert_file
    finally:
        server.__exit__(None, None, None)


def test_verify_takes_a_ca_bundle_path(tls_sandbox: tuple[str, Path]) -> None:
    url, cert_file = tls_sandbox
    with (
        cdp_sdk.connect("sandbox", base_url=url, max_retries=0) as untrusting,
        pytest.raises(CertificateError) as caught,
    ):
        untrusting.check()
    # The one place that says how to trust a CA names the setting.
    assert "set the connector's verify setting to the path of a PEM bundle" in str(caught.value)
    with cdp_sdk.connect("sandbox", base_url=url, verify=str(cert_file)) as trusting:
        assert len(list(trusting.subscriptions())) == FLEET_SIZE


def test_ssl_cert_file_is_honoured(
    tls_sandbox: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert_file = tls_sandbox
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    with cdp_sdk.connect("sandbox", base_url=url) as client:
        assert len(list(client.subscriptions())) == FLEET_SIZE


def test_verify_false_works_and_warns_on_every_connect(tls_sandbox: tuple[str, Path]) -> None:
    url, _ = tls_sandbox
    found = []
    with pytest.warns(InsecureTLSWarning) as caught:  # noqa: PT031
        for _ in range(2):
            with cdp_sdk.connect("sandbox", base_url=url, verify=False) as client:
                found.append(len(list(client.subscriptions())))
    assert found == [FLEET_SIZE, FLEET_SIZE]
    insecure = [w for w in caught if issubclass(w.category, InsecureTLSWarning)]
    assert len(insecure) == 2
    assert "TLS certificate verification is OFF (verify=False)" in str(insecure[0].message)


def test_a_plain_python_process_shows_the_warning_on_every_connect() -> None:
    # Python shows a warning once per call site by default; this one is shown each time.
    code = (
        "import cdp_sdk\n"
        "for _ in range(3):\n"
        "    cdp_sdk.connect('sandbox', verify=False).close()\n"
        "cdp_sdk.connect('sandbox').close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    shown = "InsecureTLSWarning: sandbox: TLS certificate verification is OFF"
    assert done.stderr.count(shown) == 3


def test_verify_is_true_unless_set_and_only_false_turns_it_off(tmp_path: Path) -> None:
    with cdp_sdk.connect("sandbox") as client:
        assert client.settings.verify is True  # type: ignore[attr-defined]
    # a text that reads like false is a path, and no such file exists: refused
    with pytest.raises(ConfigurationError, match="setting 'verify': no CA bundle") as caught:
        cdp_sdk.connect("sandbox", verify="false")
    with pytest.raises(ConfigurationError, match="setting 'verify'"):
        cdp_sdk.connect("sandbox", verify="")
    missing = tmp_path / "corporate-ca.pem"
    with pytest.raises(ConfigurationError) as caught:
        cdp_sdk.connect("sandbox", verify=str(missing))
    assert str(missing) not in str(caught.value)  # values are never echoed
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="setting 'verify': the CA bundle cannot be read"):
        cdp_sdk.connect("sandbox", base_url="https://example.test", verify=str(not_pem))


# -- proxy ---------------------------------------------------------------------------------------


class _ForwardProxy(ThreadingHTTPServer):
    """A plain HTTP forward proxy on loopback that answers from an emulator itself and
    keeps the absolute URLs and Proxy-Authorization headers it was sent."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.emulator = emulator
        self.urls: list[str] = []
        self.proxy_auth: list[str | None] = []


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ForwardProxy
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        self.server.urls.append(self.path)
        self.server.proxy_auth.append(self.headers.get("Proxy-Authorization"))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
        request = httpx.Request(self.command, self.path, headers=headers, content=body)
        response = self.server.emulator.handle(request)
        content = response.read()
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def proxy() -> Iterator[_ForwardProxy]:
    server = _ForwardProxy(SandboxEmulator(_fleet()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# A host that is never resolved: only the proxy can answer for it.
PLATFORM = "http://sandbox.behind-the-proxy.invalid"


def test_the_proxy_setting_sends_every_request_through_the_proxy(proxy: _ForwardProxy) -> None:
    port = proxy.server_address[1]
    secret = "proxy-pass-8c1f"
    with cdp_sdk.connect(
        "sandbox",
        base_url=PLATFORM,
        allow_insecure_http=True,
        proxy=f"http://ops:{secret}@127.0.0.1:{port}",
        max_retries=0,
    ) as client:
        assert len(list(client.subscriptions())) == FLEET_SIZE
        assert secret not in repr(client.settings)
        with pytest.raises(cdp_sdk.NotFoundError) as caught:
            client.subscription("8988399999999990000")
    assert secret not in str(caught.value)
    assert proxy.urls[0] == f"{PLATFORM}/v1/auth"
    assert all(url.startswith(f"{PLATFORM}/v1/") for url in proxy.urls)
    assert all(auth is not None and auth.startswith("Basic ") for auth in proxy.proxy_auth)


def test_http_proxy_from_the_environment_is_used(
    proxy: _ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    with cdp_sdk.connect("sandbox", base_url=PLATFORM, allow_insecure_http=True) as client:
        assert len(list(client.subscriptions())) == FLEET_SIZE
    assert proxy.urls
    assert proxy.proxy_auth[0] is None


@pytest.mark.parametrize("value", ["127.0.0.1:3128", "ftp://proxy.test", "http://"])
def test_a_proxy_must_be_a_proxy_url(value: str) -> None:
    with pytest.raises(ConfigurationError, match="setting 'proxy': must be a proxy URL") as caught:
        cdp_sdk.connect("sandbox", proxy=value)
    assert value not in str(caught.value) or value == "http://"


class _ConnectProxy(ThreadingHTTPServer):
    """An HTTPS forward proxy on loopback: ``CONNECT host:port``, then bytes relayed both
    ways (TLS stays end to end); it keeps the targets it was asked for."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ConnectHandler)
        self.targets: list[str] = []


class _ConnectHandler(BaseHTTPRequestHandler):
    server: _ConnectProxy

    def do_CONNECT(self) -> None:
        self.server.targets.append(self.path)
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        back = threading.Thread(target=_relay, args=(upstream, self.connection), daemon=True)
        back.start()
        _relay(self.connection, upstream)  # until the client is done with the tunnel
        back.join(10)
        upstream.close()
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return


def _relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


def test_https_proxy_from_the_environment_tunnels_tls(
    tls_sandbox: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert_file = tls_sandbox
    proxy = _ConnectProxy()
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        with cdp_sdk.connect("sandbox", base_url=url, verify=str(cert_file)) as client:
            assert len(list(client.subscriptions())) == FLEET_SIZE
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)
    assert proxy.targets == [f"localhost:{url.rsplit(':', 1)[1]}"]  # one tunnel, reused
