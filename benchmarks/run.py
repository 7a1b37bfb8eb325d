"""Benchmarks of the listing path, run on demand: ``python benchmarks/run.py``.

Each figure is a median of several rounds, measured in one process, and the comparisons
are ratios within the run (the machines are shared and noisy; absolute times move).

- mapping: the pure ``to_subscription`` function over the sandbox API's SIM records;
- emulator: the in-process emulator answering the same listing (the floor: no client);
- async / sync: the whole stack (facade, HTTP client, paging, mapping) over the emulator;
- sync store: the same listing synced into a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

import cdp_sdk
from cdp_sdk.connectors.sandbox import SandboxEmulator, mapping
from cdp_sdk.connectors.sandbox.emulator import DEFAULT_API_KEY
from cdp_sdk.sandbox import Fleet

BASE_URL = "https://sandbox.example.test"


def median_seconds(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fleet = Fleet(args.sims, seed=1)
    settings = {"api_key": DEFAULT_API_KEY, "base_url": BASE_URL, "rate_limit": None}

    emulator = SandboxEmulator(fleet, requests_per_second=1_000_000)
    records = [emulator._sim(sim) for sim in fleet.sorted_sims()]

    def map_only() -> None:
        for record in records:
            mapping.to_subscription(record)

    def emulator_only() -> None:
        token = emulator.tokens.issue()
        pages = -(-args.sims // 100)
        with httpx.Client(transport=emulator.transport(), base_url=BASE_URL) as client:
            for page in range(1, pages + 1):
                client.get(
                    "/v1/sims",
                    params={"page": page, "page_size": 100},
                    headers={"Authorization": f"Bearer {token}"},
                ).json()

    def sync_facade() -> None:
        with cdp_sdk.connect("sandbox", transport=emulator.transport(), **settings) as sandbox:
            assert sum(1 for _ in sandbox.subscriptions()) == args.sims

    def async_facade() -> None:
        async def run() -> None:
            async with cdp_sdk.connect_async(
                "sandbox", transport=emulator.transport(), **settings
            ) as sandbox:
                assert len([s async for s in sandbox.subscriptions()]) == args.sims

        asyncio.run(run())

    def store_sync() -> None:
        from cdp_sdk.sync import Entity, Store
        from cdp_sdk.workspace import Account, Workspace

        with tempfile.TemporaryDirectory() as folder:
            workspace = Workspace(
                {"bench": Account("sandbox", settings, transport=emulator.transport())}
            )
            with workspace, Store(Path(folder) / "bench.db") as store:
                store.sync(workspace, entities=[Entity.SUBSCRIPTIONS])

    figures = {
        "mapping (pure)": median_seconds(map_only, args.rounds),
        "emulator (floor)": median_seconds(emulator_only, args.rounds),
        "async facade": median_seconds(async_facade, args.rounds),
        "sync facade": median_seconds(sync_facade, args.rounds),
        "sync store (SQLite)": median_seconds(store_sync, args.rounds),
    }
    floor = figures["emulator (floor)"]
    print(f"{args.sims} SIMs, median of {args.rounds} rounds")
    print(f"{'step':<22}{'seconds':>10}{'SIMs/s':>12}{'x emulator':>12}")
    for name, seconds in figures.items():
        print(f"{name:<22}{seconds:>10.3f}{args.sims / seconds:>12.0f}{seconds / floor:>12.2f}")


if __name__ == "__main__":
    main()
