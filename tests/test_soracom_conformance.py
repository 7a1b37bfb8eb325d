"""The conformance suite run against the Soracom connector and its emulator."""

from __future__ import annotations

from cdp_sdk.connectors.soracom import SoracomEmulator
from cdp_sdk.connectors.soracom.emulator import DEFAULT_AUTH_KEY, DEFAULT_AUTH_KEY_ID
from cdp_sdk.testing import ConformanceSuite


class TestSoracomConformance(ConformanceSuite):
    connector = "soracom"
    settings = {"auth_key_id": DEFAULT_AUTH_KEY_ID, "auth_key": DEFAULT_AUTH_KEY}
    emulator = SoracomEmulator
