"""How the command line shows things: consoles, numbers, tables and progress bars (rich)."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from cdp_sdk.models import ConnectorInfo, SimStatus

if TYPE_CHECKING:  # the sync extra (SQLAlchemy) is imported by the commands that need it
    from cdp_sdk.cli._rows import (
        EventRow,
        InvoiceRow,
        InvoiceTotal,
        SimRow,
        StatusCount,
        UsageTotal,
    )
    from cdp_sdk.cli._sync import SyncPlan
    from cdp_sdk.sync import (
        Entity,
        EntityResult,
        StoredTag,
        SyncEvent,
        SyncReport,
        TagPlan,
    )

__all__ = [
    "SyncProgress",
    "connectors_table",
    "console",
    "event_change",
    "events_table",
    "invoice_totals_table",
    "invoices_table",
    "not_synced",
    "number",
    "quantity",
    "sims_table",
    "status_table",
    "sync_table",
    "tag_plan_table",
    "tags_table",
    "usage_table",
]

_PIPE_WIDTH = 160
"""Columns used when the output is not a terminal (and ``COLUMNS`` is not set): tables in
files and pipes are not folded to 80 columns."""


def console(*, stderr: bool = False) -> Console:
    """A console on standard output (or error), resolved now (tests swap the streams)."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(
        file=stream,
        width=_PIPE_WIDTH if wide else None,
        highlight=False,
        soft_wrap=True,
    )


# -- numbers ---------------------------------------------------------------------------------


def number(value: int) -> str:
    """``1234567`` -> ``1,234,567``."""
    return f"{value:,}"


_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def quantity(value: int, unit: str) -> str:
    """A usage quantity in a readable unit: bytes in decimal multiples, seconds as
    minutes, messages as a count."""
    if unit == "bytes":
        amount, scale = float(value), 0
        while amount >= 1000 and scale < len(_BYTE_UNITS) - 1:
            amount, scale = amount / 1000, scale + 1
        return f"{amount:,.0f} B" if scale == 0 else f"{amount:,.2f} {_BYTE_UNITS[scale]}"
    if unit == "seconds":
        return f"{value / 60:,.0f} min"
    return number(value)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _day(value: date | datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else ""


WHOLE = frozenset({"iccid"})
"""Columns never cut or folded, however narrow the terminal: the others fold (wrap inside
a word) instead of ending in an ellipsis."""


def _table(*columns: str, title: str | None = None, right: Iterable[str] = ()) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    aligned = set(right)
    for name in columns:
        table.add_column(
            name,
            justify="right" if name in aligned else "left",
            no_wrap=name in WHOLE,
            overflow="fold",
        )
    return table


# -- sync ------------------------------------------------------------------------------------


def time_left(seconds: float | None) -> str:
    """``"ETA 2:05:09"``, ``"ETA 0:00:04"``; ``""`` when not known."""
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    return f"ETA {whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class SyncProgress:
    """Progress bars of a sync, one per account: entities done, the entity being read,
    the records committed so far and the time the account still needs, where the sync can
    count the requests it has left (see :class:`~cdp_sdk.sync.PageCommitted`). Pass the
    instance as the store's ``progress``."""

    def __init__(self, out: Console, plan: SyncPlan) -> None:
        width = max((len(name) for name in plan.accounts), default=0)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[entity]:<16} {task.fields[records]:>9} records"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=out,
        )
        self._tasks: dict[str, TaskID] = {}
        self._left: dict[str, int] = {}
        self._records: defaultdict[str, int] = defaultdict(int)
        for name, entities in sorted(plan.accounts.items()):
            self._left[name] = len(entities)
            self._tasks[name] = self._progress.add_task(
                f"{name:<{width}}", total=len(entities), entity="waiting", records="0", eta=""
            )

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def __call__(self, event: SyncEvent) -> None:
        from cdp_sdk.sync import EntityFinished, EntityStarted, PageCommitted

        account = event.result.account if isinstance(event, EntityFinished) else event.account
        task = self._tasks.get(account)
        if task is None:
            return
        if isinstance(event, EntityStarted):
            self._progress.update(task, entity=event.entity.value)
        elif isinstance(event, PageCommitted):
            records = self._records[account] + event.total
            self._progress.update(task, records=number(records), eta=time_left(event.eta))
        else:
            self._records[account] += event.result.records
            self._left[account] -= 1
            done = self._left[account] <= 0
            self._progress.update(
                task,
                advance=1,
                entity="done" if done else event.result.entity.value,
                records=number(self._records[account]),
            )
            if done:
                self._progress.update(task, eta="")


def sync_table(
    reports: Sequence[SyncReport],
    left_out: Mapping[tuple[str, Entity], str],
    *,
    per_entity: bool = True,
) -> Table:
    """The results of a sync: per account and entity, or per account (``per_entity=False``)."""
    from cdp_sdk.sync import Entity

    results = sorted(
        (result for report in reports for result in report.results),
        key=lambda r: (r.account, list(Entity).index(r.entity)),
    )
    if per_entity:
        table = _table(
            "account", "entity", "status", "records", "requests", "seconds", "note",
            right=("records", "requests", "seconds"),
        )  # fmt: skip
        for result in results:
            table.add_row(
                result.account,
                result.entity.value,
                _status(result.status),
                number(result.records),
                number(result.requests),
                f"{result.duration:.1f}",
                _note(result),
            )
        for (account, entity), why in sorted(left_out.items()):
            table.add_row(account, entity.value, _status("skipped"), "", "", "", why)
        return table
    table = _table(
        "account",
        "records",
        "requests",
        "seconds",
        "entities",
        right=("records", "requests", "seconds"),
    )
    accounts: dict[str, list[EntityResult]] = defaultdict(list)
    for result in results:
        accounts[result.account].append(result)
    for account, found in sorted(accounts.items()):
        synced = [r.entity.value for r in found if r.status == "ok"]
        failed = [f"{r.entity.value} failed: {r.error}" for r in found if r.status == "error"]
        table.add_row(
            account,
            number(sum(r.records for r in found)),
            number(sum(r.requests for r in found)),
            f"{max(r.duration for r in found):.1f}" if found else "",
            ", ".join(synced + failed),
        )
    return table


def _note(result: EntityResult) -> str:
    """The error or detail of a result, and the records it cleaned or quarantined."""
    counts = [
        f"{number(count)} {what}"
        for count, what in (
            (result.quarantined, "quarantined (see the quarantine table)"),
            (result.cleaned, "cleaned"),
        )
        if count
    ]
    return "; ".join([text for text in (result.error or result.detail,) if text] + counts)


def not_synced(
    reports: Sequence[SyncReport], left_out: Mapping[tuple[str, Entity], str]
) -> list[str]:
    """One line per entity some accounts did not sync, naming them and saying why."""
    from cdp_sdk.sync import Entity

    skipped: defaultdict[Entity, list[str]] = defaultdict(list)
    for report in reports:
        for result in report.results:
            if result.status == "skipped":
                skipped[result.entity].append(result.account)
    lines = [
        f"{entity.value}: not offered by the API of {', '.join(sorted(accounts))}"
        for entity, accounts in sorted(
            skipped.items(), key=lambda item: list(Entity).index(item[0])
        )
    ]
    lines += [
        f"{entity.value} of {account}: {why}" for (account, entity), why in sorted(left_out.items())
    ]
    return lines


def _status(status: str) -> Text:
    style = {"ok": "green", "error": "bold red", "skipped": "dim"}.get(status, "")
    return Text(status, style=style)


# -- store contents ----------------------------------------------------------------------------


def status_table(counts: Sequence[StatusCount], *, title: str | None = None) -> Table:
    """SIM counts: one row per account, one column per status, with totals."""
    order = [status.value for status in SimStatus]
    present = sorted({c.status for c in counts}, key=lambda s: order.index(s) if s in order else 99)
    table = _table(
        "account", "connector", *present, "total", title=title, right=(*present, "total")
    )
    grid: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for count in counts:
        grid[count.account, count.connector][count.status] = count.count
    for (account, connector), by_status in sorted(grid.items()):
        table.add_row(
            account,
            connector,
            *(number(by_status[s]) if s in by_status else "-" for s in present),
            number(sum(by_status.values())),
        )
    if len(grid) > 1:
        table.add_section()
        table.add_row(
            "all",
            "",
            *(number(sum(c.count for c in counts if c.status == s)) for s in present),
            number(sum(c.count for c in counts)),
            style="bold",
        )
    return table


def sims_table(rows: Sequence[SimRow], *, title: str | None = None) -> Table:
    table = _table(
        "account", "iccid", "status", "platform state", "tariff", "msisdn", "updated", title=title
    )
    for row in rows:
        table.add_row(
            row.account,
            row.iccid,
            row.status,
            row.status_raw,
            row.tariff or "",
            row.msisdn or "",
            _when(row.updated_at),
        )
    return table


_GRANULARITY = {"day": "daily", "hour": "hourly", "month": "monthly", "cycle": "by billing cycle"}


def usage_table(totals: Sequence[UsageTotal], *, title: str | None = None) -> Table:
    """Data, SMS and voice per account, with how each platform reports usage."""
    table = _table(
        "account", "connector", "data", "sms", "voice", "from", "reported", "records",
        title=title, right=("data", "sms", "voice", "records"),
    )  # fmt: skip
    accounts: dict[tuple[str, str], list[UsageTotal]] = defaultdict(list)
    for total in totals:
        accounts[total.account, total.connector].append(total)
    for (account, connector), found in sorted(accounts.items()):

        def column(bearer: str, found: list[UsageTotal] = found) -> str:
            matching = [t for t in found if t.bearer == bearer]
            if not matching:
                return "-"
            return " + ".join(quantity(t.quantity, t.unit) for t in matching)

        granularities = sorted({g for t in found for g in t.granularities})
        how = ", ".join(_GRANULARITY.get(g, g) for g in granularities)
        level = "per SIM" if all(t.level == "sim" for t in found) else "account totals"
        first = min((t.first_start for t in found if t.first_start is not None), default=None)
        table.add_row(
            account,
            connector,
            column("data"),
            column("sms"),
            column("voice"),
            _day(first),
            f"{how}, {level}",
            number(sum(t.records for t in found)),
        )
    return table


def invoices_table(rows: Sequence[InvoiceRow], *, title: str | None = None) -> Table:
    table = _table(
        "account", "invoice", "period", "issued", "due", "status", "total",
        title=title, right=("total",),
    )  # fmt: skip
    for row in rows:
        table.add_row(
            row.account,
            row.id,
            f"{_day(row.period_start)} to {_day(row.period_end)}",
            _day(row.issued_at),
            _day(row.due_at),
            row.status or "",
            _money(row.total, row.currency),
        )
    return table


def invoice_totals_table(totals: Sequence[InvoiceTotal], *, title: str | None = None) -> Table:
    table = _table(
        "account", "invoices", "periods", "total", title=title, right=("invoices", "total")
    )
    for total in totals:
        table.add_row(
            total.account,
            number(total.invoices),
            f"{_day(total.first_period)} to {_day(total.last_period)}",
            _money(total.total, total.currency),
        )
    return table


def _money(amount: Decimal, currency: str) -> str:
    """``1234.5`` EUR -> ``1,234.50 EUR``; more decimals than cents are kept."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return f"{amount:,} {currency}"


def events_table(rows: Sequence[EventRow], *, title: str | None = None) -> Table:
    table = _table("time (UTC)", "account", "iccid", "event", "change", "actor", title=title)
    for row in rows:
        table.add_row(
            _when(row.occurred_at),
            row.account,
            row.iccid or "",
            row.kind,
            event_change(row),
            row.actor or "",
        )
    return table


def event_change(row: EventRow) -> str:
    """What an event changed: ``status: active -> suspended (live -> stopped)`` for a
    status change whose states are known (the platform's own names in brackets), else
    ``<field>: <old> -> <new>`` in the platform's values."""
    has_values = row.old_value is not None or row.new_value is not None
    if row.field is None or not has_values:
        return row.field or row.description or ""
    raw = f"{row.old_value or '-'} -> {row.new_value or '-'}"
    if row.old_status is None and row.new_status is None:
        return f"{row.field}: {raw}"
    normalized = f"{row.old_status or '-'} -> {row.new_status or '-'}"
    return f"status: {normalized} ({raw})"


# -- connectors and tags -------------------------------------------------------------------------


def connectors_table(infos: Sequence[ConnectorInfo], capabilities: Sequence[str]) -> Table:
    """One row per connector, ``yes`` or ``-`` per capability; no borders, so that each
    row starts with the connector's name (``cdp connectors | grep '^emnify '``)."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("connector", no_wrap=True)
    for capability in capabilities:
        table.add_column(capability, justify="center", no_wrap=True)
    for info in infos:
        declared = {c.value for c in info.capabilities}
        table.add_row(info.name, *("yes" if c in declared else "-" for c in capabilities))
    return table


def tag_plan_table(plan: TagPlan) -> Table:
    """The platform changes a push of local tags makes, per SIM."""
    table = _table("account", "iccid", "set", "remove", title="Tag changes for the platforms")
    for change in plan.changes:
        table.add_row(
            change.account,
            change.iccid,
            ", ".join(f"{k}={v}" if v is not None else k for k, v in change.set.items()),
            ", ".join(change.remove),
        )
    return table


def tags_table(tags: Sequence[StoredTag]) -> Table:
    table = _table("account", "iccid", "key", "value", "source")
    for tag in tags:
        table.add_row(tag.account, tag.iccid, tag.key, tag.value or "", tag.source)
    return table
