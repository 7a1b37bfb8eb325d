"""The conformance suite run against the jasper connector and its emulator."""

from __future__ import annotations

from cdp_sdk.connectors.jasper import JasperEmulator
from cdp_sdk.connectors.jasper.emulator import DEFAULT_API_KEY, DEFAULT_USERNAME
from cdp_sdk.testing import ConformanceSuite


class TestJasperConformance(ConformanceSuite):
    connector = "jasper"
    settings = {
        "base_url": "https://restapi.jasper.example.test",
        "username": DEFAULT_USERNAME,
        "api_key": DEFAULT_API_KEY,
    }
    emulator = JasperEmulator
    tag_key = "accountCustom10"  # Control Center has fixed custom-field slots, no free keys
