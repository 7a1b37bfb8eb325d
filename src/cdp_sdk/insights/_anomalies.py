"""Usage anomalies: days far above a SIM's usual, and SIMs that went quiet."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, case, func, select

from cdp_sdk.insights._accounts import FINE, AccountInfo, account_infos
from cdp_sdk.insights._result import Gap, Insight
from cdp_sdk.insights._sql import aware_now, day_start, usage_range, utc_day
from cdp_sdk.models import Bearer
from cdp_sdk.sync.schema import subscriptions, usage

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = [
    "SPIKE_DEFINITION",
    "STOP_DEFINITION",
    "UsageSpike",
    "UsageStop",
    "usage_spikes",
    "usage_stops",
]

SPIKE_DEFINITION = (
    "SIM-days whose data usage exceeds {k:g} times the SIM's trailing {trailing}-day "
    "median. A SIM-day is the sum of the SIM's data records (both directions) of a "
    "granularity within a day (day, hour, session) that start on that UTC day. The "
    "trailing median is the median of the {trailing} days before it, a day without a "
    "record counting as 0. Days whose trailing median is 0 are not flagged (a SIM waking "
    "from silence is not a spike by this definition). Assessed: the last {days} complete "
    "UTC days (today excluded), in accounts with daily per-SIM data usage, and only days "
    "whose {trailing} trailing days lie within the account's per-SIM history."
)

STOP_DEFINITION = (
    "SIMs that went from steady data use to none: data usage above zero on at least "
    "{share:.0%} of the {baseline} days of the baseline ({min_days} days or more), then "
    "no data usage at all in the last {silent} complete UTC days (today excluded; the "
    "baseline is the {baseline} days before those). Daily figures as for spikes; assessed "
    "in accounts with daily per-SIM data usage whose history covers the baseline."
)


@dataclass(frozen=True)
class UsageSpike:
    """A SIM-day far above the SIM's trailing median."""

    account: str
    connector: str
    iccid: str
    day: date
    bytes: int
    median_bytes: float
    """The median of the SIM's trailing days."""
    ratio: float
    """``bytes / median_bytes``."""


@dataclass(frozen=True)
class UsageStop:
    """A SIM whose steady data use stopped."""

    account: str
    connector: str
    iccid: str
    status: str | None
    """Its normalized status now (empty if the SIM is no longer in the store)."""
    status_raw: str | None
    active_days: int
    """Days with data usage in the baseline."""
    baseline_bytes: int
    last_usage: datetime | None
    """The end of its latest data record with usage."""


def usage_spikes(
    store: Store,
    *,
    k: float = 5.0,
    days: int = 30,
    trailing: int = 14,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
    chunk: int = 10_000,
) -> Insight[UsageSpike]:
    """SIM-days whose data usage exceeds ``k`` times the SIM's trailing median.

    Definition: see :data:`SPIKE_DEFINITION`. Neither SQLite nor PostgreSQL has a
    median over a moving window, so the database adds the records up into SIM-days
    (``GROUP BY`` SIM and day) and streams them sorted by SIM and day, ``chunk`` rows at
    a time; each SIM's series is judged as soon as it is complete. Memory: one chunk plus
    one SIM's ``days + trailing`` daily figures, whatever the size of the store.
    """
    if k <= 0 or days < 1 or trailing < 1:
        raise ValueError("k must be positive, days and trailing at least 1")
    moment = aware_now(now)
    end = moment.date()
    first = end - timedelta(days=days)

    def read(connection: Connection) -> tuple[list[UsageSpike], list[Gap]]:
        rows: list[UsageSpike] = []
        gaps: list[Gap] = []
        for info in account_infos(connection, accounts).values():
            reason = _daily_gap(info)
            if reason:
                gaps.append(Gap(info.account, info.connector, reason, info.sims or None))
                continue
            assert info.first_daily is not None
            earliest = max(first, (info.first_daily + timedelta(days=trailing)).date())
            if info.first_daily > day_start(info.first_daily.date()):
                earliest += timedelta(days=1)  # its first day is partial
            if earliest > first:
                gaps.append(
                    Gap(
                        info.account,
                        info.connector,
                        f"its per-SIM history starts {info.first_daily:%Y-%m-%d}: days before "
                        f"{earliest:%Y-%m-%d} lack {trailing} trailing days and are not assessed",
                    )
                )
            if earliest >= end:
                continue
            from_day = earliest - timedelta(days=trailing)
            for iccid, points in _daily_series(connection, info, from_day, end, chunk):
                rows.extend(_spikes(info, iccid, dict(points), earliest, end, trailing, k))
        return rows, gaps

    rows, gaps = store.read(read)
    rows.sort(key=lambda r: (r.day, r.account, r.iccid), reverse=True)
    return Insight(
        "usage_spikes",
        "Usage spikes",
        SPIKE_DEFINITION.format(k=k, trailing=trailing, days=days),
        tuple(rows),
        UsageSpike,
        moment,
        gaps=tuple(gaps),
        parameters={"k": k, "days": days, "trailing": trailing},
    )


def usage_stops(
    store: Store,
    *,
    baseline: int = 21,
    silent: int = 7,
    steady: float = 0.8,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> Insight[UsageStop]:
    """SIMs that went from steady data use to none.

    Definition: see :data:`STOP_DEFINITION`. One grouped query per account with the
    conditions in ``HAVING``: only the SIMs that stopped leave the database.
    """
    if baseline < 1 or silent < 1 or not 0 < steady <= 1:
        raise ValueError("baseline and silent must be at least 1, steady in (0, 1]")
    moment = aware_now(now)
    end = day_start(moment.date())
    quiet_from = end - timedelta(days=silent)
    start = quiet_from - timedelta(days=baseline)
    min_days = math.ceil(steady * baseline - 1e-9)

    def read(connection: Connection) -> tuple[list[UsageStop], list[Gap]]:
        rows: list[UsageStop] = []
        gaps: list[Gap] = []
        for info in account_infos(connection, accounts).values():
            reason = _daily_gap(info) or info.short_history(start, info.first_daily)
            if reason:
                gaps.append(Gap(info.account, info.connector, reason, info.sims or None))
                continue
            rows.extend(_stops(connection, info, start, quiet_from, end, min_days))
        return rows, gaps

    rows, gaps = store.read(read)
    rows.sort(key=lambda r: (r.account, r.iccid))
    return Insight(
        "usage_stops",
        "SIMs that stopped",
        STOP_DEFINITION.format(share=steady, baseline=baseline, min_days=min_days, silent=silent),
        tuple(rows),
        UsageStop,
        moment,
        gaps=tuple(gaps),
        parameters={"baseline": baseline, "silent": silent, "steady": steady},
    )


# -- internals ------------------------------------------------------------------------------


def _daily_gap(info: AccountInfo) -> str | None:
    reason = info.usage_gap()
    if reason is None and info.first_daily is None:
        return "its per-SIM usage is by billing cycle or month only: no daily series"
    return reason


def _daily(
    connection: Connection, info: AccountInfo, start: datetime, end: datetime
) -> tuple[Any, list[Any]]:
    """The SIM column and the conditions that select the account's daily data records
    starting in ``[start, end)``."""
    days = usage_range(connection, start, end, account=info.account)
    iccid = days.column("iccid")
    return iccid, [
        *days.terms,
        iccid.is_not(None),
        usage.c.bearer == Bearer.DATA.value,
        usage.c.granularity.in_(list(FINE)),
    ]


def _daily_series(
    connection: Connection, info: AccountInfo, first: date, end: date, chunk: int
) -> Iterator[tuple[str, Iterable[tuple[date, int]]]]:
    """Each SIM's data per day in ``[first, end)``, SIM after SIM, streamed."""
    day = utc_day(usage.c.period_start)
    iccid, where = _daily(connection, info, day_start(first), day_start(end))
    query = (
        select(usage.c.iccid, day, func.sum(usage.c.quantity))
        .where(*where)
        .group_by(iccid, day)
        .order_by(iccid, day)
    )
    result = connection.execution_options(yield_per=chunk).execute(query)
    for iccid, rows in groupby(result, key=lambda row: row[0]):
        yield iccid, ((when, int(total)) for _, when, total in rows)


def _spikes(
    info: AccountInfo,
    iccid: str,
    series: dict[date, int],
    first: date,
    end: date,
    trailing: int,
    k: float,
) -> Iterator[UsageSpike]:
    """The spikes of one SIM's daily series among the days of ``[first, end)``."""
    origin = first.toordinal() - trailing
    values = [0] * (end.toordinal() - origin)
    for when, quantity in series.items():
        offset = when.toordinal() - origin
        if 0 <= offset < len(values):
            values[offset] = quantity
    middle = trailing // 2
    for offset in range(trailing, len(values)):
        quantity = values[offset]
        if quantity <= 0:
            continue
        window = sorted(values[offset - trailing : offset])
        median = window[middle] if trailing % 2 else (window[middle - 1] + window[middle]) / 2
        if median > 0 and quantity > k * median:
            yield UsageSpike(
                info.account,
                info.connector,
                iccid,
                date.fromordinal(origin + offset),
                quantity,
                float(median),
                round(quantity / median, 2),
            )


def _stops(
    connection: Connection,
    info: AccountInfo,
    start: datetime,
    quiet_from: datetime,
    end: datetime,
    min_days: int,
) -> list[UsageStop]:
    day = utc_day(usage.c.period_start)
    in_baseline = and_(usage.c.period_start < quiet_from, usage.c.quantity > 0)
    active_days = func.count(func.distinct(case((in_baseline, day), else_=None)))
    baseline_bytes = func.sum(case((usage.c.period_start < quiet_from, usage.c.quantity), else_=0))
    quiet_bytes = func.sum(case((usage.c.period_start >= quiet_from, usage.c.quantity), else_=0))
    last = func.max(
        case((usage.c.quantity > 0, func.coalesce(usage.c.period_end, usage.c.period_start)))
    )
    iccid, where = _daily(connection, info, start, end)
    stopped = (
        select(
            usage.c.iccid,
            active_days.label("active_days"),
            baseline_bytes.label("baseline_bytes"),
            last.label("last_usage"),
        )
        .where(*where)
        .group_by(iccid)
        .having(and_(active_days >= min_days, quiet_bytes == 0))
        .subquery()
    )
    query = (
        select(stopped, subscriptions.c.status, subscriptions.c.status_raw)
        .select_from(
            stopped.outerjoin(
                subscriptions,
                and_(
                    subscriptions.c.account == info.account,
                    subscriptions.c.iccid == stopped.c.iccid,
                ),
            )
        )
        .order_by(stopped.c.iccid)
    )
    return [
        UsageStop(
            info.account,
            info.connector,
            row.iccid,
            row.status,
            row.status_raw,
            int(row.active_days),
            int(row.baseline_bytes),
            row.last_usage,
        )
        for row in connection.execute(query)
    ]
