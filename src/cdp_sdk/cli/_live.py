"""``--live``: the rows of ``cdp sims``, ``usage``, ``invoices`` and ``events`` read from the
platforms through the workspace instead of from the store.

The accounts are read concurrently (:class:`~cdp_sdk.workspace.Workspace`). Usage and
audit events of a connector that offers them per SIM only (``per_sim_only``) are read for
the SIM given with ``--iccid``; without one, such accounts are left out and named in
``Live.skipped``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

from cdp_sdk import Connector, load_connector
from cdp_sdk.cli._rows import (
    EventRow,
    InvoiceRow,
    SimRow,
    StatusNames,
    UsagePart,
    UsageTotal,
    aggregate_usage,
)
from cdp_sdk.errors import NotFoundError
from cdp_sdk.models import AuditEvent, Capability, UsageRecord
from cdp_sdk.workspace import Workspace

__all__ = ["Live", "live_events", "live_invoices", "live_sims", "live_usage"]

T = TypeVar("T")


@dataclass(frozen=True)
class Live(Generic[T]):
    """Rows read from the platforms, how many matched, and the accounts left out (why)."""

    rows: list[T]
    total: int
    skipped: dict[str, str] = field(default_factory=dict)


def _limited(rows: list[T], limit: int | None) -> list[T]:
    return rows[:limit] if limit else rows


def live_sims(
    workspace: Workspace,
    *,
    accounts: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    iccid: str | None = None,
    limit: int | None = 20,
) -> Live[SimRow]:
    """SIMs listed by the platforms, most recently changed first."""
    rows = [
        SimRow(
            sim.account or "",
            sim.iccid,
            sim.status.value,
            sim.status_raw,
            sim.tariff,
            sim.msisdn,
            sim.updated_at,
        )
        for sim in workspace.subscriptions(accounts=accounts, status=statuses or None)
        if (not statuses or sim.status.value in statuses) and (iccid is None or sim.iccid == iccid)
    ]
    rows.sort(key=lambda r: (r.account, r.iccid))
    rows.sort(key=lambda r: (r.updated_at is not None, r.updated_at or datetime.min), reverse=True)
    return Live(_limited(rows, limit), len(rows))


def live_invoices(
    workspace: Workspace,
    *,
    accounts: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Live[InvoiceRow]:
    """Invoices whose period overlaps ``[start, end)``, latest period first (all of them)."""
    rows = [
        InvoiceRow(
            invoice.account or "",
            invoice.id,
            invoice.period_start,
            invoice.period_end,
            invoice.issued_at,
            invoice.due_at,
            invoice.currency,
            invoice.total,
            invoice.status,
        )
        for invoice in workspace.invoices(start=start, end=end, accounts=accounts)
    ]
    rows.sort(key=lambda r: (r.period_start, r.account, r.id), reverse=True)
    return Live(rows, len(rows))


def _split(
    workspace: Workspace, capability: Capability, accounts: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The selected accounts with the capability: read account-wide, and per SIM only."""
    wide: list[str] = []
    per_sim: list[str] = []
    for name in workspace.select(accounts):
        connector = load_connector(workspace.account(name).connector)
        if capability not in connector.capabilities:
            continue
        (per_sim if capability in connector.per_sim_only else wide).append(name)
    return wide, per_sim


def _per_sim(
    workspace: Workspace, names: Iterable[str], read: Callable[[Connector], Iterable[T]]
) -> Iterator[tuple[str, T]]:
    """``read(connector)`` (one SIM's records) from every account in ``names`` holding it."""
    for name in names:
        with workspace.connect(name) as connector, contextlib.suppress(NotFoundError):
            for record in read(connector):
                yield name, record


def live_usage(
    workspace: Workspace,
    *,
    start: datetime,
    end: datetime | None = None,
    accounts: Sequence[str] | None = None,
    iccid: str | None = None,
) -> Live[UsageTotal]:
    """Usage per account and bearer of the records starting in ``[start, end)``."""
    wide, per_sim = _split(workspace, Capability.USAGE, accounts)
    skipped: dict[str, str] = {}
    records: list[tuple[str, UsageRecord]] = []
    if iccid is None:
        skipped = dict.fromkeys(per_sim, "usage per SIM only: pass --iccid, or read the store")
        if wide:
            records += list(workspace.usage(start=start, end=end, accounts=wide))
    else:
        records += _per_sim(
            workspace, wide + per_sim, lambda c: c.usage(iccid, start=start, end=end)
        )
    totals = aggregate_usage(
        UsagePart(
            account,
            record.connector,
            record.iccid is None,
            record.bearer.value,
            record.unit.value,
            record.granularity.value,
            record.quantity,
            1,
            record.start,
        )
        for account, record in records
        if record.start is None or (record.start >= start and (end is None or record.start < end))
    )
    return Live(totals, len(totals), skipped)


def live_events(
    workspace: Workspace,
    *,
    accounts: Sequence[str] | None = None,
    iccid: str | None = None,
    kinds: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = 20,
) -> Live[EventRow]:
    """Audit events in ``[start, end)``, newest first."""
    wide, per_sim = _split(workspace, Capability.AUDIT_EVENTS, accounts)
    skipped: dict[str, str] = {}
    events: list[tuple[str, AuditEvent]] = []
    if iccid is None:
        skipped = dict.fromkeys(
            per_sim, "audit events per SIM only: pass --iccid, or read the store"
        )
        if wide:
            events += list(workspace.audit_events(start=start, end=end, accounts=wide))
    else:
        events += _per_sim(
            workspace, wide + per_sim, lambda c: c.audit_events(iccid, start=start, end=end)
        )
    rows = [
        EventRow(
            account,
            event.occurred_at,
            event.iccid,
            event.kind.value,
            event.field,
            event.old_value,
            event.new_value,
            event.actor,
            event.description,
        )
        for account, event in events
        if (not kinds or event.kind.value in kinds) and (iccid is None or event.iccid == iccid)
    ]
    rows.sort(key=lambda r: (r.occurred_at, r.account, r.iccid or ""), reverse=True)
    shown = _limited(rows, limit)
    changed = {row.account for row in shown if row.kind == "status_change"}
    names = (
        StatusNames(
            (account, mode.name, mode.status.value)
            for account, mode in workspace.activation_modes(accounts=sorted(changed) or [])
        )
        if changed
        else StatusNames(())
    )
    return Live([names.event(row) for row in shown], len(rows), skipped)
