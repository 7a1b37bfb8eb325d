"""The core's conformance suite, run against the Onomondo emulator, plus a loopback run."""

from __future__ import annotations

import cdp_sdk
from cdp_sdk.sandbox import Fleet
from cdp_sdk.testing import ConformanceSuite

from cdp_sdk_onomondo import OnomondoEmulator


class TestOnomondoConformance(ConformanceSuite):
    connector = "onomondo"
    settings = {"api_key": "onomondo-test-key"}
    emulator = OnomondoEmulator


class TestHeaderCursorConformance(TestOnomondoConformance):
    """The same checks with the next_page cursor sent as a response header."""

    @staticmethod
    def emulator(fleet: Fleet) -> OnomondoEmulator:  # type: ignore[override]
        return OnomondoEmulator(fleet, cursor_in="header")


def test_emulator_served_on_loopback() -> None:
    """A real HTTP hop: the raw key and the next_page header survive it."""
    fleet = Fleet(12, seed=3)
    emulator = OnomondoEmulator(fleet, api_key="loopback-key", cursor_in="header")
    emulator.max_page_size = 5
    with (
        emulator.serve() as server,
        cdp_sdk.connect("onomondo", api_key="loopback-key", base_url=server.url) as onomondo,
    ):
        sims = list(onomondo.subscriptions())
        one = onomondo.subscription(sims[0].iccid)
    assert {sim.iccid for sim in sims} == {iccid for iccid in fleet.sims if emulator.lists(iccid)}
    assert one == sims[0]
    assert len(emulator.requests_to("^/sims$")) >= 2
