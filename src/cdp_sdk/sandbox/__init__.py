"""Synthetic fleets and vendor API emulators: offline tests, demos and benchmarks.

:class:`Fleet` generates a deterministic fleet (SIMs, tariffs, usage, invoices, audit
history). :class:`Emulator` is the base of a vendor API emulator over a fleet, usable
in-process as an ``httpx`` transport or served on a loopback port.
"""

from cdp_sdk.sandbox._emulator import (
    Emulator,
    EmulatorRequest,
    EmulatorServer,
    EmulatorTransport,
    Fault,
    RateWindow,
    TokenStore,
    json_response,
    route,
)
from cdp_sdk.sandbox._fleet import (
    DailyUsage,
    Fleet,
    FleetAudit,
    FleetInvoice,
    FleetInvoiceLine,
    FleetSim,
    FleetTariff,
)
from cdp_sdk.sandbox._params import QueryParam, checks_query, query_problem

__all__ = [
    "DailyUsage",
    "Emulator",
    "EmulatorRequest",
    "EmulatorServer",
    "EmulatorTransport",
    "Fault",
    "Fleet",
    "FleetAudit",
    "FleetInvoice",
    "FleetInvoiceLine",
    "FleetSim",
    "FleetTariff",
    "QueryParam",
    "RateWindow",
    "TokenStore",
    "checks_query",
    "json_response",
    "query_problem",
    "route",
]
