"""The store's upsert: on SQLite a statement prepared once per table and columns, run with
plain tuples; it must store exactly what SQLAlchemy's own insert and update store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Table, insert, update

from cdp_sdk.sync import Store, schema
from cdp_sdk.sync._db import upsert

PARIS = timezone(timedelta(hours=2))
SYNCED = datetime(2024, 6, 15, 12, 0, 0, 123456, tzinfo=PARIS)


def subscription(number: int, **changes: Any) -> dict[str, Any]:
    return {
        "account": "eu",
        "id": f"sim-{number}",
        "connector": "sandbox",
        "iccid": f"898831000000000000{number}",
        "imsi": None,
        "msisdn": "882341000",
        "imei": None,
        "eid": None,
        "status": "active",
        "status_raw": "live",
        "tariff": None,
        "created_at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "activated_at": None,
        "updated_at": datetime(999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-1))),
        "ip_address": "10.0.0.1",
        "platform_account": None,
        "extra": {"nested": {"a": [1, 2.5, None]}, "nan": float("nan"), "é": "ü"},
        **changes,
    }


def usage_row(key: str, **changes: Any) -> dict[str, Any]:
    return {
        "account": "eu",
        "record_key": key,
        "connector": "sandbox",
        "iccid": None,
        "bearer": "data",
        "direction": None,
        "quantity": 2**40,
        "unit": "byte",
        "period_start": datetime(2024, 6, 1, tzinfo=UTC),
        "period_end": None,
        "granularity": "day",
        "final": True,
        "cost": Decimal("0.0100"),
        "currency": "EUR",
        "zone": None,
        "extra": {},
        **changes,
    }


def raw(path: Path, table: Table) -> list[tuple[Any, ...]]:
    """The rows as SQLite holds them (types and text, not as Python reads them back)."""
    columns = ", ".join(f'typeof("{c.name}"), "{c.name}"' for c in table.columns)
    keys = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
    with sqlite3.connect(path) as connection:
        return connection.execute(f"select {columns} from {table.name} order by {keys}").fetchall()


def by_sqlalchemy(
    connection: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    constants: dict[str, Any],
) -> None:
    """Insert each row, or update the one with its key (what the upsert means)."""
    keys = [column.name for column in table.primary_key.columns]
    for row in rows:
        row = {**row, **constants}
        match = [table.c[key] == row[key] for key in keys]
        changed = connection.execute(update(table).where(*match).values(row)).rowcount
        if not changed:
            connection.execute(insert(table).values(row))


CASES = [
    pytest.param(
        schema.subscriptions,
        [subscription(1), subscription(2, extra={})],
        [subscription(1, status="suspended", created_at=None, extra={"x": True})],
        {"run_id": 7, "synced_at": SYNCED},
        id="subscriptions",
    ),
    pytest.param(
        schema.tags,
        [
            {"account": "eu", "iccid": "1", "key": "k", "value": "v"},
            {"account": "eu", "iccid": "1", "key": "j", "value": None},
        ],
        [{"account": "eu", "iccid": "1", "key": "k", "value": "w"}],
        {"source": "platform", "pushed_at": None, "run_id": 3, "synced_at": SYNCED},
        id="tags, a default left to the table",
    ),
    pytest.param(
        schema.usage,
        [usage_row("a"), usage_row("b", final=False, cost=None)],
        [usage_row("a", quantity=1, cost=Decimal("12.50"), final=False)],
        {},
        id="usage, no constants",
    ),
]


@pytest.mark.parametrize(("table", "first", "second", "constants"), CASES)
def test_the_prepared_upsert_stores_what_sqlalchemy_stores(
    tmp_path: Path,
    table: Table,
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    constants: dict[str, Any],
) -> None:
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    with Store(ours) as store:
        for rows in (first, second):
            store.transaction(lambda c, rows=rows: upsert(c, table, rows, constants=constants))
    with Store(theirs) as store:
        for rows in (first, second):
            store.transaction(lambda c, rows=rows: by_sqlalchemy(c, table, rows, constants))
    stored = raw(ours, table)
    assert stored == raw(theirs, table)
    keys = {tuple({**row, **constants}[k.name] for k in table.primary_key) for row in first}
    assert len(stored) == len(keys)


def test_rows_repeating_a_key_leave_the_last(tmp_path: Path) -> None:
    rows = [subscription(1, status="active"), subscription(1, status="retired")]
    with Store(tmp_path / "cdp.db") as store:
        store.transaction(lambda c: upsert(c, schema.subscriptions, rows, constants={}))
        [row] = store.rows("subscriptions")
    assert row["status"] == "retired"


def test_an_update_leaves_the_columns_it_is_not_given(tmp_path: Path) -> None:
    with Store(tmp_path / "cdp.db") as store:
        store.transaction(
            lambda c: upsert(
                c,
                schema.tags,
                [{"account": "eu", "iccid": "1", "source": "local", "key": "k", "value": "v"}],
                constants={"pushed_at": SYNCED, "removed": True},
            )
        )
        store.transaction(
            lambda c: upsert(
                c,
                schema.tags,
                [{"account": "eu", "iccid": "1", "source": "local", "key": "k", "value": "w"}],
            )
        )
        [row] = store.rows("tags")
    assert (row["value"], row["pushed_at"], row["removed"]) == ("w", SYNCED, True)


def test_a_naive_instant_is_refused(tmp_path: Path) -> None:
    naive = subscription(1, created_at=datetime(2024, 1, 1))
    with Store(tmp_path / "cdp.db") as store, pytest.raises(ValueError, match="aware"):
        store.transaction(lambda c: upsert(c, schema.subscriptions, [naive]))


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime(2024, 6, 15, 12, 0, 0, 123456, tzinfo=PARIS), "2024-06-15T10:00:00.123456Z"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05.000000Z"),
        (
            datetime(1999, 12, 31, 23, 30, 9, 7, tzinfo=timezone(timedelta(hours=-1))),
            "2000-01-01T00:30:09.000007Z",
        ),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01T00:00:00.000000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_an_instant_is_stored_as_its_fixed_width_utc_text(
    tmp_path: Path, instant: datetime, text: str
) -> None:
    row = subscription(1, created_at=instant)
    with Store(tmp_path / "cdp.db") as store:
        store.transaction(lambda c: upsert(c, schema.subscriptions, [row]))
        [stored] = store.rows("subscriptions")
    assert stored["created_at"] == instant
    with sqlite3.connect(tmp_path / "cdp.db") as connection:
        assert connection.execute("select created_at from subscriptions").fetchall() == [(text,)]
