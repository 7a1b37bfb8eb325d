"""Cost: invoice totals per platform, account and period, and per active SIM."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from cdp_sdk.insights._accounts import account_infos
from cdp_sdk.insights._fleet import StatusHistory
from cdp_sdk.insights._result import Gap, Insight
from cdp_sdk.insights._sql import aware_now, only
from cdp_sdk.models import SimStatus
from cdp_sdk.sync.schema import invoices, sync_results

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = ["COST_DEFINITION", "CostPeriod", "cost"]

COST_DEFINITION = (
    "Invoice totals per platform (connector), account, billing period and currency: the "
    "sum of the totals of the account's invoices with that period (period_start to "
    "period_end, both included). Active SIMs: SIMs in the normalized status active at the "
    "end of the period's last day (now, for a period not over yet), as the fleet history "
    "rebuilds it from the audit events. Per active SIM: total / active SIMs, rounded to "
    "0.01 (empty when no SIM was active). An account without invoices gets one row with no "
    "total and a note saying why (the platform offers none, none synced yet, or none in "
    "the synced history): it is never counted as a cost of zero."
)

NO_INVOICES = {
    "skipped": "the platform's API offers no invoices",
    "ok": "no invoice in the synced history",
    "error": "its last invoice sync failed",
    None: "invoices not synced yet",
}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class CostPeriod:
    """Invoice totals of one account, period and currency; or an account without
    invoices (``total`` empty, ``note`` says why)."""

    connector: str
    account: str
    period_start: date | None
    period_end: date | None
    currency: str | None
    total: Decimal | None
    invoices: int
    active_sims: int | None
    per_active_sim: Decimal | None
    note: str | None = None


def cost(
    store: Store, *, now: datetime | None = None, accounts: Sequence[str] | None = None
) -> Insight[CostPeriod]:
    """Invoice totals per platform, account and period, and the cost per active SIM.

    Definition: see :data:`COST_DEFINITION`. Invoices are few (one per account and
    period): they are read whole and added up exactly in ``Decimal``; the active SIMs come
    from :func:`fleet_history`'s reconstruction, grouped in the database.
    """
    moment = aware_now(now)
    today = moment.date()

    def read(connection: Connection) -> tuple[list[CostPeriod], list[Gap]]:
        infos = account_infos(connection, accounts)
        totals: dict[tuple[str, str, date, date, str], list[Decimal]] = defaultdict(list)
        query = select(
            invoices.c.account,
            invoices.c.connector,
            invoices.c.period_start,
            invoices.c.period_end,
            invoices.c.currency,
            invoices.c.total,
        ).where(only(invoices.c.account, accounts))
        for account, connector, start, end, currency, total in connection.execute(query):
            totals[(connector, account, start, end, currency)].append(total)
        first = min((min(key[3], today) for key in totals), default=today)
        history = StatusHistory.load(connection, accounts, first - timedelta(days=1))
        rows: list[CostPeriod] = []
        for (connector, account, start, end, currency), amounts in sorted(totals.items()):
            total = sum(amounts, Decimal(0))
            counts = history.at(min(end, today))
            active = counts[account][SimStatus.ACTIVE.value] if account in counts else 0
            per_sim = (total / active).quantize(_CENT, ROUND_HALF_EVEN) if active else None
            rows.append(
                CostPeriod(
                    connector, account, start, end, currency, total, len(amounts), active, per_sim
                )
            )
        billed = {key[1] for key in totals}
        gaps: list[Gap] = []
        reasons = _invoice_sync_status(connection, accounts)
        for info in infos.values():
            if info.account in billed:
                continue
            note = NO_INVOICES[reasons.get(info.account)]
            rows.append(
                CostPeriod(
                    info.connector, info.account, None, None, None, None, 0, None, None, note
                )
            )
            gaps.append(Gap(info.account, info.connector, f"no cost: {note}", info.sims or None))
        return rows, gaps

    rows, gaps = store.read(read)
    return Insight(
        "cost",
        "Cost per platform and period",
        COST_DEFINITION,
        tuple(rows),
        CostPeriod,
        moment,
        gaps=tuple(gaps),
        parameters={"accounts": list(accounts) if accounts else None},
    )


def _invoice_sync_status(connection: Connection, accounts: Sequence[str] | None) -> dict[str, str]:
    """The status (``ok``, ``skipped``, ``error``) of each account's latest invoice sync."""
    query = (
        select(sync_results.c.account, sync_results.c.status)
        .where(sync_results.c.entity == "invoices", only(sync_results.c.account, accounts))
        .order_by(sync_results.c.run_id)
    )
    found: dict[str, str] = {}
    for account, status in connection.execute(query):
        found[account] = status  # the latest run's, last
    return found
