"""Sync leases at their edges (found by mutation testing): a live process keeps its
lease, the lease in the way is described whole, the heartbeat renews, a release lets go,
and times read in UTC whatever the machine's time zone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, update

from cdp_sdk.sync import Store, _lease
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


def in_thread(store: Store) -> Callable[[Callable[[Connection], Any]], Awaitable[Any]]:
    """A sync's writer: each transaction in a worker thread, as the runner writes."""

    async def write(action: Callable[[Connection], Any]) -> Any:
        return await asyncio.to_thread(store.transaction, action)

    return write


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

    threaded = in_thread(store)

    async def write(action: Callable[[Connection], Any]) -> Any:
        if failing:
            raise OSError("the database is away")
        return await threaded(action)

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
    leases = RunLeases(in_thread(store), timedelta(minutes=3))
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


# -- taking a lease over ------------------------------------------------------------------------


def holders(store: Store) -> dict[str, str]:
    return {lease.account: lease.holder for lease in store.leases()}


def test_taking_over_an_expired_lease_takes_that_account_only(store: Store) -> None:
    gone = Claimant("gone", scope="another/machine", pid=1)
    for account in ("eu", "us"):
        store.transaction(lambda c, account=account: acquire(c, gone, account, HOUR))
    store.transaction(
        lambda c: c.execute(update(sync_leases).values(expires_at=datetime.now(UTC) - HOUR))
    )
    mine = Claimant("mine")
    assert store.transaction(lambda c: acquire(c, mine, "eu", HOUR)) is None
    assert holders(store) == {"eu": "mine", "us": "gone"}


def test_taking_over_a_dead_process_s_lease_takes_that_account_only(store: Store) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = Claimant("dead", scope=process_scope(), pid=child.pid)
    for account in ("eu", "us"):
        store.transaction(lambda c, account=account: acquire(c, dead, account, HOUR))
    assert store.transaction(lambda c: acquire(c, Claimant("mine"), "eu", HOUR)) is None
    assert holders(store) == {"eu": "mine", "us": "dead"}


def test_a_lease_that_expires_at_this_very_instant_is_taken_over(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    instant = datetime(2026, 12, 5, 12, tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:
            return cls.fromtimestamp(instant.timestamp(), tz)

    monkeypatch.setattr(_lease, "datetime", Frozen)
    gone = Claimant("gone", scope="another/machine", pid=1)
    store.transaction(lambda c: acquire(c, gone, "eu", HOUR))
    store.transaction(lambda c: c.execute(update(sync_leases).values(expires_at=instant)))
    assert store.transaction(lambda c: acquire(c, Claimant("mine"), "eu", HOUR)) is None
    assert holders(store) == {"eu": "mine"}


def test_without_proc_the_scope_is_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux (no ``/proc``), the host name alone tells where a process id holds."""
    read_text, stat = Path.read_text, os.stat

    def no_proc_text(path: Path, *args: Any, **kwargs: Any) -> str:
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(str(path))
        return read_text(path, *args, **kwargs)

    def no_proc_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(str(path))
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", no_proc_text)
    monkeypatch.setattr(_lease.os, "stat", no_proc_stat)
    assert process_scope() == socket.gethostname()


def test_a_database_without_on_conflict_takes_leases_in_a_savepoint(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither SQLite nor PostgreSQL (no ``ON CONFLICT``): a refused insert is undone in its
    savepoint, and the transaction goes on to find the lease in the way."""
    monkeypatch.setattr(store.engine.dialect, "name", "another")
    first, second = Claimant("first"), Claimant("second")
    assert store.transaction(lambda c: acquire(c, first, "eu", HOUR)) is None
    blocking = store.transaction(lambda c: acquire(c, second, "eu", HOUR))
    assert blocking is not None
    assert blocking.holder == "first"
    assert store.transaction(lambda c: acquire(c, first, "eu", HOUR)) is None  # renewed
    assert store.transaction(lambda c: acquire(c, second, "us", HOUR)) is None
    assert holders(store) == {"eu": "first", "us": "second"}
