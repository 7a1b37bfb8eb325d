"""The rules a plan and an apply share (pure functions): what a change needs, whether a
SIM is in its wanted state, and what changed since the plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdp_sdk._connector import BaseConnector
from cdp_sdk.changes._model import (
    Change,
    Decision,
    PlannedCall,
    Reason,
    SimState,
    Step,
)
from cdp_sdk.models import ActivationMode, Capability, SimStatus, Subscription

__all__ = ["Decided", "call_changed", "call_reached", "decide", "wanted_reached"]

_MISSING = object()


@dataclass(frozen=True)
class Decided:
    """What a plan does with one resolved SIM."""

    decision: Decision
    calls: tuple[PlannedCall, ...] = ()
    reasons: tuple[Reason, ...] = ()
    notes: tuple[str, ...] = ()


def decide(
    change: Change,
    sim: Subscription,
    connector: type[BaseConnector],
    modes: Sequence[ActivationMode] | None,
    *,
    confirm_irreversible: bool,
) -> Decided:
    """The calls ``change`` needs on ``sim`` and the reasons to refuse it, before any call.

    A status already reached and tags already so need no call. A status change is refused
    when the connector cannot change statuses, when a retirement is not confirmed, when the
    platform has no state for the status that its API can set, or when its
    activation-mode table does not lead from the SIM's state to one. Tags are refused when
    :meth:`BaseConnector.tag_problems` finds a problem. A SIM with any refusal gets no call
    at all: it is never half-changed.
    """
    reasons: list[Reason] = []
    notes: list[str] = []
    calls: list[PlannedCall] = []
    name = connector.name
    if change.status is not None and sim.status is not change.status:
        call = _status_call(change.status, sim, connector, modes, reasons, notes)
        if change.status is SimStatus.RETIRED and not confirm_irreversible:
            reasons.append(
                Reason(
                    code="confirm_irreversible",
                    message="retiring a SIM cannot be undone: plan with confirm_irreversible",
                )
            )
        if call is not None:
            calls.append(call)
    current = {tag.key: tag.value for tag in sim.tags}
    to_set = {k: v for k, v in change.tags.items() if current.get(k, _MISSING) != v}
    to_remove = tuple(key for key in change.remove if key in current)
    if to_set or to_remove:
        problems = connector.tag_problems(to_set, to_remove, sim=sim)
        if problems:
            reasons.append(Reason(code="tags", message=f"{name}: " + "; ".join(problems)))
        else:
            calls.append(PlannedCall(step=Step.TAGS, tags=to_set, remove=to_remove))
    if reasons:
        return Decided(Decision.REFUSE, reasons=tuple(reasons), notes=tuple(notes))
    if not calls:
        reason = Reason(code="in_wanted_state", message="already in the wanted state")
        return Decided(Decision.SKIP, reasons=(reason,), notes=tuple(notes))
    if change.status is SimStatus.RETIRED:
        calls.reverse()  # tags first: a retired SIM may no longer take them
    return Decided(Decision.APPLY, calls=tuple(calls), notes=tuple(notes))


def _status_call(
    status: SimStatus,
    sim: Subscription,
    connector: type[BaseConnector],
    modes: Sequence[ActivationMode] | None,
    reasons: list[Reason],
    notes: list[str],
) -> PlannedCall | None:
    name = connector.name
    if Capability.CHANGE_STATUS not in connector.capabilities:
        reasons.append(
            Reason(code="no_change_status", message=f"{name} cannot change a SIM's status")
        )
        return None
    if modes is None:
        notes.append(f"{name}'s activation modes are unknown: the move is not checked")
        return PlannedCall(step=Step.STATUS, status=status)
    targets = [mode for mode in modes if mode.status is status and mode.settable]
    if not targets:
        reasons.append(
            Reason(
                code="no_state",
                message=f"{name} has no state for {status.value!r} that its API can set",
            )
        )
        return None
    here = next((mode for mode in modes if mode.name == sim.status_raw), None)
    if here is None:
        notes.append(
            f"the state {sim.status_raw!r} is not in {name}'s table: the move is not checked"
        )
        return PlannedCall(step=Step.STATUS, status=status)
    reachable = [mode.name for mode in targets if mode.name in here.next]
    if not reachable:
        wanted = " or ".join(repr(mode.name) for mode in targets)
        allowed = ", ".join(here.next) or "none"
        reasons.append(
            Reason(
                code="transition",
                message=f"{name} does not move a SIM from {here.name!r} to {wanted} "
                f"(from {here.name!r}: {allowed})",
            )
        )
        return None
    transition = f"{here.name} -> {' or '.join(reachable)}"
    return PlannedCall(step=Step.STATUS, status=status, transition=transition)


def call_reached(call: PlannedCall, state: SimState) -> bool:
    """Whether ``state`` already is what ``call`` asks for."""
    if call.step is Step.STATUS:
        return state.status is call.status
    return all(state.tags.get(k, _MISSING) == v for k, v in call.tags.items()) and not any(
        key in state.tags for key in call.remove
    )


def wanted_reached(change: Change, state: SimState) -> bool:
    """Whether ``state`` is the whole wanted state of ``change``."""
    if change.status is not None and state.status is not change.status:
        return False
    call = PlannedCall(step=Step.TAGS, tags=change.tags, remove=change.remove)
    return call_reached(call, state)


def call_changed(call: PlannedCall, before: SimState | None, now: SimState) -> str | None:
    """What changed since the plan in what ``call`` touches; ``None`` when nothing did.

    Only the SIM's status (for a status change) and the tag keys a tag change sets or
    removes are compared; other tags may change freely.
    """
    if before is None:
        return None
    if call.step is Step.STATUS:
        if now.status_raw != before.status_raw:
            return f"the status was {before.describe()} when planned and is now {now.describe()}"
        return None
    for key in (*call.tags, *call.remove):
        if before.tags.get(key, _MISSING) != now.tags.get(key, _MISSING):
            return f"the tag {key!r} changed since the plan"
    return None
