"""Re-syncs on every built-in emulator: what changed is read, and nothing else where the
platform can say what changed; the store ends as a full sync would leave it.

Each test syncs an emulated account, changes 1% of its SIMs on the platform (a status
and a tag, as a user of the platform would), syncs again, and compares the store with a
fresh store filled by one full sync of the same platform.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import cdp_sdk
from cdp_sdk import Capability, SimStatus
from cdp_sdk._registry import load_connector
from cdp_sdk.cli._platforms import PLATFORMS
from cdp_sdk.cli._platforms import platform as platform_of
from cdp_sdk.connectors.jasper import JasperEmulator
from cdp_sdk.sandbox import Emulator
from cdp_sdk.sync import Entity, Store, SyncOptions, schema
from cdp_sdk.workspace import Account, Workspace
from emulated import pick

BUILT_IN = [p.connector for p in PLATFORMS]  # a new built-in connector joins
INCREMENTAL = {"sandbox", "jasper"}
SIMS = 200
FIRST = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
"""The first sync: hours ago, as the platforms' clocks (and Control Center's search
windows) run on the real time."""
SUBSCRIPTIONS = [Entity.SUBSCRIPTIONS]
BOOKKEEPING = {"run_id", "synced_at", "updated_at"}


def emulated(connector: str, size: int) -> tuple[Account, Emulator]:
    """An account of ``connector`` on a fresh emulator whose fleet's today is today."""
    built_in = platform_of(connector)
    fleet = built_in.fleet(size, today=FIRST.date())
    emulator = built_in.start(fleet, unlimited=True)
    settings = {
        **built_in.settings(f"https://{connector}.emulated.invalid"),
        "rate_limit": None,
        "max_retries": 0,
    }
    return Account(connector, settings, emulator.transport()), emulator


def _mirror(store: Store) -> dict[str, list[dict[str, Any]]]:
    """The SIMs and platform tags of a store, without bookkeeping columns."""
    return {
        table.name: sorted(
            ({k: v for k, v in row.items() if k not in BOOKKEEPING} for row in store.rows(table)),
            key=repr,
        )
        for table in (schema.subscriptions, schema.tags)
    }


def _change(emulator: Emulator, count: int, at: datetime) -> list[str]:
    """Suspend ``count`` active SIMs, or move their ``fleet`` tag; their ICCIDs."""
    fleet = emulator.fleet
    listed = [sim for sim in pick(emulator, count=len(fleet.sims)) if emulator.lists(sim.iccid)]
    chosen = [sim for sim in listed if sim.status is SimStatus.ACTIVE][:count]
    for number, sim in enumerate(chosen):
        if number % 2:
            fleet.set_status(sim.iccid, SimStatus.SUSPENDED, at=at, actor="test")
        else:
            fleet.set_tags(sim.iccid, {**sim.tags, "fleet": "kiosks-moved"}, at=at, actor="test")
    assert len(chosen) == count
    return [sim.iccid for sim in chosen]


@pytest.fixture(params=BUILT_IN)
def platform(request: pytest.FixtureRequest) -> tuple[str, Account, Emulator]:
    account, emulator = emulated(request.param, SIMS)
    return request.param, account, emulator


def test_a_resync_mirrors_the_platform_and_reads_only_the_changes_where_it_can(
    tmp_path: Path, platform: tuple[str, Account, Emulator]
) -> None:
    connector, account, emulator = platform
    changed_at = FIRST + timedelta(hours=1, minutes=1)
    with Workspace({"acct": account}) as workspace, Store(tmp_path / "a.db") as store:
        first = store.sync(workspace, entities=SUBSCRIPTIONS, now=FIRST)
        unchanged = store.sync(workspace, entities=SUBSCRIPTIONS, now=FIRST + timedelta(hours=1))
        changed = _change(emulator, SIMS // 100, changed_at)
        again = store.sync(workspace, entities=SUBSCRIPTIONS, now=FIRST + timedelta(hours=2))
        resynced = _mirror(store)
    # A fresh connector on the same platform, into a fresh store: one full sync.
    fresh_account = Account(connector, account.settings, emulator.transport())
    with Workspace({"acct": fresh_account}) as workspace, Store(tmp_path / "b.db") as fresh:
        full = fresh.sync(workspace, entities=SUBSCRIPTIONS, now=FIRST + timedelta(hours=2))
        assert full.ok
        assert resynced == _mirror(fresh)

    results = [r.result("acct", Entity.SUBSCRIPTIONS) for r in (first, unchanged, again)]
    assert all(result.status == "ok" for result in results)
    listed = results[0].records
    if connector in INCREMENTAL:
        assert [result.detail for result in results] == [
            "full listing (first run)",
            "changes only",
            "changes only",
        ]
        assert results[1].records == 0
        assert results[2].records == len(changed)
        # Requests proportional to the changes: a search page, and on Control Center one
        # Get Device Details per changed SIM.
        per_sim = 1 if connector == "jasper" else 0
        assert results[1].requests == 1
        assert results[2].requests == 1 + per_sim * len(changed)
    else:
        reason = load_connector(connector).full_listing_reason
        assert reason
        for result in results:
            assert result.detail == f"full listing ({reason})"
            assert result.records == listed


@pytest.mark.parametrize("connector", BUILT_IN)
def test_every_connector_says_why_it_lists_in_full_or_lists_changes(connector: str) -> None:
    plugin = load_connector(connector)
    incremental = Capability.INCREMENTAL in plugin.capabilities
    assert incremental == (connector in INCREMENTAL)
    # An incremental connector has no reason to give; the others name what the API lacks,
    # in a few words (they show in the sync table).
    assert (plugin.full_listing_reason is None) == incremental
    assert len(plugin.full_listing_reason or "") <= 40


def test_a_reason_is_left_out_when_a_connector_gives_none(tmp_path: Path) -> None:
    account, _ = emulated("emnify", 12)
    plugin = load_connector("emnify")
    reason, plugin.full_listing_reason = plugin.full_listing_reason, None
    try:
        with Workspace({"acct": account}) as workspace, Store(tmp_path / "c.db") as store:
            report = store.sync(workspace, entities=SUBSCRIPTIONS, now=FIRST)
    finally:
        plugin.full_listing_reason = reason
    detail = report.result("acct", Entity.SUBSCRIPTIONS).detail
    assert detail == "full listing (the connector is not incremental)"


# -- per-SIM reads: one request a SIM, no look-up first -----------------------------------------


@pytest.mark.parametrize(
    ("connector", "entity", "per_sim", "lookup"),
    [
        ("1nce", Entity.USAGE, r"/v1/sims/\d+/usage$", r"/v1/sims/\d+$"),
        ("1nce", Entity.AUDIT_EVENTS, r"/v1/sims/\d+/events$", r"/v1/sims/\d+$"),
        # Hologram's look-up is the link list asked for one ICCID (``sims=``).
        ("hologram", Entity.AUDIT_EVENTS, r"/links/cellular/\d+/history$", "sims"),
    ],
)
def test_per_sim_reads_after_a_listing_make_one_request_a_sim(
    tmp_path: Path, connector: str, entity: Entity, per_sim: str, lookup: str
) -> None:
    account, emulator = emulated(connector, 40)
    # One window: the whole history fits in it.
    options = SyncOptions(history=timedelta(days=5), window=timedelta(days=30))
    with Workspace({"acct": account}) as workspace, Store(tmp_path / "d.db") as store:
        report = store.sync(
            workspace, entities=[Entity.SUBSCRIPTIONS, entity], options=options, now=FIRST
        )
        assert report.ok, report.errors
    sims = report.result("acct", Entity.SUBSCRIPTIONS).records
    assert sims > 0
    # Every SIM's data asked once under the platform's key, and no SIM looked up first.
    reads = emulator.requests_to(per_sim)
    assert len(reads) == sims
    assert len({r.url.path for r in reads}) == sims
    looked_up = [
        r
        for r in emulator.requests
        if (lookup in r.url.params if not lookup.startswith("/") else re.search(lookup, r.url.path))
    ]
    assert looked_up == []


# -- Control Center: a full listing at the fewest requests, under both readings ------------------


@pytest.mark.parametrize("cut_open_windows", [False, True])
def test_a_full_control_center_listing_costs_a_search_page_per_50_sims_and_details(
    cut_open_windows: bool,
) -> None:
    account, emulator = emulated("jasper", 120)
    assert isinstance(emulator, JasperEmulator)
    emulator.cut_open_windows = cut_open_windows
    with cdp_sdk.connect("jasper", transport=emulator.transport(), **account.settings) as jasper:
        sims = {sim.iccid for sim in jasper.subscriptions()}
    assert sims == set(emulator.fleet.sims)
    searches = emulator.requests_to(r"/devices$")
    details = emulator.requests_to(r"/devices/\d+$")
    assert len(details) == len(sims)
    if not cut_open_windows:
        # Cisco's reading: one search from 2000, one page per 50 devices.
        assert len(searches) == -(-len(sims) // 50)
        assert {r.url.params["modifiedSince"] for r in searches} == {"2000-01-01T00:00:00+00:00"}
    else:
        # A platform that stops an open search a year on is walked in yearly windows.
        assert len({r.url.params["modifiedSince"] for r in searches}) > 2
