"""Running a sync for the command line: which accounts and entities, then the store's sync.

A plan holds one group per store run; today every sync is one group (the store reads
per-SIM-only usage and audit events SIM by SIM itself), and ``left_out`` names entities a
plan chose not to sync, with why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cdp_sdk.sync import Entity, Store, SyncEvent, SyncOptions, SyncReport
from cdp_sdk.workspace import AsyncWorkspace, Workspace

__all__ = ["SyncGroup", "SyncPlan", "entities_of", "plan_sync", "run_sync"]


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
