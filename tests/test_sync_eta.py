"""The time a sync still needs: the requests left, counted from what the run knows, over
the rate its requests go at; in the progress events and the ``cdp sync`` progress bars."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console

from cdp_sdk import SimStatus
from cdp_sdk.cli._render import SyncProgress, time_left
from cdp_sdk.cli._sync import SyncGroup, SyncPlan
from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.connectors.soracom import SoracomEmulator
from cdp_sdk.connectors.soracom.emulator import DEFAULT_AUTH_KEY, DEFAULT_AUTH_KEY_ID
from cdp_sdk.sandbox import Emulator, Fleet
from cdp_sdk.sync import Entity, EntityStarted, PageCommitted, Store, SyncEvent, SyncOptions
from cdp_sdk.sync._eta import MEASURED, Step, Workload
from cdp_sdk.sync._runner import SyncRun
from cdp_sdk.workspace import Account, Workspace
from test_sync import NOW, TODAY


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


JASPER_LIKE = [
    Step(Entity.SUBSCRIPTIONS),
    Step(Entity.ACTIVATION_MODES),
    Step(Entity.TARIFFS),
    Step(Entity.USAGE, windows=3, per_sim=True),
    Step(Entity.AUDIT_EVENTS, windows=3, per_sim=True),
]


class Pages:
    """A progress callback: the pages a sync commits, each with the requests the vendor
    had received by then."""

    def __init__(self, vendor: Emulator) -> None:
        self.vendor = vendor
        self.seen: list[tuple[PageCommitted, int]] = []

    def __call__(self, event: SyncEvent) -> None:
        if isinstance(event, PageCommitted):
            self.seen.append((event, len(self.vendor.requests)))

    def of(self, entity: Entity) -> list[PageCommitted]:
        return [event for event, _ in self.seen if event.entity is entity]


def test_a_first_listing_of_unknown_size_has_no_estimate() -> None:
    work = Workload(JASPER_LIKE, sims=0, rate_limit=1.0)
    work.begin(Entity.SUBSCRIPTIONS)
    assert work.requests_left(requests=51, records=50) is None
    assert work.eta(requests=51, records=50) == (None, None)


def test_a_full_listing_counts_the_sims_the_store_knows_at_their_cost_so_far() -> None:
    work = Workload(JASPER_LIKE, sims=1000, rate_limit=2.0)
    work.begin(Entity.SUBSCRIPTIONS)
    assert work.requests_left(requests=0, records=0) is None  # no page yet: cost unknown
    # 102 requests for 100 SIMs (search pages and one details call each): 900 SIMs left.
    # Then 2 + 3,000 + 3,000 (one request per SIM and window, the least).
    assert work.requests_left(requests=102, records=100) == 918 + 2 + 6000
    left, eta = work.eta(requests=102, records=100)
    assert eta == pytest.approx(left / 2.0)


def test_an_incremental_listing_is_not_counted() -> None:
    steps = [Step(Entity.SUBSCRIPTIONS, incremental=True), *JASPER_LIKE[1:]]
    work = Workload(steps, sims=10, rate_limit=1.0)
    work.begin(Entity.SUBSCRIPTIONS)
    assert work.requests_left(requests=3, records=2) == 2 + 30 + 30


def test_per_sim_reads_use_the_cost_measured_on_the_sims_read() -> None:
    work = Workload(JASPER_LIKE, sims=10, rate_limit=1.0)
    work.begin(Entity.SUBSCRIPTIONS)
    work.finish(Entity.SUBSCRIPTIONS, sims=20)  # the listing found 20 SIMs
    work.begin(Entity.ACTIVATION_MODES)
    work.finish(Entity.ACTIVATION_MODES)
    work.begin(Entity.TARIFFS)
    work.finish(Entity.TARIFFS)
    work.begin(Entity.USAGE)
    for _ in range(4):
        work.sim()
    # 4 SIM windows begun of 60, 10 requests so far: 2.5 each; events: 60 at least.
    assert work.requests_left(requests=10, records=40) == 56 * 2.5 + 60
    work.finish(Entity.USAGE)
    work.begin(Entity.AUDIT_EVENTS)
    assert work.requests_left(requests=0, records=0) == 60
    work.sim()
    assert work.requests_left(requests=3, records=1) == 59 * 3


def test_account_wide_windows_count_one_request_each() -> None:
    steps = [Step(Entity.USAGE, windows=4), Step(Entity.INVOICES)]
    work = Workload(steps, sims=500, rate_limit=None)
    work.begin(Entity.USAGE)
    work.window()
    assert work.requests_left(requests=1, records=10) == 3 + 1
    work.per_sim(Entity.USAGE)  # no account totals after all: SIM by SIM
    work.sim()
    assert work.requests_left(requests=2, records=10) == (500 * 4 - 1) * 2 + 1


def test_a_listing_past_the_sims_the_store_knew_has_none_left() -> None:
    work = Workload([Step(Entity.SUBSCRIPTIONS), Step(Entity.TARIFFS)], sims=100, rate_limit=1.0)
    work.begin(Entity.SUBSCRIPTIONS)
    # a request per SIM (a details call each): none left, only the tariffs' one request
    assert work.requests_left(requests=102, records=100) == 1
    assert work.requests_left(requests=125, records=120) == 1  # SIMs added since the last run


def test_finishing_an_entity_that_was_not_begun_leaves_the_current_estimate() -> None:
    work = Workload(JASPER_LIKE[3:], sims=10, rate_limit=1.0)
    work.begin(Entity.USAGE)
    work.sim()
    before = work.requests_left(requests=2, records=5)
    work.finish(Entity.AUDIT_EVENTS)  # not begun (the run skipped it, say)
    assert before == 29 * 2 + 30
    assert work.requests_left(requests=2, records=5) == 29 * 2


def test_an_entity_outside_the_workload_turning_per_sim_changes_nothing() -> None:
    work = Workload([Step(Entity.TARIFFS)], sims=10, rate_limit=1.0)
    work.per_sim(Entity.USAGE)
    assert not work.reads_sim_by_sim()
    assert work.requests_left(requests=0, records=0) == 1


def test_the_rate_is_the_limit_or_what_the_account_achieves_when_lower() -> None:
    clock = Clock()
    work = Workload([Step(Entity.TARIFFS)], sims=0, rate_limit=5.0, clock=clock)
    assert work.rate() == 5.0
    work.requests = MEASURED
    clock.now += 10.0  # one request a second: slower than the limit
    assert work.rate() == pytest.approx(MEASURED / 10.0)
    clock.now -= 9.9  # far faster than the limit: the limit holds
    assert work.rate() == 5.0
    unlimited = Workload([Step(Entity.TARIFFS)], sims=0, rate_limit=None, clock=clock)
    assert unlimited.rate() is None
    unlimited.requests = MEASURED
    clock.now += 1.0
    assert unlimited.rate() == pytest.approx(MEASURED / 1.0)
    assert unlimited.eta(requests=0, records=0)[0] == 1


def test_the_rate_achieved_counts_from_the_first_request_and_needs_time() -> None:
    clock = Clock()
    work = Workload([Step(Entity.TARIFFS)], sims=0, rate_limit=None, clock=clock)
    for _ in range(MEASURED):  # every request of the run, as the run counts them
        assert work.rate() is None
        work.requests += 1
        clock.now += 0.5
    assert work.rate() == pytest.approx(MEASURED / (MEASURED * 0.5))
    at_once = Workload([Step(Entity.TARIFFS)], sims=0, rate_limit=None, clock=clock)
    at_once.requests = MEASURED
    assert at_once.rate() is None  # no time has passed: nothing measured yet


def test_a_sync_reports_the_requests_it_has_left(tmp_path: Path) -> None:
    """Usage read SIM by SIM, in one window where each SIM costs the same: at every
    committed page, the requests left are those the account then still made (give or take
    the pages fetched ahead), and the time left is never shorter than the rate limit
    allows."""
    vendor = SandboxEmulator(Fleet(12, seed=3, today=TODAY), requests_per_second=10**6)
    limit = 10_000.0
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": limit}, vendor.transport())})
    options = SyncOptions(usage_per_sim=True, history=timedelta(days=20))
    progress = Pages(vendor)
    seen = progress.seen

    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW, options=options, progress=progress)
        assert report.ok
        total = len(vendor.requests)
        first = progress.of(Entity.SUBSCRIPTIONS)
        assert [event.requests_left for event in first] == [None]  # a first sync
        # Once listed, the SIMs count: usage alone takes a request per SIM at least.
        (modes,) = progress.of(Entity.ACTIVATION_MODES)
        assert modes.requests_left is not None
        assert modes.requests_left >= 12
        usage = [(event, made) for event, made in seen if event.entity is Entity.USAGE]
        assert len(usage) == report.result("eu", "usage").pages > 3
        for event, made in usage:
            assert event.requests_left is not None
            assert event.eta is not None
            assert abs(event.requests_left - (total - made)) <= 3
            assert event.eta >= event.requests_left / limit
        assert usage[-1][0].requests_left == pytest.approx(2, abs=2)  # events, invoices

        # The next sync knows the SIMs from the start: its listing asks for changes only.
        seen.clear()
        vendor.requests.clear()
        again = store.sync(
            workspace, now=NOW + timedelta(hours=1), options=options, progress=progress
        )
        assert again.ok
        assert all(event.requests_left is not None for event, _ in seen)


def test_once_measured_the_time_left_goes_at_the_rate_achieved(tmp_path: Path) -> None:
    """One request at a time, each taking 10 ms, against a limit far above: once the
    account has made enough requests to measure, the time left goes at the rate achieved
    (100 requests a second at most), not at the limit."""
    latency = 0.01
    vendor = SandboxEmulator(
        Fleet(6, seed=3, today=TODAY), requests_per_second=10**6, latency=latency
    )
    settings = {"rate_limit": 10.0**6, "max_concurrency": 1}
    workspace = Workspace({"eu": Account("sandbox", settings, vendor.transport())})
    options = SyncOptions(usage_per_sim=True, history=timedelta(days=4))
    progress = Pages(vendor)
    seen = progress.seen

    with workspace, Store(tmp_path / "cdp.db") as store:
        assert store.sync(workspace, now=NOW, options=options, progress=progress).ok
    measured = [event for event, made in seen if made > MEASURED and event.requests_left]
    assert measured
    for event in measured:
        assert event.eta is not None
        assert event.requests_left is not None
        assert event.eta >= event.requests_left * latency * 0.9


def test_a_second_sync_counts_only_what_it_reads_again(tmp_path: Path) -> None:
    """A second sync an hour later lists the changed SIMs only and reads usage from where
    the first sync stopped. Its requests left count neither the listing of changes nor
    the windows read before, so they never exceed what the account then still asks for
    (the cost of a SIM's window is the least it can be until measured); the entities
    done leave the count; and before enough requests are measured the time left goes at
    the rate limit."""
    vendor = SandboxEmulator(Fleet(12, seed=3, today=TODAY), requests_per_second=10**6)
    limit = 1000.0
    workspace = Workspace({"eu": Account("sandbox", {"rate_limit": limit}, vendor.transport())})
    options = SyncOptions(usage_per_sim=True, history=timedelta(days=20))
    progress = Pages(vendor)
    seen = progress.seen

    with workspace, Store(tmp_path / "cdp.db") as store:
        assert store.sync(workspace, now=NOW, options=options).ok
        vendor.requests.clear()
        changed = [s for s in vendor.fleet.sims.values() if s.status is SimStatus.ACTIVE][:2]
        for sim in changed:
            at = NOW + timedelta(minutes=30)
            vendor.fleet.set_status(sim.iccid, SimStatus.SUSPENDED, at=at, actor="test")
        again = store.sync(
            workspace, now=NOW + timedelta(hours=1), options=options, progress=progress
        )
        assert again.ok
        assert again.result("eu", "subscriptions").records == len(changed)
    total = len(vendor.requests)
    left = {event.entity: event.requests_left for event, _ in seen}
    # The listing of changes is not counted: what is left after it is what was before.
    assert left[Entity.SUBSCRIPTIONS] == left[Entity.ACTIVATION_MODES]
    for event, made in seen:
        assert event.requests_left is not None
        assert event.requests_left <= total - made + 1  # the entity being read: one more
        if made < MEASURED:
            assert event.eta == pytest.approx(event.requests_left / limit)
    assert left[Entity.AUDIT_EVENTS] == 0


def test_a_failed_count_of_the_sims_leaves_the_estimate_to_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SIMs counted again after a listing only feed the estimate: when that count
    fails, the sync goes on and its estimate keeps the count it had (none, in a first
    sync)."""
    vendor = SandboxEmulator(Fleet(12, seed=3, today=TODAY), requests_per_second=10**6)
    workspace = Workspace({"eu": Account("sandbox", {}, vendor.transport())})
    options = SyncOptions(usage_per_sim=True, history=timedelta(days=3))
    counts = SyncRun._account_sims
    calls: list[str] = []

    async def first_count_fails(self: SyncRun, account: str) -> list[str]:
        calls.append(account)
        if len(calls) == 1:
            raise RuntimeError("the count failed")
        return await counts(self, account)

    monkeypatch.setattr(SyncRun, "_account_sims", first_count_fails)
    progress = Pages(vendor)

    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW, options=options, progress=progress)
    assert report.ok, report.errors
    assert len(calls) >= 2  # the count after the listing, then the SIMs read one by one
    (modes,) = progress.of(Entity.ACTIVATION_MODES)
    # None of the 12 SIMs counted (their usage alone would be 12 requests at least).
    assert modes.requests_left is not None
    assert modes.requests_left < 12


def test_the_entities_after_one_a_connector_lacks_still_count(tmp_path: Path) -> None:
    """Soracom has no tariffs: the usage, invoices and audit events read after them are
    still in the requests left (one at least each, the least a listing takes)."""
    vendor = SoracomEmulator(Fleet(12, seed=3, today=TODAY))
    settings = {"auth_key_id": DEFAULT_AUTH_KEY_ID, "auth_key": DEFAULT_AUTH_KEY}
    workspace = Workspace({"jp": Account("soracom", settings, vendor.transport())})
    progress = Pages(vendor)

    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW, progress=progress)
    assert report.ok
    assert report.result("jp", "tariffs").status == "skipped"
    (modes,) = progress.of(Entity.ACTIVATION_MODES)
    assert modes.requests_left is not None
    assert modes.requests_left >= 3


def test_the_progress_bars_show_the_time_left() -> None:
    assert time_left(None) == ""
    assert time_left(4.4) == "ETA 0:00:04"
    assert time_left(7265.4) == "ETA 2:01:05"
    assert time_left(90061) == "ETA 25:01:01"
    plan = SyncPlan(
        (SyncGroup(("jasper", "sandbox"), (Entity.SUBSCRIPTIONS, Entity.USAGE), SyncOptions()),)
    )
    console = Console(file=io.StringIO(), record=True, width=200, force_terminal=True)
    with SyncProgress(console, plan) as progress:
        progress(EntityStarted("jasper", Entity.USAGE))
        progress(PageCommitted("jasper", Entity.USAGE, 3, 3, 7200, 7265.4))
        progress(PageCommitted("sandbox", Entity.SUBSCRIPTIONS, 500, 500, None, None))
    jasper, sandbox = console.export_text().splitlines()[-2:]  # the last frame
    assert jasper.rstrip().endswith(
        "jasper  " + "━" * 30 + " 0/2 usage" + " " * 20 + "3 records 0:00:00 ETA 2:01:05"
    )
    assert sandbox.startswith("sandbox")
    assert "500 records" in sandbox
    assert "ETA" not in sandbox
