"""Leases: at most one sync of an account at a time, across processes and machines.

A sync takes a lease on each account before reading it: a row of ``sync_leases`` naming
the holder and when the lease expires unless renewed. The protocol, on SQLite and
PostgreSQL alike:

- **acquire**: insert the row; or take over a row that has expired, or whose holder ran on
  this machine (same host, boot and process namespace) in a process that no longer exists
  (a sync killed a moment ago need not wait for the expiry). Otherwise the account is
  running elsewhere, and the sync skips it.
- **confirm**: every page a sync commits confirms (and extends) the lease in the same
  transaction; a sync whose lease was taken over writes nothing more
  (:class:`LeaseLostError`). A heartbeat renews the leases between commits, so that a
  long wait (a rate limit, a slow page) does not let them expire.
- **release**: the row is deleted when the account is done, whatever the outcome.

Each statement is a compare-and-set on the row (``INSERT ... ON CONFLICT DO NOTHING``,
``UPDATE ... WHERE``), so two syncs racing for an account cannot both win, and the first
statement of every transaction is a write (SQLite then takes its write lock at once and
waits its busy timeout, instead of failing to upgrade a read). Instants come from the
database server's clock on PostgreSQL, one clock for every machine; SQLite is one machine's
file, read with that machine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, DateTime, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cdp_sdk.errors import CdpError
from cdp_sdk.sync._liveness import process_alive
from cdp_sdk.sync.schema import sync_leases

__all__ = [
    "Claimant",
    "Lease",
    "LeaseLostError",
    "RunLeases",
    "acquire",
    "confirm",
    "leases",
    "process_scope",
    "release",
]

T = TypeVar("T")

logger = logging.getLogger("cdp_sdk.sync")

RUNNING_ELSEWHERE = "running elsewhere"
"""How a result skipped for a lease held by another sync begins its ``detail``."""


class LeaseLostError(CdpError):
    """Another sync took over an account's lease (this one had stalled past its expiry);
    this sync wrote nothing more for the account."""


@dataclass(frozen=True)
class Lease:
    """A lease in the store: which sync holds an account, until when unless renewed."""

    account: str
    holder: str
    """Who holds it, for people: a label, the host and the process id."""
    pid: int
    run_id: int | None
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        """``running elsewhere (<holder>, lease until <time> UTC)``."""
        return (
            f"{RUNNING_ELSEWHERE} ({self.holder}, lease until "
            f"{self.expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        )


def process_scope() -> str:
    """Where a process id names one process: the host name and, on Linux, the boot id and
    the process-id namespace (two containers may share a host name, never a namespace)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    return "/".join(parts)


@dataclass(frozen=True)
class Claimant:
    """A sync that takes leases: a token unique to it, and who it is for people."""

    holder: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    scope: str = field(default_factory=process_scope)
    pid: int = field(default_factory=os.getpid)

    @classmethod
    def here(cls, label: str | None = None) -> Claimant:
        """This process, described as ``"<label> on <host> pid <pid>"``."""
        where = f"{socket.gethostname()} pid {os.getpid()}"
        holder = f"{label} on {where}" if label else where
        return cls(holder[:200])


def _now(connection: Connection) -> Any:
    """Now: the server's clock on PostgreSQL (shared by every machine), else this one's."""
    if connection.dialect.name == "postgresql":
        return func.statement_timestamp(type_=DateTime(timezone=True))
    return datetime.now(UTC)


def _insert_new(connection: Connection, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless the account already has a lease; whether it was inserted."""
    dialect = connection.dialect.name
    # Each dialect's module is imported only for a store on it.
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(sync_leases).values(row)
        done = connection.execute(lite.on_conflict_do_nothing(index_elements=["account"]))
        return done.rowcount == 1
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        pg = postgresql_insert(sync_leases).values(row)
        done = connection.execute(pg.on_conflict_do_nothing(index_elements=["account"]))
        return done.rowcount == 1
    try:  # another database: a nested transaction keeps the outer one usable
        with connection.begin_nested():
            connection.execute(insert(sync_leases).values(row))
    except IntegrityError:
        return False
    return True


def acquire(
    connection: Connection,
    claimant: Claimant,
    account: str,
    ttl: timedelta,
    *,
    run_id: int | None = None,
) -> Lease | None:
    """Take the lease of ``account`` for ``ttl``: ``None`` once it is the claimant's, else
    the other sync's lease (the account is running elsewhere)."""
    now = _now(connection)
    values: dict[str, Any] = {
        "token": claimant.token,
        "holder": claimant.holder,
        "scope": claimant.scope,
        "pid": claimant.pid,
        "run_id": run_id,
        "acquired_at": now,
        "expires_at": now + ttl,
    }
    for _ in range(3):  # a row released between two statements is tried again
        if _insert_new(connection, {"account": account, **values}):
            return None
        expired = connection.execute(
            update(sync_leases)
            .where(
                sync_leases.c.account == account,
                or_(sync_leases.c.expires_at <= now, sync_leases.c.token == claimant.token),
            )
            .values(values)
        )
        if expired.rowcount == 1:
            return None
        found = connection.execute(
            select(sync_leases).where(sync_leases.c.account == account)
        ).first()
        if found is None:
            continue
        another_here = found.scope == claimant.scope and found.pid != claimant.pid
        if another_here and not process_alive(found.pid):  # killed, on this machine
            taken_over = connection.execute(
                update(sync_leases)
                .where(sync_leases.c.account == account, sync_leases.c.token == found.token)
                .values(values)
            )
            if taken_over.rowcount == 1:
                return None
            continue
        return Lease(
            account=account,
            holder=found.holder,
            pid=found.pid,
            run_id=found.run_id,
            acquired_at=found.acquired_at,
            expires_at=found.expires_at,
        )
    raise LeaseLostError(  # pragma: no cover - three races lost in a row
        f"account {account!r}: its lease kept changing hands while being taken; try again"
    )


def confirm(connection: Connection, claimant: Claimant, account: str, ttl: timedelta) -> bool:
    """Extend the claimant's lease of ``account`` by ``ttl`` from now; whether it still
    held the lease."""
    now = _now(connection)
    renewed = connection.execute(
        update(sync_leases)
        .where(sync_leases.c.account == account, sync_leases.c.token == claimant.token)
        .values(expires_at=now + ttl)
    )
    return renewed.rowcount == 1


def release(connection: Connection, claimant: Claimant, account: str) -> None:
    """Give up the claimant's lease of ``account`` (nothing if another sync holds it)."""
    connection.execute(
        delete(sync_leases).where(
            sync_leases.c.account == account, sync_leases.c.token == claimant.token
        )
    )


def leases(connection: Connection, account: str | None = None) -> list[Lease]:
    """The leases in the store (expired ones included), by account."""
    query = select(sync_leases).order_by(sync_leases.c.account)
    if account is not None:
        query = query.where(sync_leases.c.account == account)
    return [
        Lease(r.account, r.holder, r.pid, r.run_id, r.acquired_at, r.expires_at)
        for r in connection.execute(query)
    ]


Write = Callable[[Callable[[Connection], T]], Awaitable[T]]


class RunLeases:
    """The leases of one sync run: taken per account, confirmed with each commit, renewed
    by a heartbeat every third of their duration, released when the account is done."""

    def __init__(self, write: Write[Any], ttl: timedelta, label: str | None = None) -> None:
        self._write = write
        self.ttl = ttl
        self.claimant = Claimant.here(label)
        self.held: set[str] = set()
        self.lost: set[str] = set()
        """Accounts whose lease another sync took over during this run."""

    async def acquire(self, account: str, run_id: int) -> Lease | None:
        """Take ``account``'s lease: ``None`` once held, else the lease in the way."""
        claimant, ttl = self.claimant, self.ttl
        blocking: Lease | None = await self._write(
            lambda connection: acquire(connection, claimant, account, ttl, run_id=run_id)
        )
        if blocking is None:
            self.held.add(account)
        return blocking

    def confirm(self, connection: Connection, account: str) -> None:
        """In a commit's transaction: extend the lease, or raise :class:`LeaseLostError`."""
        if not confirm(connection, self.claimant, account, self.ttl):
            self.lost.add(account)
            raise LeaseLostError(
                f"account {account!r}: another sync took over the lease; stopped without "
                "writing this page"
            )

    async def release(self, account: str) -> None:
        """Give up ``account``'s lease."""
        if account not in self.held:
            return
        self.held.discard(account)
        claimant = self.claimant
        await self._write(lambda connection: release(connection, claimant, account))

    async def heartbeat(self) -> None:
        """Renew every held lease every third of the lease's duration, until cancelled."""
        interval = self.ttl.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            held = sorted(self.held)
            if not held:
                continue
            try:
                renewed = await self._write(partial(self._renew, accounts=held))
            except Exception as exc:  # the commits still confirm: log and carry on
                logger.warning("could not renew the sync leases: %s", type(exc).__name__)
                continue
            for account in held:
                if account not in renewed:
                    self.held.discard(account)
                    self.lost.add(account)

    def _renew(self, connection: Connection, *, accounts: list[str]) -> set[str]:
        return {
            account for account in accounts if confirm(connection, self.claimant, account, self.ttl)
        }
