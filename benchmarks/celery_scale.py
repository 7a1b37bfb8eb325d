"""Benchmark: the sync of 200 emulated accounts on 1, 2 and 4 Celery worker processes.

Run on demand (minutes, not in CI)::

    python3 benchmarks/celery_scale.py                 # 200 accounts of 200 SIMs, 50 ms
    python3 benchmarks/celery_scale.py --accounts 40 --workers 1 2

Everything runs on this machine, on loopback, like ``tests/test_sync_celery_workers.py``:
a throw-away PostgreSQL (the shared store) and Redis (the broker), the emulators of three
platforms (sandbox, emnify, soracom, in turn) served by a separate process with a latency
per request and their rate limits on, and ``celery worker`` processes (prefork, one pool
process each, as a deployment would scale them). Each configuration syncs every account
from scratch into a fresh database (90 days of history, the default), and reports the wall
time from sending the tasks to the last result, the speed-up over one worker, the CPU time
of the workers, and what the store and the broker took: database size, WAL written,
commits, Redis commands. One local sync (one process, every account concurrently on its
event loop) is measured the same way, for comparison.

Needs the server binaries the tests need (``redis-server``, PostgreSQL's ``initdb`` and
``pg_ctl``) and the ``celery`` and ``postgres`` extras.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the throw-away servers of the tests

PLATFORMS = ("sandbox", "emnify", "soracom")


# -- the emulators, in a process of their own ------------------------------------------------


def serve(accounts: int, sims: int, latency: float) -> None:
    """Serve the accounts' emulators; print one JSON line of settings per account, then
    wait for standard input to close."""
    from cdp_sdk.cli._platforms import platform
    from cdp_sdk.cli._platforms import serve as serving

    today = datetime.now(UTC).date()
    with ExitStack() as stack:
        for n in range(accounts):
            connector = PLATFORMS[n % len(PLATFORMS)]
            built_in = platform(connector)
            emulator = built_in.start(built_in.fleet(sims, seed=1000 + n, today=today))
            emulator.latency = latency  # and the platform's own rate limit, left on
            server = stack.enter_context(serving(emulator))
            settings = {"connector": connector, **built_in.settings(server.url)}
            print(json.dumps({"name": f"acct-{n:04d}", "settings": settings}), flush=True)
        print("ready", flush=True)
        sys.stdin.read()


@contextmanager
def emulators(accounts: int, sims: int, latency: float) -> Iterator[dict[str, dict[str, Any]]]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(accounts), str(sims), str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    found: dict[str, dict[str, Any]] = {}
    for line in process.stdout:
        if line.strip() == "ready":
            break
        entry = json.loads(line)
        found[entry["name"]] = entry["settings"]
    try:
        yield found
    finally:
        process.stdin.close()
        process.terminate()  # stopping 200 servers one by one takes minutes: not needed
        process.wait(timeout=30)


# -- one configuration ---------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    load: tuple[float, float]
    """The machine's 1-minute load average before and after."""
    processes: int
    seconds: float
    accounts: int
    records: int
    requests: int
    cpu: float
    database_bytes: int
    wal_bytes: int
    commits: int
    redis_commands: int


def create_database(server: str, name: str) -> str:
    import psycopg

    url = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"create database {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


def database_figures(url: str) -> tuple[int, int, int]:
    """(database size, WAL position, commits of this database) now."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            size = connection.scalar(text("select pg_database_size(current_database())"))
            wal = connection.scalar(text("select pg_current_wal_lsn() - '0/0'::pg_lsn"))
            commits = connection.scalar(
                text("select xact_commit from pg_stat_database where datname = current_database()")
            )
    finally:
        engine.dispose()
    return int(size or 0), int(wal or 0), int(commits or 0)


def table_sizes(url: str) -> list[tuple[str, int, int]]:
    """(table, rows, bytes with its indexes and TOAST) of the store's tables."""
    from sqlalchemy import create_engine, text

    from cdp_sdk.sync import schema

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("analyze"))
            return [
                (
                    name,
                    int(connection.scalar(text(f'select count(*) from "{name}"')) or 0),
                    int(
                        connection.scalar(text(f"select pg_total_relation_size('\"{name}\"')")) or 0
                    ),
                )
                for name in schema.tables
            ]
    finally:
        engine.dispose()


def redis_commands(broker: str) -> int:
    import redis

    return int(redis.Redis.from_url(broker).info("stats")["total_commands_processed"])


def write_config(
    root: Path, name: str, database: str, broker: str, accounts: dict[str, Any]
) -> Path:
    from cdp_sdk.workspace import BaseWorkspace

    config = root / f"{name}.toml"
    config.write_text(
        BaseWorkspace(accounts, database=database).to_toml()
        + f'\n[celery]\nbroker = "{broker}"\nvisibility_timeout = "2h"\n'
    )
    config.chmod(0o600)
    return config


def start_workers(
    config: Path, count: int, pool: str, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    started = []
    for n in range(count):
        log = config.parent / f"{config.stem}-w{n}.log"
        with log.open("wb") as output:
            command = [
                sys.executable, "-m", "celery", "-A", "cdp_sdk.sync.celery", "worker",
                "-n", f"w{n}@%h", "--pool", pool, "--concurrency", str(concurrency),
                "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
            ]  # fmt: skip
            started.append(
                subprocess.Popen(
                    command,
                    env={**os.environ, "CDP_CONFIG": str(config)},
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    return started


def wait_ready(app: Any, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(app.control.ping(timeout=1.0) or []) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start")


def group_cpu(workers: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds used so far by the workers' processes (pool processes included)."""
    groups = {worker.pid for worker in workers}  # each leads its own process group
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:  # pgrp
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=120)


def store_totals(database: str) -> tuple[int, int, int]:
    """(accounts synced ok, records, requests) in the store's runs."""
    from cdp_sdk.sync import Store

    with Store(database) as store:
        runs = store.runs(limit=None)
    results = [result for run in runs for result in run.results]
    accounts = len({r.account for r in results if r.status == "ok"})
    return accounts, sum(r.records for r in results), sum(r.requests for r in results)


def on_workers(
    root: Path, server: str, broker: str, accounts: dict[str, Any], count: int, pool: str,
    concurrency: int,
) -> Figures:  # fmt: skip
    from cdp_sdk.sync.celery import collect, create_app, enqueue

    label = f"{count} x {pool} {concurrency}"
    name = f"w{count}_{pool}_{concurrency}"
    database = create_database(server, name)
    config = write_config(root, name, database, broker, accounts)
    app = create_app(config)
    workers = start_workers(config, count, pool, concurrency)
    try:
        wait_ready(app, count)
        size0, wal0, commits0 = database_figures(database)
        commands0 = redis_commands(broker)
        cpu0 = group_cpu(workers)
        load0 = os.getloadavg()[0]
        started = time.perf_counter()
        names = sorted(accounts)
        outcomes = collect(names, enqueue(app, names), timeout=3600)
        seconds = time.perf_counter() - started
        cpu = group_cpu(workers) - cpu0
        load = (load0, os.getloadavg()[0])
        commands = redis_commands(broker) - commands0
        size, wal, commits = database_figures(database)
        if count == 1 and pool == "prefork":
            print_tables(database, len(accounts))
    finally:
        stop(workers)
    bad = [o for o in outcomes if o.status != "ok"]
    if bad:
        raise RuntimeError(f"{len(bad)} account(s) not ok, first: {bad[0]}")
    synced, records, requests = store_totals(database)
    return Figures(
        label, load, count * concurrency, seconds, synced, records, requests, cpu,
        size - size0, wal - wal0, commits - commits0, commands,
    )  # fmt: skip


def local(root: Path, server: str, broker: str, accounts: dict[str, Any]) -> Figures:
    from cdp_sdk.sync import Store
    from cdp_sdk.workspace import Workspace

    database = create_database(server, "local")
    config = write_config(root, "local", database, broker, accounts)
    size0, wal0, commits0 = database_figures(database)
    cpu0 = os.times()
    load0 = os.getloadavg()[0]
    with Workspace.load(config) as workspace, Store(database) as store:
        started = time.perf_counter()
        report = store.sync(workspace)
        seconds = time.perf_counter() - started
    cpu1 = os.times()
    load = (load0, os.getloadavg()[0])
    if report.errors:
        raise RuntimeError(f"local sync errors: {report.errors[0]}")
    size, wal, commits = database_figures(database)
    synced, records, requests = store_totals(database)
    return Figures(
        "local (1 process, asyncio)", load, 1, seconds, synced, records, requests,
        (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        size - size0, wal - wal0, commits - commits0, 0,
    )  # fmt: skip


def print_tables(database: str, accounts: int) -> None:
    print("| table | rows per account | bytes per row |", flush=True)
    print("|---|---|---|")
    for name, rows, size in table_sizes(database):
        if rows:
            print(f"| {name} | {rows / accounts:,.1f} | {size / rows:,.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--sims", type=int, default=200, help="SIMs per account")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--threads", type=int, nargs="*", default=[8],
        help="also one worker with a pool of this many threads",
    )  # fmt: skip
    parser.add_argument("--no-local", action="store_true", help="skip the local sync")
    args = parser.parse_args()

    from pg import postgres_server
    from redis_server import redis_server

    figures: list[Figures] = []
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cdp-bench-")))
        server = stack.enter_context(postgres_server())
        broker = stack.enter_context(redis_server())
        accounts = stack.enter_context(emulators(args.accounts, args.sims, args.latency))
        print(
            f"{len(accounts)} accounts x {args.sims} SIMs ({', '.join(PLATFORMS)}), "
            f"{args.latency * 1000:g} ms a request, platform rate limits on; "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        for count in args.workers:
            figures.append(on_workers(root, server, broker, accounts, count, "prefork", 1))
            print(figures[-1], flush=True)
        for threads in args.threads:
            figures.append(on_workers(root, server, broker, accounts, 1, "threads", threads))
            print(figures[-1], flush=True)
        if not args.no_local:
            figures.append(local(root, server, broker, accounts))
            print(figures[-1], flush=True)

    base = figures[0].seconds
    print()
    print(
        "| workers | processes | wall s | speed-up | accounts/min | records/s | worker CPU s "
        "| DB MB | WAL MB | commits | Redis cmds | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in figures:
        print(
            f"| {f.label} | {f.processes} | {f.seconds:.1f} | {base / f.seconds:.2f} "
            f"| {f.accounts / f.seconds * 60:.0f} | {f.records / f.seconds:,.0f} | {f.cpu:.1f} "
            f"| {f.database_bytes / 2**20:.1f} | {f.wal_bytes / 2**20:.1f} | {f.commits:,} "
            f"| {f.redis_commands:,} | {f.load[0]:.1f}-{f.load[1]:.1f} |"
        )
    f = figures[0]
    print()
    print(
        f"per account: {f.records / f.accounts:.0f} records, "
        f"{f.requests / f.accounts:.1f} requests, {f.commits / f.accounts:.1f} commits, "
        f"{f.wal_bytes / f.accounts / 1024:.0f} KiB WAL, "
        f"{f.redis_commands / f.accounts:.1f} Redis commands; "
        f"{f.database_bytes / (f.accounts * args.sims):.0f} bytes of database per SIM"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
