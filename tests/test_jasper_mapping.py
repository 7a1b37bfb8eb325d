"""Pure mapping of Cisco IoT Control Center payloads: tables, drift and malformed records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from cdp_sdk import AuditKind, Bearer, Direction, SimStatus, Tag, UnexpectedResponseError
from cdp_sdk.connectors.jasper import JasperConnector, JasperSettings, emulator, mapping

ICCID = "8988216716970004975"
DEVICE: dict[str, Any] = {
    "iccid": ICCID,
    "imsi": "901161697004975",
    "msisdn": "882351697004975",
    "imei": "356938035643809",
    "status": "ACTIVATED",
    "ratePlan": "IoT 10MB Pool",
    "communicationPlan": "CP_Data_SMS",
    "dateActivated": "2024-03-04 09:12:44.120+0000",
    "dateAdded": "2023-11-20 17:02:10.004+0000",
    "dateUpdated": "2024-05-01 08:00:03.551+0000",
    "accountId": "100020620",
    "fixedIPAddress": "10.20.30.40",
    "accountCustom1": "fleet-A",
    "accountCustom2": "",
    "customerCustom5": "  ",
    "operatorCustom3": "gold",
}


# -- tables ---------------------------------------------------------------------------------


def test_the_eight_states_map_as_the_issue_says() -> None:
    assert {state: status.value for state, status in mapping.STATUS.items()} == {
        "TEST_READY": "test",
        "INVENTORY": "inventory",
        "ACTIVATION_READY": "ready",
        "ACTIVATED": "active",
        "DEACTIVATED": "deactivated",
        "RETIRED": "retired",
        "PURGED": "retired",
        "REPLACED": "retired",
    }


def test_the_emulator_follows_the_declared_state_table() -> None:
    declared = {mode.name: frozenset(mode.next) for mode in mapping.ACTIVATION_MODES}
    assert declared == emulator.TRANSITIONS
    assert emulator.STATUS_OF == mapping.STATUS


def test_activation_modes_are_consistent() -> None:
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    assert set(modes) == set(mapping.STATUS)
    for mode in modes.values():
        assert set(mode.next) <= set(modes)
        assert all(modes[name].settable for name in mode.next)
        assert mode.status is mapping.STATUS[mode.name]
    assert modes["ACTIVATED"].billable is True
    assert modes["ACTIVATION_READY"].auto_activates is True
    assert {name for name, mode in modes.items() if not mode.next} == {
        "RETIRED",
        "PURGED",
        "REPLACED",
    }
    for state in ("TEST_READY", "ACTIVATION_READY"):  # never again once activated (10000029)
        assert state not in modes["ACTIVATED"].next
        assert state not in modes["DEACTIVATED"].next
    assert {modes[state].settable for state in mapping.STATE_FOR.values()} == {True}
    assert SimStatus.SUSPENDED not in mapping.STATE_FOR


def test_billing_per_state_follows_control_centers_state_table() -> None:
    """Only ACTIVATED is billed; DEACTIVATED is "inactive and not billable"."""
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    assert {name for name, mode in modes.items() if mode.billable} == {"ACTIVATED"}
    assert all(mode.billable is False for name, mode in modes.items() if name != "ACTIVATED")
    assert modes["DEACTIVATED"].status is SimStatus.DEACTIVATED
    assert [name for name, mode in modes.items() if mode.auto_activates] == ["ACTIVATION_READY"]
    assert mapping.STATE_FOR[SimStatus.DEACTIVATED] == "DEACTIVATED"


# -- subscriptions --------------------------------------------------------------------------


def test_device_details_map() -> None:
    sim = mapping.to_subscription(DEVICE)
    assert (sim.status, sim.status_raw) == (SimStatus.ACTIVE, "ACTIVATED")
    assert sim.ip_address == "10.20.30.40"
    assert sim.tags == (
        Tag(key="accountCustom1", value="fleet-A"),
        Tag(key="operatorCustom3", value="gold"),
    )
    assert sim.activated_at == datetime(2024, 3, 4, 9, 12, 44, 120000, tzinfo=UTC)


def test_drifted_device_details() -> None:
    unknown = mapping.to_subscription({**DEVICE, "status": "GLOBAL_TRANSFER", "newField": [1]})
    assert (unknown.status, unknown.status_raw) == (SimStatus.UNKNOWN, "GLOBAL_TRANSFER")
    minimal = mapping.to_subscription({"iccid": ICCID, "status": "RETIRED"})
    assert (minimal.status, minimal.tags, minimal.updated_at) == (SimStatus.RETIRED, (), None)
    # Tele2's catalogue names the field dateModified and shows other offsets
    tele2 = mapping.to_subscription(
        {"iccid": ICCID, "status": "INVENTORY", "dateModified": "2016-04-18 17:31:34.121+0050"}
    )
    assert tele2.updated_at == datetime(2016, 4, 18, 16, 41, 34, 121000, tzinfo=UTC)
    ipv6 = mapping.to_subscription(
        {**DEVICE, "fixedIPAddress": "", "fixedIpv6Address": "2605:9780::1"}
    )
    assert ipv6.ip_address == "2605:9780::1"
    assert mapping.to_subscription({**DEVICE, "accountId": 100020620}).account == "100020620"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"iccid": None}, ValueError),
        ({"status": None}, ValueError),
        ({"imsi": ["901161697004975"]}, TypeError),
        ({"accountCustom1": {"a": 1}}, TypeError),
        ({"dateUpdated": "yesterday"}, ValueError),
        ({"dateUpdated": 1714550403}, TypeError),
        ({"msisdn": "not a number"}, ValueError),
    ],
)
def test_malformed_device_details(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        mapping.to_subscription({**DEVICE, **change})
    with pytest.raises(KeyError):
        mapping.to_subscription({"status": "ACTIVATED"})


def test_mapping_errors_become_unexpected_response_errors() -> None:
    connector = JasperConnector(
        JasperSettings(base_url="https://cc.example.test", username="u", api_key="k")
    )
    with pytest.raises(UnexpectedResponseError, match=r"GET /devices/\{iccid\}.*'status'"):
        connector.map_one(
            {"iccid": ICCID}, mapping.to_subscription, endpoint="GET /devices/{iccid}"
        )


def test_listed_iccid() -> None:
    assert mapping.listed_iccid({"iccid": ICCID, "status": "ACTIVATED"}) == ICCID
    with pytest.raises(ValueError, match="iccid"):
        mapping.listed_iccid({"iccid": 8988216716970004975})
    with pytest.raises(KeyError):
        mapping.listed_iccid({"status": "ACTIVATED"})


def test_custom_field_changes() -> None:
    assert mapping.custom_field_changes({"accountCustom10": "x"}, ["operatorCustom5"]) == {
        "accountCustom10": "x",
        "operatorCustom5": "",
    }
    with pytest.raises(ValueError, match="not a Control Center custom field: AccountCustom1, b"):
        mapping.custom_field_changes({"b": "1", "AccountCustom1": "1"}, ())
    with pytest.raises(ValueError, match="give a value for customerCustom1"):
        mapping.custom_field_changes({"customerCustom1": " "}, ())


def test_search_windows() -> None:
    now = datetime(2024, 6, 15, 12, tzinfo=UTC)
    windows = list(mapping.search_windows(mapping.FULL_SYNC_SINCE, now))
    assert windows[0][0] == datetime(2000, 1, 1, tzinfo=UTC)
    for (_, end), (start, _) in pairwise(windows):
        assert end == start
    assert all(end - start == timedelta(days=365) for start, end in windows[:-1])  # type: ignore[operator]
    assert windows[-1][1] is None
    assert now - windows[-1][0] < timedelta(days=365)
    recent = datetime(2024, 6, 1, 8, 30, 15, 999999, tzinfo=UTC)
    assert list(mapping.search_windows(recent, now)) == [(recent.replace(microsecond=0), None)]


def test_request_instant() -> None:
    moment = datetime(2016, 4, 18, 19, 31, 34, 500, tzinfo=UTC) + timedelta(hours=0)
    assert mapping.request_instant(moment) == "2016-04-18T19:31:34+00:00"


def test_status_change() -> None:
    assert mapping.to_status_change(ICCID, SimStatus.ACTIVE, 200).state == "done"
    assert mapping.to_status_change(ICCID, SimStatus.ACTIVE, 202).state == "pending"


# -- tariffs --------------------------------------------------------------------------------


def test_rate_plan_keeps_its_parameters_in_extra() -> None:
    tariff = mapping.to_tariff({"name": "IoT 10MB Pool", "type": "Pooled", "unknown": None})
    assert (tariff.id, tariff.name, tariff.extra) == (
        "IoT 10MB Pool",
        "IoT 10MB Pool",
        {"type": "Pooled"},
    )
    with pytest.raises(ValueError, match="name"):
        mapping.to_tariff({"name": 7})
    with pytest.raises(KeyError):
        mapping.to_tariff({"type": "Pooled"})


# -- usage ----------------------------------------------------------------------------------


CTD = {"ctdDataUsage": 7340032, "ctdSMSUsage": "12", "ctdVoiceUsage": 60.0, "ctdSessionCount": 41}
CYCLE = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))


def test_cycle_to_date_usage() -> None:
    records = mapping.to_cycle_to_date(ICCID, CYCLE, CTD)
    assert [(r.bearer, r.quantity) for r in records] == [
        (Bearer.DATA, 7340032),
        (Bearer.SMS, 12),
        (Bearer.VOICE, 60),
    ]
    assert all(r.extra == {"ctdSessionCount": 41} and not r.final for r in records)
    assert mapping.to_cycle_to_date(ICCID, None, {"ctdDataUsage": 1})[0].start is None
    with pytest.raises(ValueError, match="non-negative"):
        mapping.to_cycle_to_date(ICCID, CYCLE, {"ctdDataUsage": -1})
    with pytest.raises(ValueError, match="whole"):
        mapping.to_cycle_to_date(ICCID, CYCLE, {"ctdSMSUsage": 1.5})
    with pytest.raises(TypeError):
        mapping.to_cycle_to_date(ICCID, CYCLE, {"ctdSMSUsage": True})


def test_cycle_bounds() -> None:
    body = {
        "cycleStartDate": "2018-08-26T16:00:00.000Z",
        "cycleEndDate": "2018-09-26T15:59:59.000Z",
    }
    assert mapping.cycle_bounds(body) == (
        datetime(2018, 8, 26, 16, tzinfo=UTC),
        datetime(2018, 9, 26, 16, tzinfo=UTC),
    )
    assert mapping.cycle_bounds({**body, "cycleEndDate": "2018-09-26T15:59:59.999Z"}) == (
        datetime(2018, 8, 26, 16, tzinfo=UTC),
        datetime(2018, 9, 26, 16, tzinfo=UTC),
    )
    assert mapping.cycle_bounds({"deviceCycleUsageInZones": {}}) is None


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (
            datetime(2024, 6, 1, tzinfo=UTC),
            [
                ("2024-04-01Z", datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)),
                ("2024-05-01Z", datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)),
            ],
        ),
        (
            datetime(2018, 8, 26, 16, tzinfo=UTC),
            [
                (
                    "2018-06-27+08:00",
                    datetime(2018, 6, 26, 16, tzinfo=UTC),
                    datetime(2018, 7, 26, 16, tzinfo=UTC),
                ),
                (
                    "2018-07-27+08:00",
                    datetime(2018, 7, 26, 16, tzinfo=UTC),
                    datetime(2018, 8, 26, 16, tzinfo=UTC),
                ),
            ],
        ),
        (
            datetime(2024, 3, 31, 5, tzinfo=UTC),  # the 31st at midnight -05:00
            [
                (
                    "2024-01-31-05:00",
                    datetime(2024, 1, 31, 5, tzinfo=UTC),
                    datetime(2024, 2, 29, 5, tzinfo=UTC),
                ),
                (
                    "2024-02-29-05:00",
                    datetime(2024, 2, 29, 5, tzinfo=UTC),
                    datetime(2024, 3, 31, 5, tzinfo=UTC),
                ),
            ],
        ),
    ],
)
def test_past_cycles(current: datetime, expected: list[tuple[str, datetime, datetime]]) -> None:
    assert mapping.past_cycles(current) == expected


def test_zone_usage_reads_both_documented_shapes() -> None:
    row = {
        "zone": "EU",
        "dataUsage": 2048,
        "dataUsageUnit": "bytes",
        "SMSMOUsage": 4,
        "smsmtusage": 1,
        "voiceMOUsage": 2,
        "voiceMOUsageUnit": "minutes",
        "voiceMTUsage": None,
    }
    keyed = {
        "cycleStartDate": "2024-04-01T00:00:00.000Z",
        "cycleEndDate": "2024-04-30T23:59:59.000Z",
        "deviceCycleUsageInZones": {"Plan A, 1": [row]},
    }
    listed = {**keyed, "deviceCycleUsageInZones": [row]}
    for body in (keyed, listed):
        records = mapping.to_zone_usage(ICCID, body, final=True)
        assert [(r.bearer, r.direction, r.quantity) for r in records] == [
            (Bearer.DATA, None, 2048),
            (Bearer.SMS, Direction.MO, 4),
            (Bearer.SMS, Direction.MT, 1),
            (Bearer.VOICE, Direction.MO, 120),
        ]
        assert {r.zone for r in records} == {"EU"}
        assert records[0].end == datetime(2024, 5, 1, tzinfo=UTC)
    assert mapping.to_zone_usage(ICCID, {"deviceCycleUsageInZones": None}, final=True) == []


@pytest.mark.parametrize(
    ("zones", "error"),
    [
        ({"Plan A, 1": [{"dataUsage": 1, "dataUsageUnit": "MB"}]}, ValueError),
        ({"Plan A, 1": [{"dataUsage": 1, "dataUsageUnit": "minutes"}]}, ValueError),
        ({"Plan A, 1": {"dataUsage": 1}}, TypeError),
        ({"Plan A, 1": [{"dataUsage": "lots"}]}, ValueError),
    ],
)
def test_malformed_zone_usage(zones: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        mapping.to_zone_usage(ICCID, {"deviceCycleUsageInZones": zones}, final=True)


def test_ranges() -> None:
    start, end = CYCLE
    assert mapping.overlaps(CYCLE, None, None)
    assert mapping.overlaps(CYCLE, start + timedelta(days=3), None)
    assert not mapping.overlaps(CYCLE, end, None)
    assert not mapping.overlaps(CYCLE, None, start)
    assert mapping.overlaps((None, None), end, None)
    assert mapping.within(start, start, end)
    assert not mapping.within(end, start, end)


# -- audit trail ----------------------------------------------------------------------------


def test_audit_events() -> None:
    record = {
        "field": "Rate Plan",
        "priorValue": "A",
        "value": "B",
        "effectiveDate": "2024-03-04T09:12:44.120Z",
        "delegatedUser": "support",
    }
    event = mapping.to_audit_event(ICCID, record)
    assert (event.kind, event.actor, event.extra) == (
        AuditKind.TARIFF_CHANGE,
        "support",
        {"delegatedUser": "support"},
    )
    assert (
        mapping.to_audit_event(ICCID, {**record, "field": "sim status"}).kind
        is AuditKind.STATUS_CHANGE
    )
    custom = mapping.to_audit_event(ICCID, {**record, "field": "Account Custom 1"})
    assert (custom.kind, custom.field) == (AuditKind.FIELD_CHANGE, "Account Custom 1")
    assert (
        mapping.to_audit_event(ICCID, {"effectiveDate": record["effectiveDate"]}).kind
        is AuditKind.OTHER
    )
    legacy = mapping.to_audit_event(
        ICCID, {**record, "effectiveDate": "2024-03-04 09:12:44.120+0000"}
    )
    assert legacy.occurred_at == event.occurred_at
    with pytest.raises(KeyError):
        mapping.to_audit_event(ICCID, {"field": "SIM Status"})
    with pytest.raises(ValueError, match="missing date-time"):
        mapping.to_audit_event(ICCID, {**record, "effectiveDate": ""})


def test_days_of_history() -> None:
    now = datetime(2024, 6, 15, tzinfo=UTC)
    assert mapping.days_of_history(None, now) == 365
    assert mapping.days_of_history(now - timedelta(days=1), now) == 1
    assert mapping.days_of_history(now - timedelta(days=1, seconds=1), now) == 2
    assert mapping.days_of_history(now - timedelta(days=900), now) == 365
    assert mapping.days_of_history(now + timedelta(days=1), now) == 1
