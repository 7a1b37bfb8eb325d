"""How ``cdp changes`` shows plans, outcomes, journals and per-account progress (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

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

from cdp_sdk.changes import (
    AccountFinished,
    AccountStarted,
    ApplyEvent,
    ApplyReport,
    JournalEntry,
    Outcome,
    Plan,
    SimFinished,
)
from cdp_sdk.cli._render import WHOLE, number

__all__ = ["ApplyProgress", "journal_table", "outcomes_table", "plan_table"]

_DECISION_STYLE = {"apply": "bold", "skip": "dim", "refuse": "yellow", "error": "bold red"}
_OUTCOME_STYLE = {
    "done": "green",
    "skipped": "dim",
    "pending": "cyan",
    "refused": "yellow",
    "failed": "bold red",
}


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    for name in columns:
        table.add_column(
            name,
            justify="right" if name == "line" else "left",
            no_wrap=name in WHOLE,
            overflow="fold",
        )
    return table


def plan_table(plan: Plan) -> Table:
    """One row per SIM: its account, state (and how old), what is wanted, the calls, the
    decision and why."""
    title = f"Plan {plan.id} ({plan.source} state)"
    table = _table(
        "line", "account", "iccid", "current", "seen", "wanted", "calls", "decision", "why",
        title=title,
    )  # fmt: skip
    for row in plan.rows():
        table.add_row(
            "" if row["line"] is None else str(row["line"]),
            row["account"],
            row["iccid"],
            row["current"],
            row["seen"],
            row["wanted"],
            row["calls"].replace("; ", "\n"),
            Text(row["decision"], style=_DECISION_STYLE.get(row["decision"], "")),
            row["why"],
        )
    return table


def outcomes_table(report: ApplyReport, *, everything: bool = False) -> Table:
    """The SIMs that are not done (every SIM with ``everything``)."""
    table = _table("line", "account", "iccid", "outcome", "code", "request id", "detail")
    for outcome in report.outcomes:
        if not everything and outcome.outcome in (Outcome.DONE, Outcome.SKIPPED):
            continue
        table.add_row(
            "" if outcome.line is None else str(outcome.line),
            outcome.account,
            outcome.iccid,
            Text(outcome.outcome.value, style=_OUTCOME_STYLE[outcome.outcome.value]),
            outcome.code or "",
            outcome.request_id or "",
            outcome.message or "",
        )
    return table


def journal_table(entries: Sequence[JournalEntry]) -> Table:
    """The journal of a plan, oldest first."""
    table = _table(
        "time (UTC)", "run", "account", "iccid", "step", "event", "outcome", "code", "detail"
    )
    for entry in entries:
        outcome = entry.outcome.value if entry.outcome is not None else ""
        table.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            "" if entry.run_id is None else str(entry.run_id),
            entry.account,
            entry.iccid,
            entry.step,
            entry.event,
            Text(outcome, style=_OUTCOME_STYLE.get(outcome, "")),
            entry.code or "",
            entry.detail or "",
        )
    return table


class ApplyProgress:
    """Progress bars of an apply, one per account: SIMs finished and the outcomes so far.
    Pass the instance as the apply's ``progress``."""

    def __init__(self, out: Console, plan: Plan) -> None:
        accounts: dict[str, int] = {}
        for change in plan.changes:
            name = change.account or change.change.account or ""
            accounts[name] = accounts.get(name, 0) + 1
        width = max((len(name or "(unresolved)") for name in accounts), default=0)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=out,
        )
        self._tasks: dict[str, TaskID] = {}
        self._counts: dict[str, dict[Outcome, int]] = {}
        for name, total in sorted(accounts.items()):
            self._counts[name] = dict.fromkeys(Outcome, 0)
            self._tasks[name] = self._progress.add_task(
                f"{name or '(unresolved)':<{width}}", total=total, counts="waiting"
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

    def __call__(self, event: ApplyEvent) -> None:
        task = self._tasks.get(event.account)
        if task is None:
            return
        if isinstance(event, AccountStarted):
            self._progress.update(task, counts="starting")
        elif isinstance(event, SimFinished):
            counts = self._counts[event.account]
            counts[event.outcome.outcome] += 1
            self._progress.update(task, advance=1, counts=_counts(counts))
        elif isinstance(event, AccountFinished):
            self._progress.update(task, counts=_counts(event.counts))


def _counts(counts: dict[Outcome, int]) -> str:
    shown = [f"{number(n)} {outcome.value}" for outcome, n in counts.items() if n]
    return ", ".join(shown) or "-"
