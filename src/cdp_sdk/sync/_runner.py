"""One sync run: every selected entity of every selected account, mirrored into the store.

Accounts run concurrently, one task each, on the workspace's event loop; within an
account the entities run one after the other (they share the account's rate limit
anyway). Database work happens in worker threads. Within an account, fetching and
writing overlap: a listing hands its pages through a short queue (:data:`PIPELINE_DEPTH`)
to a writer task that commits them in order while the next pages are fetched. SQLite
has one writer: transactions of all accounts take turns, and none waits for a fetch;
PostgreSQL commits the accounts' pages concurrently (one transaction at a time per
account). A sync's transactions are not flushed to disk one by one (SQLite
``synchronous=NORMAL`` in its write-ahead log, PostgreSQL ``synchronous_commit=off``):
a killed process loses nothing committed, and a power cut may undo the last commits
whole, which the cursors make a rerun read again.

Pages and cursors. Records are committed page by page: a page is what one HTTP response
brought (the journal of HTTP calls tells where a page ends), at most ``MAX_PAGE`` records;
the records of responses of one record each (a call per SIM) are gathered into pages of
``MIN_PAGE``, none waiting more than ``PAGE_SECONDS``.
Each transaction holds the page's rows, the journal rows of the calls made since the last
commit and, with the last page of a listing (or of a time window), the entity's new
cursor. The cursor in the store therefore always names a point from which a rerun misses
nothing; rows committed past it are read again and merge on their natural keys. A run
killed at any point resumes without gaps or duplicates.

Cursors per entity:

- ``subscriptions``: with the ``incremental`` capability, ``modified_since`` = the start
  of the last complete listing minus ``SyncOptions.lookback``; otherwise every run lists
  all subscriptions (upserted; the cursor only records when).
- ``activation_modes``, ``tariffs``: small lists, replaced whole in one transaction.
- ``usage``: the start of the earliest record not yet final (``final=False``), else the end
  of the last closed window, else the end of the newest final record. Read in windows of
  ``SyncOptions.window``; the first run starts ``SyncOptions.history`` ago (at midnight).
- ``invoices``: the start of the newest invoice period stored; each run reads again from
  ``SyncOptions.invoice_refresh`` before it (statuses change after issue).
- ``audit_events``: the end of the last closed window, then the time of the newest event
  (asked again inclusively; it merges on its key).

Records the database cannot hold are cleaned or quarantined page by page (see
:mod:`cdp_sdk.sync._storable`): a bad record never blocks a sync. A run records its host,
process and a heartbeat; at its start, runs left ``running`` by a dead process are marked
``interrupted`` (see :mod:`cdp_sdk.sync._liveness`), and a run cancelled or interrupted
(Ctrl-C) marks itself so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from datetime import time as clock_time
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, delete, distinct, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from cdp_sdk._bridge import Batched
from cdp_sdk._facade import AsyncConnector
from cdp_sdk._redact import redact_text
from cdp_sdk.errors import UnsupportedCapabilityError
from cdp_sdk.http import CallRecord
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Capability,
    Invoice,
    Subscription,
    Tariff,
    UsageRecord,
)
from cdp_sdk.sync import _liveness, _rows, _storable
from cdp_sdk.sync._db import delete_in, upsert
from cdp_sdk.sync._eta import Step, Workload
from cdp_sdk.sync._lease import RunLeases
from cdp_sdk.sync._models import (
    Entity,
    EntityFinished,
    EntityResult,
    EntityStarted,
    PageCommitted,
    SyncEvent,
    SyncOptions,
    SyncReport,
)
from cdp_sdk.sync.schema import (
    activation_modes,
    api_calls,
    audit_events,
    cursors,
    invoice_lines,
    invoices,
    quarantine,
    subscriptions,
    sync_results,
    sync_runs,
    tags,
    tariffs,
    usage,
)

if TYPE_CHECKING:
    from cdp_sdk.sync._store import Store
    from cdp_sdk.workspace import AsyncWorkspace

__all__ = [
    "MAX_PAGE",
    "MIN_PAGE",
    "PAGE_SECONDS",
    "PIPELINE_DEPTH",
    "RunContext",
    "SyncRun",
    "describe_error",
]

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)

logger = logging.getLogger("cdp_sdk")

MAX_PAGE = 1000
"""Most records committed in one transaction (a platform page larger than this is split)."""

MIN_PAGE = 100
"""Records of responses that bring one record each (a call per SIM) are gathered into
pages of this many, or of what came within :data:`PAGE_SECONDS`, whichever is first."""

PAGE_SECONDS = 1.0
"""How long the records of small responses wait for their commit, at most (see
:data:`MIN_PAGE`): at a platform's rate limit of a call a second or slower, each response
is committed about as soon as it is fetched, as a page of its own."""

PIPELINE_DEPTH = 1
"""Pages of a listing waiting in the queue for their commit, at most. Besides them, the
page being committed, the one being handed over, the one held back until the next page
shows it is not the last, and the one being fetched."""

ProgressCallback = Callable[[SyncEvent], None]


class _Keep:
    """The cursor is left as it is."""


KEEP: Final = _Keep()
CursorUpdate = datetime | None | _Keep


def utcnow() -> datetime:
    return datetime.now(UTC)


def midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), clock_time.min, tzinfo=UTC)


def describe_error(error: BaseException) -> str:
    """``"ErrorClass: message"``, redacted: what the store keeps of an error (of a
    database error, the first line of what the database said, not the statement)."""
    if isinstance(error, SQLAlchemyError):
        origin = getattr(error, "orig", None) or error
        lines = str(origin).strip().splitlines() or [""]
        return redact_text(f"{type(error).__name__}: {lines[0]}")
    message = getattr(error, "message", None) or str(error)
    return redact_text(f"{type(error).__name__}: {message}")


@dataclass
class AccountState:
    """What a run tracks for one account: the entity at hand and its counters."""

    name: str
    entity: Entity | None = None
    topic: str | None = None
    """What the journal files the account's calls under (the entity, or ``tags``)."""
    journal: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    """HTTP attempts since the run started (a change marks the end of a page)."""
    requests: int = 0
    records: int = 0
    pages: int = 0
    cleaned: int = 0
    quarantined: int = 0
    work: Workload | None = None
    """What the account's sync has left (for the time left in progress events)."""

    def begin(self, entity: Entity) -> None:
        self.entity = entity
        self.topic = entity.value
        self.requests = self.records = self.pages = self.cleaned = self.quarantined = 0


class RunContext:
    """A run in the store: its row, a journal of HTTP calls per account, transactions.

    Shared by sync runs and tag pushes.
    """

    def __init__(
        self,
        store: Store,
        workspace: AsyncWorkspace,
        accounts: Iterable[str],
        *,
        kind: str = "sync",
        durable: bool = True,
    ) -> None:
        self.kind = kind
        self.store = store
        self.workspace = workspace
        self.accounts = list(accounts)
        self.states = {name: AccountState(name) for name in self.accounts}
        self.run_id = 0
        self.started_at = utcnow()
        self._started = time.monotonic()
        self._durable = durable
        self._turns: asyncio.Lock | None = asyncio.Lock() if store.dialect == "sqlite" else None
        """SQLite's single writer: its transactions take turns (``None``: concurrent)."""
        self._heartbeat: asyncio.Task[None] | None = None

    # -- the database, in worker threads -------------------------------------------------

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction in a worker thread (on SQLite, in turn)."""
        return await self._in_turn(partial(self.store.transaction, work, durable=self._durable))

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection in a worker thread (on SQLite, in turn)."""
        return await self._in_turn(partial(self.store.read, work))

    async def _in_turn(self, call: Callable[[], T]) -> T:
        if self._turns is None:
            return await asyncio.to_thread(call)
        async with self._turns:
            return await asyncio.to_thread(call)

    # -- the run row ----------------------------------------------------------------------

    async def open(self) -> None:
        """Insert the run's row, mark the runs of dead processes ``interrupted``, and
        start the heartbeat."""

        def start(connection: Connection) -> int:
            result = connection.execute(
                insert(sync_runs).values(
                    kind=self.kind,
                    status="running",
                    started_at=self.started_at,
                    records=0,
                    errors=0,
                    host=_liveness.this_host(),
                    pid=os.getpid(),
                    heartbeat_at=self.started_at,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            _liveness.mark_interrupted(connection, self.started_at)
            return int(key[0])

        self.run_id = await self.write(start)
        self.store._running.add(self.run_id)
        self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        def beat(connection: Connection) -> None:
            connection.execute(
                update(sync_runs).where(sync_runs.c.id == self.run_id).values(heartbeat_at=utcnow())
            )

        while True:
            await asyncio.sleep(_liveness.HEARTBEAT.total_seconds())
            try:
                await self.write(beat)
            except Exception as exc:  # the next beat tries again
                reason = describe_error(exc)
                logger.warning("sync run %d: heartbeat failed: %s", self.run_id, reason)

    async def _stop_heartbeat(self) -> None:
        beating, self._heartbeat = self._heartbeat, None
        if beating is not None:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def abandon(self, error: BaseException) -> None:
        """Close the run's row after ``error`` ended it: ``interrupted`` when it was
        cancelled or interrupted (Ctrl-C), ``failed`` otherwise. Never raises."""
        interrupted = not isinstance(error, Exception)
        with contextlib.suppress(BaseException):  # cancelled again while stopping
            await self._stop_heartbeat()
        status = "interrupted" if interrupted else "failed"
        finished = utcnow()

        def close(connection: Connection) -> None:
            if interrupted:
                _liveness.mark_interrupted(connection, finished, ids=[self.run_id])
            else:
                connection.execute(
                    update(sync_runs)
                    .where(sync_runs.c.id == self.run_id, sync_runs.c.status == "running")
                    .values(status=status, finished_at=finished)
                )

        try:
            await asyncio.shield(asyncio.to_thread(self.store.transaction, close))
        except BaseException as exc:  # the store closing marks the run, or the next run does
            logger.debug("sync run %d: could not mark it %s: %s", self.run_id, status, exc)
        else:
            self.store._running.discard(self.run_id)

    async def finish(self, *, status: str, records: int, errors: int) -> SyncReport:
        """Close the run's row; a report without per-entity results."""
        await self._stop_heartbeat()
        finished = utcnow()
        duration = time.monotonic() - self._started

        def finish(connection: Connection) -> None:
            connection.execute(
                update(sync_runs)
                .where(sync_runs.c.id == self.run_id)
                .values(
                    status=status,
                    finished_at=finished,
                    duration=duration,
                    records=records,
                    errors=errors,
                    heartbeat_at=finished,
                )
            )

        await self.write(finish)
        self.store._running.discard(self.run_id)
        return SyncReport(
            run_id=self.run_id,
            kind=self.kind,
            status=status,
            started_at=self.started_at,
            finished_at=finished,
            duration=duration,
        )

    async def record_result(self, state: AccountState, result: EntityResult) -> None:
        """Store ``result`` with the calls not yet journaled."""
        journal, state.journal = state.journal, []

        def store(connection: Connection) -> None:
            if journal:
                connection.execute(insert(api_calls), journal)
            connection.execute(
                insert(sync_results).values(
                    run_id=self.run_id,
                    account=result.account,
                    entity=result.entity.value,
                    status=result.status,
                    records=result.records,
                    pages=result.pages,
                    requests=result.requests,
                    duration=result.duration,
                    error=result.error,
                    detail=result.detail,
                    cleaned=result.cleaned,
                    quarantined=result.quarantined,
                )
            )

        await self.write(store)

    # -- the journal ------------------------------------------------------------------------

    def on_call(self, account: str, record: CallRecord) -> None:
        """A workspace call listener: journal one HTTP attempt of an account."""
        state = self.states.get(account)
        if state is None:
            return
        state.calls += 1
        state.requests += 1
        if state.work is not None:
            state.work.requests += 1
        state.journal.append(
            {
                "run_id": self.run_id,
                "account": account,
                "connector": record.connector,
                "entity": state.topic,
                "at": utcnow(),
                "method": record.method,
                # Already templates and redacted by the HTTP client; redacted again here
                # so that nothing identifying can reach the journal whatever the client.
                "path": redact_text(record.path),
                "status_code": record.status_code,
                "duration_ms": round(record.duration * 1000, 3),
                "attempt": record.attempt,
                "request_id": redact_text(record.request_id) if record.request_id else None,
                "error": record.error,
            }
        )


class SyncRun(RunContext):
    """One sync of the selected entities of the selected accounts."""

    def __init__(
        self,
        store: Store,
        workspace: AsyncWorkspace,
        *,
        accounts: Iterable[str],
        entities: Sequence[Entity],
        options: SyncOptions,
        progress: ProgressCallback | None,
        now: datetime,
        holder: str | None = None,
    ) -> None:
        super().__init__(store, workspace, accounts, durable=False)
        self.entities = entities
        self.options = options
        self.progress = progress
        self.now = now
        self.positions: dict[tuple[str, str], datetime | None] = {}
        self.leases = RunLeases(self.write, options.lease, holder)
        self.held: dict[tuple[str, str], set[str]] = {}
        """Keys of the records in quarantine, per account and entity."""
        self._sims: dict[str, list[str]] = {}

    async def execute(self) -> SyncReport:
        await self.open()
        try:
            return await self._execute()
        except BaseException as error:
            await self.abandon(error)
            raise

    async def _execute(self) -> SyncReport:
        self.positions = await self.read(self._read_cursors)
        self.held = await self.read(self._read_quarantine)
        remove = self.workspace.add_call_listener(self.on_call)
        heartbeat = asyncio.create_task(self.leases.heartbeat())
        try:
            per_account = await asyncio.gather(*(self._account(name) for name in self.accounts))
        finally:
            heartbeat.cancel()
            remove()
        results = [result for results in per_account for result in results]
        errors = sum(1 for r in results if r.status == "error")
        attempted = sum(1 for r in results if r.status != "skipped")
        status = "ok" if not errors else "failed" if errors == attempted else "partial"
        report = await self.finish(
            status=status, records=sum(r.records for r in results), errors=errors
        )
        return replace(report, results=tuple(results))

    def _read_cursors(self, connection: Connection) -> dict[tuple[str, str], datetime | None]:
        rows = connection.execute(
            select(cursors.c.account, cursors.c.entity, cursors.c.position).where(
                cursors.c.account.in_(self.accounts)
            )
        )
        return {(account, entity): position for account, entity, position in rows}

    def _read_quarantine(self, connection: Connection) -> dict[tuple[str, str], set[str]]:
        rows = connection.execute(
            select(quarantine.c.account, quarantine.c.entity, quarantine.c.record_key).where(
                quarantine.c.account.in_(self.accounts)
            )
        )
        held: dict[tuple[str, str], set[str]] = {}
        for account, entity, key in rows:
            held.setdefault((account, entity), set()).add(key)
        return held

    def _emit(self, event: SyncEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    # -- an account, entity by entity -------------------------------------------------------

    async def _account(self, name: str) -> list[EntityResult]:
        state = self.states[name]
        blocking = await self.leases.acquire(name, self.run_id)
        if blocking is not None:  # another sync has the account: leave it to that one
            return [
                await self._finish(
                    state, EntityResult(name, entity, "skipped", detail=blocking.describe())
                )
                for entity in self.entities
            ]
        try:
            return await self._leased_account(state)
        finally:
            await self.leases.release(name)

    async def _leased_account(self, state: AccountState) -> list[EntityResult]:
        name = state.name
        results = []
        try:
            connector = self.workspace.connector(name)
        except Exception as exc:  # settings: every entity of the account fails alike
            for entity in self.entities:
                results.append(
                    await self._finish(
                        state, EntityResult(name, entity, "error", error=describe_error(exc))
                    )
                )
            return results
        state.work = await self._workload(state, connector)
        for entity in self.entities:
            results.append(await self._entity(state, connector, entity))
        return results

    async def _workload(self, state: AccountState, connector: AsyncConnector) -> Workload:
        """What the account's sync will read: each entity's windows, and whether SIM by SIM."""
        steps = []
        for entity in self.entities:
            if entity.capability not in connector.capabilities:
                continue
            position = self.positions.get((state.name, entity.value))
            if entity is Entity.SUBSCRIPTIONS:
                incremental = Capability.INCREMENTAL in connector.capabilities
                steps.append(Step(entity, incremental=incremental and position is not None))
            elif entity in (Entity.USAGE, Entity.AUDIT_EVENTS):
                per_sim = _per_sim_only(connector, entity.capability) or (
                    entity is Entity.USAGE and self.options.usage_per_sim
                )
                windows = len(self._windows(position or self._history_start()))
                steps.append(Step(entity, windows, per_sim=per_sim))
            else:
                steps.append(Step(entity))
        name = state.name

        def count(connection: Connection) -> int:
            query = select(func.count(distinct(subscriptions.c.iccid))).where(
                subscriptions.c.account == name
            )
            return int(connection.scalar(query) or 0)

        return Workload(steps, sims=await self.read(count), rate_limit=connector_rate(connector))

    async def _entity(
        self, state: AccountState, connector: AsyncConnector, entity: Entity
    ) -> EntityResult:
        if state.name in self.leases.lost:
            reason = "the lease was taken over by another sync (running elsewhere)"
            return await self._finish(
                state, EntityResult(state.name, entity, "skipped", detail=reason)
            )
        if entity.capability not in connector.capabilities:
            reason = f"connector {connector.name!r} does not declare {entity.capability.value}"
            return await self._finish(
                state, EntityResult(state.name, entity, "skipped", detail=reason)
            )
        state.begin(entity)
        work = state.work
        if work is not None:
            work.begin(entity)
        self._emit(EntityStarted(state.name, entity))
        started = time.monotonic()
        error: str | None = None
        detail: str | None = None
        try:
            detail = await _HANDLERS[entity](self, state, connector)
        except Exception as exc:
            error = describe_error(exc)
        if work is not None:
            sims = None
            if entity is Entity.SUBSCRIPTIONS and work.reads_sim_by_sim():
                with contextlib.suppress(Exception):  # the estimate goes on with the old count
                    sims = len(await self._account_sims(state.name))
            work.finish(entity, sims=sims)
        result = EntityResult(
            account=state.name,
            entity=entity,
            status="ok" if error is None else "error",
            records=state.records,
            pages=state.pages,
            requests=state.requests,
            duration=time.monotonic() - started,
            error=error,
            detail=detail,
            cleaned=state.cleaned,
            quarantined=state.quarantined,
        )
        return await self._finish(state, result)

    async def _finish(self, state: AccountState, result: EntityResult) -> EntityResult:
        await self.record_result(state, result)
        self._emit(EntityFinished(result))
        return result

    # -- pages and commits ------------------------------------------------------------------

    async def _pages(
        self, state: AccountState, source: AsyncIterator[T]
    ) -> AsyncIterator[tuple[list[T], bool]]:
        """The records of ``source`` grouped by the HTTP responses that brought them, each
        group with whether it is the last (known once the next one, or the end, is in).

        A group is one response's records (at most :data:`MAX_PAGE`), or those of
        responses of one record each (a platform read one call per SIM) that came within
        :data:`PAGE_SECONDS`, up to :data:`MIN_PAGE`: such a platform is not committed one
        SIM at a time."""
        pending: list[T] | None = None
        batch: list[T] = []
        calls = state.calls
        responses = 0  # in the batch
        opened = time.monotonic()
        async for arrived in _arrivals(source):
            for record in arrived:  # no HTTP call between the records of one arrival
                if batch and (
                    len(batch) >= MAX_PAGE
                    or (
                        state.calls != calls
                        and (
                            responses != len(batch)  # not only single-record responses
                            or len(batch) >= MIN_PAGE
                            or time.monotonic() - opened >= PAGE_SECONDS
                        )
                    )
                ):
                    if pending is not None:
                        yield pending, False
                    pending, batch = batch, []
                if not batch:
                    opened, responses = time.monotonic(), 0
                if not batch or state.calls != calls:
                    responses += 1
                calls = state.calls
                batch.append(record)
            del arrived  # its committed records go while the next page is fetched
        if batch:
            if pending is not None:
                yield pending, False
            pending = batch
        if pending is not None:
            yield pending, True

    async def _commit(
        self,
        state: AccountState,
        work: Callable[[Connection], None] | None,
        *,
        records: int = 0,
        cursor: CursorUpdate = KEEP,
        cleaned: int = 0,
        quarantined: int = 0,
    ) -> None:
        """One transaction: ``work``, the pending journal rows and the cursor update."""
        journal, state.journal = state.journal, []
        entity = state.entity
        assert entity is not None

        def transaction(connection: Connection) -> None:
            self.leases.confirm(connection, state.name)  # no lease, no write
            if work is not None:
                work(connection)
            if journal:
                connection.execute(insert(api_calls), journal)
            if not isinstance(cursor, _Keep):
                upsert(
                    connection,
                    cursors,
                    [
                        {
                            "account": state.name,
                            "entity": entity.value,
                            "position": cursor,
                            "run_id": self.run_id,
                            "updated_at": utcnow(),
                        }
                    ],
                )

        try:
            await self.write(transaction)
        except BaseException:
            state.journal = journal + state.journal
            raise
        if not isinstance(cursor, _Keep):
            self.positions[(state.name, entity.value)] = cursor
        state.cleaned += cleaned
        state.quarantined += quarantined
        if records:
            state.records += records
            state.pages += 1
            left, eta = (
                state.work.eta(requests=state.requests, records=state.records)
                if state.work is not None
                else (None, None)
            )
            self._emit(PageCommitted(state.name, entity, records, state.records, left, eta))

    async def _mirror(
        self,
        state: AccountState,
        source: AsyncIterator[R],
        write: Writer[R],
        *,
        cursor: Callable[[], CursorUpdate] = lambda: KEEP,
        observe: Callable[[R], None] | None = None,
    ) -> None:
        """Commit ``source`` page by page; the last page carries ``cursor()``, computed
        once every record has been seen (by ``observe``).

        The pages are committed by a writer task of their own while the next ones are
        fetched (:class:`_PageWriter`). A failed commit stops the listing with its error;
        a listing that fails has the pages it fetched before committed, then raises.
        """
        writer = _PageWriter(self, state, write)
        try:
            committed = False
            async for page, last in self._pages(state, source):
                if observe is not None:
                    for record in page:
                        observe(record)
                await writer.put(page, cursor() if last else KEEP)
                del page  # the writer's now: not kept while the next page is gathered
                committed = True
            if not committed:
                await writer.put(None, cursor())
        except Exception:
            with contextlib.suppress(Exception):  # the listing's error is the one to tell
                await writer.finish()
            raise
        except BaseException:
            await writer.cancel()
            raise
        await writer.finish()

    async def _store_page(
        self, state: AccountState, write: Writer[R], page: list[R], *, cursor: CursorUpdate
    ) -> None:
        """Commit one page: its records cleaned, those the store cannot hold quarantined.

        When the database refuses the page anyway, each record is tried alone in a
        transaction that is rolled back; those refused are quarantined with the
        database's reason and the rest of the page is committed.
        """
        kept, held, cleaned = _storable.clean_page(page)
        stamp = self._stamp(state.name)
        try:
            await self._commit_page(state, write, stamp, kept, held, cleaned, cursor)
            return
        except Exception as error:
            if not _storable.refused_by_database(error) or not kept:
                raise
            refused = await self._refused(write, stamp, kept)
            if not refused:
                raise
        held += [(kept[index], reason) for index, reason in refused.items()]
        kept = [record for index, record in enumerate(kept) if index not in refused]
        await self._commit_page(state, write, stamp, kept, held, cleaned, cursor)

    async def _commit_page(
        self,
        state: AccountState,
        write: Writer[R],
        stamp: _rows.Stamp,
        kept: list[R],
        held: list[tuple[R, str]],
        cleaned: int,
        cursor: CursorUpdate,
    ) -> None:
        assert state.entity is not None
        entity = state.entity.value
        known = self.held.setdefault((state.name, entity), set())
        rows = [_quarantine_row(stamp, entity, record, reason) for record, reason in held]
        resolved = {_storable.natural_key(record) for record in kept} & known if known else set()

        def work(connection: Connection) -> None:
            write(connection, stamp, kept)
            if rows:
                _hold(connection, rows)
            delete_in(
                connection,
                quarantine,
                "record_key",
                sorted(resolved),
                account=stamp.account,
                entity=entity,
            )

        await self._commit(
            state,
            work,
            records=len(kept),
            cursor=cursor,
            cleaned=cleaned,
            quarantined=len(held),
        )
        known.difference_update(resolved)
        known.update(row["record_key"] for row in rows)
        if held:
            logger.warning(
                "%s: %s: %d record(s) quarantined (%s); the sync goes on without them",
                state.name,
                entity,
                len(held),
                held[0][1],
            )

    async def _refused(
        self, write: Writer[R], stamp: _rows.Stamp, records: list[R]
    ) -> dict[int, str]:
        """The records of a page the database refuses, each tried alone and rolled back."""
        refused: dict[int, str] = {}
        for index, record in enumerate(records):
            error = await self._in_turn(partial(self.store.trial, _bind(write, stamp, [record])))
            if error is None:
                continue
            if not _storable.refused_by_database(error):
                raise error
            refused[index] = _storable.database_reason(error)
        return refused

    def _stamp(self, account: str) -> _rows.Stamp:
        return _rows.Stamp(account, self.run_id, utcnow())

    def _position(self, state: AccountState) -> datetime | None:
        assert state.entity is not None
        return self.positions.get((state.name, state.entity.value))

    def _windows(self, start: datetime) -> list[tuple[datetime, datetime | None]]:
        """``[start, now)`` in windows; those ending before the settle horizon are closed,
        the rest is one open window (``end=None``: up to the platform's now)."""
        horizon = self.now - self.options.settle
        windows: list[tuple[datetime, datetime | None]] = []
        while start + self.options.window <= horizon:
            windows.append((start, start + self.options.window))
            start += self.options.window
        windows.append((start, None))
        return windows

    def _history_start(self) -> datetime:
        return midnight(self.now - self.options.history)

    # -- the entities -----------------------------------------------------------------------

    async def _subscriptions(self, state: AccountState, connector: AsyncConnector) -> str | None:
        incremental = Capability.INCREMENTAL in connector.capabilities
        since = self._position(state) if incremental else None
        listing_start = self.now - self.options.lookback
        await self._mirror(
            state,
            connector.subscriptions(modified_since=since),
            _write_subscriptions,
            cursor=lambda: listing_start if incremental else None,
        )
        if not incremental:
            reason = connector.plugin.full_listing_reason
            return f"full listing ({reason or 'the connector is not incremental'})"
        return "changes only" if since is not None else "full listing (first run)"

    async def _activation_modes(self, state: AccountState, connector: AsyncConnector) -> str | None:
        modes = await connector.activation_modes()
        await self._store_page(state, _replace_activation_modes, list(modes), cursor=None)
        return None

    async def _tariffs(self, state: AccountState, connector: AsyncConnector) -> str | None:
        found = [tariff async for tariff in connector.tariffs()]
        await self._store_page(state, _replace_tariffs, found, cursor=None)
        return None

    async def _usage(self, state: AccountState, connector: AsyncConnector) -> str | None:
        per_sim = self.options.usage_per_sim or _per_sim_only(connector, Capability.USAGE)
        progress = _UsageProgress()
        for window_start, window_end in self._windows(
            self._position(state) or self._history_start()
        ):
            cursor = partial(progress.cursor, window_start, window_end)
            if not per_sim:
                if state.work is not None:
                    state.work.window()
                try:
                    source = connector.usage(
                        None,
                        start=window_start,
                        end=window_end,
                        granularity=self.options.usage_granularity,
                    )
                    await self._mirror(
                        state, source, _write_usage, cursor=cursor, observe=progress.observe
                    )
                    continue
                except UnsupportedCapabilityError:
                    if state.records:
                        raise
                    per_sim = True  # no account totals on this platform: SIM by SIM
                    if state.work is not None:
                        state.work.per_sim(Entity.USAGE)
            sims = await self._account_sims(state.name)
            await self._mirror(
                state,
                self._usage_per_sim(state, connector, sims, window_start, window_end),
                _write_usage,
                cursor=cursor,
                observe=progress.observe,
            )
        return "usage per SIM" if per_sim else "account totals"

    async def _account_sims(self, account: str) -> list[str]:
        if account not in self._sims:

            def iccids(connection: Connection) -> list[str]:
                query = (
                    select(subscriptions.c.iccid)
                    .where(subscriptions.c.account == account)
                    .distinct()
                    .order_by(subscriptions.c.iccid)
                )
                return list(connection.scalars(query))

            self._sims[account] = await self.read(iccids)
        return self._sims[account]

    async def _usage_per_sim(
        self,
        state: AccountState,
        connector: AsyncConnector,
        sims: Sequence[str],
        start: datetime,
        end: datetime | None,
    ) -> AsyncIterator[UsageRecord]:
        for iccid in sims:
            if state.work is not None:
                state.work.sim()
            async for record in connector.usage(
                iccid, start=start, end=end, granularity=self.options.usage_granularity
            ):
                yield record

    async def _invoices(self, state: AccountState, connector: AsyncConnector) -> str | None:
        position = self._position(state)
        start = position - self.options.invoice_refresh if position else self._history_start()
        newest = _Newest(position)

        def observe(invoice: Invoice) -> None:
            newest.see(datetime.combine(invoice.period_start, clock_time.min, tzinfo=UTC))

        await self._mirror(
            state,
            connector.invoices(start=start),
            _write_invoices,
            cursor=lambda: newest.value,
            observe=observe,
        )
        return None

    async def _audit_events(self, state: AccountState, connector: AsyncConnector) -> str | None:
        start = self._position(state) or self._history_start()
        per_sim = _per_sim_only(connector, Capability.AUDIT_EVENTS)
        for window_start, window_end in self._windows(start):
            newest = _Newest(window_start)
            if per_sim:
                sims = await self._account_sims(state.name)
                source = self._events_per_sim(state, connector, sims, window_start, window_end)
            else:
                if state.work is not None:
                    state.work.window()
                source = connector.audit_events(None, start=window_start, end=window_end)
            await self._mirror(
                state,
                source,
                _write_audit_events,
                cursor=partial(_window_cursor, window_end, newest),
                observe=partial(_see_event, newest),
            )
        return "events per SIM" if per_sim else None

    async def _events_per_sim(
        self,
        state: AccountState,
        connector: AsyncConnector,
        sims: Sequence[str],
        start: datetime,
        end: datetime | None,
    ) -> AsyncIterator[AuditEvent]:
        for iccid in sims:
            if state.work is not None:
                state.work.sim()
            async for event in connector.audit_events(iccid, start=start, end=end):
                yield event


async def _arrivals(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    """The records of ``source`` as they arrive: the rest of each page at once where the
    listing hands over whole pages (:class:`~cdp_sdk._bridge.Batched`), else one by one."""
    if not isinstance(source, Batched):
        async for record in source:
            yield [record]
        return
    while True:
        try:
            arrived = await source.next_batch()
        except StopAsyncIteration:
            return
        yield arrived
        del arrived  # not kept while the next batch is fetched


class _PageWriter(Generic[R]):
    """Commits the pages of one listing in order, in a task of its own, while the
    listing goes on; at most :data:`PIPELINE_DEPTH` pages wait for their turn.

    A page ``None`` commits only its cursor (a listing without records).
    """

    def __init__(self, run: SyncRun, state: AccountState, write: Writer[R]) -> None:
        self._run = run
        self._state = state
        self._write = write
        self._queue: asyncio.Queue[tuple[list[R] | None, CursorUpdate] | None] = asyncio.Queue(
            PIPELINE_DEPTH
        )
        self._task = asyncio.create_task(self._commit_pages())

    async def _commit_pages(self) -> None:
        while (item := await self._queue.get()) is not None:
            page, cursor = item
            if page is None:
                await self._run._commit(self._state, None, cursor=cursor)
            else:
                await self._run._store_page(self._state, self._write, page, cursor=cursor)
            del item, page  # committed: not kept while the next page is awaited

    async def put(self, page: list[R] | None, cursor: CursorUpdate) -> None:
        """Queue a page for its commit (waiting while the queue is full).

        Raises:
            Exception: the error of a commit that failed (nothing more is committed).
        """
        await self._put((page, cursor))

    async def finish(self) -> None:
        """Wait until every queued page is committed.

        Raises:
            Exception: the error of a commit that failed.
        """
        await self._put(None)
        await self._task

    async def cancel(self) -> None:
        """Stop committing (a commit under way in its thread still ends)."""
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task

    async def _put(self, item: tuple[list[R] | None, CursorUpdate] | None) -> None:
        self._raise_failure()
        if not self._queue.full():
            self._queue.put_nowait(item)
            return
        putting = asyncio.ensure_future(self._queue.put(item))
        try:
            done, _ = await asyncio.wait({putting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            putting.cancel()
            raise
        if putting in done:
            return
        putting.cancel()  # the writer stopped: its error
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._task.done():
            error = self._task.exception()
            if error is not None:
                raise error
            raise RuntimeError("the page writer stopped before the listing ended")


def connector_rate(connector: AsyncConnector) -> float | None:
    """The connector's client-side rate limit, in requests per second (``None``: none)."""
    http = getattr(connector.plugin, "http", None)
    limiter = getattr(http, "limiter", None)
    rate = getattr(limiter, "rate", None)
    return float(rate) if isinstance(rate, int | float) else None


def _per_sim_only(connector: AsyncConnector, capability: Capability) -> bool:
    """Whether the platform offers ``capability`` per SIM only (read SIM by SIM)."""
    return capability in connector.plugin.per_sim_only


class _Newest:
    """The latest instant seen so far (``None`` before the first)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.value = start

    def see(self, moment: datetime) -> None:
        if self.value is None or moment > self.value:
            self.value = moment


def _see_event(newest: _Newest, event: AuditEvent) -> None:
    newest.see(event.occurred_at)


def _window_cursor(window_end: datetime | None, newest: _Newest) -> datetime | None:
    """A closed window resumes at its end; the open one at the newest record seen."""
    return window_end if window_end is not None else newest.value


class _UsageProgress:
    """Where usage may resume: before the earliest record that is not final yet."""

    def __init__(self) -> None:
        self.earliest_open: datetime | None = None
        self.newest_final = _Newest()

    def observe(self, record: UsageRecord) -> None:
        start, earliest = record.start, self.earliest_open
        if start is not None and not record.final:
            self.earliest_open = start if earliest is None else min(start, earliest)
        if record.end is not None and record.final:
            self.newest_final.see(record.end)

    def cursor(self, window_start: datetime, window_end: datetime | None) -> datetime:
        if self.earliest_open is not None:
            return self.earliest_open
        if window_end is not None:
            return window_end
        newest = self.newest_final.value
        return window_start if newest is None or newest < window_start else newest


# -- writers (run in the database thread) -----------------------------------------------------


Writer = Callable[[Connection, _rows.Stamp, list[R]], None]
"""Writes one page of records (in the caller's transaction)."""


def _bind(write: Writer[R], stamp: _rows.Stamp, records: list[R]) -> Callable[[Connection], None]:
    return lambda connection: write(connection, stamp, records)


def _quarantine_row(
    stamp: _rows.Stamp, entity: str, record: BaseModel, reason: str
) -> dict[str, Any]:
    return {
        "account": stamp.account,
        "entity": entity,
        "record_key": _storable.natural_key(record),
        "connector": str(getattr(record, "connector", "")),
        "reason": reason,
        "record": _storable.record_json(record),
        "first_seen_at": stamp.synced_at,
        **stamp.columns(),
    }


def _hold(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Upsert quarantine rows, keeping when each record was first seen."""
    keys = [(row["account"], row["entity"], row["record_key"]) for row in rows]
    first: dict[tuple[str, str, str], datetime] = {}
    for account, entity, key in keys:
        found = connection.scalar(
            select(quarantine.c.first_seen_at).where(
                quarantine.c.account == account,
                quarantine.c.entity == entity,
                quarantine.c.record_key == key,
            )
        )
        if found is not None:
            first[(account, entity, key)] = found
    upsert(
        connection,
        quarantine,
        [
            {**row, "first_seen_at": first.get(key, row["first_seen_at"])}
            for row, key in zip(rows, keys, strict=True)
        ],
    )


def _replace_activation_modes(
    connection: Connection, stamp: _rows.Stamp, modes: list[ActivationMode]
) -> None:
    connection.execute(delete(activation_modes).where(activation_modes.c.account == stamp.account))
    if modes:
        connection.execute(
            insert(activation_modes), [_rows.activation_mode_row(stamp, m) for m in modes]
        )


def _replace_tariffs(connection: Connection, stamp: _rows.Stamp, found: list[Tariff]) -> None:
    connection.execute(delete(tariffs).where(tariffs.c.account == stamp.account))
    rows = list({t.id: _rows.tariff_row(stamp, t) for t in found}.values())
    if rows:
        connection.execute(insert(tariffs), rows)


def _write_subscriptions(
    connection: Connection, stamp: _rows.Stamp, records: list[Subscription]
) -> None:
    upsert(
        connection,
        subscriptions,
        [_rows.subscription_row(stamp, sim) for sim in records],
        constants=stamp.columns(),
    )
    iccids = sorted({sim.iccid for sim in records})
    delete_in(connection, tags, "iccid", iccids, account=stamp.account, source="platform")
    upsert(
        connection,
        tags,
        [row for sim in records for row in _rows.platform_tag_rows(stamp, sim)],
        constants=_rows.platform_tag_constants(stamp),
    )


def _write_usage(connection: Connection, stamp: _rows.Stamp, records: list[UsageRecord]) -> None:
    upsert(
        connection,
        usage,
        [_rows.usage_row(stamp, record) for record in records],
        constants=stamp.columns(),
    )


def _write_invoices(connection: Connection, stamp: _rows.Stamp, records: list[Invoice]) -> None:
    upsert(
        connection,
        invoices,
        [_rows.invoice_row(stamp, invoice) for invoice in records],
        constants=stamp.columns(),
    )
    ids = sorted({invoice.id for invoice in records})
    delete_in(connection, invoice_lines, "invoice_id", ids, account=stamp.account)
    latest = {invoice.id: invoice for invoice in records}
    lines = [row for invoice in latest.values() for row in _rows.invoice_line_rows(stamp, invoice)]
    if lines:
        connection.execute(insert(invoice_lines), lines)


def _write_audit_events(
    connection: Connection, stamp: _rows.Stamp, records: list[AuditEvent]
) -> None:
    upsert(
        connection,
        audit_events,
        [_rows.audit_event_row(stamp, event) for event in records],
        constants=stamp.columns(),
    )


_Handler = Callable[[SyncRun, AccountState, AsyncConnector], Any]

_HANDLERS: Mapping[Entity, _Handler] = {
    Entity.SUBSCRIPTIONS: SyncRun._subscriptions,
    Entity.ACTIVATION_MODES: SyncRun._activation_modes,
    Entity.TARIFFS: SyncRun._tariffs,
    Entity.USAGE: SyncRun._usage,
    Entity.INVOICES: SyncRun._invoices,
    Entity.AUDIT_EVENTS: SyncRun._audit_events,
}
