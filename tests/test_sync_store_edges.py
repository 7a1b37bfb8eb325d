"""The store's own edges: pushes limited to some accounts, what a purge leaves of the run
history, a tag file's line breaks, leases by account, versions a read-only store refuses,
how database errors are named, and a new store's tables as other processes see them."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    CompileError,
    IntegrityError,
    InvalidRequestError,
    OperationalError,
    ProgrammingError,
)

from cdp_sdk.errors import ClosedError, ConfigurationError
from cdp_sdk.models import AuditEvent, AuditKind, Bearer, Direction, Granularity, UsageRecord
from cdp_sdk.sync import Store, StorePermissionError, TagChange, _store, schema
from cdp_sdk.sync._store import _created_meanwhile, _database_failure
from cdp_sdk.workspace import AsyncWorkspace, Workspace
from test_sync import NOW, in_process
from test_sync_runs import running_row

SIM = "8988303000000000010"  # in every sandbox fleet


def sqlite_error(*message: str, statement: str = "INSERT") -> OperationalError:
    """SQLAlchemy's error for ``statement`` with SQLite's error of ``message`` inside."""
    return OperationalError(statement, {}, sqlite3.OperationalError(*message))


@pytest.fixture
def workspace() -> Workspace:
    return Workspace({"eu": in_process(6, 11), "us": in_process(6, 12)})


@pytest.fixture
def store(tmp_path: Path, workspace: Workspace) -> Store:
    store = Store(tmp_path / "cdp.db")
    store.sync(workspace, entities=["subscriptions"], now=NOW)
    store.import_tags(io.StringIO(f"iccid,key,value\n{SIM},site,paris\n"))  # both accounts
    return store


# -- pushes of some accounts ------------------------------------------------------------------


def test_a_push_of_some_accounts_plans_and_pushes_only_those(
    store: Store, workspace: Workspace
) -> None:
    only_us = (TagChange("us", SIM, {"site": "paris"}),)
    with workspace, store:
        dry = store.push_tags(workspace, accounts=["us"], dry_run=True)
        assert (dry.dry_run, dry.plan.changes) == (True, only_us)

        pushed = store.push_tags(workspace, accounts=["us"])

        assert pushed.pushed == only_us
        assert [c.account for c in store.plan_tag_push(workspace).changes] == ["eu"]


async def test_the_async_push_takes_the_same_accounts_and_dry_run(
    store: Store, workspace: Workspace
) -> None:
    workspace.close()
    only_eu = (TagChange("eu", SIM, {"site": "paris"}),)
    async with AsyncWorkspace(
        {"eu": in_process(6, 11), "us": in_process(6, 12)}
    ) as async_workspace:
        dry = await store.push_tags_async(async_workspace, accounts=["eu"], dry_run=True)
        assert (dry.dry_run, dry.plan.changes, dry.pushed) == (True, only_eu, ())

        pushed = await store.push_tags_async(async_workspace, accounts=["eu"])

        assert (pushed.dry_run, pushed.pushed) == (False, only_eu)
    store.close()


# -- what a purge leaves of the run history ---------------------------------------------------


def add(store: Store, table: Any, **values: Any) -> None:
    store.transaction(lambda connection: connection.execute(insert(table).values(**values)))


def result_of(run: int, account: str) -> dict[str, Any]:
    return {
        "run_id": run,
        "account": account,
        "entity": "subscriptions",
        "status": "ok",
        "records": 1,
        "pages": 1,
        "requests": 1,
        "duration": 0.1,
    }


def call_of(run: int, account: str) -> dict[str, Any]:
    return {
        "run_id": run,
        "account": account,
        "connector": "sandbox",
        "at": NOW,
        "method": "GET",
        "path": "/v1/sims",
        "duration_ms": 1.0,
        "attempt": 1,
    }


def change_of(run: int, account: str) -> dict[str, Any]:
    return {
        "plan_id": "p",
        "run_id": run,
        "account": account,
        "iccid": SIM,
        "step": "status",
        "event": "intent",
        "at": NOW,
    }


def test_a_purge_drops_the_runs_it_leaves_empty_and_only_those(tmp_path: Path) -> None:
    with Store(tmp_path / "cdp.db") as store:
        emptied = running_row(store, status="ok")  # everything it holds is about the purged account
        add(store, schema.sync_results, **result_of(emptied, "eu"))
        add(store, schema.api_calls, **call_of(emptied, "eu"))
        add(store, schema.change_journal, **change_of(emptied, "eu"))
        with_result = running_row(store, status="ok")
        add(store, schema.sync_results, **result_of(with_result, "us"))
        with_call = running_row(store, status="ok")
        add(store, schema.api_calls, **call_of(with_call, "us"))
        with_change = running_row(store, status="ok")
        add(store, schema.change_journal, **change_of(with_change, "us"))
        running = running_row(store)  # nothing written yet: still going

        report = store.purge_account("eu")

        assert report.account == "eu"
        assert report.deleted["sync_runs"] == 1
        assert {run.run_id for run in store.runs()} == {
            with_result,
            with_call,
            with_change,
            running,
        }


def test_a_purge_leaves_no_identifier_in_the_files_of_an_open_store(
    store: Store, tmp_path: Path
) -> None:
    with store:
        store.purge_account("eu")
        store.purge_account("us")
        files = b"".join(p.read_bytes() for p in tmp_path.glob("cdp.db*"))
        assert SIM.encode() not in files  # the write-ahead log included, store still open


# -- the rest -----------------------------------------------------------------------------------


def test_a_quoted_line_break_in_a_tag_file_is_kept_as_written(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_bytes(f'iccid,key,value\r\n{SIM},note,"first\r\nsecond"\r\n'.encode())
    with store:
        store.import_tags(path)
        notes = {t.value for t in store.tags(account="eu") if t.key == "note"}
    assert notes == {"first\r\nsecond"}


def test_leases_can_be_read_for_one_account(store: Store) -> None:
    with store:
        for account in ("eu", "us"):
            add(
                store,
                schema.sync_leases,
                account=account,
                token=account,
                holder="elsewhere",
                scope="x",
                pid=1,
                acquired_at=NOW,
                expires_at=NOW + timedelta(minutes=1),
            )
        assert [lease.account for lease in store.leases()] == ["eu", "us"]
        assert [lease.account for lease in store.leases(account="us")] == ["us"]


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            schema.SCHEMA_VERSION + 1,
            f"the store has schema version {schema.SCHEMA_VERSION + 1}, newer than this "
            f"cdp-sdk reads ({schema.SCHEMA_VERSION}); upgrade cdp-sdk",
        ),
        (
            1,
            f"the store has schema version 1, older than this cdp-sdk's "
            f"({schema.SCHEMA_VERSION}); open it once where it can be written to upgrade it",
        ),
    ],
    ids=["newer", "older"],
)
def test_a_read_only_store_of_another_version_says_what_to_do(
    tmp_path: Path, version: int, message: str
) -> None:
    database = tmp_path / "cdp.db"
    with Store(database) as store, store.engine.begin() as connection:
        connection.execute(update(schema.store_info).values(value=str(version)))
    with pytest.raises(ConfigurationError) as refused:
        Store(database, read_only=True)
    assert str(refused.value).endswith(message)


@pytest.mark.parametrize(
    ("error", "meanwhile"),
    [
        (sqlite_error("table tags already exists", statement="CREATE"), True),
        (
            IntegrityError(
                "CREATE",
                {},
                Exception('duplicate key value violates unique constraint "pg_type_typname"'),
            ),
            True,
        ),
        (ProgrammingError("CREATE", {}, Exception('relation "tags" Already Exists')), True),
        (sqlite_error("database is locked", statement="CREATE"), False),
        (InvalidRequestError("a table already exists in this MetaData"), True),
        (InvalidRequestError("this transaction is inactive"), False),
    ],
    ids=["sqlite", "postgresql type", "any case", "locked", "no driver error", "other"],
)
def test_a_table_created_by_another_process_meanwhile_is_recognised(
    error: Any, meanwhile: bool
) -> None:
    assert _created_meanwhile(error) is meanwhile


def test_a_database_failure_is_named_by_its_first_line_or_its_class() -> None:
    error = sqlite_error("disk I/O error\nmore")
    assert _database_failure(error) == "OperationalError: disk I/O error"
    assert _database_failure(sqlite_error()) == ("OperationalError: OperationalError")
    # An error of SQLAlchemy's own, with no driver error inside.
    assert _database_failure(InvalidRequestError("this transaction is inactive")) == (
        "InvalidRequestError: this transaction is inactive"
    )


def test_runs_are_the_latest_twenty_or_those_asked_for(tmp_path: Path) -> None:
    with Store(tmp_path / "cdp.db") as store:
        made = [running_row(store, status="ok") for _ in range(22)]

        assert [run.run_id for run in store.runs()] == made[::-1][:20]
        assert [run.run_id for run in store.runs(limit=None)] == made[::-1]
        assert [run.run_id for run in store.runs(ids=[made[3], made[1], made[3]])] == [
            made[3],
            made[1],
        ]


def test_cursors_come_by_account_and_entity_with_when_they_moved(
    store: Store, workspace: Workspace
) -> None:
    with workspace, store:
        store.sync(workspace, entities=["tariffs", "subscriptions"], now=NOW)
        found = store.cursors()
        assert [(c.account, c.entity.value) for c in found] == sorted(
            (c.account, c.entity.value) for c in found
        )
        assert {c.account for c in found} == {"eu", "us"}
        assert {c.entity.value for c in found} >= {"subscriptions", "tariffs"}
        assert all(c.updated_at is not None and c.updated_at.tzinfo is not None for c in found)
        assert [c.account for c in store.cursors(account="us")] == ["us"] * (len(found) // 2)


# -- keys a store keeps across releases ------------------------------------------------------------


def test_the_key_of_an_audit_event_is_the_one_earlier_releases_wrote() -> None:
    """A store written by an earlier release holds these keys; a re-sync by this one must
    find its events again, not add them twice."""
    event = AuditEvent(
        connector="sandbox",
        iccid=SIM,
        occurred_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
        kind=AuditKind.STATUS_CHANGE,
        field="status",
        old_value="active",
        new_value="suspended",
        actor="ops@example.com",
    )
    assert schema.audit_key(event) == "h:da0cb2bd0b6e18af47562b1bdcb3c2bb"
    assert schema.audit_key(event.model_copy(update={"id": "42"})) == "id:42"


def test_the_key_of_a_usage_record_is_the_one_earlier_releases_wrote() -> None:
    day = UsageRecord(
        connector="sandbox",
        iccid=SIM,
        bearer=Bearer.DATA,
        quantity=1500,
        start=datetime(2026, 11, 30, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC),
        granularity=Granularity.DAY,
        zone="EU",
    )
    cycle = UsageRecord(  # no start: the current billing cycle's running total
        connector="sandbox",
        iccid=SIM,
        bearer=Bearer.SMS,
        direction=Direction.MO,
        quantity=3,
        granularity=Granularity.CYCLE,
    )
    assert schema.usage_key(day) == "8d9a2f123c7178101e49f6fc8c2e49f1"
    assert schema.usage_key(cycle) == "1360707713408a600b8acb493f42d069"


def test_the_key_of_a_quarantined_record_is_the_one_earlier_releases_wrote() -> None:
    assert schema.quarantine_key(["Subscription", SIM]) == "f36a263abf22c262d1031d3ce5204884"


# -- durability ------------------------------------------------------------------------------------


def test_a_quick_transaction_relaxes_sqlite_s_flush_for_itself_only(store: Store) -> None:
    """``durable=False``: ``synchronous=NORMAL`` while it runs, the store's setting after."""

    def synchronous(connection: Any) -> int:
        return int(connection.exec_driver_sql("PRAGMA synchronous").scalar())

    assert store.transaction(synchronous, durable=False) == 1  # NORMAL
    assert store.transaction(synchronous) == 2  # FULL: each commit flushed
    assert store.read(synchronous) == 2  # and so for every later connection


# -- closing, and entities named by a string ---------------------------------------------------


def test_a_closed_store_says_so_and_refuses_every_use(tmp_path: Path) -> None:
    store = Store(tmp_path / "cdp.db")
    store.close()
    assert store.closed is True
    for use in (lambda: store.rows("subscriptions"), store.runs, lambda: store.read(str)):
        with pytest.raises(ClosedError, match="is closed; open it again"):
            use()
    store.close()  # again: nothing to do


def test_one_entity_may_be_named_by_a_string(store: Store, workspace: Workspace) -> None:
    report = store.sync(workspace, entities="tariffs", now=NOW)
    assert report.ok
    assert {result.entity.value for result in report.results} == {"tariffs"}


@pytest.mark.parametrize("durable", [True, False])
def test_a_write_the_database_refuses_for_permission_says_so(tmp_path: Path, durable: bool) -> None:
    """The store's file became read-only after it was opened (a remount, say)."""

    def refused(connection: Any) -> None:
        raise sqlite_error("attempt to write a readonly database")

    def failing(connection: Any) -> None:
        raise sqlite_error("disk I/O error")

    with Store(tmp_path / "cdp.db") as store:
        with pytest.raises(StorePermissionError) as error:
            store.transaction(refused, durable=durable)
        assert str(error.value) == (
            f"cannot write the store {tmp_path / 'cdp.db'}: attempt to write a readonly database"
        )
        with pytest.raises(OperationalError, match="disk I/O error"):  # not a permission
            store.transaction(failing, durable=durable)


# -- opening a new store while others create it ----------------------------------------------------


class Creation:
    """``Store._create_tables`` failing with ``errors`` in turn, then doing its work."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *errors: str) -> None:
        self.calls = 0
        self.slept: list[float] = []
        self._errors = list(errors)
        create = Store._create_tables

        def create_tables(store: Store) -> None:
            self.calls += 1
            if self._errors:
                raise sqlite_error(self._errors.pop(0), statement="CREATE TABLE sync_runs")
            create(store)

        monkeypatch.setattr(Store, "_create_tables", create_tables)
        monkeypatch.setattr(_store, "time", SimpleNamespace(sleep=self.slept.append))


def test_tables_another_process_created_meanwhile_are_looked_for_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creation = Creation(monkeypatch, "table sync_runs already exists")
    with Store(tmp_path / "cdp.db") as store:
        assert store.accounts() == []
    assert creation.calls == 2
    assert creation.slept == [0.1]


def test_a_store_still_raced_after_five_tries_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creation = Creation(monkeypatch, *["table sync_runs already exists"] * 5)
    with pytest.raises(ConfigurationError, match="already exists"):
        Store(tmp_path / "cdp.db")
    assert creation.calls == 5
    assert creation.slept == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_another_failure_to_create_the_tables_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creation = Creation(monkeypatch, "disk I/O error")
    with pytest.raises(ConfigurationError) as refused:
        Store(tmp_path / "cdp.db")
    assert type(refused.value) is ConfigurationError
    assert str(refused.value) == f"cannot open the store {tmp_path / 'cdp.db'}: disk I/O error"
    assert creation.calls == 1


def test_a_store_the_database_refuses_to_create_says_it_is_a_permission_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Creation(monkeypatch, "attempt to write a readonly database")
    with pytest.raises(StorePermissionError) as refused:
        Store(tmp_path / "cdp.db")
    assert str(refused.value) == (
        f"cannot open the store {tmp_path / 'cdp.db'}: attempt to write a readonly database"
    )


def test_another_process_sees_a_new_store_s_tables_at_once_and_waits_to_write(
    tmp_path: Path,
) -> None:
    """While one process creates a new store's tables, another (a connection that does
    not wait) sees none of them yet and may not write: it waits its turn."""
    path = tmp_path / "cdp.db"
    creates: list[str] = []
    seen: list[int] = []
    locked: list[bool] = []

    def between_creates(*args: Any) -> None:
        statement = str(args[2])
        if not statement.lstrip().upper().startswith("CREATE TABLE"):
            return
        creates.append(statement)
        if len(creates) != 2:  # one table made, the next one about to be
            return
        other = sqlite3.connect(path, timeout=0)
        try:
            seen.append(other.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
            try:
                other.execute("BEGIN IMMEDIATE")
                other.rollback()
                locked.append(False)
            except sqlite3.OperationalError as exc:
                locked.append("locked" in str(exc))
        finally:
            other.close()

    event.listen(Engine, "before_cursor_execute", between_creates)
    try:
        with Store(path) as store:
            assert store.accounts() == []
    finally:
        event.remove(Engine, "before_cursor_execute", between_creates)
    assert len(creates) == len(schema.metadata.tables)
    assert seen == [0]
    assert locked == [True]


def test_a_failure_of_sqlalchemy_itself_at_opening_is_named_by_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the database's error (no driver message): the store names the error's kind."""

    def create_tables(store: Store) -> None:
        raise CompileError("Can't generate DDL for NullType()")

    monkeypatch.setattr(Store, "_create_tables", create_tables)
    with pytest.raises(ConfigurationError) as refused:
        Store(tmp_path / "cdp.db")
    assert str(refused.value) == f"cannot open the store {tmp_path / 'cdp.db'}: CompileError"
