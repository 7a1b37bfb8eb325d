"""TLS settings as a user gives them: a CA bundle under ``~``, a clear error for a bundle that
cannot be read, and one shared context per setting of ``SSL_CERT_FILE``/``SSL_CERT_DIR``."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

from cdp_sdk import ConfigurationError
from cdp_sdk.http import _tls, shared_ssl_context, tls_verification


@pytest.fixture(autouse=True)
def fresh_contexts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tls, "_contexts", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def test_a_bundle_path_under_the_home_directory_is_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ca.pem").write_text(Path(certifi.where()).read_text())
    context = tls_verification("~/ca.pem", connector="jasper")
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context is shared_ssl_context(str(tmp_path / "ca.pem"))
    assert context.get_ca_certs() == shared_ssl_context().get_ca_certs() != []


def test_a_missing_bundle_is_a_configuration_error_naming_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        tls_verification(str(tmp_path / "missing.pem"), connector="jasper")
    assert caught.value.connector == "jasper"
    assert caught.value.message == (
        "setting 'verify': the CA bundle cannot be read (No such file or directory); give the "
        "path of a PEM file of CA certificates"
    )


def test_a_bundle_that_is_not_pem_is_a_configuration_error(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(ConfigurationError) as caught:
        tls_verification(str(bundle), connector="emnify")
    assert caught.value.connector == "emnify"
    message = caught.value.message
    assert message.startswith("setting 'verify': the CA bundle cannot be read (")
    assert "NO_CERTIFICATE_OR_CRL_FOUND" in message
    assert message.endswith("); give the path of a PEM file of CA certificates")


def test_verification_is_on_unless_turned_off_explicitly() -> None:
    assert tls_verification(True).verify_mode is ssl.CERT_REQUIRED
    assert tls_verification(True).check_hostname is True
    off = tls_verification(False)
    assert off.verify_mode is ssl.CERT_NONE
    assert off is not tls_verification(True)


@pytest.mark.parametrize("name", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_an_empty_environment_variable_is_the_default_setting(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = shared_ssl_context()
    monkeypatch.setenv(name, "")
    assert shared_ssl_context() is default
    monkeypatch.delenv(name)
    assert shared_ssl_context() is default


def test_ssl_cert_dir_replaces_the_default_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = shared_ssl_context()
    assert default.get_ca_certs() != []
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    from_dir = shared_ssl_context()
    assert from_dir is not default
    assert from_dir.verify_mode is ssl.CERT_REQUIRED
    assert from_dir.get_ca_certs() == []  # the certifi bundle is no longer trusted
    assert shared_ssl_context() is from_dir
    monkeypatch.delenv("SSL_CERT_DIR")
    assert shared_ssl_context() is default
