"""Bulk changes: what each step of an apply reports when a SIM moved, a call was refused or
an earlier apply left it half done, and the plan's decisions the other change tests leave
open (found by mutation testing of ``cdp_sdk.changes``). The platforms are the emulators,
tapped as in ``test_changes_apply``."""

from __future__ import annotations

import asyncio
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from cdp_sdk import ActivationMode, SimStatus
from cdp_sdk.changes import (
    ApplyOptions,
    Change,
    ChangeSet,
    ChangeSetError,
    Decision,
    MemoryJournal,
    Outcome,
    PlannedCall,
    Reason,
    SimOutcome,
    Step,
)
from cdp_sdk.errors import TransientError
from cdp_sdk.models import luhn_check_digit
from cdp_sdk.sandbox import Fault
from cdp_sdk.sync import Store
from cdp_sdk.workspace import Account, AsyncWorkspace, BaseWorkspace, Workspace
from conftest import InstallPlugins
from emulated import emulated, pick
from test_changes_apply import FAST, NOW, Tap, one_change, tapped, writes
from test_changes_mutants import FULL, OTHER, plan_of, planned, unreadable
from test_changes_plan import _patch, install_blind
from test_changes_store import insert_sims

Row = tuple[Step | None, Outcome, str | None, str | None]


def steps(outcome: SimOutcome) -> list[Row]:
    return [(s.step, s.outcome, s.code, s.message) for s in outcome.steps]


# -- a SIM that moved since the plan --------------------------------------------------------------


def test_a_step_already_in_effect_is_skipped_and_the_next_call_follows() -> None:
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended", tags={"site": "paris"})
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
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended", tags={"site": "paris"})
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
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended")
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
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended", tags={"site": "paris"})
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
    us, jasper, sim, changes = one_change(
        "jasper", status="deactivated", tags={"accountCustom1": "paris"}
    )
    jasper.edit_status, jasper.edit_delay = 202, math.inf  # type: ignore[attr-defined]
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
    # The next apply follows the status up (never sends it again) and makes the tags call;
    # the status keeps the id of the request the platform accepted, in the journal too.
    assert [(s.step, s.outcome, s.code) for s in again.outcomes[0].steps] == [
        (Step.TAGS, Outcome.DONE, None),
        (Step.STATUS, Outcome.PENDING, "timeout"),
    ]
    assert again.outcomes[0].steps[1].request_id == accepted.request_id
    assert (journal.entries[-1].step, journal.entries[-1].request_id) == (
        "status",
        accepted.request_id,
    )
    assert len(writes(jasper)) == 3  # the status once, the tags twice


def test_a_read_that_fails_while_following_a_pending_call_is_read_again() -> None:
    us, jasper, sim, changes = one_change("jasper", status="deactivated")
    jasper.edit_status, jasper.edit_delay = 202, 0.2  # type: ignore[attr-defined]
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


# -- a SIM that cannot be read --------------------------------------------------------------------


def test_a_sim_the_platform_refuses_to_read_is_refused_with_the_vendor_code() -> None:
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended")
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.faults.append(Fault(status=403, method="GET", path=sim.iccid))
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    [step] = outcome.steps
    assert (step.step, step.outcome, step.code) == (None, Outcome.REFUSED, "emulated_403")
    assert writes(sandbox) == []


def test_a_sim_that_cannot_be_reached_fails_as_read_failed() -> None:
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended")
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


# -- what a plan decides --------------------------------------------------------------------------


def test_a_sim_given_twice_is_an_error_row_that_names_where_it_was_found() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    changes.add(sim.iccid[:-1], status="suspended")  # the same SIM, without its check digit
    with Workspace({"lab": lab}) as workspace:
        first, second = changes.plan(workspace).changes
    assert first.decision is Decision.APPLY
    assert (second.decision, second.iccid, second.account, second.connector) == (
        Decision.ERROR,
        sim.iccid,
        "lab",
        "sandbox",
    )
    assert [(r.code, r.message) for r in second.reasons] == [
        ("duplicate", "the same SIM as line 1")
    ]


def test_a_plan_looks_each_sim_up_in_its_likeliest_form_then_its_other_form() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    payload21 = "898830300000000000123"  # 21 digits: its form with a check digit has 22
    full22 = payload21 + str(luhn_check_digit(payload21))
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")  # found with its first form: one read
    changes.add("8" * 22, status="suspended")  # 22 digits: no other form
    changes.add(payload21, status="suspended")  # in no account: both forms
    with Workspace({"lab": lab}) as workspace:
        before = len(sandbox.requests)
        plan = changes.plan(workspace)
        reads = sorted(r.url.path for r in sandbox.requests[before:] if r.method == "GET")
    assert reads == sorted(
        [
            f"/v1/sims/{sim.iccid}",
            f"/v1/sims/{'8' * 22}",
            f"/v1/sims/{full22}",
            f"/v1/sims/{payload21}",
        ]
    )
    assert [c.decision for c in plan.changes] == [Decision.APPLY, Decision.ERROR, Decision.ERROR]
    assert {c.reasons[0].code for c in plan.changes[1:]} == {"not_found"}


def test_accounts_that_fail_a_look_up_are_listed_one_after_the_other() -> None:
    one, first, _ = tapped("sandbox")
    two, second, _ = tapped("sandbox")
    iccid = "8988303000000000017"
    for emulator in (first, second):
        emulator.faults.append(Fault(status=503, method="GET", path=iccid, times=20))
    changes = ChangeSet()
    changes.add(iccid, status="suspended")
    with Workspace({"one": one, "two": two}) as workspace:
        [planned_change] = changes.plan(workspace).changes
    [reason] = planned_change.reasons
    assert reason.code == "lookup_failed"
    assert re.fullmatch(
        r"could not be looked up \(one: TransientError: [^;]*; two: TransientError: [^;]*\)",
        reason.message,
    ), reason.message


def test_a_plan_id_is_sixteen_hex_digits() -> None:
    lab, _sandbox, _sim, changes = one_change("sandbox", status="suspended")
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
    assert re.fullmatch(r"[0-9a-f]{16}", plan.id), plan.id


def test_the_reasons_of_a_refusal_and_a_skip_are_in_words() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [stopped, same] = pick(sandbox, SimStatus.ACTIVE, count=2)
    sandbox.fleet.set_status(stopped.iccid, SimStatus.DEACTIVATED, at=NOW, actor="ops")
    us, jasper, _ = tapped("jasper")
    [retired] = pick(jasper, SimStatus.RETIRED)
    changes = ChangeSet()
    changes.add(stopped.iccid, status="retired")
    changes.add(same.iccid, status="active")
    changes.add(retired.iccid, status="active")
    with Workspace({"lab": lab, "us": us}) as workspace:
        refused, skipped, stuck = changes.plan(workspace).changes
    assert [(r.code, r.message) for r in refused.reasons] == [
        ("confirm_irreversible", "retiring a SIM cannot be undone: plan with confirm_irreversible")
    ]
    assert [(r.code, r.message) for r in skipped.reasons] == [
        ("in_wanted_state", "already in the wanted state")
    ]
    assert [(r.code, r.message) for r in stuck.reasons] == [
        (
            "transition",
            "jasper does not move a SIM from 'RETIRED' to 'ACTIVATED' (from 'RETIRED': none)",
        )
    ]


def test_unknown_modes_plan_the_status_call_and_keep_the_note_on_a_refusal() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [moved, retire] = pick(sandbox, SimStatus.ACTIVE, count=2)
    changes = ChangeSet()
    changes.add(moved.iccid, status="suspended")
    changes.add(retire.iccid, status="retired")  # refused: not confirmed

    async def broken_modes() -> list[object]:
        raise TransientError("down")

    note = "sandbox's activation modes are unknown: the move is not checked"
    with Workspace({"lab": lab}) as workspace:
        workspace.run(lambda w: _patch(w, broken_modes))
        apply, refuse = changes.plan(workspace).changes
    assert apply.calls == (PlannedCall(step=Step.STATUS, status=SimStatus.SUSPENDED),)
    assert refuse.decision is Decision.REFUSE
    assert refuse.notes == (note,)


# -- change sets and their errors -----------------------------------------------------------------


def test_changes_given_whole_keep_their_lines_or_are_numbered() -> None:
    numbered = ChangeSet(
        [Change(iccid=OTHER, status="active"), Change(iccid=FULL, status="active", line=9)]
    )
    assert [c.line for c in numbered] == [1, 9]
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet(
            [
                Change(iccid=FULL, status="active", line=7),
                Change(iccid=FULL, status="active", line=9),
            ],
            source="mine",
        )
    assert (caught.value.source, caught.value.problems) == (
        "mine",
        [(9, "the ICCID repeats (first on line 7)")],
    )


def test_a_sim_added_twice_names_the_change_set() -> None:
    changes = ChangeSet(source="batch-7")
    changes.add(FULL, status="active")
    with pytest.raises(ChangeSetError) as caught:
        changes.add(FULL, status="suspended")
    assert (caught.value.source, caught.value.problems) == (
        "batch-7",
        [(2, "the ICCID repeats (first on line 1)")],
    )


def test_a_csv_whose_header_cannot_be_read_names_its_source() -> None:
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet.from_csv(io.StringIO("x" * 200_000))
    assert caught.value.source == "<stream>"
    assert caught.value.problems == [(1, "not valid CSV (field larger than field limit (131072))")]


def test_a_csv_row_without_an_iccid_says_the_iccid_is_not_valid() -> None:
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet.from_csv(io.StringIO("iccid,status\n,active\n"))
    assert caught.value.problems == [(2, "iccid: not a valid ICCID (18 to 22 digits)")]


def test_twenty_one_bad_entries_show_twenty_and_count_one_more() -> None:
    assert unreadable(21).message.endswith("; and 1 more")
    exactly = unreadable(20)
    assert exactly.message.endswith(f"line 21: {exactly.problems[-1][1]}")


# -- retirements need a confirmation by default ---------------------------------------------------


def test_async_plans_and_applies_refuse_retirements_unless_confirmed() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    sandbox.fleet.set_status(sim.iccid, SimStatus.DEACTIVATED, at=NOW, actor="ops")
    changes = ChangeSet()
    changes.add(sim.iccid, status="retired")

    async def main() -> tuple[Decision, Outcome]:
        async with AsyncWorkspace({"lab": lab}) as workspace:
            refused = await changes.plan_async(workspace)
            confirmed = await changes.plan_async(workspace, confirm_irreversible=True)
            report = await confirmed.apply_async(workspace)
        return refused.changes[0].decision, report.outcomes[0].outcome

    assert asyncio.run(main()) == (Decision.REFUSE, Outcome.REFUSED)
    assert writes(sandbox) == []
    assert sandbox.fleet.sims[sim.iccid].status is SimStatus.DEACTIVATED


def test_a_plan_may_change_no_sim_at_all() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="active")  # already so
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace, max_changes=0)
    assert [c.decision for c in plan.changes] == [Decision.SKIP]


def test_misuses_say_what_to_do_instead() -> None:
    changes = ChangeSet([Change(iccid=FULL, status="active")])
    with pytest.raises(TypeError) as live:
        changes.plan()
    assert str(live.value) == "a live plan needs a Workspace (or give a store to plan from)"
    with pytest.raises(TypeError) as awaited:
        asyncio.run(changes.plan_async())
    assert str(awaited.value) == (
        "a live plan needs an AsyncWorkspace (or give a store to plan from)"
    )
    with pytest.raises(ValueError, match=r"^max_changes must not be negative$"):
        asyncio.run(changes.plan_async(max_changes=-1))
    plan = plan_of(planned())

    async def apply_with_an_async_workspace() -> None:
        async with AsyncWorkspace({}) as workspace:
            plan.apply(workspace)  # type: ignore[arg-type]

    with pytest.raises(TypeError) as sync:
        asyncio.run(apply_with_an_async_workspace())
    assert str(sync.value) == (
        "expected a Workspace; with an AsyncWorkspace, await plan.apply_async()"
    )

    async def both() -> None:
        async with AsyncWorkspace({}) as workspace:
            await plan.apply_async(workspace, journal=MemoryJournal(), store=object())  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=r"^pass a store or a journal, not both$"):
        asyncio.run(both())


# -- answers, tables and plan rows the emulators do not give by themselves ------------------------


@dataclass
class RefusedAfterTheFact(Tap):
    """A tap whose platform makes a status change, then answers it with a 409."""

    refused: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/status"):
            body = {"error": {"code": "conflict", "message": "busy"}}
            self.refused.append(response.headers["X-Request-Id"])
            return httpx.Response(409, headers={"X-Request-Id": self.refused[-1]}, json=body)
        return response


def test_a_refused_call_that_took_effect_is_done_with_the_refusals_code_and_request_id() -> None:
    account, sandbox = emulated("sandbox", 12)
    tap = RefusedAfterTheFact(sandbox)
    lab = Account(account.connector, account.settings, tap)
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        report = changes.plan(workspace).apply(workspace, journal=journal)
    [outcome] = report.outcomes
    [step] = outcome.steps
    assert (step.step, step.outcome, step.code) == (Step.STATUS, Outcome.DONE, "conflict")
    assert step.message is not None
    assert step.message.startswith(
        "in effect, although the platform answered ConflictError: POST /v1/sims/"
    )
    assert step.message.endswith("/status failed: busy")
    assert [step.request_id] == tap.refused
    assert journal.entries[-1].request_id == step.request_id


def test_a_state_missing_from_the_table_leaves_the_move_to_the_platform() -> None:
    lab, _sandbox, _sim, changes = one_change("sandbox", status="suspended")
    with Workspace({"lab": lab}) as workspace:
        table = [m for m in workspace.connect("lab").activation_modes() if m.name != "live"]

        async def partial_modes() -> list[ActivationMode]:
            return table

        workspace.run(lambda w: _patch(w, partial_modes))
        [line] = changes.plan(workspace).changes
    assert line.decision is Decision.APPLY
    assert line.calls == (PlannedCall(step=Step.STATUS, status=SimStatus.SUSPENDED),)
    assert line.notes == ("the state 'live' is not in sandbox's table: the move is not checked",)


def test_refused_and_error_rows_report_their_reasons_joined_or_their_decision() -> None:
    base = planned()
    rows = (
        base.model_copy(update={"decision": Decision.REFUSE, "calls": (), "reasons": ()}),
        base.model_copy(
            update={
                "iccid": OTHER,
                "change": base.change.model_copy(update={"iccid": OTHER, "line": 2}),
                "decision": Decision.ERROR,
                "calls": (),
                "reasons": (
                    Reason(code="first", message="one thing"),
                    Reason(code="second", message="another"),
                ),
            }
        ),
    )
    with Workspace({}) as workspace:
        report = plan_of(*rows).apply(workspace)
    refused, failed = report.outcomes
    assert (refused.outcome, refused.code, refused.message) == (Outcome.REFUSED, None, "refuse")
    assert (failed.outcome, failed.code, failed.message) == (
        Outcome.FAILED,
        "first",
        "one thing; another",
    )


async def _replace(workspace: object, name: str, method: object) -> None:
    setattr(workspace.connector("lab").plugin, name, method)  # type: ignore[attr-defined]


def test_a_connector_bug_fails_that_sim_with_the_error_not_the_apply() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [called, read] = pick(sandbox, SimStatus.ACTIVE, count=2)
    changes = ChangeSet()
    changes.add(called.iccid, status="suspended")
    changes.add(read.iccid, tags={"site": "paris"})

    async def change_status(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the connector")

    async def update_tags(*args: object, **kwargs: object) -> None:
        raise KeyError("site")

    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        workspace.run(lambda w: _replace(w, "change_status", change_status))
        workspace.run(lambda w: _replace(w, "update_tags", update_tags))
        report = plan.apply(workspace)
    assert [steps(o) for o in report.outcomes] == [
        [(Step.STATUS, Outcome.FAILED, None, "RuntimeError: a bug in the connector")],
        [(Step.TAGS, Outcome.FAILED, None, "KeyError: 'site'")],
    ]


def test_a_connector_bug_while_reading_fails_that_sim_as_read_failed() -> None:
    lab, sandbox, _sim, changes = one_change("sandbox", status="suspended")

    async def subscription(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the connector")

    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        workspace.run(lambda w: _replace(w, "subscription", subscription))
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    assert steps(outcome) == [
        (None, Outcome.FAILED, "read_failed", "RuntimeError: a bug in the connector")
    ]
    assert writes(sandbox) == []


# -- plans from the store, CSV cells, tag and table reasons ---------------------------------------


def test_store_plans_name_the_sim_of_an_error_row(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"account": "us", "id": "3", "iccid": "8988303000000000025"},
        {"account": "us", "id": "5", "iccid": "8988303000000000041", "connector": "gone"},
    ]
    changes = ChangeSet()
    changes.add("8988303000000000025", status="suspended")
    changes.add("8988303000000000041", status="suspended")
    with Store(tmp_path / "cdp.db") as store:
        insert_sims(store, rows)
        alone = changes.plan(store=store)
        elsewhere = changes.plan(BaseWorkspace({}), store=store)  # without the account us
    fine, gone = alone.changes
    assert fine.decision is Decision.APPLY
    assert (gone.decision, gone.iccid, gone.account, gone.connector) == (
        Decision.ERROR,
        "8988303000000000041",
        "us",
        "gone",
    )
    [reason] = gone.reasons
    assert reason.code == "connector"
    assert reason.message.startswith("ConnectorNotFoundError: no connector named 'gone'; ")
    unknown = Reason(
        code="unknown_account",
        message="the store's account 'us' is not an account of the workspace",
    )
    found = [(c.decision, c.iccid, c.account, c.connector) for c in elsewhere.changes]
    assert found == [
        (Decision.ERROR, "8988303000000000025", "us", "sandbox"),
        (Decision.ERROR, "8988303000000000041", "us", "gone"),
    ]
    assert {c.reasons for c in elsewhere.changes} == {(unknown,)}


def test_a_quoted_csv_cell_keeps_its_line_break(tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    path.write_bytes(b'iccid,tag:note\r\n8988303000000000017,"first\r\nsecond"\r\n')
    [change] = ChangeSet.from_csv(path)
    assert change.tags == {"note": "first\r\nsecond"}


def test_every_tag_problem_and_unreachable_state_is_listed() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    us, jasper, _ = tapped("jasper")
    [other] = pick(jasper, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    changes.add(other.iccid, tags={"site": "paris", "team": "ops"})
    with Workspace({"lab": lab, "us": us}) as workspace:
        modes = workspace.connect("lab").activation_modes()
        paused = next(m for m in modes if m.name == "paused")
        held = paused.model_copy(update={"name": "held", "next": []})
        table = [
            m.model_copy(update={"next": ["stopped"]}) if m.name == "live" else m for m in modes
        ] + [held]

        async def more_modes() -> list[ActivationMode]:
            return table

        workspace.run(lambda w: _patch(w, more_modes))
        stuck, untagged = changes.plan(workspace).changes
    assert [(r.code, r.message) for r in stuck.reasons] == [
        (
            "transition",
            "sandbox does not move a SIM from 'live' to 'paused' or 'held' (from 'live': stopped)",
        )
    ]
    [reason] = untagged.reasons
    assert reason.code == "tags"
    assert reason.message.startswith("jasper: 'site' is not a tag of this platform (keys: ")
    assert "; 'team' is not a tag of this platform (keys: " in reason.message


def test_every_account_that_cannot_be_searched_is_listed(install_plugins: InstallPlugins) -> None:
    install_blind(install_plugins)
    lab, _ = emulated("sandbox")
    blind = Account("blind", dict(lab.settings), lab.transport)
    changes = ChangeSet()
    changes.add("8988399000000000011", status="active")
    with Workspace({"dark": blind, "blind": blind}) as workspace:
        [nowhere] = changes.plan(workspace).changes
    assert nowhere.reasons[0].message == (
        "in none of the accounts searched (blind, dark); not searched: "
        "blind: blind cannot look SIMs up, dark: blind cannot look SIMs up"
    )
