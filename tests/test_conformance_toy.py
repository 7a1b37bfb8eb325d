"""The conformance suite run against the toy connector and its emulator."""

from __future__ import annotations

import pytest

from cdp_sdk.testing import ConformanceSuite
from conftest import InstallPlugins
from toy_connector import ToyPlatform


@pytest.fixture(autouse=True)
def _toy_installed(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})


class TestToyConformance(ConformanceSuite):
    connector = "toy"
    settings = {"api_key": ToyPlatform.api_key}
    emulator = ToyPlatform
