"""Plugin discovery and loading through the ``cdp_sdk.connectors`` entry points."""

from __future__ import annotations

import pytest

import cdp_sdk
from cdp_sdk import Capability, ConfigurationError, ConnectorLoadWarning, ConnectorNotFoundError
from conftest import InstallPlugins
from toy_connector import ToyConnector, ToyPlatform

BROKEN_MODULE = "raise ImportError('vendor SDK missing: install cdp-sdk-broken[extra]')\n"
NOT_A_CONNECTOR = "class Something:\n    name = 'odd'\n"


@pytest.fixture
def plugins(install_plugins: InstallPlugins) -> None:
    install_plugins(
        {
            "toy": "toy_connector:ToyConnector",
            "broken": "broken_plugin:BrokenConnector",
            "odd": "odd_plugin:Something",
        },
        modules={"broken_plugin": BROKEN_MODULE, "odd_plugin": NOT_A_CONNECTOR},
    )


@pytest.mark.usefixtures("plugins")
def test_listing_includes_working_plugin_with_capabilities() -> None:
    with pytest.warns(ConnectorLoadWarning):
        infos = {info.name: info for info in cdp_sdk.available_connectors()}
    toy = infos["toy"]
    assert toy.title == ToyConnector.title
    assert toy.capabilities == ToyConnector.capabilities
    assert Capability.INCREMENTAL in toy.capabilities
    assert toy.distribution == "cdp-sdk-test-plugins"
    assert toy.version == "1.0"


@pytest.mark.usefixtures("plugins")
def test_broken_plugins_are_skipped_with_a_warning_naming_them() -> None:
    with pytest.warns(ConnectorLoadWarning) as caught:
        names = [info.name for info in cdp_sdk.available_connectors()]
    assert "broken" not in names
    assert "odd" not in names
    messages = " ".join(str(w.message) for w in caught)
    assert "'broken'" in messages
    assert "vendor SDK missing" in messages
    assert "'odd'" in messages


@pytest.mark.usefixtures("plugins")
def test_connecting_to_a_broken_plugin_raises_configuration_error_with_cause() -> None:
    with pytest.raises(ConfigurationError, match="could not be loaded") as caught:
        cdp_sdk.connect("broken")
    assert isinstance(caught.value.__cause__, ImportError)
    assert "vendor SDK missing" in str(caught.value)
    assert not isinstance(caught.value, ConnectorNotFoundError)


@pytest.mark.usefixtures("plugins")
def test_entry_point_that_is_not_a_connector_class_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="BaseConnector subclass"):
        cdp_sdk.connect("odd")


@pytest.mark.usefixtures("plugins")
def test_unknown_name_lists_installed_connectors() -> None:
    with pytest.raises(ConnectorNotFoundError) as caught:
        cdp_sdk.connect("tyo", api_key="x")
    error = caught.value
    assert error.name == "tyo"
    assert "toy" in error.available
    assert "broken" in error.available
    assert "toy" in str(error)
    assert isinstance(error, ConfigurationError)


@pytest.mark.usefixtures("plugins")
def test_load_connector_returns_the_class() -> None:
    assert cdp_sdk.load_connector("toy") is ToyConnector


def test_entry_point_name_must_match_connector_name(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy2": "toy_connector:ToyConnector"})
    with pytest.raises(ConfigurationError, match="whose name is 'toy'"):
        cdp_sdk.load_connector("toy2")


def test_same_name_from_two_distributions_is_refused(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"}, distribution="first-dist")
    install_plugins({"toy": "toy_connector:ToyConnector"}, distribution="second-dist")
    with pytest.raises(ConfigurationError, match="more than one"):
        cdp_sdk.load_connector("toy")


def test_plugin_installed_after_a_first_listing_is_found(install_plugins: InstallPlugins) -> None:
    before = {info.name for info in cdp_sdk.available_connectors()}
    assert "toy" not in before
    install_plugins({"toy": "toy_connector:ToyConnector"})
    assert "toy" in {info.name for info in cdp_sdk.available_connectors()}


@pytest.mark.usefixtures("plugins")
def test_connect_through_the_registry_makes_no_network_call(toy_platform: ToyPlatform) -> None:
    with cdp_sdk.connect(
        "toy", api_key=toy_platform.api_key, transport=toy_platform.transport()
    ) as toy:
        assert toy.name == "toy"
        assert toy_platform.requests == []
        toy.check()
    assert toy_platform.logins == 1
