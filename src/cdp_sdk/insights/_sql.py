"""SQL pieces the insights share, written once for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Date, Float, func, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

__all__ = [
    "SCAN_SHARE",
    "DayType",
    "UsageRange",
    "aware_now",
    "day_start",
    "epoch",
    "only",
    "unindexed",
    "usage_range",
    "utc_day",
]


class DayType(TypeDecorator[date]):
    """A calendar day read back as a :class:`~datetime.date` (SQLite gives its text)."""

    impl = Date
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        return date.fromisoformat(str(value)[:10])


class utc_day(FunctionElement[date]):
    """The UTC calendar day of an instant column of the store (``UtcDateTime``).

    SQLite stores instants as fixed-width UTC text (``2024-06-15T00:00:00.000000Z``), so
    the day is its first ten characters; PostgreSQL converts the ``timestamptz`` to UTC
    and casts it to ``date``. Either way the result groups and sorts by day.
    """

    type = DayType()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(timezone('UTC', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


def only(column: Any, values: Sequence[str] | None) -> ColumnElement[bool]:
    """``column IN values``, or no condition when ``values`` is None or empty."""
    return column.in_(list(values)) if values else true()


def day_start(day: date) -> datetime:
    """The first instant of ``day`` in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def aware_now(now: datetime | None) -> datetime:
    """``now`` in UTC (default: the current instant); a naive datetime is refused."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)


class epoch(FunctionElement[float]):
    """Seconds since 1970-01-01 UTC of an instant column of the store, as a float.

    SQLite: ``julianday`` of the text's first 19 characters (whole seconds); PostgreSQL:
    ``EXTRACT(EPOCH FROM ...)``.
    """

    type = Float()
    inherit_cache = True
    name = "epoch"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"((julianday(substr({inner}, 1, 19)) - 2440587.5) * 86400.0)"


@compiles(epoch)
def _epoch_default(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


class unindexed(ColumnElement[Any]):
    """A column that SQLite's planner will not reach through an index: ``+column``.

    SQLite documents the unary ``+`` as the way to keep a term from using an index. When a
    query reads a large share of the usage table, a sequential scan of the table beats
    visiting it row by row in the order of ``ix_usage_account_start`` (the rows of a sync
    are stored SIM after SIM, the index is in time order). Elsewhere the column is given as
    is: PostgreSQL's planner has statistics and picks the access path itself.
    """

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type

    @property
    def _from_objects(self) -> list[Any]:
        return self.column._from_objects


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.column, **kw)}"


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


SCAN_SHARE = 0.125
"""A time range holding more than this share of the usage table is read by a table scan on
SQLite (see :class:`unindexed`)."""


@dataclass(frozen=True)
class UsageRange:
    """Conditions on the usage table for a time range, and how to name its columns."""

    terms: tuple[ColumnElement[bool], ...]
    scan: bool
    """Whether the range is read by a table scan (SQLite only)."""

    def column(self, name: str) -> ColumnElement[Any]:
        """A column of ``usage`` to add conditions on, kept off the indexes in a scan."""
        from cdp_sdk.sync.schema import usage

        return unindexed(usage.c[name]) if self.scan else usage.c[name]


def usage_range(
    connection: Connection,
    start: datetime,
    end: datetime,
    *,
    account: str | None = None,
    accounts: Sequence[str] | None = None,
) -> UsageRange:
    """The conditions ``start <= period_start < end`` (of ``account``, or of
    ``accounts``), on per-SIM and account-level records alike.

    On SQLite they are written so that the table is scanned when the range holds more than
    :data:`SCAN_SHARE` of the usage table (two index-only counts decide); otherwise, and on
    other databases, the indexes may serve them. Further conditions should name their
    columns through :meth:`UsageRange.column`.
    """
    from cdp_sdk.sync.schema import usage

    def terms(scan: bool) -> UsageRange:
        wrap = unindexed if scan else (lambda column: column)
        who = wrap(usage.c.account)
        return UsageRange(
            (
                wrap(usage.c.period_start) >= start,
                wrap(usage.c.period_start) < end,
                who == account if account is not None else only(who, accounts),
            ),
            scan,
        )

    indexed = terms(False)
    if connection.dialect.name != "sqlite":
        return indexed
    total = connection.scalar(select(func.count()).select_from(usage)) or 0
    inside = connection.scalar(select(func.count()).select_from(usage).where(*indexed.terms)) or 0
    return terms(inside > total * SCAN_SHARE)
