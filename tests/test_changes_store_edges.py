"""The store's side of bulk changes, at its edges (found by mutation testing): what a plan
from the store finds for an ICCID (accounts, pinned accounts, platform tags, the connector,
the stored SIM and activation modes), and what an apply leaves in the store (the run's
counters, the calls committed with each journal row, a journal that cannot write)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from cdp_sdk import SimStatus
from cdp_sdk.changes import ApplyEvent, CallStarting, ChangeSet, Decision, Outcome
from cdp_sdk.models import Subscription
from cdp_sdk.sync import Store, _changes, schema
from cdp_sdk.sync._changes import StoreSource, journal_rows
from cdp_sdk.sync._runner import RunContext
from cdp_sdk.workspace import Workspace
from emulated import emulated, pick
from test_changes_apply import one_change, writes
from test_changes_store import insert_sims

EU_SIM = "8988303000000000025"
US_SIM = "8988303000000000033"


def run_row(store: Store) -> dict[str, object]:
    [run] = store.rows("sync_runs")
    return run


# -- planning from the store ------------------------------------------------------------------


def test_a_plan_from_the_store_sees_the_sims_platform_tags_by_key(tmp_path: Path) -> None:
    with Store(tmp_path / "cdp.db") as store:
        insert_sims(store, [{"account": "eu", "iccid": EU_SIM}, {"account": "us", "iccid": US_SIM}])
        tag = {"account": "eu", "iccid": EU_SIM, "source": "platform"}
        with store.engine.begin() as connection:
            connection.execute(
                insert(schema.tags),
                [
                    {**tag, "key": "zone", "value": "b"},
                    {**tag, "key": "site", "value": "paris"},
                    {**tag, "key": "local", "value": "x", "source": "local"},
                    {**tag, "key": "site", "value": "lyon", "iccid": US_SIM, "account": "us"},
                ],
            )
        changes = ChangeSet()
        changes.add(EU_SIM, tags={"site": "paris"})  # already so on the platform
        changes.add(US_SIM, tags={"local": "x"})  # a local tag is not the platform's
        plan = changes.plan(store=store)
    paris, lyon = plan.changes
    assert paris.current is not None
    assert list(paris.current.tags.items()) == [("site", "paris"), ("zone", "b")]
    assert paris.decision is Decision.SKIP
    assert lyon.current is not None
    assert lyon.current.tags == {"site": "lyon"}
    assert lyon.decision is Decision.APPLY


def test_a_plan_from_the_store_searches_only_the_accounts_it_is_given(tmp_path: Path) -> None:
    with Store(tmp_path / "cdp.db") as store:
        insert_sims(store, [{"account": "eu", "iccid": EU_SIM}, {"account": "us", "iccid": US_SIM}])
        changes = ChangeSet()
        changes.add(EU_SIM, status="suspended")
        changes.add(US_SIM, status="suspended")
        alone = changes.plan(store=store, accounts="eu")  # one account, named as text
        eu, _ = emulated("sandbox")
        us, _ = emulated("sandbox")
        with Workspace({"eu": eu, "us": us}) as workspace:
            chosen = changes.plan(workspace, store=store, accounts=["eu"])
    for plan in (alone, chosen):
        found, other = plan.changes
        assert (found.decision, found.account) == (Decision.APPLY, "eu")
        assert [r.code for r in other.reasons] == ["not_found"]


def test_a_pinned_change_finds_its_sim_in_its_account_of_the_store(tmp_path: Path) -> None:
    with Store(tmp_path / "cdp.db") as store:
        insert_sims(
            store,
            [
                {"account": "eu", "id": "1", "iccid": EU_SIM},
                {"account": "us", "id": "2", "iccid": EU_SIM, "status": "suspended"},
            ],
        )
        plans = {}
        for account in ("eu", "us", "jp"):
            changes = ChangeSet()
            changes.add(EU_SIM, status="suspended", account=account)
            plans[account] = changes.plan(store=store)
    [eu] = plans["eu"].changes
    assert (eu.decision, eu.account) == (Decision.APPLY, "eu")
    [us] = plans["us"].changes
    assert (us.decision, us.account) == (Decision.SKIP, "us")
    [jp] = plans["jp"].changes
    assert jp.reasons[0].message == (
        "not in account 'jp' of the store: sync its account first, or plan live"
    )


def test_the_workspace_names_the_connector_of_a_stored_sim(tmp_path: Path) -> None:
    lab, _ = emulated("sandbox")
    with Store(tmp_path / "cdp.db") as store, Workspace({"lab": lab}) as workspace:
        # The store's row names a connector this installation does not have.
        insert_sims(store, [{"account": "lab", "iccid": EU_SIM, "connector": "gone"}])
        changes = ChangeSet()
        changes.add(EU_SIM, status="suspended")
        plan = changes.plan(workspace, store=store)
    [line] = plan.changes
    assert (line.decision, line.connector) == (Decision.APPLY, "sandbox")
    assert line.calls[0].transition == "live -> paused"


def test_a_lookup_of_many_sims_reads_each_sims_tags_once(tmp_path: Path) -> None:
    from cdp_sdk.changes import Change
    from cdp_sdk.models import Tag, luhn_check_digit

    # More SIMs than one query asks for: the look-up reads them, and their tags, in parts.
    payloads = [f"898830300000{n:06d}" for n in range(501)]
    iccids = [payload + str(luhn_check_digit(payload)) for payload in payloads]
    with Store(tmp_path / "cdp.db") as store:
        insert_sims(store, [{"account": "eu", "id": iccid, "iccid": iccid} for iccid in iccids])
        with store.engine.begin() as connection:
            connection.execute(
                insert(schema.tags),
                [
                    {
                        "account": "eu",
                        "iccid": iccid,
                        "source": "platform",
                        "key": "n",
                        "value": str(n),
                    }
                    for n, iccid in enumerate(iccids)
                ],
            )
        source = StoreSource(store, None, None)
        found = asyncio.run(source.lookup([Change(iccid=i, status="active") for i in iccids]))
    assert [[f.sim.tags for f in lookup.found] for lookup in found] == [
        [(Tag(key="n", value=str(n)),)] for n in range(501)
    ]


def lookup_one(source: StoreSource, iccid: str) -> Subscription:
    from cdp_sdk.changes import Change

    [found] = asyncio.run(source.lookup([Change(iccid=iccid, status="active")]))
    [sim] = found.found
    return sim.sim


@pytest.mark.parametrize(("connector", "unset"), [("jasper", set()), ("emnify", {"updated_at"})])
def test_a_stored_sim_reads_back_as_the_subscription_the_sync_saw(
    tmp_path: Path, connector: str, unset: set[str]
) -> None:
    account, _ = emulated(connector, 20, seed=7)
    with Workspace({"lab": account}) as workspace, Store(tmp_path / "cdp.db") as store:
        assert store.sync(workspace, entities=["subscriptions"]).ok
        synced = list(workspace.subscriptions())
        source = StoreSource(store, None, None)
        for sim in synced:
            # The store lists tags by key; the platform's own account is a column of the
            # store, not part of extra.
            tags = tuple(sorted(sim.tags, key=lambda tag: tag.key))
            extra = {k: v for k, v in sim.extra.items() if k != "platform_account"}
            expected = sim.model_copy(update={"tags": tags, "extra": extra})
            assert lookup_one(source, sim.iccid) == expected
    assert {sim.account for sim in synced} == {"lab"}
    # Each field is checked with a value somewhere (the EID too).
    filled = {name for name in Subscription.model_fields if any(getattr(s, name) for s in synced)}
    assert set(Subscription.model_fields) - filled == unset


def test_an_emnify_tag_change_planned_from_the_store_knows_its_endpoint(tmp_path: Path) -> None:
    eu, emnify = emulated("emnify")
    [sim] = pick(emnify, SimStatus.ACTIVE)
    with Workspace({"eu": eu}) as workspace, Store(tmp_path / "cdp.db") as store:
        assert store.sync(workspace, entities=["subscriptions"]).ok
        changes = ChangeSet()
        changes.add(sim.iccid, tags={"batch": None})
        plan = changes.plan(store=store)
    [line] = plan.changes
    assert line.decision is Decision.APPLY  # the stored extra holds the endpoint id


def test_the_stored_activation_modes_are_the_synced_ones_by_name(tmp_path: Path) -> None:
    eu, _ = emulated("emnify")
    with Workspace({"eu": eu}) as workspace, Store(tmp_path / "cdp.db") as store:
        assert store.sync(workspace, entities=["activation_modes"]).ok
        live = workspace.connect("eu").activation_modes()
        stored = asyncio.run(StoreSource(store, None, None).modes("eu"))
    assert stored == sorted(live, key=lambda mode: mode.name)
    assert any(m.auto_activates for m in live)
    assert any(m.billable for m in live)
    assert all(m.description and m.extra for m in live)


# -- the journal of an apply --------------------------------------------------------------------


def test_the_run_counts_done_sims_as_records_and_refused_or_failed_ones_as_errors(
    tmp_path: Path,
) -> None:
    lab, sandbox = emulated("sandbox")
    live, already, retire = pick(sandbox, SimStatus.ACTIVE, count=3)
    changes = ChangeSet()
    changes.add(live.iccid, status="suspended")  # done
    changes.add(already.iccid, status="active")  # skipped: already so
    changes.add(retire.iccid, status="retired")  # refused: not confirmed
    changes.add("8988399000000000011", status="active")  # failed: in no account
    with Store(tmp_path / "cdp.db") as store, Workspace({"lab": lab}) as workspace:
        report = changes.plan(workspace).apply(workspace, store=store)
        run = run_row(store)
    assert [o.outcome for o in report.outcomes] == [
        Outcome.DONE,
        Outcome.SKIPPED,
        Outcome.REFUSED,
        Outcome.FAILED,
    ]
    assert (run["kind"], run["status"], run["records"], run["errors"]) == (
        "changes",
        "partial",
        1,
        2,
    )


def test_the_calls_before_a_journal_row_are_committed_with_it(tmp_path: Path) -> None:
    lab, _sandbox, _sim, changes = one_change("sandbox", status="suspended")
    store = Store(tmp_path / "cdp.db")
    seen: list[list[str]] = []

    def progress(event: ApplyEvent) -> None:
        if isinstance(event, CallStarting):  # its intent is journaled; its call not yet made
            seen.append([f"{c['method']} {c['entity']}" for c in store.rows("api_calls")])

    with store, Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
        plan.apply(workspace, store=store, progress=progress)
        calls = store.rows("api_calls")
    # The SIM read before the call is in the store when the call starts: a crash there
    # leaves it journaled.
    assert seen == [["GET changes"]]
    assert [c["method"] for c in calls] == ["GET", "POST"]


def test_an_apply_whose_outcome_cannot_be_journaled_still_keeps_its_calls(
    tmp_path: Path,
) -> None:
    lab, sandbox, sim, changes = one_change("sandbox", status="suspended")
    with Store(tmp_path / "cdp.db") as store, Workspace({"lab": lab}) as workspace:
        with store.engine.begin() as connection:  # the journal refuses outcomes
            connection.exec_driver_sql(
                "create trigger no_outcomes before insert on change_journal "
                "when new.event = 'outcome' begin select raise(abort, 'journal full'); end"
            )
        plan = changes.plan(workspace)
        with pytest.raises(IntegrityError, match="journal full"):
            plan.apply(workspace, store=store)
        entries = journal_rows(store, plan.id)
        calls = store.rows("api_calls")
        run = run_row(store)
    assert writes(sandbox) == [f"POST /v1/sims/{sim.iccid}/status"]  # the call was made
    assert [(e.step, e.event) for e in entries] == [("status", "intent")]
    # The write whose outcome was lost is journaled all the same, when the run closes.
    assert [(c["method"], c["status_code"], c["run_id"]) for c in calls] == [
        ("GET", 200, run["id"]),
        ("POST", 200, run["id"]),
    ]
    assert (run["status"], run["records"], run["errors"]) == ("failed", 0, 0)
    assert run["finished_at"] is not None


def test_an_apply_leaves_nothing_of_its_run_in_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workspace lives on after an apply (a notebook, a service): the run that
    journaled the apply's calls is let go, not kept listening to every later call."""
    runs: weakref.WeakSet[RunContext] = weakref.WeakSet()
    made: list[int] = []

    class Counted(RunContext):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            runs.add(self)
            made.append(id(self))

    monkeypatch.setattr(_changes, "RunContext", Counted)
    lab, sandbox = emulated("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    with Store(tmp_path / "cdp.db") as store, Workspace({"lab": lab}) as workspace:
        report = changes.plan(workspace).apply(workspace, store=store)
        assert [o.outcome for o in report.outcomes] == [Outcome.DONE]
        assert len(made) == 1  # the apply did run through a journal of the store
        gc.collect()
        assert len(runs) == 0
