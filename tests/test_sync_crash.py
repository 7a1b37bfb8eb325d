"""``kill -9`` at random points of a multi-account sync, then a rerun: the store holds
exactly what a clean sync writes, on SQLite and on PostgreSQL.

The workspace has one account per built-in connector with an emulator (generated from
:data:`cdp_sdk.cli._platforms.PLATFORMS`, so new connectors join), each emulator running
in-process in the syncing process over a small deterministic fleet served a few records a
page, so that a sync commits many transactions. The test runs this module as a child
process (``python crash_sync.py TARGET N``): the child syncs into ``TARGET`` and
sends itself SIGKILL just before its Nth SQL statement, which lands inside a transaction
(rolled back by the database) or right after a commit. Each seed draws two such points:
a first sync is killed, then the resuming sync is killed again, then a last sync runs to
the end. Every entity table (quarantine included) and the cursors are then compared,
row by row and column by column, with a clean sync's: nothing lost, duplicated or
changed. The killed runs are marked ``interrupted`` by the sync that follows them.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import crash_sync
from cdp_sdk.cli._platforms import PLATFORMS
from cdp_sdk.sync import Store
from crash_sync import Rows, rows, sync

SEEDS = range(1, 7)


def killed_child(target: str, kill: tuple[str, int]) -> int:
    """Run a sync into ``target`` in a child process killed at ``kill`` (see
    :func:`crash_sync.sync`); its exit status (``-SIGKILL`` when it was killed)."""
    child = subprocess.run(
        [sys.executable, crash_sync.__file__, target, kill[0], str(kill[1])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode in (0, -signal.SIGKILL), child.stderr
    return child.returncode


def new_target(dialect: str, name: str, tmp_path: Path, postgres_url: str | None) -> str:
    if dialect == "sqlite":
        return str(tmp_path / f"{name}.db")
    from pg import create_database

    assert postgres_url is not None
    return create_database(postgres_url, f"crash_{name}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clean(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Rows, crash_sync.Counts]:
    """The dialect, the rows of a clean sync, and what that sync did."""
    dialect = request.param
    url = request.getfixturevalue("postgres_url") if dialect == "postgresql" else None
    target = new_target(dialect, "clean", tmp_path_factory.mktemp("clean"), url)
    counts = sync(target)
    return dialect, rows(target), counts


@pytest.mark.parametrize("seed", SEEDS)
def test_a_sync_killed_twice_at_random_points_resumes_to_the_rows_of_a_clean_sync(
    clean: tuple[str, Rows, crash_sync.Counts],
    seed: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    dialect, reference, counts = clean
    url = request.getfixturevalue("postgres_url") if dialect == "postgresql" else None
    target = new_target(dialect, f"seed_{seed}", tmp_path, url)
    draw = random.Random(seed)
    kills = [
        ("listing", draw.randint(1, counts.listing_ends)),  # a first sync, right after a
        ("statement", draw.randint(1, counts.statements // 2)),  # cursor; its resumption
    ]

    killed = []
    for kill in kills:
        if killed_child(target, kill) == -signal.SIGKILL:
            killed += running(target)
        else:  # a resumed sync may finish before its kill point
            assert kill[0] == "statement"
    assert len(killed) >= 1
    sync(target)

    assert rows(target) == reference
    with Store(target) as store:
        statuses = {run.run_id: run.status for run in store.runs()}
    assert [statuses[run_id] for run_id in killed] == ["interrupted"] * len(killed)
    assert "running" not in statuses.values()


def running(target: str) -> list[int]:
    """The runs left running (the one just killed, unless it died before its row)."""
    with Store(target) as store:
        return [run.run_id for run in store.runs() if run.status == "running"]


def test_the_clean_sync_commits_many_pages_of_every_account(
    clean: tuple[str, Rows, crash_sync.Counts],
) -> None:
    """The kill points fall among hundreds of statements, in every account's entities."""
    _, reference, counts = clean
    assert counts.statements > 250
    assert counts.listing_ends >= 10
    connectors = {p.connector for p in PLATFORMS}
    assert {row["account"] for row in reference["subscriptions"]} == connectors
    assert {row["account"] for row in reference["usage"]} == connectors
    for table in ("tariffs", "invoices", "audit_events", "cursors"):
        assert reference[table], table
