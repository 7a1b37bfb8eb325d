"""Workspace accounts answered in-process by the built-in emulators, for the changes tests.

Each built-in platform has its own ICCID range (``cdp_sdk.cli._platforms``), so accounts
of different platforms never share a SIM; two accounts of one platform built with the
same seed hold the very same ICCIDs (a SIM "in two accounts").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from cdp_sdk.cli._platforms import platform
from cdp_sdk.models import SimStatus
from cdp_sdk.sandbox import Emulator, FleetSim
from cdp_sdk.workspace import Account

__all__ = ["TODAY", "emulated", "pick"]

TODAY = date(2024, 6, 15)


def emulated(
    connector: str, size: int = 12, *, seed: int | None = None, **settings: Any
) -> tuple[Account, Emulator]:
    """An account of ``connector`` on a fresh emulator (no server-side rate limit)."""
    built_in = platform(connector)
    emulator = built_in.start(built_in.fleet(size, seed=seed, today=TODAY), unlimited=True)
    account = Account(
        connector,
        {
            **built_in.settings(f"https://{connector}.emulated.invalid"),
            "rate_limit": None,
            "max_retries": 0,
            **settings,
        },
        emulator.transport(),
    )
    return account, emulator


def pick(
    emulator: Emulator,
    status: SimStatus | None = None,
    *,
    where: Callable[[FleetSim], bool] = lambda sim: True,
    count: int = 1,
) -> list[FleetSim]:
    """The first ``count`` SIMs of the fleet (in serial order) in ``status`` and ``where``."""
    found = [
        sim
        for sim in emulator.fleet.sorted_sims()
        if (status is None or sim.status is status) and where(sim)
    ]
    assert len(found) >= count, f"the fleet has {len(found)} such SIMs, {count} wanted"
    return found[:count]
