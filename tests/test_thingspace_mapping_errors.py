"""ThingSpace mapping: what a malformed record's error says, and edges of the rules.

A record that does not map reaches the user as ``UnexpectedResponseError`` quoting the
mapping error ("a record could not be mapped (TypeError: deviceIds: expected a list)"): it
must name the field as Verizon's API reference spells it (``deviceIds``,
``carrierInformations``, ``extendedAttributes``...), so that the user finds it in the answer.
Records are the documented examples of ``test_thingspace_mapping`` with one field broken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cdp_sdk import SimStatus
from cdp_sdk.connectors.thingspace import mapping
from test_thingspace_mapping import CONNECTIONS, HISTORY, ICCID, NOW, device

DAY = {"bytesUsed": 1024, "timestamp": "2024-05-01T00:00:00Z"}
ENTRY = HISTORY[0]["provisioningHistory"][0]


def usage(**changes: Any) -> list[Any]:
    return mapping.to_usage(ICCID, {**DAY, **changes}, now=NOW)


def event(occurred: str | None, **attributes: str) -> dict[str, Any]:
    pairs = [{"key": key, "value": value} for key, value in attributes.items()]
    return {"connectionEventAttributes": pairs, "occurredAt": occurred}


CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    (
        "deviceIds not a list",
        lambda: mapping.to_subscription(device(deviceIds="89148000000800784259")),
        TypeError,
        "deviceIds: expected a list",
    ),
    (
        "deviceIds of texts",
        lambda: mapping.to_subscription(device(deviceIds=["89148000000800784259"])),
        TypeError,
        "deviceIds: expected objects",
    ),
    (
        "no iccid",
        lambda: mapping.to_subscription(
            device(deviceIds=[{"id": "990013907835573", "kind": "imei"}])
        ),
        ValueError,
        "deviceIds: no iccid",
    ),
    (
        "carrierInformations not a list",
        lambda: mapping.device_state(device(carrierInformations={"state": "active"})),
        TypeError,
        "carrierInformations: expected a list",
    ),
    (
        "no state",
        lambda: mapping.device_state(device(carrierInformations=[{"state": " "}])),
        ValueError,
        "carrierInformations: no state",
    ),
    (
        "groupNames not a list",
        lambda: mapping.to_subscription(device(groupNames="4G West")),
        TypeError,
        "groupNames: expected a list",
    ),
    (
        "device extendedAttributes not a list",
        lambda: mapping.to_subscription(device(extendedAttributes={"key": "x"})),
        TypeError,
        "extendedAttributes: expected a list",
    ),
    (
        "customFields not a list",
        lambda: mapping.to_subscription(device(customFields="fleet-A")),
        TypeError,
        "customFields: expected a list",
    ),
    (
        "customFields without key",
        lambda: mapping.to_subscription(device(customFields=[{"value": "fleet-A"}])),
        TypeError,
        "customFields: expected {key, value} objects",
    ),
    (
        "account name of a number type",
        lambda: mapping.to_subscription(device(accountName=1.5)),
        TypeError,
        "expected text, got float",
    ),
    (
        "status change answer not an object",
        lambda: mapping.to_status_change(ICCID, SimStatus.ACTIVE, ["x"]),
        TypeError,
        "expected an object with requestId",
    ),
    (
        "status change without requestId",
        lambda: mapping.to_status_change(ICCID, SimStatus.ACTIVE, {"requestId": " "}),
        ValueError,
        "missing requestId",
    ),
    (
        "request status answer not an object",
        lambda: mapping.request_state("Success"),
        TypeError,
        "expected an object with status",
    ),
    (
        "request status unknown",
        lambda: mapping.request_state({"status": "Queued"}),
        ValueError,
        "unknown request status",
    ),
    ("plan without code or name", lambda: mapping.to_tariff({}), ValueError, "code: missing"),
    (
        "plan size a boolean",
        lambda: mapping.to_tariff({"code": "M2M5GB", "sizeKb": True}),
        TypeError,
        "sizeKb: expected a count, got a boolean",
    ),
    (
        "plan size negative",
        lambda: mapping.to_tariff({"code": "M2M5GB", "sizeKb": -1}),
        ValueError,
        "sizeKb: expected a whole, non-negative count",
    ),
    (
        "plan extendedAttributes not a list",
        lambda: mapping.to_tariff({"code": "M2M5GB", "extendedAttributes": "x"}),
        TypeError,
        "extendedAttributes: expected a list",
    ),
    (
        "bytesUsed negative",
        lambda: usage(bytesUsed=-1),
        ValueError,
        "bytesUsed: expected a whole, non-negative count",
    ),
    (
        "usage extendedAttributes not a list",
        lambda: usage(extendedAttributes={"MoSms": "1"}),
        TypeError,
        "extendedAttributes: expected a list",
    ),
    (
        "usage without its day",
        lambda: mapping.to_usage(ICCID, {"bytesUsed": 1024}, now=NOW),
        ValueError,
        "timestamp: missing",
    ),
    (
        "SMS by direction negative",
        lambda: usage(moSMS=-1, mtSMS=2),
        ValueError,
        "sms: expected a whole, non-negative count",
    ),
    (
        "smsUsed a fraction",
        lambda: usage(smsUsed=1.5),
        ValueError,
        "smsUsed: expected a whole, non-negative count",
    ),
    (
        "connection event without time",
        lambda: mapping.sessions(ICCID, [event(None, Event="Start")], open_start=None),
        ValueError,
        "occurredAt: missing",
    ),
    (
        "connection event attributes not a list",
        lambda: mapping.sessions(
            ICCID,
            [{"connectionEventAttributes": "Start", "occurredAt": "2015-12-17T14:12:36Z"}],
            open_start=None,
        ),
        TypeError,
        "attributes: expected a list",
    ),
    (
        "session bytes a fraction",
        lambda: mapping.sessions(
            ICCID, [event("2015-12-17T14:12:36Z", Event="Stop", BytesUsed="1.5")], open_start=None
        ),
        ValueError,
        "BytesUsed: expected a whole, non-negative count",
    ),
    (
        "history entry without time",
        lambda: mapping.to_audit_event(ICCID, {**ENTRY, "occurredAt": None}),
        ValueError,
        "occurredAt: missing",
    ),
    (
        "history extendedAttributes not a list",
        lambda: mapping.to_audit_event(ICCID, {**ENTRY, "extendedAttributes": "x"}),
        TypeError,
        "extendedAttributes: expected a list",
    ),
    (
        "history list not a list",
        lambda: mapping.history_items({"provisioningHistory": "x", "hasMoreData": False}),
        TypeError,
        "provisioningHistory: expected a list",
    ),
    (
        "history answer without its list",
        lambda: mapping.history_items({"hasMoreData": False}),
        ValueError,
        "expected provisioningHistory",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_malformed_record_says_which_field_and_why(
    call: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as exc:
        call()
    assert str(exc.value) == message


def test_every_tag_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match="CustomField2") as exc:
        mapping.custom_field_updates({"CustomField1": None, "CustomField2": "a<b"}, ())
    problems = str(exc.value).split("; ")
    assert len(problems) == 2
    assert problems[0].startswith("'CustomField1' needs a value")
    assert problems[1].startswith("'CustomField2'")


def test_a_plan_known_only_by_name_is_activated_by_that_name() -> None:
    tariff = mapping.to_tariff({"name": "M2MSHR5GB"})
    assert tariff.id == "M2MSHR5GB"
    assert tariff.name == "M2MSHR5GB"
    assert tariff.included_data_bytes is None


def test_a_plan_without_size_has_no_allowance() -> None:
    tariff = mapping.to_tariff({"code": "M2M5GB", "name": "5 GB"})
    assert tariff.included_data_bytes is None
    assert tariff.extra == {}


def test_a_connection_event_without_its_kind_is_skipped() -> None:
    start = event("2015-12-17T14:12:36Z", Event="Start")
    unnamed = event("2015-12-18T00:00:00Z", BytesUsed="7")
    stop = event("2015-12-19T01:20:00Z", Event="Stop", BytesUsed="419863234")
    records, left_open = mapping.sessions(ICCID, [start, unnamed, stop], open_start=None)
    [session] = records
    assert session.iccid == ICCID
    assert session.quantity == 419863234
    assert session.start == datetime(2015, 12, 17, 14, 12, 36, tzinfo=UTC)
    assert left_open is None


def test_the_documented_sessions_carry_the_iccid() -> None:
    records, _ = mapping.sessions(ICCID, CONNECTIONS, open_start=None)
    assert [record.iccid for record in records] == [ICCID]


@pytest.fixture
def new_york_clock() -> Iterator[None]:
    """The machine's local time zone is not UTC (a user in New York)."""
    saved = time.tzname
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "America/New_York")
        time.tzset()
        yield
    time.tzset()
    assert time.tzname == saved


def test_a_request_time_is_utc_whatever_the_local_time_zone(new_york_clock: None) -> None:
    moment = datetime(2024, 5, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert mapping.request_instant(moment) == "2024-05-01T00:00:00Z"


def test_an_error_code_that_ends_with_its_dot_is_kept() -> None:
    assert mapping.vendor_code("UnifiedWebService.") == "UnifiedWebService."
