"""One sync run: every selected entity of every selected account, mirrored into the store.

Accounts run concurrently, one task each, on the workspace's event loop; within an
account the entities run one after the other (they share the account's rate limit
anyway). Database work happens in a worker thread, one transaction at a time.

Pages and cursors. Records are committed page by page: a page is what one HTTP response
brought (the journal of HTTP calls tells where a page ends), at most ``MAX_PAGE`` records.
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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from datetime import time as clock_time
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlalchemy import Connection, delete, insert, select, update

from cdp_sdk._facade import AsyncConnector
from cdp_sdk._redact import redact_text
from cdp_sdk.errors import UnsupportedCapabilityError
from cdp_sdk.http import CallRecord
from cdp_sdk.models import AuditEvent, Capability, Invoice, Subscription, UsageRecord
from cdp_sdk.sync import _rows
from cdp_sdk.sync._db import chunks, upsert
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

__all__ = ["MAX_PAGE", "RunContext", "SyncRun", "describe_error"]

T = TypeVar("T")

MAX_PAGE = 1000
"""Most records committed in one transaction (a platform page larger than this is split)."""

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
    """``"ErrorClass: message"``, redacted: what the store keeps of an error."""
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

    def begin(self, entity: Entity) -> None:
        self.entity = entity
        self.topic = entity.value
        self.requests = self.records = self.pages = 0


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
    ) -> None:
        self.kind = kind
        self.store = store
        self.workspace = workspace
        self.accounts = list(accounts)
        self.states = {name: AccountState(name) for name in self.accounts}
        self.run_id = 0
        self.started_at = utcnow()
        self._started = time.monotonic()
        self._lock = asyncio.Lock()

    # -- the database, one transaction at a time in a worker thread --------------------

    async def write(self, work: Callable[[Connection], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(self.store.transaction, work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(self.store.read, work)

    # -- the run row ----------------------------------------------------------------------

    async def open(self) -> None:
        def start(connection: Connection) -> int:
            result = connection.execute(
                insert(sync_runs).values(
                    kind=self.kind,
                    status="running",
                    started_at=self.started_at,
                    records=0,
                    errors=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

        self.run_id = await self.write(start)

    async def finish(self, *, status: str, records: int, errors: int) -> SyncReport:
        """Close the run's row; a report without per-entity results."""
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
                )
            )

        await self.write(finish)
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
        super().__init__(store, workspace, accounts)
        self.entities = entities
        self.options = options
        self.progress = progress
        self.now = now
        self.positions: dict[tuple[str, str], datetime | None] = {}
        self.leases = RunLeases(self.write, options.lease, holder)
        self._sims: dict[str, list[str]] = {}

    async def execute(self) -> SyncReport:
        await self.open()
        self.positions = await self.read(self._read_cursors)
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
        for entity in self.entities:
            results.append(await self._entity(state, connector, entity))
        return results

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
        self._emit(EntityStarted(state.name, entity))
        started = time.monotonic()
        error: str | None = None
        detail: str | None = None
        try:
            detail = await _HANDLERS[entity](self, state, connector)
        except Exception as exc:
            error = describe_error(exc)
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
        """The records of ``source`` grouped by the HTTP response that brought them, each
        group with whether it is the last (known once the next one, or the end, is in)."""
        pending: list[T] | None = None
        batch: list[T] = []
        calls = state.calls
        async for record in source:
            if batch and (state.calls != calls or len(batch) >= MAX_PAGE):
                if pending is not None:
                    yield pending, False
                pending, batch = batch, []
            calls = state.calls
            batch.append(record)
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
        if records:
            state.records += records
            state.pages += 1
            self._emit(PageCommitted(state.name, entity, records, state.records))

    async def _mirror(
        self,
        state: AccountState,
        source: AsyncIterator[T],
        write: Callable[[Connection, _rows.Stamp, list[T]], None],
        *,
        cursor: Callable[[], CursorUpdate] = lambda: KEEP,
        observe: Callable[[T], None] | None = None,
    ) -> None:
        """Commit ``source`` page by page; the last page carries ``cursor()``, computed
        once every record has been seen (by ``observe``)."""
        committed = False
        async for page, last in self._pages(state, source):
            if observe is not None:
                for record in page:
                    observe(record)
            await self._commit(
                state,
                _bind(write, self._stamp(state.name), page),
                records=len(page),
                cursor=cursor() if last else KEEP,
            )
            committed = True
        if not committed:
            await self._commit(state, None, cursor=cursor())

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
            return "full listing (the connector is not incremental)"
        return "changes only" if since is not None else "full listing (first run)"

    async def _activation_modes(self, state: AccountState, connector: AsyncConnector) -> str | None:
        modes = await connector.activation_modes()
        stamp = self._stamp(state.name)

        def replace(connection: Connection) -> None:
            connection.execute(
                delete(activation_modes).where(activation_modes.c.account == stamp.account)
            )
            if modes:
                connection.execute(
                    insert(activation_modes), [_rows.activation_mode_row(stamp, m) for m in modes]
                )

        await self._commit(state, replace, records=len(modes), cursor=None)
        return None

    async def _tariffs(self, state: AccountState, connector: AsyncConnector) -> str | None:
        found = [tariff async for tariff in connector.tariffs()]
        stamp = self._stamp(state.name)

        def replace(connection: Connection) -> None:
            connection.execute(delete(tariffs).where(tariffs.c.account == stamp.account))
            rows = list({t.id: _rows.tariff_row(stamp, t) for t in found}.values())
            if rows:
                connection.execute(insert(tariffs), rows)

        await self._commit(state, replace, records=len(found), cursor=None)
        return None

    async def _usage(self, state: AccountState, connector: AsyncConnector) -> str | None:
        per_sim = self.options.usage_per_sim or _per_sim_only(connector, Capability.USAGE)
        progress = _UsageProgress()
        for window_start, window_end in self._windows(
            self._position(state) or self._history_start()
        ):
            cursor = partial(progress.cursor, window_start, window_end)
            if not per_sim:
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
            sims = await self._account_sims(state.name)
            await self._mirror(
                state,
                self._usage_per_sim(connector, sims, window_start, window_end),
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
        connector: AsyncConnector,
        sims: Sequence[str],
        start: datetime,
        end: datetime | None,
    ) -> AsyncIterator[UsageRecord]:
        for iccid in sims:
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
                source = self._events_per_sim(connector, sims, window_start, window_end)
            else:
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
        connector: AsyncConnector,
        sims: Sequence[str],
        start: datetime,
        end: datetime | None,
    ) -> AsyncIterator[AuditEvent]:
        for iccid in sims:
            async for event in connector.audit_events(iccid, start=start, end=end):
                yield event


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


def _bind(
    write: Callable[[Connection, _rows.Stamp, list[T]], None],
    stamp: _rows.Stamp,
    records: list[T],
) -> Callable[[Connection], None]:
    return lambda connection: write(connection, stamp, records)


def _write_subscriptions(
    connection: Connection, stamp: _rows.Stamp, records: list[Subscription]
) -> None:
    upsert(connection, subscriptions, [_rows.subscription_row(stamp, sim) for sim in records])
    iccids = sorted({sim.iccid for sim in records})
    for part in chunks(iccids):
        connection.execute(
            delete(tags).where(
                tags.c.account == stamp.account,
                tags.c.source == "platform",
                tags.c.iccid.in_(part),
            )
        )
    upsert(
        connection, tags, [row for sim in records for row in _rows.platform_tag_rows(stamp, sim)]
    )


def _write_usage(connection: Connection, stamp: _rows.Stamp, records: list[UsageRecord]) -> None:
    upsert(connection, usage, [_rows.usage_row(stamp, record) for record in records])


def _write_invoices(connection: Connection, stamp: _rows.Stamp, records: list[Invoice]) -> None:
    upsert(connection, invoices, [_rows.invoice_row(stamp, invoice) for invoice in records])
    ids = sorted({invoice.id for invoice in records})
    for part in chunks(ids):
        connection.execute(
            delete(invoice_lines).where(
                invoice_lines.c.account == stamp.account, invoice_lines.c.invoice_id.in_(part)
            )
        )
    latest = {invoice.id: invoice for invoice in records}
    lines = [row for invoice in latest.values() for row in _rows.invoice_line_rows(stamp, invoice)]
    if lines:
        connection.execute(insert(invoice_lines), lines)


def _write_audit_events(
    connection: Connection, stamp: _rows.Stamp, records: list[AuditEvent]
) -> None:
    upsert(connection, audit_events, [_rows.audit_event_row(stamp, event) for event in records])


_Handler = Callable[[SyncRun, AccountState, AsyncConnector], Any]

_HANDLERS: Mapping[Entity, _Handler] = {
    Entity.SUBSCRIPTIONS: SyncRun._subscriptions,
    Entity.ACTIVATION_MODES: SyncRun._activation_modes,
    Entity.TARIFFS: SyncRun._tariffs,
    Entity.USAGE: SyncRun._usage,
    Entity.INVOICES: SyncRun._invoices,
    Entity.AUDIT_EVENTS: SyncRun._audit_events,
}
