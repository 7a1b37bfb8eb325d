"""The conformance suite run against the ThingSpace connector and its emulator."""

from __future__ import annotations

from cdp_sdk.connectors.thingspace import ThingSpaceEmulator
from cdp_sdk.connectors.thingspace.emulator import (
    ACCOUNT_NAME,
    DEFAULT_APP_KEY,
    DEFAULT_APP_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
)
from cdp_sdk.testing import ConformanceSuite


class TestThingSpaceConformance(ConformanceSuite):
    connector = "thingspace"
    settings = {
        "app_key": DEFAULT_APP_KEY,
        "app_secret": DEFAULT_APP_SECRET,
        "username": DEFAULT_USERNAME,
        "password": DEFAULT_PASSWORD,
        "account_name": ACCOUNT_NAME,
        "activation_service_plan": "M2MSHR10MB",
        "activation_zip_code": "98801",
    }
    emulator = ThingSpaceEmulator
    read_method = "POST"  # look-ups are POST /devices/actions/list
    tag_key = "CustomField4"
