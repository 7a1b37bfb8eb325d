"""The sync on real Celery workers: Redis, two worker processes, PostgreSQL, eight accounts.

Everything runs on this machine and listens on loopback: a throw-away Redis (the broker,
``tests/redis_server.py``), a throw-away PostgreSQL (the shared store, ``tests/pg.py``),
eight emulated accounts of five platforms served over HTTP by this process, and two
``celery worker`` processes started from the command line like a deployment would, reading
a ``cdp.toml`` whose secrets are ``env:`` references set in the workers' environment only
(and in this process, for the local sync the store is compared with).

Fails when redis-server or PostgreSQL is missing, unless ``CDP_SDK_SKIP_REDIS=1`` (or
``CDP_SDK_SKIP_POSTGRES=1``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdp_sdk.cli._platforms import platform, serve
from cdp_sdk.sandbox import Emulator
from cdp_sdk.sync import Entity, Store, SyncOptions, schema
from cdp_sdk.sync._lease import Claimant, acquire, release
from cdp_sdk.workspace import BaseWorkspace, Workspace
from pg import postgres_server
from redis_server import redis_server
from test_cli import cdp, table_rows

celery = pytest.importorskip("cdp_sdk.sync.celery")  # the test extra installs it
redis = pytest.importorskip("redis")

TODAY = datetime.now(UTC).date()
HISTORY_DAYS = 30
ACCOUNTS: dict[str, tuple[str, int, int]] = {
    "sb-1": ("sandbox", 40, 301),
    "sb-2": ("sandbox", 25, 302),
    "sb-3": ("sandbox", 30, 303),
    "em-1": ("emnify", 30, 304),
    "em-2": ("emnify", 20, 305),
    "so-1": ("soracom", 25, 306),
    "ja-1": ("jasper", 8, 307),
    "on-1": ("1nce", 8, 308),
}
"""Account -> (connector, SIMs, seed)."""
SLOW = "sb-3"
"""The account slowed down for the crash test."""
BOOKKEEPING = {"run_id", "synced_at"}
QUEUE = "cdp-sync"

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Rig:
    root: Path
    config: Path
    database: str
    broker: str
    env: dict[str, str]
    """What the workers' environment adds: the secrets, CDP_CONFIG, the broker URL."""
    secrets: tuple[str, ...]
    identifiers: tuple[str, ...]
    emulators: dict[str, Emulator]
    reference: Rows
    """The entity tables of a local sync of the same accounts."""


def entity_rows(store: Store) -> Rows:
    """Every row of every entity table, without bookkeeping, in a stable order."""
    return {
        table.name: sorted(
            ({k: v for k, v in row.items() if k not in BOOKKEEPING} for row in store.rows(table)),
            key=repr,
        )
        for table in schema.ENTITY_TABLES
    }


def variable(account: str, setting: str) -> str:
    return f"CDP_TEST_{account.upper().replace('-', '_')}_{setting.upper()}"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("celery")
    with ExitStack() as stack:
        database = stack.enter_context(postgres_server())
        broker = stack.enter_context(redis_server())
        env = {"CDP_CONFIG": str(root / "cdp.toml"), "CDP_TEST_BROKER": broker}
        accounts: dict[str, dict[str, Any]] = {}
        emulators: dict[str, Emulator] = {}
        identifiers: list[str] = []
        credentials_used: list[str] = []
        for name, (connector, size, seed) in ACCOUNTS.items():
            built_in = platform(connector)
            # Credentials of our own, distinctive, so that a leak would be found.
            credentials = {
                key: f"cred-{name}-{key}-{secrets.token_hex(8)}" for key in built_in.credentials
            }
            fleet = built_in.fleet(size, seed=seed, today=TODAY)
            emulators[name] = built_in.emulator(fleet, rate_limit=None, **credentials)
            server = stack.enter_context(serve(emulators[name]))
            settings = {**built_in.settings(server.url), **built_in.client_settings}
            for key, value in credentials.items():
                env[variable(name, key)] = value
                credentials_used.append(value)
                settings[key] = f"env:{variable(name, key)}"
            accounts[name] = {"connector": connector, **settings}
            for sim in fleet.sorted_sims():
                identifiers += [sim.iccid, sim.iccid[:-1], sim.imsi, sim.msisdn]
        config = root / "cdp.toml"
        config.write_text(
            BaseWorkspace(accounts, database=database).to_toml()
            + '\n[celery]\nbroker = "env:CDP_TEST_BROKER"\nvisibility_timeout = "6s"\n'
            'lease = "2s"\nrestore_interval = "1s"\n'
        )
        config.chmod(0o600)
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for key, value in env.items():
            patch.setenv(key, value)
        # The local sync the workers' store must equal.
        options = SyncOptions(history=timedelta(days=HISTORY_DAYS))
        with Workspace.load(config) as workspace, Store(root / "local.db") as local:
            report = local.sync(workspace, options=options)
            assert not report.errors, report.errors
            reference = entity_rows(local)
        yield Rig(
            root=root,
            config=config,
            database=database,
            broker=broker,
            env=env,
            secrets=tuple(credentials_used),
            identifiers=tuple(identifiers),
            emulators=emulators,
            reference=reference,
        )


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def hostname(self) -> str:
        return f"{self.name}@{os.uname().nodename}"

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as a machine that dies would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_worker(rig: Rig, name: str) -> Worker:
    log = rig.root / f"{name}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "cdp_sdk.sync.celery", "worker",
        "-n", f"{name}@%h", "--concurrency", "1", "--pool", "prefork",
        "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=rig.root,
            env={**os.environ, **rig.env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole
        )
    return Worker(name, process, log)


@pytest.fixture(scope="module")
def workers(rig: Rig) -> Iterator[list[Worker]]:
    started = [start_worker(rig, name) for name in ("w1", "w2")]
    try:
        deadline = time.monotonic() + 60
        for worker in started:
            while f"{worker.hostname} ready." not in worker.log.read_text(errors="replace"):
                assert worker.process.poll() is None, worker.log.read_text()
                assert time.monotonic() < deadline, worker.log.read_text()
                time.sleep(0.1)
        yield started
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.kill()


@pytest.fixture
def app(rig: Rig) -> Any:
    return celery.create_app(rig.config, environ=rig.env)


def broker_contents(rig: Rig) -> bytes:
    """Every value held by the broker (queues, unacked messages, results), as bytes."""
    client = redis.Redis.from_url(rig.broker)
    blobs: list[bytes] = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            blobs.append(client.get(key) or b"")
        elif kind == b"list":
            blobs += client.lrange(key, 0, -1)
        elif kind == b"hash":
            blobs += [b"%s=%s" % pair for pair in client.hgetall(key).items()]
        elif kind == b"zset":
            blobs += client.zrange(key, 0, -1)
        elif kind == b"set":
            blobs += list(client.smembers(key))
        blobs.append(key)
    decoded = []
    for blob in blobs:  # message bodies are base64 inside their JSON envelope
        for body in re.findall(rb'"body": "([A-Za-z0-9+/=]+)"', blob):
            decoded.append(base64.b64decode(body))
    return b"\n".join(blobs + decoded)


def assert_clean(rig: Rig, blob: bytes) -> None:
    """No secret and no identifier of any account in ``blob``."""
    assert rig.secrets
    assert rig.identifiers
    leaked = [s for s in (*rig.secrets, *rig.identifiers) if s.encode() in blob]
    assert leaked == []


# -- the tests ------------------------------------------------------------------------------


def test_messages_on_the_broker_are_json_and_carry_account_names_only(rig: Rig, app: Any) -> None:
    assert len(rig.secrets) == 11  # every credential of every account is looked for
    sent = celery.enqueue(app, ACCOUNTS, history_days=HISTORY_DAYS)
    client = redis.Redis.from_url(rig.broker)
    raw = client.lrange(QUEUE, 0, -1)
    assert len(raw) == len(sent) == 8
    calls = []
    for message in raw:
        envelope = json.loads(message)
        assert envelope["content-type"] == "application/json"
        assert envelope["headers"]["task"] == celery.SYNC_ACCOUNT
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        calls.append((args, kwargs))
    assert sorted(calls) == sorted(([name], {"history_days": HISTORY_DAYS}) for name in ACCOUNTS)
    assert_clean(rig, broker_contents(rig))
    client.delete(QUEUE)  # not for the workers: the next test sends its own


def test_two_workers_sync_eight_accounts_into_the_store_a_local_sync_fills(
    rig: Rig, workers: list[Worker]
) -> None:
    result = cdp("sync", "--on", "celery", "--history-days", HISTORY_DAYS)

    assert result.exit_code == 0, result.output
    assert f"Syncing 8 account(s) of {rig.config} on Celery workers into " in result.stderr
    assert "Sent 8 task(s) to redis://127.0.0.1:" in result.stderr
    rows = table_rows(result.stdout)
    assert {row[0] for row in rows} == set(ACCOUNTS)
    assert {row[2] for row in rows} == {"ok", "skipped"}  # skipped: not offered by the API
    with Store(rig.database) as store:
        assert entity_rows(store) == rig.reference
        runs = store.runs(limit=None)
        assert store.leases() == []
    assert len(runs) == 8  # one run per account
    assert {r.results[0].account for r in runs} == set(ACCOUNTS)
    assert all(r.ok for r in runs)
    # Both workers took accounts, and neither logged a secret or an identifier.
    for worker in workers:
        log = worker.log.read_bytes()
        assert re.search(rb"account [a-z0-9-]+: ok \(run \d+", log), log.decode()
        assert_clean(rig, log)
    assert_clean(rig, broker_contents(rig))


def test_the_fan_out_task_sends_one_task_per_account(
    rig: Rig, workers: list[Worker], app: Any
) -> None:
    sent = celery.fan_out(app, accounts=["em-2", "sb-1"], history_days=HISTORY_DAYS)
    fanned = sent.get(timeout=30)
    assert fanned["accounts"] == ["em-2", "sb-1"]
    tasks = [app.AsyncResult(task_id) for task_id in fanned["tasks"]]
    outcomes = celery.collect(fanned["accounts"], tasks, timeout=30)
    assert [(o.account, o.status) for o in outcomes] == [("em-2", "ok"), ("sb-1", "ok")]
    with Store(rig.database) as store:
        reports = {r.results[0].account: r for r in store.runs(ids=[o.run_id for o in outcomes])}
    assert set(reports) == {"em-2", "sb-1"}
    # A second sync of these accounts: incremental where the platform allows it.
    assert reports["sb-1"].result("sb-1", Entity.SUBSCRIPTIONS).detail == "changes only"


def test_a_pickled_message_is_refused_by_the_workers(
    rig: Rig, workers: list[Worker], app: Any
) -> None:
    sent = app.send_task(celery.SYNC_ACCOUNT, args=("sb-1",), serializer="pickle")
    deadline = time.monotonic() + 20
    logs = b""
    while b"untrusted content" not in logs:
        assert time.monotonic() < deadline, logs.decode()
        time.sleep(0.1)
        logs = b"".join(worker.log.read_bytes() for worker in workers)
    assert b"application/x-python-serialize" in logs
    assert sent.state == "PENDING"  # never run


def test_a_task_skips_an_account_a_local_sync_holds_and_the_reverse(
    rig: Rig, workers: list[Worker], app: Any
) -> None:
    with Store(rig.database) as store:
        local = Claimant.here("cdp sync")
        assert store.transaction(lambda c: acquire(c, local, "sb-1", timedelta(minutes=1))) is None
        try:
            [outcome] = celery.collect(["sb-1"], celery.enqueue(app, ["sb-1"]), timeout=30)
        finally:
            store.transaction(lambda c: release(c, local, "sb-1"))
        assert outcome.status == "skipped"
        assert outcome.detail.startswith(f"running elsewhere ({local.holder}, lease until ")
        skipped = store.runs(ids=[outcome.run_id])[0]
        assert {r.status for r in skipped.results} == {"skipped"}

        remote = Claimant("celery task 1 (w9@elsewhere) on elsewhere pid 1", scope="x", pid=1)
        store.transaction(lambda c: acquire(c, remote, "sb-2", timedelta(minutes=1)))
        try:
            result = cdp("sync", "-a", "sb-2", "-e", "subscriptions")
        finally:
            store.transaction(lambda c: release(c, remote, "sb-2"))
    assert result.exit_code == 0, result.output
    [row, *wrapped] = table_rows(result.stdout)
    assert row[:3] == ["sb-2", "subscriptions", "skipped"]
    note = " ".join([row[6], *(line[6] for line in wrapped)])
    assert note.startswith("running elsewhere (celery task 1 (w9@elsewhere) on elsewhere pid 1,")


def test_a_worker_killed_mid_account_leaves_it_to_the_other_which_resumes(
    rig: Rig, workers: list[Worker], app: Any
) -> None:
    slow = rig.emulators[SLOW]
    with Store(rig.database) as store:
        for account in ACCOUNTS:  # first syncs again, to compare with the local one
            store.purge_account(account)
        slow.latency, slow.max_page_size = 0.06, 3
        try:
            names = [SLOW, *(name for name in ACCOUNTS if name != SLOW)]
            sent = celery.enqueue(app, names, history_days=HISTORY_DAYS)
            # Midway: its subscriptions are committed (with their cursor), more is to come.
            deadline = time.monotonic() + 30
            while True:
                assert time.monotonic() < deadline, "the slow account never got midway"
                leases = store.leases(account=SLOW)
                done = {cursor.entity for cursor in store.cursors(account=SLOW)}
                if leases and Entity.SUBSCRIPTIONS in done:
                    break
                time.sleep(0.02)
            [lease] = leases
            victim = next(w for w in workers if f"({w.hostname})" in lease.holder)
            survivor = next(w for w in workers if w is not victim)
            assert Entity.AUDIT_EVENTS not in done
            victim.kill()

            outcomes = celery.collect(names, sent, timeout=60)
        finally:
            slow.latency, slow.max_page_size = 0.0, None

        assert {o.status for o in outcomes} == {"ok"}, outcomes
        outcome = outcomes[0]
        assert outcome.worker == survivor.hostname
        killed, finished = store.runs(ids=[lease.run_id, outcome.run_id])[::-1]
        assert killed.status != "ok"  # it never finished
        assert finished.ok
        # Resumed: the listing the dead worker committed was not read again.
        assert finished.result(SLOW, Entity.SUBSCRIPTIONS).detail == "changes only"
        assert entity_rows(store) == rig.reference
        assert store.leases() == []
