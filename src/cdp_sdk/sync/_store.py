"""The sync store: a database mirroring the accounts of a workspace."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Table,
    delete,
    exists,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from cdp_sdk._redact import redact_text
from cdp_sdk.errors import ClosedError, ConfigurationError
from cdp_sdk.sync import _lease, _liveness, _tags
from cdp_sdk.sync._db import (
    SQLITE_SYNCHRONOUS,
    create_store_engine,
    database_url,
    is_permission_problem,
    location_writable,
    private_sqlite_files,
    upsert,
)
from cdp_sdk.sync._errors import StoreError, StorePermissionError
from cdp_sdk.sync._lease import Lease
from cdp_sdk.sync._models import (
    Cursor,
    Entity,
    EntityResult,
    PurgeReport,
    StoredTag,
    SyncEvent,
    SyncOptions,
    SyncReport,
    TagImport,
    TagPlan,
    TagPushReport,
)
from cdp_sdk.sync._runner import SyncRun
from cdp_sdk.sync._types import ExactDecimal, JsonDocument, UtcDateTime
from cdp_sdk.sync.schema import (
    ENTITY_TABLES,
    SCHEMA_VERSION,
    api_calls,
    change_journal,
    cursors,
    metadata,
    migrate,
    store_info,
    sync_results,
    sync_runs,
    tables,
)

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from cdp_sdk.frames import ColumnKind
    from cdp_sdk.workspace import AsyncWorkspace, BaseWorkspace, Workspace

__all__ = ["DEFAULT_DATABASE", "Store"]

T = TypeVar("T")

DEFAULT_DATABASE = "cdp.db"
"""The SQLite file a store opens when given no database."""

_CREATE_ATTEMPTS = 5
"""Tries to create a new store's tables while other processes race to create them too."""


class Store:
    """A database mirroring the accounts of a workspace: SQLite by default, PostgreSQL by URL.

    >>> with Workspace.load("cdp.toml") as workspace, Store("cdp.db") as store:  # doctest: +SKIP
    ...     report = store.sync(workspace)
    ...     frame = store.to_pandas("subscriptions")

    Opening a store creates its tables when they are missing, and upgrades the tables of
    a store written by an older cdp-sdk. The tables are plain SQLAlchemy Core tables
    (:mod:`cdp_sdk.sync.schema`), so any SQL tool can read them. A SQLite store's files
    are created readable by their owner only (0600); an existing one readable by others
    is tightened, with an :class:`InsecureStoreWarning`.

    A run still going when its store is closed (the caller was interrupted: Ctrl-C) is
    marked ``interrupted``; a run whose process died is marked so by the next run.

    A store opened read-only never writes: no table is created, no schema migrated, and a
    SQLite file keeps its journal mode. A SQLite store that exists where this process may
    not write (a read-only file, directory or file system) opens read-only by itself, so
    reading it works; writing then raises :class:`StorePermissionError`.

    Args:
        database: a SQLite file path (``"cdp.db"``) or a SQLAlchemy URL
            (``"sqlite:///cdp.db"``, ``"postgresql://user@host/db"``; plain
            ``postgresql://`` uses psycopg 3 from the ``postgres`` extra).
        echo: log every SQL statement (SQLAlchemy's ``echo``).
        read_only: ``True``: open for reading only (the store must exist); ``False``:
            for writing (a read-only location raises :class:`StorePermissionError`);
            ``None`` (the default): read-only when a SQLite store exists where it cannot
            be written, else for writing.

    Raises:
        StorePermissionError: the store must be written (created, migrated) but its
            location or the database refuses it.
        ConfigurationError: the database cannot be opened, is not a store, or was written
            by a newer cdp-sdk (a newer schema version).
    """

    def __init__(
        self,
        database: str | os.PathLike[str] = DEFAULT_DATABASE,
        *,
        echo: bool = False,
        read_only: bool | None = None,
    ) -> None:
        self.url = database_url(database)
        shown = _shown(self.url)
        sqlite_file = self.url.get_backend_name() == "sqlite" and self.url.database not in (
            None,
            "",
            ":memory:",
        )
        exists = sqlite_file and Path(self.url.database or "").exists()
        if sqlite_file and not Path(self.url.database or "").absolute().parent.is_dir():
            raise ConfigurationError(f"cannot open the store {shown}: no such directory")
        writable = location_writable(self.url)
        if read_only is None:
            read_only = bool(exists) and not writable
        elif not read_only and not writable:
            raise StorePermissionError(
                f"cannot write the store {shown}: this user may not write its file or "
                "directory (or the file system is read-only); open it with read_only=True "
                "to read it"
            )
        if read_only and sqlite_file and not exists:
            raise ConfigurationError(f"no store at {shown} (a read-only store is never created)")
        if not read_only and not writable:
            raise StorePermissionError(
                f"cannot create the store {shown}: this user may not write in its directory "
                "(or the file system is read-only)"
            )
        self.read_only: bool = read_only
        """Whether the store was opened for reading only."""
        self._closed = False
        if not read_only:
            private_sqlite_files(self.url)
        self.engine: Engine = create_store_engine(self.url, echo=echo, read_only=read_only)
        self._running: set[int] = set()
        """The runs of this store object still going (marked interrupted on close)."""
        try:
            self._prepare()
        except SQLAlchemyError as exc:
            self.engine.dispose()
            reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
            kind = StorePermissionError if is_permission_problem(exc) else ConfigurationError
            raise kind(f"cannot open the store {shown}: {reason}") from exc
        except ConfigurationError:
            self.engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"<Store {self}>"

    def __str__(self) -> str:
        """The SQLite file's path, or the URL without its password."""
        return _shown(self.url)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: any use after it raises
        :class:`~cdp_sdk.errors.ClosedError`."""
        return self._closed

    def close(self) -> None:
        """Close the database connections; a run of this store still going (its caller
        was interrupted) is marked ``interrupted`` first. Later calls raise
        :class:`~cdp_sdk.errors.ClosedError`."""
        try:
            if not self._closed:
                self._interrupt_own_runs()
        finally:
            self._closed = True
            self.engine.dispose()

    def _interrupt_own_runs(self) -> None:
        running, self._running = sorted(self._running), set()
        if not running:
            return
        with contextlib.suppress(SQLAlchemyError):  # else the next run marks them
            self.transaction(
                lambda connection: _liveness.mark_interrupted(
                    connection, datetime.now(UTC), ids=running
                )
            )

    def mark_interrupted(self) -> list[SyncReport]:
        """Mark the runs left ``running`` by a process that is gone as ``interrupted``.

        A run is gone when it ran on this host and its process no longer exists, or when
        it has given no sign of life (a heartbeat every 30 s) for 5 minutes; a sync
        running now in another process is left alone. Every run does this when it
        starts. Returns the runs marked, newest first.
        """
        marked = self.transaction(
            lambda connection: _liveness.mark_interrupted(connection, datetime.now(UTC))
        )
        if not marked:
            return []
        return [run for run in self.runs(limit=None) if run.run_id in marked]

    def trial(self, work: Callable[[Connection], object]) -> BaseException | None:
        """Run ``work`` in a transaction that is always rolled back; the error it raised,
        or ``None`` (to find which records of a page the database refuses)."""
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                work(connection)
            except Exception as error:
                return error
            finally:
                transaction.rollback()
        return None

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError(f"the store {self} is closed; open it again")

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql`` (or another SQLAlchemy dialect name)."""
        return self.engine.dialect.name

    # -- transactions (also used by the sync runner, in a worker thread) ----------------

    def transaction(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """Run ``work`` in one transaction: committed if it returns, rolled back if not.

        ``durable=False``: the commit returns before the database has flushed it to disk
        (SQLite ``synchronous=NORMAL`` in its write-ahead log, PostgreSQL
        ``synchronous_commit=off``). The transaction stays atomic and survives the
        process being killed; a power cut or an operating system crash may undo it (with
        every later one), never part of it. Syncs commit their pages so: what such a loss
        undoes, the cursors read again.

        Raises:
            StorePermissionError: the store is read-only (opened so, or refused by its
                location or database).
        """
        self._require_writable()
        try:
            if not durable:
                return _quick_transaction(self.engine, work)
            with self.engine.begin() as connection:
                return work(connection)
        except SQLAlchemyError as exc:
            if is_permission_problem(exc):
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                raise StorePermissionError(f"cannot write the store {self}: {reason}") from exc
            raise

    def _require_writable(self) -> None:
        self._require_open()
        if self.read_only:
            raise StorePermissionError(
                f"the store {self} is open read-only (its location cannot be written, or "
                "read_only=True): nothing was written"
            )

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection, for reading."""
        self._require_open()
        with self.engine.connect() as connection:
            return work(connection)

    # -- syncing -------------------------------------------------------------------------

    def sync(
        self,
        workspace: Workspace,
        *,
        accounts: Iterable[str] | None = None,
        entities: Iterable[Entity | str] | None = None,
        options: SyncOptions | None = None,
        progress: Callable[[SyncEvent], None] | None = None,
        now: datetime | None = None,
        holder: str | None = None,
    ) -> SyncReport:
        """Mirror the workspace's accounts into the store (see :meth:`sync_async`)."""
        _require_sync(workspace, "sync_async")
        try:
            return workspace.run(
                lambda async_workspace: self.sync_async(
                    async_workspace,
                    accounts=accounts,
                    entities=entities,
                    options=options,
                    progress=progress,
                    now=now,
                    holder=holder,
                )
            )
        except BaseException:  # Ctrl-C: the run may still be unwinding in the loop thread
            self._interrupt_own_runs()
            raise

    async def sync_async(
        self,
        workspace: AsyncWorkspace,
        *,
        accounts: Iterable[str] | None = None,
        entities: Iterable[Entity | str] | None = None,
        options: SyncOptions | None = None,
        progress: Callable[[SyncEvent], None] | None = None,
        now: datetime | None = None,
        holder: str | None = None,
    ) -> SyncReport:
        """Mirror the workspace's accounts into the store, asking only for what changed.

        Accounts are read concurrently; an error in one account or entity is recorded in
        the report (and the store) and does not stop the others. Entities a connector
        does not declare are skipped, and reported as such. Every HTTP call is journaled
        in ``api_calls``.

        One sync of an account at a time, whatever process or machine runs it: the sync
        holds a lease on each account it reads (:meth:`leases`), and skips an account
        whose lease another sync holds, reporting its entities as skipped with a detail
        starting ``running elsewhere``.

        Args:
            workspace: the accounts.
            accounts: the accounts to sync (default: all).
            entities: the entities to sync (default: all, in :class:`Entity` order).
            options: history, windows and overlaps (:class:`SyncOptions`).
            progress: called with an :class:`EntityStarted`, a :class:`PageCommitted`
                after each committed page, and an :class:`EntityFinished`, on the event
                loop: keep it quick. An exception it raises fails the entity at hand
                (recorded like any other error).
            now: the instant the run takes as now for its windows and cursors (default:
                the current time); for tests and replays.
            holder: who runs this sync, as other syncs that find its accounts taken show
                it (``"<holder> on <host> pid <pid>"``; default: the host and pid).

        Returns:
            The run's summary, also stored in ``sync_runs`` and ``sync_results``.
        """
        self._require_writable()
        chosen = _entities(entities)
        moment = now if now is not None else datetime.now(UTC)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("now must be an aware datetime")
        run = SyncRun(
            self,
            workspace,
            accounts=workspace.select(accounts),
            entities=chosen,
            options=options or SyncOptions(),
            progress=progress,
            now=moment.astimezone(UTC),
            holder=holder,
        )
        return await run.execute()

    # -- local tags ------------------------------------------------------------------------

    def import_tags(
        self, source: str | os.PathLike[str] | IO[str], *, replace: bool = False
    ) -> TagImport:
        """Load local tags from a CSV file (``iccid,key,value`` with that header).

        Every row is checked first (ICCID, key, duplicates, SIM known in the store) and
        the file is written in one transaction, or not at all. An empty value is a
        label without a value. Each tag goes to every account holding the SIM.

        Args:
            source: a path or an open text file.
            replace: the file is the complete set of local tags: local tags missing from
                it are dropped (those already pushed are removed from the platform at the
                next push). Otherwise the file's tags are merged into the existing ones.

        Raises:
            TagImportError: the file has bad rows (all of them are listed, by line), or is
                not UTF-8.
            StoreError: the database refused the write (nothing was imported).
        """
        self._require_writable()
        if isinstance(source, str | os.PathLike):
            name = os.fspath(source)
            content = _tags.decode_tag_file(Path(source).read_bytes(), name=name)
            rows = _tags.read_tag_csv(io.StringIO(content, newline=""), name=name)
        else:
            name = getattr(source, "name", "<stream>")
            rows = _tags.read_tag_csv(source, name=name)
        try:
            return self.transaction(
                lambda connection: _tags.store_local_tags(connection, rows, replace, name=name)
            )
        except SQLAlchemyError as error:
            failure = _database_failure(error)
        raise StoreError(f"the tags could not be written, nothing was imported: {failure}")

    def tags(self, *, account: str | None = None, iccid: str | None = None) -> list[StoredTag]:
        """Platform and local tags side by side, sorted by account, ICCID, key, source."""
        return self.read(lambda connection: _tags.stored_tags(connection, account, iccid))

    def plan_tag_push(
        self, workspace: BaseWorkspace, *, accounts: Iterable[str] | None = None
    ) -> TagPlan:
        """The platform changes a push of local tags would make; calls nothing."""
        return self.read(lambda connection: _tags.plan(connection, workspace, accounts))

    def push_tags(
        self,
        workspace: Workspace,
        plan: TagPlan | None = None,
        *,
        accounts: Iterable[str] | None = None,
        dry_run: bool = False,
    ) -> TagPushReport:
        """Push local tags to platforms that declare ``update_tags`` (see
        :meth:`push_tags_async`)."""
        if dry_run:
            return TagPushReport(
                plan or self.plan_tag_push(workspace, accounts=accounts), dry_run=True
            )
        return workspace.run(
            lambda async_workspace: self.push_tags_async(async_workspace, plan, accounts=accounts)
        )

    async def push_tags_async(
        self,
        workspace: AsyncWorkspace,
        plan: TagPlan | None = None,
        *,
        accounts: Iterable[str] | None = None,
        dry_run: bool = False,
    ) -> TagPushReport:
        """Apply ``plan`` (default: :meth:`plan_tag_push` now) through ``update_tags``.

        With ``dry_run`` the plan is returned and nothing is called. Otherwise each SIM's
        change is one call; a failure is reported and does not stop the others. Pushed
        tags are written to the store as platform tags at once (the next sync confirms
        them), and the calls are journaled under a ``tag_push`` run.
        """
        if plan is None:
            plan = await _in_thread(lambda: self.plan_tag_push(workspace, accounts=accounts))
        if dry_run:
            return TagPushReport(plan, dry_run=True)
        return await _tags.push(self, workspace, plan)

    # -- reading the store ---------------------------------------------------------------

    def runs(self, *, limit: int | None = 20, ids: Iterable[int] | None = None) -> list[SyncReport]:
        """The latest runs (or the runs numbered ``ids``), newest first, with their
        per-entity results."""
        chosen = None if ids is None else sorted(set(ids))
        return self.read(lambda connection: _runs(connection, limit, chosen))

    def leases(self, *, account: str | None = None) -> list[Lease]:
        """The accounts being synced now: who holds each one's lease, and until when
        (a lease past its expiry is free to take)."""
        return self.read(lambda connection: _lease.leases(connection, account))

    def cursors(self, *, account: str | None = None) -> list[Cursor]:
        """Where the next sync of each entity starts."""

        def read(connection: Connection) -> list[Cursor]:
            query = select(cursors).order_by(cursors.c.account, cursors.c.entity)
            if account is not None:
                query = query.where(cursors.c.account == account)
            return [
                Cursor(r.account, Entity(r.entity), r.position, r.run_id, r.updated_at)
                for r in connection.execute(query)
            ]

        return self.read(read)

    def accounts(self) -> list[str]:
        """The accounts that have data in the store."""

        def read(connection: Connection) -> list[str]:
            names: set[str] = set()
            for table in (*ENTITY_TABLES, cursors):
                names.update(connection.scalars(select(table.c.account).distinct()))
            return sorted(names)

        return self.read(read)

    def table(self, name: str) -> Table:
        """The table called ``name`` (see :data:`cdp_sdk.sync.schema.tables`)."""
        try:
            return tables[name]
        except KeyError:
            valid = ", ".join(sorted(tables))
            raise ValueError(f"unknown table {name!r} (tables: {valid})") from None

    def rows(self, table: str | Table, *, account: str | None = None) -> list[dict[str, Any]]:
        """Every row of ``table`` (optionally of one account), in primary-key order."""
        selected = self.table(table) if isinstance(table, str) else table

        def read(connection: Connection) -> list[dict[str, Any]]:
            query = select(selected).order_by(*selected.primary_key.columns)
            if account is not None and "account" in selected.c:
                query = query.where(selected.c.account == account)
            return [dict(row._mapping) for row in connection.execute(query)]

        return self.read(read)

    def to_arrow(self, table: str | Table, *, account: str | None = None) -> pyarrow.Table:
        """A store table as a ``pyarrow.Table`` (needs the ``frames`` extra).

        Column types follow the table: exact decimals become ``decimal128`` (or
        ``decimal256``), instants ``timestamp[us, UTC]``, JSON columns JSON text.
        """
        from cdp_sdk import frames

        selected = self.table(table) if isinstance(table, str) else table
        columns = [(column.name, _column_kind(column.type)) for column in selected.columns]
        rows = self.rows(selected, account=account)
        return frames.arrow_table(columns, ([row[name] for name, _ in columns] for row in rows))

    def to_pandas(self, table: str | Table, *, account: str | None = None) -> pandas.DataFrame:
        """A store table as a ``pandas.DataFrame`` (needs the ``frames`` extra); types as
        :func:`cdp_sdk.frames.to_pandas` gives them."""
        from cdp_sdk import frames

        return frames.arrow_to_pandas(self.to_arrow(table, account=account))

    # -- deletion --------------------------------------------------------------------------

    def purge_account(self, account: str) -> PurgeReport:
        """Delete everything the store holds about ``account``, in one transaction.

        Entities, platform and local tags, cursors, journal rows (HTTP calls and applied
        changes) and run results go, as do runs left with no result. On SQLite the freed
        pages are overwritten (``secure_delete``) and the write-ahead log is truncated, so
        the data does not linger in the file; PostgreSQL reclaims the space at its next
        vacuum.
        """

        def purge(connection: Connection) -> dict[str, int]:
            deleted: dict[str, int] = {}
            for table in (*ENTITY_TABLES, cursors, api_calls, sync_results, change_journal):
                result = connection.execute(delete(table).where(table.c.account == account))
                deleted[table.name] = result.rowcount
            orphans = delete(sync_runs).where(
                sync_runs.c.status != "running",
                ~exists().where(sync_results.c.run_id == sync_runs.c.id),
                ~exists().where(api_calls.c.run_id == sync_runs.c.id),
                ~exists().where(change_journal.c.run_id == sync_runs.c.id),
            )
            deleted[sync_runs.name] = connection.execute(orphans).rowcount
            return deleted

        deleted = self.transaction(purge)
        if self.dialect == "sqlite":
            with self.engine.connect() as connection:
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return PurgeReport(account, deleted)

    # -- internals -------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self.read_only:
            self.read(self._check_version)
            return
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                self._create_tables()
                break
            except (IntegrityError, OperationalError, ProgrammingError) as exc:
                # Workers opening a new store at the same moment race to create its tables:
                # the loser finds them made, and looks again.
                if not _created_meanwhile(exc) or attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))

        def version(connection: Connection) -> None:
            found = connection.scalar(
                select(store_info.c.value).where(store_info.c.name == "schema_version")
            )
            if found is None:
                upsert(
                    connection,
                    store_info,
                    [{"name": "schema_version", "value": str(SCHEMA_VERSION)}],
                )
            elif int(found) > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the store has schema version {found}, newer than this cdp-sdk reads "
                    f"({SCHEMA_VERSION}); upgrade cdp-sdk"
                )
            elif int(found) < SCHEMA_VERSION:
                migrate(connection, int(found))
                upsert(
                    connection,
                    store_info,
                    [{"name": "schema_version", "value": str(SCHEMA_VERSION)}],
                )

        self.transaction(version)

    def _create_tables(self) -> None:
        """Create the tables that are missing, in one transaction. (SQLite's Python driver
        runs each ``CREATE`` in a transaction of its own unless one is begun explicitly:
        a new store then paid a flush to disk per table and index.) On SQLite the write
        lock is taken first (``BEGIN IMMEDIATE``): processes opening a new store at once
        then wait their turn, where a read turned write would fail as "locked"."""
        with self.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            metadata.create_all(connection)
            connection.commit()

    def _check_version(self, connection: Connection) -> None:
        """A read-only store's schema version: one this cdp-sdk reads as it is."""
        from sqlalchemy import inspect

        if not inspect(connection).has_table(store_info.name):
            raise ConfigurationError(f"{self} is not a cdp-sdk store (no store_info table)")
        found = connection.scalar(
            select(store_info.c.value).where(store_info.c.name == "schema_version")
        )
        if found is None or int(found) != SCHEMA_VERSION:
            newer = found is not None and int(found) > SCHEMA_VERSION
            raise ConfigurationError(
                f"the store has schema version {found}, "
                + (
                    f"newer than this cdp-sdk reads ({SCHEMA_VERSION}); upgrade cdp-sdk"
                    if newer
                    else f"older than this cdp-sdk's ({SCHEMA_VERSION}); open it once "
                    "where it can be written to upgrade it"
                )
            )


def _shown(url: Any) -> str:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return str(url.database)
    return str(url.render_as_string(hide_password=True))


def _created_meanwhile(error: SQLAlchemyError) -> bool:
    """Whether ``error`` says a table (or its type) was created by someone else meanwhile."""
    text = str(getattr(error, "orig", None) or error).lower()
    return "already exists" in text or "duplicate key" in text


def _database_failure(error: SQLAlchemyError) -> str:
    """The first line of what the database said (no statement, no values), redacted."""
    origin = getattr(error, "orig", None) or error
    lines = str(origin).strip().splitlines() or [type(origin).__name__]
    return redact_text(f"{type(origin).__name__}: {lines[0]}")


def _require_sync(workspace: object, async_method: str) -> None:
    from cdp_sdk.workspace import Workspace

    if not isinstance(workspace, Workspace):
        raise TypeError(
            f"expected a Workspace; with an AsyncWorkspace, await Store.{async_method}()"
        )


def _column_kind(column_type: Any) -> ColumnKind:
    """How :mod:`cdp_sdk.frames` types a column of the store."""
    from cdp_sdk.frames import ColumnKind

    kinds: tuple[tuple[type, ColumnKind], ...] = (
        (UtcDateTime, ColumnKind.DATETIME),
        (ExactDecimal, ColumnKind.DECIMAL),
        (JsonDocument, ColumnKind.JSON),
        (JSON, ColumnKind.JSON),  # a store table reflected by the caller
        (Boolean, ColumnKind.BOOLEAN),
        (Integer, ColumnKind.INTEGER),  # BigInteger too
        (Float, ColumnKind.FLOAT),
        (DateTime, ColumnKind.DATETIME),
        (Date, ColumnKind.DATE),
    )
    for base, kind in kinds:
        if isinstance(column_type, base):
            return kind
    return ColumnKind.TEXT


def _entities(entities: Iterable[Entity | str] | None) -> list[Entity]:
    if entities is None:
        return list(Entity)
    chosen: set[Entity] = set()
    for entity in [entities] if isinstance(entities, str) else entities:
        try:
            chosen.add(Entity(entity))
        except ValueError:
            valid = ", ".join(e.value for e in Entity)
            raise ValueError(f"unknown entity {entity!r} (entities: {valid})") from None
    return [entity for entity in Entity if entity in chosen]


def _runs(connection: Connection, limit: int | None, ids: list[int] | None) -> list[SyncReport]:
    query = select(sync_runs).order_by(sync_runs.c.id.desc())
    if ids is not None:
        query = query.where(sync_runs.c.id.in_(ids))
    if limit is not None:
        query = query.limit(limit)
    runs = list(connection.execute(query))
    results: dict[int, list[EntityResult]] = {run.id: [] for run in runs}
    if runs:
        found = connection.execute(
            select(sync_results).where(sync_results.c.run_id.in_(list(results)))
        )
        for r in found:
            results[r.run_id].append(
                EntityResult(
                    account=r.account,
                    entity=Entity(r.entity),
                    status=r.status,
                    records=r.records,
                    pages=r.pages,
                    requests=r.requests,
                    duration=r.duration,
                    error=r.error,
                    detail=r.detail,
                    cleaned=r.cleaned,
                    quarantined=r.quarantined,
                )
            )
    return [
        SyncReport(
            run_id=run.id,
            kind=run.kind,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration=run.duration,
            results=tuple(sorted(results[run.id], key=_result_order)),
        )
        for run in runs
    ]


def _result_order(result: EntityResult) -> tuple[str, int]:
    """Results in the order a run produces them: by account, then entity order."""
    return result.account, list(Entity).index(result.entity)


def _quick_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """:meth:`Store.transaction` with ``durable=False``."""
    with engine.connect() as connection:
        dialect = connection.dialect.name
        if dialect == "sqlite":  # outside a transaction: SQLite refuses it inside one
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
            connection.commit()
        try:
            with connection.begin():
                if dialect == "postgresql":
                    connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                return work(connection)
        finally:
            if dialect == "sqlite":
                connection.exec_driver_sql(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
                connection.commit()


async def _in_thread(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)
