"""Connector settings: validation, clear errors, secrets and the common settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

import cdp_sdk
from cdp_sdk import ConfigurationError, ConnectorSettings
from cdp_sdk._settings import validate_settings
from conftest import InstallPlugins
from toy_connector import ToySettings

SECRET = "s3cr3t-value-do-not-print"


def check(**values: object) -> ConnectorSettings:
    return validate_settings(ToySettings, values, connector="toy")


def test_defaults_and_common_settings() -> None:
    settings = check(api_key=SECRET)
    assert settings.base_url == "https://toy.example.test"
    assert settings.timeout == 30.0
    assert settings.max_retries == 3
    assert settings.rate_limit is None
    assert settings.strict is True
    assert isinstance(settings.api_key, SecretStr)  # type: ignore[attr-defined]
    # ``proxy`` may carry a user and password: a secret of every connector.
    assert ToySettings.secret_fields() == ("proxy", "api_key")


def test_missing_setting_is_named() -> None:
    with pytest.raises(ConfigurationError, match="missing setting 'api_key'") as caught:
        check()
    assert caught.value.connector == "toy"


def test_typo_suggests_the_closest_name() -> None:
    with pytest.raises(
        ConfigurationError, match="unknown setting 'api_kye' \\(did you mean 'api_key'\\?\\)"
    ):
        check(api_key=SECRET, api_kye=SECRET)


def test_unknown_setting_without_close_match_lists_valid_names() -> None:
    with pytest.raises(ConfigurationError, match="valid settings: allow_insecure_http, api_key"):
        check(api_key=SECRET, colour="blue")


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 11}, "max_retries"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"base_url": "toy.example.test"}, "base_url"),
        ({"base_url": "https://toy.example.test/?x=1"}, "base_url"),
    ],
)
def test_invalid_values_name_the_setting(values: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"setting '{name}'"):
        check(api_key=SECRET, **values)


def test_errors_never_echo_values() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check(api_key=12345, timeout=SECRET, api_kye=SECRET)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


def test_plain_http_is_refused_except_to_loopback() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        check(api_key=SECRET, base_url="http://toy.example.test")
    assert check(api_key=SECRET, base_url="http://toy.example.test", allow_insecure_http=True)
    assert (
        check(api_key=SECRET, base_url="http://127.0.0.1:8080").base_url == "http://127.0.0.1:8080"
    )
    assert check(api_key=SECRET, base_url="http://[::1]:8080/").base_url == "http://[::1]:8080"
    assert check(api_key=SECRET, base_url="http://localhost:9000")


def test_base_url_keeps_a_deployment_prefix_without_trailing_slash() -> None:
    settings = check(api_key=SECRET, base_url="https://api.example.test/management-api/")
    assert settings.base_url == "https://api.example.test/management-api"


def test_settings_are_frozen_and_secrets_hidden() -> None:
    settings = check(api_key=SECRET)
    with pytest.raises(ValueError, match="frozen"):
        settings.timeout = 5  # type: ignore[misc]
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())
    assert SECRET not in settings.model_dump_json()


def test_connect_reports_settings_errors(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    with pytest.raises(ConfigurationError, match="missing setting 'api_key'"):
        cdp_sdk.connect("toy")
    with pytest.raises(ConfigurationError, match="did you mean 'timeout'"):
        cdp_sdk.connect_async("toy", api_key=SECRET, timout=5)
