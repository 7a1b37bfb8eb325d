"""The conformance suite on a recorded scenario instead of an emulator.

``scenarios/toy_recorded.json`` was written by ``cdp_sdk.testing.Recorder`` while the toy
connector logged in, listed its SIMs and read one of them; identifiers in it are fakes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_sdk.testing import ConformanceSuite
from conftest import InstallPlugins
from toy_connector import ToyPlatform

SCENARIO = Path(__file__).parent / "scenarios" / "toy_recorded.json"


@pytest.fixture(autouse=True)
def _toy_installed(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})


class TestToyReplayConformance(ConformanceSuite):
    connector = "toy"
    settings = {"api_key": ToyPlatform.api_key}
    scenario = SCENARIO


def test_the_recorded_scenario_holds_no_real_identifier() -> None:
    text = SCENARIO.read_text()
    for sim in ToyPlatform().fleet.sims.values():
        assert sim.iccid not in text
        assert sim.imsi not in text
    assert ToyPlatform.api_key not in text
