"""A bulk apply killed at random points resumes: no SIM changed twice, no change lost.

An emnify and a Soracom emulator are served on loopback, so their state outlives the
client. A plan changes SIMs on both (statuses and tags); a child process applies it
(``python test_changes_crash.py CONFIG DB PLAN KIND N``), journaling into the store, and
is killed with SIGKILL at one of three kinds of points:

- ``intent``: by itself, right after the Nth intent is journaled, before its call;
- ``outcome``: by itself, right after the Nth SIM's outcome is journaled;
- ``response``: by the emulator, once it has made the Nth change and before it answers
  (the change is in effect; the journal holds only its intent).

Applying the same plan again must leave every SIM in its wanted state with exactly one
write request per planned call, mark what the killed run had done as done earlier, and
confirm the change whose answer was lost without sending it again. The kill points are
drawn at random (seeded); each runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdp_sdk.changes import (
    CallStarting,
    ChangeSet,
    Decision,
    Outcome,
    Plan,
    SimFinished,
    SimState,
    Step,
)
from cdp_sdk.changes._rules import wanted_reached
from cdp_sdk.cli._platforms import platform, serve
from cdp_sdk.models import SimStatus
from cdp_sdk.sandbox import Emulator
from cdp_sdk.sync import Store, schema
from cdp_sdk.sync._changes import journal_rows
from cdp_sdk.workspace import BaseWorkspace, Workspace

TODAY = date(2024, 6, 15)
ACCOUNTS = {"eu": "emnify", "jp": "soracom"}
SIZE = 30
KINDS = ("intent", "outcome", "response")


@dataclass
class Scenario:
    config: Path
    emulators: dict[str, Emulator]


@contextmanager
def platforms(root: Path) -> Iterator[Scenario]:
    """Fresh emulators on loopback and a workspace file naming them."""
    with ExitStack() as stack:
        emulators: dict[str, Emulator] = {}
        accounts = {}
        for account, connector in ACCOUNTS.items():
            built_in = platform(connector)
            emulator = built_in.start(built_in.fleet(SIZE, today=TODAY), unlimited=True)
            server = stack.enter_context(serve(emulator))
            emulators[account] = emulator
            accounts[account] = {
                "connector": connector,
                **built_in.settings(server.url),
                **built_in.client_settings,
            }
        config = root / "cdp.toml"
        config.write_text(BaseWorkspace(accounts).to_toml())
        config.chmod(0o600)
        yield Scenario(config, emulators)


def changes_for(scenario: Scenario) -> ChangeSet:
    """Active SIMs suspended and tagged, others only tagged, on both platforms."""
    changes = ChangeSet()
    for account, emulator in scenario.emulators.items():
        active = [sim for sim in emulator.fleet.sorted_sims() if sim.status is SimStatus.ACTIVE]
        tag = {"vip": None} if ACCOUNTS[account] == "emnify" else {"campaign": "q3-recall"}
        for sim in active[:8]:
            changes.add(sim.iccid, status="suspended", tags=tag, account=account)
        for sim in active[8:12]:
            changes.add(sim.iccid, tags=tag, account=account)
    return changes


def plan_for(scenario: Scenario) -> Plan:
    with Workspace.load(scenario.config) as workspace:
        plan = changes_for(scenario).plan(workspace)
    assert plan.ok
    assert len(plan.to_apply) == 24
    return plan


# -- the child ------------------------------------------------------------------------------


def apply_in_child(config: str, database: str, plan_file: str, kind: str, kill_at: int) -> None:
    seen = 0

    def progress(event: object) -> None:
        nonlocal seen
        if (kind == "intent" and isinstance(event, CallStarting)) or (
            kind == "outcome" and isinstance(event, SimFinished)
        ):
            seen += 1
            if seen == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    with Workspace.load(config) as workspace, Store(database) as store:
        Plan.load(plan_file).apply(workspace, store=store, progress=progress)


# -- the parent -----------------------------------------------------------------------------


class Watch:
    """Wraps the emulators: logs the changes they make (write requests answered 2xx) and,
    with ``kill_at``, kills the child (``pid``) once it made the ``kill_at``-th change,
    before answering it. A request the dying child could not finish sending is refused
    by the emulator and is no change."""

    def __init__(self, emulators: dict[str, Emulator], kill_at: int | None) -> None:
        self.changes: list[tuple[str, str]] = []
        self.pid: int | None = None
        self.kill_at = kill_at
        self._lock = threading.Lock()
        for account, emulator in emulators.items():
            emulator.handle = self._wrap(account, emulator.handle)

    def _wrap(self, account: str, original: Any) -> Any:
        def handle(request: httpx.Request) -> httpx.Response:
            response = original(request)
            if request.method == "GET" or "/auth" in request.url.path:
                return response
            if not response.is_success:
                return response
            with self._lock:
                self.changes.append((account, request.url.path))
                if len(self.changes) == self.kill_at and self.pid is not None:
                    os.kill(self.pid, signal.SIGKILL)
                    time.sleep(0.3)  # the answer never reaches the dead client
            return response

        return handle

    def per_call(self, ids: Ids) -> Counter[tuple[str, Step]]:
        """The changes made per (ICCID, step)."""
        by_key = {}
        for iccid, (account, sim_id, endpoint_id) in ids.items():
            if ACCOUNTS[account] == "emnify":
                by_key[("eu", f"/api/v1/sim/{sim_id}")] = (iccid, Step.STATUS)
                by_key[("eu", f"/api/v1/endpoint/{endpoint_id}")] = (iccid, Step.TAGS)
            else:
                by_key[("jp", f"/v1/sims/{sim_id}/deactivate")] = (iccid, Step.STATUS)
                by_key[("jp", f"/v1/sims/{sim_id}/tags")] = (iccid, Step.TAGS)
        found: Counter[tuple[str, Step]] = Counter()
        for change in self.changes:
            assert change in by_key, f"an unexpected change: {change}"
            found[by_key[change]] += 1
        return found


Ids = dict[str, tuple[str, str, str | None]]
"""ICCID -> (account, the platform's SIM id, emnify's endpoint id)."""


def run_scenario(root: Path, database: str, kind: str, kill_at: int) -> None:
    with platforms(root) as scenario:
        plan = plan_for(scenario)
        plan_file = plan.save(root / "plan.json")
        with Workspace.load(scenario.config) as workspace:
            ids = {}
            for change in plan.to_apply:
                assert change.account is not None
                assert change.iccid is not None
                sim = workspace.run(
                    lambda w, c=change: w.connector(c.account).subscription(c.iccid)
                )
                ids[change.iccid] = (change.account, sim.id, sim.extra.get("endpoint_id"))
        watch = Watch(scenario.emulators, kill_at if kind == "response" else None)
        process = subprocess.Popen(
            [sys.executable, __file__, str(scenario.config), database, str(plan_file), kind,
             str(kill_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        watch.pid = process.pid
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == -signal.SIGKILL, stderr
        time.sleep(0.2)  # requests the child had sent are answered (to no one) by now

        with Store(database) as store:
            killed = journal_rows(store, plan.id)
        [first_run] = {entry.run_id for entry in killed}
        done_before = {
            (entry.iccid, entry.step)
            for entry in killed
            if entry.event == "outcome" and entry.outcome is Outcome.DONE
        }
        unanswered = {
            (entry.iccid, entry.step)
            for entry in killed
            if entry.event == "intent"
            and not any(
                later.event == "outcome" and (later.iccid, later.step) == (entry.iccid, entry.step)
                for later in killed
            )
        }
        calls = {
            (change.iccid, call.step.value) for change in plan.to_apply for call in change.calls
        }
        assert done_before < calls  # the kill landed mid-apply
        if kind != "outcome":
            assert unanswered  # the Nth intent has no outcome

        with Workspace.load(scenario.config) as workspace, Store(database) as store:
            report = plan.apply(workspace, store=store)
            runs = store.runs()
            journal = journal_rows(store, plan.id)
            states = {
                change.iccid: workspace.run(
                    lambda w, c=change: w.connector(c.account).subscription(c.iccid)
                )
                for change in plan.to_apply
            }

        # Every SIM reached its wanted state: no change lost.
        assert report.ok, report.summary()
        for change in plan.to_apply:
            state = SimState.of(states[change.iccid], observed_at=plan.created_at, source="live")
            assert wanted_reached(change.change, state), change.iccid
        # One change per planned call: nothing changed twice, nothing sent blindly again.
        assert watch.per_call(ids) == Counter({(iccid, Step(step)): 1 for iccid, step in calls})
        # The journal tells what was done before the kill ...
        resumed = [entry for entry in journal if entry.run_id != first_run]
        for iccid, step in done_before:
            [entry] = [e for e in resumed if (e.iccid, e.step) == (iccid, step)]
            assert entry.outcome is Outcome.SKIPPED
            assert entry.code == "done_earlier"
        # ... and each call is done exactly once across the runs.
        done = Counter(
            (e.iccid, e.step) for e in journal if e.event == "outcome" and e.outcome is Outcome.DONE
        )
        assert done == Counter(dict.fromkeys(calls, 1))
        for iccid, step in unanswered:
            intents = [
                e for e in resumed if (e.iccid, e.step) == (iccid, step) and e.event == "intent"
            ]
            [outcome] = [
                e for e in resumed if (e.iccid, e.step) == (iccid, step) and e.event == "outcome"
            ]
            if outcome.code == "confirmed":  # it had gone through: not sent again
                assert intents == []
            else:  # it had not: sent once now
                assert len(intents) == 1
                assert outcome.outcome is Outcome.DONE
        if kind == "response":
            assert any(e.code == "confirmed" and e.event == "outcome" for e in resumed), (
                "the change whose answer was lost is confirmed, not sent again"
            )
        resumed_run, killed_run = runs[:2]
        assert (resumed_run.kind, resumed_run.status) == ("changes", "ok")
        assert killed_run.kind == "changes"
        assert killed_run.status not in ("ok", "partial", "failed")  # it never finished


def kill_point(seed: int) -> tuple[str, int]:
    """A random kind and point: inside the 24 SIMs, 40 calls and 40 writes of the plan."""
    draw = random.Random(seed)
    kind = draw.choice(KINDS)
    return kind, draw.randint(1, 23 if kind == "outcome" else 39)


CASES = [("intent", 1), ("response", 1), ("outcome", 12)] + [kill_point(s) for s in range(3)]


@pytest.mark.parametrize(("kind", "kill_at"), CASES)
def test_a_killed_apply_resumes_on_sqlite(tmp_path: Path, kind: str, kill_at: int) -> None:
    run_scenario(tmp_path, str(tmp_path / "cdp.db"), kind, kill_at)


@pytest.mark.parametrize(("kind", "kill_at"), [kill_point(seed) for seed in range(10, 13)])
def test_a_killed_apply_resumes_on_postgres(
    tmp_path: Path, postgres_url: str, kind: str, kill_at: int
) -> None:
    try:
        run_scenario(tmp_path, postgres_url, kind, kill_at)
    finally:
        with Store(postgres_url) as store, store.engine.begin() as connection:
            schema.metadata.drop_all(connection)


def test_the_plan_has_forty_calls(tmp_path: Path) -> None:
    """The kill points above fall inside the apply: 24 SIMs, 40 calls (and writes)."""
    with platforms(tmp_path) as scenario:
        plan = plan_for(scenario)
    assert sum(len(change.calls) for change in plan.to_apply) == 40
    assert {change.decision for change in plan.changes} == {Decision.APPLY}


if __name__ == "__main__":
    apply_in_child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
