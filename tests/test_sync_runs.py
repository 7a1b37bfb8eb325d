"""The store's files and runs: private file modes, the schema upgrade, interrupted runs.

A run left ``running`` by a process that is gone is marked ``interrupted`` by the next
run; one running right now in another process (on PostgreSQL, from another machine) is
left alone; Ctrl-C and cancellation mark a run interrupted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, insert, inspect, select, text
from sqlalchemy.exc import OperationalError

from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.sandbox import Fleet
from cdp_sdk.sync import InsecureStoreWarning, PageCommitted, Store, SyncEvent, _liveness, schema
from cdp_sdk.sync._db import create_store_engine, database_url
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from pg import create_database
from test_sync import NOW, TODAY, snapshot


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def workspace(
    size: int = 12, *, latency: float = 0.0, emulators: list[SandboxEmulator] | None = None
) -> Workspace:
    """Two sandbox accounts in pages of 4; ``emulators`` collects their emulators."""
    accounts = {}
    for name, seed in (("eu", 1), ("us", 2)):
        emulator = SandboxEmulator(
            Fleet(size, seed=seed, today=TODAY), requests_per_second=10**6, latency=latency
        )
        emulator.max_page_size = 4
        if emulators is not None:
            emulators.append(emulator)
        accounts[name] = Account("sandbox", {"rate_limit": None}, emulator.transport())
    return Workspace(accounts)


# -- file modes ------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_new_store_and_the_files_sqlite_adds_beside_it_are_private(tmp_path: Path) -> None:
    database = tmp_path / "cdp.db"
    previous = os.umask(0)  # even with a permissive umask
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a new store warns about nothing
            with workspace() as accounts, Store(database) as store:
                store.sync(accounts, now=NOW, entities=["subscriptions"])
                files = {path.name: mode(path) for path in tmp_path.iterdir()}
    finally:
        os.umask(previous)
    assert files == {"cdp.db": 0o600, "cdp.db-wal": 0o600, "cdp.db-shm": 0o600}


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(
    ("before", "after"), [(0o644, 0o600), (0o666, 0o600), (0o640, 0o600), (0o604, 0o600)]
)
def test_an_existing_store_readable_by_others_is_tightened_and_says_so(
    tmp_path: Path, before: int, after: int
) -> None:
    database = tmp_path / "cdp.db"
    Store(database).close()
    journal = tmp_path / "cdp.db-journal"
    journal.write_bytes(b"")
    for path in (database, journal):
        path.chmod(before)

    with pytest.warns(InsecureStoreWarning) as warned:
        Store(database).close()

    assert mode(database) == after
    assert mode(journal) == after
    messages = sorted(str(w.message) for w in warned)
    assert messages == [
        f"the store file {path} was readable or writable by other users "
        f"(mode {before:04o}); its mode is now {after:04o}"
        for path in sorted((database, journal), key=str)
    ]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("private", [0o600, 0o400, 0o700])
def test_a_private_store_keeps_its_mode_without_a_warning(tmp_path: Path, private: int) -> None:
    database = tmp_path / "cdp.db"
    Store(database).close()
    database.chmod(private)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with contextlib.suppress(Exception):  # a 0400 store may refuse writes: not our case
            Store(database).close()
    assert mode(database) == private


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_store_whose_mode_cannot_change_asks_for_chmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "cdp.db"
    Store(database).close()
    database.chmod(0o644)

    def refuse(path: object, mode: int) -> None:
        raise PermissionError("not the owner")

    monkeypatch.setattr(os, "chmod", refuse)
    with pytest.warns(InsecureStoreWarning, match=r"\(mode 0644\) and could not be changed: chmod"):
        Store(database).close()


# -- the schema upgrade ----------------------------------------------------------------------------


ADDED_IN_4 = {("sync_runs", "host"), ("sync_runs", "pid"), ("sync_runs", "heartbeat_at")}
ADDED_IN_4 |= {("sync_results", "cleaned"), ("sync_results", "quarantined")}
"""The columns schema version 4 added to tables that existed before it."""


def version_1(
    target: str, *, version: int = 1, present: frozenset[tuple[str, str]] = frozenset()
) -> None:
    """Write an empty store as cdp-sdk wrote schema version 1 (or ``version``, before 4),
    with one run left running since yesterday (before runs recorded their process);
    ``present``: columns of version 4 the store has already."""
    added = ADDED_IN_4 - present
    old = MetaData()
    for table in schema.metadata.sorted_tables:
        if table.name == "quarantine":
            continue
        columns = [c._copy() for c in table.columns if (table.name, c.name) not in added]
        Table(table.name, old, *columns)
    engine = create_store_engine(database_url(target))
    try:
        old.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                insert(old.tables["store_info"]).values(name="schema_version", value=str(version))
            )
            connection.execute(
                insert(old.tables["sync_runs"]).values(
                    kind="sync",
                    status="running",
                    started_at=datetime.now(UTC) - timedelta(days=1),
                    records=0,
                    errors=0,
                )
            )
    finally:
        engine.dispose()
    if "://" not in target:
        Path(target).chmod(0o600)  # version 1 made it 0644: not what this test is about


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_version_1_store_is_upgraded_in_place(
    dialect: str, tmp_path: Path, postgres_url: str
) -> None:
    target = (
        str(tmp_path / "old.db")
        if dialect == "sqlite"
        else create_database(postgres_url, "upgrade_v1")
    )
    version_1(target)

    with Store(target) as store, workspace() as accounts:
        with store.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("sync_results")}
            version = connection.scalar(text("select value from store_info"))
        assert {"cleaned", "quarantined"} <= columns
        assert version == str(schema.SCHEMA_VERSION) == "4"
        [old] = store.runs()
        assert old.status == "running"
        report = store.sync(accounts, now=NOW)
        assert report.ok
        assert [run.status for run in store.runs()] == ["ok", "interrupted"]
    Store(target).close()  # opening an upgraded store again changes nothing


@pytest.mark.parametrize("version", [1, 2, 3])
def test_every_version_before_4_gets_the_columns_of_4(version: int, tmp_path: Path) -> None:
    version_1(str(tmp_path / "old.db"), version=version)

    with Store(tmp_path / "old.db") as store, store.engine.connect() as connection:
        columns = {
            (table, column["name"])
            for table in ("sync_runs", "sync_results")
            for column in inspect(connection).get_columns(table)
        }
        assert columns >= ADDED_IN_4
        assert connection.scalar(text("select value from store_info")) == "4"


def test_an_upgrade_adds_only_the_columns_missing(tmp_path: Path) -> None:
    """A store that has some of version 4's columns already (an upgrade by hand, half
    done) gets the others, each once."""
    present = frozenset({("sync_runs", "host"), ("sync_results", "cleaned")})
    version_1(str(tmp_path / "old.db"), version=3, present=present)

    with Store(tmp_path / "old.db") as store, store.engine.connect() as connection:
        runs = [column["name"] for column in inspect(connection).get_columns("sync_runs")]
        results = [column["name"] for column in inspect(connection).get_columns("sync_results")]
        [old] = store.runs()
    assert {"host", "pid", "heartbeat_at"} <= set(runs)
    assert {"cleaned", "quarantined"} <= set(results)
    assert len(runs) == len(set(runs))
    assert len(results) == len(set(results))
    assert old.status == "running"


# -- runs of processes that are gone ---------------------------------------------------------------


def running_row(store: Store, **values: Any) -> int:
    now = datetime.now(UTC)
    row = {
        "kind": "sync",
        "status": "running",
        "started_at": now,
        "records": 0,
        "errors": 0,
        "host": _liveness.this_host(),
        "pid": os.getpid(),
        "heartbeat_at": now,
        **values,
    }
    result = store.transaction(lambda c: c.execute(insert(schema.sync_runs).values(**row)))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def status(store: Store, run_id: int) -> str:
    return str(
        store.read(
            lambda c: c.scalar(
                select(schema.sync_runs.c.status).where(schema.sync_runs.c.id == run_id)
            )
        )
    )


def finished_process() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[Store]:
    target = (
        str(tmp_path / "cdp.db")
        if request.param == "sqlite"
        else create_database(postgres_url, f"runs_{request.node.name}")
    )
    with Store(target) as opened:
        yield opened


def test_only_the_runs_of_dead_processes_are_marked_interrupted(store: Store) -> None:
    stale = datetime.now(UTC) - _liveness.STALE_AFTER - timedelta(seconds=5)
    fresh = datetime.now(UTC) - timedelta(seconds=20)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_here = running_row(store, pid=finished_process())
        alive_here = running_row(store, pid=sleeper.pid)
        this_process = running_row(store)
        elsewhere_fresh = running_row(store, host="another-host", pid=1, heartbeat_at=fresh)
        elsewhere_stale = running_row(store, host="another-host", pid=1, heartbeat_at=stale)
        alive_but_silent = running_row(store, pid=sleeper.pid, heartbeat_at=stale)
        old_schema = running_row(store, host=None, pid=None, heartbeat_at=None, started_at=stale)
        finished = running_row(store, status="ok", pid=finished_process())

        marked = store.mark_interrupted()

        assert sorted(run.run_id for run in marked) == sorted(
            [dead_here, elsewhere_stale, alive_but_silent, old_schema]
        )
        assert all(run.status == "interrupted" and run.finished_at for run in marked)
        rows = {row["id"]: row for row in store.rows("sync_runs")}
        assert {(rows[run.run_id]["records"], rows[run.run_id]["errors"]) for run in marked} == {
            (0, 0)
        }  # they wrote nothing
        for alive in (alive_here, this_process, elsewhere_fresh):
            assert status(store, alive) == "running"
        assert sleeper.poll() is None  # looking sends the process nothing
        assert status(store, finished) == "ok"
        assert store.mark_interrupted() == []  # done once

        sleeper.kill()
        sleeper.wait()
        assert [run.run_id for run in store.mark_interrupted()] == [alive_here]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_run_marks_dead_runs_when_it_starts_and_counts_what_they_wrote(store: Store) -> None:
    dead = running_row(store, pid=finished_process())
    store.transaction(
        lambda c: c.execute(
            insert(schema.sync_results),
            [
                {
                    "run_id": dead,
                    "account": "eu",
                    "entity": entity,
                    "status": status,
                    "records": records,
                    "pages": 1,
                    "requests": 1,
                    "duration": 0.1,
                }
                for entity, status, records in (
                    ("subscriptions", "ok", 12),
                    ("tariffs", "error", 0),
                    ("usage", "ok", 30),
                )
            ],
        )
    )
    with workspace() as accounts:
        report = store.sync(accounts, now=NOW, entities=["tariffs"])

    assert report.ok
    [_, interrupted] = store.runs()
    assert interrupted.run_id == dead
    assert interrupted.status == "interrupted"
    row = store.rows("sync_runs")[0]
    assert (row["records"], row["errors"]) == (42, 1)


def test_a_running_sync_beats_and_records_its_process(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_liveness, "HEARTBEAT", timedelta(seconds=0.05))
    beats: list[datetime] = []

    def watch(event: SyncEvent) -> None:
        if isinstance(event, PageCommitted):
            [row] = [r for r in store.rows("sync_runs") if r["status"] == "running"]
            assert (row["host"], row["pid"]) == (socket.gethostname(), os.getpid())
            beats.append(row["heartbeat_at"])

    with workspace(40, latency=0.05) as accounts:
        report = store.sync(accounts, now=NOW, entities=["subscriptions"], progress=watch)

    assert report.ok
    assert len(set(beats)) >= 3  # the heartbeat moved while the run went on
    assert beats == sorted(beats)


def test_a_sync_running_in_another_process_is_left_alone(postgres_url: str) -> None:
    """Two processes sync into one PostgreSQL store at once: neither marks the other."""
    target = create_database(postgres_url, "concurrent")
    Store(target).close()
    child = subprocess.Popen(
        [sys.executable, __file__, target],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdin is not None
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "running"  # its run row exists
        with Store(target) as store, workspace() as accounts:
            mine = store.sync(accounts, now=NOW, accounts=["us"])
            theirs = [run for run in store.runs() if run.run_id != mine.run_id]
            assert mine.ok
            assert [run.status for run in theirs] == ["running"]
        child.stdin.write("go on\n")  # the other sync waited for this, however slow we were
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
        with Store(target) as store:
            assert sorted(run.status for run in store.runs()) == ["ok", "ok"]
    finally:
        child.kill()
        child.wait()


def _held_sync_in_a_child(target: str) -> None:
    """The other process of the test above: a sync that says when it runs, then waits
    until it is told to go on (with a run row still ``running``)."""
    announced = False

    def announce(event: SyncEvent) -> None:
        nonlocal announced
        if not announced:
            print("running", flush=True)
            announced = True
            sys.stdin.readline()

    with Store(target) as store, workspace(20) as accounts:
        report = store.sync(accounts, now=NOW, accounts=["eu"], progress=announce)
    sys.exit(0 if report.ok else 1)


# -- interrupted now: Ctrl-C and cancellation ----------------------------------------------------


def test_ctrl_c_marks_the_run_interrupted_and_a_rerun_completes_it(tmp_path: Path) -> None:
    clean = tmp_path / "clean.db"
    with workspace() as accounts, Store(clean) as store:
        store.sync(accounts, now=NOW)

    database = tmp_path / "cdp.db"
    interrupted = threading.Event()
    emulators: list[SandboxEmulator] = []

    delivered = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        delivered.set()
        raise KeyboardInterrupt

    def ctrl_c(event: SyncEvent) -> None:
        if isinstance(event, PageCommitted) and not interrupted.is_set():
            interrupted.set()
            for emulator in emulators:  # slower from here: the sync cannot end first
                emulator.latency = 0.2
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the main thread
            delivered.wait(10)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with workspace(latency=0.01, emulators=emulators) as accounts, Store(database) as store:
            with pytest.raises(KeyboardInterrupt):
                store.sync(accounts, now=NOW, progress=ctrl_c)
            [run] = store.runs()
            assert run.status == "interrupted"
            assert run.finished_at is not None
    finally:
        signal.signal(signal.SIGINT, previous)

    with workspace() as accounts, Store(database) as store:
        assert store.sync(accounts, now=NOW).ok
        assert [run.status for run in store.runs()] == ["ok", "interrupted"]
        with Store(clean) as reference:
            assert snapshot(store) == snapshot(reference)


async def test_a_cancelled_sync_marks_its_run_interrupted(tmp_path: Path) -> None:
    started = asyncio.Event()

    def note(event: SyncEvent) -> None:
        started.set()

    with Store(tmp_path / "cdp.db") as store:
        accounts = {
            "eu": Account(
                "sandbox",
                {"fleet_size": 30, "seed": 1, "today": TODAY, "rate_limit": None},
            )
        }
        async with AsyncWorkspace(accounts) as async_workspace:
            task = asyncio.create_task(store.sync_async(async_workspace, now=NOW, progress=note))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        [run] = store.runs()
        assert run.status == "interrupted"


def test_a_run_that_breaks_down_is_marked_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdp_sdk.sync._runner import SyncRun

    def broken(self: SyncRun, connection: Any) -> None:
        raise RuntimeError("the cursors cannot be read")

    monkeypatch.setattr(SyncRun, "_read_cursors", broken)
    with workspace() as accounts, Store(tmp_path / "cdp.db") as store:
        with pytest.raises(RuntimeError):
            store.sync(accounts, now=NOW)
        [run] = store.runs()
        assert run.status == "failed"
        assert run.finished_at is not None


def test_closing_a_store_marks_its_unfinished_runs(tmp_path: Path) -> None:
    store = Store(tmp_path / "cdp.db")
    run_id = running_row(store)
    store._running.add(run_id)  # as a run of this store object would
    store.close()
    with Store(tmp_path / "cdp.db") as reopened:
        [run] = reopened.runs()
    assert (run.run_id, run.status) == (run_id, "interrupted")
    assert run.finished_at is not None


def test_a_store_closes_even_when_its_database_fails_to_mark_its_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "cdp.db")
    run_id = running_row(store)
    store._running.add(run_id)

    def failing(*args: Any, **kwargs: Any) -> list[int]:
        raise OperationalError("UPDATE sync_runs", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(_liveness, "mark_interrupted", failing)
    store.close()  # the next run marks it
    assert store.closed
    monkeypatch.undo()
    with Store(tmp_path / "cdp.db") as reopened:
        assert status(reopened, run_id) == "running"


if __name__ == "__main__":
    _held_sync_in_a_child(sys.argv[1])
