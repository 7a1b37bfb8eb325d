"""Cisco Control Center mapping: what a user reads when a record is odd, and at the edges.

Shapes from the reference (operator-platforms.md, Cisco IoT Control Center): Get Device
Details (``eid``: "string, for eSIM; null otherwise"), Search Devices (``iccid``), Get
Rate Plans (``name``), Get Device Usage (``ctdDataUsage``, ``ctdSMSUsage``,
``ctdVoiceUsage``), Get Device Usage by Zone (``cycleStartDate``, ``cycleEndDate``) and Get
Device Audit Trail (``effectiveDate``); request instants in ISO 8601 with an offset, and
Search Devices' ``modifiedSince`` windows of at most one year.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cdp_sdk import UnexpectedResponseError
from cdp_sdk.connectors.jasper import JasperConnector, JasperSettings, mapping

ICCID = "8988216716970004975"
CYCLE = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))


def refusal(mapper: Callable[[Any], Any], record: Any, endpoint: str) -> str:
    connector = JasperConnector(
        JasperSettings(base_url="https://cc.example.test", username="u", api_key="k")
    )
    with pytest.raises(UnexpectedResponseError) as caught:
        connector.map_one(record, mapper, endpoint=endpoint)
    return caught.value.message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"ctdDataUsage": True}, "TypeError: expected a count, got a boolean"),
        ({"ctdSMSUsage": 1.5}, "ValueError: expected a whole, non-negative count"),
    ],
)
def test_bad_counts_are_refused_in_words(body: dict[str, Any], reason: str) -> None:
    message = refusal(
        lambda b: mapping.to_cycle_to_date(ICCID, CYCLE, b), body, "GET /devices/{iccid}/ctdUsages"
    )
    assert message == f"GET /devices/{{iccid}}/ctdUsages: a record could not be mapped ({reason})"


def test_an_audit_entry_with_a_blank_date_is_refused_in_words() -> None:
    record = {"field": "Status", "value": "ACTIVATED", "effectiveDate": ""}
    message = refusal(
        lambda r: mapping.to_audit_event(ICCID, r), record, "GET /devices/{iccid}/auditTrails"
    )
    assert message == (
        "GET /devices/{iccid}/auditTrails: a record could not be mapped "
        "(ValueError: missing date-time)"
    )


def test_a_listed_device_with_a_numeric_iccid_is_refused_in_words() -> None:
    message = refusal(mapping.listed_iccid, {"iccid": 8988216716970004975}, "GET /devices")
    assert message == (
        "GET /devices: a record could not be mapped "
        "(ValueError: iccid: expected a non-empty string)"
    )


@pytest.mark.parametrize("name", [5, ""])
def test_a_rate_plan_without_a_text_name_is_refused_in_words(name: Any) -> None:
    message = refusal(mapping.to_tariff, {"name": name, "type": "Monthly"}, "GET /rateplans")
    assert message == (
        "GET /rateplans: a record could not be mapped "
        "(ValueError: name: expected a non-empty string)"
    )


def test_a_device_field_of_the_wrong_type_is_refused_naming_it() -> None:
    device = {"iccid": ICCID, "status": "ACTIVATED", "imsi": {"value": "901161697004975"}}
    message = refusal(mapping.to_subscription, device, "GET /devices/{iccid}")
    assert message == (
        "GET /devices/{iccid}: a record could not be mapped (TypeError: expected text, got dict)"
    )


def test_the_eid_of_an_esim_is_kept() -> None:
    eid = "89049032000001000000012345678901"
    device = {"iccid": ICCID, "status": "ACTIVATED", "eid": eid}
    assert mapping.to_subscription(device).eid == eid
    assert mapping.to_subscription({**device, "eid": None}).eid is None


def test_cycle_to_date_records_are_the_sim_s_and_open() -> None:
    records = mapping.to_cycle_to_date(ICCID, CYCLE, {"ctdDataUsage": 10, "ctdVoiceUsage": 60})
    assert [(r.iccid, r.final) for r in records] == [(ICCID, False), (ICCID, False)]


def test_a_cycle_is_known_only_with_both_its_ends() -> None:
    assert mapping.cycle_bounds({"cycleEndDate": "2024-05-31T23:59:59Z"}) is None
    assert mapping.cycle_bounds({"cycleStartDate": "2024-05-01T00:00:00Z"}) is None


def test_a_window_ending_exactly_now_is_the_last_open_one() -> None:
    since = datetime(2023, 6, 16, tzinfo=UTC)
    now = since + timedelta(days=365)
    assert list(mapping.search_windows(since, now)) == [(since, None)]


def test_request_instants_are_utc_whatever_the_machine_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        moment = datetime(2016, 4, 18, 21, 31, 34, tzinfo=timezone(timedelta(hours=2)))
        instant = mapping.request_instant(moment)
        windows = list(mapping.search_windows(moment, moment + timedelta(days=1)))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert instant == "2016-04-18T19:31:34+00:00"
    assert windows[0][0].isoformat() == "2016-04-18T19:31:34+00:00"
