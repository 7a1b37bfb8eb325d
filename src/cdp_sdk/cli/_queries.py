"""Read-only queries of the sync store behind ``cdp sims``, ``usage``, ``invoices``,
``events`` and the demo's summary.

Plain SQLAlchemy Core over :mod:`cdp_sdk.sync.schema`, the same on SQLite and PostgreSQL.
Money is summed in Python: on SQLite an exact decimal is text, and ``SUM`` would add floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from cdp_sdk.sync import Store  # first: without SQLAlchemy, it says which extra to install

# isort: split
from sqlalchemy import ColumnElement, Connection, Select, func, select, true

from cdp_sdk.cli._rows import (
    EventRow,
    InvoiceRow,
    InvoiceTotal,
    Page,
    SimRow,
    StatusCount,
    StatusNames,
    UsagePart,
    UsageTotal,
    aggregate_usage,
    total_invoices,
)
from cdp_sdk.sync.schema import activation_modes, audit_events, invoices, subscriptions, usage

__all__ = [
    "invoice_totals",
    "latest_events",
    "list_invoices",
    "list_sims",
    "sims_by_status",
    "stored_status_names",
    "usage_totals",
]


def _in(column: Any, values: Sequence[str] | None) -> ColumnElement[bool]:
    return column.in_(list(values)) if values else true()


def _page(store: Store, query: Select[Any], limit: int | None) -> tuple[list[Any], int]:
    def read(connection: Connection) -> tuple[list[Any], int]:
        total = connection.scalar(select(func.count()).select_from(query.subquery())) or 0
        limited = query.limit(limit) if limit else query
        return list(connection.execute(limited)), int(total)

    return store.read(read)


def sims_by_status(store: Store, *, accounts: Sequence[str] | None = None) -> list[StatusCount]:
    """SIM counts per account and normalized status."""
    query = (
        select(
            subscriptions.c.account,
            subscriptions.c.connector,
            subscriptions.c.status,
            func.count(),
        )
        .where(_in(subscriptions.c.account, accounts))
        .group_by(subscriptions.c.account, subscriptions.c.connector, subscriptions.c.status)
        .order_by(subscriptions.c.account, subscriptions.c.status)
    )
    return store.read(lambda connection: [StatusCount(*row) for row in connection.execute(query)])


def list_sims(
    store: Store,
    *,
    accounts: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    iccid: str | None = None,
    limit: int | None = 20,
) -> Page[SimRow]:
    """SIMs, most recently changed first."""
    query = (
        select(
            subscriptions.c.account,
            subscriptions.c.iccid,
            subscriptions.c.status,
            subscriptions.c.status_raw,
            subscriptions.c.tariff,
            subscriptions.c.msisdn,
            subscriptions.c.updated_at,
        )
        .where(
            _in(subscriptions.c.account, accounts),
            _in(subscriptions.c.status, statuses),
            subscriptions.c.iccid == iccid if iccid else true(),
        )
        .order_by(
            subscriptions.c.updated_at.desc().nulls_last(),
            subscriptions.c.account,
            subscriptions.c.iccid,
        )
    )
    rows, total = _page(store, query, limit)
    return Page([SimRow(*row) for row in rows], total)


def usage_totals(
    store: Store,
    *,
    start: datetime,
    end: datetime | None = None,
    accounts: Sequence[str] | None = None,
    iccid: str | None = None,
) -> list[UsageTotal]:
    """Usage per account and bearer of the records starting in ``[start, end)``.

    Records are counted whole, at their own granularity: a platform that reports by
    billing cycle contributes the cycles that start in the period (``first_start`` says
    from when). An account with account-level totals in the period is counted from those
    only, so that SIM-level records read as well never count twice; ``iccid`` counts that
    SIM's records only.
    """
    level = usage.c.iccid.is_(None)
    query = (
        select(
            usage.c.account,
            usage.c.connector,
            level.label("account_level"),
            usage.c.bearer,
            usage.c.unit,
            usage.c.granularity,
            func.sum(usage.c.quantity),
            func.count(),
            func.min(usage.c.period_start),
        )
        .where(
            usage.c.period_start >= start,
            usage.c.period_start < end if end is not None else true(),
            _in(usage.c.account, accounts),
            usage.c.iccid == iccid if iccid else true(),
        )
        .group_by(
            usage.c.account,
            usage.c.connector,
            level,
            usage.c.bearer,
            usage.c.unit,
            usage.c.granularity,
        )
    )
    return aggregate_usage(
        UsagePart(account, connector, bool(level), bearer, unit, granularity, int(q or 0), n, f)
        for account, connector, level, bearer, unit, granularity, q, n, f in store.read(
            lambda connection: list(connection.execute(query))
        )
    )


def _invoice_query(
    accounts: Sequence[str] | None, start: date | None, end: date | None
) -> Select[Any]:
    return select(
        invoices.c.account,
        invoices.c.id,
        invoices.c.period_start,
        invoices.c.period_end,
        invoices.c.issued_at,
        invoices.c.due_at,
        invoices.c.currency,
        invoices.c.total,
        invoices.c.status,
    ).where(
        _in(invoices.c.account, accounts),
        invoices.c.period_end >= start if start is not None else true(),
        invoices.c.period_start < end if end is not None else true(),
    )


def list_invoices(
    store: Store,
    *,
    accounts: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: int | None = 20,
) -> Page[InvoiceRow]:
    """Invoices whose period overlaps ``[start, end)``, latest period first."""
    query = _invoice_query(accounts, start, end).order_by(
        invoices.c.period_start.desc(), invoices.c.account, invoices.c.id
    )
    rows, total = _page(store, query, limit)
    return Page([InvoiceRow(*row) for row in rows], total)


def invoice_totals(
    store: Store,
    *,
    accounts: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[InvoiceTotal]:
    """Invoice totals per account and currency (exact decimals)."""
    rows = store.read(
        lambda connection: [
            InvoiceRow(*row) for row in connection.execute(_invoice_query(accounts, start, end))
        ]
    )
    return total_invoices(rows)


def latest_events(
    store: Store,
    *,
    accounts: Sequence[str] | None = None,
    iccid: str | None = None,
    kinds: Iterable[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = 20,
) -> Page[EventRow]:
    """Audit events in ``[start, end)``, newest first."""
    query = (
        select(
            audit_events.c.account,
            audit_events.c.occurred_at,
            audit_events.c.iccid,
            audit_events.c.kind,
            audit_events.c.field,
            audit_events.c.old_value,
            audit_events.c.new_value,
            audit_events.c.actor,
            audit_events.c.description,
        )
        .where(
            _in(audit_events.c.account, accounts),
            _in(audit_events.c.kind, list(kinds) if kinds else None),
            audit_events.c.iccid == iccid if iccid else true(),
            audit_events.c.occurred_at >= start if start is not None else true(),
            audit_events.c.occurred_at < end if end is not None else true(),
        )
        .order_by(
            audit_events.c.occurred_at.desc(),
            audit_events.c.account.desc(),
            audit_events.c.iccid.desc(),
        )
    )
    rows, total = _page(store, query, limit)
    found = [EventRow(*row) for row in rows]
    names = stored_status_names(
        store, {row.account for row in found if row.kind == "status_change"}
    )
    return Page([names.event(row) for row in found], total)


def stored_status_names(store: Store, accounts: Iterable[str]) -> StatusNames:
    """The state names of the accounts' platforms, from their synced activation modes."""
    wanted = sorted(accounts)
    if not wanted:
        return StatusNames(())
    query = select(
        activation_modes.c.account, activation_modes.c.name, activation_modes.c.status
    ).where(activation_modes.c.account.in_(wanted))
    return StatusNames(store.read(lambda connection: list(connection.execute(query))))
