"""The conformance suite run against the Super SIM connector and its emulator, with either
pair of credentials (HTTP Basic on the Twilio host, KORE's OAuth on KORE's host)."""

from __future__ import annotations

from cdp_sdk.connectors.supersim import SuperSimEmulator
from cdp_sdk.connectors.supersim.emulator import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
)
from cdp_sdk.testing import ConformanceSuite


class TestSuperSimConformance(ConformanceSuite):
    connector = "supersim"
    settings = {"account_sid": DEFAULT_ACCOUNT_SID, "auth_token": DEFAULT_AUTH_TOKEN}
    emulator = SuperSimEmulator
    tag_key = "label"  # a Super SIM's one tag: its unique_name


class TestSuperSimKoreConformance(ConformanceSuite):
    connector = "supersim"
    settings = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    emulator = SuperSimEmulator
    tag_key = "label"
