"""Soracom mapping: pure functions over documented, drifted and malformed payloads."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from cdp_sdk import AuditKind, Direction, Granularity, SimStatus, Tag, UnexpectedResponseError
from cdp_sdk.connectors.soracom import SoracomConnector, SoracomSettings, mapping

ICCID = "8942310222000012345"
IMSI = "295050012345678"
NOW = datetime(2024, 6, 15, tzinfo=UTC)

SIM: dict[str, Any] = {
    "simId": ICCID,
    "operatorId": "OP0012345678",
    "status": "active",
    "type": "uicc",
    "speedClass": "s1.standard",
    "tags": {"name": "", "fleet": "north", "spare": ""},
    "createdTime": 1700000000000,
    "lastModifiedTime": 1716200000000,
    "sessionStatus": {"online": False, "lastUpdatedAt": 1716200000000},
    "previousSession": {"imei": "356938035643809", "imsi": IMSI, "ueIpAddress": "10.0.0.9"},
    "profiles": {
        ICCID: {
            "iccid": ICCID,
            "primaryImsi": IMSI,
            "subscribers": {
                IMSI: {"imsi": IMSI, "msisdn": "423650012345678", "subscription": "plan01s"}
            },
        }
    },
}


def sim(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SIM), **changes}


# -- subscriptions ------------------------------------------------------------------------


def test_an_offline_sim_keeps_the_imei_of_its_previous_session() -> None:
    subscription = mapping.to_subscription(SIM)
    assert subscription.imei == "356938035643809"
    assert subscription.ip_address is None  # no address while offline
    assert subscription.extra["online"] is False


def test_an_empty_name_tag_is_dropped_and_empty_values_become_none() -> None:
    assert mapping.to_subscription(SIM).tags == (
        Tag(key="fleet", value="north"),
        Tag(key="spare", value=None),
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("ready", SimStatus.READY),
        ("testing", SimStatus.TEST),
        ("active", SimStatus.ACTIVE),
        ("inactive", SimStatus.SUSPENDED),  # sessions blocked, the basic fee still applies
        ("standby", SimStatus.READY),  # re-activates on the next connection
        ("suspended", SimStatus.DEACTIVATED),  # long-term storage, basic fee waived/reduced
        ("terminated", SimStatus.RETIRED),
        ("shipped", SimStatus.INVENTORY),
        ("instock", SimStatus.INVENTORY),
        ("inStock", SimStatus.INVENTORY),
        ("hibernating", SimStatus.UNKNOWN),
    ],
)
def test_status_map(raw: str, status: SimStatus) -> None:
    subscription = mapping.to_subscription(sim(status=raw))
    assert subscription.status is status
    assert subscription.status_raw == raw


def test_the_active_profile_of_an_euicc_gives_the_identifiers() -> None:
    bootstrap = "8942310000000000018"
    euicc = sim(
        simId=bootstrap,
        activeProfileId=ICCID,
        profiles={bootstrap: {"iccid": bootstrap}, **SIM["profiles"]},
    )
    subscription = mapping.to_subscription(euicc)
    assert subscription.id == bootstrap
    assert subscription.iccid == ICCID
    assert subscription.imsi == IMSI
    assert subscription.extra["profiles"] == [bootstrap, ICCID]
    assert mapping.profile_iccids(euicc) == (bootstrap, ICCID)


def test_without_active_profile_the_profile_with_subscribers_is_taken() -> None:
    empty = "8942310000000000026"
    subscription = mapping.to_subscription(sim(profiles={empty: {}, **SIM["profiles"]}))
    assert subscription.iccid == ICCID


def test_a_profile_keyed_by_iccid_without_the_field_still_maps() -> None:
    profile = {"subscribers": {IMSI: {"imsi": IMSI}}}
    assert mapping.to_subscription(sim(profiles={ICCID: profile})).iccid == ICCID


def test_drifted_sims_map() -> None:
    minimal = {"simId": ICCID, "status": "ready", "profiles": {ICCID: {"iccid": ICCID}}}
    subscription = mapping.to_subscription({**minimal, "newField": {"x": 1}})
    assert subscription.imsi is None
    assert subscription.tags == ()
    assert subscription.created_at is None
    assert subscription.extra == {}


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in SIM.items() if k != "profiles"},
        sim(profiles={}),
        sim(status=None),
        sim(createdTime="yesterday"),
        sim(profiles={ICCID: {"iccid": "12"}}),
        sim(profiles=[ICCID]),
    ],
    ids=["no-profiles", "empty-profiles", "no-status", "bad-time", "bad-iccid", "wrong-type"],
)
def test_malformed_sims_become_unexpected_response_errors(broken: dict[str, Any]) -> None:
    connector = SoracomConnector(SoracomSettings(auth_key_id="k", auth_key="s"))
    with pytest.raises(UnexpectedResponseError, match=r"GET /v1/sims: a record could not be"):
        list(connector.map_records([broken], mapping.to_subscription, endpoint="GET /v1/sims"))


def test_lenient_mode_skips_a_malformed_sim() -> None:
    settings = SoracomSettings(auth_key_id="k", auth_key="s", strict=False)
    connector = SoracomConnector(settings)
    records = [sim(profiles={}), SIM]
    mapped = list(connector.map_records(records, mapping.to_subscription, endpoint="GET"))
    assert [s.iccid for s in mapped] == [ICCID]
    assert connector.skipped_records == 1


def test_search_results_match_the_whole_iccid() -> None:
    assert mapping.find_by_iccid(ICCID, [SIM]) is SIM
    assert mapping.find_by_iccid(ICCID[:-1], [SIM]) is None
    with pytest.raises(TypeError):
        mapping.find_by_iccid(ICCID, {"sims": []})  # type: ignore[arg-type]


# -- lifecycle ----------------------------------------------------------------------------


def test_activation_modes_table_is_consistent() -> None:
    names = {mode.name for mode in mapping.ACTIVATION_MODES}
    assert names <= set(mapping.STATUS)
    for mode in mapping.ACTIVATION_MODES:
        assert set(mode.next) <= names
        assert mode.status is mapping.STATUS[mode.name]
    settable = {mode.status for mode in mapping.ACTIVATION_MODES if mode.settable}
    assert settable == set(mapping.ACTIONS_FOR)
    ready = next(mode for mode in mapping.ACTIVATION_MODES if mode.name == "ready")
    assert ready.auto_activates
    assert not ready.settable
    assert all("ready" not in mode.next for mode in mapping.ACTIVATION_MODES)


def test_the_status_table_follows_the_normalized_definitions() -> None:
    """deactivated: off and not billed; suspended: blocked for now, may be billed."""
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    # inactive keeps "the standard basic daily fee": billed, so not deactivated
    assert (modes["inactive"].status, modes["inactive"].billable) == (SimStatus.SUSPENDED, True)
    # suspended: fee waived or reduced by plan, long-term storage
    assert (modes["suspended"].status, modes["suspended"].billable) == (
        SimStatus.DEACTIVATED,
        None,
    )
    assert all(
        mode.billable is not True
        for mode in modes.values()
        if mode.status
        in (
            SimStatus.DEACTIVATED,
            SimStatus.RETIRED,
            SimStatus.INVENTORY,
            SimStatus.TEST,
        )
    )
    assert (modes["testing"].status, modes["testing"].billable) == (SimStatus.TEST, False)
    assert modes["standby"].auto_activates
    assert modes["standby"].status is SimStatus.READY
    assert mapping.ACTIONS_FOR[SimStatus.SUSPENDED] == ("deactivate",)
    assert mapping.ACTIONS_FOR[SimStatus.DEACTIVATED] == ("suspend",)


def test_terminating_enables_termination_first() -> None:
    assert mapping.ACTIONS_FOR[SimStatus.RETIRED] == ("enable_termination", "terminate")


def test_tag_updates_send_empty_strings_for_missing_values() -> None:
    assert mapping.tag_updates({"a": "1", "b": None}) == [
        {"tagName": "a", "tagValue": "1"},
        {"tagName": "b", "tagValue": ""},
    ]


# -- usage --------------------------------------------------------------------------------


def test_a_daily_row_becomes_two_tidy_records() -> None:
    row = {
        "unixtime": 1718323200,  # 2024-06-14
        "dataTrafficStatsMap": {"s1.standard": {"uploadByteSizeTotal": 5}},
    }
    [upload] = mapping.to_usage(ICCID, row, period="day", now=NOW)
    assert (upload.direction, upload.quantity, upload.final) == (Direction.MO, 5, True)
    assert upload.granularity is Granularity.DAY
    today = {**row, "unixtime": 1718409600}
    assert not mapping.to_usage(ICCID, today, period="day", now=NOW)[0].final


def test_a_japanese_month_bucket_ends_at_the_next_japanese_midnight() -> None:
    row = {"unixtime": 1714489200, "uploadByteSizeTotal": 1}  # 2024-05-01 00:00 JST
    [record] = mapping.to_usage(None, row, period="month", now=NOW)
    assert record.start == datetime(2024, 4, 30, 15, tzinfo=UTC)
    assert record.end == datetime(2024, 5, 31, 15, tzinfo=UTC)


def test_a_december_bucket_ends_in_january() -> None:
    row = {"unixtime": 1701388800, "downloadByteSizeTotal": 1}  # 2023-12-01
    [record] = mapping.to_usage(None, row, period="month", now=NOW)
    assert record.end == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "row",
    [
        {"dataTrafficStatsMap": {}},
        {"unixtime": 1718323200, "uploadByteSizeTotal": "many"},
        {"unixtime": 1718323200, "uploadByteSizeTotal": -1},
        {"unixtime": 1718323200, "dataTrafficStatsMap": {"s1": {"uploadByteSizeTotal": True}}},
    ],
    ids=["no-unixtime", "text", "negative", "boolean"],
)
def test_malformed_usage_rows_raise(row: dict[str, Any]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        mapping.to_usage(ICCID, row, period="day", now=NOW)


# -- audit events -------------------------------------------------------------------------


def test_history_entries_compare_with_the_previous_entry_of_their_imsi() -> None:
    base = {"imsi": IMSI, "status": "active", "subscription": "plan01s", "speedClass": "s1.slow"}
    other = {"imsi": "295050099999999", "status": "ready", "subscription": "planX3"}
    entries = [
        {**base, "applyDateTimeEpochSec": 1},
        {**other, "applyDateTimeEpochSec": 2},
        {**base, "subscription": "planX3", "applyDateTimeEpochSec": 3},
        {**base, "subscription": "planX3", "applyDateTimeEpochSec": 4},
    ]
    events = [
        mapping.to_history_event(ICCID, entry, previous)
        for entry, previous in mapping.with_previous(entries)
    ]
    assert [(e.kind, e.field, e.old_value, e.new_value) for e in events] == [
        (AuditKind.STATUS_CHANGE, "status", None, "active"),
        (AuditKind.STATUS_CHANGE, "status", None, "ready"),
        (AuditKind.TARIFF_CHANGE, "subscription", "plan01s", "planX3"),
        (AuditKind.STATUS_CHANGE, "status", "active", "active"),  # re-applied
    ]


def test_with_previous_passes_malformed_entries_through() -> None:
    assert mapping.with_previous(["junk", {"imsi": IMSI}]) == [
        ("junk", None),
        ({"imsi": IMSI}, None),
    ]


def test_a_history_entry_without_time_raises() -> None:
    with pytest.raises(KeyError):
        mapping.to_history_event(ICCID, {"status": "active"}, None)


def test_an_api_audit_entry_without_time_raises() -> None:
    with pytest.raises(KeyError, match="requestedTimeEpochMs"):
        mapping.to_api_audit_event({"apiKind": "/v1/bills"})


def test_a_session_event_keeps_its_details() -> None:
    event = mapping.to_session_event(
        ICCID, {"event": "Deleted", "time": 1716200000000, "sessionId": "s-1", "extra": 1}
    )
    assert (event.kind, event.new_value) == (AuditKind.SESSION, "Deleted")
    assert event.extra == {"sessionId": "s-1"}


# -- invoices -----------------------------------------------------------------------------


def test_a_bill_without_currency_takes_the_currency_of_its_bill_items() -> None:
    items = {"202406": {"yearMonth": "202406", "currency": "USD", "costBreakdownList": []}}
    invoice = mapping.to_invoice({"yearMonth": "202406", "amount": 1.1}, items=items)
    assert (invoice.currency, invoice.total) == ("USD", Decimal("1.1"))
    assert (invoice.period_start, invoice.period_end) == (date(2024, 6, 1), date(2024, 6, 30))
    assert invoice.lines == ()


@pytest.mark.parametrize(
    "bill",
    [
        {"yearMonth": "2024-06", "amount": 1, "currency": "EUR"},
        {"yearMonth": "202406", "currency": "EUR"},
        {"yearMonth": "202406", "amount": 1},
        {"yearMonth": "202413", "amount": 1, "currency": "EUR"},
    ],
    ids=["month-format", "no-amount", "no-currency", "month-13"],
)
def test_malformed_bills_raise(bill: dict[str, Any]) -> None:
    with pytest.raises((KeyError, ValueError)):
        mapping.to_invoice(bill, items={})


def test_months_are_listed_newest_first_with_unlisted_recent_months() -> None:
    history = {"billList": [{"yearMonth": "202404"}, {"yearMonth": "202405"}]}
    months = mapping.bills_by_month(history, items={"202406": {}, "202405": {}})
    assert [(month, bill is not None) for month, bill in months] == [
        ("202406", False),
        ("202405", True),
        ("202404", True),
    ]
    assert mapping.bills_by_month({}, items={}) == []
