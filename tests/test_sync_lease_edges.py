"""Sync leases at their edges (found by mutation testing): a live process keeps its
lease, the lease in the way is described whole, the heartbeat renews, a release lets go,
and times read in UTC whatever the machine's time zone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, update

from cdp_sdk.sync import Store
from cdp_sdk.sync._lease import Claimant, Lease, RunLeases, acquire, process_scope
from cdp_sdk.sync.schema import sync_leases

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
        assert child.poll() is None  # looking sends the holder nothing
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


class Beats:
    """The heartbeat's clock, by hand: each :meth:`beat` lets one sleep of it end."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[float] = []
        self._sleep = asyncio.sleep
        self._go: asyncio.Queue[None] = asyncio.Queue()
        monkeypatch.setattr(asyncio, "sleep", self.sleep)

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self._go.get()

    async def beat(self) -> None:
        """One beat, and back to sleep (whatever it wrote is written)."""
        asleep = len(self.asked)
        self._go.put_nowait(None)
        for _ in range(500):
            if len(self.asked) > asleep:
                return
            await self._sleep(0.01)
        raise AssertionError("the heartbeat did not go back to sleep")


def expiry(store: Store, account: str) -> datetime:
    [lease] = [lease for lease in store.leases() if lease.account == account]
    return lease.expires_at


async def test_the_heartbeat_beats_every_third_of_the_lease_and_outlives_idle_beats(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failing = False

    async def write(action: Callable[[Connection], Any]) -> Any:
        if failing:
            raise OSError("the database is away")
        return await asyncio.to_thread(store.transaction, action)

    leases = RunLeases(write, timedelta(minutes=3), "cdp sync")
    beats = Beats(monkeypatch)
    beating = asyncio.create_task(leases.heartbeat())
    try:
        await beats.beat()  # nothing held yet: the heartbeat goes on
        assert beats.asked == [60.0, 60.0]
        assert await leases.acquire("eu", 1) is None
        taken = expiry(store, "eu")
        await beats.beat()
        renewed = expiry(store, "eu")
        assert renewed > taken

        failing = True
        with caplog.at_level(logging.WARNING, logger="cdp_sdk.sync"):
            await beats.beat()  # a renewal that fails is told, and the next one goes on
        assert [r.getMessage() for r in caplog.records] == [
            "could not renew the sync leases: OSError"
        ]
        failing = False
        await beats.beat()
        assert expiry(store, "eu") > renewed
        assert leases.held == {"eu"}
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def test_a_lease_the_heartbeat_finds_taken_over_is_lost(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def write(action: Callable[[Connection], Any]) -> Any:
        return await asyncio.to_thread(store.transaction, action)

    leases = RunLeases(write, timedelta(minutes=3))
    assert await leases.acquire("eu", 1) is None
    assert await leases.acquire("us", 1) is None
    thief = Claimant("the thief")
    store.transaction(
        lambda c: c.execute(
            update(sync_leases)
            .where(sync_leases.c.account == "eu")
            .values(token=thief.token, holder=thief.holder)
        )
    )
    beats = Beats(monkeypatch)
    beating = asyncio.create_task(leases.heartbeat())
    try:
        await beats.beat()
        await beats.beat()
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
    assert leases.held == {"us"}
    assert leases.lost == {"eu"}


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
