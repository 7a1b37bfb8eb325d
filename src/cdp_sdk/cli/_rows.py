"""The rows the reading commands show, whether read from the store or the platforms."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

__all__ = [
    "EventRow",
    "InvoiceRow",
    "InvoiceTotal",
    "Page",
    "SimRow",
    "StatusCount",
    "StatusNames",
    "UsagePart",
    "UsageTotal",
    "aggregate_usage",
    "total_invoices",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """The rows shown, and how many matched in all."""

    rows: list[T]
    total: int


@dataclass(frozen=True)
class StatusCount:
    account: str
    connector: str
    status: str
    count: int


@dataclass(frozen=True)
class SimRow:
    account: str
    iccid: str
    status: str
    status_raw: str
    tariff: str | None
    msisdn: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class UsageTotal:
    """Usage of one account and bearer in a period."""

    account: str
    connector: str
    bearer: str
    unit: str
    quantity: int
    records: int
    first_start: datetime | None
    """The start of the earliest record counted."""
    granularities: tuple[str, ...]
    level: Literal["account", "sim"]
    """``account``: the platform's account totals; ``sim``: the sum of per-SIM records."""


@dataclass(frozen=True)
class InvoiceRow:
    account: str
    id: str
    period_start: date
    period_end: date
    issued_at: date | None
    due_at: date | None
    currency: str
    total: Decimal
    status: str | None


@dataclass(frozen=True)
class InvoiceTotal:
    account: str
    currency: str
    invoices: int
    total: Decimal
    first_period: date
    last_period: date


@dataclass(frozen=True)
class EventRow:
    account: str
    occurred_at: datetime
    iccid: str | None
    kind: str
    field: str | None
    old_value: str | None
    """The platform's own value (for a status change: its state name)."""
    new_value: str | None
    actor: str | None
    description: str | None
    old_status: str | None = None
    """For a status change: ``old_value`` as a normalized status, where the account's
    activation modes name that state."""
    new_status: str | None = None


class StatusNames:
    """Vendor state names -> normalized statuses, per account (from activation modes)."""

    def __init__(self, modes: Iterable[tuple[str, str, str]]) -> None:
        self._exact: dict[tuple[str, str], str] = {}
        self._folded: dict[tuple[str, str], str] = {}
        for account, name, status in modes:
            self._exact[account, name] = status
            self._folded.setdefault((account, name.casefold()), status)

    def status(self, account: str, name: str | None) -> str | None:
        """The normalized status of state ``name`` on ``account``'s platform, if known."""
        if name is None:
            return None
        found = self._exact.get((account, name))
        return found if found is not None else self._folded.get((account, name.casefold()))

    def event(self, row: EventRow) -> EventRow:
        """``row`` with the normalized statuses of a status change filled in."""
        if row.kind != "status_change":
            return row
        return replace(
            row,
            old_status=self.status(row.account, row.old_value),
            new_status=self.status(row.account, row.new_value),
        )


@dataclass(frozen=True)
class UsagePart:
    """Usage of one account, level, bearer, unit and granularity (a group or a record)."""

    account: str
    connector: str
    account_level: bool
    bearer: str
    unit: str
    granularity: str
    quantity: int
    records: int
    first_start: datetime | None


def aggregate_usage(parts: Iterable[UsagePart]) -> list[UsageTotal]:
    """Totals per account and bearer; an account with account-level totals is counted from
    those only (its SIM-level records would count the same traffic twice)."""
    found: dict[tuple[str, str, bool, str, str], dict[str, Any]] = {}
    for part in parts:
        key = (part.account, part.connector, part.account_level, part.bearer, part.unit)
        total = found.setdefault(
            key, {"quantity": 0, "records": 0, "first": None, "granularities": set()}
        )
        total["quantity"] += part.quantity
        total["records"] += part.records
        total["granularities"].add(part.granularity)
        first = part.first_start
        if first is not None and (total["first"] is None or first < total["first"]):
            total["first"] = first
    with_totals = {account for (account, _c, at_account, _b, _u) in found if at_account}
    return sorted(
        (
            UsageTotal(
                account=account,
                connector=connector,
                bearer=bearer,
                unit=unit,
                quantity=total["quantity"],
                records=total["records"],
                first_start=total["first"],
                granularities=tuple(sorted(total["granularities"])),
                level="account" if at_account else "sim",
            )
            for (account, connector, at_account, bearer, unit), total in found.items()
            if at_account == (account in with_totals)
        ),
        key=lambda t: (t.account, t.bearer, t.unit),
    )


def total_invoices(rows: Iterable[InvoiceRow]) -> list[InvoiceTotal]:
    """Invoice totals per account and currency (exact decimals)."""
    grouped: defaultdict[tuple[str, str], list[InvoiceRow]] = defaultdict(list)
    for row in rows:
        grouped[row.account, row.currency].append(row)
    return [
        InvoiceTotal(
            account=account,
            currency=currency,
            invoices=len(found),
            total=sum((row.total for row in found), Decimal(0)),
            first_period=min(row.period_start for row in found),
            last_period=max(row.period_end for row in found),
        )
        for (account, currency), found in sorted(grouped.items())
    ]
