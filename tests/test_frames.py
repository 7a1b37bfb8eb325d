"""DataFrames of models and of store tables: column types are kept."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import MetaData, Table

from cdp_sdk import (
    Bearer,
    Direction,
    Granularity,
    Invoice,
    InvoiceLine,
    SimStatus,
    Subscription,
    Tag,
    Tariff,
    UsageRecord,
)
from cdp_sdk.frames import to_arrow, to_pandas
from cdp_sdk.sync import Store
from cdp_sdk.workspace import AccountRecord, Workspace
from test_sync import NOW, in_process

SIM = Subscription(
    connector="sandbox",
    account="eu",
    id="1",
    iccid="89883030000000000019",
    imsi="901430000000001",
    status=SimStatus.ACTIVE,
    status_raw="live",
    created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    tags=(Tag(key="fleet", value="trucks"), Tag(key="blue")),
    extra={"apn": "iot"},
)
USAGE = [
    UsageRecord(
        connector="sandbox",
        bearer=Bearer.DATA,
        direction=Direction.MO,
        quantity=2**40,
        start=datetime(2024, 6, 1, tzinfo=UTC),
        end=datetime(2024, 6, 2, tzinfo=UTC),
        granularity=Granularity.DAY,
        final=True,
        cost=Decimal("0.125"),
        currency="EUR",
    ),
    UsageRecord(connector="sandbox", bearer=Bearer.SMS, quantity=3, granularity=Granularity.MONTH),
]
INVOICE = Invoice(
    connector="sandbox",
    id="INV-1",
    period_start=date(2024, 4, 1),
    period_end=date(2024, 4, 30),
    currency="EUR",
    total=Decimal("10.50"),
    lines=(InvoiceLine(description="fees", amount=Decimal("10.50"), quantity=Decimal("7")),),
)


def test_subscription_columns_follow_the_model() -> None:
    frame = to_pandas([SIM, SIM.model_copy(update={"id": "2", "created_at": None})])
    assert list(frame.columns) == list(Subscription.model_fields)
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert frame["created_at"].iloc[0] == pd.Timestamp("2024-01-02 03:04:05", tz="UTC")
    assert pd.isna(frame["created_at"].iloc[1])
    assert frame["status"].iloc[0] == "active"  # the enum's value
    assert json.loads(frame["tags"].iloc[0]) == [
        {"key": "fleet", "value": "trucks"},
        {"key": "blue", "value": None},
    ]
    assert json.loads(frame["extra"].iloc[0]) == {"apn": "iot"}
    assert frame["imei"].isna().all()


def test_usage_keeps_integers_booleans_and_money() -> None:
    table = to_arrow(USAGE)
    assert table.schema.field("quantity").type == pa.int64()
    assert table.schema.field("final").type == pa.bool_()
    assert table.schema.field("cost").type == pa.decimal128(38, 3)
    assert table.schema.field("start").type == pa.timestamp("us", tz="UTC")
    frame = to_pandas(USAGE)
    assert str(frame["quantity"].dtype) == "Int64"
    assert frame["quantity"].iloc[0] == 2**40
    assert str(frame["final"].dtype) == "boolean"
    assert frame["cost"].iloc[0] == Decimal("0.125")
    assert isinstance(frame["cost"].iloc[0], Decimal)
    assert frame["cost"].iloc[1] is None
    assert frame["direction"].iloc[0] == "mo"
    assert pd.isna(frame["direction"].iloc[1])


def test_invoices_keep_dates_and_exact_totals() -> None:
    table = to_arrow([INVOICE])
    assert table.schema.field("period_start").type == pa.date32()
    assert table.schema.field("total").type == pa.decimal128(38, 2)
    assert table.column("total")[0].as_py() == Decimal("10.50")
    frame = to_pandas([INVOICE])
    assert frame["period_start"].iloc[0] == date(2024, 4, 1)
    assert str(frame["total"].iloc[0]) == "10.50"
    assert json.loads(frame["lines"].iloc[0])[0]["amount"] == "10.50"  # JSON keeps it exact


def test_account_records_get_an_account_column_first() -> None:
    records = [AccountRecord("eu", USAGE[0]), AccountRecord("us", USAGE[1])]
    frame = to_pandas(records)
    assert list(frame.columns) == ["account", *UsageRecord.model_fields]
    assert list(frame["account"]) == ["eu", "us"]
    # A model with its own account field keeps its column, filled from the wrapper.
    sims = to_pandas([AccountRecord("us", SIM)])
    assert list(sims.columns) == list(Subscription.model_fields)
    assert sims["account"].iloc[0] == "us"


def test_empty_and_mixed_inputs() -> None:
    assert to_pandas([]).empty
    empty = to_arrow([], model=Tariff)
    assert empty.num_rows == 0
    assert empty.schema.field("recurring_fee").type == pa.decimal128(38, 0)
    with pytest.raises(TypeError, match="one model class"):
        to_pandas([SIM, INVOICE])
    with pytest.raises(TypeError, match="must be cdp-sdk models"):
        to_pandas([{"a": 1}])


def test_wide_decimals_use_decimal256() -> None:
    tariff = Tariff(
        connector="x", id="t", name="big", currency="EUR", recurring_fee=Decimal("1" * 40 + ".5")
    )
    table = to_arrow([tariff])
    assert table.schema.field("recurring_fee").type == pa.decimal256(76, 1)
    assert table.column("recurring_fee")[0].as_py() == tariff.recurring_fee


def test_missing_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'cdp-iot-sdk\[frames\]'"):
        to_arrow([SIM])


def test_store_tables_keep_their_types(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(20, 1), "us": in_process(5, 2)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, now=NOW)
        tariffs = store.to_arrow("tariffs")
        assert tariffs.schema.field("recurring_fee").type == pa.decimal128(38, 2)
        assert tariffs.schema.field("synced_at").type == pa.timestamp("us", tz="UTC")
        usage = store.to_pandas("usage", account="us")
        assert set(usage["account"]) == {"us"}
        assert str(usage["quantity"].dtype) == "Int64"
        assert str(usage["period_start"].dtype) == "datetime64[us, UTC]"
        assert str(usage["final"].dtype) == "boolean"
        assert json.loads(usage["extra"].iloc[0]) == {}
        invoices = store.to_pandas("invoices")
        assert all(isinstance(total, Decimal) for total in invoices["total"])
        assert isinstance(invoices["period_start"].iloc[0], date)
        modes = store.to_pandas("activation_modes")
        assert isinstance(json.loads(modes["next"].iloc[0]), list)
        # A table the caller reflected from the database has plain JSON columns.
        reflected = Table("activation_modes", MetaData(), autoload_with=store.engine)
        assert isinstance(json.loads(store.to_arrow(reflected)["next"][0].as_py()), list)
        # A workspace listing goes straight into a frame as well.
        sims = to_pandas(workspace.subscriptions())
        assert sorted(set(sims["account"])) == ["eu", "us"]
        assert len(sims) == 25
