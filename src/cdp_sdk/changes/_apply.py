"""Applying a plan: accounts in parallel, each within its own limits, every step journaled.

For each SIM: what the journal says an earlier apply settled is not called again; the
live state is read; a step already in effect is not called; a step whose target changed
since the plan is refused; otherwise the intent is recorded, then the call made, then its
outcome recorded. A call the platform only accepted (``StatusChange.state == "pending"``)
is followed by reading the SIM again until it is in effect or the timeout passes.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cdp_sdk.changes._errors import TooManyChangesError
from cdp_sdk.changes._journal import (
    SIM_STEP,
    ChangeJournal,
    JournalEntry,
    MemoryJournal,
    last_entries,
)
from cdp_sdk.changes._model import (
    ApplyReport,
    Decision,
    Outcome,
    Plan,
    PlannedCall,
    PlannedChange,
    SimOutcome,
    SimState,
    Step,
    StepOutcome,
)
from cdp_sdk.changes._planner import DEFAULT_CONCURRENCY, describe_error
from cdp_sdk.changes._rules import call_changed, call_reached, wanted_reached
from cdp_sdk.errors import (
    CdpError,
    ConflictError,
    InvalidRequestError,
    PermissionDeniedError,
    UnsupportedCapabilityError,
)
from cdp_sdk.models import SimStatus

if TYPE_CHECKING:
    from cdp_sdk._facade import AsyncConnector
    from cdp_sdk.http import CallRecord
    from cdp_sdk.workspace import AsyncWorkspace

__all__ = [
    "AccountFinished",
    "AccountStarted",
    "ApplyEvent",
    "ApplyOptions",
    "CallStarting",
    "SimFinished",
    "apply_plan",
]

REFUSALS: tuple[type[CdpError], ...] = (
    ConflictError,
    InvalidRequestError,
    PermissionDeniedError,
    UnsupportedCapabilityError,
)
"""Errors that mean the platform (or the facade) said no; any other error is a failure."""


@dataclass(frozen=True)
class ApplyOptions:
    """How an apply paces itself.

    Attributes:
        concurrency: SIMs handled at once per account (default: the account's
            ``max_concurrency`` setting, else 4); the connector's rate limiter spaces the
            calls in any case.
        pending_timeout: seconds to follow a change the platform accepted but has not put
            into effect; after that it is reported as still ``pending``.
        poll_interval: seconds between reads of a pending SIM.
    """

    concurrency: int | None = None
    pending_timeout: float = 60.0
    poll_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.pending_timeout < 0:
            raise ValueError("pending_timeout must not be negative")
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")


@dataclass(frozen=True)
class AccountStarted:
    """An account's SIMs are about to be applied."""

    account: str
    total: int


@dataclass(frozen=True)
class CallStarting:
    """A call's intent is in the journal; the call is made next."""

    account: str
    iccid: str
    step: Step


@dataclass(frozen=True)
class SimFinished:
    """A SIM is finished (its outcome is in the journal)."""

    account: str
    outcome: SimOutcome


@dataclass(frozen=True)
class AccountFinished:
    """An account's SIMs are all finished."""

    account: str
    counts: dict[Outcome, int]


ApplyEvent = AccountStarted | CallStarting | SimFinished | AccountFinished
"""What an apply reports to its ``progress`` callback (e.g. to drive progress bars)."""


class _RequestIds:
    """The request ids the HTTP calls of one SIM's task got."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    @property
    def last(self) -> str | None:
        return self.ids[-1] if self.ids else None


_REQUESTS: contextvars.ContextVar[_RequestIds | None] = contextvars.ContextVar(
    "cdp_changes_requests", default=None
)


def _note_request(account: str, record: CallRecord) -> None:
    found = _REQUESTS.get()
    if found is not None and record.request_id:
        found.ids.append(record.request_id)


async def apply_plan(
    plan: Plan,
    workspace: AsyncWorkspace,
    *,
    journal: ChangeJournal | None,
    max_changes: int,
    confirm_irreversible: bool,
    options: ApplyOptions | None,
    progress: Callable[[ApplyEvent], None] | None,
) -> ApplyReport:
    """Apply ``plan`` (see :meth:`cdp_sdk.changes.Plan.apply_async`)."""
    if len(plan.to_apply) > max_changes:
        raise TooManyChangesError(len(plan.to_apply), max_changes)
    run = _Apply(
        plan,
        workspace,
        journal or MemoryJournal(),
        confirm_irreversible=confirm_irreversible,
        options=options or ApplyOptions(),
        progress=progress,
    )
    return await run.execute()


class _Apply:
    def __init__(
        self,
        plan: Plan,
        workspace: AsyncWorkspace,
        journal: ChangeJournal,
        *,
        confirm_irreversible: bool,
        options: ApplyOptions,
        progress: Callable[[ApplyEvent], None] | None,
    ) -> None:
        self.plan = plan
        self.workspace = workspace
        self.journal = journal
        self.confirm = confirm_irreversible
        self.options = options
        self.progress = progress
        self.run_id: int | None = None
        self.history: dict[tuple[str, str, str], JournalEntry] = {}

    def emit(self, event: ApplyEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    async def execute(self) -> ApplyReport:
        started = _utcnow()
        self.run_id = await self.journal.open(self.plan, self.workspace)
        report: ApplyReport | None = None
        try:
            self.history = last_entries(await self.journal.history(self.plan))
            groups: dict[str, list[tuple[int, PlannedChange]]] = {}
            for index, change in enumerate(self.plan.changes):
                groups.setdefault(change.account or "", []).append((index, change))
            remove = self.workspace.add_call_listener(_note_request)
            try:
                found = await _all(
                    _AccountRun(self, account, items).run() for account, items in groups.items()
                )
            finally:
                remove()
            ordered = sorted((pair for pairs in found for pair in pairs), key=lambda p: p[0])
            report = ApplyReport(
                plan_id=self.plan.id,
                run_id=self.run_id,
                started_at=started,
                finished_at=_utcnow(),
                outcomes=tuple(outcome for _, outcome in ordered),
            )
            return report
        finally:
            await self.journal.close(report)

    async def record(
        self,
        change: PlannedChange,
        step: str,
        *,
        event: str = "outcome",
        outcome: Outcome | None = None,
        code: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> None:
        account, iccid = change.key
        await self.journal.record(
            JournalEntry(
                plan_id=self.plan.id,
                account=account,
                iccid=iccid,
                step=step,
                event=event,  # type: ignore[arg-type]
                outcome=outcome,
                code=code,
                request_id=request_id,
                detail=detail,
                request=request,
                run_id=self.run_id,
            )
        )


_SEVERITY = (Outcome.FAILED, Outcome.REFUSED, Outcome.PENDING, Outcome.DONE)
"""A SIM's outcome is the first of these one of its steps has, else skipped."""


@dataclass
class _Sim:
    """One SIM on its way through an apply."""

    index: int
    change: PlannedChange
    steps: list[StepOutcome] = field(default_factory=list)
    pending: dict[Step, tuple[PlannedCall, float, float]] = field(default_factory=dict)
    """Steps the platform accepted: call, when sent (monotonic), deadline."""
    followed: bool = False
    """Whether a step was pending (the SIM finishes once it is followed up)."""

    def outcome(self) -> SimOutcome:
        account, iccid = self.change.key
        kinds = {step.outcome for step in self.steps}
        overall = next((k for k in _SEVERITY if k in kinds), Outcome.SKIPPED)
        return SimOutcome(
            account=account,
            iccid=iccid,
            line=self.change.change.line,
            outcome=overall,
            steps=tuple(self.steps),
        )


class _AccountRun:
    def __init__(self, apply: _Apply, account: str, items: list[tuple[int, PlannedChange]]) -> None:
        self.apply = apply
        self.account = account
        self.sims = [_Sim(index, change) for index, change in items]
        self.connector: AsyncConnector | None = None
        self.slots = asyncio.Semaphore(1)

    async def run(self) -> list[tuple[int, SimOutcome]]:
        apply = self.apply
        apply.emit(AccountStarted(self.account, len(self.sims)))
        setup_error: str | None = None
        if any(s.change.decision in (Decision.APPLY, Decision.SKIP) for s in self.sims):
            try:
                self.connector = apply.workspace.connector(self.account)
            except Exception as exc:
                setup_error = describe_error(exc)
            else:
                settings = self.connector.settings
                workers = (
                    apply.options.concurrency or settings.max_concurrency or DEFAULT_CONCURRENCY
                )
                self.slots = asyncio.Semaphore(workers)
        await _all(self._sim(sim, setup_error) for sim in self.sims)
        await self._follow_pending()
        outcomes = [(sim.index, sim.outcome()) for sim in self.sims]
        for sim in self.sims:
            if sim.followed:  # finished only now
                self.apply.emit(SimFinished(self.account, sim.outcome()))
        counts = Counter(outcome.outcome for _, outcome in outcomes)
        apply.emit(AccountFinished(self.account, {o: counts[o] for o in Outcome}))
        return outcomes

    # -- one SIM -----------------------------------------------------------------------------

    async def _sim(self, sim: _Sim, setup_error: str | None) -> None:
        await self._handle(sim, setup_error)
        if not sim.followed:
            self.apply.emit(SimFinished(self.account, sim.outcome()))

    async def _handle(self, sim: _Sim, setup_error: str | None) -> None:
        change = sim.change
        if change.decision in (Decision.ERROR, Decision.REFUSE):
            reason = change.reasons[0] if change.reasons else None
            outcome = Outcome.FAILED if change.decision is Decision.ERROR else Outcome.REFUSED
            await self._finish(
                sim, None, outcome, reason.code if reason else None, _plan_message(change)
            )
            return
        if setup_error is not None:
            await self._finish(sim, None, Outcome.FAILED, "account", setup_error)
            return
        earlier = {
            call.step: self.apply.history.get((*change.key, call.step.value))
            for call in change.calls
        }
        if change.calls and all(e is not None and e.settled for e in earlier.values()):
            for call in change.calls:
                await self._finish(sim, call.step, *_settled(earlier[call.step]))
            return
        async with self.slots:
            now = await self._read(sim)
            if now is None:
                return
            if change.decision is Decision.SKIP:
                await self._recheck_skip(sim, now)
                return
            for call in change.calls:
                if not await self._step(sim, call, earlier.get(call.step), now):
                    break

    async def _recheck_skip(self, sim: _Sim, now: SimState) -> None:
        if wanted_reached(sim.change.change, now):
            await self._finish(
                sim, None, Outcome.SKIPPED, "in_wanted_state", "already in the wanted state"
            )
        else:
            await self._finish(
                sim,
                None,
                Outcome.REFUSED,
                "changed_since_plan",
                f"in the wanted state when planned, no longer: now {now.describe()}",
            )

    async def _step(
        self, sim: _Sim, call: PlannedCall, earlier: JournalEntry | None, now: SimState
    ) -> bool:
        """One call of a SIM; whether the SIM's next call may follow."""
        if earlier is not None and earlier.settled:
            await self._finish(sim, call.step, *_settled(earlier))
            return True
        if call_reached(call, now):
            if earlier is not None:  # an earlier call went through after all
                await self._finish(
                    sim,
                    call.step,
                    Outcome.DONE,
                    "confirmed",
                    "in effect: the call of an earlier apply went through",
                    request_id=earlier.request_id,
                )
            else:
                await self._finish(sim, call.step, Outcome.SKIPPED, "in_wanted_state", "already so")
            return True
        if earlier is not None and earlier.outcome is Outcome.PENDING:
            # Accepted earlier: follow it up, never send again.
            self._wait_for(sim, call, request_id=earlier.request_id)
            return True
        if (changed := call_changed(call, sim.change.current, now)) is not None:
            await self._finish(sim, call.step, Outcome.REFUSED, "changed_since_plan", changed)
            return False
        if call.step is Step.STATUS and call.status is SimStatus.RETIRED and not self.apply.confirm:
            await self._finish(
                sim,
                call.step,
                Outcome.REFUSED,
                "confirm_irreversible",
                "retiring a SIM cannot be undone: apply with confirm_irreversible",
            )
            return False
        return await self._call(sim, call)

    async def _call(self, sim: _Sim, call: PlannedCall) -> bool:
        connector = self.connector
        assert connector is not None
        change = sim.change
        iccid = change.key[1]
        await self.apply.record(change, call.step.value, event="intent", request=_request(call))
        self.apply.emit(CallStarting(self.account, iccid, call.step))
        requests = _RequestIds()
        token = _REQUESTS.set(requests)
        try:
            if call.step is Step.STATUS:
                assert call.status is not None
                result = await connector.change_status(
                    iccid, call.status, confirm_irreversible=self.apply.confirm
                )
                pending = result.state == "pending"
                request_id = result.request_id or requests.last
            else:
                await connector.update_tags(iccid, call.tags, remove=call.remove)
                pending, request_id = False, requests.last
        except Exception as exc:
            return await self._after_error(sim, call, exc, requests)
        finally:
            _REQUESTS.reset(token)
        if pending:
            await self._finish(
                sim,
                call.step,
                Outcome.PENDING,
                None,
                "accepted by the platform, not yet in effect",
                request_id=request_id,
            )
            self._wait_for(sim, call, journaled=True)
        else:
            await self._finish(sim, call.step, Outcome.DONE, None, None, request_id=request_id)
        return True

    async def _after_error(
        self, sim: _Sim, call: PlannedCall, error: Exception, requests: _RequestIds
    ) -> bool:
        request_id = (getattr(error, "request_id", None)) or requests.last
        code = getattr(error, "vendor_code", None)
        # A timeout after sending, or a move the platform had already made: read the SIM.
        now = await self._read(sim, record=False)
        if now is not None and call_reached(call, now):
            await self._finish(
                sim,
                call.step,
                Outcome.DONE,
                code or "confirmed",
                f"in effect, although the platform answered {describe_error(error)}",
                request_id=request_id,
            )
            return True
        outcome = Outcome.REFUSED if isinstance(error, REFUSALS) else Outcome.FAILED
        await self._finish(
            sim, call.step, outcome, code, describe_error(error), request_id=request_id
        )
        return False

    async def _read(self, sim: _Sim, *, record: bool = True) -> SimState | None:
        """The SIM's live state; ``None`` (and, with ``record``, a failed outcome) when it
        cannot be read."""
        connector = self.connector
        assert connector is not None
        try:
            found = await connector.subscription(sim.change.key[1])
        except Exception as exc:
            if record:
                outcome = Outcome.REFUSED if isinstance(exc, REFUSALS) else Outcome.FAILED
                code = getattr(exc, "vendor_code", None) or "read_failed"
                await self._finish(sim, None, outcome, code, describe_error(exc))
            return None
        return SimState.of(found, observed_at=_utcnow(), source="live")

    async def _finish(
        self,
        sim: _Sim,
        step: Step | None,
        outcome: Outcome,
        code: str | None,
        message: str | None,
        *,
        request_id: str | None = None,
    ) -> None:
        """Journal a step's (or the SIM's) outcome, then count it."""
        await self.apply.record(
            sim.change,
            step.value if step is not None else SIM_STEP,
            outcome=outcome,
            code=code,
            detail=message,
            request_id=request_id,
        )
        result = StepOutcome(
            step=step, outcome=outcome, code=code, message=message, request_id=request_id
        )
        sim.steps = [s for s in sim.steps if s.step is not step or step is None] + [result]

    # -- pending changes -----------------------------------------------------------------------

    def _wait_for(
        self,
        sim: _Sim,
        call: PlannedCall,
        *,
        journaled: bool = False,
        request_id: str | None = None,
    ) -> None:
        now = time.monotonic()
        sim.pending[call.step] = (call, now, now + self.apply.options.pending_timeout)
        sim.followed = True
        if not journaled:
            sim.steps.append(
                StepOutcome(
                    step=call.step,
                    outcome=Outcome.PENDING,
                    message="accepted by an earlier apply, not yet in effect",
                    request_id=request_id,
                )
            )

    async def _follow_pending(self) -> None:
        """Read the pending SIMs until their changes are in effect or time runs out."""
        options = self.apply.options
        while waiting := [sim for sim in self.sims if sim.pending]:
            await asyncio.sleep(options.poll_interval)
            await _all(self._poll(sim) for sim in waiting)

    async def _poll(self, sim: _Sim) -> None:
        async with self.slots:
            now = await self._read(sim, record=False)
        clock = time.monotonic()
        for step, (call, sent, deadline) in list(sim.pending.items()):
            previous = next((s for s in sim.steps if s.step is step), None)
            request_id = previous.request_id if previous else None
            if now is not None and call_reached(call, now):
                del sim.pending[step]
                await self._finish(
                    sim,
                    step,
                    Outcome.DONE,
                    "completed",
                    f"in effect after {clock - sent:.1f} s",
                    request_id=request_id,
                )
            elif clock >= deadline:
                del sim.pending[step]
                await self._finish(
                    sim,
                    step,
                    Outcome.PENDING,
                    "timeout",
                    f"not in effect after {self.apply.options.pending_timeout:g} s: apply the "
                    "plan again to follow it up",
                    request_id=request_id,
                )


def _settled(entry: JournalEntry | None) -> tuple[Outcome, str, str]:
    run = f" (run {entry.run_id})" if entry is not None and entry.run_id is not None else ""
    return Outcome.SKIPPED, "done_earlier", f"settled by an earlier apply{run}"


def _plan_message(change: PlannedChange) -> str:
    return "; ".join(reason.message for reason in change.reasons) or change.decision.value


def _request(call: PlannedCall) -> dict[str, Any]:
    if call.step is Step.STATUS:
        return {"status": call.status.value if call.status else None}
    return {"tags": dict(call.tags), "remove": list(call.remove)}


async def _all(coroutines: Any) -> list[Any]:
    """Run ``coroutines`` together; the first exception cancels the others and is raised."""
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None
    return [task.result() for task in tasks]


def _utcnow() -> datetime:
    return datetime.now(UTC)
