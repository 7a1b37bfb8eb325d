"""The synchronous facades' event loop thread: what a call leaves running on the loop
(a task of an interrupted sync, say) is cancelled and unwinds when the facade closes."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import pytest

from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace


def test_closing_a_workspace_unwinds_the_tasks_a_call_left_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unwound = threading.Event()
    started = threading.Event()

    async def linger() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # an await of its own while unwinding, as a commit has
            unwound.set()

    async def leave_a_task(workspace: AsyncWorkspace) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(linger())

    workspace = Workspace({"eu": Account("sandbox", {"fleet_size": 1})})
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with workspace:
            task = workspace.run(leave_a_task)
            assert started.wait(5)
            assert not task.done()
        assert unwound.is_set()
        assert task.cancelled()
    assert "Task was destroyed but it is pending" not in caplog.text


def test_an_error_a_left_task_raises_as_it_unwinds_is_not_printed_as_never_retrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A page writer left behind by a Ctrl-C may fail as it unwinds (its lease released by
    the interrupted run): its error belongs to the interrupted call, not to asyncio's log."""
    started = threading.Event()

    async def fail_on_cancel() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("lease lost") from None

    async def leave_a_task(workspace: AsyncWorkspace) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(fail_on_cancel())

    workspace = Workspace({"eu": Account("sandbox", {"fleet_size": 1})})
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with workspace:
            task = workspace.run(leave_a_task)
            assert started.wait(5)
        assert task.done()
        assert not task.cancelled()  # it failed: asyncio would print its error when dropped
        del task
        gc.collect()
    assert "never retrieved" not in caplog.text
