"""Running a sync for the command line: which accounts and entities, then the store's sync,
here or on Celery workers.

A plan holds one group per store run; today every sync is one group (the store reads
per-SIM-only usage and audit events SIM by SIM itself), and ``left_out`` names entities a
plan chose not to sync, with why. On Celery, each account of a group is one task and one
run; the reports are read back from the store the workers wrote to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cdp_sdk.errors import ConfigurationError
from cdp_sdk.sync import Entity, Store, SyncEvent, SyncOptions, SyncReport
from cdp_sdk.workspace import AsyncWorkspace, Workspace

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "SyncGroup",
    "SyncPlan",
    "celery_app",
    "entities_of",
    "plan_sync",
    "run_on_celery",
    "run_sync",
]


@dataclass(frozen=True)
class SyncGroup:
    """Accounts synced together: one run of the store."""

    accounts: tuple[str, ...]
    entities: tuple[Entity, ...]
    options: SyncOptions


@dataclass(frozen=True)
class SyncPlan:
    """The store runs a sync needs, and the entities left out of it (with why)."""

    groups: tuple[SyncGroup, ...]
    left_out: Mapping[tuple[str, Entity], str] = field(default_factory=dict)

    @property
    def accounts(self) -> dict[str, tuple[Entity, ...]]:
        """Account -> the entities it syncs, in sync order."""
        return {name: group.entities for group in self.groups for name in group.accounts}


def entities_of(names: Iterable[str] | None) -> tuple[Entity, ...]:
    """The entities called ``names`` in sync order (``None``: all of them)."""
    if names is None:
        return tuple(Entity)
    chosen: set[Entity] = set()
    for name in names:
        try:
            chosen.add(Entity(name))
        except ValueError:
            valid = ", ".join(entity.value for entity in Entity)
            raise ValueError(f"unknown entity {name!r} (entities: {valid})") from None
    return tuple(entity for entity in Entity if entity in chosen)


def plan_sync(
    workspace: Workspace,
    *,
    accounts: Iterable[str] | None = None,
    entities: Sequence[Entity] | None = None,
    options: SyncOptions | None = None,
) -> SyncPlan:
    """The store run that syncs ``accounts`` (default: all) and ``entities`` (default: all)."""
    chosen = tuple(entities) if entities is not None else tuple(Entity)
    names = tuple(workspace.select(accounts))
    return SyncPlan((SyncGroup(names, chosen, options or SyncOptions()),) if names else ())


def run_sync(
    store: Store,
    workspace: Workspace,
    plan: SyncPlan,
    *,
    progress: Callable[[SyncEvent], None] | None = None,
) -> list[SyncReport]:
    """Run every group of ``plan`` at once; their reports, in the plan's order."""

    async def run(async_workspace: AsyncWorkspace) -> list[SyncReport]:
        runs = (
            store.sync_async(
                async_workspace,
                accounts=group.accounts,
                entities=group.entities,
                options=group.options,
                progress=progress,
            )
            for group in plan.groups
        )
        return list(await asyncio.gather(*runs))

    return workspace.run(run)


def celery_app(config: Path) -> Celery:
    """The Celery app of the workspace file ``config`` (its ``[celery]`` table).

    Raises:
        ConfigurationError: no usable ``[celery]`` table.
    """
    from cdp_sdk.sync.celery import create_app

    return create_app(config)


def run_on_celery(
    app: Celery,
    store: Store,
    plan: SyncPlan,
    *,
    history_days: int | None = None,
    notify: Callable[[str], None] = lambda line: None,
) -> tuple[list[SyncReport], dict[str, str]]:
    """Send one task per account of ``plan`` to the Celery workers of ``app``, wait for
    them, and read their runs back from ``store``.

    Returns:
        The runs' reports, and account -> why, for the tasks that failed on a worker.

    Raises:
        ConfigurationError: the workers wrote their runs to another store than ``store``.
    """
    from kombu.utils.url import maybe_sanitize_url

    from cdp_sdk.sync.celery import collect, enqueue

    reports: list[SyncReport] = []
    failed: dict[str, str] = {}
    for group in plan.groups:
        entities = None if group.entities == tuple(Entity) else group.entities
        sent = enqueue(app, group.accounts, entities=entities, history_days=history_days)
        notify(
            f"Sent {len(sent)} task(s) to {maybe_sanitize_url(app.conf.broker_url)}; waiting "
            "for the workers (Ctrl-C stops waiting, not the tasks)"
        )
        outcomes = collect(group.accounts, sent)
        runs = {outcome.run_id: outcome.account for outcome in outcomes if outcome.run_id}
        found = store.runs(ids=runs, limit=None)
        missing = sorted(set(runs) - {report.run_id for report in found})
        if missing:
            raise ConfigurationError(
                f"the workers recorded run {missing[0]} (account {runs[missing[0]]!r}) in "
                "another store: give them and this command the same database (--db, CDP_DB, "
                "'database' in the workspace file)"
            )
        reports += found
        failed.update(
            (o.account, o.detail or "unknown error") for o in outcomes if o.status == "error"
        )
    return sorted(reports, key=lambda report: report.run_id), failed
