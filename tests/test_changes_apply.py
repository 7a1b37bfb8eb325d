"""Applying plans: per-SIM outcomes, refusals with vendor codes, what changed since the
plan, pending changes followed up, re-applies that change nothing, limits and pacing."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cdp_sdk import SimStatus
from cdp_sdk.changes import (
    AccountFinished,
    AccountStarted,
    ApplyEvent,
    ApplyOptions,
    CallStarting,
    ChangeSet,
    Decision,
    MemoryJournal,
    Outcome,
    Plan,
    PlanFileError,
    SimFinished,
    Step,
    TooManyChangesError,
)
from cdp_sdk.sandbox import Emulator, Fault, FleetSim
from cdp_sdk.workspace import Account, Workspace
from emulated import emulated, pick

FAST = ApplyOptions(poll_interval=0.05, pending_timeout=5.0)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)


@dataclass
class Flight:
    """In-flight requests, across the accounts that share it."""

    now: int = 0
    peak: int = 0


@dataclass
class Tap(httpx.AsyncBaseTransport):
    """An emulator's transport that counts requests in flight, stamps each answer with an
    ``X-Request-Id`` and can lose the answer of chosen requests (after they took effect)."""

    emulator: Emulator
    lose: Callable[[httpx.Request], bool] = lambda request: False
    shared: Flight = field(default_factory=Flight)
    own: Flight = field(default_factory=Flight)
    answered: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for flight in (self.shared, self.own):
            flight.now += 1
            flight.peak = max(flight.peak, flight.now)
        try:
            await asyncio.sleep(0.01)
            response = await self.emulator.transport().handle_async_request(request)
        finally:
            for flight in (self.shared, self.own):
                flight.now -= 1
        if self.lose(request):
            raise httpx.ReadTimeout("the answer was lost", request=request)
        self.answered += 1
        response.headers["X-Request-Id"] = f"req-{self.answered}"
        return response


def tapped(connector: str, size: int = 12, **settings: object) -> tuple[Account, Emulator, Tap]:
    account, emulator = emulated(connector, size, **settings)
    tap = Tap(emulator)
    return Account(account.connector, account.settings, tap), emulator, tap


def one_change(connector: str, **change: Any) -> tuple[Account, Emulator, FleetSim, ChangeSet]:
    """A tapped account of ``connector``'s emulator, one of its active SIMs, and a change set
    of ``change`` for that SIM."""
    account, emulator, _ = tapped(connector)
    [sim] = pick(emulator, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, **change)
    return account, emulator, sim, changes


def writes(emulator: Emulator) -> list[str]:
    return [
        f"{r.method} {r.url.path}"
        for r in emulator.requests
        if r.method != "GET" and "auth" not in r.url.path
    ]


# -- outcomes --------------------------------------------------------------------------------


def test_each_sim_gets_its_outcome_and_one_refusal_stops_no_other() -> None:
    lab, sandbox, _ = tapped("sandbox")
    jp, soracom, _ = tapped("soracom")
    suspend, tag = pick(sandbox, SimStatus.ACTIVE, count=2)
    [ready] = pick(sandbox, SimStatus.READY)
    [sora] = pick(soracom, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(suspend.iccid, status="suspended")
    changes.add(tag.iccid, tags={"site": "paris"})
    changes.add(ready.iccid, status="retired")  # refused by the plan: the table forbids it
    changes.add(sora.iccid, status="suspended", tags={"campaign": "q3"})
    changes.add("8988399000000000011", status="active")  # in no account
    events: list[ApplyEvent] = []
    with Workspace({"lab": lab, "jp": jp}) as workspace:
        plan = changes.plan(workspace, confirm_irreversible=True)
        report = plan.apply(workspace, progress=events.append)
    assert [o.outcome for o in report.outcomes] == [
        Outcome.DONE,
        Outcome.DONE,
        Outcome.REFUSED,
        Outcome.DONE,
        Outcome.FAILED,
    ]
    first, second, refused, both, missing = report.outcomes
    assert first.request_id is not None
    assert first.request_id.startswith("chg-")  # the answer body's
    assert second.request_id is not None
    assert second.request_id.startswith("req-")
    assert (refused.code, refused.line) == ("transition", 3)
    assert [s.step for s in both.steps] == [Step.STATUS, Step.TAGS]
    assert (missing.code, missing.account) == ("not_found", "")
    assert report.counts == {
        Outcome.DONE: 3,
        Outcome.SKIPPED: 0,
        Outcome.PENDING: 0,
        Outcome.REFUSED: 1,
        Outcome.FAILED: 1,
    }
    assert not report.ok
    assert report.summary() == "5 SIMs: 3 done, 0 skipped, 0 pending, 1 refused, 1 failed"
    assert report.outcome(suspend.iccid) is first
    # The platforms hold the wanted state; the refused SIM was not touched.
    assert sandbox.fleet.sims[suspend.iccid].status is SimStatus.SUSPENDED
    assert sandbox.fleet.sims[tag.iccid].tags["site"] == "paris"
    assert sandbox.fleet.sims[ready.iccid].status is SimStatus.READY
    assert soracom.fleet.sims[sora.iccid].status is SimStatus.SUSPENDED
    assert soracom.fleet.sims[sora.iccid].tags["campaign"] == "q3"
    # Progress: each account starts and finishes; each SIM finishes once; each call announced.
    started = [e.account for e in events if isinstance(e, AccountStarted)]
    finished = {e.account: e.counts for e in events if isinstance(e, AccountFinished)}
    assert sorted(started) == ["", "jp", "lab"]
    assert finished["lab"][Outcome.DONE] == 2
    assert sum(isinstance(e, SimFinished) for e in events) == 5
    calls = [(e.iccid, e.step) for e in events if isinstance(e, CallStarting)]
    assert sorted(calls) == sorted(
        [(suspend.iccid, Step.STATUS), (tag.iccid, Step.TAGS), (sora.iccid, Step.STATUS),
         (sora.iccid, Step.TAGS)]
    )  # fmt: skip


def test_a_vendor_refusal_carries_the_vendor_code() -> None:
    us, jasper, _ = tapped("jasper")
    once_active, other = pick(jasper, SimStatus.ACTIVE, count=2)
    # Activated once, now back in inventory: the state table allows TEST_READY, but Control
    # Center refuses a SIM that was ever activated (10000029).
    jasper.fleet.set_status(once_active.iccid, SimStatus.INVENTORY, at=NOW, actor="ops")
    changes = ChangeSet()
    changes.add(once_active.iccid, status="test")
    changes.add(other.iccid, status="deactivated")
    with Workspace({"us": us}) as workspace:
        plan = changes.plan(workspace)
        assert [c.decision for c in plan.changes] == [Decision.APPLY, Decision.APPLY]
        report = plan.apply(workspace)
    refused, done = report.outcomes
    assert refused.outcome is Outcome.REFUSED
    assert refused.code == "10000029"
    assert refused.message is not None
    assert refused.message.startswith("ConflictError: ")
    assert done.outcome is Outcome.DONE
    assert jasper.fleet.sims[other.iccid].status is SimStatus.DEACTIVATED


def test_a_sim_changed_since_the_plan_is_refused_not_overwritten() -> None:
    lab, sandbox, _ = tapped("sandbox")
    moved, retagged, fine = pick(
        sandbox, SimStatus.ACTIVE, where=lambda s: "fleet" in s.tags, count=3
    )
    changes = ChangeSet()
    changes.add(moved.iccid, status="suspended")
    changes.add(retagged.iccid, tags={"fleet": "new"})
    changes.add(fine.iccid, status="suspended", tags={"other": "x"})
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.fleet.set_status(moved.iccid, SimStatus.DEACTIVATED, at=NOW, actor="ops")
        sandbox.fleet.set_tags(retagged.iccid, {"fleet": "ops-choice"}, at=NOW, actor="ops")
        sandbox.fleet.set_tags(fine.iccid, {**fine.tags, "unrelated": "1"}, at=NOW, actor="ops")
        before = len(writes(sandbox))
        report = plan.apply(workspace)
    first, second, third = report.outcomes
    assert (first.outcome, first.code) == (Outcome.REFUSED, "changed_since_plan")
    assert first.message == (
        "the status was active (live) when planned and is now deactivated (stopped)"
    )
    assert (second.code, second.message) == (
        "changed_since_plan",
        "the tag 'fleet' changed since the plan",
    )
    assert third.outcome is Outcome.DONE  # other tags may change freely
    assert len(writes(sandbox)) - before == 2  # only the third SIM's two calls
    assert sandbox.fleet.sims[moved.iccid].status is SimStatus.DEACTIVATED
    assert sandbox.fleet.sims[retagged.iccid].tags["fleet"] == "ops-choice"


def test_a_sim_already_in_its_wanted_state_is_skipped() -> None:
    lab, sandbox, _ = tapped("sandbox")
    first, second = pick(sandbox, SimStatus.ACTIVE, count=2)
    changes = ChangeSet()
    changes.add(first.iccid, status="suspended")
    changes.add(second.iccid, status="active")  # already so when planned
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        sandbox.fleet.set_status(first.iccid, SimStatus.SUSPENDED, at=NOW, actor="ops")
        report = plan.apply(workspace)
        sandbox.fleet.set_status(second.iccid, SimStatus.SUSPENDED, at=NOW, actor="ops")
        again = plan.apply(workspace)
    assert [(o.outcome, o.code) for o in report.outcomes] == [
        (Outcome.SKIPPED, "in_wanted_state"),
        (Outcome.SKIPPED, "in_wanted_state"),
    ]
    assert report.ok
    assert writes(sandbox) == []
    # A SIM planned as already so that left its wanted state is reported, not changed.
    assert (again.outcomes[1].outcome, again.outcomes[1].code) == (
        Outcome.REFUSED,
        "changed_since_plan",
    )


def test_applying_again_changes_nothing() -> None:
    lab, sandbox, _ = tapped("sandbox")
    sims = pick(sandbox, SimStatus.ACTIVE, count=3)
    changes = ChangeSet.for_subscriptions(
        [{"iccid": s.iccid} for s in sims], status="suspended", tags={"batch": "7"}
    )
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        first = plan.apply(workspace, journal=journal)
        made = list(sandbox.requests)
        again = plan.apply(workspace, journal=journal)  # the journal: not even a read
        assert sandbox.requests == made
        fresh = plan.apply(workspace)  # another journal: reads, no writes
    assert first.counts[Outcome.DONE] == 3
    assert {(o.outcome, o.code) for o in again.outcomes} == {(Outcome.SKIPPED, "done_earlier")}
    assert again.outcomes[0].message == "settled by an earlier apply (run 1)"
    assert {(o.outcome, o.code) for o in fresh.outcomes} == {(Outcome.SKIPPED, "in_wanted_state")}
    assert len(writes(sandbox)) == 6
    assert again.ok
    assert fresh.ok


def test_every_call_has_its_intent_before_it_and_its_outcome_after_it() -> None:
    lab, _sandbox, sim, changes = one_change(
        "sandbox", status="suspended", tags={"batch": "7"}, remove=["fleet"]
    )
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        plan.apply(workspace, journal=journal)
    entries = [(e.step, e.event, e.outcome, e.request) for e in journal.entries]
    assert entries == [
        ("status", "intent", None, {"status": "suspended"}),
        ("status", "outcome", Outcome.DONE, None),
        ("tags", "intent", None, {"tags": {"batch": "7"}, "remove": ["fleet"]}),
        ("tags", "outcome", Outcome.DONE, None),
    ]
    assert {(e.plan_id, e.account, e.iccid, e.run_id) for e in journal.entries} == {
        (plan.id, "lab", sim.iccid, 1)
    }


def test_a_different_plan_under_the_same_id_is_refused() -> None:
    lab, _sandbox, _sim, changes = one_change("sandbox", status="suspended")
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        plan.apply(workspace, journal=journal)
        data = plan.model_dump()
        data["changes"][0]["change"]["status"] = "deactivated"
        forged = Plan.model_validate(data)
        with pytest.raises(PlanFileError, match="different plan"):
            forged.apply(workspace, journal=journal)


# -- pending changes --------------------------------------------------------------------------


def test_a_pending_change_is_followed_until_it_is_in_effect() -> None:
    us, jasper, sim, changes = one_change("jasper", status="deactivated")
    jasper.edit_status, jasper.edit_delay = 202, 0.3  # type: ignore[attr-defined]
    journal = MemoryJournal()
    with Workspace({"us": us}) as workspace:
        plan = changes.plan(workspace)
        report = plan.apply(workspace, journal=journal, options=FAST)
    [outcome] = report.outcomes
    assert outcome.outcome is Outcome.DONE
    assert outcome.code == "completed"
    assert outcome.message is not None
    assert outcome.message.startswith("in effect after ")
    assert [(e.event, e.outcome) for e in journal.entries] == [
        ("intent", None),
        ("outcome", Outcome.PENDING),
        ("outcome", Outcome.DONE),
    ]
    assert writes(jasper) == [f"PUT /rws/api/v1/devices/{sim.iccid}"]


def test_a_change_still_pending_at_the_timeout_is_followed_up_by_the_next_apply() -> None:
    us, jasper, _ = tapped("jasper")
    jasper.edit_status, jasper.edit_delay = 202, math.inf  # type: ignore[attr-defined]
    first, second = pick(jasper, SimStatus.ACTIVE, count=2)
    changes = ChangeSet()
    changes.add(first.iccid, status="deactivated")
    changes.add(second.iccid, status="deactivated")
    journal = MemoryJournal()
    events: list[ApplyEvent] = []
    with Workspace({"us": us}) as workspace:
        plan = changes.plan(workspace)
        options = ApplyOptions(poll_interval=0.05, pending_timeout=0.2)
        report = plan.apply(workspace, journal=journal, options=options, progress=events.append)
        assert [(o.outcome, o.code) for o in report.outcomes] == [(Outcome.PENDING, "timeout")] * 2
        assert not report.ok
        assert report.outcomes[0].message == (
            "not in effect after 0.2 s: apply the plan again to follow it up"
        )
        assert sum(isinstance(e, SimFinished) for e in events) == 2  # once, when followed up
        # The platform completes the changes; the next apply sees it and sends nothing.
        for iccid, (_, target) in list(jasper.accepted.items()):  # type: ignore[attr-defined]
            jasper.accepted[iccid] = (0.0, target)  # type: ignore[attr-defined]
        again = plan.apply(workspace, journal=journal, options=FAST)
    assert [(o.outcome, o.code) for o in again.outcomes] == [(Outcome.DONE, "confirmed")] * 2
    assert len(writes(jasper)) == 2


def test_a_pending_change_is_followed_not_sent_again() -> None:
    us, jasper, _sim, changes = one_change("jasper", status="deactivated")
    jasper.edit_status, jasper.edit_delay = 202, math.inf  # type: ignore[attr-defined]
    journal = MemoryJournal()
    quick = ApplyOptions(poll_interval=0.05, pending_timeout=0.1)
    with Workspace({"us": us}) as workspace:
        plan = changes.plan(workspace)
        plan.apply(workspace, journal=journal, options=quick)
        again = plan.apply(workspace, journal=journal, options=quick)
    [outcome] = again.outcomes
    assert (outcome.outcome, outcome.code) == (Outcome.PENDING, "timeout")
    assert len(writes(jasper)) == 1


# -- failures ---------------------------------------------------------------------------------


def test_a_call_whose_answer_is_lost_is_settled_by_reading_the_sim() -> None:
    lab, sandbox, tap = tapped("sandbox")
    tap.lose = lambda request: request.method == "POST" and request.url.path.endswith("/status")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        report = plan.apply(workspace)
    [outcome] = report.outcomes
    assert outcome.outcome is Outcome.DONE
    assert outcome.message is not None
    answered = "in effect, although the platform answered OutcomeUnknownError"
    assert outcome.message.startswith(answered)
    assert len(writes(sandbox)) == 1  # read, not sent again


def test_a_failed_call_is_reported_and_made_by_the_next_apply() -> None:
    lab, sandbox, _ = tapped("sandbox")
    failing, fine = pick(sandbox, SimStatus.ACTIVE, count=2)
    sandbox.faults.append(Fault(status=503, method="POST", path=f"{failing.iccid}/status"))
    changes = ChangeSet()
    changes.add(failing.iccid, status="suspended")
    changes.add(fine.iccid, status="suspended")
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        report = plan.apply(workspace, journal=journal)
        again = plan.apply(workspace, journal=journal)
    assert [o.outcome for o in report.outcomes] == [Outcome.FAILED, Outcome.DONE]
    assert report.outcomes[0].message is not None
    assert report.outcomes[0].message.startswith("TransientError: ")
    assert [(o.outcome, o.code) for o in again.outcomes] == [
        (Outcome.DONE, None),
        (Outcome.SKIPPED, "done_earlier"),
    ]


def test_an_account_that_cannot_connect_fails_its_sims_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab, sandbox, _ = tapped("sandbox")
    eu, emnify, _ = tapped("emnify")
    [one] = pick(sandbox, SimStatus.ACTIVE)
    [two] = pick(emnify, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(one.iccid, status="suspended")
    changes.add(two.iccid, status="suspended")
    with Workspace({"lab": lab, "eu": eu}) as workspace:
        plan = changes.plan(workspace)
    broken = Account("emnify", {**eu.settings, "application_token": "env:CDP_TEST_UNSET"})
    monkeypatch.delenv("CDP_TEST_UNSET", raising=False)
    with Workspace({"lab": lab, "eu": broken}) as workspace:
        report = plan.apply(workspace)
    done, failed = report.outcomes
    assert done.outcome is Outcome.DONE
    assert (failed.outcome, failed.code) == (Outcome.FAILED, "account")
    assert failed.message is not None
    assert "CDP_TEST_UNSET" in failed.message


# -- limits -----------------------------------------------------------------------------------


def test_max_changes_and_confirmation_hold_at_apply_time() -> None:
    lab, sandbox, _ = tapped("sandbox")
    retire, other = pick(sandbox, SimStatus.ACTIVE, count=2)
    sandbox.fleet.set_status(retire.iccid, SimStatus.DEACTIVATED, at=NOW, actor="ops")
    changes = ChangeSet()
    changes.add(retire.iccid, status="retired")
    changes.add(other.iccid, status="suspended")
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace, confirm_irreversible=True)
        with pytest.raises(TooManyChangesError):
            plan.apply(workspace, max_changes=1)
        assert writes(sandbox) == []
        unconfirmed = plan.apply(workspace)
        confirmed = plan.apply(workspace, confirm_irreversible=True)
    assert [(o.outcome, o.code) for o in unconfirmed.outcomes] == [
        (Outcome.REFUSED, "confirm_irreversible"),
        (Outcome.DONE, None),
    ]
    assert confirmed.outcomes[0].outcome is Outcome.DONE
    assert sandbox.fleet.sims[retire.iccid].status is SimStatus.RETIRED


def test_accounts_run_in_parallel_each_within_its_concurrency() -> None:
    shared = Flight()
    lab, sandbox, lab_tap = tapped("sandbox", 30)
    us, jasper, us_tap = tapped("jasper", 30)  # max_concurrency=1: one call at a time
    lab_tap.shared = us_tap.shared = shared
    changes = ChangeSet.for_subscriptions(
        [{"iccid": s.iccid} for s in pick(sandbox, SimStatus.ACTIVE, count=10)]
        + [{"iccid": s.iccid} for s in pick(jasper, SimStatus.ACTIVE, count=6)],
        status="deactivated",
    )
    with Workspace({"lab": lab, "us": us}) as workspace:
        plan = changes.plan(workspace)
        lab_tap.own, us_tap.own, shared.peak = Flight(), Flight(), 0
        report = plan.apply(workspace, options=ApplyOptions(concurrency=None))
        narrow = ChangeSet.for_subscriptions(
            [{"iccid": s.iccid} for s in pick(sandbox, SimStatus.ACTIVE, count=6)],
            status="suspended",
        ).plan(workspace)
        lab_tap.own = Flight()
        narrowed = narrow.apply(workspace, options=ApplyOptions(concurrency=2))
    assert report.ok
    assert us_tap.own.peak == 1  # Control Center: one call at a time
    assert shared.peak > 1  # the two accounts at once
    assert narrowed.counts[Outcome.DONE] == 6
    assert lab_tap.own.peak == 2  # two SIMs at once, as asked


def test_apply_options_are_checked() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        ApplyOptions(concurrency=0)
    with pytest.raises(ValueError, match="pending_timeout"):
        ApplyOptions(pending_timeout=-1)
    with pytest.raises(ValueError, match="poll_interval"):
        ApplyOptions(poll_interval=0)


def test_a_sim_that_left_its_account_fails_and_a_half_done_sim_is_finished() -> None:
    lab, sandbox, _ = tapped("sandbox")
    gone, half = pick(sandbox, SimStatus.ACTIVE, count=2)
    sandbox.faults.append(Fault(status=503, method="PATCH", path=f"{half.iccid}/tags"))
    changes = ChangeSet()
    changes.add(gone.iccid, status="suspended")
    changes.add(half.iccid, status="suspended", tags={"batch": "7"})
    journal = MemoryJournal()
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        del sandbox.fleet.sims[gone.iccid]
        first = plan.apply(workspace, journal=journal)
        again = plan.apply(workspace, journal=journal)
    left, partial = first.outcomes
    assert (left.outcome, left.code) == (Outcome.FAILED, "sim_not_found")
    assert left.message is not None
    assert left.message.startswith("NotFoundError: ")
    assert [(s.step, s.outcome) for s in partial.steps] == [
        (Step.STATUS, Outcome.DONE),
        (Step.TAGS, Outcome.FAILED),
    ]
    assert partial.outcome is Outcome.FAILED
    finished = again.outcomes[1]
    assert [(s.step, s.outcome, s.code) for s in finished.steps] == [
        (Step.STATUS, Outcome.SKIPPED, "done_earlier"),
        (Step.TAGS, Outcome.DONE, None),
    ]
    assert finished.outcome is Outcome.DONE
    assert sandbox.fleet.sims[half.iccid].tags["batch"] == "7"


def test_an_apply_stops_when_its_journal_cannot_write() -> None:
    lab, sandbox, _ = tapped("sandbox")
    sims = pick(sandbox, SimStatus.ACTIVE, count=4)
    changes = ChangeSet.for_subscriptions([{"iccid": s.iccid} for s in sims], status="suspended")

    class Full(MemoryJournal):
        async def record(self, entry: object) -> None:
            raise OSError("no space left on device")

    closed: list[object] = []

    class Watched(Full):
        async def close(self, report: object) -> None:
            closed.append(report)

    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        with pytest.raises(OSError, match="no space left"):
            plan.apply(workspace, journal=Watched())
    assert writes(sandbox) == []  # no intent recorded: no call made
    assert closed == [None]
