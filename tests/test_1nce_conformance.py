"""The conformance suite run against the 1NCE connector and its emulator."""

from __future__ import annotations

from cdp_sdk.connectors.onence import OneNceEmulator
from cdp_sdk.connectors.onence.emulator import DEFAULT_PASSWORD, DEFAULT_USERNAME
from cdp_sdk.testing import ConformanceSuite


class TestOneNceConformance(ConformanceSuite):
    connector = "1nce"
    settings = {
        "username": DEFAULT_USERNAME,
        "password": DEFAULT_PASSWORD,
        "base_url": "https://api.1nce.example.test/management-api",
    }
    emulator = OneNceEmulator
    tag_key = "label"  # a 1NCE SIM carries one tag: its label
