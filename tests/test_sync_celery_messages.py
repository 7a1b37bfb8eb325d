"""What the Celery side puts on the broker and reads back, in process: kombu's memory
transport and Celery's in-memory result cache stand in for Redis (the workers test runs
the real ones). A message holds the account's name and, if asked, entity names and a
history: nothing else; ``collect`` gives every account's outcome in order, a failed task's
as an ``error`` outcome, and a clear ``TimeoutError`` when the workers are late."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from test_sync_celery import MEMORY, write

celery = pytest.importorskip("cdp_sdk.sync.celery")


def app_for(tmp_path: Path, queue: str) -> Any:
    table = MEMORY + f'queue = "{queue}"\n'
    return celery.create_app(write(tmp_path, table))


def messages(app: Any, queue: str, count: int) -> list[Any]:
    with app.connection_for_read() as connection:
        inbox = connection.SimpleQueue(queue)
        try:
            found = [inbox.get(timeout=2) for _ in range(count)]
            for message in found:
                message.ack()
            assert inbox.qsize() == 0
            return found
        finally:
            inbox.close()


def test_enqueue_sends_one_json_message_per_account_naming_only_it(tmp_path: Path) -> None:
    app = app_for(tmp_path, "enqueue-test")
    sent = celery.enqueue(app, ["eu", "us"], entities=["subscriptions", "usage"], history_days=3)
    found = messages(app, "enqueue-test", 2)
    assert [m.headers["id"] for m in found] == [result.id for result in sent]
    assert {m.headers["task"] for m in found} == {"cdp_sdk.sync.sync_account"}
    assert {m.content_type for m in found} == {"application/json"}
    bodies = [m.decode() for m in found]
    assert [body[0] for body in bodies] == [["eu"], ["us"]]
    assert [body[1] for body in bodies] == [
        {"entities": ["subscriptions", "usage"], "history_days": 3}
    ] * 2


def test_enqueue_without_options_sends_the_name_alone(tmp_path: Path) -> None:
    app = app_for(tmp_path, "plain-test")
    celery.enqueue(app, ["eu"])
    [message] = messages(app, "plain-test", 1)
    args, kwargs, _ = message.decode()
    assert (args, kwargs) == (["eu"], {})


def test_fan_out_sends_one_task_naming_each_account_once(tmp_path: Path) -> None:
    app = app_for(tmp_path, "fan-test")
    result = celery.fan_out(
        app, accounts=["us", "eu", "us"], entities=["subscriptions"], history_days=2
    )
    [message] = messages(app, "fan-test", 1)
    assert message.headers["task"] == "cdp_sdk.sync.sync_workspace"
    assert message.headers["id"] == result.id
    args, kwargs, _ = message.decode()
    assert args == []
    assert kwargs == {"accounts": ["eu", "us"], "entities": ["subscriptions"], "history_days": 2}
    celery.fan_out(app)
    [every] = messages(app, "fan-test", 1)
    assert every.decode()[1] == {}


def outcome(account: str) -> dict[str, Any]:
    found: dict[str, Any] = celery.AccountOutcome(
        account, "ok", 7, records=12, worker="w1"
    ).to_json()
    return found


def test_collect_gives_each_outcome_in_order_and_a_failed_task_as_an_error(
    tmp_path: Path,
) -> None:
    app = app_for(tmp_path, "collect-test")
    done, failed = app.AsyncResult("task-eu"), app.AsyncResult("task-us")
    app.backend.store_result(done.id, outcome("eu"), "SUCCESS")
    app.backend.mark_as_failure(failed.id, RuntimeError("the store is gone"))
    eu, us = celery.collect(["eu", "us"], [done, failed], timeout=5)
    assert eu == celery.AccountOutcome("eu", "ok", 7, records=12, worker="w1")
    assert (us.account, us.status, us.detail) == ("us", "error", "RuntimeError: the store is gone")
    with pytest.raises(ValueError, match="zip"):
        celery.collect(["eu", "us"], [done])


def test_collect_waits_for_a_task_that_ends_within_the_timeout(tmp_path: Path) -> None:
    app = app_for(tmp_path, "wait-test")
    late = app.AsyncResult("task-late")
    timer = threading.Timer(0.3, app.backend.store_result, (late.id, outcome("eu"), "SUCCESS"))
    timer.start()
    try:
        [found] = celery.collect(["eu"], [late], timeout=10)
    finally:
        timer.join()
    assert found.status == "ok"


def test_collect_says_which_account_is_late(tmp_path: Path) -> None:
    app = app_for(tmp_path, "late-test")
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        celery.collect(["eu"], [app.AsyncResult("never")], timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert str(caught.value) == (
        "the workers did not finish within 0.3 s (account 'eu' not done yet); the tasks go on"
    )


def test_collect_reads_back_every_field_of_an_outcome(tmp_path: Path) -> None:
    app = app_for(tmp_path, "fields-test")
    sent = celery.AccountOutcome(
        "eu", "partial", 4, records=30, errors=2, detail="usage: TransientError: 503", worker="w2"
    )
    app.backend.store_result("task-fields", sent.to_json(), "SUCCESS")
    assert celery.collect(["eu"], [app.AsyncResult("task-fields")]) == [sent]


def test_collect_gives_a_revoked_task_as_an_error(tmp_path: Path) -> None:
    app = app_for(tmp_path, "revoked-test")
    revoked = app.AsyncResult("task-revoked")
    app.backend.mark_as_revoked(revoked.id, "expired")
    [found] = celery.collect(["eu"], [revoked], timeout=5)
    assert (found.account, found.status, found.run_id) == ("eu", "error", None)
    assert found.detail == "TaskRevokedError: expired"


def test_the_fan_out_task_enqueues_the_accounts_asked_for(tmp_path: Path) -> None:
    app = app_for(tmp_path, "fan-body-test")
    done = app.tasks[celery.SYNC_WORKSPACE].apply(kwargs={"accounts": ["us"], "history_days": 2})
    [message] = messages(app, "fan-body-test", 1)
    assert done.get() == {"accounts": ["us"], "tasks": [message.headers["id"]]}
    assert message.decode()[:2] == [["us"], {"history_days": 2}]
    every = app.tasks[celery.SYNC_WORKSPACE].apply().get()
    assert every["accounts"] == ["eu", "us"]
    assert len(messages(app, "fan-body-test", 2)) == len(every["tasks"]) == 2


def test_the_app_reads_its_file_and_secrets_from_the_environ_given(tmp_path: Path) -> None:
    config = write(tmp_path, '[celery]\nbroker = "env:CDP_TEST_CELERY_BROKER"\n')
    environ = {"CDP_CONFIG": str(config), "CDP_TEST_CELERY_BROKER": "memory://"}
    app = celery.create_app(environ=environ)
    assert app.conf.broker_url == "memory://"
    assert celery.create_app(config, environ=environ).conf.broker_url == "memory://"


def test_the_app_chose_these_settings_and_left_the_current_app_alone(tmp_path: Path) -> None:
    from celery import current_app

    before = current_app._get_current_object()
    app = app_for(tmp_path, "settings-test")
    assert current_app._get_current_object() is before is not app
    assert app.main == "cdp_sdk"  # as the worker's banner shows it
    conf = celery.celery_settings(app)
    assert set(conf) - {"deprecated_settings"} == {
        "accept_content", "beat_schedule", "broker_connection_retry_on_startup",
        "broker_transport_options", "broker_url", "enable_utc", "event_serializer",
        "result_accept_content", "result_backend", "result_expires", "result_serializer",
        "task_acks_late", "task_default_queue", "task_reject_on_worker_lost",
        "task_serializer", "timezone", "worker_cancel_long_running_tasks_on_connection_loss",
        "worker_prefetch_multiplier",
    }  # fmt: skip
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is True
    assert conf["broker_connection_retry_on_startup"] is True
    assert conf["result_expires"] == timedelta(days=1)
    assert conf["timezone"] == "UTC"
