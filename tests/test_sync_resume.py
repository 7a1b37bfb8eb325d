"""A sync that dies after any page, or whose database write fails, resumes to the clean result.

In process and deterministic: the progress callback raises :class:`Crash` (a
``BaseException``, which nothing in the run catches, as a kill would) right after the Nth
page was committed. The store must then hold a consistent prefix: every cursor names a
point from which a rerun misses nothing. A rerun into the same database must give exactly
the rows of a clean sync into another, at every page boundary of the run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.http import CallRecord
from cdp_sdk.sandbox import Fleet
from cdp_sdk.sync import Entity, PageCommitted, Store, SyncEvent, SyncOptions, schema
from cdp_sdk.workspace import Account, Workspace

TODAY = date(2024, 6, 15)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
BOOKKEEPING = {"run_id", "synced_at", "updated_at"}
# Over a year of history in four windows: the fleet's audit events fall inside it, and
# both usage and audit events span several closed windows and the open one.
HISTORY = {"history": timedelta(days=400), "window": timedelta(days=120)}


class Crash(BaseException):
    """The process dies here: nothing in the run catches a ``BaseException``."""


@dataclass(frozen=True)
class Scenario:
    """A one-account sandbox platform and the options of its syncs."""

    size: int
    page_size: int
    options: SyncOptions

    def workspace(self) -> tuple[Workspace, SandboxEmulator]:
        emulator = SandboxEmulator(
            Fleet(self.size, seed=21, today=TODAY), requests_per_second=1_000_000
        )
        emulator.max_page_size = self.page_size
        account = Account("sandbox", {"rate_limit": None}, emulator.transport())
        return Workspace({"eu": account}), emulator


SCENARIOS = {
    # usage SIM by SIM: several pages (one per SIM) in each usage window
    "usage per SIM": Scenario(6, 2, SyncOptions(usage_per_sim=True, **HISTORY)),
    # account totals: one usage page per window
    "account totals": Scenario(6, 3, SyncOptions(**HISTORY)),
}

Rows = dict[str, list[dict[str, Any]]]


def rows(database: Path) -> Rows:
    """Every platform row and cursor, in primary-key order, without bookkeeping."""
    with Store(database) as store:
        return {
            table.name: [
                {k: v for k, v in row.items() if k not in BOOKKEEPING} for row in store.rows(table)
            ]
            for table in (*schema.ENTITY_TABLES, schema.cursors)
        }


def sync(
    database: Path,
    scenario: Scenario,
    *,
    crash_after: int | None = None,
    calls: list[CallRecord] | None = None,
) -> int:
    """Sync ``scenario`` into ``database``; raise :class:`Crash` after page ``crash_after``.
    Returns the pages committed; ``calls`` receives every HTTP attempt."""
    committed = 0

    def progress(event: SyncEvent) -> None:
        nonlocal committed
        if isinstance(event, PageCommitted):
            committed += 1
            if committed == crash_after:
                raise Crash

    workspace, _ = scenario.workspace()
    with workspace, Store(database) as store:
        if calls is not None:
            workspace.add_call_listener(lambda account, record: calls.append(record))
        report = store.sync(workspace, now=NOW, options=scenario.options, progress=progress)
        assert report.ok, report.errors
    return committed


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def clean(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Scenario, Rows, int]:
    scenario = SCENARIOS[request.param]
    database = tmp_path_factory.mktemp("clean") / "clean.db"
    pages = sync(database, scenario)
    return scenario, rows(database), pages


def test_the_scenarios_page_every_entity(clean: tuple[Scenario, Rows, int]) -> None:
    """The crash points below fall between pages of every kind, several per listing."""
    scenario, clean_rows, pages = clean
    assert pages > 10
    for table in ("subscriptions", "usage", "invoices", "invoice_lines", "audit_events"):
        assert clean_rows[table], table
    assert len(clean_rows["subscriptions"]) > scenario.page_size  # more than one page
    assert len(clean_rows["audit_events"]) > scenario.page_size
    positions = {row["entity"]: row["position"] for row in clean_rows["cursors"]}
    assert set(positions) == {entity.value for entity in Entity}


@pytest.mark.timeout(300)  # two syncs per page boundary
def test_a_crash_after_any_page_resumes_to_the_clean_result(
    tmp_path: Path, clean: tuple[Scenario, Rows, int]
) -> None:
    scenario, clean_rows, pages = clean
    for crash_after in range(1, pages + 1):
        database = tmp_path / f"crash-{crash_after}.db"
        with pytest.raises(Crash):
            sync(database, scenario, crash_after=crash_after)
        interrupted = rows(database)
        if crash_after < pages:
            assert interrupted != clean_rows
        assert_no_gap_behind_the_cursors(interrupted, clean_rows, crash_after)

        sync(database, scenario)

        assert rows(database) == clean_rows, f"resumed after page {crash_after}"
        with Store(database) as store:
            # The crashed run was marked interrupted (its store closed while it ran).
            assert [run.status for run in store.runs()] == ["ok", "interrupted"]


def assert_no_gap_behind_the_cursors(stored: Rows, clean_rows: Rows, crash_after: int) -> None:
    """Every clean record that a rerun would not read again (it lies before the entity's
    cursor) is already stored: what a cursor promises."""
    positions = {row["entity"]: row["position"] for row in stored["cursors"]}
    for table, entity, moment in (
        ("usage", "usage", "period_start"),
        ("audit_events", "audit_events", "occurred_at"),
    ):
        if entity not in positions:
            continue
        position = positions[entity]
        keys = {_key(row) for row in stored[table]}
        behind = [row for row in clean_rows[table] if row[moment] < position]
        missing = [row for row in behind if _key(row) not in keys]
        assert not missing, f"{table}: {len(missing)} records behind the cursor lost"
        _ = crash_after


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in row.items()))


def test_the_journal_holds_the_calls_of_every_committed_page(
    tmp_path: Path, clean: tuple[Scenario, Rows, int]
) -> None:
    """After a crash, the journal has one row per HTTP call made up to the last commit
    (the calls of a page are committed with it), with what the call listener saw."""
    scenario, _, pages = clean
    for crash_after in (1, pages // 2, pages):
        database = tmp_path / f"journal-{crash_after}.db"
        calls: list[CallRecord] = []
        with pytest.raises(Crash):
            sync(database, scenario, crash_after=crash_after, calls=calls)
        with Store(database) as store:
            journal = store.rows("api_calls")
            [run] = store.rows("sync_runs")
        assert journal
        # The crashed run is marked interrupted (its store closed while it ran), with no
        # error of its own.
        assert run["status"] == "interrupted"
        assert run["finished_at"] is not None
        assert run["errors"] == 0
        assert [_journaled(row) for row in journal] == [_listened(call) for call in calls]


def _journaled(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["method"],
        row["path"],
        row["status_code"],
        row["duration_ms"],
        row["attempt"],
        row["request_id"],
        row["error"],
        row["connector"],
        row["account"],
    )


def _listened(call: CallRecord) -> tuple[Any, ...]:
    return (
        call.method,
        call.path,
        call.status_code,
        round(call.duration * 1000, 3),
        call.attempt,
        call.request_id,
        call.error,
        call.connector,
        "eu",
    )


def test_the_journal_files_each_call_under_its_entity(tmp_path: Path) -> None:
    scenario = SCENARIOS["usage per SIM"]
    calls: list[CallRecord] = []
    sync(tmp_path / "cdp.db", scenario, calls=calls)
    with Store(tmp_path / "cdp.db") as store:
        journal = store.rows("api_calls")
        [run] = store.runs()
    assert len(journal) == len(calls)
    assert {row["run_id"] for row in journal} == {run.run_id}
    per_path: dict[str, set[str]] = {}
    for row in journal:
        per_path.setdefault(row["path"], set()).add(row["entity"])
        assert row["method"] == "GET" or row["path"] == "/v1/auth"
        assert row["status_code"] == 200
        assert row["duration_ms"] >= 0
    assert per_path == {
        "/v1/auth": {"subscriptions"},
        "/v1/sims": {"subscriptions"},
        "/v1/plans": {"tariffs"},
        "/v1/sims/{iccid}/usage": {"usage"},
        "/v1/invoices": {"invoices"},
        "/v1/events": {"audit_events"},
    }
    requests = {result.entity: result.requests for result in run.results}
    for entity in Entity:
        assert requests[entity] == sum(row["entity"] == entity.value for row in journal)


# -- a failed database write --------------------------------------------------------------


def fail_usage_writes_from(database: Path, moment: datetime) -> Callable[[], None]:
    """Make the database refuse usage rows starting at or after ``moment`` (as a full
    disk would); returns the repair."""
    with sqlite3.connect(database) as raw:
        raw.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON usage "
            f"WHEN NEW.period_start >= '{moment.strftime('%Y-%m-%dT%H:%M:%S')}' "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )

    def repair() -> None:
        with sqlite3.connect(database) as raw:
            raw.execute("DROP TRIGGER refuse")

    return repair


def test_a_failed_write_keeps_the_cursor_and_the_rerun_completes(
    tmp_path: Path, clean: tuple[Scenario, Rows, int]
) -> None:
    scenario, clean_rows, _ = clean
    database = tmp_path / "cdp.db"
    with Store(database):
        pass  # the schema, for the trigger
    # The third usage window fails: the first two are committed with their cursor.
    third_window = NOW.replace(hour=0) - timedelta(days=400) + 2 * timedelta(days=120)
    repair = fail_usage_writes_from(database, third_window)
    workspace, emulator = scenario.workspace()
    with workspace, Store(database) as store:
        report = store.sync(workspace, now=NOW, options=scenario.options)
        journal = store.rows("api_calls")
        usage = store.rows("usage")
        position = {c.entity: c.position for c in store.cursors()}
    assert report.status == "partial"
    [failed] = report.errors
    assert failed.entity is Entity.USAGE
    assert failed.error is not None
    assert "database or disk is full" in failed.error
    # Usage stopped at the failed window: its cursor did not move past it ...
    assert position[Entity.USAGE] == third_window
    assert usage
    assert max(row["period_start"] for row in usage) < third_window
    assert all(row in clean_rows["usage"] for row in _without_bookkeeping(usage))
    # ... the other entities went on, and every call made is journaled, the calls of the
    # page that could not be written included.
    assert {r.entity for r in report.results if r.status == "ok"} == set(Entity) - {Entity.USAGE}
    assert len(journal) == len(emulator.requests)

    repair()
    sync(database, scenario)
    assert rows(database) == clean_rows


def _without_bookkeeping(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in BOOKKEEPING} for row in table]
