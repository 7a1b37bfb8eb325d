"""The values of bulk changes: wanted states, plans, outcomes and reports.

All are frozen pydantic models, so a plan survives a JSON round trip unchanged and can be
saved, reviewed and applied later.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from cdp_sdk.changes._errors import PlanFileError
from cdp_sdk.models import CdpModel, SimStatus, Subscription, normalize_iccid
from cdp_sdk.models._identifiers import UtcDatetime

if TYPE_CHECKING:
    from cdp_sdk.changes._apply import ApplyEvent, ApplyOptions
    from cdp_sdk.changes._journal import ChangeJournal
    from cdp_sdk.sync import Store
    from cdp_sdk.workspace import AsyncWorkspace, Workspace

__all__ = [
    "PLAN_FORMAT",
    "ApplyReport",
    "Change",
    "Decision",
    "Outcome",
    "Plan",
    "PlannedCall",
    "PlannedChange",
    "Reason",
    "SimOutcome",
    "SimState",
    "Step",
    "StepOutcome",
]

PLAN_FORMAT = "cdp-changes-plan"
PLAN_VERSION = 1


class Decision(StrEnum):
    """What a plan does with one SIM."""

    APPLY = "apply"  # calls will be made
    SKIP = "skip"  # already in the wanted state: nothing to call
    REFUSE = "refuse"  # the change cannot be made (reasons say why); nothing is called
    ERROR = "error"  # the SIM could not be resolved to one account


class Step(StrEnum):
    """One call a change may need."""

    STATUS = "status"  # change_status()
    TAGS = "tags"  # update_tags()


class Outcome(StrEnum):
    """What applying a change did."""

    DONE = "done"  # the platform made the change
    SKIPPED = "skipped"  # nothing to do: already in the wanted state, or done earlier
    PENDING = "pending"  # accepted by the platform, not yet in effect
    REFUSED = "refused"  # refused, by the plan or the platform (code says which)
    FAILED = "failed"  # could not be made: an error, not a refusal

    @property
    def ok(self) -> bool:
        """Whether the SIM is (or already was) in its wanted state."""
        return self in (Outcome.DONE, Outcome.SKIPPED)


class Change(CdpModel):
    """The wanted state of one SIM: a status, tags to set, tag keys to remove.

    ``iccid`` is taken with or without its Luhn check digit; ``account`` pins the SIM to a
    workspace account (otherwise the plan finds it). Tag values are text, or ``None`` for
    a key without a value (a label).
    """

    iccid: str
    status: SimStatus | None = None
    tags: dict[str, str | None] = Field(default_factory=dict)
    remove: tuple[str, ...] = ()
    account: str | None = None
    line: int | None = None
    """Where the change came from: the CSV line, or the position in the input (from 1)."""

    @field_validator("iccid")
    @classmethod
    def _iccid(cls, value: str) -> str:
        try:
            return normalize_iccid(value)
        except (TypeError, ValueError):
            raise ValueError("not a valid ICCID (18 to 22 digits)") from None

    @field_validator("status")
    @classmethod
    def _status(cls, value: SimStatus | None) -> SimStatus | None:
        if value is SimStatus.UNKNOWN:
            raise ValueError("cannot request the status 'unknown'")
        return value

    @field_validator("remove")
    @classmethod
    def _remove(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _check(self) -> Self:
        for key in (*self.tags, *self.remove):
            if not key.strip():
                raise ValueError("tag keys must be non-empty")
        if clash := sorted(set(self.tags) & set(self.remove)):
            raise ValueError(f"tags both set and removed: {', '.join(clash)}")
        if self.status is None and not self.tags and not self.remove:
            raise ValueError("nothing to change: give a status, tags to set or tags to remove")
        return self

    def describe(self) -> str:
        """``suspended; customer=acme; -old`` (what is wanted, in one line)."""
        parts = [self.status.value] if self.status is not None else []
        parts += [_tag_text(key, value) for key, value in self.tags.items()]
        parts += [f"-{key}" for key in self.remove]
        return "; ".join(parts)


class SimState(CdpModel):
    """A SIM's state as a plan saw it: read live, or from the store (``observed_at`` is
    when the store last synced it)."""

    status: SimStatus
    status_raw: str
    tags: dict[str, str | None] = Field(default_factory=dict)
    observed_at: UtcDatetime
    source: Literal["live", "store"]

    @classmethod
    def of(
        cls, sim: Subscription, *, observed_at: datetime, source: Literal["live", "store"]
    ) -> SimState:
        """The state of ``sim``."""
        return cls(
            status=sim.status,
            status_raw=sim.status_raw,
            tags={tag.key: tag.value for tag in sim.tags},
            observed_at=observed_at,
            source=source,
        )

    def describe(self) -> str:
        """``active (ACTIVATED)``: the status and, when it differs, the platform's state."""
        if self.status_raw.lower() == self.status.value:
            return self.status.value
        return f"{self.status.value} ({self.status_raw})"


class PlannedCall(CdpModel):
    """A call a plan will make: ``change_status`` or ``update_tags``."""

    step: Step
    status: SimStatus | None = None
    """``change_status``: the status requested."""
    transition: str | None = None
    """``change_status``: the platform states, e.g. ``Activated -> Suspended``."""
    tags: dict[str, str | None] = Field(default_factory=dict)
    """``update_tags``: the tags set (only those not already so)."""
    remove: tuple[str, ...] = ()
    """``update_tags``: the keys removed (only those present)."""

    def describe(self) -> str:
        """``change_status(suspended): Activated -> Suspended`` or ``update_tags(...)``."""
        if self.step is Step.STATUS:
            status = self.status.value if self.status is not None else "?"
            return f"change_status({status})" + (f": {self.transition}" if self.transition else "")
        changes = [_tag_text(key, value) for key, value in self.tags.items()]
        changes += [f"-{key}" for key in self.remove]
        return f"update_tags({', '.join(changes)})"


class Reason(CdpModel):
    """Why a SIM is refused, skipped or in error: a stable ``code`` and a message."""

    code: str
    message: str


class PlannedChange(CdpModel):
    """One SIM of a plan: where it lives, its state, what is wanted and what will be done."""

    change: Change
    """The wanted state, as given."""
    decision: Decision
    iccid: str | None = None
    """The SIM's full ICCID as its platform shows it (``None``: not resolved)."""
    account: str | None = None
    connector: str | None = None
    current: SimState | None = None
    calls: tuple[PlannedCall, ...] = ()
    """The calls apply will make, in order."""
    reasons: tuple[Reason, ...] = ()
    """Why the SIM is refused or in error (or skipped)."""
    notes: tuple[str, ...] = ()
    """What the plan could not check (e.g. a platform state missing from its table)."""

    @property
    def key(self) -> tuple[str, str]:
        """``(account, iccid)``, or the pinned account and the ICCID as given."""
        return (self.account or self.change.account or "", self.iccid or self.change.iccid)

    def row(self, created_at: datetime) -> dict[str, Any]:
        """The change as one flat row (for tables and DataFrames)."""
        current = self.current
        return {
            "line": self.change.line,
            "account": self.account or self.change.account or "",
            "connector": self.connector or "",
            "iccid": self.iccid or self.change.iccid,
            "current": current.describe() if current else "",
            "seen": _seen(current, created_at),
            "wanted": self.change.describe(),
            "calls": "; ".join(call.describe() for call in self.calls),
            "decision": self.decision.value,
            "why": "; ".join([r.message for r in self.reasons] + list(self.notes)),
        }


class Plan(CdpModel):
    """What applying a change set will do, SIM by SIM; nothing has been called.

    Build one with :meth:`cdp_sdk.changes.ChangeSet.plan`; print it (a table), save it as
    JSON (:meth:`save`), load it later (:meth:`load`) and apply it (:meth:`apply`).
    """

    format: Literal["cdp-changes-plan"] = "cdp-changes-plan"
    version: Literal[1] = 1
    id: str
    """Names the plan in the store's journal: applying the same plan again resumes it."""
    created_at: UtcDatetime
    source: Literal["live", "store"]
    """Where the current states were read."""
    max_changes: int
    confirm_irreversible: bool = False
    changes: tuple[PlannedChange, ...] = ()

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.changes)

    @property
    def to_apply(self) -> tuple[PlannedChange, ...]:
        """The SIMs with calls to make."""
        return tuple(c for c in self.changes if c.decision is Decision.APPLY)

    @property
    def counts(self) -> dict[Decision, int]:
        """SIMs per decision (every decision present, zeros included)."""
        found = Counter(change.decision for change in self.changes)
        return {decision: found[decision] for decision in Decision}

    @property
    def ok(self) -> bool:
        """Whether no SIM is refused or in error."""
        counts = self.counts
        return not counts[Decision.REFUSE] and not counts[Decision.ERROR]

    @property
    def digest(self) -> str:
        """A SHA-256 digest of the planned changes: what the store checks when the same
        plan id comes back."""
        body = [change.model_dump(mode="json") for change in self.changes]
        text = json.dumps(
            [self.id, self.confirm_irreversible, body], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per SIM: ``pandas.DataFrame(plan.rows())`` shows the plan."""
        return [change.row(self.created_at) for change in self.changes]

    def summary(self) -> str:
        """``12 SIMs: 9 to change, 2 already so, 1 refused, 0 errors``."""
        counts = self.counts
        return (
            f"{len(self.changes):,} SIMs: {counts[Decision.APPLY]:,} to change, "
            f"{counts[Decision.SKIP]:,} already so, {counts[Decision.REFUSE]:,} refused, "
            f"{counts[Decision.ERROR]:,} in error"
        )

    def __str__(self) -> str:
        columns = ["line", "account", "iccid", "current", "seen", "wanted", "calls", "decision"]
        columns.append("why")
        rows = [[_cell(row[c]) for c in columns] for row in self.rows()]
        header = f"Plan {self.id} ({self.source} state, {self.created_at:%Y-%m-%d %H:%M} UTC)"
        return "\n".join([header, _text_table(columns, rows), self.summary()])

    # -- JSON and files ------------------------------------------------------------------

    def to_json(self, *, indent: int | None = 2) -> str:
        """The plan as JSON (:meth:`from_json` reads it back)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "<string>") -> Plan:
        """The plan in ``text``; :class:`PlanFileError` when it is not a plan."""
        try:
            data = json.loads(text)
        except ValueError:
            raise PlanFileError(f"{source}: not JSON") from None
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise PlanFileError(f"{source}: not a cdp changes plan")
        if data.get("version") != PLAN_VERSION:
            raise PlanFileError(
                f"{source}: plan format version {data.get('version')!r}; this cdp-sdk reads "
                f"version {PLAN_VERSION}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise PlanFileError(f"{source}: not a valid plan ({where}: {first['msg']})") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the plan as JSON, readable by its owner only (it lists ICCIDs)."""
        file = Path(path)
        file.touch(mode=0o600)
        file.chmod(0o600)
        file.write_text(self.to_json() + "\n", encoding="utf-8")
        return file

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Plan:
        """The plan saved at ``path``; :class:`PlanFileError` when it cannot be used."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PlanFileError(f"cannot read the plan {os.fspath(path)!r}: {exc}") from None
        return cls.from_json(text, source=os.fspath(path))

    # -- applying ----------------------------------------------------------------------

    def apply(
        self,
        workspace: Workspace,
        *,
        store: Store | None = None,
        journal: ChangeJournal | None = None,
        max_changes: int | None = None,
        confirm_irreversible: bool = False,
        options: ApplyOptions | None = None,
        progress: Callable[[ApplyEvent], None] | None = None,
    ) -> ApplyReport:
        """Make the planned calls (see :meth:`apply_async`)."""
        from cdp_sdk.workspace import Workspace

        if not isinstance(workspace, Workspace):
            raise TypeError(
                "expected a Workspace; with an AsyncWorkspace, await plan.apply_async()"
            )
        return workspace.run(
            lambda async_workspace: self.apply_async(
                async_workspace,
                store=store,
                journal=journal,
                max_changes=max_changes,
                confirm_irreversible=confirm_irreversible,
                options=options,
                progress=progress,
            )
        )

    async def apply_async(
        self,
        workspace: AsyncWorkspace,
        *,
        store: Store | None = None,
        journal: ChangeJournal | None = None,
        max_changes: int | None = None,
        confirm_irreversible: bool = False,
        options: ApplyOptions | None = None,
        progress: Callable[[ApplyEvent], None] | None = None,
    ) -> ApplyReport:
        """Make the planned calls, account by account in parallel, and report each SIM.

        Each SIM's live state is read again first: a SIM already in its wanted state is
        skipped, one that changed since the plan is refused (``changed_since_plan``), not
        overwritten. Every intent (before a call) and outcome (after it) goes to the
        journal as it happens: the store's (``store=``), else ``journal``, else one in
        memory. Applying the same plan again resumes it: what the journal says is done is
        not called again, and a call that may have been made before an interruption is
        decided by the SIM's live state, never sent blindly.

        Args:
            workspace: the accounts.
            store: journal into this store (``change_journal``; HTTP calls in
                ``api_calls``, under a run of kind ``changes``).
            journal: another journal (see :class:`~cdp_sdk.changes.ChangeJournal`).
            max_changes: refuse the whole plan, before any call, when it changes more
                SIMs (default: the plan's own ``max_changes``).
            confirm_irreversible: allow the planned retirements (without it they are
                refused, SIM by SIM).
            options: concurrency per account, pending polls (:class:`ApplyOptions`).
            progress: called with each :data:`ApplyEvent`, on the event loop.

        Raises:
            TooManyChangesError: the plan changes more SIMs than ``max_changes``.
            PlanFileError: the store holds another plan under this plan's id.
        """
        from cdp_sdk.changes._apply import apply_plan

        if store is not None:
            if journal is not None:
                raise ValueError("pass a store or a journal, not both")
            from cdp_sdk.sync._changes import StoreJournal

            journal = StoreJournal(store)
        return await apply_plan(
            self,
            workspace,
            journal=journal,
            max_changes=self.max_changes if max_changes is None else max_changes,
            confirm_irreversible=confirm_irreversible,
            options=options,
            progress=progress,
        )


class StepOutcome(CdpModel):
    """What applying one call (or the whole SIM, ``step=None``) did."""

    step: Step | None = None
    outcome: Outcome
    code: str | None = None
    """The vendor's error code, or a local one (``changed_since_plan``, ``done_earlier``,
    ``in_wanted_state``, ``confirm_irreversible``, ...)."""
    message: str | None = None
    request_id: str | None = None
    """The platform's id of the request, where it gave one."""


class SimOutcome(CdpModel):
    """What applying a plan did to one SIM."""

    account: str
    iccid: str
    line: int | None = None
    outcome: Outcome
    steps: tuple[StepOutcome, ...] = ()

    @property
    def code(self) -> str | None:
        """The code of the step that decided the outcome."""
        return self._deciding().code if self.steps else None

    @property
    def message(self) -> str | None:
        """The message of the step that decided the outcome."""
        return self._deciding().message if self.steps else None

    @property
    def request_id(self) -> str | None:
        """The last request id a step of this SIM got."""
        ids = [step.request_id for step in self.steps if step.request_id]
        return ids[-1] if ids else None

    def _deciding(self) -> StepOutcome:
        return next((s for s in self.steps if s.outcome is self.outcome), self.steps[-1])


class ApplyReport(CdpModel):
    """What applying a plan did, SIM by SIM."""

    plan_id: str
    run_id: int | None = None
    """The store's run (``sync_runs``, kind ``changes``), when journaled into a store."""
    started_at: UtcDatetime
    finished_at: UtcDatetime
    outcomes: tuple[SimOutcome, ...] = ()

    @property
    def counts(self) -> dict[Outcome, int]:
        """SIMs per outcome (every outcome present, zeros included)."""
        found = Counter(outcome.outcome for outcome in self.outcomes)
        return {outcome: found[outcome] for outcome in Outcome}

    @property
    def ok(self) -> bool:
        """Whether every SIM is done or skipped (nothing refused, failed or pending)."""
        return all(outcome.outcome.ok for outcome in self.outcomes)

    def summary(self) -> str:
        """``12 SIMs: 9 done, 2 skipped, 0 pending, 1 refused, 0 failed``."""
        counts = self.counts
        return f"{len(self.outcomes):,} SIMs: " + ", ".join(
            f"{counts[outcome]:,} {outcome.value}" for outcome in Outcome
        )

    def outcome(self, iccid: str) -> SimOutcome:
        """The outcome for one SIM (``KeyError`` if the plan had none)."""
        for found in self.outcomes:
            if found.iccid == iccid:
                return found
        raise KeyError(iccid)


# -- text helpers -----------------------------------------------------------------------------


def _tag_text(key: str, value: str | None) -> str:
    return key if value is None else f"{key}={value}"


def age(delta: timedelta) -> str:
    """``45 s``, ``12 min``, ``3 h``, ``2 d``: how old a state is."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _seen(current: SimState | None, created_at: datetime) -> str:
    if current is None:
        return ""
    if current.source == "live":
        return "live"
    return f"store, {age(created_at - current.observed_at)} old"


def _cell(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    lines = [line(columns), line(["-" * width for width in widths])]
    lines += [line(row) for row in rows]
    return "\n".join(text.rstrip() for text in lines)
