"""Plan risk: SIMs on course to use more than their plan includes in the current cycle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)

from cdp_sdk.insights._accounts import FINE, AccountInfo, account_infos
from cdp_sdk.insights._idle import LONGEST
from cdp_sdk.insights._result import Gap, Insight
from cdp_sdk.insights._sql import aware_now, epoch, usage_range
from cdp_sdk.models import Bearer, Unit
from cdp_sdk.sync._types import UtcDateTime
from cdp_sdk.sync.schema import subscriptions, tariffs, usage

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = ["RISK_DEFINITION", "PlanRisk", "plan_risk"]

RISK_DEFINITION = (
    "SIMs whose usage so far in the current billing cycle, extrapolated linearly to the "
    "cycle's end, passes what their tariff includes for that bearer (data: "
    "included_data_bytes, SMS: included_sms, voice: included_voice_seconds; an inclusion "
    "of zero or none is not assessed). The cycle: where the SIM has usage records by "
    "billing cycle or month that cover now (Cisco IoT Control Center's cycle-to-date "
    "figures), the cycle is theirs ([period_start, period_end)) and the usage so far is "
    "their quantity; otherwise the cycle is the calendar month in UTC and the usage so far "
    "is the sum of its daily, hourly and session records up to now. projected = usage so "
    "far x cycle length / time elapsed in the cycle (at least one day, so that the first "
    "hours do not explode the projection). At risk: projected > included. Directions are "
    "added up. The tariff is subscriptions.tariff = tariffs.id of the same account. "
    "Quotas: no connector stores a per-cycle quota today (1NCE's current_quota is the "
    "SIM's overall quota, not a per-cycle one), so the tariff's inclusion is the allowance."
)

_ALLOWANCE = {
    Bearer.DATA: (tariffs.c.included_data_bytes, Unit.BYTES),
    Bearer.SMS: (tariffs.c.included_sms, Unit.MESSAGES),
    Bearer.VOICE: (tariffs.c.included_voice_seconds, Unit.SECONDS),
}
_DAY = 86400.0


@dataclass(frozen=True)
class PlanRisk:
    """A SIM and bearer whose projected cycle usage passes its tariff's inclusion."""

    account: str
    connector: str
    iccid: str
    status: str
    tariff: str
    bearer: str
    unit: str
    included: int
    used: int
    """Usage so far in the cycle."""
    projected: int
    """``used`` extrapolated to the cycle's end."""
    projected_share: float
    """``projected / included`` (above 1: at risk)."""
    cycle_start: datetime
    cycle_end: datetime
    cycle_source: str
    """``usage records`` (the platform's cycle) or ``calendar month``."""


def plan_risk(
    store: Store,
    *,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> Insight[PlanRisk]:
    """SIMs on course to pass their plan's inclusion in the current cycle.

    Definition: see :data:`RISK_DEFINITION`. Per account, one query sums the cycle's
    usage per SIM and bearer, joins the tariff and keeps the SIMs at risk (``HAVING`` the
    projection in SQL): only those rows leave the database.
    """
    moment = aware_now(now)
    month_start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_end = (
        month_start.replace(year=month_start.year + 1, month=1)
        if month_start.month == 12
        else month_start.replace(month=month_start.month + 1)
    )

    def read(connection: Connection) -> tuple[list[PlanRisk], list[Gap]]:
        rows: list[PlanRisk] = []
        gaps: list[Gap] = []
        for info in account_infos(connection, accounts).values():
            reason = info.usage_gap()
            if reason:
                gaps.append(Gap(info.account, info.connector, reason, info.sims or None))
                continue
            gaps.extend(_tariff_gaps(connection, info))
            rows.extend(_at_risk(connection, info, moment, month_start, month_end))
        return rows, gaps

    rows, gaps = store.read(read)
    rows.sort(key=lambda r: (-r.projected_share, r.account, r.iccid, r.bearer))
    return Insight(
        "plan_risk",
        "SIMs at risk of passing their plan",
        RISK_DEFINITION,
        tuple(rows),
        PlanRisk,
        moment,
        gaps=tuple(gaps),
        parameters={"accounts": list(accounts) if accounts else None},
    )


def _at_risk(
    connection: Connection,
    info: AccountInfo,
    now: datetime,
    month_start: datetime,
    month_end: datetime,
) -> list[PlanRisk]:
    bearers = [bearer.value for bearer in _ALLOWANCE]
    # The platform's own cycles (or months) that cover now: their bounds and figures.
    covering = usage_range(
        connection, now - LONGEST, now + timedelta(microseconds=1), account=info.account
    )
    iccid, bearer = covering.column("iccid"), covering.column("bearer")
    start, end = covering.column("period_start"), covering.column("period_end")
    cycles = (
        select(
            usage.c.iccid,
            usage.c.bearer,
            usage.c.period_start.label("cycle_start"),
            usage.c.period_end.label("cycle_end"),
            epoch(usage.c.period_start).label("start_s"),
            epoch(usage.c.period_end).label("end_s"),
            func.sum(usage.c.quantity).label("used"),
            literal("usage records", Text).label("source"),
        )
        .where(
            *covering.terms,
            iccid.is_not(None),
            bearer.in_(bearers),
            usage.c.granularity.in_(["cycle", "month"]),
            end > now,
        )
        .group_by(iccid, bearer, start, end)
    )
    # Otherwise the calendar month, from the records within a day.
    so_far = usage_range(connection, month_start, now, account=info.account)
    iccid, bearer = so_far.column("iccid"), so_far.column("bearer")
    month = (
        select(
            usage.c.iccid,
            usage.c.bearer,
            literal(month_start, UtcDateTime).label("cycle_start"),
            literal(month_end, UtcDateTime).label("cycle_end"),
            literal(month_start.timestamp(), Float).label("start_s"),
            literal(month_end.timestamp(), Float).label("end_s"),
            func.sum(usage.c.quantity).label("used"),
            literal("calendar month", Text).label("source"),
        )
        .where(
            *so_far.terms,
            iccid.is_not(None),
            bearer.in_(bearers),
            usage.c.granularity.in_(list(FINE)),
        )
        .group_by(iccid, bearer)
    )
    # A SIM and bearer with a platform cycle covering now is judged on that cycle only,
    # whether or not its daily records would say otherwise.
    platform = cycles.cte("platform_cycles")
    month_only = month.subquery("calendar_month")
    judged_on_month = select(month_only).where(
        ~exists().where(
            platform.c.iccid == month_only.c.iccid, platform.c.bearer == month_only.c.bearer
        )
    )
    cycle = union_all(select(platform), judged_on_month).subquery("cycle")
    included = case(
        *((cycle.c.bearer == bearer.value, column) for bearer, (column, _) in _ALLOWANCE.items()),
        else_=None,
    )
    elapsed = literal(now.timestamp(), Float) - cycle.c.start_s
    elapsed = case((elapsed < _DAY, _DAY), else_=elapsed)
    projected = cast(cycle.c.used, Float) * (cycle.c.end_s - cycle.c.start_s) / elapsed
    query = (
        select(
            subscriptions.c.iccid,
            subscriptions.c.status,
            subscriptions.c.tariff,
            cycle.c.bearer,
            cast(included, BigInteger).label("included"),
            cycle.c.used,
            projected.label("projected"),
            cycle.c.cycle_start,
            cycle.c.cycle_end,
            cycle.c.source,
        )
        .select_from(
            cycle.join(
                subscriptions,
                and_(
                    subscriptions.c.account == info.account,
                    subscriptions.c.iccid == cycle.c.iccid,
                ),
            ).join(
                tariffs,
                and_(
                    tariffs.c.account == info.account,
                    tariffs.c.id == subscriptions.c.tariff,
                ),
            )
        )
        .where(included > 0, projected > included)
    )
    return [_risk(info, row) for row in connection.execute(query)]


def _risk(info: AccountInfo, row: Any) -> PlanRisk:
    included = int(row.included)
    projected = int(row.projected)
    return PlanRisk(
        account=info.account,
        connector=info.connector,
        iccid=row.iccid,
        status=row.status,
        tariff=row.tariff,
        bearer=row.bearer,
        unit=_ALLOWANCE[Bearer(row.bearer)][1].value,
        included=included,
        used=int(row.used),
        projected=projected,
        projected_share=round(projected / included, 4),
        cycle_start=_utc(row.cycle_start),
        cycle_end=_utc(row.cycle_end),
        cycle_source=row.source,
    )


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _tariff_gaps(connection: Connection, info: AccountInfo) -> list[Gap]:
    """SIMs left out for want of a tariff, of a stored one, or of an inclusion."""
    has_inclusion = func.coalesce(
        tariffs.c.included_data_bytes, tariffs.c.included_sms, tariffs.c.included_voice_seconds
    ).is_not(None)
    query = (
        select(
            subscriptions.c.tariff.is_(None).label("no_tariff"),
            tariffs.c.id.is_(None).label("unknown"),
            has_inclusion.label("included"),
            func.count(),
        )
        .select_from(
            subscriptions.outerjoin(
                tariffs,
                and_(
                    tariffs.c.account == subscriptions.c.account,
                    tariffs.c.id == subscriptions.c.tariff,
                ),
            )
        )
        .where(subscriptions.c.account == info.account)
        .group_by("no_tariff", "unknown", "included")
    )
    counts: Counter[str] = Counter()
    for no_tariff, unknown, has_it, count in connection.execute(query):
        if no_tariff:
            counts["without a tariff"] += count
        elif unknown:
            counts["whose tariff is not in the store"] += count
        elif not has_it:
            counts["whose tariff states no included volume"] += count
    return [
        Gap(info.account, info.connector, f"SIMs {what}: not assessed", count)
        for what, count in counts.items()
    ]
