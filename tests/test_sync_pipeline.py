"""Fetching and writing overlap: a listing's pages go through a short queue to a writer
that commits them while the next pages are fetched, and neither keeps a committed page;
SQLite's single writer takes the accounts' transactions in turn, PostgreSQL commits them
at once; a sync's transactions are not flushed one by one.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, event

from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.sandbox import Fault, Fleet
from cdp_sdk.sync import Entity, PageCommitted, Store, SyncEvent, _runner, schema
from cdp_sdk.sync._rows import Stamp
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from pg import create_database
from test_sync import NOW, TODAY

LISTING = "^/v1/sims$"
WAIT = 10.0
"""Seconds a test waits for what the pipeline must let happen (a failure shows as a wait)."""


def emulator(size: int, *, seed: int = 1, page: int = 5) -> SandboxEmulator:
    vendor = SandboxEmulator(Fleet(size, seed=seed, today=TODAY), requests_per_second=10**6)
    vendor.max_page_size = page
    return vendor


def listed(vendor: SandboxEmulator) -> int:
    return len(vendor.requests_to(LISTING))


def wait_until(condition: Any, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def test_the_next_pages_are_fetched_while_a_page_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor = emulator(30)
    write = _runner._write_subscriptions
    seen_during_first_commit: list[int] = []

    def slow_first_commit(connection: Connection, stamp: Stamp, records: list[Any]) -> None:
        if not seen_during_first_commit:  # page 1: hold it until page 3 was asked for
            wait_until(lambda: listed(vendor) >= 3)
            seen_during_first_commit.append(listed(vendor))
        write(connection, stamp, records)

    monkeypatch.setattr(_runner, "_write_subscriptions", slow_first_commit)
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, entities=["subscriptions"], now=NOW)
        assert report.ok
        assert len(store.rows("subscriptions")) == 30
    assert seen_during_first_commit[0] >= 3
    result = report.result("eu", Entity.SUBSCRIPTIONS)
    assert (result.records, result.pages, result.requests) == (30, 6, 7)  # a login, 6 pages


def test_pages_fetched_before_a_listing_fails_are_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when each page was committed before the next was fetched: every page but the
    last two (one held back until the next one shows it is not the last, one under way).
    Here pages 2 and 3 were fetched while page 1 was being committed."""
    vendor = emulator(40)
    vendor.faults.append(Fault(status=403, path=LISTING, after=4))
    write = _runner._write_subscriptions
    commits: list[int] = []

    def slow_first_commit(connection: Connection, stamp: Stamp, records: list[Any]) -> None:
        if not commits:  # page 1 commits once the listing has failed at page 5
            assert wait_until(lambda: listed(vendor) >= 5)
            time.sleep(0.05)
        write(connection, stamp, records)
        commits.append(len(records))

    monkeypatch.setattr(_runner, "_write_subscriptions", slow_first_commit)
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, entities=["subscriptions"], now=NOW)
        result = report.result("eu", Entity.SUBSCRIPTIONS)
        assert result.status == "error"
        assert result.error is not None
        assert result.error.startswith("PermissionDeniedError")
        assert commits == [5, 5]
        assert (result.records, result.pages) == (10, 2)
        assert len(store.rows("subscriptions")) == 10
        assert store.cursors(account="eu") == []  # the listing did not end: no cursor
        journal = store.rows("api_calls")
        assert sorted(call["status_code"] for call in journal).count(403) == 1


def test_a_failed_commit_stops_the_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vendor = emulator(200)
    write = _runner._write_subscriptions
    calls: list[int] = []

    def broken_second_commit(connection: Connection, stamp: Stamp, records: list[Any]) -> None:
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("the disk is gone")
        write(connection, stamp, records)

    monkeypatch.setattr(_runner, "_write_subscriptions", broken_second_commit)
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, entities=["subscriptions", "tariffs"], now=NOW)
        result = report.result("eu", Entity.SUBSCRIPTIONS)
        assert result.status == "error"
        assert result.error == "RuntimeError: the disk is gone"
        assert len(store.rows("subscriptions")) == 5
        assert report.result("eu", Entity.TARIFFS).status == "ok"  # the account goes on
    assert calls == [5, 5]
    # The listing stopped: beyond the page that failed, at most those queued, the one being
    # handed over, the one held back until the next shows it is not the last, and the one
    # under way.
    assert listed(vendor) <= 2 + _runner.PIPELINE_DEPTH + 3 < 40


def commits_at_once(store: Store, monkeypatch: pytest.MonkeyPatch, *, barrier: bool) -> int:
    """Sync two accounts of 10 SIMs (pages of 5) into ``store``; the most page writes
    that ran at the same moment. With ``barrier``, each account's first page write waits
    (up to ``WAIT``) for the other's."""
    write = _runner._write_subscriptions
    lock = threading.Lock()
    running = 0
    most = 0
    meet = threading.Barrier(2, timeout=WAIT)
    first: set[str] = set()

    def watched(connection: Connection, stamp: Stamp, records: list[Any]) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            wait = barrier and stamp.account not in first
            first.add(stamp.account)
        try:
            if wait:
                meet.wait()
            time.sleep(0.02)
            write(connection, stamp, records)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(_runner, "_write_subscriptions", watched)
    accounts = {
        name: Account("sandbox", {"rate_limit": None}, emulator(10, seed=seed).transport())
        for name, seed in (("eu", 1), ("us", 2))
    }
    with Workspace(accounts) as workspace:
        report = store.sync(workspace, entities=["subscriptions"], now=NOW)
    assert report.ok, report.errors
    assert {row["account"] for row in store.rows("subscriptions")} == {"eu", "us"}
    assert len(store.rows("subscriptions")) == 20
    return most


def test_sqlite_takes_the_accounts_transactions_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path / "cdp.db") as store:
        assert commits_at_once(store, monkeypatch, barrier=False) == 1


def test_postgresql_commits_the_accounts_at_once(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(create_database(postgres_url, "pipeline")) as store:
        assert commits_at_once(store, monkeypatch, barrier=True) == 2


# -- transactions that are not flushed one by one ------------------------------------------------


def statements_of(store: Store, durable: bool) -> tuple[list[str], Any]:
    """The statements one transaction sends, and what it reads inside."""
    sent: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    def work(connection: Connection) -> Any:
        if connection.dialect.name == "sqlite":
            return connection.exec_driver_sql("PRAGMA synchronous").scalar()
        return connection.exec_driver_sql("SHOW synchronous_commit").scalar()

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        inside = store.transaction(work, durable=durable)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return sent, inside


def test_a_quick_sqlite_transaction_is_flushed_with_the_log_only(tmp_path: Path) -> None:
    full, normal = 2, 1
    with Store(tmp_path / "cdp.db") as store:
        _, durable = statements_of(store, durable=True)
        assert durable == full
        sent, quick = statements_of(store, durable=False)
        assert quick == normal
        assert sent[0] == "PRAGMA synchronous=NORMAL"
        assert sent[-1] == "PRAGMA synchronous=FULL"
        _, again = statements_of(store, durable=True)  # the connection went back as it was
        assert again == full
        # Committed all the same, and the pool's connection is a plain one again.
        store.transaction(
            lambda c: c.execute(schema.store_info.insert().values(name="x", value="1")),
            durable=False,
        )
        assert store.read(lambda c: c.execute(schema.store_info.select()).all())[-1] == ("x", "1")


def test_a_failed_quick_sqlite_transaction_rolls_back_and_restores_the_connection(
    tmp_path: Path,
) -> None:
    def fail(connection: Connection) -> None:
        connection.execute(schema.store_info.insert().values(name="y", value="2"))
        raise RuntimeError("no")

    with Store(tmp_path / "cdp.db") as store:
        with pytest.raises(RuntimeError):
            store.transaction(fail, durable=False)
        names = {row[0] for row in store.read(lambda c: c.execute(schema.store_info.select()))}
        assert "y" not in names
        _, after = statements_of(store, durable=True)
        assert after == 2


def test_a_quick_postgresql_transaction_commits_asynchronously(postgres_url: str) -> None:
    with Store(create_database(postgres_url, "quick")) as store:
        sent, inside = statements_of(store, durable=False)
        assert sent[0] == "SET LOCAL synchronous_commit TO OFF"
        assert inside == "off"
        durable, _ = statements_of(store, durable=True)
        assert not any(statement.startswith("SET") for statement in durable)


PAGE = 5


class _Watching(httpx.AsyncBaseTransport):
    """At each request for a page of the listing, waits until every page but the last two
    fetched is committed (the last is held back until the next shows it is not the last),
    then counts the committed records still alive."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        committed: list[weakref.ref[Any]],
        more_committed: asyncio.Event,
    ) -> None:
        self.inner = inner
        self.committed = committed
        self.more_committed = more_committed
        self.alive_when_asked: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sims":
            fetched = len(self.alive_when_asked)
            while len(self.committed) < PAGE * (fetched - 2):  # all on the loop: no race
                self.more_committed.clear()
                await asyncio.wait_for(self.more_committed.wait(), WAIT)
            self.alive_when_asked.append(sum(ref() is not None for ref in self.committed))
        return await self.inner.handle_async_request(request)


class _Forgetting(ThreadPoolExecutor):
    """A thread pool whose work items let go of their call as it returns: the standard
    one's item holds it until its thread moves on, which may come after the event loop
    has resumed, and would make a committed page look held for a moment."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        calls = [partial(fn, *args, **kwargs)]
        return super().submit(lambda: calls.pop()())


@pytest.mark.frames  # a mutation run's trampolines hold the last page handed on
async def test_committed_records_go_while_the_listing_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the collector off, by their last reference: neither the writer nor the listing
    # keeps a committed page (nor the batch it came in) while the next page is fetched.
    vendor = emulator(8 * PAGE, page=PAGE)
    write = _runner._write_subscriptions
    writing: list[weakref.ref[Any]] = []
    committed: list[weakref.ref[Any]] = []
    more_committed = asyncio.Event()

    def tracked(connection: Connection, stamp: Stamp, records: list[Any]) -> None:
        write(connection, stamp, records)
        writing.extend(weakref.ref(record) for record in records)

    def progress(event: SyncEvent) -> None:
        if isinstance(event, PageCommitted):  # on the event loop, after the commit
            committed.extend(writing)
            writing.clear()
            more_committed.set()

    monkeypatch.setattr(_runner, "_write_subscriptions", tracked)
    watching = _Watching(vendor.transport(), committed, more_committed)
    workspace = AsyncWorkspace({"eu": Account("sandbox", {"rate_limit": None}, watching)})
    executor = _Forgetting()
    asyncio.get_running_loop().set_default_executor(executor)
    gc.collect()
    gc.disable()
    try:
        async with workspace:
            with Store(tmp_path / "cdp.db") as store:
                report = await store.sync_async(
                    workspace, entities=["subscriptions"], now=NOW, progress=progress
                )
    finally:
        gc.enable()
        executor.shutdown()
    assert report.ok
    assert watching.alive_when_asked == [0] * 8  # a request a page
    assert len(committed) == 8 * PAGE
