"""Network failures are named, typed, and retried only when retrying can help."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.errors import (
    CertificateError,
    ConfigurationError,
    OutcomeUnknownError,
    TransientError,
)
from cdp_sdk.http import HttpClient, RetryPolicy
from cdp_sdk.http._network import CA_BUNDLE_HINT, network_error
from cdp_sdk.models import SimStatus
from cdp_sdk.sandbox import Fleet
from cdp_sdk.testing import FakeSleep

BASE = "https://api.example.test"


def chained(outer: httpx.HTTPError, *causes: BaseException) -> httpx.HTTPError:
    """``outer`` with ``causes`` as its chain, as httpx and httpcore raise them."""
    current: BaseException = outer
    for cause in causes:
        current.__cause__ = cause
        current = cause
    return outer


def dns_failure() -> httpx.HTTPError:
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return chained(httpx.ConnectError("[Errno -2] Name or service not known"), gai)


def refused() -> httpx.HTTPError:
    return chained(
        httpx.ConnectError("All connection attempts failed"),
        ConnectionRefusedError(111, "Connection refused"),
    )


def untrusted() -> httpx.HTTPError:
    failure = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    return chained(httpx.ConnectError(str(failure)), failure)


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., tuple[HttpClient, FakeSleep]]]:
    made: list[HttpClient] = []

    def make(
        transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any
    ) -> tuple[HttpClient, FakeSleep]:
        sleep = FakeSleep()
        kwargs.setdefault("base_url", BASE)
        client = HttpClient(
            connector="test", transport=transport, retry=RetryPolicy(max_retries=2), **kwargs
        )
        client.sleep = sleep
        made.append(client)
        return client, sleep

    yield make
    for client in made:
        await client.aclose()


def raising(make_error: Callable[[], httpx.HTTPError]) -> tuple[list[str], httpx.MockTransport]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        raise make_error()

    return seen, httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (dns_failure, "the host name api.example.test could not be resolved (DNS lookup failed)"),
        (refused, "api.example.test refused the connection"),
        (lambda: httpx.ConnectTimeout("timed out"), "connecting to api.example.test timed out"),
        (lambda: httpx.ReadTimeout("timed out"), "api.example.test sent no answer within"),
        (
            lambda: httpx.RemoteProtocolError("peer closed connection"),
            "api.example.test closed the connection before the answer was complete",
        ),
    ],
    ids=["dns", "refused", "connect-timeout", "read-timeout", "reset"],
)
async def test_network_failures_are_named_and_retried(
    make_client: Callable[..., tuple[HttpClient, FakeSleep]],
    failure: Callable[[], httpx.HTTPError],
    words: str,
) -> None:
    seen, transport = raising(failure)
    client, sleep = make_client(transport)

    with pytest.raises(TransientError) as caught:
        await client.request(
            "GET", "/v1/sims/{iccid}", path_params={"iccid": "8988303000000000016"}
        )

    assert words in caught.value.message
    assert caught.value.message.startswith("GET /v1/sims/{iccid} failed: ")
    assert not isinstance(caught.value, OutcomeUnknownError | CertificateError)
    assert len(seen) == 3  # retried: it may go through next time
    assert len(sleep.calls) == 2
    # The cause is kept for --debug: the httpx error, then what it came from.
    cause = caught.value.__cause__
    assert isinstance(cause, type(failure()))
    assert str(cause) == str(failure())


async def test_the_cause_chain_keeps_its_types(
    make_client: Callable[..., tuple[HttpClient, FakeSleep]],
) -> None:
    _, transport = raising(dns_failure)
    client, _ = make_client(transport)
    with pytest.raises(TransientError) as caught:
        await client.request("GET", "/x")
    chain = []
    link: BaseException | None = caught.value
    while link is not None:
        chain.append(type(link))
        link = link.__cause__
    assert chain == [TransientError, httpx.ConnectError, socket.gaierror]


async def test_an_untrusted_certificate_is_not_retried(
    make_client: Callable[..., tuple[HttpClient, FakeSleep]],
) -> None:
    seen, transport = raising(untrusted)
    client, sleep = make_client(transport)

    with pytest.raises(CertificateError) as caught:
        await client.request("GET", "/v1/sims")

    assert len(seen) == 1
    assert sleep.calls == []
    assert isinstance(caught.value, ConfigurationError)
    assert "the TLS certificate of api.example.test is not trusted" in caught.value.message
    assert "SSL_CERT_FILE" in caught.value.message
    assert CA_BUNDLE_HINT in caught.value.message
    assert caught.value.connector == "test"


async def test_a_dns_failure_is_named_from_the_message_when_the_chain_is_lost(
    make_client: Callable[..., tuple[HttpClient, FakeSleep]],
) -> None:
    _, transport = raising(
        lambda: httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
    )
    client, _ = make_client(transport)
    with pytest.raises(TransientError, match="could not be resolved"):
        await client.request("GET", "/x")


async def test_a_check_names_the_failure_too() -> None:
    _, transport = raising(untrusted)
    connector = cdp_sdk.connect_async("sandbox", base_url=BASE, transport=transport)
    try:
        with pytest.raises(CertificateError, match="SSL_CERT_FILE"):
            await connector.check()
    finally:
        await connector.aclose()


# -- real sockets on loopback ----------------------------------------------------------------


async def test_a_real_refused_connection(
    make_client: Callable[..., tuple[HttpClient, FakeSleep]],
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, sleep = make_client(base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(TransientError, match=r"127\.0\.0\.1 refused the connection") as caught:
        await client.request("GET", "/v1/sims")

    assert len(sleep.calls) == 2
    causes = []
    link = caught.value.__cause__
    while link is not None:
        causes.append(link)
        link = link.__cause__
    assert any(isinstance(cause, ConnectionRefusedError) for cause in causes)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and 127.0.0.1, signed by its own key: made with the
    ``cryptography`` package when it is installed, else with the ``openssl`` command."""
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    try:
        _self_signed_with_cryptography(cert_file, key_file)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("neither the cryptography package nor openssl is available")
        subprocess.run(
            [
                openssl, "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key_file), "-out", str(cert_file), "-days", "1",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert_file, key_file


def _self_signed_with_cryptography(cert_file: Path, key_file: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class OkHandler(BaseHTTPRequestHandler):
    """Answers every GET with ``{"ok": true}``, quietly."""

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TlsServer(ThreadingHTTPServer):
    """An HTTPS server on loopback that counts the connections it accepts."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), OkHandler)
        self.context = context
        self.accepted = 0

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        self.accepted += 1
        return self.context.wrap_socket(connection, server_side=True), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake is expected


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[TlsServer, Path]]:
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = TlsServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, cert_file
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_a_real_tls_handshake_with_an_untrusted_certificate(
    make_client: Callable[..., tuple[HttpClient, FakeSleep]],
    tls_server: tuple[TlsServer, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, cert_file = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    url = f"https://localhost:{server.server_address[1]}"
    client, sleep = make_client(base_url=url)

    with pytest.raises(CertificateError) as caught:
        await client.request("GET", "/v1/sims")

    assert server.accepted == 1  # one handshake, no retry
    assert sleep.calls == []
    assert "the TLS certificate of localhost is not trusted" in caught.value.message
    assert "self-signed" in caught.value.message
    assert "SSL_CERT_FILE" in caught.value.message

    # What the message says works: trust the CA through SSL_CERT_FILE and connect again.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    trusting, _ = make_client(base_url=url)
    assert (await trusting.request_json("GET", "/v1/sims")) == {"ok": True}


# -- writes whose answer was lost ----------------------------------------------------------


class LoseAnswers(httpx.AsyncBaseTransport):
    """Hands each request to ``inner``, then loses the answer of the first ``method`` call
    to a path ending in ``suffix`` (the platform acted on it; the client never hears so)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        method: str,
        suffix: str,
        error: type[httpx.HTTPError],
    ) -> None:
        self.inner, self.method, self.suffix, self.error = inner, method, suffix, error
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        mine = request.method == self.method and request.url.path.endswith(self.suffix)
        if mine and not self.lost:
            self.lost += 1
            raise self.error("the answer was lost", request=request)
        return response


def test_a_lost_login_answer_is_not_an_unknown_outcome() -> None:
    # The login (a POST) failed, so the status change itself was never sent: retried.
    fleet = Fleet(12, seed=3)
    emulator = SandboxEmulator(fleet)
    sim = next(sim for sim in fleet.sorted_sims() if sim.status is SimStatus.ACTIVE)
    transport = LoseAnswers(emulator.transport(), "POST", "/v1/auth", httpx.ReadTimeout)
    with cdp_sdk.connect("sandbox", base_url=BASE, transport=transport) as sandbox:
        sandbox.plugin.http.sleep = FakeSleep()
        change = sandbox.change_status(sim.iccid, SimStatus.SUSPENDED)
    assert change.state == "done"
    assert len(emulator.requests_to(r"/status$", "POST")) == 1


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_a_status_change_whose_answer_was_lost_may_have_applied(
    error: type[httpx.HTTPError],
) -> None:
    # The sandbox changes a status with a POST: not safe to repeat, so never sent twice.
    fleet = Fleet(12, seed=3)
    emulator = SandboxEmulator(fleet)
    sim = next(sim for sim in fleet.sorted_sims() if sim.status is SimStatus.ACTIVE)
    transport = LoseAnswers(emulator.transport(), "POST", "/status", error)
    with cdp_sdk.connect("sandbox", base_url=BASE, transport=transport) as sandbox:
        sandbox.plugin.http.sleep = FakeSleep()
        with pytest.raises(OutcomeUnknownError, match="may have been applied") as caught:
            sandbox.change_status(sim.iccid, SimStatus.SUSPENDED)
        posts = emulator.requests_to(r"/status$", "POST")
        after = sandbox.subscription(sim.iccid)

    assert len(posts) == 1  # not sent again
    assert after.status is SimStatus.SUSPENDED  # and indeed the platform applied it
    assert isinstance(caught.value, TransientError)
    assert caught.value.connector == "sandbox"


# -- the naming, case by case ------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (httpx.WriteTimeout("t"), "sending the request to h.test timed out"),
        (httpx.PoolTimeout("t"), "no connection was free within the timeout"),
        (httpx.ReadError("r"), "the connection to h.test broke while reading the answer"),
        (httpx.WriteError("w"), "the connection to h.test broke while sending the request"),
        (httpx.ConnectError("no route to host"), "could not connect to h.test"),
        (
            chained(httpx.ReadError("x"), ConnectionResetError(104, "Connection reset by peer")),
            "h.test reset the connection",
        ),
        (httpx.ConnectError("[Errno 111] Connection refused"), "h.test refused the connection"),
        (httpx.ConnectError("certificate verify failed: x"), "the TLS certificate of h.test"),
        (httpx.UnsupportedProtocol("ftp"), "a network error (UnsupportedProtocol)"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_network_error_names_the_cause(exc: httpx.HTTPError, words: str) -> None:
    error = network_error(exc, where="GET /x", host="h.test", connector="c")
    assert error.message.startswith(f"GET /x failed: {words}")
    assert error.connector == "c"


def test_an_unknown_outcome_only_for_a_sent_unsafe_write() -> None:
    lost = network_error(httpx.ReadTimeout("t"), where="POST /x", host="h", connector="c",
                         outcome_unknown=True)  # fmt: skip
    assert isinstance(lost, OutcomeUnknownError)
    assert "the change may have been applied" in lost.message
    # A certificate failure stays a certificate failure, even for such a write.
    cert = network_error(untrusted(), where="POST /x", host="h", connector="c",
                         outcome_unknown=True)  # fmt: skip
    assert type(cert) is CertificateError


def test_the_kept_cause_is_redacted_and_bounded() -> None:
    from cdp_sdk._redact import register_secret

    secret = "cause-secret-0123456789"
    register_secret(secret)
    inner: BaseException = OSError(f"socket said {secret} for 89882167169700049752")
    for depth in range(10):
        outer = httpx.ConnectError(f"level {depth}")
        outer.__cause__ = inner
        inner = outer
    assert isinstance(inner, httpx.HTTPError)
    error = network_error(inner, where="GET /x", host="h", connector="c")
    chain = []
    link = error.__cause__
    while link is not None:
        chain.append(link)
        link = link.__cause__
    assert len(chain) == 6  # the error's own cause and five more, no deeper
    assert all(secret not in str(link) for link in chain)
    assert all(link.__traceback__ is None for link in chain)


def test_a_cause_whose_type_needs_more_arguments_is_kept_by_name() -> None:
    class Picky(httpx.TransportError):
        def __init__(self, message: str, code: int) -> None:
            super().__init__(message)

    error = network_error(Picky("odd", 3), where="GET /x", host="h", connector="c")
    assert isinstance(error.__cause__, RuntimeError)
    assert str(error.__cause__) == "Picky: odd"
