"""Whether a run is alive: its process on this host, else its heartbeat's age."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from cdp_sdk.sync import _liveness
from cdp_sdk.sync._liveness import STALE_AFTER, is_dead, process_alive

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def run(**values: object) -> SimpleNamespace:
    row = {"host": "another-host", "pid": 4242, "heartbeat_at": None, "started_at": NOW}
    return SimpleNamespace(**{**row, **values})


def test_a_heartbeat_exactly_as_old_as_the_limit_is_still_alive() -> None:
    assert not is_dead(run(heartbeat_at=NOW - STALE_AFTER), NOW, "this-host")
    assert is_dead(run(heartbeat_at=NOW - STALE_AFTER - timedelta(microseconds=1)), NOW, "h")
    assert is_dead(run(started_at=NOW - STALE_AFTER - timedelta(seconds=1)), NOW, "this-host")


@pytest.mark.parametrize("pid", [0, -1, -4242])
def test_a_process_id_that_names_no_single_process_counts_as_alive(pid: int) -> None:
    """0 and negative ids name process groups: the heartbeat decides."""
    assert process_alive(pid)


def test_a_process_of_another_user_counts_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(_liveness.os, "kill", refused)
    assert process_alive(4242)


def test_this_process_is_alive() -> None:
    assert process_alive(os.getpid())
