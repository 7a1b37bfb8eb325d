"""Each account's activation-mode table, as the sync stored it: vendor state -> normalized
status and billability."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from cdp_sdk.insights._sql import only
from cdp_sdk.models import SimStatus
from cdp_sdk.sync.schema import activation_modes

__all__ = ["StateTable", "state_tables"]


@dataclass(frozen=True)
class StateTable:
    """One account's vendor states (``activation_modes`` rows)."""

    statuses: dict[str, str] = field(default_factory=dict)
    """Vendor state name -> normalized status value."""
    billable: dict[str, bool | None] = field(default_factory=dict)
    """Vendor state name -> whether a SIM in that state is billed (None: not stated)."""

    def status_of(self, raw: str | None) -> str | None:
        """The normalized status a vendor state names in an audit event, or None.

        Tried in order: a state of the table by its exact name, then ignoring case, then
        a normalized status value ignoring case (platforms whose events already speak in
        normalized terms). Anything else is unknown: None.
        """
        if raw is None:
            return None
        if raw in self.statuses:
            return self.statuses[raw]
        folded = raw.strip().casefold()
        for name, status in self.statuses.items():
            if name.casefold() == folded:
                return status
        values = {status.value: status.value for status in SimStatus}
        return values.get(folded)


def state_tables(connection: Connection, accounts: Sequence[str] | None) -> dict[str, StateTable]:
    """The activation-mode table of every account that has one in the store."""
    tables: dict[str, StateTable] = {}
    query = select(
        activation_modes.c.account,
        activation_modes.c.name,
        activation_modes.c.status,
        activation_modes.c.billable,
    ).where(only(activation_modes.c.account, accounts))
    for account, name, status, billable in connection.execute(query):
        table = tables.setdefault(account, StateTable())
        table.statuses[name] = status
        table.billable[name] = billable
    return tables
