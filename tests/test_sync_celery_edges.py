"""Celery settings and task outcomes at their edges (found by mutation testing)."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdp_sdk import ConfigurationError
from cdp_sdk.sync import Store
from cdp_sdk.sync._lease import Claimant
from cdp_sdk.workspace import BaseWorkspace
from test_sync_celery import MEMORY, held, write

celery = pytest.importorskip("cdp_sdk.sync.celery")
from celery import Celery  # noqa: E402

from cdp_sdk.sync.celery import _tasks  # noqa: E402
from cdp_sdk.sync.celery._tasks import failed_outcome, holder_label  # noqa: E402


@pytest.mark.parametrize(
    "broker",
    ["rediss://h:6380/0", "redis://h:6379/0?ssl_ca_certs=file:///etc/ca.pem"],
)
def test_results_go_where_the_messages_go_on_redis(tmp_path: Path, broker: str) -> None:
    settings = celery.load_settings(write(tmp_path, f'[celery]\nbroker = "{broker}"\n'))
    assert settings.result_backend == broker


def test_an_interval_of_one_minute_is_the_shortest_allowed(tmp_path: Path) -> None:
    table = '[celery]\nbroker = "memory://"\n[celery.schedule]\nevery = "1m"\n'
    entries = celery.load_settings(write(tmp_path, table)).schedule
    assert {entry.every for entry in entries} == {timedelta(minutes=1)}


def test_the_module_app_is_made_once_from_cdp_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_CONFIG", str(write(tmp_path, MEMORY)))
    monkeypatch.delattr(celery, "app", raising=False)
    try:
        app = celery.app
        assert app.conf.broker_url == "memory://"
        assert celery.app is app
        assert "cdp_sdk.sync.sync_account" in app.tasks
    finally:
        monkeypatch.delattr(celery, "app", raising=False)


def test_a_task_names_itself_and_its_worker_in_the_leases_it_holds() -> None:
    assert holder_label("t-1", "w1@host") == "celery task t-1 (w1@host)"
    assert holder_label("t-1", None) == "celery task t-1 (unknown worker)"


def test_a_failed_task_outcome_keeps_a_given_reason_as_is() -> None:
    outcome = failed_outcome("eu", "the worker was lost")
    assert (outcome.account, outcome.status, outcome.detail) == (
        "eu",
        "error",
        "the worker was lost",
    )


def test_a_skipped_account_reports_its_run_and_worker(tmp_path: Path) -> None:
    settings = celery.load_settings(write(tmp_path, MEMORY))
    other = Claimant.here("cdp sync")
    with Store(tmp_path / "cdp.db") as store, held(store, other):
        outcome = celery.sync_account(settings, "eu", task_id="t-9", worker="w2@host")
        [run] = store.runs()
    assert (outcome.account, outcome.status, outcome.worker) == ("eu", "skipped", "w2@host")
    assert outcome.run_id == run.run_id
    assert outcome.detail is not None
    assert outcome.detail.startswith(f"running elsewhere ({other.holder}, lease until")


# -- settings: limits and the exact messages --------------------------------------------------

NOT_A_DURATION = (
    "is not a duration (a number of seconds, or e.g. '90s', '15m', '1h30m', '2d', at most a year)"
)


def test_a_duration_may_be_a_year_of_366_days_and_no_more() -> None:
    assert celery.parse_duration("366d", "x") == timedelta(days=366)
    with pytest.raises(ConfigurationError) as caught:
        celery.parse_duration("366d1s", "where")
    assert str(caught.value) == f"where: '366d1s' {NOT_A_DURATION}"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "",
            'no [celery] table: add one with at least broker = "redis://..." to run the sync '
            "on Celery",
        ),
        (
            "[celery]\n",
            'celery.broker is required (e.g. "redis://localhost:6379/0" or "env:CDP_BROKER_URL")',
        ),
        (
            '[celery]\nbroker = "env:NOPE"\n',
            "celery.broker reads the environment variable 'NOPE', which is not set",
        ),
        (
            '[celery]\nbroker = "redis://h"\nresult_backend = 5\n',
            "celery.result_backend must be a URL or env:NAME",
        ),
        (
            '[celery]\nbroker = "redis://h"\nqueue = "a b"\n',
            "celery.queue: 'a b' is not a queue name (letters, digits, '_', '.', ':', '-')",
        ),
        (
            '[celery]\nbroker = "redis://h"\nvisibility_timeout = "soon"\n',
            f"celery.visibility_timeout: 'soon' {NOT_A_DURATION}",
        ),
        (
            '[celery]\nbroker = "redis://h"\nrestore_interval = "soon"\n',
            f"celery.restore_interval: 'soon' {NOT_A_DURATION}",
        ),
        (
            '[celery]\nbroker = "redis://h"\nlease = "2m"\nvisibility_timeout = "2m"\n',
            "celery.visibility_timeout (120s) must be longer than celery.lease (120s): a task "
            "redelivered from a dead worker must find its lease expired, or it would be "
            "skipped",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule]\naccounts = 5\n',
            "celery.schedule.accounts must be a table",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule]\nentities = 5\n',
            "celery.schedule.entities must be a table of entity = interval",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule.accounts.eu]\njitter = "later"\n',
            f"celery.schedule.accounts.eu.jitter: 'later' {NOT_A_DURATION}",
        ),
    ],
)
def test_bad_settings_say_what_is_wrong_in_full(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        celery.load_settings(write(tmp_path, table), environ={})
    assert str(caught.value) == f"cdp.toml: {message}"


def test_a_lease_and_a_restore_interval_of_one_second_are_allowed(tmp_path: Path) -> None:
    table = '[celery]\nbroker = "redis://h"\nlease = "1s"\nrestore_interval = "1s"\n'
    settings = celery.load_settings(write(tmp_path, table))
    assert (settings.lease, settings.restore_interval) == (timedelta(seconds=1),) * 2


def test_a_jitter_of_zero_puts_every_entry_on_its_interval(tmp_path: Path) -> None:
    table = (
        '[celery]\nbroker = "memory://"\n[celery.schedule]\nevery = "2h"\njitter = 0\n'
        '[celery.schedule.accounts.us]\njitter = "0s"\n'
    )
    entries = celery.load_settings(write(tmp_path, table)).schedule
    assert [(e.name, e.offset) for e in entries] == [
        ("cdp-sync eu", timedelta(0)),
        ("cdp-sync us", timedelta(0)),
    ]


def test_the_store_is_cdp_db_beside_a_file_that_names_none(tmp_path: Path) -> None:
    config = write(tmp_path, MEMORY)
    config.write_text(config.read_text().split("\n", 1)[1])  # no database line
    assert "database" not in config.read_text()
    assert celery.load_settings(config, environ={}).database == str(tmp_path / "cdp.db")


def test_the_file_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    config = write(tmp_path, MEMORY + "# the Zürich workers read this file too\n")
    code = (
        "import sys; from cdp_sdk.sync.celery import load_settings; "
        "print(load_settings(sys.argv[1]).broker)"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(config)], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "memory://\n"), done.stderr


# -- beat schedules -------------------------------------------------------------------------


def test_a_beat_entry_for_a_whole_account_sends_its_name_alone(tmp_path: Path) -> None:
    table = '[celery]\nbroker = "memory://"\n[celery.schedule]\nevery = "2h"\n'
    entries = celery.beat_schedule(celery.load_settings(write(tmp_path, table)))
    assert [(e["args"], e["kwargs"]) for e in entries.values()] == [(("eu",), {}), (("us",), {})]


def test_a_slot_is_in_utc_whatever_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        schedule = celery.phased(timedelta(hours=1), timedelta(minutes=25))
        slot = schedule.slot(datetime(2024, 6, 15, 12, 0, tzinfo=UTC))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert slot.isoformat() == "2024-06-15T11:25:00+00:00"


def test_a_schedule_given_an_app_tells_the_time_of_its_time_zone() -> None:
    app = Celery("tokyo", set_as_current=False)
    app.conf.timezone = "Asia/Tokyo"
    schedule = celery.phased(timedelta(hours=1), app=app)
    assert schedule.app is app
    assert schedule.now().utcoffset() == timedelta(hours=9)


# -- the account task's body, in this process -------------------------------------------------


def test_a_history_of_one_day_is_allowed_and_of_none_refused() -> None:
    assert celery.task_arguments(history_days=1) == {"history_days": 1}
    with pytest.raises(ValueError, match=r"^history_days must be a positive number of days$"):
        celery.task_arguments(history_days=0)


def test_a_sync_with_a_bad_history_fails_before_its_run(tmp_path: Path) -> None:
    settings = celery.load_settings(write(tmp_path, MEMORY))
    for bad in (0, True):
        with pytest.raises(ValueError, match=r"^history_days must be a positive number of days$"):
            celery.sync_account(settings, "eu", history_days=bad)
    with Store(tmp_path / "cdp.db") as store:
        assert store.runs() == []


UNREACHABLE = (
    '[accounts.ja]\nconnector = "jasper"\nbase_url = "http://127.0.0.1:1"\nusername = "u"\n'
    'api_key = "k"\nrate_limit = 1000\nmax_retries = 0\n'
)
"""A Control Center account whose API refuses connections (it offers no invoices)."""


@pytest.fixture
def unreachable(tmp_path: Path) -> Any:
    return celery.load_settings(write(tmp_path, MEMORY + UNREACHABLE))


def test_an_account_whose_attempted_entities_all_fail_has_failed(unreachable: Any) -> None:
    outcome = celery.sync_account(
        unreachable, "ja", entities=["subscriptions", "tariffs", "invoices"]
    )
    assert (outcome.status, outcome.errors, outcome.records) == ("failed", 2, 0)
    assert outcome.detail == (
        "subscriptions: TransientError: GET /rws/api/v1/devices failed: 127.0.0.1 refused "
        "the connection"
    )


def test_an_account_with_one_failed_entity_of_two_is_partial(unreachable: Any) -> None:
    outcome = celery.sync_account(unreachable, "ja", entities=["activation_modes", "tariffs"])
    assert (outcome.status, outcome.errors) == ("partial", 1)
    assert outcome.records > 0
    assert outcome.detail == (
        "tariffs: TransientError: GET /rws/api/v1/rateplans failed: 127.0.0.1 refused the "
        "connection"
    )


def test_a_worker_logs_each_account_it_synced(
    unreachable: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp_sdk.sync.celery")
    fine = celery.sync_account(unreachable, "us", entities=["subscriptions"])
    failed = celery.sync_account(unreachable, "ja", entities=["tariffs"])
    lines = [r.getMessage() for r in caplog.records if r.name == "cdp_sdk.sync.celery"]
    assert lines == [
        f"account us: ok (run {fine.run_id}, 5 records)",
        f"account ja: failed (run {failed.run_id}, 0 records): {failed.detail}",
    ]


def test_a_task_skipped_for_its_only_entity_says_who_holds_the_account(tmp_path: Path) -> None:
    settings = celery.load_settings(write(tmp_path, MEMORY))
    other = Claimant.here("cdp sync")
    with Store(tmp_path / "cdp.db") as store, held(store, other):
        outcome = celery.sync_account(settings, "eu", entities=["tariffs"])
    assert outcome.status == "skipped"
    assert (outcome.detail or "").startswith(f"running elsewhere ({other.holder}, lease until")


def test_while_a_task_syncs_its_lease_names_the_task_and_its_worker(tmp_path: Path) -> None:
    slow = '[accounts.slow]\nconnector = "sandbox"\nfleet_size = 2\nrate_limit = 4\n'
    settings = celery.load_settings(write(tmp_path, MEMORY + slow))
    done: list[Any] = []
    task = threading.Thread(
        target=lambda: done.append(
            celery.sync_account(
                settings, "slow", entities=["subscriptions"], task_id="t-7", worker="w3@host"
            )
        )
    )
    task.start()
    holders: set[str] = set()
    try:
        with Store(tmp_path / "cdp.db") as store:
            while task.is_alive() and not holders:
                holders = {lease.holder for lease in store.leases(account="slow")}
                time.sleep(0.01)
    finally:
        task.join()
    where = f"{socket.gethostname()} pid {os.getpid()}"
    assert holders == {f"celery task t-7 (w3@host) on {where}"}
    assert done[0].status == "ok"


# -- what a worker process keeps between tasks ---------------------------------------------


def test_a_worker_reads_the_workspace_file_again_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, MEMORY)
    settings = celery.load_settings(config)
    read: list[Path] = []
    load = BaseWorkspace.load

    def counted(path: Any, *args: Any, **kwargs: Any) -> BaseWorkspace:
        read.append(Path(path))
        return load(path, *args, **kwargs)

    monkeypatch.setattr(BaseWorkspace, "load", counted)
    assert _tasks.workspace_accounts(settings, None) == ["eu", "us"]
    assert _tasks.workspace_accounts(settings, ["us"]) == ["us"]
    assert read == [config]
    config.write_text(config.read_text() + '[accounts.asia]\nconnector = "sandbox"\n')
    assert _tasks.workspace_accounts(settings, None) == ["asia", "eu", "us"]
    assert _tasks.workspace_accounts(settings, None) == ["asia", "eu", "us"]
    assert read == [config, config]


def test_a_worker_whose_workspace_file_is_gone_says_which(tmp_path: Path) -> None:
    config = write(tmp_path, MEMORY)
    settings = celery.load_settings(config)
    config.unlink()
    with pytest.raises(ConfigurationError) as caught:
        celery.sync_account(settings, "eu")
    assert str(caught.value) == (
        f"cannot read workspace file {str(config)!r}: [Errno 2] No such file or directory: "
        f"{str(config)!r}"
    )


def test_a_worker_keeps_its_store_between_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = celery.load_settings(write(tmp_path, MEMORY))
    opened: list[str] = []

    class Counted(Store):
        def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
            opened.append(str(database))
            super().__init__(database, *args, **kwargs)

    monkeypatch.setattr(_tasks, "Store", Counted)
    first = celery.sync_account(settings, "eu", entities=["tariffs"])
    second = celery.sync_account(settings, "us", entities=["tariffs"])
    assert (first.status, second.status) == ("ok", "ok")
    assert opened == [settings.database]


def test_task_arguments_take_one_entity_by_name_and_list_the_valid_ones() -> None:
    assert celery.task_arguments("usage") == {"entities": ["usage"]}
    valid = "subscriptions, activation_modes, tariffs, usage, invoices, audit_events"
    message = re.escape(f"unknown entity 'sims' (entities: {valid})")
    with pytest.raises(ValueError, match=f"^{message}$"):
        celery.task_arguments(["sims"])
