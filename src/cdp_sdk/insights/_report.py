"""The fleet report: every insight on one self-contained HTML page.

The page needs nothing but itself: styles are inline, charts are inline SVG drawn here
(:mod:`cdp_sdk.insights._svg`), and there is no script, font, image or link to fetch.
ICCIDs are shown whole (they are what the reader acts on); no secret is in the store, and
the store is named by its file or database name only, never by a URL with credentials.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_sdk._version import __version__
from cdp_sdk.insights import _svg
from cdp_sdk.insights._anomalies import UsageSpike, UsageStop, usage_spikes, usage_stops
from cdp_sdk.insights._cost import CostPeriod, cost
from cdp_sdk.insights._fleet import FleetCount, FleetDay, fleet, fleet_history
from cdp_sdk.insights._idle import IdleSim, idle_billable, monthly_fees
from cdp_sdk.insights._result import Insight
from cdp_sdk.insights._risk import PlanRisk, plan_risk
from cdp_sdk.insights._sql import aware_now
from cdp_sdk.insights._usage import DailyUsage, TopConsumer, daily_usage, top_consumers
from cdp_sdk.models import SimStatus

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = ["SECTIONS", "Report", "build_report", "render_html", "write_report"]

SECTIONS = ("summary", "fleet", "usage", "cost", "idle", "risk", "anomalies", "gaps", "definitions")
"""The ids of the report's sections, in page order."""

STATUS_COLORS = {
    SimStatus.ACTIVE.value: "#16a34a",
    SimStatus.READY.value: "#38bdf8",
    SimStatus.TEST.value: "#a78bfa",
    SimStatus.INVENTORY.value: "#94a3b8",
    SimStatus.SUSPENDED.value: "#f59e0b",
    SimStatus.DEACTIVATED.value: "#64748b",
    SimStatus.RETIRED.value: "#334155",
    SimStatus.UNKNOWN.value: "#e11d48",
}


@dataclass(frozen=True)
class Report:
    """Every insight the report shows, computed once."""

    now: datetime
    days: int
    store: str
    fleet: Insight[FleetCount]
    history: Insight[FleetDay]
    daily: Insight[DailyUsage]
    top: Insight[TopConsumer]
    idle: Insight[IdleSim]
    risk: Insight[PlanRisk]
    spikes: Insight[UsageSpike]
    stops: Insight[UsageStop]
    cost: Insight[CostPeriod]

    @property
    def insights(self) -> tuple[Insight[Any], ...]:
        """The insights in page order."""
        return (
            self.fleet,
            self.history,
            self.daily,
            self.top,
            self.cost,
            self.idle,
            self.risk,
            self.spikes,
            self.stops,
        )


def build_report(
    store: Store, *, now: datetime | None = None, days: int = 30, top: int = 10
) -> Report:
    """Compute every insight of the report (``days``: the window of the idle test, the
    usage charts and the spikes; ``top``: how many top consumers)."""
    moment = aware_now(now)
    return Report(
        now=moment,
        days=days,
        store=_store_name(store),
        fleet=fleet(store),
        history=fleet_history(store, days=days, now=moment),
        daily=daily_usage(store, days=days, now=moment),
        top=top_consumers(store, days=days, limit=top, now=moment),
        idle=idle_billable(store, days=days, now=moment),
        risk=plan_risk(store, now=moment),
        spikes=usage_spikes(store, days=days, now=moment),
        stops=usage_stops(store, now=moment),
        cost=cost(store, now=moment),
    )


def write_report(
    store: Store,
    path: str | os.PathLike[str],
    *,
    now: datetime | None = None,
    days: int = 30,
    max_rows: int = 100,
) -> Path:
    """Write the report of ``store`` to ``path`` (HTML, UTF-8); the path written.

    The file is written beside its final name and moved into place, so a reader never
    sees half a report.
    """
    target = Path(path)
    page = render_html(build_report(store, now=now, days=days), max_rows=max_rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target


def render_html(report: Report, *, max_rows: int = 100) -> str:
    """The report as one HTML page; lists show at most ``max_rows`` rows each."""
    page = _Page(report, max_rows)
    return page.render()


# -- formatting ---------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def fmt_bytes(value: float) -> str:
    """Bytes in decimal units (1 kB = 1,000 B), three significant digits."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def fmt_count(value: float) -> str:
    return f"{value:,.0f}"


def fmt_money(value: Decimal | float, currency: str | None = None) -> str:
    text = f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"
    return f"{text} {currency}" if currency else text


def _money_in(currency: str, value: float) -> str:
    return fmt_money(value, currency)


def fmt_quantity(value: float, unit: str) -> str:
    if unit == "bytes":
        return fmt_bytes(value)
    if unit == "seconds":
        return f"{value / 60:,.0f} min"
    return f"{value:,.0f} SMS" if unit == "messages" else f"{value:,.0f}"


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _store_name(store: Store) -> str:
    url = store.url
    if url.get_backend_name() == "sqlite":
        return Path(url.database or ":memory:").name
    return f"{url.get_backend_name()} database {url.database or ''}".strip()


# -- the page -----------------------------------------------------------------------------


class _Page:
    def __init__(self, report: Report, max_rows: int) -> None:
        self.report = report
        self.max_rows = max_rows
        accounts = sorted({row.account for row in report.fleet.rows})
        for insight in report.insights:
            accounts.extend(a for a in (getattr(r, "account", None) for r in insight.rows) if a)
        ordered = sorted(set(accounts))
        self.colors = {a: _svg.PALETTE[i % len(_svg.PALETTE)] for i, a in enumerate(ordered)}

    def render(self) -> str:
        r = self.report
        sections = [
            self.summary(),
            self.fleet(),
            self.usage(),
            self.cost(),
            self.idle(),
            self.risk(),
            self.anomalies(),
            self.gaps(),
            self.definitions(),
        ]
        generated = f"{r.now:%Y-%m-%d %H:%M} UTC"
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Fleet report {_e(generated)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>Fleet report</h1><p>Store <b>{_e(r.store)}</b> as of "
            f"<b>{_e(generated)}</b>, {r.days}-day windows. Made by cdp-sdk {_e(__version__)} "
            "(<code>cdp report</code>); every figure is defined at the end of the page.</p>"
            f"<nav>{self.nav()}</nav></header><main>{''.join(sections)}</main></body></html>\n"
        )

    def nav(self) -> str:
        titles = dict(zip(SECTIONS, _TITLES, strict=True))
        return " ".join(f'<a href="#{s}">{_e(titles[s])}</a>' for s in SECTIONS)

    def section(self, name: str, body: Iterable[str], intro: str = "") -> str:
        title = dict(zip(SECTIONS, _TITLES, strict=True))[name]
        lead = f'<p class="intro">{intro}</p>' if intro else ""
        return (
            f'<section id="{name}" data-section="{name}"><h2>{_e(title)}</h2>{lead}'
            + "".join(body)
            + "</section>"
        )

    # -- sections ------------------------------------------------------------------------

    def summary(self) -> str:
        r = self.report
        counts = [row.sims for row in r.fleet.rows]
        active = sum(row.sims for row in r.fleet.rows if row.status == SimStatus.ACTIVE.value)
        platforms = {row.connector for row in r.fleet.rows}
        accounts = {row.account for row in r.fleet.rows}
        data = sum(row.quantity for row in r.daily.rows)
        fees = monthly_fees(r.idle.rows)
        if fees:
            fee_text = ", ".join(fmt_money(v, c) for c, v in fees.items()) + " a month"
        elif r.idle.rows:
            fee_text = "monthly fee unknown (no priced tariff)"
        else:
            fee_text = "among the SIMs assessed"
        latest = _latest_invoices(r.cost.rows)
        invoiced = ", ".join(fmt_money(v, c) for c, v in latest.items()) or "no invoices"
        at_risk = len({(row.account, row.iccid) for row in r.risk.rows})
        cards = [
            (
                "SIMs",
                fmt_count(sum(counts)),
                f"{len(accounts)} accounts, {len(platforms)} platforms",
            ),
            ("Active SIMs", fmt_count(active), "normalized status active"),
            (f"Data, last {r.days} days", fmt_bytes(data), "platforms with daily figures"),
            ("Idle but billable", fmt_count(len(r.idle.rows)), fee_text),
            ("At risk of passing their plan", fmt_count(at_risk), "this cycle, projected"),
            ("Usage spikes", fmt_count(len(r.spikes.rows)), f"SIM-days, last {r.days} days"),
            ("Stopped SIMs", fmt_count(len(r.stops.rows)), "steady use, then none"),
            ("Invoiced, latest period", invoiced, "per currency, all platforms"),
        ]
        body = "".join(
            f'<div class="card"><div class="label">{_e(label)}</div>'
            f'<div class="figure">{_e(figure)}</div><div class="note">{_e(note)}</div></div>'
            for label, figure, note in cards
        )
        return self.section("summary", [f'<div class="cards">{body}</div>'])

    def fleet(self) -> str:
        r = self.report
        accounts = sorted({row.account for row in r.fleet.rows})
        statuses = [s.value for s in SimStatus if any(row.status == s for row in r.fleet.rows)]
        found: Counter[tuple[str, str]] = Counter()
        for row in r.fleet.rows:  # an account on two platforms: both counts
            found[row.account, row.status] += row.sims
        parts: list[str] = ["<h3>SIMs per platform and status, now</h3>"]
        if accounts:
            parts.append(
                _svg.stacked_bars(
                    "SIMs per platform and status",
                    [self.label(a) for a in accounts],
                    {s: [float(found[a, s]) for a in accounts] for s in statuses},
                    STATUS_COLORS,
                    fmt_count,
                    chart="status-by-platform",
                )
            )
        else:
            parts.append(_empty("No SIM in the store."))
        days = sorted({row.day for row in r.history.rows})
        active = {
            (row.account, row.day): row.sims
            for row in r.history.rows
            if row.status == SimStatus.ACTIVE.value
        }
        if days and accounts:
            parts.append("<h3>Active SIMs, day by day</h3>")
            parts.append(
                _svg.line_chart(
                    "Active SIMs per day and platform",
                    [f"{d:%m-%d}" for d in days],
                    {a: [float(active.get((a, d), 0)) for d in days] for a in accounts},
                    self.colors,
                    fmt_count,
                    chart="active-history",
                )
            )
        return self.section(
            "fleet",
            parts,
            "SIMs per platform account and normalized status; the daily line rebuilds "
            "past days from the status changes of the audit events.",
        )

    def usage(self) -> str:
        r = self.report
        days = sorted({row.day for row in r.daily.rows})
        accounts = sorted({row.account for row in r.daily.rows})
        per_day = {(row.account, row.day): row.quantity for row in r.daily.rows}
        parts: list[str] = [f"<h3>Data per day and platform, last {r.days} complete days</h3>"]
        if days:
            parts.append(
                _svg.line_chart(
                    "Data usage per day and platform",
                    [f"{d:%m-%d}" for d in days],
                    {a: [per_day.get((a, d)) for d in days] for a in accounts},
                    self.colors,
                    fmt_bytes,
                    chart="daily-usage",
                )
            )
        else:
            parts.append(_empty("No daily usage figures in the store for this window."))
        parts.append(f"<h3>Top {len(r.top.rows) or ''} data consumers, last {r.days} days</h3>")
        if r.top.rows:
            parts.append(
                _svg.horizontal_bars(
                    "SIMs with the most data usage",
                    [f"{row.iccid} · {row.account}" for row in r.top.rows],
                    [float(row.quantity) for row in r.top.rows],
                    [self.colors[row.account] for row in r.top.rows],
                    fmt_bytes,
                    chart="top-consumers",
                )
            )
        else:
            parts.append(_empty("No per-SIM usage in the store for this window."))
        return self.section("usage", parts)

    def cost(self) -> str:
        r = self.report
        billed = [row for row in r.cost.rows if row.total is not None]
        parts: list[str] = []
        for currency in sorted({row.currency for row in billed if row.currency}):
            rows = [row for row in billed if row.currency == currency]
            periods = sorted({(row.period_start, row.period_end) for row in rows})
            accounts = sorted({row.account for row in rows})
            totals: dict[tuple[str, date | None, date | None], Decimal] = {}
            for row in rows:  # an account billed on two platforms for a period: both
                key = (row.account, row.period_start, row.period_end)
                totals[key] = totals.get(key, Decimal(0)) + (row.total or Decimal(0))
            parts.append(f"<h3>Invoiced per period and platform, in {_e(currency)}</h3>")
            parts.append(
                _svg.grouped_bars(
                    f"Invoiced per period and platform, in {currency}",
                    [_period(start, end) for start, end in periods],
                    {a: [_float(totals.get((a, s, e))) for s, e in periods] for a in accounts},
                    self.colors,
                    functools.partial(_money_in, currency),
                    chart=f"cost-{currency}",
                    ticks_fmt=fmt_count,
                )
            )
        if not billed:
            parts.append(_empty("No invoice in the store."))
        table = _table(
            ["platform", "account", "period", "invoices", "total", "active SIMs", "per active SIM"],
            [
                [
                    row.connector,
                    row.account,
                    _period(row.period_start, row.period_end),
                    fmt_count(row.invoices),
                    fmt_money(row.total, row.currency),
                    fmt_count(row.active_sims) if row.active_sims is not None else "",
                    fmt_money(row.per_active_sim, row.currency)
                    if row.per_active_sim is not None
                    else "",
                ]
                if row.total is not None
                else [row.connector, row.account, "", "0", f"no invoices: {row.note}", "", ""]
                for row in r.cost.rows
            ],
            numeric={3, 4, 5, 6},
        )
        parts.append("<h3>Invoice totals and cost per active SIM</h3>")
        parts.append(table)
        return self.section("cost", parts)

    def idle(self) -> str:
        r = self.report
        fees = monthly_fees(r.idle.rows)
        intro = (
            f"In a billable state, no usage in the last {r.days} days: "
            f"{fmt_count(len(r.idle.rows))} SIMs"
            + (
                ", " + ", ".join(fmt_money(v, c) for c, v in fees.items()) + " a month"
                if fees
                else ""
            )
            + "."
        )
        rows = [
            [
                row.account,
                row.iccid,
                f"{row.status} ({row.status_raw})",
                row.tariff or "",
                fmt_money(row.monthly_fee, row.currency)
                if row.monthly_fee is not None
                else "unknown",
                _when(row.last_usage) or "none synced",
            ]
            for row in r.idle.rows
        ]
        body = self.listing(
            ["account", "ICCID", "status", "tariff", "monthly fee", "last usage (UTC)"],
            rows,
            numeric={4},
            empty=self.nothing(r.idle, "No idle billable SIM among the SIMs assessed."),
            what="idle_billable(store)",
        )
        return self.section("idle", [body], _e(intro))

    def risk(self) -> str:
        r = self.report
        rows = [
            [
                row.account,
                row.iccid,
                row.tariff,
                row.bearer,
                fmt_quantity(row.included, row.unit),
                fmt_quantity(row.used, row.unit),
                fmt_quantity(row.projected, row.unit),
                f"{row.projected_share:.0%}",
                f"{_period(row.cycle_start.date(), row.cycle_end.date(), end_excluded=True)}",
            ]
            for row in r.risk.rows
        ]
        body = self.listing(
            [
                "account",
                "ICCID",
                "tariff",
                "bearer",
                "included",
                "used",
                "projected",
                "of plan",
                "cycle",
            ],
            rows,
            numeric={4, 5, 6, 7},
            empty=self.nothing(
                r.risk, "No SIM on course to pass its plan among the SIMs assessed."
            ),
            what="plan_risk(store)",
        )
        return self.section(
            "risk",
            [body],
            "Usage so far this cycle, extrapolated to the cycle's end, above the plan.",
        )

    def anomalies(self) -> str:
        r = self.report
        spikes = self.listing(
            ["day", "account", "ICCID", "data", "trailing median", "ratio"],
            [
                [
                    f"{row.day:%Y-%m-%d}",
                    row.account,
                    row.iccid,
                    fmt_bytes(row.bytes),
                    fmt_bytes(row.median_bytes),
                    f"{row.ratio:.1f}x",
                ]
                for row in r.spikes.rows
            ],
            numeric={3, 4, 5},
            empty=self.nothing(r.spikes, "No spike among the SIMs assessed."),
            what="usage_spikes(store)",
        )
        stops = self.listing(
            ["account", "ICCID", "status now", "active days", "baseline data", "last usage (UTC)"],
            [
                [
                    row.account,
                    row.iccid,
                    f"{row.status} ({row.status_raw})" if row.status else "not in the store",
                    fmt_count(row.active_days),
                    fmt_bytes(row.baseline_bytes),
                    _when(row.last_usage),
                ]
                for row in r.stops.rows
            ],
            numeric={3, 4},
            empty=self.nothing(r.stops, "No SIM went from steady use to none."),
            what="usage_stops(store)",
        )
        return self.section(
            "anomalies",
            [
                f"<h3>Spikes: days above {r.spikes.parameters['k']:g}x the trailing median</h3>",
                spikes,
                "<h3>Stopped: steady use, then none</h3>",
                stops,
            ],
        )

    def gaps(self) -> str:
        grouped: dict[tuple[str, str, str, int | None], list[str]] = defaultdict(list)
        for insight in self.report.insights:
            for gap in insight.gaps:
                grouped[(gap.account, gap.connector, gap.reason, gap.sims)].append(insight.title)
        if not grouped:
            return self.section("gaps", [_empty("Every account had the data every insight needs.")])
        rows = [
            [account, connector, reason, "; ".join(titles), fmt_count(sims) if sims else ""]
            for (account, connector, reason, sims), titles in sorted(
                grouped.items(), key=lambda item: (item[0][0], item[0][2])
            )
        ]
        return self.section(
            "gaps",
            [_table(["account", "platform", "why", "left out of", "SIMs"], rows, numeric={4})],
            "What the insights could not assess, and why: missing data is never counted as zero.",
        )

    def definitions(self) -> str:
        items = "".join(
            f"<dt>{_e(insight.title)} <code>{_e(insight.name)}</code></dt>"
            f"<dd>{_e(insight.definition)}</dd>"
            for insight in self.report.insights
        )
        return self.section("definitions", [f"<dl>{items}</dl>"])

    # -- helpers -------------------------------------------------------------------------

    def label(self, account: str) -> str:
        connectors = {row.connector for row in self.report.fleet.rows if row.account == account}
        return (
            account if connectors == {account} else f"{account} ({', '.join(sorted(connectors))})"
        )

    def listing(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        numeric: set[int],
        empty: str,
        what: str,
    ) -> str:
        if not rows:
            return _empty(empty)
        shown = rows[: self.max_rows]
        more = ""
        if len(rows) > len(shown):
            more = (
                f'<p class="more">{len(rows) - len(shown):,} more not shown: the whole list is '
                f"<code>cdp_sdk.insights.{_e(what)}</code>.</p>"
            )
        return _table(headers, shown, numeric=numeric) + more

    def nothing(self, insight: Insight[Any], message: str) -> str:
        if insight.gaps:
            return f"{message} Some accounts could not be assessed: see Not assessed."
        return message


def _empty(message: str) -> str:
    return f'<p class="empty">{_e(message)}</p>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: set[int]) -> str:
    def cell(tag: str, i: int, value: str) -> str:
        align = ' class="num"' if i in numeric else ""
        return f"<{tag}{align}>{_e(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _period(start: date | None, end: date | None, *, end_excluded: bool = False) -> str:
    if start is None or end is None:
        return ""
    if end_excluded:
        end -= timedelta(days=1)
    month_end = (end + timedelta(days=1)).month != end.month
    if start.day == 1 and month_end and (start.year, start.month) == (end.year, end.month):
        return f"{start:%Y-%m}"
    return f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _latest_invoices(rows: Sequence[CostPeriod]) -> dict[str, Decimal]:
    """Per currency, the sum over accounts of each account's totals for the latest period
    it was billed for (on every platform it is on)."""
    billed = [
        (row.account, row.currency, row.period_start, row.total)
        for row in rows
        if row.total is not None and row.currency is not None and row.period_start is not None
    ]
    latest: dict[tuple[str, str], date] = {}
    for account, currency, start, _ in billed:
        latest[account, currency] = max(start, latest.get((account, currency), start))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for account, currency, start, total in billed:
        if start == latest[account, currency]:
            totals[currency] += total
    return dict(sorted(totals.items()))


_TITLES = (
    "Summary",
    "Fleet",
    "Usage",
    "Cost",
    "Idle but billable",
    "At risk of passing the plan",
    "Usage anomalies",
    "Not assessed",
    "Definitions",
)

_CSS = """
:root{color-scheme:light}
body{margin:0;background:#f8fafc;color:#0f172a;
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{background:#0f172a;color:#e2e8f0;padding:20px 32px 12px}
header h1{margin:0 0 4px;font-size:22px;color:#fff}
header p{margin:0 0 10px;color:#cbd5e1}
nav a{color:#93c5fd;margin-right:14px;text-decoration:none;font-size:13px}
main{max-width:1040px;margin:0 auto;padding:8px 24px 40px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:10px;margin:18px 0;padding:16px 20px}
h2{font-size:18px;margin:0 0 8px}
h3{font-size:14px;margin:18px 0 6px;color:#334155}
.intro{color:#475569;margin:0 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 12px;background:#f8fafc}
.card .label{color:#475569;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.card .figure{font-size:22px;font-weight:600;margin:2px 0}
.card .note{color:#64748b;font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top;
  overflow-wrap:break-word}
th{background:#f1f5f9;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td:nth-child(2){font-variant-numeric:tabular-nums}
.empty{color:#475569;font-style:italic}
.more{color:#64748b;font-size:12px}
dt{font-weight:600;margin-top:10px}
dd{margin:2px 0 0 0;color:#334155}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
svg{display:block;margin:6px 0 10px;max-width:100%;height:auto}
"""
