"""The fleet by platform, account and normalized status, now and day by day."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, exists, func, select

from cdp_sdk.insights._accounts import account_infos
from cdp_sdk.insights._result import Gap, Insight
from cdp_sdk.insights._sql import aware_now, day_start, only, utc_day
from cdp_sdk.insights._states import StateTable, state_tables
from cdp_sdk.models import AuditKind
from cdp_sdk.sync.schema import audit_events, subscriptions

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = ["FleetCount", "FleetDay", "StatusHistory", "fleet", "fleet_history"]

FLEET_DEFINITION = (
    "SIMs in the store per platform (connector), account and normalized status: one row "
    "per combination that has SIMs, from the subscriptions table as last synced."
)

HISTORY_DEFINITION = (
    "SIMs per platform, account and normalized status at the end of each UTC day of the "
    "range (the last day is today, as of now). Each day is rebuilt from today's statuses "
    "by undoing, newest first, the status changes of the audit events that happened after "
    "that day: a change from state A to state B moves the SIM back from B to A. Vendor "
    "states are read through the account's activation-mode table (by name, then ignoring "
    "case), or as normalized status names. A SIM is counted from the day it was created "
    "(subscriptions.created_at; always, when unknown). Changes of SIMs no longer in the "
    "store, and changes naming a state the table does not know, are not undone and are "
    "listed as gaps. The history is as complete as the audit events synced."
)


@dataclass(frozen=True)
class FleetCount:
    """SIMs of one account in one normalized status."""

    connector: str
    account: str
    status: str
    sims: int


@dataclass(frozen=True)
class FleetDay:
    """SIMs of one account in one normalized status at the end of one UTC day."""

    day: date
    connector: str
    account: str
    status: str
    sims: int


def fleet(store: Store, *, accounts: Sequence[str] | None = None) -> Insight[FleetCount]:
    """The fleet now: SIMs per platform, account and normalized status.

    Definition: see :data:`FLEET_DEFINITION`. One grouped query.
    """
    query = (
        select(
            subscriptions.c.connector,
            subscriptions.c.account,
            subscriptions.c.status,
            func.count(),
        )
        .where(only(subscriptions.c.account, accounts))
        .group_by(subscriptions.c.connector, subscriptions.c.account, subscriptions.c.status)
        .order_by(subscriptions.c.connector, subscriptions.c.account, subscriptions.c.status)
    )
    rows = store.read(lambda c: [FleetCount(*row) for row in c.execute(query)])
    return Insight(
        "fleet",
        "SIMs per platform and status",
        FLEET_DEFINITION,
        tuple(rows),
        FleetCount,
        aware_now(None),
        parameters={"accounts": list(accounts) if accounts else None},
    )


def fleet_history(
    store: Store,
    *,
    days: int = 30,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> Insight[FleetDay]:
    """The fleet at the end of each of the last ``days`` UTC days, today included.

    Definition: see :data:`HISTORY_DEFINITION`. The audit events are grouped per account,
    day and change in the database; only those groups (a few per day) are read.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    moment = aware_now(now)
    today = moment.date()
    first = today - timedelta(days=days - 1)
    history = store.read(lambda c: StatusHistory.load(c, accounts, first))
    rows = [
        FleetDay(day, history.connectors[account], account, status, count)
        for day in (first + timedelta(days=n) for n in range(days))
        for account, counts in sorted(history.at(day).items())
        for status, count in sorted(counts.items())
        if count
    ]
    return Insight(
        "fleet_history",
        "SIMs per platform and status, day by day",
        HISTORY_DEFINITION,
        tuple(rows),
        FleetDay,
        moment,
        gaps=history.gaps(),
        parameters={"days": days, "accounts": list(accounts) if accounts else None},
    )


@dataclass
class StatusHistory:
    """Today's status counts and the day-by-day changes that rebuild earlier days.

    ``at(day)`` = today's counts + the undo of every status change on a later day - the
    SIMs created on a later day (with the undo of their own changes, so that they vanish
    whole).
    """

    connectors: dict[str, str]
    current: dict[str, Counter[str]]
    undo: dict[date, dict[str, Counter[str]]] = field(default_factory=dict)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    orphans: Counter[str] = field(default_factory=Counter)
    without_changes: set[str] = field(default_factory=set)
    clamped: Counter[str] = field(default_factory=Counter)

    @classmethod
    def load(
        cls, connection: Connection, accounts: Sequence[str] | None, first: date
    ) -> StatusHistory:
        """Read what rebuilding the days after ``first`` needs."""
        infos = account_infos(connection, accounts)
        tables = state_tables(connection, accounts)
        current: dict[str, Counter[str]] = defaultdict(Counter)
        for account, status, count in connection.execute(
            select(subscriptions.c.account, subscriptions.c.status, func.count())
            .where(only(subscriptions.c.account, accounts))
            .group_by(subscriptions.c.account, subscriptions.c.status)
        ):
            current[account][status] += count
        history = cls({a: i.connector for a, i in infos.items()}, dict(current))
        since = day_start(first + timedelta(days=1))
        status_change = and_(
            audit_events.c.kind == AuditKind.STATUS_CHANGE.value,
            only(audit_events.c.account, accounts),
        )
        same_sim = and_(
            subscriptions.c.account == audit_events.c.account,
            subscriptions.c.iccid == audit_events.c.iccid,
        )
        changed = {
            account
            for (account,) in connection.execute(
                select(audit_events.c.account).where(status_change).distinct()
            )
        }
        history.without_changes = {a for a in history.connectors if a not in changed}
        day = utc_day(audit_events.c.occurred_at)
        changes = (
            select(
                audit_events.c.account,
                day,
                audit_events.c.old_value,
                audit_events.c.new_value,
                func.count(),
            )
            .where(status_change, audit_events.c.occurred_at >= since, exists().where(same_sim))
            .group_by(
                audit_events.c.account, day, audit_events.c.old_value, audit_events.c.new_value
            )
        )
        for account, when, old, new, count in connection.execute(changes):
            history._change(tables, account, when, old, new, count, sign=1)
        orphans = (
            select(audit_events.c.account, func.count())
            .where(status_change, audit_events.c.occurred_at >= since, ~exists().where(same_sim))
            .group_by(audit_events.c.account)
        )
        for account, count in connection.execute(orphans):
            history.orphans[account] += count
        created_day = utc_day(subscriptions.c.created_at)
        created = (
            select(subscriptions.c.account, created_day, subscriptions.c.status, func.count())
            .where(only(subscriptions.c.account, accounts), subscriptions.c.created_at >= since)
            .group_by(subscriptions.c.account, created_day, subscriptions.c.status)
        )
        for account, when, status, count in connection.execute(created):
            history._add(when, account, status, -count)
        their_changes = (
            select(
                subscriptions.c.account,
                created_day,
                audit_events.c.old_value,
                audit_events.c.new_value,
                func.count(),
            )
            .select_from(audit_events.join(subscriptions, same_sim))
            .where(
                status_change,
                audit_events.c.occurred_at >= since,
                subscriptions.c.created_at >= since,
            )
            .group_by(
                subscriptions.c.account,
                created_day,
                audit_events.c.old_value,
                audit_events.c.new_value,
            )
        )
        for account, when, old, new, count in connection.execute(their_changes):
            history._change(tables, account, when, old, new, count, sign=-1, count_skips=False)
        return history

    def _add(self, when: date, account: str, status: str, count: int) -> None:
        self.undo.setdefault(when, {}).setdefault(account, Counter())[status] += count

    def _change(
        self,
        tables: dict[str, StateTable],
        account: str,
        when: date,
        old: str | None,
        new: str | None,
        count: int,
        *,
        sign: int,
        count_skips: bool = True,
    ) -> None:
        table = tables.get(account, StateTable())
        before, after = table.status_of(old), table.status_of(new)
        if before is None or after is None:
            if count_skips:
                unknown = old if before is None else new
                self.skipped[(account, str(unknown))] += count
            return
        self._add(when, account, before, sign * count)
        self._add(when, account, after, -sign * count)

    def at(self, day: date) -> dict[str, Counter[str]]:
        """Status counts per account at the end of ``day`` (today: now)."""
        counts = {account: Counter(c) for account, c in self.current.items()}
        for when, changes in self.undo.items():
            if when > day:
                for account, delta in changes.items():
                    counts.setdefault(account, Counter()).update(delta)
        for account, counter in counts.items():
            for status, count in list(counter.items()):
                if count < 0:
                    self.clamped[account] += 1
                    counter[status] = 0
        return counts

    def gaps(self) -> tuple[Gap, ...]:
        """What the rebuilt days leave out."""
        found: list[Gap] = []
        for account in sorted(self.without_changes):
            found.append(
                Gap(
                    account,
                    self.connectors[account],
                    "no status change in its audit events: earlier days show today's "
                    "statuses (only SIMs created since are taken out)",
                )
            )
        names: dict[str, list[str]] = defaultdict(list)
        counts: Counter[str] = Counter()
        for (account, raw), count in sorted(self.skipped.items()):
            names[account].append(repr(raw))
            counts[account] += count
        for account, raws in names.items():
            found.append(
                Gap(
                    account,
                    self.connectors.get(account, ""),
                    f"{counts[account]} status change(s) name a state its activation-mode "
                    f"table does not know ({', '.join(raws)}): not undone",
                )
            )
        for account, count in sorted(self.orphans.items()):
            found.append(
                Gap(
                    account,
                    self.connectors.get(account, ""),
                    f"{count} status change(s) of SIMs no longer in the store: not undone",
                )
            )
        for account, count in sorted(self.clamped.items()):
            found.append(
                Gap(
                    account,
                    self.connectors.get(account, ""),
                    f"the audit events disagree with today's statuses ({count} negative "
                    "day count(s) shown as 0)",
                )
            )
        return tuple(found)
