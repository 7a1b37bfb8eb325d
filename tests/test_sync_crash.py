"""A sync killed mid-run resumes without gaps or duplicates.

The test runs this module as a child process (``python test_sync_crash.py DB N``): it
syncs a deterministic two-account workspace and sends itself SIGKILL from the progress
callback right after the Nth page was committed, deterministically, with no timer. A rerun
into the same database must then hold exactly the rows of a clean full sync into another.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.sandbox import Fleet
from cdp_sdk.sync import PageCommitted, Store, SyncEvent, SyncOptions, schema
from cdp_sdk.workspace import Account, Workspace

TODAY = date(2024, 6, 15)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
# Short windows and small pages: many commits to be killed between.
OPTIONS = SyncOptions(window=timedelta(days=10))
BOOKKEEPING = {"run_id", "synced_at", "updated_at"}


def workspace() -> Workspace:
    """Two accounts on deterministic fleets, served 7 records a page."""
    accounts = {}
    for name, seed in (("eu", 21), ("us", 22)):
        vendor = SandboxEmulator(Fleet(45, seed=seed, today=TODAY), requests_per_second=10**6)
        vendor.max_page_size = 7
        accounts[name] = Account("sandbox", {"rate_limit": None}, vendor.transport())
    return Workspace(accounts)


def sync(database: Path, *, kill_after: int | None = None) -> None:
    committed = 0

    def progress(event: SyncEvent) -> None:
        nonlocal committed
        if isinstance(event, PageCommitted):
            committed += 1
            if committed == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    with workspace() as accounts, Store(database) as store:
        store.sync(accounts, now=NOW, options=OPTIONS, progress=progress)


Rows = dict[str, list[dict[str, object]]]


def rows(database: Path) -> Rows:
    """Every platform row and cursor, in primary-key order, without bookkeeping."""
    with Store(database) as store:
        return {
            table.name: [
                {k: v for k, v in row.items() if k not in BOOKKEEPING} for row in store.rows(table)
            ]
            for table in (*schema.ENTITY_TABLES, schema.cursors)
        }


@pytest.fixture(scope="module")
def clean(
    tmp_path_factory: pytest.TempPathFactory,
) -> Rows:
    database = tmp_path_factory.mktemp("clean") / "clean.db"
    sync(database)
    return rows(database)


@pytest.mark.parametrize("kill_after", [1, 9, 24])
def test_a_killed_sync_resumes_to_the_rows_of_a_clean_sync(
    tmp_path: Path, kill_after: int, clean: Rows
) -> None:
    database = tmp_path / "killed.db"
    child = subprocess.run(
        [sys.executable, __file__, str(database), str(kill_after)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    with Store(database) as store:
        [run] = store.runs()
        assert run.status == "running"  # killed before it could finish
        assert sum(r.pages for r in run.results) < kill_after  # results lag the pages
    interrupted = rows(database)
    assert interrupted != clean  # the kill did land mid-sync
    assert sum(map(len, interrupted.values())) < sum(map(len, clean.values()))

    sync(database)

    assert rows(database) == clean
    with Store(database) as store:
        assert [r.status for r in store.runs()] == ["ok", "running"]


def test_the_clean_sync_has_many_pages(tmp_path: Path) -> None:
    """The kill points above fall inside the run: it commits well over 24 pages."""
    pages = 0

    def count(event: SyncEvent) -> None:
        nonlocal pages
        pages += isinstance(event, PageCommitted)

    with workspace() as accounts, Store(tmp_path / "cdp.db") as store:
        report = store.sync(accounts, now=NOW, options=OPTIONS, progress=count)
    assert report.ok
    assert pages == sum(r.pages for r in report.results) > 30


if __name__ == "__main__":
    sync(Path(sys.argv[1]), kill_after=int(sys.argv[2]))
