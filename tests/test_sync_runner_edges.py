"""The sync runner at its edges: what a run keeps of an error, the quarantine's history,
the time left while usage and audit events are read, where usage resumes, and a run the
store cannot close."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import InvalidRequestError, OperationalError

from cdp_sdk.connectors.sandbox import SandboxConnector, SandboxEmulator
from cdp_sdk.errors import UnsupportedCapabilityError
from cdp_sdk.models import Bearer, Granularity, Unit, UsageRecord
from cdp_sdk.sandbox import Emulator, Fleet
from cdp_sdk.sync import (
    Entity,
    PageCommitted,
    Store,
    SyncEvent,
    SyncOptions,
    SyncReport,
    _liveness,
    schema,
)
from cdp_sdk.sync._runner import _UsageProgress, describe_error
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from emulated import emulated
from test_sync import NOW, TODAY
from test_sync_unstorable import Doctored

# -- what a run keeps of an error ----------------------------------------------------------


def test_a_database_error_is_kept_as_the_first_line_the_database_said() -> None:
    error = OperationalError("SELECT secret", {}, sqlite3.OperationalError("disk I/O error\nmore"))
    assert describe_error(error) == "OperationalError: disk I/O error"


def test_a_database_error_without_a_message_is_kept_as_its_class() -> None:
    error = OperationalError("SELECT 1", {}, sqlite3.OperationalError(""))
    assert describe_error(error) == "OperationalError: "


def test_an_error_of_sqlalchemy_itself_is_kept_with_its_message() -> None:
    # No database answered: the error has no "orig" of its own.
    assert describe_error(InvalidRequestError("no such column")) == (
        "InvalidRequestError: no such column"
    )


# -- the quarantine remembers when it first held each record --------------------------------


def test_each_quarantined_record_keeps_the_time_it_was_first_held(tmp_path: Path) -> None:
    """Two accounts of the same fleet (the same SIMs, so the same record keys). The first
    run quarantines one SIM of ``eu``; the second run that one again, a second SIM of
    ``eu`` and the first SIM in ``us``: the first keeps its first time, the two others get
    the second run's, whatever the other account held."""
    spoiled: dict[str, set[str]] = {"eu": set(), "us": set()}
    accounts = {}
    for name in spoiled:
        emulator = SandboxEmulator(Fleet(12, seed=5, today=TODAY), requests_per_second=10**6)

        def doctor(request: httpx.Request, body: Any, name: str = name) -> Any:
            if request.url.path == "/v1/sims":
                for sim in body["data"]:
                    if sim["iccid"] in spoiled[name]:
                        sim["tags"]["bad\x00key"] = "x"  # a tag key: the SIM is quarantined
            return body

        transport = Doctored(emulator.transport(), doctor)
        accounts[name] = Account("sandbox", {"rate_limit": None}, transport)
    iccids = sorted(sim.iccid for sim in emulator.fleet.sorted_sims())
    with Workspace(accounts) as workspace, Store(tmp_path / "cdp.db") as store:

        def held() -> dict[tuple[str, str], dict[str, Any]]:
            rows = store.rows("quarantine")
            return {(r["account"], json.loads(r["record"])["iccid"]): r for r in rows}

        spoiled["eu"].add(iccids[0])
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        [(key, first)] = held().items()
        assert key == ("eu", iccids[0])

        spoiled["eu"].add(iccids[1])
        spoiled["us"].add(iccids[0])
        read_everything_again(store)
        again = store.sync(workspace, entities=["subscriptions"], now=NOW + timedelta(hours=1))

        rows = held()
    assert set(rows) == {("eu", iccids[0]), ("eu", iccids[1]), ("us", iccids[0])}
    assert rows["us", iccids[0]]["record_key"] == first["record_key"]  # the same key
    assert rows["eu", iccids[0]]["first_seen_at"] == first["first_seen_at"]
    assert rows["eu", iccids[1]]["first_seen_at"] > first["first_seen_at"]
    assert rows["us", iccids[0]]["first_seen_at"] > first["first_seen_at"]
    assert {row["run_id"] for row in rows.values()} == {again.run_id}


def read_everything_again(store: Store) -> None:
    """Forget the cursors: the next sync reads everything, as a first sync would."""
    store.transaction(lambda connection: connection.execute(schema.cursors.delete()))


# -- the time left while usage and audit events are read --------------------------------


def _committed_pages(
    entity: Entity, account: Account, emulator: Emulator, options: SyncOptions, tmp_path: Path
) -> tuple[list[tuple[PageCommitted, int]], int, str | None]:
    """The committed pages of ``entity`` in a second sync (the SIMs known), each with the
    requests made when it was committed; the requests of that sync, and its detail."""
    seen: list[tuple[PageCommitted, int]] = []

    def progress(event: SyncEvent) -> None:
        if isinstance(event, PageCommitted) and event.entity is entity:
            seen.append((event, len(emulator.requests)))

    entities = ["subscriptions", entity.value]
    with Workspace({"eu": account}) as workspace, Store(tmp_path / "cdp.db") as store:
        assert store.sync(workspace, entities=entities, now=NOW, options=options).ok
        read_everything_again(store)
        emulator.requests.clear()
        report = store.sync(
            workspace, entities=entities, now=NOW, options=options, progress=progress
        )
        assert report.ok, report.errors
        return seen, len(emulator.requests), report.result("eu", entity).detail


def assert_counts_down(
    seen: list[tuple[PageCommitted, int]], total: int, *, within: float = 0.0
) -> None:
    """At every committed page, the requests left are those the sync then still made (give
    or take the pages fetched ahead, and ``within`` of them where pages per SIM vary)."""
    for event, made in seen:
        assert event.requests_left is not None
        assert abs(event.requests_left - (total - made)) <= 2 + within * (total - made)


def test_the_time_left_counts_down_the_windows_of_account_wide_audit_events(
    tmp_path: Path,
) -> None:
    vendor = SandboxEmulator(Fleet(30, seed=3, today=TODAY), requests_per_second=10**6)
    account = Account("sandbox", {"rate_limit": None}, vendor.transport())
    options = SyncOptions(history=timedelta(days=400), window=timedelta(days=20))

    seen, total, detail = _committed_pages(Entity.AUDIT_EVENTS, account, vendor, options, tmp_path)

    assert detail is None  # account-wide, window by window
    assert len(seen) >= 8
    assert_counts_down(seen, total)


def test_the_time_left_counts_down_the_sims_of_audit_events_per_sim(tmp_path: Path) -> None:
    account, emulator = emulated("jasper", 30, seed=7)
    options = SyncOptions(history=timedelta(days=360), window=timedelta(days=400))

    seen, total, detail = _committed_pages(
        Entity.AUDIT_EVENTS, account, emulator, options, tmp_path
    )

    assert detail == "events per SIM"
    assert len(seen) >= 10
    assert_counts_down(seen, total)


def test_the_time_left_counts_down_the_windows_of_account_wide_usage(tmp_path: Path) -> None:
    vendor = SandboxEmulator(Fleet(8, seed=3, today=TODAY), requests_per_second=10**6)
    vendor.max_page_size = 500
    account = Account("sandbox", {"rate_limit": None}, vendor.transport())
    options = SyncOptions(history=timedelta(days=40), window=timedelta(days=4))

    seen, total, detail = _committed_pages(Entity.USAGE, account, vendor, options, tmp_path)

    assert detail == "account totals"
    assert len(seen) >= 8
    assert_counts_down(seen, total)


def test_the_time_left_counts_sims_once_usage_turns_out_to_be_per_sim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform that refuses account totals at the first window (without declaring it):
    the run reads usage SIM by SIM, and its time left counts SIMs from then on."""
    vendor = SandboxEmulator(Fleet(30, seed=3, today=TODAY), requests_per_second=10**6)
    account = Account("sandbox", {"rate_limit": None}, vendor.transport())
    options = SyncOptions(history=timedelta(days=20), window=timedelta(days=30))
    totals = SandboxConnector.usage

    def per_sim_only(self: SandboxConnector, iccid: str | None, **kwargs: Any) -> Any:
        if iccid is None:
            raise UnsupportedCapabilityError("no account totals here")
        return totals(self, iccid, **kwargs)

    monkeypatch.setattr(SandboxConnector, "usage", per_sim_only)

    seen, total, detail = _committed_pages(Entity.USAGE, account, vendor, options, tmp_path)

    assert detail == "usage per SIM"
    assert len(seen) >= 3
    assert_counts_down(seen, total, within=0.15)  # SIMs have one to three pages


def test_usage_resumes_after_the_newest_final_record_with_an_end() -> None:
    """Final records without an end of their own (a period still open on the platform's
    side) neither move nor break where the next run's usage starts."""
    progress = _UsageProgress()
    start = datetime(2024, 6, 1, tzinfo=UTC)
    for day, end in ((1, True), (2, True), (3, False)):
        record = UsageRecord(
            connector="sandbox",
            iccid="89883100000000000017",
            bearer=Bearer.DATA,
            quantity=1,
            unit=Unit.BYTES,
            start=start + timedelta(days=day),
            end=start + timedelta(days=day + 1) if end else None,
            granularity=Granularity.DAY,
            final=True,
        )
        progress.observe(record)
    assert progress.cursor(start, None) == start + timedelta(days=3)


# -- a run the store cannot close -----------------------------------------------------------


@pytest.mark.parametrize("interrupted", [False, True], ids=["failed", "cancelled"])
async def test_a_run_the_store_cannot_close_says_so_and_closing_the_store_marks_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    interrupted: bool,
) -> None:
    from cdp_sdk.sync._runner import SyncRun

    reading = asyncio.Event()

    def broken(self: SyncRun, connection: Any) -> None:
        reading.set()
        if not interrupted:
            raise RuntimeError("the cursors cannot be read")
        time.sleep(0.2)  # the run is cancelled meanwhile

    monkeypatch.setattr(SyncRun, "_read_cursors", broken)
    accounts = {"eu": Account("sandbox", {"fleet_size": 4, "rate_limit": None})}
    path = tmp_path / "cdp.db"
    store = Store(path)
    writable = store.transaction

    def unwritable(work: Any, **kwargs: Any) -> Any:
        if getattr(work, "__name__", "") == "close":  # the run's own closing transaction
            raise OperationalError("UPDATE", {}, sqlite3.OperationalError("disk is full"))
        return writable(work, **kwargs)

    monkeypatch.setattr(store, "transaction", unwritable)
    caplog.set_level(logging.DEBUG, logger="cdp_sdk")
    async with AsyncWorkspace(accounts) as workspace:
        task = asyncio.create_task(store.sync_async(workspace, now=NOW))
        await reading.wait()
        if interrupted:
            task.cancel()
        with pytest.raises(asyncio.CancelledError if interrupted else RuntimeError):
            await task
    [run] = store.runs()
    assert run.status == "running"  # the store could not be written
    status = "interrupted" if interrupted else "failed"
    [said] = [r.getMessage() for r in caplog.records if "could not mark" in r.getMessage()]
    assert said.startswith(f"sync run {run.run_id}: could not mark it {status}: ")
    assert "disk is full" in said

    monkeypatch.undo()
    store.close()  # marks the runs of its own it could not close
    with Store(path) as reopened:
        [run] = reopened.runs()
    assert run.status == "interrupted"


def failed_after_another_process(
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    statement: str,
    parameters: Callable[[int], tuple[Any, ...]],
) -> list[SyncReport]:
    """The runs in the store at ``path`` after a sync that fails once another process has
    run ``statement`` on the store (its parameters made from the failing run's id)."""
    from cdp_sdk.sync._runner import SyncRun

    def elsewhere_then_broken(self: SyncRun, connection: Any) -> None:
        with sqlite3.connect(path) as elsewhere:
            elsewhere.execute(statement, parameters(self.run_id))
        raise RuntimeError("the cursors cannot be read")

    monkeypatch.setattr(SyncRun, "_read_cursors", elsewhere_then_broken)
    workspace = Workspace({"eu": Account("sandbox", {"fleet_size": 4, "rate_limit": None})})
    with workspace, Store(path) as store:
        with pytest.raises(RuntimeError):
            store.sync(workspace, now=NOW)
        return store.runs()


def test_a_failed_run_leaves_a_status_another_process_gave_it_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that a sweep elsewhere already marked ``interrupted`` (its heartbeat went
    silent) keeps that status when it then fails: a closed run is never closed again."""
    [run] = failed_after_another_process(
        tmp_path / "cdp.db",
        monkeypatch,
        "UPDATE sync_runs SET status = 'interrupted', finished_at = ? WHERE id = ?",
        lambda run_id: ("2024-06-15T12:00:00.000000Z", run_id),
    )
    assert run.status == "interrupted"
    assert run.finished_at == datetime(2024, 6, 15, 12, tzinfo=UTC)


def test_a_failed_run_closes_its_own_row_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync running in another process at the same time keeps running when this one
    fails."""
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    runs = failed_after_another_process(
        tmp_path / "cdp.db",
        monkeypatch,
        "INSERT INTO sync_runs (kind, status, started_at, records, errors, host, pid,"
        " heartbeat_at) VALUES ('sync', 'running', ?, 0, 0, 'another-host', 1, ?)",
        lambda run_id: (moment, moment),
    )
    assert sorted(run.status for run in runs) == ["failed", "running"]


def test_a_finished_run_keeps_its_finish_as_its_last_sign_of_life(tmp_path: Path) -> None:
    """``sync_runs.heartbeat_at`` is the last sign of life of a run: for a finished run,
    the moment it finished."""
    vendor = SandboxEmulator(Fleet(5, seed=3, today=TODAY), requests_per_second=10**6)
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, entities=["subscriptions"], now=NOW)
        assert report.ok
        (row,) = store.rows("sync_runs")
    assert row["status"] == "ok"
    assert row["finished_at"] is not None
    assert row["heartbeat_at"] == row["finished_at"]


def test_a_running_run_shows_nothing_counted_yet(tmp_path: Path) -> None:
    """While a sync runs, its row says ``running`` with no records or errors counted yet,
    and its start as its last sign of life (the heartbeat beats later)."""
    vendor = SandboxEmulator(Fleet(5, seed=3, today=TODAY), requests_per_second=10**6)
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    rows: list[dict[str, Any]] = []
    with workspace, Store(tmp_path / "cdp.db") as store:

        def watch(event: SyncEvent) -> None:
            if isinstance(event, PageCommitted) and not rows:
                rows.extend(store.rows("sync_runs"))

        assert store.sync(workspace, entities=["subscriptions"], now=NOW, progress=watch).ok
    (row,) = rows
    assert (row["status"], row["records"], row["errors"]) == ("running", 0, 0)
    assert row["heartbeat_at"] == row["started_at"]
    assert row["finished_at"] is None


def test_a_failed_heartbeat_is_logged_and_the_sync_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A heartbeat the database refuses is a warning with the run and the database's
    reason; the run goes on and the next beat tries again. Once the run is over, the
    heartbeat stops."""
    monkeypatch.setattr(_liveness, "HEARTBEAT", timedelta(milliseconds=5))
    vendor = SandboxEmulator(Fleet(5, seed=3, today=TODAY), latency=0.02)
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    caplog.set_level(logging.WARNING, logger="cdp_sdk")
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.transaction(
            lambda connection: connection.exec_driver_sql(
                "CREATE TRIGGER no_beats BEFORE UPDATE OF heartbeat_at ON sync_runs "
                "WHEN NEW.status = 'running' BEGIN SELECT RAISE(ABORT, 'no beats'); END"
            )
        )
        report = store.sync(workspace, entities=["subscriptions", "tariffs"], now=NOW)
        time.sleep(0.05)  # ten beats' time: none comes once the run is over
        (row,) = store.rows("sync_runs")
    assert report.ok
    assert row["heartbeat_at"] == row["finished_at"]
    failed = [m for m in caplog.messages if "heartbeat failed" in m]
    assert len(failed) >= 2  # beat after beat
    said = f"sync run {report.run_id}: heartbeat failed: IntegrityError: no beats"
    assert set(failed) == {said}
