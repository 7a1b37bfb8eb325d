"""The sync store: incremental re-syncs, the store against streaming, accounts together."""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from functools import partial
from pathlib import Path

from _measure import Line, Section, interleaved, ratio_text, seconds_text, timed
from _targets import Target, serve

import cdp_sdk
from cdp_sdk.sync import Entity, Store
from cdp_sdk.workspace import Account, Workspace

__all__ = ["accounts_together", "incremental_resync", "store_vs_stream"]

SUBSCRIPTIONS = [Entity.SUBSCRIPTIONS]
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
"""The CPUs this process may run on."""


def incremental_resync(targets: list[Target], sims: int) -> Section:
    section = Section(
        "incremental",
        f"Incremental re-sync of {sims:,} SIMs with 0% and 1% of them changed",
        "`Store.sync` of subscriptions into SQLite from the in-process emulator: a first "
        "sync, a re-sync with nothing changed, then one after 1% of the SIMs changed on "
        "the platform (a tag set, which moves their `updated_at`). The figure is the "
        "requests of each re-sync against the first; the target is met when the sync "
        "reads changes only (the sync report's own account, in the note) and each re-sync "
        "makes at most a tenth of a full listing's requests (or 3); where the vendor offers "
        "no way to find changes (the sync report says `full listing`, the connector's page "
        "gives the evidence), the target does not apply.",
    )
    for target in targets:
        section.add(_incremental(target, sims))
    return section


def _incremental(target: Target, sims: int) -> Line:
    emulator = target.emulator(target.fleet(sims))
    fleet = emulator.fleet
    start = datetime.combine(fleet.today, day_time(12), tzinfo=UTC)
    account = Account(target.name, target.settings(rate_limit=None), transport=emulator.transport())
    with (
        tempfile.TemporaryDirectory() as folder,
        Workspace({"bench": account}) as workspace,
        Store(Path(folder) / "bench.db") as store,
    ):

        def sync(now: datetime) -> tuple[int, str]:
            report = store.sync(workspace, entities=SUBSCRIPTIONS, now=now)
            result = report.result("bench", Entity.SUBSCRIPTIONS)
            if result.status != "ok":
                raise RuntimeError(f"{target.name}: {result.error}")
            return result.requests, result.detail or ""

        full, _ = sync(start)
        unchanged, _ = sync(start + timedelta(hours=1))
        listed = sorted(target.listed(emulator))
        changed = listed[:: max(1, math.ceil(len(listed) / max(1, len(listed) // 100)))]
        moment = start + timedelta(hours=1, minutes=1)
        for iccid in changed:
            tags = {**fleet.sims[iccid].tags, "benchmark": "changed"}
            fleet.set_tags(iccid, tags, at=moment, actor="benchmark")
        one_percent, detail = sync(start + timedelta(hours=2))
    bound = max(3, full / 10)
    if detail.startswith("full listing"):
        # The vendor offers no way to find what changed: the target does not apply (the
        # evidence is on the connector's page, the reason in the sync report).
        return Line(
            target.name,
            f"0%: {unchanged:,}, 1%: {one_percent:,} of {full:,} requests",
            target="none offered by the vendor",
            note=f"{len(changed)} SIMs changed; {detail}",
            value=one_percent / full if full else None,
        )
    return Line(
        target.name,
        f"0%: {unchanged:,}, 1%: {one_percent:,} of {full:,} requests",
        target="proportional to the changes",
        met=unchanged <= bound and one_percent <= bound,
        note=f"{len(changed)} SIMs changed; {detail}",
        value=one_percent / full if full else None,
    )


def store_vs_stream(targets: list[Target], sims: int, rounds: int) -> Section:
    section = Section(
        "store",
        f"Syncing {sims:,} subscriptions into SQLite vs streaming them",
        "From the in-process emulator, without a client-side rate limit: the sync facade "
        "streaming every subscription, against `Store.sync` of subscriptions into a fresh "
        f"SQLite file. Interleaved rounds ({rounds}); the median per-round ratio.",
    )
    for target in targets:
        section.add(_store_vs_stream(target, sims, rounds))
    return section


def _store_vs_stream(target: Target, sims: int, rounds: int) -> Line:
    emulator = target.emulator(target.fleet(sims))
    settings = target.settings(rate_limit=None)

    def stream() -> None:
        with cdp_sdk.connect(target.name, transport=emulator.transport(), **settings) as c:
            for _ in c.subscriptions():
                pass

    def store() -> None:
        account = Account(target.name, settings, transport=emulator.transport())
        with (
            tempfile.TemporaryDirectory() as folder,
            Workspace({"bench": account}) as workspace,
            Store(Path(folder) / "bench.db") as database,
        ):
            report = database.sync(workspace, entities=SUBSCRIPTIONS)
            assert report.ok, report.errors

    timings = interleaved({"stream": stream, "store": store}, rounds)
    ratios = timings.ratios("store", "stream")
    middle = sorted(ratios)[len(ratios) // 2]
    return Line(
        target.name,
        ratio_text(ratios),
        target="<= 1.5x",
        met=middle <= 1.5,
        note=f"streaming {seconds_text(timings.values['stream'])}",
        value=middle,
    )


def accounts_together(
    targets: list[Target],
    sims: int,
    rounds: int,
    latencies: list[float],
    *,
    budget: float,
    accounts: int = 8,
) -> Section:
    section = Section(
        "accounts",
        f"{accounts} accounts of {sims:,} SIMs synced together vs the slowest alone",
        f"{accounts} accounts of one connector, each an emulator over its own fleet, served from "
        "one child process on loopback (as remote platforms are: the emulators' work is "
        "not the client's): `Store.sync` of subscriptions of all of them into one SQLite "
        "file, against each account synced alone (the slowest, per round). "
        "CPU-bound: no latency and no client-side rate limit; then with the given latency "
        f"on every request. Interleaved rounds ({rounds}); the median per-round ratio. "
        "The note gives the floor on the machine: the client's CPU seconds of the accounts "
        "synced alone, added up and shared by every CPU of the machine (no schedule of "
        "the same work can finish sooner), against the slowest alone. "
        "A connector whose account alone takes longer than the budget is left out of a "
        "variant (noted).",
    )
    for target in targets:
        for latency in latencies:
            section.add(_together(target, sims, rounds, latency, budget, accounts))
    return section


def _together(
    target: Target, sims: int, rounds: int, latency: float, budget: float, count: int
) -> Line:
    label = "CPU-bound" if not latency else f"{latency * 1000:.0f} ms latency"
    goal = 1.5 if not latency else 1.1
    with serve([target.name], sims, accounts=count, latency=latency) as served:
        accounts = {
            f"account-{n}": Account(target.name, target.served_settings(url, rate_limit=None))
            for n, url in enumerate(served.urls[target.name])
        }

        def sync(names: list[str]) -> None:
            chosen = {name: accounts[name] for name in names}
            with (
                tempfile.TemporaryDirectory() as folder,
                Workspace(chosen) as workspace,
                Store(Path(folder) / "bench.db") as store,
            ):
                report = store.sync(workspace, entities=SUBSCRIPTIONS)
                assert report.ok, report.errors

        probe = timed(lambda: sync(["account-0"]))
        if probe * 2 * count * rounds > budget:
            return Line(
                f"{target.name}, {label}",
                "not measured",
                note=f"one account alone takes {probe:.1f} s: over the budget",
            )
        together: list[float] = []
        slowest: list[float] = []
        floors: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            sync(list(accounts))
            together.append(time.perf_counter() - started)
            alone = [_wall_and_cpu(partial(sync, [name])) for name in accounts]
            slowest.append(max(wall for wall, _ in alone))
            # The client's CPU seconds of every account (mapping, the store's writes) add
            # up, whatever the latency hides; the machine's CPUs share them at best.
            floors.append(max(slowest[-1], sum(cpu for _, cpu in alone) / CPUS))
    ratios = [whole / alone for whole, alone in zip(together, slowest, strict=True)]
    middle = sorted(ratios)[len(ratios) // 2]
    floor = sorted(f / s for f, s in zip(floors, slowest, strict=True))[len(floors) // 2]
    over_floor = sorted(t / f for t, f in zip(together, floors, strict=True))[len(floors) // 2]
    return Line(
        f"{target.name}, {label}",
        ratio_text(ratios),
        target=f"<= {goal}x",
        met=middle <= goal,
        note=(
            f"together {seconds_text(together)}, slowest alone {seconds_text(slowest)}; "
            f"the client's CPU of the {count} accounts alone over {CPUS} CPUs is "
            f"{floor:.2f}x the slowest alone (the floor on this machine), together takes "
            f"{over_floor:.2f}x that floor"
        ),
        value=middle,
    )


def _wall_and_cpu(run: Callable[[], object]) -> tuple[float, float]:
    """The wall seconds and this process's CPU seconds (every thread) of one ``run``."""
    cpu = time.process_time()
    wall = timed(run)
    return wall, time.process_time() - cpu
