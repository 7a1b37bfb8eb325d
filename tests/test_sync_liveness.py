"""Whether a run is alive: its process on this host, else its heartbeat's age."""

from __future__ import annotations

import subprocess
import sys
import time
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


def test_probing_a_live_process_finds_it_and_sends_it_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid)
        time.sleep(0.2)  # a signal, had one been sent, would have ended it by now
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)
