"""One sync of an account at a time: the lease in the store, across processes.

The cross-process tests run this module as a child (``python test_sync_lease.py DB``): it
syncs one slow in-process sandbox account into ``DB`` and holds its lease meanwhile.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from cdp_sdk.sync import (
    Entity,
    Lease,
    LeaseLostError,
    PageCommitted,
    Store,
    SyncEvent,
    SyncOptions,
    schema,
)
from cdp_sdk.sync._lease import Claimant, acquire, confirm, process_scope, release
from cdp_sdk.workspace import Account, BaseWorkspace, Workspace
from test_cli import cdp, table_rows
from test_sync import NOW, TODAY, in_process, vendor

SLOW = 0.05
"""Seconds per request of the child's emulator: its sync lasts a few seconds."""


def slow_workspace(latency: float = SLOW, page: int = 5) -> Workspace:
    emulator = vendor(60, seed=7)
    emulator.latency = latency
    emulator.max_page_size = page
    return Workspace({"eu": Account("sandbox", {"rate_limit": None}, emulator.transport())})


def hold(database: Path) -> None:
    """The child: sync the slow account (its lease held all along)."""
    with slow_workspace() as workspace, Store(database) as store:
        store.sync(workspace, now=NOW, holder="child sync")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process syncing account ``eu`` into ``tmp_path/cdp.db``, once it holds the
    account's lease."""
    database = tmp_path / "cdp.db"
    Store(database).close()
    child = subprocess.Popen(
        [sys.executable, __file__, str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Store(database) as store:
            deadline = time.monotonic() + 30
            while not store.leases() and child.poll() is None:
                assert time.monotonic() < deadline, "the child never took the lease"
                time.sleep(0.02)
        assert child.poll() is None, child.communicate()
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()


def workspace_file(tmp_path: Path) -> Path:
    """A cdp.toml naming the same account, as a user's local `cdp sync` would read it."""
    config = tmp_path / "cdp.toml"
    account = {"connector": "sandbox", "fleet_size": 60, "seed": 7, "today": TODAY.isoformat()}
    config.write_text(
        BaseWorkspace({"eu": {**account, "rate_limit": 1000}}, database="cdp.db").to_toml()
    )
    config.chmod(0o600)
    return config


def test_a_local_sync_skips_an_account_another_process_is_syncing(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    with Store(tmp_path / "cdp.db") as store:
        [lease] = store.leases()
    assert lease.account == "eu"
    assert lease.pid == holder.pid
    assert lease.holder.startswith("child sync on ")
    assert lease.holder.endswith(f" pid {holder.pid}")
    assert lease.expires_at > datetime.now(UTC)

    result = cdp("sync", "--config", workspace_file(tmp_path))

    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert [row[1] for row in rows] == [entity.value for entity in Entity]
    for row in rows:
        assert row[2] == "skipped"
        assert row[6].startswith(f"running elsewhere (child sync on {lease.holder[14:]}")
    assert holder.poll() is None  # the other sync went on undisturbed
    assert holder.wait(timeout=60) == 0, holder.communicate()
    with Store(tmp_path / "cdp.db") as store:
        assert store.leases() == []  # released at the end
        child_run, skipped_run = store.runs()[1], store.runs()[0]
        assert child_run.ok
        assert child_run.records > 0
        assert skipped_run.records == 0
        assert {r.status for r in skipped_run.results} == {"skipped"}


def test_a_killed_sync_leaves_its_lease_to_the_next_sync_on_the_same_machine(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with Store(tmp_path / "cdp.db") as store:
        [stale] = store.leases()  # nobody released it
        assert stale.expires_at > datetime.now(UTC)  # and it has not expired yet

    result = cdp("sync", "--config", workspace_file(tmp_path))

    assert result.exit_code == 0, result.output
    assert {row[2] for row in table_rows(result.stdout)} == {"ok"}
    with Store(tmp_path / "cdp.db") as store:
        assert store.leases() == []
        assert len(store.rows("subscriptions")) == 60


# -- the protocol -------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "cdp.db") as opened:
        yield opened


def other_machine(holder: str = "worker on elsewhere pid 7") -> Claimant:
    return Claimant(holder, scope="elsewhere/boot/ns", pid=os.getpid())


def test_acquire_confirm_release(store: Store) -> None:
    mine, theirs = Claimant.here("test"), other_machine()
    minute = timedelta(minutes=1)
    assert store.transaction(lambda c: acquire(c, mine, "eu", minute, run_id=3)) is None
    # Taking it again is renewing it; another claimant is refused with the holder named.
    assert store.transaction(lambda c: acquire(c, mine, "eu", minute)) is None
    blocking = store.transaction(lambda c: acquire(c, theirs, "eu", minute))
    assert isinstance(blocking, Lease)
    assert blocking.holder == mine.holder
    assert blocking.account == "eu"
    assert blocking.pid == os.getpid()
    # Other accounts are free.
    assert store.transaction(lambda c: acquire(c, theirs, "us", minute)) is None
    assert store.transaction(lambda c: confirm(c, mine, "eu", minute))
    assert not store.transaction(lambda c: confirm(c, theirs, "eu", minute))
    store.transaction(lambda c: release(c, theirs, "eu"))  # not theirs: nothing happens
    assert [lease.account for lease in store.leases()] == ["eu", "us"]
    store.transaction(lambda c: release(c, mine, "eu"))
    assert [lease.account for lease in store.leases()] == ["us"]
    assert store.leases(account="us")[0].holder == theirs.holder
    assert store.transaction(lambda c: acquire(c, theirs, "eu", minute)) is None


def race(store: Store, racers: int = 8) -> list[Lease | None]:
    """``racers`` claimants from as many threads and connections, at once, for ``eu``."""
    claimants = [other_machine(f"racer {n}") for n in range(racers)]
    start = threading.Barrier(racers)

    def claim(claimant: Claimant) -> Lease | None:
        start.wait()
        return store.transaction(lambda c: acquire(c, claimant, "eu", timedelta(seconds=30)))

    with ThreadPoolExecutor(racers) as pool:
        return list(pool.map(claim, claimants))


def opened_at_once(database: str | Path, count: int = 6) -> list[str]:
    """Open ``count`` stores on ``database`` from as many threads at once; the schema
    version each one reads back."""
    start = threading.Barrier(count)

    def open_one(_: int) -> str:
        start.wait()
        with Store(database) as store:
            return str(
                store.read(
                    lambda c: c.scalar(
                        select(schema.store_info.c.value).where(
                            schema.store_info.c.name == "schema_version"
                        )
                    )
                )
            )

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(open_one, range(count)))


@pytest.mark.parametrize("attempt", range(3))
def test_processes_opening_a_new_store_at_once_all_open_it(tmp_path: Path, attempt: int) -> None:
    assert opened_at_once(tmp_path / "new.db") == [str(schema.SCHEMA_VERSION)] * 6


def test_of_many_racing_claimants_exactly_one_wins(store: Store) -> None:
    outcomes = race(store)
    assert outcomes.count(None) == 1
    [lease] = store.leases()
    assert {o.holder for o in outcomes if o is not None} == {lease.holder}


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(store: Store) -> None:
    gone, mine = other_machine(), Claimant.here()
    store.transaction(lambda c: acquire(c, gone, "eu", timedelta(seconds=30)))
    assert store.transaction(lambda c: acquire(c, mine, "eu", timedelta(seconds=30)))

    def age(seconds: float) -> None:
        moment = datetime.now(UTC) - timedelta(seconds=seconds)
        store.transaction(lambda c: c.execute(update(schema.sync_leases).values(expires_at=moment)))

    age(0.5)  # expired half a second ago
    assert store.transaction(lambda c: acquire(c, mine, "eu", timedelta(seconds=30))) is None
    assert store.leases()[0].holder == mine.holder
    # The former holder, back from a stall, has lost it: it cannot renew it.
    assert not store.transaction(lambda c: confirm(c, gone, "eu", timedelta(seconds=30)))


def test_a_dead_process_on_this_machine_frees_its_lease_at_once(store: Store) -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                           capture_output=True, text=True)  # fmt: skip
    dead_pid = int(child.stdout)
    dead = Claimant("dead sync", scope=process_scope(), pid=dead_pid)
    store.transaction(lambda c: acquire(c, dead, "eu", timedelta(hours=1)))
    # Same scope, another process that no longer exists: taken over.
    assert (
        store.transaction(lambda c: acquire(c, Claimant.here(), "eu", timedelta(hours=1))) is None
    )
    # The same pid on another machine proves nothing: that lease is kept.
    remote = Claimant("remote sync", scope="elsewhere/boot/ns", pid=dead_pid)
    store.transaction(lambda c: acquire(c, remote, "us", timedelta(hours=1)))
    blocking = store.transaction(lambda c: acquire(c, Claimant.here(), "us", timedelta(hours=1)))
    assert blocking is not None
    assert blocking.holder == "remote sync"


def test_the_scope_names_this_host_and_process_namespace() -> None:
    scope = process_scope()
    assert scope.split("/")[0] == os.uname().nodename
    if Path("/proc/self/ns/pid").exists():
        assert scope.endswith("/" + str(os.stat("/proc/self/ns/pid").st_ino))
        assert len(scope.split("/")) == 3
    here = Claimant.here("celery task 1")
    assert here.holder == f"celery task 1 on {os.uname().nodename} pid {os.getpid()}"
    assert Claimant.here().holder == f"{os.uname().nodename} pid {os.getpid()}"
    assert here.token != Claimant.here("celery task 1").token


def test_lease_describe() -> None:
    lease = Lease("eu", "w1 on host pid 4", 4, 9, NOW, datetime(2024, 6, 15, 14, 30, 5, tzinfo=UTC))
    assert (
        lease.describe()
        == "running elsewhere (w1 on host pid 4, lease until 2024-06-15 14:30:05 UTC)"
    )


# -- leases in a sync ---------------------------------------------------------------------


def test_a_sync_whose_lease_is_taken_over_writes_nothing_more(store: Store) -> None:
    stolen_after = 2
    pages = 0

    def steal(event: SyncEvent) -> None:
        nonlocal pages
        if isinstance(event, PageCommitted) and event.account == "eu":
            pages += 1
            if pages == stolen_after:  # another sync takes the account over
                store.transaction(
                    lambda c: c.execute(
                        update(schema.sync_leases)
                        .where(schema.sync_leases.c.account == "eu")
                        .values(token="someone-else", holder="the thief")
                    )
                )

    emulator = vendor(40, seed=3)
    emulator.max_page_size = 5
    workspace = Workspace(
        {
            "eu": Account("sandbox", {"rate_limit": None}, emulator.transport()),
            "us": in_process(12, 4),
        }
    )
    with workspace:
        report = store.sync(workspace, now=NOW, progress=steal)

    assert store.rows("subscriptions", account="eu").__len__() == 2 * 5  # nothing after
    failed = report.result("eu", Entity.SUBSCRIPTIONS)
    assert failed.status == "error"
    assert failed.error is not None
    assert failed.error == (
        "LeaseLostError: account 'eu': another sync took over the lease; stopped without "
        "writing this page"
    )
    for entity in list(Entity)[1:]:
        skipped = report.result("eu", entity)
        assert skipped.status == "skipped"
        assert skipped.detail == "the lease was taken over by another sync (running elsewhere)"
        assert skipped.requests == 0
    assert {r.status for r in report.results if r.account == "us"} <= {"ok", "skipped"}
    assert report.result("us", Entity.SUBSCRIPTIONS).records == 12
    # The thief's lease is left alone; ours (us) was released.
    assert [(lease.account, lease.holder) for lease in store.leases()] == [("eu", "the thief")]
    assert issubclass(LeaseLostError, Exception)


def test_the_heartbeat_keeps_a_lease_alive_through_slow_requests(store: Store) -> None:
    """Requests slower than the whole lease: only the heartbeat keeps it."""
    options = SyncOptions(lease=timedelta(seconds=0.15))
    seen: list[datetime] = []
    holding: set[tuple[int | None, str]] = set()
    intruder = other_machine()
    refused: list[Lease | None] = []

    def watch(event: SyncEvent) -> None:
        if isinstance(event, PageCommitted):
            seen.extend(lease.expires_at for lease in store.leases())
            holding.update((lease.run_id, lease.holder) for lease in store.leases())
            refused.append(
                store.transaction(lambda c: acquire(c, intruder, "eu", timedelta(seconds=1)))
            )

    with slow_workspace(latency=0.25, page=20) as workspace:
        report = store.sync(
            workspace,
            entities=["subscriptions"],
            options=options,
            now=NOW,
            progress=watch,
            holder="nightly",
        )
    assert report.ok, report.results
    assert report.result("eu", "subscriptions").records == 60
    # The lease names the run holding it, and who runs it.
    assert holding == {(report.run_id, Claimant.here("nightly").holder)}
    assert len(refused) == 3
    assert all(isinstance(lease, Lease) for lease in refused)
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)
    assert store.leases() == []


def test_leases_are_released_when_an_account_fails(store: Store) -> None:
    workspace = Workspace(
        {
            "eu": Account("sandbox", {"api_key": "env:CDP_TEST_MISSING_VARIABLE"}),
            "us": in_process(3, 1),
        }
    )
    with workspace:
        report = store.sync(workspace, entities=["subscriptions"], now=NOW)
    assert report.result("eu", "subscriptions").status == "error"
    assert report.result("us", "subscriptions").status == "ok"
    assert store.leases() == []


def test_a_lease_shorter_than_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="lease must be positive"):
        SyncOptions(lease=timedelta(0))


def test_a_store_of_the_first_schema_gains_the_lease_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Store(path).close()
    with sqlite3.connect(path) as raw:  # as the first version left it
        raw.execute("drop table sync_leases")
        raw.execute("update store_info set value = '1' where name = 'schema_version'")
    with Store(path) as store:
        assert store.leases() == []
        version = store.read(
            lambda c: c.scalar(
                select(schema.store_info.c.value).where(
                    schema.store_info.c.name == "schema_version"
                )
            )
        )
    assert version == str(schema.SCHEMA_VERSION) == "4"


if __name__ == "__main__":
    hold(Path(sys.argv[1]))
