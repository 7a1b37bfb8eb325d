"""``cdp`` when things go wrong: Ctrl-C, SIGTERM, ``kill -9``, unexpected errors.

``cdp sync`` runs as a real process against a sandbox emulator served on loopback (slowed
down so that a signal lands mid-sync); the other checks run in-process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp_sdk.cli._app import main
from cdp_sdk.cli._platforms import platform, serve
from cdp_sdk.sync import Store
from cdp_sdk.workspace import BaseWorkspace
from test_cli import cdp, table_rows
from test_sync import TODAY


@pytest.fixture(scope="module")
def slow_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace file naming one sandbox account, served slowly (20 ms a request)."""
    sandbox = platform("sandbox")
    emulator = sandbox.start(sandbox.fleet(60, today=TODAY), unlimited=True)
    emulator.latency = 0.02
    emulator.max_page_size = 5
    with serve(emulator) as server:
        config = tmp_path_factory.mktemp("slow") / "cdp.toml"
        settings = {"connector": "sandbox", **sandbox.settings(server.url), "rate_limit": 1e6}
        config.write_text(BaseWorkspace({"lab": settings}).to_toml())
        config.chmod(0o600)
        yield config


def start_sync(config: Path, database: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cdp_sdk", "sync", "--config", str(config), "--db", str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_pages(database: Path, child: subprocess.Popen[str]) -> None:
    """Until the child has committed some subscriptions (it is mid-sync)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        if database.exists():
            try:
                with Store(database) as store:
                    if store.rows("subscriptions"):
                        return
            except Exception:  # the child is creating the store right now
                pass
        time.sleep(0.05)
    raise AssertionError("the sync committed nothing in 60 s")


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_an_interrupted_sync_says_so_exits_130_or_143_and_marks_its_run(
    slow_platform: Path, tmp_path: Path, signum: int, code: int, said: str
) -> None:
    database = tmp_path / "cdp.db"
    child = start_sync(slow_platform, database)
    wait_for_pages(database, child)

    child.send_signal(signum)
    _, err = child.communicate(timeout=60)

    assert child.returncode == code, err
    assert err.endswith(f"{said}; rerun to resume\n")
    assert "Traceback" not in err
    with Store(database) as store:
        [run] = store.runs()
        assert run.status == "interrupted"

    rerun = cdp("sync", "--config", slow_platform, "--db", database)
    assert rerun.exit_code == 0, rerun.output
    assert "marked interrupted" not in rerun.stdout  # it was marked when it stopped
    with Store(database) as store:
        assert [run.status for run in store.runs()] == ["ok", "interrupted"]


def test_a_sync_killed_outright_is_marked_by_the_next_one(
    slow_platform: Path, tmp_path: Path
) -> None:
    database = tmp_path / "cdp.db"
    child = start_sync(slow_platform, database)
    wait_for_pages(database, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    with Store(database) as store:
        [killed] = store.runs()
        assert killed.status == "running"

    rerun = cdp("sync", "--config", slow_platform, "--db", database)

    assert rerun.exit_code == 0, rerun.output
    started = f"{killed.started_at:%Y-%m-%d %H:%M}"
    assert (
        f"Run {killed.run_id}, started {started} UTC, did not finish: marked interrupted; "
        "this sync resumes where it stopped." in " ".join(rerun.stderr.split())
    )  # a status line: on standard error, like the other messages about the run
    with Store(database) as store:
        assert [run.status for run in store.runs()] == ["ok", "interrupted"]


def test_ctrl_c_in_any_command_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cdp_sdk.cli import _app

    def interrupted() -> list[object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(_app, "available_connectors", interrupted)
    assert main(["connectors"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


# -- unexpected errors: one redacted line, or a redacted traceback ---------------------------------


@pytest.fixture
def broken_store(tmp_path: Path) -> tuple[Path, str]:
    """A store whose subscriptions table lost a column; and an ICCID it holds."""
    from sqlalchemy import text

    from cdp_sdk.workspace import Account, Workspace

    database = tmp_path / "cdp.db"
    account = Account("sandbox", {"fleet_size": 5, "seed": 1, "today": TODAY, "rate_limit": None})
    with Workspace({"lab": account}) as workspace, Store(database) as store:
        store.sync(workspace, entities=["subscriptions"])
        iccid = store.rows("subscriptions")[0]["iccid"]
        with store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE subscriptions DROP COLUMN msisdn"))
    return database, iccid


def test_an_unexpected_database_error_is_one_line_without_identifiers(
    broken_store: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    database, iccid = broken_store

    assert main(["sims", "--db", str(database), "--iccid", iccid]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: unexpected OperationalError: no such column: "
        "subscriptions.msisdn (rerun with --debug for the traceback)\n"
    )


def test_debug_prints_the_traceback_redacted(
    broken_store: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    database, iccid = broken_store

    assert main(["--debug", "sims", "--db", str(database), "--iccid", iccid]) == 1

    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "[SQL: SELECT" in err  # the statement, for the one debugging it
    assert "parameters hidden" in err  # never its values
    assert iccid not in err
    assert iccid[:-1] not in err
    assert err.endswith(
        "error: unexpected OperationalError: no such column: subscriptions.msisdn\n"
    )


def test_a_value_error_quoting_an_identifier_is_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cdp_sdk.cli import _app

    def quotes() -> list[object]:
        raise ValueError("SIM 89883100000000000017 (+88 242 42000001) is odd")

    monkeypatch.setattr(_app, "available_connectors", quotes)
    assert main(["connectors"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: SIM <id:")
    assert "89883100000000000017" not in err
    assert "42000001" not in err


def test_the_sync_table_counts_quarantined_and_cleaned_records(tmp_path: Path) -> None:
    from cdp_sdk.cli._render import console as make_console
    from cdp_sdk.cli._render import sync_table
    from cdp_sdk.sync import Entity, EntityResult, SyncReport

    report = SyncReport(
        run_id=1,
        kind="sync",
        status="ok",
        started_at=TODAY,  # type: ignore[arg-type]
        finished_at=None,
        duration=None,
        results=(
            EntityResult("lab", Entity.SUBSCRIPTIONS, "ok", records=9, quarantined=1, cleaned=2),
            EntityResult("lab", Entity.TARIFFS, "ok", records=3),
        ),
    )
    console = make_console()
    with console.capture() as captured:
        console.print(sync_table([report], {}))
    rows = {row[1]: row for row in table_rows(captured.get())}
    assert rows["subscriptions"][6] == "1 quarantined (see the quarantine table); 2 cleaned"
    assert rows["tariffs"][6] == ""
