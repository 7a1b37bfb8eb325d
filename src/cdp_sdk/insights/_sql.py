"""SQL pieces the insights share, written once for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, Float, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

__all__ = ["DayType", "aware_now", "day_start", "days", "epoch", "midnight", "only", "utc_day"]


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


def midnight(moment: datetime) -> datetime:
    """The start of ``moment``'s UTC day."""
    utc = moment.astimezone(UTC)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def day_start(day: date) -> datetime:
    """The first instant of ``day`` in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def days(first: date, last: date) -> list[date]:
    """Every day of ``[first, last)``."""
    return [first + timedelta(days=n) for n in range((last - first).days)]


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
