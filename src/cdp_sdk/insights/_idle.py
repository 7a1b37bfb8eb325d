"""Idle but billable: SIMs the platform bills for that carried no traffic lately."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from cdp_sdk.insights._accounts import AccountInfo, account_infos
from cdp_sdk.insights._result import Gap, Insight
from cdp_sdk.insights._sql import aware_now, usage_range
from cdp_sdk.sync._db import chunks
from cdp_sdk.sync.schema import activation_modes, subscriptions, tariffs, usage

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = [
    "IDLE_DEFINITION",
    "LONGEST",
    "IdleSim",
    "idle_billable",
    "last_usage",
    "monthly_fees",
    "used_in",
]

LONGEST = timedelta(days=32)
"""No usage record is longer than this (a calendar month or a billing cycle)."""

IDLE_DEFINITION = (
    "SIMs in a billable state with no usage in the last {days} days. Billable: the SIM's "
    "vendor state (status_raw) is a state of its account's activation-mode table, as "
    "synced from the connector, with billable = true. No usage: no per-SIM usage record "
    "of any bearer with a quantity above zero overlaps [now - {days} days, now); a record "
    "that overlaps the window counts whole, so with per-cycle or monthly records a SIM "
    "that used anything in an overlapping cycle is not idle. Assessed only in accounts "
    "whose per-SIM usage history reaches back to the window's start. Monthly fee: the "
    "recurring fee per billing cycle of the SIM's tariff (subscriptions.tariff = "
    "tariffs.id of the same account), taken as monthly; empty where the tariff or its "
    "price is unknown. last_usage: the end of the latest record with usage (empty: none "
    "in the synced history)."
)


@dataclass(frozen=True)
class IdleSim:
    """A SIM in a billable state with no usage in the window."""

    account: str
    connector: str
    iccid: str
    status: str
    status_raw: str
    tariff: str | None
    monthly_fee: Decimal | None
    currency: str | None
    last_usage: datetime | None
    idle_days: int | None
    """Whole days since ``last_usage`` (empty when there is none)."""


def idle_billable(
    store: Store,
    *,
    days: int = 30,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> Insight[IdleSim]:
    """SIMs in a billable state with no usage in the last ``days`` days (default 30).

    Definition: see :data:`IDLE_DEFINITION`. One query per account: the SIMs in states
    not known to be unbilled, each tested with an indexed ``NOT EXISTS`` on its usage
    (``ix_usage_iccid``); no usage row leaves the database.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    moment = aware_now(now)
    since = moment - timedelta(days=days)

    def read(connection: Connection) -> tuple[list[IdleSim], list[Gap]]:
        rows: list[IdleSim] = []
        gaps: list[Gap] = []
        billable_sims = _billable_counts(connection, accounts)
        for info in account_infos(connection, accounts).values():
            counts = billable_sims.get(info.account, Counter())
            if not counts:
                gaps.append(_gap(info, "its activation modes are not in the store (sync them)"))
                continue
            reason = info.usage_gap() or info.short_history(since, info.first_per_sim)
            if reason:
                gaps.append(_gap(info, reason, counts[True] or None))
                continue
            found, unknown = _idle(connection, info, since, moment)
            rows.extend(found)
            gaps.extend(_unknown_gaps(info, unknown))
            unpriced = sum(1 for row in found if row.monthly_fee is None)
            if unpriced:
                gaps.append(
                    _gap(info, "idle billable SIMs without a priced tariff in the store", unpriced)
                )
        return rows, gaps

    rows, gaps = store.read(read)
    rows.sort(key=lambda r: (r.account, r.iccid))
    return Insight(
        "idle_billable",
        "Idle but billable SIMs",
        IDLE_DEFINITION.format(days=days),
        tuple(rows),
        IdleSim,
        moment,
        gaps=tuple(gaps),
        parameters={"days": days, "accounts": list(accounts) if accounts else None},
    )


def monthly_fees(rows: Sequence[IdleSim]) -> dict[str, Decimal]:
    """The sum of the monthly fees of ``rows`` per currency (SIMs without a fee left out)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row.monthly_fee is not None and row.currency:
            totals[row.currency] += row.monthly_fee
    return dict(sorted(totals.items()))


def _mode_join() -> object:
    return and_(
        activation_modes.c.account == subscriptions.c.account,
        activation_modes.c.name == subscriptions.c.status_raw,
    )


def _billable_counts(
    connection: Connection, accounts: Sequence[str] | None
) -> dict[str, Counter[bool | None]]:
    """SIMs per account and billability (True, False, None: not stated or not in the
    table), for accounts that have an activation-mode table."""
    with_modes = select(activation_modes.c.account).distinct()
    if accounts:
        with_modes = with_modes.where(activation_modes.c.account.in_(list(accounts)))
    query = (
        select(subscriptions.c.account, activation_modes.c.billable, func.count())
        .select_from(subscriptions.outerjoin(activation_modes, _mode_join()))  # type: ignore[arg-type]
        .where(subscriptions.c.account.in_(with_modes.scalar_subquery()))
        .group_by(subscriptions.c.account, activation_modes.c.billable)
    )
    counts: dict[str, Counter[bool | None]] = defaultdict(Counter)
    for account, billable, count in connection.execute(query):
        counts[account][None if billable is None else bool(billable)] += count
    return counts


def used_in(connection: Connection, account: str, since: datetime, now: datetime) -> Select[Any]:
    """The SIMs of ``account`` with a usage record above zero that overlaps
    ``[since, now)``.

    A range of start times (:func:`~cdp_sdk.insights._sql.usage_range`): records are at
    most a month or a cycle long, so none that overlaps the window starts more than
    :data:`LONGEST` before it.
    """
    window = usage_range(connection, since - LONGEST, now, account=account)
    return (
        select(usage.c.iccid)
        .where(
            *window.terms,
            window.column("iccid").is_not(None),
            usage.c.quantity > 0,
            or_(
                usage.c.period_end > since,
                and_(usage.c.period_end.is_(None), usage.c.period_start >= since),
            ),
        )
        .distinct()
    )


def last_usage(
    connection: Connection, account: str, iccids: Sequence[str], before: datetime
) -> dict[str, datetime]:
    """The end of the latest record with usage before ``before`` of each SIM, read in
    bounded ``IN`` lists through ``ix_usage_iccid``."""
    found: dict[str, datetime] = {}
    for part in chunks(list(iccids)):
        query = (
            select(
                usage.c.account,
                usage.c.iccid,
                func.max(func.coalesce(usage.c.period_end, usage.c.period_start)),
            )
            .where(
                usage.c.iccid.in_(list(part)),
                usage.c.quantity > 0,
                usage.c.period_start < before,
            )
            .group_by(usage.c.account, usage.c.iccid)
        )
        for owner, iccid, moment in connection.execute(query):
            if owner == account:
                found[iccid] = moment
    return found


def _idle(
    connection: Connection, info: AccountInfo, since: datetime, now: datetime
) -> tuple[list[IdleSim], Counter[str]]:
    """The idle SIMs of a billable state, and the idle SIMs per vendor state whose
    billability is unknown."""
    query = (
        select(
            subscriptions.c.iccid,
            subscriptions.c.status,
            subscriptions.c.status_raw,
            subscriptions.c.tariff,
            activation_modes.c.billable,
            tariffs.c.recurring_fee,
            tariffs.c.currency,
        )
        .select_from(
            subscriptions.outerjoin(activation_modes, _mode_join()).outerjoin(  # type: ignore[arg-type]
                tariffs,
                and_(
                    tariffs.c.account == subscriptions.c.account,
                    tariffs.c.id == subscriptions.c.tariff,
                ),
            )
        )
        .where(
            subscriptions.c.account == info.account,
            or_(activation_modes.c.billable.is_(None), activation_modes.c.billable.is_(True)),
            subscriptions.c.iccid.not_in(used_in(connection, info.account, since, now)),
        )
        .order_by(subscriptions.c.iccid)
    )
    candidates = list(connection.execute(query))
    unknown: Counter[str] = Counter(row.status_raw for row in candidates if row.billable is None)
    idle = [row for row in candidates if row.billable is not None]
    last = last_usage(connection, info.account, [row.iccid for row in idle], now)
    found = [
        IdleSim(
            account=info.account,
            connector=info.connector,
            iccid=row.iccid,
            status=row.status,
            status_raw=row.status_raw,
            tariff=row.tariff,
            monthly_fee=row.recurring_fee,
            currency=row.currency if row.recurring_fee is not None else None,
            last_usage=last.get(row.iccid),
            idle_days=(now - last[row.iccid]).days if row.iccid in last else None,
        )
        for row in idle
    ]
    return found, unknown


def _unknown_gaps(info: AccountInfo, unknown: Counter[str]) -> list[Gap]:
    if not unknown:
        return []
    states = ", ".join(f"{raw!r}" for raw in sorted(unknown))
    return [
        _gap(
            info,
            f"idle SIMs in states whose billing the platform does not state ({states}): "
            "not counted as billable",
            sum(unknown.values()),
        )
    ]


def _gap(info: AccountInfo, reason: str, sims: int | None = None) -> Gap:
    return Gap(info.account, info.connector, reason, sims)
