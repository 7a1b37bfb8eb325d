"""Bulk changes: what each step of an apply reports when a SIM moved, a call was refused or
an earlier apply left it half done, and the plan's decisions the other change tests leave
open (found by mutation testing of ``cdp_sdk.changes``). The platforms are the emulators,
tapped as in ``test_changes_apply``."""

from __future__ import annotations

import math

from cdp_sdk import SimStatus
from cdp_sdk.changes import (
    ApplyOptions,
    ChangeSet,
    MemoryJournal,
    Outcome,
    SimOutcome,
    Step,
)
from cdp_sdk.sandbox import Fault
from cdp_sdk.workspace import Workspace
from emulated import pick
from test_changes_apply import FAST, NOW, tapped, writes

Row = tuple[Step | None, Outcome, str | None, str | None]


def steps(outcome: SimOutcome) -> list[Row]:
    return [(s.step, s.outcome, s.code, s.message) for s in outcome.steps]


# -- a SIM that moved since the plan ------------------------------------------------------------


def test_a_step_already_in_effect_is_skipped_and_the_next_call_follows() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended", tags={"site": "paris"})
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.fleet.set_status(sim.iccid, SimStatus.SUSPENDED, at=NOW, actor="ops")
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    assert steps(outcome) == [
        (Step.STATUS, Outcome.SKIPPED, "in_wanted_state", "already so"),
        (Step.TAGS, Outcome.DONE, None, None),
    ]
    assert writes(sandbox) == [f"PATCH /v1/sims/{sim.iccid}/tags"]


def test_a_step_whose_target_changed_is_refused_and_stops_the_sims_next_call() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended", tags={"site": "paris"})
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.fleet.set_status(sim.iccid, SimStatus.DEACTIVATED, at=NOW, actor="ops")
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    assert steps(outcome) == [
        (
            Step.STATUS,
            Outcome.REFUSED,
            "changed_since_plan",
            "the status was active (live) when planned and is now deactivated (stopped)",
        )
    ]
    assert writes(sandbox) == []


def test_a_retirement_not_confirmed_at_apply_time_is_refused_after_its_tags() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    sandbox.fleet.set_status(sim.iccid, SimStatus.DEACTIVATED, at=NOW, actor="ops")
    changes = ChangeSet()
    changes.add(sim.iccid, status="retired", tags={"site": "paris"})
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace, confirm_irreversible=True)
        # Tags first: a retired SIM may no longer take them.
        assert [c.step for c in plan.changes[0].calls] == [Step.TAGS, Step.STATUS]
        report = plan.apply(workspace, journal=journal)
    [outcome] = report.outcomes
    assert steps(outcome) == [
        (Step.TAGS, Outcome.DONE, None, None),
        (
            Step.STATUS,
            Outcome.REFUSED,
            "confirm_irreversible",
            "retiring a SIM cannot be undone: apply with confirm_irreversible",
        ),
    ]
    assert [(e.step, e.event, e.outcome) for e in journal.entries] == [
        ("tags", "intent", None),
        ("tags", "outcome", Outcome.DONE),
        ("status", "outcome", Outcome.REFUSED),
    ]
    assert writes(sandbox) == [f"PATCH /v1/sims/{sim.iccid}/tags"]
    assert sandbox.fleet.sims[sim.iccid].status is SimStatus.DEACTIVATED


# -- what an earlier apply left -------------------------------------------------------------------


def test_a_call_that_failed_earlier_but_took_effect_is_confirmed_with_its_request_id() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.faults.append(Fault(status=503, method="POST", path=f"{sim.iccid}/status"))
        first = plan.apply(workspace, journal=journal)
        # The platform put the change into effect after all.
        sandbox.fleet.set_status(sim.iccid, SimStatus.SUSPENDED, at=NOW, actor="platform")
        again = plan.apply(workspace, journal=journal)
    [failed] = first.outcomes[0].steps
    assert failed.outcome is Outcome.FAILED
    assert failed.request_id is not None
    [outcome] = again.outcomes
    assert [(*row, s.request_id) for row, s in zip(steps(outcome), outcome.steps, strict=True)] == [
        (
            Step.STATUS,
            Outcome.DONE,
            "confirmed",
            "in effect: the call of an earlier apply went through",
            failed.request_id,
        )
    ]
    assert writes(sandbox) == [f"POST /v1/sims/{sim.iccid}/status"]  # not sent again


def test_a_step_settled_earlier_names_its_run_and_the_next_call_is_made() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended", tags={"site": "paris"})
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.faults.append(Fault(status=400, method="PATCH", path=f"{sim.iccid}/tags"))
        first = plan.apply(workspace, journal=journal)
        again = plan.apply(workspace, journal=journal)
    assert [(s.step, s.outcome) for s in first.outcomes[0].steps] == [
        (Step.STATUS, Outcome.DONE),
        (Step.TAGS, Outcome.REFUSED),
    ]
    [outcome] = again.outcomes
    assert steps(outcome) == [
        (Step.STATUS, Outcome.SKIPPED, "done_earlier", "settled by an earlier apply (run 1)"),
        (Step.TAGS, Outcome.DONE, None, None),
    ]
    assert sandbox.fleet.sims[sim.iccid].tags["site"] == "paris"


def test_a_call_pending_since_an_earlier_apply_is_followed_and_the_next_call_made() -> None:
    us, jasper, _ = tapped("jasper")
    jasper.edit_status, jasper.edit_delay = 202, math.inf  # type: ignore[attr-defined]
    [sim] = pick(jasper, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="deactivated", tags={"accountCustom1": "paris"})
    journal = MemoryJournal()
    quick = ApplyOptions(poll_interval=0.05, pending_timeout=0.1)
    with Workspace({"us": us}) as workspace:
        plan = changes.plan(workspace)
        assert [c.step for c in plan.changes[0].calls] == [Step.STATUS, Step.TAGS]
        # The status call is accepted (pending); the tags call after it is refused.
        jasper.faults.append(Fault(status=400, method="PUT", path=sim.iccid, after=1))
        first = plan.apply(workspace, journal=journal, options=quick)
        again = plan.apply(workspace, journal=journal, options=quick)
    accepted = next(e for e in journal.entries if e.outcome is Outcome.PENDING)
    assert accepted.request_id is not None
    tags, status = first.outcomes[0].steps
    assert (tags.step, tags.outcome) == (Step.TAGS, Outcome.REFUSED)
    # Still pending at the timeout: the accepted request's id is kept.
    assert (status.step, status.outcome, status.code, status.request_id) == (
        Step.STATUS,
        Outcome.PENDING,
        "timeout",
        accepted.request_id,
    )
    # The next apply follows the status up (never sends it again) and makes the tags call.
    assert [(s.step, s.outcome, s.code) for s in again.outcomes[0].steps] == [
        (Step.TAGS, Outcome.DONE, None),
        (Step.STATUS, Outcome.PENDING, "timeout"),
    ]
    assert len(writes(jasper)) == 3  # the status once, the tags twice


def test_a_read_that_fails_while_following_a_pending_call_is_read_again() -> None:
    us, jasper, _ = tapped("jasper")
    jasper.edit_status, jasper.edit_delay = 202, 0.2  # type: ignore[attr-defined]
    [sim] = pick(jasper, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="deactivated")
    journal = MemoryJournal()
    with Workspace({"us": us}) as workspace:
        plan = changes.plan(workspace)
        # The read before the call passes; the first read while following it fails.
        jasper.faults.append(Fault(status=403, method="GET", path=sim.iccid, after=1))
        report = plan.apply(workspace, journal=journal, options=FAST)
    [outcome] = report.outcomes
    assert [(s.step, s.outcome, s.code) for s in outcome.steps] == [
        (Step.STATUS, Outcome.DONE, "completed")
    ]
    assert [(e.step, e.event, e.outcome) for e in journal.entries] == [
        ("status", "intent", None),
        ("status", "outcome", Outcome.PENDING),
        ("status", "outcome", Outcome.DONE),
    ]


# -- a SIM that cannot be read ---------------------------------------------------------------------


def test_a_sim_the_platform_refuses_to_read_is_refused_with_the_vendor_code() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.faults.append(Fault(status=403, method="GET", path=sim.iccid))
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    [step] = outcome.steps
    assert (step.step, step.outcome, step.code) == (None, Outcome.REFUSED, "emulated_403")
    assert writes(sandbox) == []


def test_a_sim_that_cannot_be_reached_fails_as_read_failed() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.faults.append(Fault(kind="drop", method="GET", path=sim.iccid, times=20))
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    [step] = outcome.steps
    assert (step.step, step.outcome, step.code) == (None, Outcome.FAILED, "read_failed")
    assert step.message is not None
    assert step.message.startswith("TransientError: ")
    assert writes(sandbox) == []
