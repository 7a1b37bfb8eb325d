"""The database plumbing under the store, at its edges: upserts of keys only, of a single
column and of rows that leave columns to their defaults; upserts on a database other than
SQLite and PostgreSQL; a unique key other than the primary key; what a permission problem
is; the switch to the write-ahead log while another process holds the file; bounded ``IN``
lists; a store on a read-only location read from worker threads; the files a store makes
private, and the stores that have no file of their own; the engine a store opens (SQL
parameters never logged nor quoted, its JSON serializer, read-only PostgreSQL
transactions, connections the server ended, one in-memory database for every thread, the
busy timeout from the first statement)."""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from psycopg import errors as psycopg_errors
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Dialect,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.types import TypeDecorator

from cdp_sdk.sync import InsecureStoreWarning, Store, StorePermissionError, _db, schema
from cdp_sdk.sync._db import chunks, database_url, upsert
from cdp_sdk.sync._types import ExactDecimal, UtcDateTime
from test_store_access import RunReadOnly, run_read_only, synced  # noqa: F401
from test_sync_runs import mode
from test_sync_upsert import SYNCED, by_sqlalchemy, raw

SIM = "8988303000000000010"
TAG = {"account": "eu", "iccid": SIM, "source": "local", "key": "site"}


def tags_of(store: Store) -> list[tuple[str, str | None, bool]]:
    return sorted((row["key"], row["value"], row["removed"]) for row in store.rows("tags"))


# -- upserts on SQLite: the prepared statement ---------------------------------------------


def test_a_row_of_keys_only_is_inserted_and_then_leaves_the_stored_row_as_it_is(
    any_store: Store,
) -> None:
    """On SQLite (the prepared statement) as on PostgreSQL (``ON CONFLICT``): an upsert
    updates the columns it is given, and leaves the others as they are."""
    any_store.transaction(lambda c: upsert(c, schema.tags, [TAG]))
    assert tags_of(any_store) == [("site", None, False)]

    any_store.transaction(lambda c: upsert(c, schema.tags, [{**TAG, "value": "paris"}]))
    any_store.transaction(lambda c: upsert(c, schema.tags, [TAG, TAG]))

    assert tags_of(any_store) == [("site", "paris", False)]


def test_rows_of_a_single_column_take_the_rest_from_the_constants(tmp_path: Path) -> None:
    same_sim = {"account": "eu", "iccid": SIM, "source": "local"}
    with Store(tmp_path / "cdp.db") as store:
        store.transaction(
            lambda c: upsert(
                c,
                schema.tags,
                [{"key": "site"}, {"key": "floor"}],
                constants={**same_sim, "value": "paris"},
            )
        )
        store.transaction(  # a single column converted by its type (an instant)
            lambda c: upsert(c, schema.tags, [{"pushed_at": SYNCED}], constants=TAG)
        )

        assert tags_of(store) == [("floor", "paris", False), ("site", "paris", False)]
        assert [row["pushed_at"] for row in store.rows("tags")] == [None, SYNCED]


def gadgets() -> Table:
    """A table of the caller's own whose columns have defaults of every kind: plain (no
    conversion on SQLite) and converted by their type (instant, exact decimal, JSON)."""
    return Table(
        "gadgets",
        MetaData(),
        Column("id", Text, primary_key=True),
        Column("note", Text),
        Column("count", Integer, nullable=False, default=0),
        Column("label", Text, default="new"),
        Column("seen_at", UtcDateTime, default=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        Column("price", ExactDecimal, default=Decimal("1.50")),
        Column("extra", JSON, default=[1, "two"]),
    )


def test_columns_the_rows_leave_out_get_the_defaults_sqlalchemy_gives(tmp_path: Path) -> None:
    table = gadgets()
    pages: list[list[dict[str, Any]]] = [
        [{"id": "a", "note": "first"}, {"id": "b", "note": None}],
        [{"id": "a", "count": 5}],  # an update sets what it is given, not the defaults
        [{"id": "a", "note": "again"}, {"id": "c", "note": "third"}],
    ]
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    for path in (ours, theirs):
        with Store(path) as store:
            store.transaction(table.create)
            for rows in pages:
                if path == ours:
                    store.transaction(partial(upsert, table=table, rows=rows))
                else:
                    store.transaction(partial(by_sqlalchemy, table=table, rows=rows, constants={}))
    stored = raw(ours, table)
    assert stored == raw(theirs, table)
    assert stored[0] == (
        *("text", "a", "text", "again", "integer", 5, "text", "new"),
        *("text", "2024-01-02T03:04:05.000000Z", "text", "1.50", "text", '[1, "two"]'),
    )
    assert len(stored) == 3


class Counted(TypeDecorator[str]):
    """Text whose type says how often it was asked for its conversion of bound values."""

    impl = Text
    cache_ok = True
    asked: list[str] = []  # one list for the copies SQLAlchemy makes of the type

    def bind_processor(self, dialect: Dialect) -> Any:
        self.asked.append(dialect.name)
        return super().bind_processor(dialect)


def test_the_upsert_of_a_table_and_its_columns_is_prepared_once(tmp_path: Path) -> None:
    """A sync writes page after page to the same table: the statement and the conversion of
    each column are made for the first page only."""
    table = Table("labels", MetaData(), Column("id", Text, primary_key=True), Column("x", Counted))
    Counted.asked.clear()
    with Store(tmp_path / "cdp.db") as store:
        store.transaction(table.create)
        for page in range(3):
            store.transaction(partial(upsert, table=table, rows=[{"id": "a", "x": f"{page}"}]))
        assert Counted.asked == ["sqlite"]
        store.transaction(  # other columns: another statement
            lambda c: upsert(c, table, [{"x": "z"}], constants={"id": "b"})
        )
        assert Counted.asked == ["sqlite", "sqlite"]
        assert store.read(lambda c: c.execute(select(table)).all()) == [("a", "2"), ("b", "z")]


# -- upserts on another database: the rows of a key deleted, then inserted -----------------


def test_on_another_database_the_rows_of_the_keys_given_are_replaced() -> None:
    """A database other than SQLite and PostgreSQL (SQLite standing in, under another
    dialect name): the stored rows of the keys given are replaced whole (the columns the
    rows leave out get their defaults), rows repeating a key collapse to the last one, and
    the rows of other keys stay."""
    parts = Table(
        "parts",
        MetaData(),
        Column("bin", Text, primary_key=True),
        Column("id", Text, primary_key=True),
        Column("note", Text),
        Column("count", Integer, nullable=False, default=0),
    )
    engine = create_engine("sqlite://")
    engine.dialect.name = "another"
    with engine.begin() as connection:
        parts.create(connection)
        upsert(
            connection,
            parts,
            [{"id": "a", "note": "first", "count": 1}, {"id": "b", "note": "second", "count": 2}],
            constants={"bin": "x"},
        )
        upsert(connection, parts, [{"bin": "y", "id": "a", "note": "elsewhere", "count": 3}])
        upsert(
            connection,
            parts,
            [{"id": "a", "note": "again"}, {"id": "a", "note": "last"}],
            constants={"bin": "x"},
        )
        stored = sorted(connection.execute(select(parts)).all())
    engine.dispose()

    assert stored == [("x", "a", "last", 0), ("x", "b", "second", 2), ("y", "a", "elsewhere", 3)]


# -- a unique key other than the primary key, on both databases ----------------------------


def test_a_row_of_keys_only_that_clashes_with_another_unique_key_is_refused(
    any_store: Store,
) -> None:
    """Only a row with the same primary key is left as it is: a clash on another unique
    key is the database's error, on PostgreSQL as on SQLite (not a row silently dropped)."""
    seats = Table(
        "seats",
        MetaData(),
        Column("row", Text, primary_key=True),
        Column("seat", Integer, primary_key=True, autoincrement=False),
        UniqueConstraint("row", name="one_seat_a_row"),
    )

    def rows(connection: Connection) -> list[tuple[Any, ...]]:
        return list(connection.execute(select(seats)).all())

    any_store.transaction(seats.create)
    try:
        any_store.transaction(lambda c: upsert(c, seats, [{"row": "A", "seat": 1}]))
        any_store.transaction(lambda c: upsert(c, seats, [{"row": "A", "seat": 1}]))
        assert any_store.read(rows) == [("A", 1)]

        clash = r"one_seat_a_row|UNIQUE constraint failed: seats\.row"  # PostgreSQL | SQLite
        with pytest.raises(IntegrityError, match=clash):
            any_store.transaction(lambda c: upsert(c, seats, [{"row": "A", "seat": 2}]))

        assert any_store.read(rows) == [("A", 1)]
    finally:
        any_store.transaction(seats.drop)


# -- what a permission problem is -----------------------------------------------------------


def test_a_refusal_for_privilege_is_a_permission_problem_whatever_its_words(
    tmp_path: Path,
) -> None:
    """PostgreSQL says "insufficient privilege" by its SQLSTATE (42501), in words that vary
    ("must be a member of role ..."): the store reads the state, not only the words."""

    def refused(connection: Connection) -> None:
        orig = psycopg_errors.InsufficientPrivilege("must be a member of role owner")
        raise ProgrammingError("ALTER TABLE tags OWNER TO owner", {}, orig)

    def missing(connection: Connection) -> None:
        orig = psycopg_errors.UndefinedTable('relation "tags" does not exist')
        raise ProgrammingError("SELECT", {}, orig)

    path = tmp_path / "cdp.db"
    with Store(path) as store:
        with pytest.raises(StorePermissionError) as error:
            store.transaction(refused)
        assert str(error.value) == f"cannot write the store {path}: must be a member of role owner"
        with pytest.raises(ProgrammingError, match="does not exist"):  # not about permissions
            store.transaction(missing)


# -- the switch to the write-ahead log ------------------------------------------------------


class Cursor:
    """A SQLite cursor answering the journal mode switch with ``answers`` in turn (an
    error, or ``None``: switched)."""

    def __init__(self, *answers: sqlite3.OperationalError | None) -> None:
        self.answers = list(answers)
        self.statements: list[str] = []

    def execute(self, statement: str) -> None:
        self.statements.append(statement)
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer


class Clock:
    """``time`` for ``_db``: ``monotonic`` reads ``readings`` in turn (failing when read
    more often), ``sleep`` is recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *readings: float) -> None:
        self.readings = list(readings)
        self.slept: list[float] = []
        monkeypatch.setattr(
            _db, "time", SimpleNamespace(monotonic=self.now, sleep=self.slept.append)
        )

    def now(self) -> float:
        assert self.readings, "the clock was read more often than expected"
        return self.readings.pop(0)


LOCKED = sqlite3.OperationalError("database is locked")


def test_a_file_another_process_is_switching_is_tried_again_until_it_is_switched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch, 0.0, 0.01, 0.02)
    cursor = Cursor(LOCKED, LOCKED, None)

    _db._write_ahead_log(cursor)

    assert [s.upper() for s in cursor.statements] == ["PRAGMA JOURNAL_MODE=WAL"] * 3
    assert clock.slept == [0.01, 0.01]


def test_a_lock_held_longer_than_the_busy_timeout_is_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tried for 30 seconds (the store's busy timeout for SQLite), neither less nor more."""
    clock = Clock(monkeypatch, 0.0, 15.0, 30.0, 30.5)
    cursor = Cursor(LOCKED, LOCKED, LOCKED, None)

    with pytest.raises(sqlite3.OperationalError) as error:
        _db._write_ahead_log(cursor)

    assert error.value is LOCKED
    assert len(cursor.statements) == 3
    assert clock.slept == [0.01, 0.01]


def test_another_failure_to_switch_is_the_error_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch, 0.0, 0.0)
    failure = sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError) as error:
        _db._write_ahead_log(Cursor(failure, None))

    assert error.value is failure
    assert clock.slept == []


# -- bounded IN lists -----------------------------------------------------------------------


def test_values_come_in_slices_of_at_most_500() -> None:
    assert [len(part) for part in chunks(list(range(1001)))] == [500, 500, 1]
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks([])) == []


# -- a store on a read-only location --------------------------------------------------------


def test_a_store_on_a_read_only_location_is_read_from_worker_threads(
    synced: Path,  # noqa: F811
    run_read_only: RunReadOnly,  # noqa: F811
) -> None:
    """Where SQLite cannot make the write-ahead log's shared-memory file, the store is read
    as immutable, from any thread too."""
    done = run_read_only(
        """
        import sys
        from concurrent.futures import ThreadPoolExecutor
        from pathlib import Path
        from cdp_sdk.sync import Store

        with Store(Path(sys.argv[1]) / "cdp.db") as store:
            print("read_only", store.read_only, len(store.rows("subscriptions")))
            with ThreadPoolExecutor(4) as pool:
                counts = pool.map(lambda _: len(store.rows("subscriptions")), range(8))
                print("threads", sorted(counts))
        """,
        synced.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["read_only True 12", f"threads {[12] * 8}"]


# -- the files a store makes private ----------------------------------------------------------


posix_modes = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@posix_modes
def test_a_private_store_file_does_not_end_the_check_of_the_files_beside_it(
    tmp_path: Path,
) -> None:
    """Every access of group and others is taken away, execute included; the warning says
    what the mode now is (the line it names: ``tests/test_warning_origin.py``)."""
    database, journal = tmp_path / "cdp.db", tmp_path / "cdp.db-journal"
    Store(database).close()
    journal.write_bytes(b"")
    journal.chmod(0o757)

    with pytest.warns(InsecureStoreWarning) as warned:
        Store(database).close()

    assert (mode(database), mode(journal)) == (0o600, 0o700)
    assert [str(w.message) for w in warned] == [
        f"the store file {journal} was readable or writable by other users (mode 0757); "
        "its mode is now 0700"
    ]


# -- stores without a file of their own -------------------------------------------------------


def test_a_store_named_by_a_sqlite_uri_is_left_to_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reads ``file:cdp.db`` as the file ``cdp.db``: nothing named after the URI is
    made beside it."""
    monkeypatch.chdir(tmp_path)
    with Store("sqlite:///file:cdp.db?uri=true") as store:
        assert store.read_only is False
        store.transaction(lambda c: upsert(c, schema.tags, [TAG]))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cdp.db"]
    with sqlite3.connect(tmp_path / "cdp.db") as raw_file:
        assert raw_file.execute("SELECT key FROM tags").fetchall() == [("site",)]


@posix_modes
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_a_store_in_memory_leaves_the_working_directory_as_it_is(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a word about the store's files
        with Store(url) as store:
            store.transaction(lambda c: upsert(c, schema.tags, [TAG]))
            assert tags_of(store) == [("site", None, False)]
    assert mode(tmp_path) == 0o755
    assert list(tmp_path.iterdir()) == []


def test_a_store_in_memory_is_written_where_the_working_directory_cannot_be(
    tmp_path: Path,
    run_read_only: RunReadOnly,  # noqa: F811
) -> None:
    """A store in memory has no location to write: a working directory (or file system)
    this process may not write does not make it read-only, nor refuse it."""
    here = tmp_path / "here"
    here.mkdir()
    done = run_read_only(
        """
        import os
        import sys
        from cdp_sdk.sync import Store, schema
        from cdp_sdk.sync._db import upsert

        os.chdir(sys.argv[1])
        print("writable", os.access(".", os.W_OK))
        tag = {"account": "eu", "iccid": "8988303000000000010", "source": "local", "key": "x"}
        for url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
            with Store(url) as store:
                store.transaction(lambda c: upsert(c, schema.tags, [tag]))
                print(url, store.read_only, len(store.rows("tags")))
        """,
        here,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "writable False",
        "sqlite:// False 1",
        "sqlite:/// False 1",
        "sqlite:///:memory: False 1",
    ]


# -- the engine a store opens ---------------------------------------------------------------

KINDS = ["sqlite", "sqlite read-only", "sqlite in memory", "postgresql", "postgresql read-only"]


@pytest.fixture(params=KINDS)
def echoing_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of each kind the engine is made for, opened with ``echo=True`` (a read-only
    one after a writable store made it)."""
    kind: str = request.param
    location: str | Path = tmp_path / "cdp.db"
    if kind == "sqlite in memory":
        location = "sqlite://"
    elif kind.startswith("postgresql"):
        location = request.getfixturevalue("postgres_url")
    read_only = kind.endswith("read-only")
    if read_only:
        Store(location).close()
    store = Store(location, echo=True, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
        if kind.startswith("postgresql"):
            with Store(location) as owner, owner.engine.begin() as connection:
                schema.metadata.drop_all(connection)


def test_sql_parameters_are_shown_neither_in_the_log_nor_in_errors(
    echoing_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """They hold ICCIDs: ``echo`` logs the statements, and errors quote them, without
    their parameters (on every kind of store)."""
    of_sim = select(schema.tags.c.key).where(schema.tags.c.iccid == SIM)
    assert echoing_store.read(lambda c: c.execute(of_sim).all()) == []
    with pytest.raises(DBAPIError) as error:
        echoing_store.read(
            lambda c: c.execute(text("SELECT nothing FROM tags WHERE iccid = :sim"), {"sim": SIM})
        )

    assert "FROM tags" in caplog.text  # the statements are logged
    assert "[SQL parameters hidden due to hide_parameters=True]" in caplog.text
    assert SIM not in caplog.text
    assert "SELECT nothing FROM tags WHERE iccid" in str(error.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(error.value)
    assert SIM not in str(error.value)


def test_an_engine_logs_no_sql_unless_asked(caplog: pytest.LogCaptureFixture) -> None:
    engine = _db.create_store_engine(database_url("sqlite://"))
    with engine.connect() as connection:
        assert connection.execute(select(literal(SIM))).scalar() == SIM
    engine.dispose()
    assert caplog.text == ""


def test_json_parameters_are_written_by_the_stores_serializer(echoing_store: Store) -> None:
    """NaN and infinities (which JSON does not have) are sent as their names, on every kind
    of store: a JSON value bound in a query comes back with them."""
    value = {"v": float("nan"), "w": [float("inf"), float("-inf")], "x": 1.5}
    echoed = echoing_store.read(lambda c: c.execute(select(literal(value, JSON))).scalar())
    assert echoed == {"v": "NaN", "w": ["Infinity", "-Infinity"], "x": 1.5}


def test_a_read_only_store_on_postgresql_reads_in_read_only_transactions(
    postgres_url: str,
) -> None:
    def read_only(connection: Connection) -> Any:
        return connection.exec_driver_sql("SHOW default_transaction_read_only").scalar()

    owner = Store(postgres_url)
    try:
        assert owner.read(read_only) == "off"
        with Store(postgres_url, read_only=True) as store:
            assert store.read(read_only) == "on"
            refused = pytest.raises(DBAPIError, match="cannot execute INSERT in a read-only")
            with refused, store.engine.begin() as connection:  # past the store's refusal
                connection.execute(insert(schema.tags).values(**TAG))
        assert owner.rows("tags") == []
    finally:
        with owner.engine.begin() as connection:
            schema.metadata.drop_all(connection)
        owner.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_without_a_driver_opens_with_psycopg_3(
    postgres_url: str, scheme: str
) -> None:
    """The URL a PostgreSQL host gives (``postgresql://`` or Heroku's ``postgres://``)
    opens with the driver of the ``postgres`` extra, not SQLAlchemy's default psycopg2."""
    store = Store(postgres_url.replace("postgresql+psycopg://", f"{scheme}://", 1))
    try:
        assert store.engine.url.drivername == "postgresql+psycopg"
        assert store.rows("tags") == []
    finally:
        with store.engine.begin() as connection:
            schema.metadata.drop_all(connection)
        store.close()


def test_a_connection_postgresql_ended_is_replaced_before_it_is_used(postgres_url: str) -> None:
    """A pooled connection the server has closed (restart, idle timeout, administrator) is
    found out and replaced, not handed to the next read as an error."""

    def backend(connection: Connection) -> Any:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()

    store = Store(postgres_url)
    try:
        pid = store.read(backend)
        assert store.read(backend) == pid  # the pool hands the same connection back
        with create_engine(postgres_url).connect() as admin:  # waits until it has ended
            ended = text("SELECT pg_terminate_backend(:pid, 10000)")
            assert admin.execute(ended, {"pid": pid}).scalar() is True
        assert store.read(backend) not in (None, pid)
        assert store.rows("tags") == []
    finally:
        with store.engine.begin() as connection:
            schema.metadata.drop_all(connection)
        store.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_a_store_in_memory_is_one_database_for_every_thread(url: str) -> None:
    with Store(url) as store:
        store.transaction(lambda c: upsert(c, schema.tags, [TAG]))
        with ThreadPoolExecutor(4) as pool:
            seen = list(pool.map(lambda _: tags_of(store), range(8)))
    assert seen == [[("site", None, False)]] * 8


def test_a_store_file_waits_out_the_busy_timeout_from_its_first_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The switch to the write-ahead log, the first statement on a new connection, already
    waits up to 30 s for another process's lock (as every later statement does)."""
    timeouts: list[int] = []
    switch = _db._write_ahead_log

    def switched(cursor: Any, **kwargs: Any) -> None:
        timeouts.append(cursor.execute("PRAGMA busy_timeout").fetchone()[0])
        switch(cursor, **kwargs)

    monkeypatch.setattr(_db, "_write_ahead_log", switched)
    with Store(tmp_path / "cdp.db") as store:
        later = store.read(lambda c: c.exec_driver_sql("PRAGMA busy_timeout").scalar())
    assert timeouts == [30000]
    assert later == 30000
