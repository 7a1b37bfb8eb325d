"""The conformance suite run against the Hologram connector and its emulator."""

from __future__ import annotations

from functools import partial

from cdp_sdk.connectors.hologram import HologramEmulator
from cdp_sdk.connectors.hologram.emulator import DEFAULT_API_KEY
from cdp_sdk.testing import ConformanceSuite


class TestHologramConformance(ConformanceSuite):
    connector = "hologram"
    settings = {"api_key": DEFAULT_API_KEY}
    emulator = HologramEmulator


class TestHologramConformanceWithoutCheckDigits(ConformanceSuite):
    """The same, with ``sim`` values that lack their Luhn check digit (the other reading
    of the docs): the connector appends it, and finds SIMs by either form."""

    connector = "hologram"
    settings = {"api_key": DEFAULT_API_KEY}
    emulator = partial(HologramEmulator, iccid_check_digit=False)
