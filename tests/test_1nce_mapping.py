"""1NCE mapping: pure functions over the official spec's shapes, drifted and malformed ones.

Payloads follow 1NCE's OpenAPI specs (``SIM_card``, ``Daily``, ``SIM_Event``, ``Quota``,
``Product``) and the reference's example (mvno-platforms.md 2.10); ICCIDs carry valid
check digits (the published examples' do not).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from cdp_sdk import (
    AuditKind,
    Bearer,
    Direction,
    InvalidRequestError,
    SimStatus,
    Tag,
    UnexpectedResponseError,
)
from cdp_sdk.connectors.onence import OneNceConnector, OneNceSettings, mapping

NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
ICCID = "89882806660000000176"

SIM: dict[str, Any] = {
    "iccid": "8988280666000000017",
    "iccid_with_luhn": ICCID,
    "imsi": "901405100000017",
    "imsi_2": "901405100000917",
    "current_imsi": "901405100000017",
    "msisdn": "882285100000017",
    "imei": "356938035643809",
    "imei_lock": False,
    "status": "Enabled",
    "activation_date": "2023-04-11T08:02:41.000+0000",
    "ip_address": "10.212.4.17",
    "current_quota": 412.5,
    "quota_status": {"id": 0, "description": "More than 20% available"},
    "current_quota_SMS": 243,
    "quota_status_SMS": {"id": 0, "description": "More than 20% available"},
    "label": "pump-station-3",
}
DAY: dict[str, Any] = {
    "date": "2021-06-30T00:00:00.000Z",
    "data": {
        "cost": "0.002803",
        "currency": {"id": 1, "symbol": "€", "code": "EUR"},
        "traffic_type": {"description": "Data", "id": 1, "unit": "MB"},
        "volume": "0.002803",
        "volume_rx": "0.001482",
        "volume_tx": "0.001321",
    },
    "sms": {
        "cost": "3",
        "currency": {"id": 1, "symbol": "€", "code": "EUR"},
        "traffic_type": {"description": "SMS", "id": 1, "unit": "SMS"},
        "volume": "3",
        "volume_rx": "2",
        "volume_tx": "1",
    },
}
EVENT: dict[str, Any] = {
    "timestamp": "2018-05-07T14:08:05.000+0000",
    "event_type": "Status of SIM changed from 'Issued' to 'Activated'",
    "iccid": "8988280666000000000",
    "imei": "0000000000000018",
    "imsi": "901405100000018",
    "country": "Germany",
    "operator": "T-Mobile",
    "mcc": "262",
    "mnc": "01",
    "alert": False,
    "event_severity": "Info",
}
QUOTA: dict[str, Any] = {
    "volume": 435.787951,
    "total_volume": 500,
    "expiry_date": "2029-01-01T00:00:00.000Z",
    "peak_throughput": 1000000,
    "last_volume_added": 500,
    "last_status_change_date": "2018-10-01T11:59:44.000Z",
    "threshold_percentage": 20,
}
PRODUCT: dict[str, Any] = {
    "id": 1001,
    "product": "1NCE IoT FlexSIM - Standard",
    "material": "1NCE FlexSIM",
    "package_size": 1,
    "minQuantity": 1,
    "min_contract_duration": 120,
    "one_time_charges": [{"name": "provisionCharge", "amount_net": 10, "currency": "EUR"}],
    "recurring_charges": [{"name": "serviceFee", "amount_net": 0.5, "currency": "EUR"}],
}


@pytest.fixture
def connector() -> Iterator[OneNceConnector]:
    plugin = OneNceConnector(OneNceSettings(username="api-user", password=SecretStr("pw-123456")))
    yield plugin
    asyncio.run(plugin.aclose())


def drifted(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    copied = copy.deepcopy(record)
    copied.update(changes)
    return copied


# -- subscriptions -----------------------------------------------------------------------


def test_sim_maps_every_field() -> None:
    sim = mapping.to_subscription(SIM)
    assert (sim.id, sim.iccid) == ("8988280666000000017", ICCID)
    assert (sim.imsi, sim.msisdn, sim.imei) == (
        "901405100000017",
        "882285100000017",
        "356938035643809",
    )
    assert (sim.status, sim.status_raw) == (SimStatus.ACTIVE, "Enabled")
    assert sim.activated_at == datetime(2023, 4, 11, 8, 2, 41, tzinfo=UTC)
    assert sim.ip_address == "10.212.4.17"
    assert sim.tags == (Tag(key="label", value="pump-station-3"),)
    assert sim.eid is None
    assert sim.extra["current_quota_bytes"] == 412_500_000
    assert sim.extra["current_quota_sms"] == 243
    assert sim.extra["quota_status"] == "More than 20% available"


def test_disabled_sim_without_label_or_optional_fields() -> None:
    record = {"iccid": "8988280666000000017", "status": "Disabled"}
    sim = mapping.to_subscription(record)
    assert (sim.status, sim.id, sim.iccid, sim.tags, sim.extra) == (
        SimStatus.DEACTIVATED,
        "8988280666000000017",
        ICCID,  # the check digit computed from iccid
        (),
        {},
    )


def test_the_check_digit_comes_from_iccid_whatever_iccid_with_luhn_says() -> None:
    assert mapping.to_subscription(drifted(SIM, iccid_with_luhn=None)).iccid == ICCID
    assert mapping.to_subscription(drifted(SIM, iccid_with_luhn="89882806660000000171")).iccid == (
        ICCID
    )
    only_luhn = {key: value for key, value in SIM.items() if key != "iccid"}
    assert mapping.to_subscription(only_luhn).iccid == ICCID


def test_unknown_status_and_unknown_fields() -> None:
    sim = mapping.to_subscription(drifted(SIM, status="Expired", eid_new_field="x"))
    assert (sim.status, sim.status_raw) == (SimStatus.UNKNOWN, "Expired")


@pytest.mark.parametrize(
    "record",
    [
        drifted(SIM, status=None),
        {key: value for key, value in SIM.items() if key != "status"},
        {key: value for key, value in SIM.items() if key not in ("iccid", "iccid_with_luhn")},
        drifted(SIM, iccid=None, iccid_with_luhn="89882806660000000171"),
        drifted(SIM, iccid="8988280666-00000017"),
        drifted(SIM, iccid=8988280666000000017),
        drifted(SIM, current_quota="plenty"),
        drifted(SIM, activation_date=20230411),
    ],
    ids=[
        "null-status",
        "no-status",
        "no-iccid",
        "bad-luhn",
        "not-digits",
        "int-iccid",
        "bad-quota",
        "int-date",
    ],
)
def test_malformed_sims_become_unexpected_response_errors(
    connector: OneNceConnector, record: dict[str, Any]
) -> None:
    with pytest.raises(UnexpectedResponseError, match="GET /v1/sims"):
        list(connector.map_records([record], mapping.to_subscription, endpoint="GET /v1/sims"))


def test_quotas_join_the_subscription_extra() -> None:
    sim = mapping.with_quotas(
        mapping.to_subscription(SIM), QUOTA, {**QUOTA, "volume": 240, "total_volume": 250}
    )
    assert sim.extra["quota_data"] == {
        "remaining_bytes": 435_787_951,
        "total_bytes": 500_000_000,
        "last_added_bytes": 500_000_000,
        "threshold_percentage": 20,
        "peak_throughput_bps": 1000000,
        "expiry_date": "2029-01-01T00:00:00+00:00",
        "last_status_change_date": "2018-10-01T11:59:44+00:00",
    }
    assert sim.extra["quota_sms"]["remaining_sms"] == 240
    assert (
        mapping.with_quotas(mapping.to_subscription(SIM), None, None).extra
        == mapping.to_subscription(SIM).extra
    )


def test_activation_modes() -> None:
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    assert (modes["Enabled"].status, modes["Enabled"].next) == (SimStatus.ACTIVE, ("Disabled",))
    assert (modes["Disabled"].status, modes["Disabled"].next) == (
        SimStatus.DEACTIVATED,
        ("Enabled",),
    )
    assert (modes["Enabled"].billable, modes["Disabled"].billable) == (None, False)
    assert all(mode.settable and not mode.auto_activates for mode in modes.values())
    assert mapping.STATE_FOR == {
        SimStatus.ACTIVE: "Enabled",
        SimStatus.DEACTIVATED: "Disabled",
    }


# -- updates -------------------------------------------------------------------------------


def test_sim_update_keeps_label_and_imei_lock() -> None:
    record = drifted(SIM, imei_lock=True)
    assert mapping.sim_update(record, status="Disabled") == {
        "iccid": "8988280666000000017",
        "status": "Disabled",
        "imei_lock": True,
        "label": "pump-station-3",
    }
    assert mapping.sim_update({"iccid": "1", "status": "Enabled"}, label="") == {
        "iccid": "1",
        "status": "Enabled",
        "imei_lock": False,
        "label": "",
    }


def test_label_update() -> None:
    assert mapping.label_update({"label": "north"}, ()) == "north"
    assert mapping.label_update({}, ("label",)) == ""
    assert mapping.label_update({"label": None}, ()) == ""
    with pytest.raises(InvalidRequestError, match="one tag"):
        mapping.label_update({"fleet": "trucks"}, ())


# -- usage, events, products ---------------------------------------------------------------


def test_daily_usage_from_mb_strings() -> None:
    # The spec's own example: data tx (sent by the SIM) 0.001321 MB, rx 0.001482 MB;
    # SMS rx "the used MO-SMS message count" 2, tx "the used MT-SMS message count" 1.
    records = mapping.to_usage(DAY, iccid=ICCID, now=NOW)
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, Direction.MO, 1321),
        (Bearer.DATA, Direction.MT, 1482),
        (Bearer.SMS, Direction.MO, 2),
        (Bearer.SMS, Direction.MT, 1),
    ]
    assert records[0].start == datetime(2021, 6, 30, tzinfo=UTC)
    assert all(r.cost is None and r.extra == {} and r.final for r in records)


@pytest.mark.parametrize(
    "day",
    [
        {**DAY, "data": {**DAY["data"], "volume_tx": "n/a"}},
        {**DAY, "sms": {**DAY["sms"], "volume_tx": "0.5"}},
        {**DAY, "data": {**DAY["data"], "traffic_type": {"unit": "GB"}}},
        {key: value for key, value in DAY.items() if key != "date"},
    ],
    ids=["text", "fraction", "unit", "no-date"],
)
def test_malformed_usage_becomes_unexpected_response_errors(
    connector: OneNceConnector, day: dict[str, Any]
) -> None:
    with pytest.raises(UnexpectedResponseError, match="usage"):
        list(
            connector.map_records(
                [day],
                lambda r: mapping.to_usage(r, iccid=ICCID, now=NOW),
                endpoint="GET /v1/sims/{iccid}/usage",
            )
        )


def test_status_event() -> None:
    event = mapping.to_audit_event(EVENT, iccid=ICCID)
    assert (event.kind, event.field, event.old_value, event.new_value) == (
        AuditKind.STATUS_CHANGE,
        "status",
        "Issued",
        "Activated",
    )
    assert event.occurred_at == datetime(2018, 5, 7, 14, 8, 5, tzinfo=UTC)
    assert (event.iccid, event.id, event.actor) == (ICCID, None, None)
    assert event.extra == {
        "event_severity": "Info",
        "alert": False,
        "country": "Germany",
        "operator": "T-Mobile",
        "mcc": "262",
        "mnc": "01",
    }


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Create PDP Context", AuditKind.SESSION),
        ("Delete PDP Context", AuditKind.SESSION),
        ("Update GPRS location", AuditKind.SESSION),
        ("SMS quota used up", AuditKind.OTHER),
        (None, AuditKind.OTHER),
    ],
)
def test_event_kinds_from_the_text(text: str | None, kind: AuditKind) -> None:
    assert mapping.to_audit_event(drifted(EVENT, event_type=text), iccid=ICCID).kind is kind


def test_event_items_read_both_versions() -> None:
    assert mapping.event_items({"events": [EVENT], "totalEvents": 1, "totalPages": 1}) == [EVENT]
    assert mapping.event_items([EVENT]) == [EVENT]
    assert mapping.event_items({"events": None}) == []


def test_product_as_tariff() -> None:
    tariff = mapping.to_tariff(PRODUCT)
    assert (tariff.id, tariff.name, tariff.description) == (
        "1001",
        "1NCE IoT FlexSIM - Standard",
        "1NCE FlexSIM",
    )
    assert (tariff.currency, tariff.recurring_fee) == ("EUR", Decimal("0.5"))
    assert tariff.extra["one_time_charges"] == [
        {"name": "provisionCharge", "amount": "10", "currency": "EUR"}
    ]
    assert tariff.extra["min_contract_duration_months"] == 120


def test_product_with_one_time_charges_only() -> None:
    tariff = mapping.to_tariff(drifted(PRODUCT, recurring_charges=[]))
    assert (tariff.currency, tariff.recurring_fee) == ("EUR", None)


@pytest.mark.parametrize(
    "product",
    [
        drifted(
            PRODUCT,
            recurring_charges=[
                {"amount_net": 1, "currency": "EUR"},
                {"amount_net": 1, "currency": "USD"},
            ],
        ),
        {key: value for key, value in PRODUCT.items() if key != "id"},
    ],
    # A charge without ``amount_net`` is valid (the spec's Charge requires no field):
    # tests/test_1nce_mapping_evidence.py maps it with the fee unknown.
    ids=["two-currencies", "no-id"],
)
def test_malformed_products(connector: OneNceConnector, product: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedResponseError, match="products"):
        list(connector.map_records([product], mapping.to_tariff, endpoint="GET /v1/products"))


def test_usage_answer_must_be_an_object(connector: OneNceConnector) -> None:
    assert mapping.usage_days({"stats": [DAY]}) == [DAY]
    assert mapping.usage_days(None) == []
    with pytest.raises(UnexpectedResponseError, match="usage"):
        connector.map_one([DAY], mapping.usage_days, endpoint="GET /v1/sims/{iccid}/usage")
