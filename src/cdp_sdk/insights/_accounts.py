"""What the store holds per account: its connector, its SIMs, and which usage it has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from cdp_sdk.insights._sql import only
from cdp_sdk.sync.schema import subscriptions, usage

__all__ = ["FINE", "AccountInfo", "account_infos"]

FINE = ("day", "hour", "session")
"""Granularities that fall within one UTC day, so that they add up into daily series."""

NO_PER_SIM_USAGE = (
    "no per-SIM usage in the store (account totals only): sync usage per SIM "
    "(SyncOptions(usage_per_sim=True)) to assess its SIMs"
)
NO_USAGE = "no usage in the store"


@dataclass(frozen=True)
class AccountInfo:
    """One account as the store knows it.

    Attributes:
        account: the workspace account name.
        connector: its connector.
        sims: SIMs in ``subscriptions``.
        per_sim: granularity -> the start of the earliest per-SIM usage record.
        account_level: whether it has account-level usage records (``iccid`` empty).
    """

    account: str
    connector: str
    sims: int = 0
    per_sim: dict[str, datetime] = field(default_factory=dict)
    account_level: bool = False

    @property
    def first_per_sim(self) -> datetime | None:
        """The start of the earliest per-SIM usage record of any granularity."""
        return min(self.per_sim.values(), default=None)

    @property
    def first_daily(self) -> datetime | None:
        """The start of the earliest per-SIM record of a granularity within a day."""
        return min((self.per_sim[g] for g in FINE if g in self.per_sim), default=None)

    def usage_gap(self) -> str | None:
        """Why the account's SIMs cannot be assessed on usage, or None."""
        if self.per_sim:
            return None
        return NO_PER_SIM_USAGE if self.account_level else NO_USAGE

    def short_history(self, since: datetime, first: datetime | None) -> str | None:
        """Why a window from ``since`` is not covered by history starting at ``first``."""
        if first is None or first <= since:
            return None
        return (
            f"its per-SIM usage history starts {first:%Y-%m-%d}, after the window's start "
            f"({since:%Y-%m-%d})"
        )


def account_infos(connection: Connection, accounts: Sequence[str] | None) -> dict[str, AccountInfo]:
    """Every account of the store (or of ``accounts``), with its usage coverage.

    One pass over ``subscriptions`` and one grouped pass over ``usage`` (per account,
    granularity and level): no usage row leaves the database.
    """
    found: dict[str, AccountInfo] = {}
    sims = (
        select(subscriptions.c.account, subscriptions.c.connector, func.count())
        .where(only(subscriptions.c.account, accounts))
        .group_by(subscriptions.c.account, subscriptions.c.connector)
    )
    for account, connector, count in connection.execute(sims):
        found[account] = AccountInfo(account, connector, count)
    level = usage.c.iccid.is_(None)
    kinds = (
        select(
            usage.c.account,
            usage.c.connector,
            usage.c.granularity,
            level.label("account_level"),
            func.min(usage.c.period_start),
        )
        .where(only(usage.c.account, accounts), usage.c.period_start.is_not(None))
        .group_by(usage.c.account, usage.c.connector, usage.c.granularity, level)
    )
    for account, connector, granularity, account_level, first in connection.execute(kinds):
        info = found.setdefault(account, AccountInfo(account, connector))
        if account_level:
            found[account] = AccountInfo(
                info.account, info.connector, info.sims, info.per_sim, account_level=True
            )
        else:
            info.per_sim[granularity] = first
    return dict(sorted(found.items()))
