"""Hologram mapping: the edges the main mapping tests leave open (found by mutation
testing). Payloads are those of ``hologram_payloads``, shaped from the documented examples
of the Hologram REST API reference."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_sdk import SimStatus, UnexpectedResponseError
from cdp_sdk.connectors.hologram import mapping
from hologram_payloads import DAILY, DEVICE, ICCID, LINK, LINK_ID, MONTHLY, PLAN, SESSIONS, with_

NOW = datetime(2024, 6, 15, tzinfo=UTC)

ENVELOPE_ERRORS: list[tuple[Callable[[Any], Any], Any, str]] = [
    (mapping.answer_data, ["not", "an", "object"], "the answer is not a JSON object"),
    (mapping.answer_data, {"success": False, "error": "Invalid linkid"}, "(Invalid linkid)"),
    (mapping.page_items, {"success": True, "data": {"id": 1}}, "the answer's data is not a list"),
    (
        mapping.page_items,
        {"success": True, "continues": True, "data": []},
        "an empty page says more records follow (continues) and names none to start "
        "after; refusing to end the listing short",
    ),
    (
        mapping.single_page_items,
        {"success": True, "continues": True, "data": [{"id": 1}]},
        "the answer says more records follow, but this endpoint takes no cursor to "
        "fetch them; refusing a short list",
    ),
    (mapping.link_id, {"id": None}, "the last record of a page has no id"),
    (mapping.record_id, "not a record", "the last record of a page has no id"),
]


@pytest.mark.parametrize(("read", "body", "message"), ENVELOPE_ERRORS)
def test_an_envelope_error_names_hologram_and_says_what_is_wrong(
    read: Callable[[Any], Any], body: Any, message: str
) -> None:
    with pytest.raises(UnexpectedResponseError) as exc:
        read(body)
    assert exc.value.connector == "hologram"
    assert message in exc.value.message


def test_monthly_and_session_rows_carry_the_iccid_asked_for() -> None:
    assert mapping.to_monthly_usage(ICCID, MONTHLY[0], now=NOW).iccid == ICCID
    assert mapping.to_session_usage(ICCID, SESSIONS[0], now=NOW).iccid == ICCID


def test_a_day_that_ends_now_is_final() -> None:
    record = mapping.to_daily_usage(ICCID, DAILY[0], now=datetime(2024, 5, 3, tzinfo=UTC))
    assert record.end == datetime(2024, 5, 3, tzinfo=UTC)
    assert record.final is True


def test_a_plan_without_tiers_keeps_its_facts_in_extra() -> None:
    [tariff] = mapping.to_tariffs({"id": 5, "name": "Legacy", "data": "0", "recurring": 1})
    assert tariff.extra == {"plan_id": 5, "recurring": True}


def test_empty_plan_flags_and_billing_period_are_absent() -> None:
    plan = with_(PLAN, recurring="", enabled="", developerplan="", billingperiod="")
    extra = mapping.to_tariffs(plan)[0].extra
    for key in ("recurring", "enabled", "developerplan", "billing_period_days"):
        assert key not in extra


def test_a_true_billing_period_is_no_day_count() -> None:
    assert "billing_period_days" not in mapping.to_tariffs(with_(PLAN, billingperiod=True))[0].extra


def test_an_empty_zone_is_no_zone_in_the_tariff_id() -> None:
    device = with_(DEVICE)
    device["links"]["cellular"][0]["plan"]["zone"] = ""
    subscription = mapping.to_subscription(with_(LINK, zone=""), device)
    assert subscription.tariff == "127"


def test_empty_device_fields_stay_out_of_extra() -> None:
    device = with_(DEVICE, model="", manufacturer="")
    extra = mapping.to_subscription(LINK, device).extra
    assert "model" not in extra
    assert "manufacturer" not in extra


def test_a_nested_error_without_text_has_no_message() -> None:
    assert mapping.parse_error({"success": False, "error": {}}).message is None


def test_a_link_state_that_is_no_text_is_not_reported() -> None:
    device = with_(DEVICE)
    device["links"]["cellular"][0]["state"] = 7
    change = mapping.to_status_change(
        ICCID, SimStatus.SUSPENDED, "pause", LINK_ID, mapping_answer(device)
    )
    assert change.state == "pending"
    assert change.extra == {"action": "pause"}


def test_a_22_digit_iccid_is_complete() -> None:
    assert mapping.full_iccid("8944500112233445566778") == "8944500112233445566778"


def mapping_answer(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data}
