"""Celery settings and task outcomes at their edges (found by mutation testing)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cdp_sdk.sync import Store
from cdp_sdk.sync._lease import Claimant, acquire, release
from test_sync_celery import MEMORY, write

celery = pytest.importorskip("cdp_sdk.sync.celery")
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
    with Store(tmp_path / "cdp.db") as store:
        store.transaction(lambda c: acquire(c, other, "eu", timedelta(minutes=1)))
        try:
            outcome = celery.sync_account(settings, "eu", task_id="t-9", worker="w2@host")
            [run] = store.runs()
        finally:
            store.transaction(lambda c: release(c, other, "eu"))
    assert (outcome.account, outcome.status, outcome.worker) == ("eu", "skipped", "w2@host")
    assert outcome.run_id == run.run_id
    assert outcome.detail is not None
    assert outcome.detail.startswith(f"running elsewhere ({other.holder}, lease until")
