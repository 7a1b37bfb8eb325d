"""What the tasks do on a worker: sync one account into the shared store, or fan out.

The bodies are plain functions of the settings and the task's arguments; :func:`create_app`
wraps them as Celery tasks. A task's arguments are an account name and, optionally,
entity names and a history in days: never a setting, a secret or an identifier.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from cdp_sdk.errors import ConfigurationError
from cdp_sdk.sync._lease import RUNNING_ELSEWHERE
from cdp_sdk.sync._models import Entity, SyncOptions, SyncReport
from cdp_sdk.sync._runner import describe_error
from cdp_sdk.sync._store import Store
from cdp_sdk.sync.celery._config import CelerySettings
from cdp_sdk.workspace import BaseWorkspace, Workspace

__all__ = [
    "AccountOutcome",
    "failed_outcome",
    "holder_label",
    "is_own_copy",
    "sync_account",
    "task_arguments",
    "workspace_accounts",
]

logger = logging.getLogger("cdp_sdk.sync.celery")

OutcomeStatus = Literal["ok", "partial", "failed", "skipped", "error"]


@dataclass(frozen=True)
class AccountOutcome:
    """What a worker did with one account: the task's result (plain JSON).

    ``status`` is the run's (``ok``, ``partial``, ``failed``), ``skipped`` when another
    sync held the account (``detail`` says who: ``running elsewhere (...)``), or
    ``error`` when the task itself failed (``detail`` says why; no run).
    """

    account: str
    status: OutcomeStatus
    run_id: int | None = None
    records: int = 0
    errors: int = 0
    detail: str | None = None
    worker: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The outcome as the task returns it."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountOutcome:
        """The outcome from a task's result."""
        return cls(
            account=str(data["account"]),
            status=data["status"],
            run_id=data.get("run_id"),
            records=int(data.get("records") or 0),
            errors=int(data.get("errors") or 0),
            detail=data.get("detail"),
            worker=data.get("worker"),
        )

    @property
    def skipped(self) -> bool:
        """Whether another sync held the account (it was not synced by this task)."""
        return self.status == "skipped"


def task_arguments(
    entities: Iterable[Entity | str] | None = None, history_days: int | None = None
) -> dict[str, Any]:
    """The keyword arguments of a sync task: entity names and a history, if given.

    Raises:
        ValueError: an unknown entity, or a history that is not a positive number of days.
    """
    kwargs: dict[str, Any] = {}
    if entities is not None:
        chosen = _entities(entities)
        if chosen != tuple(Entity):
            kwargs["entities"] = [entity.value for entity in chosen]
    if history_days is not None:
        if isinstance(history_days, bool) or not isinstance(history_days, int) or history_days < 1:
            raise ValueError("history_days must be a positive number of days")
        kwargs["history_days"] = history_days
    return kwargs


def holder_label(task_id: str | None, worker: str | None) -> str:
    """How a task names itself in the leases it holds: ``celery task <id> (<worker>)``."""
    return f"celery task {task_id} ({worker or 'unknown worker'})"


def sync_account(
    settings: CelerySettings,
    account: str,
    *,
    entities: Sequence[str] | None = None,
    history_days: int | None = None,
    task_id: str | None = None,
    worker: str | None = None,
) -> AccountOutcome:
    """Sync ``account`` (its ``entities``, default all) into the shared store, as a local
    sync would, with the workspace file and the environment of this worker.

    Raises:
        ConfigurationError: the workspace file or the store cannot be used, or the
            account is not in the workspace.
        ValueError: an unknown entity or a bad history.
    """
    kwargs = task_arguments(entities, history_days)
    options = SyncOptions(lease=settings.lease)
    if history_days is not None:
        options = replace(options, history=timedelta(days=history_days))
    found = _workspace_file(settings.config).account(account)  # unknown: the task fails
    with Workspace({account: found}) as workspace:
        report = _store(settings.database).sync(
            workspace,
            accounts=[account],
            entities=kwargs.get("entities"),
            options=options,
            holder=holder_label(task_id, worker),
        )
    outcome = _outcome(account, report, worker)
    logger.info(
        "account %s: %s (run %s, %d records)%s",
        account,
        outcome.status,
        outcome.run_id,
        outcome.records,
        f": {outcome.detail}" if outcome.detail else "",
    )
    return outcome


def is_own_copy(outcome: AccountOutcome, task_id: str | None) -> bool:
    """Whether ``outcome`` was skipped for a lease this same task holds: the broker
    handed the task out again (its visibility timeout passed) while it still runs."""
    return (
        outcome.skipped
        and task_id is not None
        and f"celery task {task_id} (" in (outcome.detail or "")
    )


def workspace_accounts(settings: CelerySettings, accounts: Iterable[str] | None) -> list[str]:
    """The accounts of the workspace file to fan out to (``None``: all), checked."""
    return _workspace_file(settings.config).select(accounts)


# What a worker process keeps between tasks: the workspace file as last read (read again
# when it changes; a file may name thousands of accounts) and the store's connection pool.
# Pool threads share them.
_FILES: dict[Path, tuple[tuple[int, int], BaseWorkspace]] = {}
_STORES: dict[tuple[int, str], Store] = {}
_KEPT = threading.Lock()


def _workspace_file(config: Path) -> BaseWorkspace:
    try:
        status = config.stat()
    except OSError as exc:
        raise ConfigurationError(f"cannot read workspace file {str(config)!r}: {exc}") from None
    version = (status.st_mtime_ns, status.st_size)
    with _KEPT:
        cached = _FILES.get(config)
        if cached is None or cached[0] != version:
            cached = (version, BaseWorkspace.load(config))
            _FILES[config] = cached
        return cached[1]


def _store(database: str) -> Store:
    key = (os.getpid(), database)  # a forked pool process opens its own connections
    with _KEPT:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = Store(database)
        return store


def _outcome(account: str, report: SyncReport, worker: str | None) -> AccountOutcome:
    results = [r for r in report.results if r.account == account]
    elsewhere = [r for r in results if (r.detail or "").startswith(RUNNING_ELSEWHERE)]
    if results and len(elsewhere) == len(results):
        return AccountOutcome(
            account, "skipped", report.run_id, detail=elsewhere[0].detail, worker=worker
        )
    errors = [r for r in results if r.status == "error"]
    status: OutcomeStatus = "ok"
    if errors:
        attempted = sum(1 for r in results if r.status != "skipped")
        status = "failed" if len(errors) == attempted else "partial"
    return AccountOutcome(
        account,
        status,
        report.run_id,
        records=sum(r.records for r in results),
        errors=len(errors),
        detail=f"{errors[0].entity.value}: {errors[0].error}" if errors else None,
        worker=worker,
    )


def failed_outcome(account: str, error: BaseException | str) -> AccountOutcome:
    """The outcome of a task that failed before or around its run."""
    detail = error if isinstance(error, str) else describe_error(error)
    return AccountOutcome(account, "error", detail=detail)


def _entities(entities: Iterable[Entity | str]) -> tuple[Entity, ...]:
    chosen: set[Entity] = set()
    for entity in [entities] if isinstance(entities, str) else entities:
        try:
            chosen.add(Entity(entity))
        except ValueError:
            valid = ", ".join(e.value for e in Entity)
            raise ValueError(f"unknown entity {entity!r} (entities: {valid})") from None
    return tuple(entity for entity in Entity if entity in chosen)
