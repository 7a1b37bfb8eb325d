"""The process-wide SSL contexts: one per verification setting, shared by every client."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from typing import Any

import certifi
import pytest

from cdp_sdk.http import HttpClient, _tls, shared_ssl_context
from cdp_sdk.sandbox import Emulator


@pytest.fixture(autouse=True)
def fresh_contexts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tls, "_contexts", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def _pool_context(client: HttpClient) -> Any:
    transport: Any = client._client._transport
    while not hasattr(transport, "_pool"):  # the size limit, then the rate limiter
        transport = transport.inner
    return transport._pool._ssl_context


def test_one_verifying_context_is_shared_by_every_client() -> None:
    context = shared_ssl_context()
    assert shared_ssl_context(True) is context
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    first = HttpClient(connector="a", base_url="https://a.example.test")
    second = HttpClient(connector="b", base_url="https://b.example.test")
    assert _pool_context(first) is context
    assert _pool_context(second) is context


def test_a_client_over_a_given_transport_builds_no_context() -> None:
    HttpClient(connector="a", base_url="https://a.example.test", transport=Emulator().transport())
    assert _tls._contexts == {}


def test_each_verify_setting_has_its_own_context(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text(Path(certifi.where()).read_text())
    default = shared_ssl_context()
    from_bundle = shared_ssl_context(str(bundle))
    assert from_bundle is not default
    assert shared_ssl_context(bundle) is from_bundle  # a path-like names the same bundle
    assert from_bundle.verify_mode is ssl.CERT_REQUIRED
    assert from_bundle.get_ca_certs() == default.get_ca_certs()
    off = shared_ssl_context(False)
    assert off.verify_mode is ssl.CERT_NONE
    assert off.check_hostname is False
    assert shared_ssl_context(False) is off
    assert len({id(default), id(from_bundle), id(off)}) == 3


def test_a_certificate_directory_is_read_as_one(tmp_path: Path) -> None:
    context = shared_ssl_context(tmp_path)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.get_ca_certs() == []  # an empty directory: no CA loaded, nothing trusted


def test_the_default_follows_ssl_cert_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = shared_ssl_context()
    bundle = tmp_path / "one.pem"
    first = Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")[0]
    bundle.write_text(first + "-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    from_env = shared_ssl_context()
    assert from_env is not default
    assert len(from_env.get_ca_certs()) == 1
    monkeypatch.delenv("SSL_CERT_FILE")
    assert shared_ssl_context() is default


def test_concurrent_first_uses_build_one_context(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[object] = []
    started = threading.Barrier(8)
    real_build = _tls._build

    def counting_build(verify: Any) -> ssl.SSLContext:
        builds.append(verify)
        return real_build(verify)

    monkeypatch.setattr(_tls, "_build", counting_build)
    seen: list[ssl.SSLContext] = []

    def use() -> None:
        started.wait()
        seen.append(shared_ssl_context())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [True]
    assert len({id(context) for context in seen}) == 1
