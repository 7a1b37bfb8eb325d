"""What the store holds per account: its connector, its SIMs, and which usage it has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, true

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
        first_per_sim: the start of its earliest per-SIM usage record (None: it has none).
        first_daily: the same among records of a granularity within a day (:data:`FINE`).
        account_level: whether it has account-level usage records (``iccid`` empty).
    """

    account: str
    connector: str
    sims: int = 0
    first_per_sim: datetime | None = None
    first_daily: datetime | None = None
    account_level: bool = False

    def usage_gap(self) -> str | None:
        """Why the account's SIMs cannot be assessed on usage, or None."""
        if self.first_per_sim is not None:
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

    Cheap on any size of store: SIMs are counted per account, and the usage table is only
    probed through its indexes: accounts one by one along ``ix_usage_account_start``,
    account-level records through ``ix_usage_iccid`` (``iccid IS NULL``), and each
    account's earliest per-SIM record by walking its records in time order to the first
    match. No usage row is scanned in bulk.
    """
    connectors: dict[str, str] = {}
    sims: dict[str, int] = {}
    query = (
        select(subscriptions.c.account, subscriptions.c.connector, func.count())
        .where(only(subscriptions.c.account, accounts))
        .group_by(subscriptions.c.account, subscriptions.c.connector)
    )
    for account, connector, count in connection.execute(query):
        connectors[account] = connector
        sims[account] = count
    names = set(accounts) if accounts else set(_usage_accounts(connection))
    account_level: set[str] = set()
    for account, connector in connection.execute(
        select(usage.c.account, usage.c.connector)
        .where(usage.c.iccid.is_(None), only(usage.c.account, accounts))
        .distinct()
    ):
        account_level.add(account)
        connectors.setdefault(account, connector)
    found: dict[str, AccountInfo] = {}
    for account in sorted(names | set(connectors)):
        first = _first_per_sim(connection, account, None)
        if account not in connectors:
            if first is None:
                continue
            connectors[account] = first[1]
        daily = _first_per_sim(connection, account, FINE) if first is not None else None
        found[account] = AccountInfo(
            account,
            connectors[account],
            sims.get(account, 0),
            first[0] if first else None,
            daily[0] if daily else None,
            account in account_level,
        )
    return found


def _usage_accounts(connection: Connection) -> list[str]:
    """The accounts with usage records, one index probe each."""
    names: list[str] = []
    while True:
        query = select(func.min(usage.c.account))
        if names:
            query = query.where(usage.c.account > names[-1])
        name = connection.scalar(query)
        if name is None:
            return names
        names.append(name)


def _first_per_sim(
    connection: Connection, account: str, granularities: Sequence[str] | None
) -> tuple[datetime, str] | None:
    """The start and connector of the account's earliest per-SIM record (of one of
    ``granularities``), walking ``ix_usage_account_start`` to the first match."""
    query = (
        select(usage.c.period_start, usage.c.connector)
        .where(
            usage.c.account == account,
            usage.c.period_start.is_not(None),
            usage.c.iccid.is_not(None),
            usage.c.granularity.in_(list(granularities)) if granularities else true(),
        )
        .order_by(usage.c.period_start)
        .limit(1)
    )
    row = connection.execute(query).first()
    return (row[0], row[1]) if row is not None else None
