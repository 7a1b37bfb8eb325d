"""Where each entity's cursor lands, and what the next run reads from it.

Usage resumes at the earliest record that is not final yet; invoices at the newest
period stored; audit events at the newest event of the open window. A platform tag that
is gone from the platform is gone from the store after the next sync. Platforms that
serve audit events per SIM only are read SIM by SIM, every event kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdp_sdk import SimStatus
from cdp_sdk.connectors.sandbox import SandboxConnector, SandboxEmulator
from cdp_sdk.sandbox import Fleet
from cdp_sdk.sync import Entity, Store, SyncOptions
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from conftest import InstallPlugins
from emulated import emulated

TODAY = date(2024, 6, 15)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
MIDNIGHT = datetime(2024, 6, 15, tzinfo=UTC)


def in_process(size: int, seed: int, connector: str = "sandbox") -> Account:
    """A sandbox account on its own in-process fleet (today: 15 June 2024)."""
    return Account(
        connector, {"fleet_size": size, "seed": seed, "today": TODAY, "rate_limit": None}
    )


def emulator_of(workspace: Workspace, name: str) -> SandboxEmulator:
    async def find(async_workspace: AsyncWorkspace) -> SandboxEmulator:
        plugin = async_workspace.connector(name).plugin
        assert isinstance(plugin, SandboxConnector)
        assert plugin.emulator is not None
        return plugin.emulator

    return workspace.run(find)


def positions(store: Store) -> dict[Entity, datetime | None]:
    return {cursor.entity: cursor.position for cursor in store.cursors()}


# -- usage ----------------------------------------------------------------------------------

SETTLING = """
from datetime import timedelta
from cdp_sdk.connectors.sandbox import SandboxConnector
from cdp_sdk.errors import TransientError

class SettlingSandbox(SandboxConnector):
    '''The sandbox, on a platform whose daily usage stays provisional for some days.'''

    name = "settling"
    provisional_days = 3
    '''The last days (today included) whose usage is not final yet; the rest is.'''
    open_window_down = False
    '''Whether usage asked up to now (no end) fails, as on a platform that is down.'''
    asked = ()
    '''Where the usage windows asked for start (a list to fill, when set).'''
    invoices_listed = True
    '''False: the platform lists no invoice (as after the account's billing moved).'''

    async def invoices(self, *, start, end):
        if self.invoices_listed:
            async for invoice in super().invoices(start=start, end=end):
                yield invoice

    async def usage(self, iccid, *, start, end, granularity):
        if isinstance(self.asked, list):
            self.asked.append(start)
        if self.open_window_down and end is None:
            raise TransientError("usage is unavailable", connector=self.name, status_code=503)
        source = super().usage(iccid, start=start, end=end, granularity=granularity)
        async for record in source:
            today = self.emulator.fleet.today
            provisional = record.start.date() > today - timedelta(days=self.provisional_days)
            yield record.model_copy(update={"final": not provisional})
"""


@pytest.fixture
def settling(install_plugins: InstallPlugins) -> None:
    install_plugins(
        {"settling": "settling_sandbox:SettlingSandbox"}, modules={"settling_sandbox": SETTLING}
    )


def plugin_of(workspace: Workspace, name: str) -> Any:
    """The connector plugin of account ``name`` (the settling sandbox, to tune it)."""
    return workspace.run(lambda async_workspace: _plugin(async_workspace, name))


async def _plugin(async_workspace: AsyncWorkspace, name: str) -> Any:
    return async_workspace.connector(name).plugin


@pytest.mark.parametrize("per_sim", [False, True])
@pytest.mark.usefixtures("settling")
def test_usage_resumes_at_the_earliest_day_not_final_yet(tmp_path: Path, per_sim: bool) -> None:
    workspace = Workspace({"eu": in_process(8, 3, "settling")})
    options = SyncOptions(usage_per_sim=per_sim)
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator = emulator_of(workspace, "eu")
        store.sync(workspace, now=NOW, options=options)
        # 13, 14 and 15 June are provisional: the cursor stays at the first of them.
        provisional = [r for r in store.rows("usage") if not r["final"]]
        assert {r["period_start"] for r in provisional} == {
            MIDNIGHT - timedelta(days=2),
            MIDNIGHT - timedelta(days=1),
            MIDNIGHT,
        }
        assert positions(store)[Entity.USAGE] == MIDNIGHT - timedelta(days=2)

        emulator.requests.clear()
        store.sync(workspace, now=NOW + timedelta(hours=1), options=options)
        asked = {r.url.params["from"] for r in emulator.requests_to("usage$")}
        assert asked == {"2024-06-13"}
        assert positions(store)[Entity.USAGE] == MIDNIGHT - timedelta(days=2)


@pytest.mark.parametrize("per_sim", [False, True])
@pytest.mark.usefixtures("settling")
def test_provisional_usage_of_a_closed_window_is_read_again_until_final(
    tmp_path: Path, per_sim: bool
) -> None:
    """A platform whose usage settles more slowly than ``settle``: the provisional days of
    a closed window are asked again by the next run, which stores their final figures."""
    workspace = Workspace({"eu": in_process(8, 3, "settling")})
    # 5 to 12 June is a closed window (it ends before now less two days), then the open
    # one; the platform keeps its last five days, 11 to 15 June, provisional.
    options = SyncOptions(
        history=timedelta(days=10), window=timedelta(days=7), usage_per_sim=per_sim
    )
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator = emulator_of(workspace, "eu")
        plugin = plugin_of(workspace, "eu")
        plugin.provisional_days = 5
        store.sync(workspace, now=NOW, options=options)
        provisional = {r["period_start"] for r in store.rows("usage") if not r["final"]}
        assert min(provisional) == MIDNIGHT - timedelta(days=4)
        assert positions(store)[Entity.USAGE] == MIDNIGHT - timedelta(days=4)

        # The platform has settled those days: the next run reads them again.
        plugin.provisional_days = 0
        emulator.requests.clear()
        store.sync(workspace, now=NOW + timedelta(hours=1), options=options)
        asked = {r.url.params["from"] for r in emulator.requests_to("usage$")}
        assert asked == {"2024-06-11"}
        usage = store.rows("usage")
        assert {r["period_start"] for r in usage} >= provisional
        assert all(r["final"] for r in usage)
        assert positions(store)[Entity.USAGE] == MIDNIGHT + timedelta(days=1)


@pytest.mark.usefixtures("settling")
def test_usage_failing_in_its_open_window_resumes_after_the_last_closed_window(
    tmp_path: Path,
) -> None:
    """Closed windows are done for good, even those without usage: when the open window
    fails, the rerun asks only for it."""
    workspace = Workspace({"eu": in_process(8, 3, "settling")})
    # Three weeks after the fleet's last day of usage (15 June): from 5 June, four closed
    # weeks (the last three without usage) up to 3 July, then the open window.
    now = NOW + timedelta(days=20)
    options = SyncOptions(history=timedelta(days=30), window=timedelta(days=7))
    with workspace, Store(tmp_path / "cdp.db") as store:
        plugin = plugin_of(workspace, "eu")
        plugin.provisional_days = 0
        plugin.open_window_down = True
        report = store.sync(workspace, now=now, entities=["usage"], options=options)
        [failed] = report.errors
        assert failed.error is not None
        assert "usage is unavailable" in failed.error
        assert max(r["period_end"] for r in store.rows("usage")) == MIDNIGHT + timedelta(days=1)
        assert positions(store)[Entity.USAGE] == datetime(2024, 7, 3, tzinfo=UTC)

        plugin.open_window_down = False
        plugin.asked = []
        again = store.sync(workspace, now=now, entities=["usage"], options=options)
        assert again.ok, again.errors
        assert plugin.asked == [datetime(2024, 7, 3, tzinfo=UTC)]
        assert positions(store)[Entity.USAGE] == datetime(2024, 7, 3, tzinfo=UTC)


def test_usage_resumes_after_the_newest_final_record(tmp_path: Path) -> None:
    """When everything read is final, the next run starts where the newest record ends."""
    vendor = SandboxEmulator(Fleet(8, seed=3, today=TODAY), requests_per_second=1_000_000)
    # Through a transport the sandbox judges finality by the real clock: all days are past.
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, now=NOW, entities=["usage"])
        usage = store.rows("usage")
        assert usage
        assert all(r["final"] for r in usage)
        newest_end = max(r["period_end"] for r in usage)
        assert newest_end == MIDNIGHT + timedelta(days=1)
        assert positions(store)[Entity.USAGE] == newest_end


def test_usage_of_an_open_window_without_records_stays_at_the_window(tmp_path: Path) -> None:
    vendor = SandboxEmulator(Fleet(8, seed=3, today=TODAY), requests_per_second=1_000_000)
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": None}, vendor.transport())})
    later = NOW + timedelta(days=40)  # the fleet has no usage after its today
    options = SyncOptions(history=timedelta(days=10), window=timedelta(days=4))
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, now=later, entities=["usage"], options=options)
        assert store.rows("usage") == []
        # Closed windows up to the settle horizon, then the open one starts at its start.
        start = datetime(2024, 7, 15, tzinfo=UTC)  # midnight, ten days before `later`
        horizon = later - options.settle
        open_start = start
        while open_start + options.window <= horizon:
            open_start += options.window
        assert positions(store)[Entity.USAGE] == open_start


# -- invoices -------------------------------------------------------------------------------


def test_the_invoice_cursor_is_the_newest_period_stored(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(10, 4)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, now=NOW, entities=["invoices"])
        invoices = store.rows("invoices")
        assert len(invoices) > 1
        newest = max(r["period_start"] for r in invoices)
        assert positions(store)[Entity.INVOICES] == datetime.combine(
            newest, datetime.min.time(), tzinfo=UTC
        )
        assert newest.month == 6  # the open June invoice

        # A later run keeps the newest period (statuses are read again from before it).
        store.sync(workspace, now=NOW + timedelta(days=1), entities=["invoices"])
        assert positions(store)[Entity.INVOICES] == datetime(2024, 6, 1, tzinfo=UTC)


def test_the_invoice_cursor_advances_with_a_new_period(tmp_path: Path) -> None:
    first = Workspace({"eu": in_process(10, 4)})
    with first, Store(tmp_path / "cdp.db") as store:
        store.sync(first, now=NOW, entities=["invoices"])
        assert positions(store)[Entity.INVOICES] == datetime(2024, 6, 1, tzinfo=UTC)
    # The same platform two months on: July and August invoices have come.
    later = Account("sandbox", {"fleet_size": 10, "seed": 4, "today": date(2024, 8, 20)})
    second = Workspace({"eu": later})
    with second, Store(tmp_path / "cdp.db") as store:
        store.sync(second, now=datetime(2024, 8, 20, 12, tzinfo=UTC), entities=["invoices"])
        assert positions(store)[Entity.INVOICES] == datetime(2024, 8, 1, tzinfo=UTC)
        periods = {r["period_start"] for r in store.rows("invoices")}
        assert {date(2024, 6, 1), date(2024, 7, 1), date(2024, 8, 1)} <= periods


@pytest.mark.usefixtures("settling")
def test_a_run_that_lists_no_invoice_keeps_the_invoice_cursor(tmp_path: Path) -> None:
    """An empty invoice listing does not send the next run back to the start of history."""
    workspace = Workspace({"eu": in_process(10, 4, "settling")})
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, now=NOW, entities=["invoices"])
        stored = store.rows("invoices")
        assert positions(store)[Entity.INVOICES] == datetime(2024, 6, 1, tzinfo=UTC)

        plugin_of(workspace, "eu").invoices_listed = False
        report = store.sync(workspace, now=NOW + timedelta(days=1), entities=["invoices"])
        assert report.ok, report.errors
        assert report.result("eu", "invoices").records == 0
        assert positions(store)[Entity.INVOICES] == datetime(2024, 6, 1, tzinfo=UTC)
        assert len(store.rows("invoices")) == len(stored)


# -- audit events ---------------------------------------------------------------------------


def test_the_audit_cursor_moves_to_the_newest_event(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(20, 5)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator = emulator_of(workspace, "eu")
        report = store.sync(workspace, now=NOW)
        assert report.result("eu", "audit_events").detail is None  # account-wide, not per SIM
        first = positions(store)[Entity.AUDIT_EVENTS]
        assert first is not None
        assert first <= NOW

        sims = [s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE][:2]

        async def suspend(async_workspace: AsyncWorkspace) -> None:
            for sim in sims:
                await async_workspace.connector("eu").change_status(sim.iccid, "suspended")

        before = len(emulator.fleet.audit)
        workspace.run(suspend)
        new_events = emulator.fleet.audit[before:]
        assert len(new_events) == len(sims)
        newest = max(e.occurred_at for e in new_events)
        assert newest > first

        store.sync(workspace, now=NOW + timedelta(hours=1), entities=["audit_events"])
        assert positions(store)[Entity.AUDIT_EVENTS] == newest
        stored = {r["id"] for r in store.rows("audit_events")}
        assert {e.id for e in new_events} <= stored

        # The next run asks from there, and keeps what it had.
        emulator.requests.clear()
        store.sync(workspace, now=NOW + timedelta(hours=2), entities=["audit_events"])
        [request] = emulator.requests_to("^/v1/events$")
        assert request.url.params["since"] == newest.isoformat()
        assert positions(store)[Entity.AUDIT_EVENTS] == newest
        assert {r["id"] for r in store.rows("audit_events")} == stored


@pytest.mark.parametrize("connector", ["jasper", "1nce"])
def test_audit_events_per_sim_keep_every_event(tmp_path: Path, connector: str) -> None:
    """Platforms that serve audit events per SIM only: every SIM's events are stored."""
    account, _ = emulated(connector, 8, seed=7)
    workspace = Workspace({"eu": account})
    options = SyncOptions(history=timedelta(days=360), window=timedelta(days=90))
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(
            workspace, entities=["subscriptions", "audit_events"], now=NOW, options=options
        )
        assert report.ok, report.errors
        result = report.result("eu", "audit_events")
        assert result.detail == "events per SIM"

        async def every_event(async_workspace: AsyncWorkspace) -> set[tuple[Any, ...]]:
            platform = async_workspace.connector("eu")
            found = set()
            async for sim in platform.subscriptions():
                start = options_start(options)
                async for event in platform.audit_events(sim.iccid, start=start, end=None):
                    found.add((event.iccid, event.id, event.occurred_at))
            return found

        expected = workspace.run(every_event)
        stored = {(r["iccid"], r["id"], r["occurred_at"]) for r in store.rows("audit_events")}
    assert expected
    assert stored == expected
    assert result.records == len(expected)


def options_start(options: SyncOptions) -> datetime:
    return datetime.combine((NOW - options.history).date(), datetime.min.time(), tzinfo=UTC)


# -- tags -----------------------------------------------------------------------------------


def test_tags_the_platform_dropped_are_removed_locally(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(12, 6)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator = emulator_of(workspace, "eu")
        store.sync(workspace, now=NOW)
        tagged = [s for s in emulator.fleet.sorted_sims() if len(s.tags) >= 2]
        assert len(tagged) >= 2
        sim, other = tagged[:2]
        dropped, kept = sorted(sim.tags)[:2]
        assert platform_tags(store, sim.iccid) == dict(sim.tags)

        async def drop(async_workspace: AsyncWorkspace) -> None:
            await async_workspace.connector("eu").update_tags(sim.iccid, {}, remove=[dropped])

        workspace.run(drop)
        assert dropped not in emulator.fleet.sims[sim.iccid].tags
        report = store.sync(workspace, now=NOW + timedelta(hours=1), entities=["subscriptions"])
        assert report.result("eu", "subscriptions").detail == "changes only"

        now_tags = platform_tags(store, sim.iccid)
        assert dropped not in now_tags
        assert kept in now_tags
        assert now_tags == dict(emulator.fleet.sims[sim.iccid].tags)
        # The other SIMs' tags are untouched.
        assert platform_tags(store, other.iccid) == dict(other.tags)


def platform_tags(store: Store, iccid: str) -> dict[str, Any]:
    return {
        row["key"]: row["value"]
        for row in store.rows("tags")
        if row["iccid"] == iccid and row["source"] == "platform"
    }


def test_invoices_are_read_again_from_the_refresh_period_before_the_cursor(
    tmp_path: Path,
) -> None:
    workspace = Workspace({"eu": in_process(10, 4)})
    options = SyncOptions(invoice_refresh=timedelta(days=40))
    with workspace, Store(tmp_path / "cdp.db") as store:
        first = store.sync(workspace, now=NOW, entities=["invoices"], options=options)
        stored = store.rows("invoices")
        assert first.result("eu", "invoices").records == len(stored) > 3
        again = store.sync(workspace, now=NOW, entities=["invoices"], options=options)
    # From 1 June less 40 days (22 April): the April, May and June invoices.
    refresh_from = date(2024, 4, 22)
    expected = [r for r in stored if r["period_end"] > refresh_from]
    assert [p.month for p in sorted(r["period_start"] for r in expected)] == [4, 5, 6]
    assert again.result("eu", "invoices").records == len(expected)


# -- windows --------------------------------------------------------------------------------


def test_windows_close_up_to_the_settle_horizon(tmp_path: Path) -> None:
    """Audit events are asked window by window: closed windows end at or before now less
    ``settle``; the last window is open-ended."""
    workspace = Workspace({"eu": in_process(6, 1)})
    now = datetime(2024, 6, 15, tzinfo=UTC)  # midnight: a window ends on the horizon
    options = SyncOptions(history=timedelta(days=10), window=timedelta(days=4))
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator = emulator_of(workspace, "eu")
        store.sync(workspace, now=now, entities=["audit_events"], options=options)
        asked = [
            (r.url.params.get("since"), r.url.params.get("until"))
            for r in emulator.requests_to("^/v1/events$")
        ]
        position = positions(store)[Entity.AUDIT_EVENTS]
    june = [datetime(2024, 6, day, tzinfo=UTC).isoformat() for day in (5, 9, 13)]
    assert asked == [(june[0], june[1]), (june[1], june[2]), (june[2], None)]
    assert position == datetime(2024, 6, 13, tzinfo=UTC)  # no event in the open window


def test_history_starts_at_midnight_utc_whatever_the_local_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Auckland")  # UTC+12: already the next day at noon UTC
    time.tzset()
    try:
        workspace = Workspace({"eu": in_process(6, 1)})
        with workspace, Store(tmp_path / "cdp.db") as store:
            emulator = emulator_of(workspace, "eu")
            store.sync(workspace, now=NOW, entities=["usage", "audit_events"])
            usage = emulator.requests_to("^/v1/usage$")
            events = emulator.requests_to("^/v1/events$")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert usage[0].url.params["from"] == "2024-03-17"  # NOW less 90 days, in UTC
    assert events[0].url.params["since"] == "2024-03-17T00:00:00+00:00"


# -- small lists, and what each entity reports ---------------------------------------------


def test_activation_modes_are_stored_whole(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(6, 1)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW, entities=["activation_modes"])
        modes = workspace.run(lambda w: w.connector("eu").activation_modes())
        stored = store.rows("activation_modes")
        result = report.result("eu", "activation_modes")
        assert (result.records, result.pages) == (len(modes), 1)
        assert {(r["name"], r["status"], r["billable"]) for r in stored} == {
            (m.name, m.status.value, m.billable) for m in modes
        }
        store.sync(workspace, now=NOW, entities=["activation_modes"])
        assert len(store.rows("activation_modes")) == len(modes)  # replaced, not added


def test_usage_reports_how_it_was_read(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(6, 1)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        totals = store.sync(workspace, now=NOW, entities=["usage"])
        per_sim = store.sync(
            workspace, now=NOW, entities=["usage"], options=SyncOptions(usage_per_sim=True)
        )
    assert totals.result("eu", "usage").detail == "account totals"
    assert per_sim.result("eu", "usage").detail == "usage per SIM"


@pytest.mark.parametrize("connector", ["jasper", "1nce"])
def test_usage_of_a_per_sim_only_platform_is_read_sim_by_sim(
    tmp_path: Path, connector: str
) -> None:
    account, _ = emulated(connector, 6, seed=7)
    workspace = Workspace({"eu": account})
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, entities=["subscriptions", "usage"], now=NOW)
        assert report.ok, report.errors
        assert report.result("eu", "usage").detail == "usage per SIM"
        stored = store.rows("usage")
        assert stored
        sims = {r["iccid"] for r in store.rows("subscriptions")}
        assert {r["iccid"] for r in stored} <= sims
