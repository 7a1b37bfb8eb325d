"""What a sync run reports and stores per entity: errors as the user reads them, and the
usage granularity asked for reaching the platform."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cdp_sdk.sandbox import Fault
from cdp_sdk.sync import Entity, Store, SyncOptions
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace

TODAY = date(2024, 6, 15)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)


def sandbox(size: int = 6, seed: int = 1) -> Account:
    return Account(
        "sandbox", {"fleet_size": size, "seed": seed, "today": TODAY, "rate_limit": None}
    )


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
    assert failed.error == stored.error
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
