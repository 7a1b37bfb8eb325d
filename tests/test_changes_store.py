"""The store's journal of applies: plans, intents and outcomes, runs and HTTP calls; the
schema version that brings the tables; purge."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update

from cdp_sdk import SimStatus
from cdp_sdk.changes import ChangeSet, Outcome, Plan, PlanFileError
from cdp_sdk.errors import ConfigurationError
from cdp_sdk.sync import Store, schema
from cdp_sdk.sync._changes import journal_rows
from cdp_sdk.workspace import Workspace
from emulated import emulated, pick


def applied(tmp_path: Path) -> tuple[Store, Plan, list[str]]:
    lab, sandbox = emulated("sandbox")
    eu, emnify = emulated("emnify")
    one, two = pick(sandbox, SimStatus.ACTIVE, count=2)
    [three] = pick(emnify, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(one.iccid, status="suspended", tags={"batch": "7"})
    changes.add(two.iccid, status="retired")  # refused: live -> terminated, not confirmed
    changes.add(three.iccid, status="suspended")
    store = Store(tmp_path / "cdp.db")
    with Workspace({"lab": lab, "eu": eu}) as workspace:
        plan = changes.plan(workspace)
        report = plan.apply(workspace, store=store)
    assert report.run_id is not None
    return store, plan, [one.iccid, two.iccid, three.iccid]


def test_each_intent_and_outcome_is_a_journal_row(tmp_path: Path) -> None:
    store, plan, (one, two, three) = applied(tmp_path)
    with store:
        entries = journal_rows(store, plan.id)
        [run] = store.runs()
        calls = store.rows("api_calls")
        [recorded] = store.rows("change_plans")
    rows = [(e.account, e.iccid, e.step, e.event, e.outcome) for e in entries]
    assert sorted(rows, key=str) == sorted(
        [
            ("lab", one, "status", "intent", None),
            ("lab", one, "status", "outcome", Outcome.DONE),
            ("lab", one, "tags", "intent", None),
            ("lab", one, "tags", "outcome", Outcome.DONE),
            ("lab", two, "sim", "outcome", Outcome.REFUSED),
            ("eu", three, "status", "intent", None),
            ("eu", three, "status", "outcome", Outcome.DONE),
        ],
        key=str,
    )
    for iccid, step in ((one, "status"), (one, "tags"), (three, "status")):
        mine = [e.event for e in entries if (e.iccid, e.step) == (iccid, step)]
        assert mine == ["intent", "outcome"]
    assert {e.run_id for e in entries} == {run.run_id}
    refusal = next(e for e in entries if e.iccid == two)
    assert refusal.code == "transition"
    assert refusal.detail is not None
    assert "retiring a SIM cannot be undone" in refusal.detail
    assert next(e for e in entries if e.event == "intent").request is not None
    # The run: kind changes, partial (one SIM refused); its calls journaled without ICCIDs.
    assert (run.kind, run.status) == ("changes", "partial")
    mine = [c for c in calls if c["run_id"] == run.run_id]
    assert {c["entity"] for c in mine} == {"changes"}
    assert {c["account"] for c in mine} == {"lab", "eu"}
    assert not any(one in c["path"] or three in c["path"] for c in calls)
    assert (recorded["id"], recorded["digest"], recorded["changes"]) == (
        plan.id,
        plan.digest,
        2,
    )


def test_the_store_refuses_another_plan_under_a_known_id(tmp_path: Path) -> None:
    store, plan, _ = applied(tmp_path)
    data = plan.model_dump()
    data["changes"][0]["change"]["status"] = "deactivated"
    forged = Plan.model_validate(data)
    lab, _ = emulated("sandbox")
    with store, Workspace({"lab": lab}) as workspace:
        before = len(store.rows("change_journal"))
        with pytest.raises(PlanFileError, match="the plan file was changed"):
            forged.apply(workspace, store=store)
        assert len(store.rows("change_journal")) == before
        assert len(store.runs()) == 1


def test_a_store_and_a_journal_are_not_both_given(tmp_path: Path) -> None:
    store, plan, _ = applied(tmp_path)
    lab, _ = emulated("sandbox")
    from cdp_sdk.changes import MemoryJournal

    with store, Workspace({"lab": lab}) as workspace, pytest.raises(ValueError, match="not both"):
        plan.apply(workspace, store=store, journal=MemoryJournal())


def test_purging_an_account_deletes_its_journal(tmp_path: Path) -> None:
    store, plan, _ = applied(tmp_path)
    with store:
        report = store.purge_account("lab")
        left = journal_rows(store, plan.id)
        runs = store.runs()
    assert report.deleted["change_journal"] == 5
    assert {entry.account for entry in left} == {"eu"}
    assert len(runs) == 1  # still referenced by eu's rows


def test_a_version_1_store_gets_the_change_tables(tmp_path: Path) -> None:
    database = tmp_path / "cdp.db"
    with Store(database) as store, store.engine.begin() as connection:
        schema.change_journal.drop(connection)
        schema.change_plans.drop(connection)
        connection.execute(
            update(schema.store_info)
            .where(schema.store_info.c.name == "schema_version")
            .values(value="1")
        )
    with Store(database) as store:
        tables = set(inspect(store.engine).get_table_names())
        with store.engine.connect() as connection:
            version = connection.scalar(select(schema.store_info.c.value))
    assert {"change_journal", "change_plans"} <= tables
    assert version == str(schema.SCHEMA_VERSION) == "4"


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "cdp.db"
    with Store(database) as store, store.engine.begin() as connection:
        connection.execute(update(schema.store_info).values(value=str(schema.SCHEMA_VERSION + 1)))
    with pytest.raises(
        ConfigurationError, match=f"schema version {schema.SCHEMA_VERSION + 1}, newer"
    ):
        Store(database)


def test_the_change_tables_are_store_tables() -> None:
    assert {"change_plans", "change_journal"} <= set(schema.tables)
    assert schema.change_journal not in schema.ENTITY_TABLES


def insert_sims(store: Store, rows: list[dict[str, object]]) -> None:
    base = {
        "id": "x",
        "connector": "sandbox",
        "status": "active",
        "status_raw": "live",
        "extra": {},
    }
    with store.engine.begin() as connection:
        connection.execute(schema.subscriptions.insert(), [{**base, **row} for row in rows])


def test_the_store_finds_sims_by_account_and_reports_what_it_cannot_read(
    tmp_path: Path,
) -> None:
    from cdp_sdk.models import luhn_check_digit

    payload = "898830300000000001"  # the check digit appended makes another valid ICCID
    full = payload + str(luhn_check_digit(payload))
    with Store(tmp_path / "cdp.db") as store:
        insert_sims(
            store,
            [
                {"account": "eu", "id": "1", "iccid": payload},
                {"account": "eu", "id": "2", "iccid": full},
                {"account": "us", "id": "3", "iccid": "8988303000000000025"},
                {"account": "us", "id": "4", "iccid": "8988303000000000033", "status": "bogus"},
                {"account": "us", "id": "5", "iccid": "8988303000000000041", "connector": "gone"},
            ],
        )
        changes = ChangeSet()
        changes.add(payload, status="suspended")
        changes.add("8988303000000000025", status="suspended")
        changes.add("8988303000000000033", status="suspended")
        changes.add("8988303000000000041", status="suspended")
        plan = changes.plan(store=store)
        only_eu = changes.plan(store=store, accounts=["eu"])
    codes = [(c.decision.value, c.reasons[0].code if c.reasons else None) for c in plan.changes]
    assert codes == [
        ("error", "ambiguous"),
        ("apply", None),
        ("error", "lookup_failed"),
        ("error", "connector"),
    ]
    assert plan.changes[2].reasons[0].message == (
        "could not be looked up (us: its record in the store cannot be read)"
    )
    assert [c.reasons[0].code for c in only_eu.changes[1:]] == ["not_found"] * 3
    # Without activation modes in the store nor a workspace, moves are not checked.
    assert plan.changes[1].notes == (
        "sandbox's activation modes are unknown: the move is not checked",
    )


def test_the_run_of_an_apply_says_how_it_went(tmp_path: Path) -> None:
    lab, sandbox = emulated("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    done = ChangeSet()
    done.add(sim.iccid, status="suspended")
    nothing = ChangeSet()
    nothing.add("8988399000000000011", status="active")
    with Store(tmp_path / "cdp.db") as store, Workspace({"lab": lab}) as workspace:
        done.plan(workspace).apply(workspace, store=store)
        nothing.plan(workspace).apply(workspace, store=store)
        statuses = [(run.status, run.kind) for run in store.runs()]
        [failed, ok] = store.runs()
    assert statuses == [("failed", "changes"), ("ok", "changes")]
    assert (ok.finished_at is not None, failed.finished_at is not None) == (True, True)
