"""The conformance suite run against the emnify connector and its emulator."""

from __future__ import annotations

from cdp_sdk.connectors.emnify import EmnifyEmulator
from cdp_sdk.connectors.emnify.emulator import DEFAULT_APPLICATION_TOKEN
from cdp_sdk.testing import ConformanceSuite


class TestEmnifyConformance(ConformanceSuite):
    connector = "emnify"
    settings = {
        "application_token": DEFAULT_APPLICATION_TOKEN,
        "base_url": "https://emnify.example.test",
    }
    emulator = EmnifyEmulator
