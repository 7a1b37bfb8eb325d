"""The store's column types on each database: instants aware and in UTC, money exact.

PostgreSQL's side is checked here with its dialect, no server needed: the values the
types hand to the driver (the PostgreSQL suite then round-trips them on a server).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import pytest
from sqlalchemy import JSON
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from cdp_sdk.sync import schema
from cdp_sdk.sync._storable import database_reason
from test_sync import NoOffset

INSTANT = cast("TypeDecorator[datetime]", schema.subscriptions.c.created_at.type)
MONEY = cast("TypeDecorator[Decimal]", schema.invoices.c.total.type)
POSTGRES = postgresql.dialect()  # type: ignore[no-untyped-call]
SQLITE = sqlite.dialect()
PARIS_SUMMER = timezone(timedelta(hours=2))


def bound(value: Any, dialect: Any) -> Any:
    """What the instant column hands the dialect's driver for ``value``."""
    processor = INSTANT.bind_processor(dialect)
    assert processor is not None
    return processor(value)


def test_postgresql_gets_instants_in_utc() -> None:
    value = bound(datetime(2024, 6, 15, 14, 30, tzinfo=PARIS_SUMMER), POSTGRES)
    assert value == datetime(2024, 6, 15, 12, 30, tzinfo=UTC)
    assert value.tzinfo is UTC
    assert bound(None, POSTGRES) is None


@pytest.mark.parametrize("naive", [datetime(2024, 6, 15), datetime(2024, 6, 15, tzinfo=NoOffset())])
@pytest.mark.parametrize("dialect", [POSTGRES, SQLITE], ids=["postgresql", "sqlite"])
def test_a_naive_instant_is_refused_on_every_database(naive: datetime, dialect: Any) -> None:
    with pytest.raises(ValueError, match=r"^the store only takes aware datetimes$"):
        bound(naive, dialect)


def test_sqlite_gets_fixed_width_utc_text_by_either_path() -> None:
    summer = datetime(2024, 6, 15, 14, 30, tzinfo=PARIS_SUMMER)
    text = "2024-06-15T12:30:00.000000Z"
    assert INSTANT.process_bind_param(summer, SQLITE) == text  # literal SQL renders this way
    assert bound(summer, SQLITE) == text
    assert INSTANT.process_bind_param(None, SQLITE) is None


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_instants_are_stored_in_utc_whatever_the_machines_zone(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        summer = datetime(2024, 6, 15, 14, 30, tzinfo=PARIS_SUMMER)
        assert bound(summer, SQLITE) == "2024-06-15T12:30:00.000000Z"
        assert bound(summer, POSTGRES).utcoffset() == timedelta(0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_instants_read_back_are_aware_and_in_utc() -> None:
    # PostgreSQL answers in the session's zone; SQLite holds the UTC text.
    summer = datetime(2024, 6, 15, 14, 30, tzinfo=PARIS_SUMMER)
    for stored, dialect in ((summer, POSTGRES), ("2024-06-15T12:30:00.000000Z", SQLITE)):
        value = INSTANT.process_result_value(stored, dialect)
        assert value == datetime(2024, 6, 15, 12, 30, tzinfo=UTC)
        assert value is not None
        assert (value.hour, value.tzinfo) == (12, UTC)
    # A database that dropped the zone stored UTC.
    dropped = INSTANT.process_result_value("2024-06-15T12:30:00", SQLITE)
    assert dropped is not None
    assert (dropped.hour, dropped.tzinfo) == (12, UTC)
    assert INSTANT.process_result_value(None, SQLITE) is None


def test_money_is_exact_text_on_sqlite_and_a_decimal_on_postgresql() -> None:
    amount = Decimal("1.50")
    assert MONEY.process_bind_param(amount, SQLITE) == "1.50"
    assert MONEY.process_bind_param(amount, POSTGRES) == amount
    with pytest.raises(ValueError, match=r"^the store only takes finite Decimal amounts$"):
        MONEY.process_bind_param(Decimal("NaN"), POSTGRES)


def test_a_refusal_without_a_message_is_named_by_its_class() -> None:
    assert (
        database_reason(OverflowError()) == "the database refused it: OverflowError: OverflowError"
    )


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_json_columns_compare_with_plain_values_as_json_does(dialect: Any) -> None:
    # `extra == "x"` binds "x" as text, not as the JSON document '"x"'.
    extra = schema.subscriptions.c.extra
    comparison = (extra == "x").compile(dialect=dialect)
    assert list(comparison.construct_params().values()) == ["x"]
    assert type(comparison.binds[next(iter(comparison.binds))].type).__name__ == "String"
    native = postgresql.JSONB if dialect.name == "postgresql" else JSON
    assert isinstance(extra.type.load_dialect_impl(dialect), native)
