"""What a sync run reports and stores: its row in ``sync_runs``, the run each mirrored row
names, pages as the progress callback sees them, errors as the user reads them, and the
usage granularity asked for reaching the platform."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cdp_sdk.sandbox import Fault
from cdp_sdk.sync import (
    Entity,
    PageCommitted,
    Store,
    SyncEvent,
    SyncOptions,
    SyncReport,
    _runner,
    schema,
)
from cdp_sdk.sync._runner import MAX_PAGE, MIN_PAGE
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from conftest import InstallPlugins

TODAY = date(2024, 6, 15)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)


def sandbox(size: int = 6, seed: int = 1) -> Account:
    return Account(
        "sandbox", {"fleet_size": size, "seed": seed, "today": TODAY, "rate_limit": None}
    )


def test_the_run_row_holds_its_records_errors_and_duration(tmp_path: Path) -> None:
    workspace = Workspace({"eu": sandbox(), "us": sandbox(4, 2)})
    with workspace, Store(tmp_path / "cdp.db") as store:

        async def refuse_plans(async_workspace: AsyncWorkspace) -> None:
            plugin = async_workspace.connector("us").plugin
            plugin.emulator.faults.append(Fault(status=403, path="/v1/plans"))

        workspace.run(refuse_plans)
        began = time.monotonic()
        report = store.sync(workspace, now=NOW)
        took = time.monotonic() - began
        [row] = store.rows("sync_runs")
    assert report.status == "partial"
    assert row["status"] == "partial"
    assert row["records"] == report.records > 0
    assert row["errors"] == len(report.errors) == 1
    assert row["duration"] == report.duration
    assert 0 < row["duration"] <= took
    assert row["started_at"] <= row["finished_at"]
    assert all(0 < result.duration <= row["duration"] for result in report.results)


def test_every_mirrored_row_names_the_run_that_last_wrote_it(tmp_path: Path) -> None:
    workspace = Workspace({"eu": sandbox(20, 5)})
    options = SyncOptions(history=timedelta(days=400))  # the fleet's events are that old
    with workspace, Store(tmp_path / "cdp.db") as store:
        first = store.sync(workspace, now=NOW, options=options)
        for table in schema.ENTITY_TABLES:
            if table is schema.quarantine:  # holds only what a store cannot: none here
                assert store.rows(table) == []
                continue
            rows = store.rows(table)
            assert rows, table.name
            assert {row["run_id"] for row in rows} == {first.run_id}, table.name
            assert all(_during(first, row["synced_at"]) for row in rows), table.name

        async def suspend_one(async_workspace: AsyncWorkspace) -> str:
            platform = async_workspace.connector("eu")
            active = [s async for s in platform.subscriptions() if s.status.value == "active"]
            await platform.change_status(active[0].iccid, "suspended")
            return active[0].iccid

        changed = workspace.run(suspend_one)
        second = store.sync(workspace, now=NOW, entities=["subscriptions"])
        by_run = {row["iccid"]: row["run_id"] for row in store.rows("subscriptions")}
        [row] = [r for r in store.rows("subscriptions") if r["iccid"] == changed]
    assert by_run.pop(changed) == second.run_id
    assert set(by_run.values()) == {first.run_id}
    assert _during(second, row["synced_at"])


def _during(report: SyncReport, moment: datetime) -> bool:
    assert report.finished_at is not None
    return report.started_at <= moment <= report.finished_at


WHOLE_LISTING = """
from cdp_sdk.connectors.sandbox import SandboxConnector

class WholeListing(SandboxConnector):
    '''The sandbox, on a platform that answers the SIM listing in one response.'''

    name = "whole"

    async def subscriptions(self, *, modified_since):
        listed = [sim async for sim in super().subscriptions(modified_since=modified_since)]
        for sim in listed:
            yield sim
"""


def test_a_platform_page_larger_than_the_commit_size_is_committed_in_parts(
    tmp_path: Path, install_plugins: InstallPlugins
) -> None:
    """At most MAX_PAGE records per transaction; the progress callback sees each part."""
    install_plugins(
        {"whole": "whole_listing:WholeListing"}, modules={"whole_listing": WHOLE_LISTING}
    )
    size = 2 * MAX_PAGE + 300
    account = Account("whole", {"fleet_size": size, "seed": 3, "today": TODAY, "rate_limit": None})
    events: list[SyncEvent] = []
    with Workspace({"eu": account}) as workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW, entities=["subscriptions"], progress=events.append)
        stored = len(store.rows("subscriptions"))
    pages = [e for e in events if isinstance(e, PageCommitted)]
    assert [(p.records, p.total) for p in pages] == [
        (MAX_PAGE, MAX_PAGE),
        (MAX_PAGE, 2 * MAX_PAGE),
        (300, size),
    ]
    result = report.result("eu", "subscriptions")
    assert (result.records, result.pages) == (size, 3)
    assert stored == size


ONE_BY_ONE = """
from cdp_sdk.connectors.sandbox import SandboxConnector

class OneByOne(SandboxConnector):
    # The sandbox, on a platform whose SIMs are read one call each (details per SIM).

    name = "onebyone"

    async def subscriptions(self, *, modified_since, status=None):
        listed = [sim async for sim in super().subscriptions(modified_since=modified_since)]
        for sim in listed:
            yield await self.subscription(sim.iccid)
"""


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (60.0, [MIN_PAGE, MIN_PAGE, 50]),  # fast responses: gathered into pages
        (0.0, [1] * (2 * MIN_PAGE + 50)),  # slow ones: each response committed as it comes
    ],
)
def test_a_platform_read_a_sim_per_call_is_committed_in_pages_not_sim_by_sim(
    tmp_path: Path,
    install_plugins: InstallPlugins,
    monkeypatch: pytest.MonkeyPatch,
    seconds: float,
    expected: list[int],
) -> None:
    install_plugins({"onebyone": "one_by_one:OneByOne"}, modules={"one_by_one": ONE_BY_ONE})
    monkeypatch.setattr(_runner, "PAGE_SECONDS", seconds)
    size = 2 * MIN_PAGE + 50
    account = Account(
        "onebyone", {"fleet_size": size, "seed": 4, "today": TODAY, "rate_limit": None}
    )
    events: list[SyncEvent] = []
    with Workspace({"eu": account}) as workspace, Store(tmp_path / "cdp.db") as store:

        async def unlimited(async_workspace: AsyncWorkspace) -> None:
            async_workspace.connector("eu").plugin.emulator.rate_limit = None

        workspace.run(unlimited)
        report = store.sync(workspace, now=NOW, entities=["subscriptions"], progress=events.append)
        stored = len(store.rows("subscriptions"))
        journal = store.rows("api_calls")
    assert [e.records for e in events if isinstance(e, PageCommitted)] == expected
    assert report.result("eu", "subscriptions").pages == len(expected)
    assert stored == size
    # The login, the listing, then one call per SIM: every call journaled.
    assert [(row["method"], row["path"]) for row in journal] == [
        ("POST", "/v1/auth"),
        ("GET", "/v1/sims"),
    ] + [("GET", "/v1/sims/{iccid}")] * size


def test_a_platform_error_is_stored_as_its_class_and_message(tmp_path: Path) -> None:
    workspace = Workspace({"eu": sandbox()})
    with workspace, Store(tmp_path / "cdp.db") as store:

        async def refuse_plans(async_workspace: AsyncWorkspace) -> None:
            plugin = async_workspace.connector("eu").plugin
            plugin.emulator.faults.append(Fault(status=403, path="/v1/plans"))

        workspace.run(refuse_plans)
        report = store.sync(workspace, now=NOW, entities=["tariffs"])
        [failed] = report.errors
        stored = store.runs()[0].result("eu", "tariffs")
        [call] = [row for row in store.rows("api_calls") if row["path"] == "/v1/plans"]
    assert failed.error == stored.error
    assert failed.detail is None
    with pytest.raises(KeyError) as missing:  # the run read tariffs only
        report.result("eu", Entity.USAGE)
    assert missing.value.args == (("eu", "usage"),)
    # The journal names the refused call and the error it gave.
    assert (call["status_code"], call["error"]) == (403, "PermissionDeniedError")
    assert failed.error is not None
    kind, _, message = failed.error.partition(": ")
    assert kind == "PermissionDeniedError"
    # The error's own message, without the context str() appends to it.
    assert message
    assert "connector=" not in message
    assert "status=" not in message


def test_an_error_without_a_message_attribute_is_stored_as_its_text(tmp_path: Path) -> None:
    workspace = Workspace({"eu": sandbox()})
    with workspace, Store(tmp_path / "cdp.db") as store:

        async def break_tariffs(async_workspace: AsyncWorkspace) -> None:
            plugin = async_workspace.connector("eu").plugin

            def broken() -> None:
                raise LookupError("plan table unreadable")

            plugin.tariffs = broken

        workspace.run(break_tariffs)
        report = store.sync(workspace, now=NOW, entities=["tariffs"])
    [failed] = report.errors
    assert failed.error == "LookupError: plan table unreadable"


@pytest.mark.parametrize("per_sim", [False, True])
def test_the_usage_granularity_asked_for_reaches_the_platform(
    tmp_path: Path, per_sim: bool
) -> None:
    """The sandbox reports usage by day only: asking for months is refused, by name."""
    workspace = Workspace({"eu": sandbox()})
    options = SyncOptions(usage_granularity="month", usage_per_sim=per_sim)
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW, options=options)
        usage = report.result("eu", "usage")
        assert usage.status == "error"
        assert usage.error is not None
        assert "sandbox reports usage by day, not month" in usage.error
        assert store.rows("usage") == []
        assert Entity.USAGE not in {c.entity for c in store.cursors()}
        # Asked by day, it is read.
        again = store.sync(
            workspace, now=NOW, options=SyncOptions(usage_granularity="day", usage_per_sim=per_sim)
        )
        assert again.result("eu", "usage").status == "ok"
        assert {r["granularity"] for r in store.rows("usage")} == {"day"}
