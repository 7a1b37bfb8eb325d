"""Usage for charts: daily totals per platform, and the SIMs that use the most."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, func, select

from cdp_sdk.insights._accounts import FINE, account_infos
from cdp_sdk.insights._result import Gap, Insight
from cdp_sdk.insights._sql import aware_now, day_start, usage_range, utc_day
from cdp_sdk.models import Bearer, Unit
from cdp_sdk.sync.schema import subscriptions, usage

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = [
    "DAILY_DEFINITION",
    "TOP_DEFINITION",
    "DailyUsage",
    "TopConsumer",
    "daily_usage",
    "top_consumers",
]

DAILY_DEFINITION = (
    "{bearer} usage per platform, account and UTC day over the last {days} complete days "
    "(today excluded): the records of a granularity within a day (day, hour, session) "
    "that start on that day, both directions added. An account with account-level totals "
    "is counted from those only (source: account totals), otherwise from its per-SIM "
    "records (source: per SIM), so nothing counts twice. Accounts that report by billing "
    "cycle or month only have no daily figures and are listed as gaps."
)

TOP_DEFINITION = (
    "The {limit} SIMs with the most {bearer} usage in the last {days} days: the sum of "
    "their per-SIM records (any granularity, both directions) that start in "
    "[now - {days} days, now), counted whole."
)

_UNITS = {Bearer.DATA: Unit.BYTES, Bearer.SMS: Unit.MESSAGES, Bearer.VOICE: Unit.SECONDS}


@dataclass(frozen=True)
class DailyUsage:
    """One account's usage of one bearer on one UTC day."""

    day: date
    connector: str
    account: str
    bearer: str
    unit: str
    quantity: int
    source: str
    """``account totals`` or ``per SIM``."""


@dataclass(frozen=True)
class TopConsumer:
    """A SIM among those with the most usage."""

    account: str
    connector: str
    iccid: str
    status: str | None
    bearer: str
    unit: str
    quantity: int


def daily_usage(
    store: Store,
    *,
    days: int = 30,
    bearer: Bearer | str = Bearer.DATA,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> Insight[DailyUsage]:
    """Usage per platform, account and day. Definition: see :data:`DAILY_DEFINITION`.

    One query grouped per account, level (account or SIM) and day.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    kind = Bearer(bearer)
    moment = aware_now(now)
    end = day_start(moment.date())
    start = end - timedelta(days=days)

    def read(connection: Connection) -> tuple[list[DailyUsage], list[Gap]]:
        infos = account_infos(connection, accounts)
        window = usage_range(connection, start, end, accounts=accounts)
        account = window.column("account")
        level = window.column("iccid").is_(None)
        day = utc_day(usage.c.period_start)
        query = (
            select(
                usage.c.account,
                usage.c.iccid.is_(None).label("account_level"),
                day,
                func.sum(usage.c.quantity),
            )
            .where(
                *window.terms,
                usage.c.bearer == kind.value,
                usage.c.granularity.in_(list(FINE)),
            )
            .group_by(account, level, day)
        )
        found: dict[str, dict[bool, dict[date, int]]] = defaultdict(lambda: defaultdict(dict))
        for account, account_level, when, quantity in connection.execute(query):
            found[account][bool(account_level)][when] = int(quantity or 0)
        rows: list[DailyUsage] = []
        gaps: list[Gap] = []
        for info in infos.values():
            levels = found.get(info.account)
            if not levels:
                reason = (
                    "it reports usage by billing cycle or month only: no daily figures"
                    if info.first_per_sim or info.account_level
                    else "no usage in the store"
                )
                gaps.append(Gap(info.account, info.connector, reason))
                continue
            source = "account totals" if True in levels else "per SIM"
            for when, quantity in sorted(levels[source == "account totals"].items()):
                rows.append(
                    DailyUsage(
                        when,
                        info.connector,
                        info.account,
                        kind.value,
                        _UNITS[kind].value,
                        quantity,
                        source,
                    )
                )
        return rows, gaps

    rows, gaps = store.read(read)
    rows.sort(key=lambda r: (r.day, r.connector, r.account))
    return Insight(
        "daily_usage",
        f"Daily {kind.value} usage per platform",
        DAILY_DEFINITION.format(bearer=kind.value.capitalize(), days=days),
        tuple(rows),
        DailyUsage,
        moment,
        gaps=tuple(gaps),
        parameters={"days": days, "bearer": kind.value},
    )


def top_consumers(
    store: Store,
    *,
    days: int = 30,
    limit: int = 10,
    bearer: Bearer | str = Bearer.DATA,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> Insight[TopConsumer]:
    """The SIMs with the most usage. Definition: see :data:`TOP_DEFINITION`.

    One grouped query, sorted and limited in the database.
    """
    if days < 1 or limit < 1:
        raise ValueError("days and limit must be at least 1")
    kind = Bearer(bearer)
    moment = aware_now(now)
    start = moment - timedelta(days=days)

    def read(connection: Connection) -> tuple[list[TopConsumer], list[Gap]]:
        infos = account_infos(connection, accounts)
        total = func.sum(usage.c.quantity).label("total")
        window = usage_range(connection, start, moment, accounts=accounts)
        account, iccid = window.column("account"), window.column("iccid")
        connector = window.column("connector")
        ranked = (
            select(usage.c.account, usage.c.connector, usage.c.iccid, total)
            .where(*window.terms, iccid.is_not(None), usage.c.bearer == kind.value)
            .group_by(account, connector, iccid)
            .order_by(total.desc(), account, iccid)
            .limit(limit)
            .subquery()
        )
        query = (
            select(ranked, subscriptions.c.status)
            .select_from(
                ranked.outerjoin(
                    subscriptions,
                    and_(
                        subscriptions.c.account == ranked.c.account,
                        subscriptions.c.iccid == ranked.c.iccid,
                    ),
                )
            )
            .order_by(ranked.c.total.desc(), ranked.c.account, ranked.c.iccid)
        )
        rows = [
            TopConsumer(
                row.account,
                row.connector,
                row.iccid,
                row.status,
                kind.value,
                _UNITS[kind].value,
                int(row.total),
            )
            for row in connection.execute(query)
        ]
        gaps = [
            Gap(info.account, info.connector, reason, info.sims or None)
            for info in infos.values()
            if (reason := info.usage_gap())
        ]
        return rows, gaps

    rows, gaps = store.read(read)
    return Insight(
        "top_consumers",
        f"Top {kind.value} consumers",
        TOP_DEFINITION.format(limit=limit, bearer=kind.value, days=days),
        tuple(rows),
        TopConsumer,
        moment,
        gaps=tuple(gaps),
        parameters={"days": days, "limit": limit, "bearer": kind.value},
    )
