"""Control Center usage units and counters, and the lifecycle table, against the vendor's
documentation (not against our emulator).

Sources, as cited on docs/connectors/jasper.md:

- Get Device Usage (developer.cisco.com/docs/control-center/get-device-usage):
  ``ctdDataUsage`` in bytes, ``ctdSMSUsage`` the count of MO + MT messages,
  ``ctdVoiceUsage`` in seconds; the response example below is the documented one.
- Get Device Usage by Zone: ``deviceCycleUsageInZones`` rows with ``zone``, ``dataUsage``,
  ``smsMOUsage``, ``smsMTUsage``, ``voiceMOUsage``, ``voiceMTUsage`` and unit fields.
- SIM states: the "SIM Status Values" catalogue (eight REST values), the Control Center
  user guide ("typically, a device is billed only when it is in an activated state"), an
  operator's copy of the state table (T-Mobile: Test Ready not billable, Activation Ready
  activated on its first connection, Deactivated "inactive and not billable"), and the
  transition refusal ``10000029`` ("This SIM may not be moved back to a Pre Activation
  status").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdp_sdk import Bearer, Direction, SimStatus, UsageRecord
from cdp_sdk.connectors.jasper import mapping

ICCID = "8988216716970004975"
CYCLE = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))

# The documented Get Device Usage response example.
CTD = {
    "iccid": ICCID,
    "imsi": "901161697004975",
    "msisdn": "882351697004975",
    "imei": "356938035643809",
    "status": "ACTIVATED",
    "ratePlan": "IoT 10MB Pool",
    "communicationPlan": "CP_Data_SMS",
    "ctdDataUsage": 7340032,
    "ctdSMSUsage": 12,
    "ctdVoiceUsage": 0,
    "ctdSessionCount": 41,
    "overageLimitReached": False,
    "overageLimitOverride": "DEFAULT",
}


def zone_body(*rows: dict[str, Any]) -> dict[str, Any]:
    return {
        "cycleStartDate": "2024-04-01T00:00:00.000Z",
        "cycleEndDate": "2024-04-30T23:59:59.000Z",
        "deviceCycleUsageInZones": {"IoT 10MB Pool, 3": list(rows)},
    }


def counters(records: list[UsageRecord]) -> list[tuple[Bearer, Direction | None, int]]:
    return [(r.bearer, r.direction, r.quantity) for r in records]


# -- cycle to date: bytes, messages and seconds as documented ------------------------------


def test_cycle_to_date_voice_is_in_seconds() -> None:
    body = {**CTD, "ctdVoiceUsage": 95}
    records = mapping.to_cycle_to_date(ICCID, CYCLE, body)
    assert counters(records) == [
        (Bearer.DATA, None, 7340032),
        (Bearer.SMS, None, 12),
        (Bearer.VOICE, None, 95),  # 95 seconds, unchanged
    ]
    assert {(r.start, r.end, r.final) for r in records} == {(*CYCLE, False)}
    assert records[0].extra == {
        "ratePlan": "IoT 10MB Pool",
        "ctdSessionCount": 41,
        "overageLimitReached": False,
        "overageLimitOverride": "DEFAULT",
    }


def test_cycle_to_date_of_the_documented_example() -> None:
    records = mapping.to_cycle_to_date(ICCID, CYCLE, CTD)
    assert counters(records) == [
        (Bearer.DATA, None, 7340032),
        (Bearer.SMS, None, 12),
        (Bearer.VOICE, None, 0),  # zero is a count, not an absent counter
    ]


# -- usage by zone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "seconds"),
    [(None, 75), ("seconds", 75), ("SECONDS", 75), (" Seconds ", 75), ("minutes", 75 * 60)],
)
def test_zone_voice_is_in_seconds(unit: str | None, seconds: int) -> None:
    row: dict[str, Any] = {"zone": "EU", "voiceMOUsage": 75, "voiceMTUsage": 75}
    if unit is not None:
        row |= {"voiceMOUsageUnit": unit, "voiceMTUsageUnit": unit}
    records = mapping.to_zone_usage(ICCID, zone_body(row), final=True)
    assert counters(records) == [
        (Bearer.VOICE, Direction.MO, seconds),
        (Bearer.VOICE, Direction.MT, seconds),
    ]


def test_zone_voice_mt_is_read_from_its_own_key() -> None:
    row = {"zone": "EU", "voiceMTUsage": 40, "voiceMTUsageUnit": "seconds"}
    [record] = mapping.to_zone_usage(ICCID, zone_body(row), final=False)
    assert (record.bearer, record.direction, record.quantity) == (Bearer.VOICE, Direction.MT, 40)
    assert record.final is False
    assert record.zone == "EU"


def test_zone_data_in_bytes() -> None:
    row = {"zone": "EU", "dataUsage": 4096, "dataUsageUnit": "bytes"}
    [record] = mapping.to_zone_usage(ICCID, zone_body(row), final=True)
    assert (record.bearer, record.direction, record.quantity) == (Bearer.DATA, None, 4096)


def test_a_null_counter_does_not_hide_the_counters_after_it() -> None:
    # A zone where no data moved: dataUsage is null, the SMS and voice counters are not.
    row = {
        "zone": "World 1",
        "dataUsage": None,
        "smsMOUsage": 3,
        "smsMTUsage": None,
        "voiceMOUsage": None,
        "voiceMTUsage": 9,
        "voiceMTUsageUnit": "seconds",
        "ratePlan": "IoT 10MB Pool",
        "ratePlanVersion": 3,
    }
    records = mapping.to_zone_usage(ICCID, zone_body(row), final=True)
    assert counters(records) == [
        (Bearer.SMS, Direction.MO, 3),
        (Bearer.VOICE, Direction.MT, 9),
    ]
    assert {r.zone for r in records} == {"World 1"}
    assert all(r.extra == {"ratePlan": "IoT 10MB Pool", "ratePlanVersion": 3} for r in records)


def test_every_row_of_every_rate_plan_is_read() -> None:
    body = {
        "cycleStartDate": "2024-04-01T00:00:00.000Z",
        "cycleEndDate": "2024-04-30T23:59:59.000Z",
        "deviceCycleUsageInZones": {
            "IoT 10MB Pool, 3": [
                {"zone": "EU", "dataUsage": 10},
                {"zone": "US", "dataUsage": None, "smsMTUsage": 2},
            ],
            "IoT 1GB, 1": [{"zone": "EU", "dataUsage": 30}],
        },
    }
    records = mapping.to_zone_usage(ICCID, body, final=True)
    assert [(r.zone, r.bearer, r.quantity) for r in records] == [
        ("EU", Bearer.DATA, 10),
        ("US", Bearer.SMS, 2),
        ("EU", Bearer.DATA, 30),
    ]


@pytest.mark.parametrize("unit", ["hours", "ms", "bytes"])
def test_an_unknown_voice_unit_is_refused(unit: str) -> None:
    row = {"zone": "EU", "voiceMOUsage": 1, "voiceMOUsageUnit": unit}
    with pytest.raises(ValueError, match="unknown usage unit"):
        mapping.to_zone_usage(ICCID, zone_body(row), final=True)


# -- the lifecycle table --------------------------------------------------------------------

# state: (billable, auto_activates, settable), from the sources in the module docstring:
# only ACTIVATED is billed (the user guide; T-Mobile's table: Test Ready and Deactivated
# not billable); ACTIVATION_READY alone becomes ACTIVATED on its own, on first use
# (catalogue: "typically goes to ACTIVATED automatically on first use"); the six states
# Edit Device Details takes are settable, PURGED (set by the operator before a return to
# inventory) and REPLACED (a SIM swap) are not requested through the API.
DOCUMENTED_LIFECYCLE = {
    "TEST_READY": (False, False, True),
    "INVENTORY": (False, False, True),
    "ACTIVATION_READY": (False, True, True),
    "ACTIVATED": (True, False, True),
    "DEACTIVATED": (False, False, True),
    "RETIRED": (False, False, True),
    "PURGED": (False, False, False),
    "REPLACED": (False, False, False),
}


def test_every_lifecycle_flag_matches_the_documented_state_table() -> None:
    declared = {
        mode.name: (mode.billable, mode.auto_activates, mode.settable)
        for mode in mapping.ACTIVATION_MODES
    }
    assert declared == DOCUMENTED_LIFECYCLE


def test_the_settable_states_are_those_change_status_requests() -> None:
    settable = {mode.name for mode in mapping.ACTIVATION_MODES if mode.settable}
    assert settable == set(mapping.STATE_FOR.values())
    assert mapping.STATE_FOR[SimStatus.READY] == "ACTIVATION_READY"


def test_no_return_to_pre_activation_once_activated() -> None:
    # 10000029: an activated SIM may not go back to ACTIVATION_READY or TEST_READY.
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    for state in ("ACTIVATED", "DEACTIVATED"):
        assert {"ACTIVATION_READY", "TEST_READY"}.isdisjoint(modes[state].next)
    assert "ACTIVATED" in modes["ACTIVATION_READY"].next
    assert all(modes[name].settable for mode in modes.values() for name in mode.next)


def test_zone_records_belong_to_the_sim_asked_about() -> None:
    row = {"zone": "EU", "dataUsage": 1, "smsMOUsage": 2, "voiceMTUsage": 3}
    records = mapping.to_zone_usage(ICCID, zone_body(row), final=True)
    assert len(records) == 3
    assert {r.iccid for r in records} == {ICCID}


def test_zone_rows_that_are_not_lists_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^deviceCycleUsageInZones: expected lists of usage rows$"):
        mapping.to_zone_usage(
            ICCID, {"deviceCycleUsageInZones": {"Plan": {"zone": "EU"}}}, final=True
        )


# -- billing cycles at the edges of the time-zone range -------------------------------------


@pytest.mark.parametrize(
    ("current", "parameter"),
    [
        # Midnight at +14:00 (Line Islands) is 10:00 UTC the day before.
        (datetime(2024, 5, 31, 10, tzinfo=UTC), "2024-05-01+14:00"),
        # 09:30 UTC is midnight at -09:30 (Marquesas), not at +14:30 (no such zone).
        (datetime(2024, 6, 1, 9, 30, tzinfo=UTC), "2024-05-01-09:30"),
    ],
)
def test_cycle_parameters_at_the_ends_of_the_time_zones(current: datetime, parameter: str) -> None:
    [_, (last, start, end)] = mapping.past_cycles(current)
    assert last == parameter
    assert end == current
    assert start < end


def test_cycle_bounds_are_utc_whatever_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time as clock

    monkeypatch.setenv("TZ", "Pacific/Auckland")
    clock.tzset()
    try:
        cycles = mapping.past_cycles(datetime(2018, 8, 26, 16, tzinfo=UTC))
    finally:
        monkeypatch.undo()
        clock.tzset()
    for _, start, end in cycles:
        assert start.utcoffset() == end.utcoffset() == timedelta(0)
    assert cycles[-1][1] == datetime(2018, 7, 26, 16, tzinfo=UTC)


# -- custom fields --------------------------------------------------------------------------


def test_a_wrong_custom_field_is_refused_with_the_valid_slots() -> None:
    with pytest.raises(ValueError, match="not a Control Center custom field") as caught:
        mapping.custom_field_changes({"site": "x", "accountCustom11": "y"}, ())
    assert str(caught.value) == (
        "not a Control Center custom field: accountCustom11, site (the slots are "
        "accountCustom1..10, operatorCustom1..5 and customerCustom1..5)"
    )


def test_an_empty_custom_field_value_points_to_remove() -> None:
    with pytest.raises(ValueError, match="custom fields hold text") as caught:
        mapping.custom_field_changes({"accountCustom2": " ", "accountCustom1": None}, ())
    assert str(caught.value) == (
        "custom fields hold text: give a value for accountCustom1, accountCustom2, or clear "
        "them with remove="
    )
