"""Database plumbing: URLs, engines per dialect, and upserts."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from sqlalchemy import Engine, Table, and_, create_engine, delete, event, insert, or_
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from cdp_sdk._redact import protect_loggers
from cdp_sdk._warnings import warn
from cdp_sdk.errors import ConfigurationError
from cdp_sdk.sync._errors import InsecureStoreWarning

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert

__all__ = [
    "PRIVATE_MODE",
    "SQLITE_SUFFIXES",
    "SQLITE_SYNCHRONOUS",
    "chunks",
    "create_store_engine",
    "database_url",
    "is_permission_problem",
    "json_text",
    "location_writable",
    "private_sqlite_files",
    "upsert",
]

_POSTGRES_DRIVER = "postgresql+psycopg"

protect_loggers()  # SQLAlchemy's loggers exist now that it is imported: redact them too

PRIVATE_MODE = 0o600
"""The mode of the SQLite files of a store: they hold ICCIDs, IMSIs and MSISDNs."""

SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""The store file and the files SQLite keeps beside it."""

SQLITE_SYNCHRONOUS = "FULL"
"""How a SQLite store's commits reach the disk: each one flushed before it returns
(transactions that ask for less set ``NORMAL`` for themselves)."""


def database_url(database: str | os.PathLike[str]) -> URL:
    """The SQLAlchemy URL of ``database``: a URL, or a path to a SQLite file.

    ``postgresql://`` and ``postgres://`` URLs get the psycopg (3) driver of the
    ``postgres`` extra.
    """
    text = os.fspath(database)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ConfigurationError("the database URL cannot be read") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername=_POSTGRES_DRIVER)
    return url


def location_writable(url: URL) -> bool:
    """Whether this process may write a SQLite store's file and directory (where SQLite
    keeps its journal); always ``True`` for other databases and in-memory stores."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return True
    path = Path(url.database or "")
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(path.parent, os.W_OK)  # the parent of "cdp.db" is "."


_PERMISSION_TEXTS = (
    "readonly database",
    "read-only",
    "permission denied",
    "access permission",
    "must be owner",
)


def is_permission_problem(error: BaseException) -> bool:
    """Whether a database error says the store may not be written (or opened)."""
    original = getattr(error, "orig", None) or error
    if getattr(original, "sqlstate", None) == "42501":  # PostgreSQL: insufficient privilege
        return True
    text = str(original).lower()
    return any(marker in text for marker in _PERMISSION_TEXTS)


def _read_only_sqlite(path: str) -> Any:
    """A connection factory for a SQLite file opened read-only.

    ``mode=ro`` never writes the database. In a directory this process cannot write,
    SQLite cannot make the shared-memory file a write-ahead-log database needs; the file
    is then read as ``immutable`` (nothing can change it from here anyway).
    """
    target = f"file:{quote(str(Path(path).absolute()))}"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(f"{target}?mode=ro", uri=True, check_same_thread=False)
        try:
            connection.execute("PRAGMA schema_version").fetchone()  # the first read
        except sqlite3.OperationalError:
            connection.close()
            if os.access(Path(path).absolute().parent, os.W_OK):
                raise
            return sqlite3.connect(
                f"{target}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
        return connection

    return connect


_JSON = json.JSONEncoder(allow_nan=False)


def json_text(value: Any) -> str:
    """``value`` as JSON both databases take: a ``NaN`` or infinite number (which Python
    reads from vendor JSON, but JSON and PostgreSQL do not have) becomes its name."""
    if not value and isinstance(value, dict):
        return "{}"
    try:
        return _JSON.encode(value)
    except ValueError:
        return _JSON.encode(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite store (``None``: not SQLite, or in memory)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):  # a URI filename: leave it to SQLite
        return None
    return Path(url.database)


def private_sqlite_files(url: URL) -> None:
    """Make the SQLite files of the store at ``url`` readable by their owner only.

    A new store file is created with mode 0600 before SQLite opens it, so the files
    SQLite adds beside it (``-wal``, ``-shm``, ``-journal``), which take the mode of the
    store file, are 0600 too. An existing file that grants group or others any access is
    tightened to its owner's bits, with an :class:`InsecureStoreWarning` saying so (or,
    when it cannot be changed, asking for ``chmod 600``). Nothing changes elsewhere than
    on POSIX systems.
    """
    path = _sqlite_path(url)
    if path is None or os.name != "posix":
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    except FileExistsError:
        pass
    except OSError:  # a missing directory, say: SQLite reports it when it opens
        return
    for suffix in SQLITE_SUFFIXES:
        file = Path(f"{path}{suffix}")
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except OSError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(file, mode & 0o700)
        except OSError:
            warn(
                f"the store file {file} is readable or writable by other users "
                f"(mode {mode:04o}) and could not be changed: chmod 600 it",
                InsecureStoreWarning,
            )
        else:
            warn(
                f"the store file {file} was readable or writable by other users "
                f"(mode {mode:04o}); its mode is now {mode & 0o700:04o}",
                InsecureStoreWarning,
            )


def create_store_engine(url: URL, *, echo: bool = False, read_only: bool = False) -> Engine:
    """An engine for the store at ``url``.

    SQL parameters are never shown, neither in SQLAlchemy's log (``echo``) nor in the text
    of its errors: they hold ICCIDs and the other identifiers.

    SQLite: the write-ahead log (readers, e.g. a notebook, do not block a sync), a busy
    timeout, and ``secure_delete`` so that purged rows are overwritten on disk. An
    in-memory database is one connection shared by all threads.

    ``read_only``: nothing is ever written (SQLite: the file is opened ``mode=ro`` and the
    journal mode is left as it is; PostgreSQL: read-only transactions).
    """
    if url.get_backend_name() != "sqlite":
        options = {}
        if read_only and url.get_backend_name() == "postgresql":
            options = {"options": "-c default_transaction_read_only=on"}
        return create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            json_serializer=json_text,
            pool_pre_ping=True,
            connect_args=options,
        )
    memory = url.database in (None, "", ":memory:")
    if read_only and not memory:
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            json_serializer=json_text,
            creator=_read_only_sqlite(url.database or ""),
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA query_only=ON")
                cursor.execute("PRAGMA busy_timeout=30000")
            finally:
                cursor.close()

        return engine
    if memory:
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            json_serializer=json_text,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    else:
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            json_serializer=json_text,
            connect_args={"timeout": 30},
        )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                _write_ahead_log(cursor)
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
        finally:
            cursor.close()

    return engine


def _write_ahead_log(cursor: Any, *, wait: float = 30.0) -> None:
    """Put the file in WAL mode. Processes opening a new file at once race to switch it,
    and SQLite answers the loser "database is locked" at once, without its busy timeout:
    the switch is tried again for up to ``wait`` seconds (the busy timeout's length)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """``values`` in slices of at most ``size`` (bounded ``IN (...)`` lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def delete_in(
    connection: Connection,
    table: Table,
    column: str,
    values: Sequence[Any],
    **equal: Any,
) -> None:
    """Delete the rows of ``table`` whose ``column`` is one of ``values`` and whose
    columns named in ``equal`` hold the given values.

    On SQLite one ``DELETE`` is prepared and executed once per value, with no statement
    compiled per call (a sync deletes a page's platform tags so, page after page);
    elsewhere ``IN (...)`` lists of at most 500 values.
    """
    if not values:
        return
    dialect = connection.dialect
    if dialect.name != "sqlite":
        conditions = [table.c[name] == value for name, value in equal.items()]
        for part in chunks(values):
            connection.execute(delete(table).where(*conditions, table.c[column].in_(part)))
        return
    names = [*equal, column]
    processors = [_bind_processor(dialect, table, name) for name in names]
    fixed = tuple(
        value if process is None else process(value)
        for value, process in zip(equal.values(), processors[:-1], strict=True)
    )
    last = processors[-1]
    quote = dialect.identifier_preparer.quote
    # Only identifiers (quoted by the dialect) are written into the SQL; values are bound.
    sql = (
        f"DELETE FROM {dialect.identifier_preparer.format_table(table)} "  # nosec B608
        f"WHERE {' AND '.join(f'{quote(name)} = ?' for name in names)}"
    )
    connection.exec_driver_sql(
        sql, [(*fixed, value if last is None else last(value)) for value in values]
    )


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows``, or update the existing rows with the same primary key.

    Only the columns present in the rows (and ``constants``) are updated (SQLite and
    PostgreSQL). Rows repeating a key within ``rows`` collapse to the last one
    (PostgreSQL refuses to update a row twice in one statement). ``constants``: columns
    whose value is the same in every row (a sync's run id and time), given once.

    On SQLite the statement is prepared once per table and set of columns and executed
    with plain tuples, each value converted by its column type as SQLAlchemy would
    (constants converted once): a page's upsert costs one ``executemany``.
    """
    if not rows:
        return
    fixed = dict(constants or {})
    dialect = connection.dialect
    if dialect.name == "sqlite":
        prepared = _prepared(dialect, table, tuple(rows[0]), tuple(fixed))
        connection.exec_driver_sql(prepared.sql, prepared.parameters(rows, fixed))
        return
    keys = [column.name for column in table.primary_key.columns]
    key_of = itemgetter(*keys)
    whole = [{**row, **fixed} for row in rows] if fixed else rows
    unique = list({key_of(row): row for row in whole}.values())
    columns = [name for name in unique[0] if name not in keys]
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        connection.execute(_on_conflict(postgresql_insert(table), keys, columns), unique)
    else:
        # Another database: delete the rows by key, then insert them (same transaction);
        # columns missing from the rows are reset to their defaults there.
        for part in chunks(unique):
            connection.execute(
                delete(table).where(
                    or_(*(and_(*(table.c[k] == row[k] for k in keys)) for row in part))
                )
            )
        connection.execute(insert(table), unique)


def _on_conflict(
    statement: PostgresqlInsert, keys: list[str], columns: list[str]
) -> PostgresqlInsert:
    if not columns:
        return statement.on_conflict_do_nothing(index_elements=keys)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )


@dataclass(frozen=True)
class _PreparedUpsert:
    """A SQLite upsert of one table and set of columns: its SQL, and how each row's
    values become the statement's parameters (the row's columns, then the constants,
    then the defaults of the table's columns given neither way)."""

    sql: str
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    constant_processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[Any, ...]

    def parameters(
        self, rows: Sequence[Mapping[str, Any]], constants: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        tail = (
            *(
                value if process is None else process(value)
                for value, process in zip(constants.values(), self.constant_processors, strict=True)
            ),
            *self.defaults,
        )
        converted = [(index, process) for index, process in enumerate(self.processors) if process]
        values_of = itemgetter(*self.columns)
        single = len(self.columns) == 1
        parameters = []
        for row in rows:
            values = [values_of(row)] if single else list(values_of(row))
            for index, process in converted:
                values[index] = process(values[index])
            parameters.append((*values, *tail))
        return parameters


def _bind_processor(dialect: Dialect, table: Table, name: str) -> Callable[[Any], Any] | None:
    """How the column ``name`` converts a Python value for ``dialect`` (``None``: as it is)."""
    return cast(
        "Callable[[Any], Any] | None",
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect),
    )


_PREPARED: weakref.WeakKeyDictionary[Dialect, dict[tuple[Any, ...], _PreparedUpsert]] = (
    weakref.WeakKeyDictionary()
)


def _prepared(
    dialect: Dialect, table: Table, columns: tuple[str, ...], constants: tuple[str, ...]
) -> _PreparedUpsert:
    """The upsert of ``columns`` and ``constants`` into ``table`` (made once, then kept)."""
    known = _PREPARED.setdefault(dialect, {})
    key = (table, columns, constants)
    found = known.get(key)
    if found is not None:
        return found

    given = [*columns, *constants]
    defaults = {  # as SQLAlchemy's insert adds them: the insert takes them, an update not
        column.name: column.default.arg
        for column in table.columns
        if column.name not in given and isinstance(column.default, ScalarElementColumnDefault)
    }
    quote = dialect.identifier_preparer.quote
    keys = [column.name for column in table.primary_key.columns]
    updated = [name for name in given if name not in keys]
    # Only identifiers (quoted by the dialect) are written into the SQL; values are bound.
    assignments = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in updated)
    conflict = f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO " + (
        "UPDATE SET " + assignments  # nosec B608
        if updated
        else "NOTHING"
    )
    names = [*given, *defaults]
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # nosec B608
        f"({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join('?' for _ in names)}) {conflict}"
    )
    found = _PreparedUpsert(
        sql,
        columns,
        tuple(_bind_processor(dialect, table, name) for name in columns),
        tuple(_bind_processor(dialect, table, name) for name in constants),
        tuple(
            value if (process := _bind_processor(dialect, table, name)) is None else process(value)
            for name, value in defaults.items()
        ),
    )
    known[key] = found
    return found
