"""The journal of an apply: an intent before each call, an outcome after it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from cdp_sdk.changes._errors import PlanFileError
from cdp_sdk.changes._model import ApplyReport, Outcome, Plan

if TYPE_CHECKING:
    from cdp_sdk.workspace import AsyncWorkspace

__all__ = ["SIM_STEP", "ChangeJournal", "JournalEntry", "MemoryJournal", "last_entries"]

SIM_STEP = "sim"
"""The ``step`` of an entry about the whole SIM (a refusal of the plan, a failed read)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JournalEntry:
    """One line of the journal: an intent (a call is about to be made) or an outcome."""

    plan_id: str
    account: str
    iccid: str
    step: str
    """``status`` or ``tags`` (a call), or ``sim`` (the whole SIM)."""
    event: Literal["intent", "outcome"]
    outcome: Outcome | None = None
    code: str | None = None
    request_id: str | None = None
    detail: str | None = None
    request: Mapping[str, Any] | None = None
    """What the call asks for (``{"status": ...}`` or ``{"tags": ..., "remove": ...}``)."""
    run_id: int | None = None
    at: datetime = field(default_factory=_utcnow)

    @property
    def settled(self) -> bool:
        """Whether this entry closes its step for good (done, or nothing to do)."""
        return self.event == "outcome" and self.outcome in (Outcome.DONE, Outcome.SKIPPED)


class ChangeJournal:
    """Where an apply writes what it is about to do and what came of it.

    The protocol, which :func:`~cdp_sdk.changes.Plan.apply_async` follows:

    - :meth:`open` is awaited once, before any call: it records the plan (refusing a
      different plan under the same id) and returns the id of this apply run, if any.
    - :meth:`history` gives the entries earlier applies of the same plan wrote, oldest
      first: what they settled is not called again, a pending change is followed up
      rather than sent again, and an intent without an outcome is decided by the SIM's
      live state.
    - :meth:`record` makes one entry durable before it returns: an intent is recorded
      before its call is made, an outcome as soon as it is known.
    - :meth:`close` is awaited at the end, with the report (``None`` if the apply broke
      off).
    """

    async def open(self, plan: Plan, workspace: AsyncWorkspace) -> int | None:
        raise NotImplementedError

    async def history(self, plan: Plan) -> list[JournalEntry]:
        raise NotImplementedError

    async def record(self, entry: JournalEntry) -> None:
        raise NotImplementedError

    async def close(self, report: ApplyReport | None) -> None:
        return None


class MemoryJournal(ChangeJournal):
    """A journal kept in memory: applying a plan again with the same journal resumes it
    within the process. Use the store's journal (``store=``) to resume after a crash."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self._digests: dict[str, str] = {}
        self._runs = 0

    async def open(self, plan: Plan, workspace: AsyncWorkspace) -> int | None:
        known = self._digests.setdefault(plan.id, plan.digest)
        if known != plan.digest:
            raise PlanFileError(f"the journal holds a different plan with the id {plan.id!r}")
        self._runs += 1
        return self._runs

    async def history(self, plan: Plan) -> list[JournalEntry]:
        return [entry for entry in self.entries if entry.plan_id == plan.id]

    async def record(self, entry: JournalEntry) -> None:
        self.entries.append(entry)


def last_entries(entries: Iterable[JournalEntry]) -> dict[tuple[str, str, str], JournalEntry]:
    """The latest entry of each ``(account, iccid, step)``."""
    latest: dict[tuple[str, str, str], JournalEntry] = {}
    for entry in entries:
        latest[entry.account, entry.iccid, entry.step] = entry
    return latest


def entries_of(rows: Sequence[Mapping[str, Any]]) -> list[JournalEntry]:
    """Journal entries from rows with the entry's fields (the store's ``change_journal``)."""
    return [
        JournalEntry(
            plan_id=row["plan_id"],
            account=row["account"],
            iccid=row["iccid"],
            step=row["step"],
            event=row["event"],
            outcome=Outcome(row["outcome"]) if row["outcome"] else None,
            code=row["code"],
            request_id=row["request_id"],
            detail=row["detail"],
            request=row["request"],
            run_id=row["run_id"],
            at=row["at"],
        )
        for row in rows
    ]
