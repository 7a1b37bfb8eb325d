"""Sync leases at their edges (found by mutation testing): a live process keeps its
lease, the lease in the way is described whole, the heartbeat renews, a release lets go,
and times read in UTC whatever the machine's time zone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from cdp_sdk.sync import Store
from cdp_sdk.sync._lease import Claimant, Lease, RunLeases, acquire, process_scope

HOUR = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "cdp.db") as opened:
        yield opened


def test_a_live_process_on_this_machine_keeps_its_lease(store: Store) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = Claimant("live sync", scope=process_scope(), pid=child.pid)
        assert store.transaction(lambda c: acquire(c, live, "eu", HOUR, run_id=7)) is None
        blocking = store.transaction(lambda c: acquire(c, Claimant.here(), "eu", HOUR))
    finally:
        child.kill()
        child.wait()
    assert isinstance(blocking, Lease)
    assert (blocking.holder, blocking.pid, blocking.run_id) == ("live sync", child.pid, 7)
    assert blocking.acquired_at is not None
    assert blocking.expires_at - blocking.acquired_at == HOUR


def test_the_store_lists_leases_by_account_with_their_runs(store: Store) -> None:
    first, second = Claimant("a"), Claimant("b")
    store.transaction(lambda c: acquire(c, first, "us", HOUR, run_id=2))
    store.transaction(lambda c: acquire(c, second, "eu", HOUR, run_id=5))
    leases = store.leases()
    assert [(lease.account, lease.run_id) for lease in leases] == [("eu", 5), ("us", 2)]
    assert all(lease.expires_at - lease.acquired_at == HOUR for lease in leases)


def test_a_long_label_is_cut_to_200_characters() -> None:
    assert len(Claimant.here("x" * 300).holder) == 200


def run(coroutine_factory: Callable[[], Any]) -> Any:
    return asyncio.run(coroutine_factory())


def test_the_heartbeat_renews_held_leases_and_a_release_lets_go(store: Store) -> None:
    async def write(action: Callable[[Connection], Any]) -> Any:
        return store.transaction(action)

    async def scenario() -> tuple[datetime, datetime, RunLeases]:
        leases = RunLeases(write, timedelta(seconds=0.3), "cdp sync")
        assert await leases.acquire("eu", 1) is None
        [lease] = store.leases()
        beating = asyncio.create_task(leases.heartbeat())
        await asyncio.sleep(0.5)  # about four beats
        beating.cancel()
        with pytest.raises(asyncio.CancelledError):
            await beating
        [renewed] = store.leases()
        await leases.release("eu")
        return lease.expires_at, renewed.expires_at, leases

    started = time.monotonic()
    first, later, leases = run(scenario)
    assert later - first >= timedelta(seconds=0.2)
    assert time.monotonic() - started < 5
    assert leases.claimant.holder.startswith("cdp sync on ")
    assert leases.lost == set()
    assert leases.held == set()
    assert store.leases() == []


@pytest.fixture
def new_york_clock() -> Iterator[None]:
    """The machine's local time zone is not UTC (a worker in New York)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "America/New_York")
        time.tzset()
        yield
    time.tzset()


def test_a_lease_is_described_in_utc_on_any_machine(new_york_clock: None) -> None:
    until = datetime(2024, 6, 15, 14, 30, 5, tzinfo=UTC)
    lease = Lease("eu", "w1 on host pid 4", 4, 9, until - HOUR, until)
    assert lease.describe().endswith("lease until 2024-06-15 14:30:05 UTC)")
