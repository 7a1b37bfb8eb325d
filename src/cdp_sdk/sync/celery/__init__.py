"""The sync on Celery workers, every worker writing to one shared store (the ``celery``
extra).

The unit of work is one account (optionally some entities of it): a task runs the same
sync as ``cdp sync`` for that account, against the store named by the workspace file, with
the accounts and ``env:`` secrets the worker reads from its own copy of the file and its
own environment. Messages carry account names only, as JSON. Every worker, beat and client
reads the same ``cdp.toml``::

    database = "postgresql://cdp@db.internal/cdp"   # the shared store; PGPASSWORD in the env

    [celery]
    broker = "env:CDP_BROKER_URL"                    # redis://... (or amqp://...)

    [celery.schedule]
    every = "6h"                                     # every account, spread over 6 hours

    [accounts.eu]
    connector = "emnify"
    application_token = "env:EMNIFY_EU_TOKEN"

Then, with ``CDP_CONFIG`` pointing at the file::

    celery -A cdp_sdk.sync.celery worker --concurrency 4
    celery -A cdp_sdk.sync.celery beat
    cdp sync --on celery              # or fan_out(app) / enqueue(app, names) from Python

``celery -A cdp_sdk.sync.celery`` finds :data:`app`, made by :func:`create_app` from
``CDP_CONFIG`` when first used. A sync holds a lease on each account in the store, so a
worker, another deployment or a local ``cdp sync`` never sync one account at once: a task
that finds its account taken ends ``skipped`` (``running elsewhere``). Tasks are
acknowledged when they end, so the task of a worker that died is handed to another one,
which resumes from the pages the dead one committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import celery as _celery  # noqa: F401
except ImportError as _error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "cdp_sdk.sync.celery needs Celery: pip install 'cdp-iot-sdk[celery]' "
        "(and 'cdp-iot-sdk[postgres]' for a PostgreSQL store)"
    ) from _error

from cdp_sdk.sync.celery._app import (
    SYNC_WORKSPACE,
    celery_settings,
    collect,
    create_app,
    enqueue,
    fan_out,
)
from cdp_sdk.sync.celery._config import (
    DEFAULT_QUEUE,
    CelerySettings,
    ScheduleEntry,
    load_settings,
    parse_duration,
)
from cdp_sdk.sync.celery._schedule import SYNC_ACCOUNT, beat_schedule, phased
from cdp_sdk.sync.celery._tasks import AccountOutcome, sync_account, task_arguments

if TYPE_CHECKING:
    from celery import Celery

    app: Celery
    """The app of ``CDP_CONFIG`` (else ``cdp.toml``), made on first use."""

__all__ = [
    "DEFAULT_QUEUE",
    "SYNC_ACCOUNT",
    "SYNC_WORKSPACE",
    "AccountOutcome",
    "CelerySettings",
    "ScheduleEntry",
    "app",
    "beat_schedule",
    "celery_settings",
    "collect",
    "create_app",
    "enqueue",
    "fan_out",
    "load_settings",
    "parse_duration",
    "phased",
    "sync_account",
    "task_arguments",
]


def __getattr__(name: str) -> Any:
    if name == "app":  # `celery -A cdp_sdk.sync.celery ...` asks for it
        made = create_app()
        globals()["app"] = made
        return made
    raise AttributeError(f"module 'cdp_sdk.sync.celery' has no attribute {name!r}")
