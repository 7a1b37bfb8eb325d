"""The conformance suite run against the built-in sandbox connector and its emulator."""

from __future__ import annotations

from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.connectors.sandbox.emulator import DEFAULT_API_KEY
from cdp_sdk.testing import ConformanceSuite


class TestSandboxConformance(ConformanceSuite):
    connector = "sandbox"
    settings = {"api_key": DEFAULT_API_KEY, "base_url": "https://sandbox.example.test"}
    emulator = SandboxEmulator
