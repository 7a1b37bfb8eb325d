"""Applying plans: what the report and the journal say after an error, a lost answer, a
pending change or a re-apply (the details the other apply tests leave open, found by
mutation testing). The platforms are the emulators, tapped as in ``test_changes_apply``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp_sdk import SimStatus
from cdp_sdk.changes import (
    AccountStarted,
    ApplyEvent,
    ApplyOptions,
    CallStarting,
    ChangeSet,
    Decision,
    MemoryJournal,
    Outcome,
    SimFinished,
    Step,
)
from cdp_sdk.models import luhn_valid
from cdp_sdk.sandbox import Fault
from cdp_sdk.sync import Store
from cdp_sdk.sync._changes import journal_rows
from cdp_sdk.workspace import Workspace
from emulated import pick
from test_changes_apply import FAST, NOW, one_change, tapped, writes


def test_a_failed_call_keeps_its_request_id_and_stops_the_sims_next_call() -> None:
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended", tags={"site": "paris"})
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.faults.append(Fault(status=503, method="POST", path=f"{sim.iccid}/status"))
        # The read that checks whether the failed call took effect fails too.
        sandbox.faults.append(Fault(status=503, method="GET", path=sim.iccid, after=1))
        report = plan.apply(workspace, journal=journal)
    [outcome] = report.outcomes
    [step] = outcome.steps
    assert (step.step, step.outcome, step.code) == (Step.STATUS, Outcome.FAILED, "emulated_503")
    assert step.request_id is not None
    assert step.request_id.startswith("req-")  # the platform's id of the failed request
    assert outcome.request_id == step.request_id
    # The failed read after the error is no outcome of its own; the tags call is not made.
    assert [(e.step, e.event, e.outcome, e.request_id) for e in journal.entries] == [
        ("status", "intent", None, None),
        ("status", "outcome", Outcome.FAILED, step.request_id),
    ]
    assert writes(sandbox) == [f"POST /v1/sims/{sim.iccid}/status"]


def test_a_call_whose_answer_is_lost_is_confirmed_and_the_next_call_follows() -> None:
    lab, sandbox, tap = tapped("sandbox")
    tap.lose = lambda request: request.method == "POST" and request.url.path.endswith("/status")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended", tags={"site": "paris"})
    with Workspace({"lab": lab}) as workspace:
        report = changes.plan(workspace).apply(workspace)
    [outcome] = report.outcomes
    assert outcome.outcome is Outcome.DONE
    assert [(s.step, s.outcome, s.code) for s in outcome.steps] == [
        (Step.STATUS, Outcome.DONE, "confirmed"),
        (Step.TAGS, Outcome.DONE, None),
    ]
    assert writes(sandbox) == [
        f"POST /v1/sims/{sim.iccid}/status",
        f"PATCH /v1/sims/{sim.iccid}/tags",
    ]


def test_a_followed_change_reports_its_request_id_time_and_final_outcome() -> None:
    us, jasper, _sim, changes = one_change("jasper", status="deactivated")
    jasper.edit_status, jasper.edit_delay = 202, 0.3  # type: ignore[attr-defined]
    events: list[ApplyEvent] = []
    journal = MemoryJournal()
    with Workspace({"us": us}) as workspace:
        report = changes.plan(workspace).apply(
            workspace, journal=journal, options=FAST, progress=events.append
        )
    [outcome] = report.outcomes
    assert (outcome.outcome, outcome.code) == (Outcome.DONE, "completed")
    pending = [e for e in journal.entries if e.outcome is Outcome.PENDING]
    assert pending[0].request_id is not None
    assert pending[0].detail == "accepted by the platform, not yet in effect"
    assert outcome.request_id == pending[0].request_id  # the accepted request's id
    assert journal.entries[-1].request_id == pending[0].request_id
    assert outcome.message is not None
    seconds = float(outcome.message.removeprefix("in effect after ").removesuffix(" s"))
    assert 0.3 <= seconds < FAST.pending_timeout
    # The SIM is reported finished once, when followed up, with its final outcome.
    finished = [e for e in events if isinstance(e, SimFinished)]
    assert [(e.account, e.outcome.outcome, e.outcome.code) for e in finished] == [
        ("us", Outcome.DONE, "completed")
    ]


def test_skips_and_settled_sims_say_why() -> None:
    lab, sandbox, _ = tapped("sandbox")
    first, second, third = pick(sandbox, SimStatus.ACTIVE, count=3)
    changes = ChangeSet()
    changes.add(first.iccid, status="active")  # already so
    changes.add(second.iccid, status="active")  # already so, then moved
    changes.add(third.iccid, status="suspended")
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.fleet.set_status(second.iccid, SimStatus.SUSPENDED, at=NOW, actor="ops")
        report = plan.apply(workspace, journal=journal)
        again = plan.apply(workspace, journal=journal)
    skipped, moved, done = report.outcomes
    assert (skipped.code, skipped.message) == ("in_wanted_state", "already in the wanted state")
    assert (moved.outcome, moved.code) == (Outcome.REFUSED, "changed_since_plan")
    assert moved.message == "in the wanted state when planned, no longer: now suspended (paused)"
    assert done.outcome is Outcome.DONE
    settled = again.outcomes[2]
    assert (settled.code, settled.message) == (
        "done_earlier",
        "settled by an earlier apply (run 1)",
    )


def test_the_store_journal_keeps_the_plan_the_request_ids_and_the_times(tmp_path: Path) -> None:
    lab, _sandbox, _sim, changes = one_change("sandbox", status="suspended")
    store = Store(tmp_path / "cdp.db")
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        before = datetime.now(UTC)
        report = plan.apply(workspace, store=store)
        after = datetime.now(UTC)
    with store:
        entries = journal_rows(store, plan.id)
    assert {entry.plan_id for entry in entries} == {plan.id}
    [outcome] = report.outcomes
    assert outcome.request_id is not None
    assert entries[-1].request_id == outcome.request_id  # what `cdp changes log` shows
    assert all(before <= entry.at <= after for entry in entries)


def test_one_memory_journal_holds_several_plans_and_numbers_their_runs() -> None:
    lab, sandbox, _ = tapped("sandbox")
    first, second = pick(sandbox, SimStatus.ACTIVE, count=2)
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        one, two = ChangeSet(), ChangeSet()
        one.add(first.iccid, status="suspended")
        two.add(second.iccid, status="suspended")
        runs = [
            plan.apply(workspace, journal=journal).run_id
            for plan in (one.plan(workspace), two.plan(workspace))
        ]
    assert runs == [1, 2]


def test_a_tag_to_remove_that_came_back_since_the_plan_is_reported() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE, where=lambda s: "old" not in s.tags)
    changes = ChangeSet()
    changes.add(sim.iccid, remove="old")  # already absent: nothing to call
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.fleet.set_tags(sim.iccid, {**sim.tags, "old": "1"}, at=NOW, actor="ops")
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    assert (outcome.outcome, outcome.code) == (Outcome.REFUSED, "changed_since_plan")
    assert writes(sandbox) == []


def test_an_iccid_whose_other_form_is_the_platforms_is_found() -> None:
    lab, sandbox, _ = tapped("sandbox", 200)
    [sim] = pick(sandbox, SimStatus.ACTIVE, where=lambda s: luhn_valid(s.iccid[:-1]))
    changes = ChangeSet()
    changes.add(sim.iccid[:-1], status="suspended")  # reads as a full ICCID, but is not
    with Workspace({"lab": lab}) as workspace:
        [planned] = changes.plan(workspace).changes
    assert (planned.decision, planned.iccid) == (Decision.APPLY, sim.iccid)


def test_a_plan_searches_only_the_accounts_it_is_given() -> None:
    lab, _, _ = tapped("sandbox")
    eu, _emnify, _sim, changes = one_change("emnify", status="suspended")
    with Workspace({"lab": lab, "eu": eu}) as workspace:
        [planned] = changes.plan(workspace, accounts=["lab"]).changes
    assert planned.decision is Decision.ERROR
    assert planned.reasons[0].message == "in none of the accounts searched (lab)"


def test_a_sim_that_cannot_be_looked_up_says_why() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    sandbox.faults.append(Fault(status=503, method="GET", path=sim.iccid, times=5))
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    with Workspace({"lab": lab}) as workspace:
        [planned] = changes.plan(workspace).changes
    assert planned.decision is Decision.ERROR
    [reason] = planned.reasons
    assert reason.code == "lookup_failed"
    assert reason.message.startswith("could not be looked up (lab: TransientError: GET /v1/sims/")
    assert sim.iccid not in reason.message  # redacted


def test_a_removal_reaches_the_platform_and_events_name_the_account() -> None:
    lab, sandbox, _ = tapped("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE, where=lambda s: "fleet" in s.tags)
    changes = ChangeSet()
    changes.add(sim.iccid, remove="fleet")
    events: list[ApplyEvent] = []
    with Workspace({"lab": lab}) as workspace:
        [planned] = changes.plan(workspace).changes
        assert planned.connector == "sandbox"
        report = changes.plan(workspace).apply(workspace, progress=events.append)
    assert report.outcomes[0].outcome is Outcome.DONE
    assert "fleet" not in sandbox.fleet.sims[sim.iccid].tags
    started = [e for e in events if isinstance(e, AccountStarted)]
    calls = [e for e in events if isinstance(e, CallStarting)]
    assert [(e.account, e.total) for e in started] == [("lab", 1)]
    assert [(e.account, e.iccid, e.step) for e in calls] == [("lab", sim.iccid, Step.TAGS)]


def test_a_plan_may_change_exactly_max_changes_sims() -> None:
    lab, sandbox, _ = tapped("sandbox")
    first, second = pick(sandbox, SimStatus.ACTIVE, count=2)
    changes = ChangeSet()
    changes.add(first.iccid, status="suspended")
    changes.add(second.iccid, status="suspended")
    with Workspace({"lab": lab}) as workspace:
        report = changes.plan(workspace).apply(workspace, max_changes=2)
    assert [o.outcome for o in report.outcomes] == [Outcome.DONE, Outcome.DONE]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"pending_timeout": -0.1}, "pending_timeout must not be negative"),
        ({"poll_interval": 0}, "poll_interval must be positive"),
    ],
)
def test_apply_options_say_what_is_wrong(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        ApplyOptions(**options)  # type: ignore[arg-type]


def test_the_smallest_apply_options_are_valid() -> None:
    options = ApplyOptions(concurrency=1, pending_timeout=0)
    assert (options.concurrency, options.pending_timeout) == (1, 0)
