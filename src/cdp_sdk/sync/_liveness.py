"""Which runs in ``sync_runs`` are still alive, and marking the others ``interrupted``.

A run records the host and process it runs in and, every :data:`HEARTBEAT`, a heartbeat.
A run still marked ``running`` is taken for dead, and marked ``interrupted``, when either

- it runs on this host and its process no longer exists, or
- its last heartbeat (its start, for runs written before heartbeats existed) is older
  than :data:`STALE_AFTER`, wherever it runs.

So a sync that another process, on this machine or another, is running right now into
the same PostgreSQL database is left alone, and a run killed by ``kill -9``, a crash or a
power cut is marked at the start of the next run. A process id reused by another program
makes a dead run look alive until its heartbeat is stale. Host names must tell the
machines sharing a database apart (containers get their own).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from cdp_sdk.sync.schema import sync_results, sync_runs

__all__ = [
    "HEARTBEAT",
    "STALE_AFTER",
    "is_dead",
    "mark_interrupted",
    "process_alive",
    "this_host",
]

HEARTBEAT = timedelta(seconds=30)
"""How often a running run writes its heartbeat."""

STALE_AFTER = timedelta(minutes=5)
"""A run whose heartbeat is older than this is dead, wherever it runs."""


def this_host() -> str:
    """The name the runs of this machine record."""
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists on this machine (``True`` where it
    cannot be known: then the heartbeat decides)."""
    if os.name != "posix" or pid <= 0:
        return True  # on Windows os.kill(pid, 0) would end the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True


def is_dead(run: Any, now: datetime, host: str) -> bool:
    """Whether the ``running`` row ``run`` (host, pid, heartbeat_at, started_at) is dead."""
    if run.host == host and run.pid is not None and not process_alive(int(run.pid)):
        return True
    beat: datetime = run.heartbeat_at or run.started_at
    return now - beat > STALE_AFTER


def mark_interrupted(
    connection: Connection, now: datetime, *, ids: list[int] | None = None
) -> list[int]:
    """Mark ``running`` runs interrupted: those in ``ids``, or (``None``) the dead ones.

    Their records are what their finished entities wrote. Returns the ids marked.
    """
    query = select(
        sync_runs.c.id,
        sync_runs.c.host,
        sync_runs.c.pid,
        sync_runs.c.heartbeat_at,
        sync_runs.c.started_at,
    ).where(sync_runs.c.status == "running")
    if ids is not None:
        query = query.where(sync_runs.c.id.in_(ids))
    host = this_host()
    found = [
        run.id for run in connection.execute(query) if ids is not None or is_dead(run, now, host)
    ]
    for run_id in found:
        totals = connection.execute(
            select(
                func.coalesce(func.sum(sync_results.c.records), 0),
                func.coalesce(func.sum(case((sync_results.c.status == "error", 1), else_=0)), 0),
            ).where(sync_results.c.run_id == run_id)
        ).one()
        connection.execute(
            update(sync_runs)
            .where(sync_runs.c.id == run_id, sync_runs.c.status == "running")
            .values(
                status="interrupted",
                finished_at=now,
                records=int(totals[0]),
                errors=int(totals[1]),
            )
        )
    return found
