"""1NCE mapping: the fields, fallbacks and refusals a user reads, from 1NCE's OpenAPI specs.

Shapes from the official specs in the reference: ``SIM_card`` (``iccid`` without check
digit, ``iccid_with_luhn``, ``imsi_2`` "used for China+ network", ``current_imsi``,
``imei_lock``, ``quota_status_SMS``), ``Product`` (``product``, ``material``,
``package_size``, ``minQuantity``, ``maxQuantity``, ``maxQuantityPerCustomer``,
``min_contract_duration``, ``Charge{name, amount_net, currency}``), ``SIM_Event``
(``event_type`` text) and the usage answer ``{"stats": [...]}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from cdp_sdk import AuditKind, InvalidRequestError, UnexpectedResponseError
from cdp_sdk.connectors.onence import OneNceConnector, OneNceSettings, mapping

ICCID = "89882806660000000176"
PLAIN = "8988280666000000017"


@pytest.fixture
def connector() -> Iterator[OneNceConnector]:
    plugin = OneNceConnector(OneNceSettings(username="api-user", password=SecretStr("pw-123456")))
    yield plugin
    asyncio.run(plugin.aclose())


def test_a_sim_keeps_its_second_imsi_lock_and_sms_quota_state() -> None:
    record = {
        "iccid": PLAIN,
        "iccid_with_luhn": ICCID,
        "imsi": "901405100000017",
        "imsi_2": "901405100000917",
        "current_imsi": "901405100000917",
        "imei_lock": True,
        "status": "Enabled",
        "quota_status_SMS": {"id": 1, "description": "Less than 20% available"},
    }
    assert mapping.to_subscription(record).extra == {
        "imsi_2": "901405100000917",
        "current_imsi": "901405100000917",
        "imei_lock": True,
        "quota_status_sms": "Less than 20% available",
    }


def test_a_sim_given_only_with_its_check_digit_keeps_1nce_key() -> None:
    record = {"iccid_with_luhn": ICCID, "status": "Disabled"}
    subscription = mapping.to_subscription(record)
    assert (subscription.id, subscription.iccid) == (PLAIN, ICCID)


def test_more_than_one_tag_is_refused_naming_each() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        mapping.label_update({"site": "x"}, ["owner", "label"])
    assert caught.value.connector == "1nce"
    assert caught.value.message == (
        "a 1NCE SIM has one tag, 'label'; cannot set or remove owner, site"
    )


def test_a_usage_answer_that_is_not_an_object_is_refused_in_words(
    connector: OneNceConnector,
) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        connector.map_one([], mapping.usage_days, endpoint="GET /v1/sims/{iccid}/usage")
    assert caught.value.message == (
        "GET /v1/sims/{iccid}/usage: a record could not be mapped "
        "(TypeError: expected an object with stats)"
    )


def test_an_event_is_described_by_its_event_type_text() -> None:
    record = {"timestamp": "2018-05-07T14:08:05.000+0000", "event_type": "Delete PDP Context"}
    event = mapping.to_audit_event(record, iccid=ICCID)
    assert (event.kind, event.field, event.description) == (
        AuditKind.SESSION,
        None,
        "Delete PDP Context",
    )
    bare = mapping.to_audit_event({"timestamp": record["timestamp"]}, iccid=ICCID)
    assert (bare.kind, bare.description) == (AuditKind.OTHER, None)


def test_only_a_status_change_reads_old_and_new_values() -> None:
    record = {
        "timestamp": "2018-05-07T14:08:05.000+0000",
        "event_type": "Location update from 'Germany' to 'France'",
    }
    event = mapping.to_audit_event(record, iccid=ICCID)
    assert (event.field, event.old_value, event.new_value) == (None, None, None)


def test_a_product_keeps_its_order_limits_and_charges() -> None:
    product = {
        "id": 1001,
        "product": "1NCE IoT FlexSIM - Standard",
        "package_size": 10,
        "minQuantity": 1,
        "maxQuantity": 500,
        "maxQuantityPerCustomer": 5000,
        "recurring_charges": [{"name": "serviceFee", "amount_net": 0.5, "currency": "EUR"}],
    }
    tariff = mapping.to_tariff(product)
    assert tariff.extra == {
        "one_time_charges": [],
        "recurring_charges": [{"name": "serviceFee", "amount": "0.5", "currency": "EUR"}],
        "package_size": 10,
        "min_quantity": 1,
        "max_quantity": 500,
        "max_quantity_per_customer": 5000,
    }


def test_a_product_without_name_or_charges_is_named_by_its_id() -> None:
    tariff = mapping.to_tariff({"id": 1002})
    assert (tariff.name, tariff.currency, tariff.recurring_fee) == ("1002", None, None)


@pytest.mark.parametrize(
    "charge",
    [{"name": "b", "currency": "EUR"}, {"name": "b", "amount_net": None, "currency": "EUR"}],
)
def test_a_recurring_charge_without_an_amount_leaves_the_fee_unknown(
    charge: dict[str, object],
) -> None:
    # The spec's Charge requires none of its fields (name, amount_net, currency).
    product = {
        "id": 1004,
        "recurring_charges": [{"name": "a", "amount_net": 0.5, "currency": "EUR"}, charge],
    }
    tariff = mapping.to_tariff(product)
    assert (tariff.currency, tariff.recurring_fee) == ("EUR", None)
    assert tariff.extra["recurring_charges"] == [
        {"name": "a", "amount": "0.5", "currency": "EUR"},
        {"name": "b", "amount": None, "currency": "EUR"},
    ]


def test_recurring_charges_are_summed_exactly() -> None:
    product = {
        "id": 1005,
        "recurring_charges": [
            {"name": "a", "amount_net": 0.1, "currency": "EUR"},
            {"name": "b", "amount_net": 0.2, "currency": "EUR"},
        ],
    }
    assert mapping.to_tariff(product).recurring_fee == Decimal("0.3")


def test_recurring_charges_in_two_currencies_are_refused_in_words(
    connector: OneNceConnector,
) -> None:
    product = {
        "id": 1003,
        "recurring_charges": [
            {"name": "a", "amount_net": 1, "currency": "EUR"},
            {"name": "b", "amount_net": 1, "currency": "USD"},
        ],
    }
    with pytest.raises(UnexpectedResponseError) as caught:
        list(connector.map_records([product], mapping.to_tariff, endpoint="GET /v1/products"))
    assert caught.value.message == (
        "GET /v1/products: a record could not be mapped "
        "(ValueError: recurring charges in more than one currency)"
    )
