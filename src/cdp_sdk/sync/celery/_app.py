"""The Celery app: its settings, its two tasks, and sending and collecting work."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.exceptions import Ignore

from cdp_sdk.sync._models import Entity
from cdp_sdk.sync.celery._config import CelerySettings, load_settings
from cdp_sdk.sync.celery._schedule import SYNC_ACCOUNT, beat_schedule
from cdp_sdk.sync.celery._tasks import (
    AccountOutcome,
    failed_outcome,
    is_own_copy,
    sync_account,
    task_arguments,
    workspace_accounts,
)

__all__ = ["SYNC_WORKSPACE", "celery_settings", "collect", "create_app", "enqueue", "fan_out"]

SYNC_WORKSPACE = "cdp_sdk.sync.sync_workspace"
"""The name of the task that enqueues one :data:`SYNC_ACCOUNT` task per account."""

DEFAULT_CONFIG = "cdp.toml"


def celery_settings(app: Celery) -> Mapping[str, Any]:
    """The Celery settings :func:`create_app` chose (a copy), for a look or a test."""
    return dict(app.conf.table(with_defaults=False))


def create_app(
    config: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Celery:
    """A Celery app that syncs the accounts of a workspace file into its store.

    Args:
        config: the workspace file (default: ``CDP_CONFIG``, else ``cdp.toml``), with a
            ``[celery]`` table (see :func:`~cdp_sdk.sync.celery.load_settings`).
        environ: where ``env:NAME`` values, ``CDP_CONFIG`` and ``CDP_DB`` are read
            (default: ``os.environ``).
        overrides: Celery settings to set after ours (e.g. ``worker_concurrency``).

    The app sends JSON only (never pickle), acknowledges a task when it ends (a task whose
    worker died is handed to another worker: at once when only the pool process died,
    after ``visibility_timeout`` on Redis when the whole worker did), takes one task at a
    time per process, and carries ``[celery.schedule]`` as its beat schedule.

    Raises:
        ConfigurationError: the file, its ``[celery]`` table or an ``env:`` value is
            missing or invalid.
    """
    environ = os.environ if environ is None else environ
    path = config if config is not None else environ.get("CDP_CONFIG") or DEFAULT_CONFIG
    settings = load_settings(path, environ=environ)
    app = Celery("cdp_sdk", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker,
        result_backend=settings.result_backend,
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_default_queue=settings.queue,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout.total_seconds(),
            "unacked_restore_interval": settings.restore_interval.total_seconds(),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        result_expires=timedelta(days=1),
        enable_utc=True,
        timezone="UTC",
        beat_schedule=beat_schedule(settings),
    )
    app.conf.update(overrides)
    _register(app, settings)
    return app


def _register(app: Celery, settings: CelerySettings) -> None:
    @app.task(  # type: ignore[untyped-decorator]
        name=SYNC_ACCOUNT,
        bind=True,
        shared=False,  # bound to this app's settings only
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,  # retried only while another copy of it runs
    )
    def sync_account_task(
        task: Any,
        account: str,
        entities: list[str] | None = None,
        history_days: int | None = None,
    ) -> dict[str, Any]:
        """Sync one account into the shared store; its :class:`AccountOutcome`."""
        if task.AsyncResult(task.request.id).state == "SUCCESS":
            raise Ignore()  # a copy of a task already done (handed out again by the broker)
        outcome = sync_account(
            settings,
            account,
            entities=entities,
            history_days=history_days,
            task_id=task.request.id,
            worker=task.request.hostname,
        )
        if is_own_copy(outcome, task.request.id):
            # The broker handed this task out again while it still runs elsewhere (its
            # visibility timeout passed). Come back after a lease's time: by then the
            # first copy has finished (this one is dropped), or it has died and its lease
            # is free (this one takes over).
            raise task.retry(countdown=settings.lease.total_seconds())
        return outcome.to_json()

    @app.task(name=SYNC_WORKSPACE, shared=False)  # type: ignore[untyped-decorator]
    def sync_workspace_task(
        accounts: list[str] | None = None,
        entities: list[str] | None = None,
        history_days: int | None = None,
    ) -> dict[str, Any]:
        """Enqueue one account task per account of the workspace file (default: all)."""
        names = workspace_accounts(settings, accounts)
        sent = enqueue(app, names, entities=entities, history_days=history_days)
        return {"accounts": names, "tasks": [result.id for result in sent]}


def enqueue(
    app: Celery,
    accounts: Iterable[str],
    *,
    entities: Iterable[Entity | str] | None = None,
    history_days: int | None = None,
) -> list[Any]:
    """Send one sync task per account; their ``AsyncResult``, in the same order.

    A message holds the account's name and, if given, entity names and a history in days:
    nothing else.
    """
    kwargs = task_arguments(entities, history_days)
    with app.producer_or_acquire() as producer:
        return [
            app.send_task(SYNC_ACCOUNT, args=(name,), kwargs=kwargs, producer=producer)
            for name in accounts
        ]


def fan_out(
    app: Celery,
    *,
    accounts: Iterable[str] | None = None,
    entities: Iterable[Entity | str] | None = None,
    history_days: int | None = None,
) -> Any:
    """Send the fan-out task: a worker reads the workspace file and enqueues one task per
    account (default: all). Its ``AsyncResult`` gives ``{"accounts", "tasks"}``."""
    kwargs = task_arguments(entities, history_days)
    if accounts is not None:
        kwargs["accounts"] = sorted(set(accounts))
    return app.send_task(SYNC_WORKSPACE, kwargs=kwargs)


def collect(
    accounts: Sequence[str], results: Sequence[Any], *, timeout: float | None = None
) -> list[AccountOutcome]:
    """Wait for the tasks :func:`enqueue` sent; their outcomes, in the same order.

    A task that failed gives an ``error`` outcome naming the error (never raised here).

    Raises:
        TimeoutError: the tasks were not all done within ``timeout`` seconds.
    """
    from celery.exceptions import TimeoutError as CeleryTimeout

    deadline = None if timeout is None else time.monotonic() + timeout
    outcomes: list[AccountOutcome] = []
    for account, result in zip(accounts, results, strict=True):
        left = None if deadline is None else max(0.01, deadline - time.monotonic())
        try:
            value = result.get(timeout=left, propagate=False, interval=0.2)
        except CeleryTimeout:
            raise TimeoutError(
                f"the workers did not finish within {timeout:g} s (account {account!r} "
                "not done yet); the tasks go on"
            ) from None
        if result.failed() or isinstance(value, BaseException):
            outcomes.append(failed_outcome(account, value))
        else:
            outcomes.append(AccountOutcome.from_json(value))
    return outcomes
