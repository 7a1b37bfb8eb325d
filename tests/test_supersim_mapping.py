"""Super SIM mapping: the status and lifecycle tables, ICCIDs, and each payload mapper
on documented, drifted and malformed records (pure functions, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_sdk import AuditKind, Direction, Granularity, InvalidRequestError, SimStatus, Tag
from cdp_sdk.connectors.supersim import mapping
from cdp_sdk.models import luhn_valid

NOW = datetime(2024, 6, 15, tzinfo=UTC)
SID = "HS" + "a" * 32
SUPER_SIM = "89883070000123456780"  # 20 digits, Luhn-valid


def sim(**changes: Any) -> dict[str, Any]:
    return {
        "sid": SID,
        "account_sid": "AC" + "a" * 32,
        "unique_name": None,
        "status": "active",
        "fleet_sid": None,
        "iccid": SUPER_SIM,
        "date_created": "2015-07-30T20:00:00Z",
        "date_updated": "2015-07-30T20:00:00Z",
        **changes,
    }


def usage(**changes: Any) -> dict[str, Any]:
    return {
        "period": {"start_time": "2024-05-01T00:00:00Z", "end_time": "2024-05-02T00:00:00Z"},
        "data_upload": 10,
        "data_download": 20,
        "data_total": 30,
        "data_total_billed": 0.02,
        "billed_unit": "USD",
        **changes,
    }


def to_usage(record: dict[str, Any], iccid: str | None = SUPER_SIM) -> list[Any]:
    return mapping.to_usage(record, iccid=iccid, granularity=Granularity.DAY, now=NOW)


# -- tables -------------------------------------------------------------------------------


def test_status_map_follows_the_normalized_definitions() -> None:
    assert mapping.STATUS == {
        "new": SimStatus.INVENTORY,
        "ready": SimStatus.READY,
        "active": SimStatus.ACTIVE,
        "inactive": SimStatus.DEACTIVATED,
        "scheduled": SimStatus.UNKNOWN,
    }


def test_activation_modes_match_the_documented_lifecycle() -> None:
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    assert set(modes) == set(mapping.STATUS)
    for mode in modes.values():
        assert mode.connector == "supersim"
        assert mode.status is mapping.STATUS[mode.name]
        assert set(mode.next) <= set(modes)
    assert {name for name, mode in modes.items() if mode.settable} == set(
        mapping.STATE_FOR.values()
    )
    assert modes["new"].next == ("ready", "active")
    assert modes["ready"].auto_activates is True
    assert modes["ready"].billable is False
    assert modes["active"].billable is True
    assert modes["inactive"].billable is False
    assert modes["inactive"].next == ("active",)
    assert "ready" not in modes["active"].next  # ready only from new
    assert modes["scheduled"].settable is False


def test_the_lifecycle_table_row_by_row() -> None:
    rows = {
        mode.name: (mode.status, mode.billable, mode.auto_activates, mode.settable, mode.next)
        for mode in mapping.ACTIVATION_MODES
    }
    assert rows == {
        "new": (SimStatus.INVENTORY, False, False, False, ("ready", "active")),
        "ready": (SimStatus.READY, False, True, True, ("active", "inactive")),
        "active": (SimStatus.ACTIVE, True, False, True, ("inactive",)),
        "inactive": (SimStatus.DEACTIVATED, False, False, True, ("active",)),
        "scheduled": (SimStatus.UNKNOWN, None, False, False, ()),
    }
    assert all(mode.description for mode in mapping.ACTIVATION_MODES)


def test_state_for_covers_only_the_settable_statuses() -> None:
    assert mapping.STATE_FOR == {
        SimStatus.READY: "ready",
        SimStatus.ACTIVE: "active",
        SimStatus.DEACTIVATED: "inactive",
    }


# -- ICCIDs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "full"),
    [
        (SUPER_SIM, SUPER_SIM),  # 20 digits with the check digit
        ("89883070000123456789", "89883070000123456789"),  # the spec's placeholder: kept
        (SUPER_SIM[:-1], SUPER_SIM),  # a Super SIM ICCID without its check digit
        ("8988307000007803479", "89883070000078034798"),  # Luhn-valid by chance, still short
        ("8988303000000000010", "8988303000000000010"),  # another issuer, 19 with check digit
        ("898830300000000001", "8988303000000000010"),  # another issuer without it
        (" 8988303000000000010 ", "8988303000000000010"),
    ],
)
def test_full_iccid(given: str, full: str) -> None:
    assert mapping.full_iccid(given) == full


@pytest.mark.parametrize("bad", ["8988-307", "", "12345", "8" * 23])
def test_full_iccid_refuses_what_is_no_iccid(bad: str) -> None:
    with pytest.raises(ValueError, match="ICCID"):
        mapping.full_iccid(bad)


def test_full_iccid_refuses_a_number() -> None:
    with pytest.raises(TypeError):
        mapping.full_iccid(89883070000123456780)


def test_iccid_candidates_try_the_full_iccid_first() -> None:
    assert mapping.iccid_candidates(SUPER_SIM) == (SUPER_SIM, SUPER_SIM[:-1])
    assert mapping.iccid_candidates(SUPER_SIM[:-1]) == (SUPER_SIM, SUPER_SIM[:-1])
    placeholder = "89883070000123456789"
    assert not luhn_valid(placeholder)
    assert mapping.iccid_candidates(placeholder) == (placeholder,)


# -- subscriptions ------------------------------------------------------------------------


def test_a_minimal_sim_maps() -> None:
    found = mapping.to_subscription(sim())
    assert found.id == SID
    assert found.iccid == SUPER_SIM
    assert found.tags == ()
    assert found.tariff is None
    assert found.extra == {}
    assert found.updated_at == datetime(2015, 7, 30, 20, tzinfo=UTC)


def test_an_empty_unique_name_is_no_label() -> None:
    assert mapping.to_subscription(sim(unique_name="")).tags == ()
    assert mapping.to_subscription(sim(unique_name="x")).tags == (Tag(key="label", value="x"),)


def test_unknown_fields_and_statuses_are_tolerated() -> None:
    found = mapping.to_subscription(sim(status="suspended", eid="8904" + "0" * 28, new_field=1))
    assert found.status is SimStatus.UNKNOWN
    assert found.status_raw == "suspended"
    assert found.eid is None
    assert found.extra == {}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"status": None}, ValueError),
        ({"sid": None}, ValueError),
        ({"sid": ""}, ValueError),
        ({"sid": 12345}, ValueError),
        ({"iccid": None}, TypeError),
        ({"iccid": "89-88"}, ValueError),
        ({"date_created": "2015-07-30 20:00:00"}, ValueError),
        ({"date_updated": 1438286400}, TypeError),
    ],
)
def test_a_malformed_sim_raises(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        mapping.to_subscription(sim(**changes))


def test_a_sim_without_status_key_raises() -> None:
    record = sim()
    del record["status"]
    with pytest.raises(KeyError):
        mapping.to_subscription(record)


# -- status changes and labels ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "accepted", "state"),
    [("active", False, "done"), ("scheduled", False, "pending"), ("active", True, "pending")],
)
def test_status_change_state(status: str, accepted: bool, state: str) -> None:
    change = mapping.to_status_change(
        SUPER_SIM, SimStatus.ACTIVE, sim(status=status), accepted=accepted, request_id="RQ1"
    )
    assert change.state == state
    assert change.request_id == "RQ1"
    assert change.extra == {"status": status}
    expected = None if state == "pending" else datetime(2015, 7, 30, 20, tzinfo=UTC)
    assert change.effective_at == expected


@pytest.mark.parametrize("status", [None, "", 3])
def test_a_status_change_answer_without_status_raises(status: Any) -> None:
    with pytest.raises(ValueError, match="status"):
        mapping.to_status_change(SUPER_SIM, SimStatus.ACTIVE, sim(status=status), accepted=False)


def test_label_update() -> None:
    assert mapping.label_update({"label": "truck"}, ()) == "truck"
    assert mapping.label_update({}, ("label",)) == ""
    assert mapping.label_update({}, ()) is None
    for tags, remove in (({"label": " "}, ()), ({"label": None}, ()), ({"x": "1"}, ())):
        with pytest.raises(InvalidRequestError):
            mapping.label_update(tags, remove)
    with pytest.raises(InvalidRequestError, match="fleet"):
        mapping.label_update({}, ("fleet",))


# -- tariffs ------------------------------------------------------------------------------


def test_a_fleet_keeps_its_settings_in_extra() -> None:
    tariff = mapping.to_tariff(
        {
            "sid": "HF1",
            "unique_name": "Pilot",
            "data_limit": 1,
            "data_enabled": False,
            "data_metering": "payg",
            "sms_commands_enabled": False,
            "network_access_profile_sid": "HA1",
            "account_sid": "AC1",
            "ip_commands_url": None,
            "sms_commands_url": "https://example.com",
        }
    )
    assert tariff.extra == {
        "data_limit_bytes": 1_000_000,
        "data_enabled": False,
        "data_metering": "payg",
        "sms_commands_enabled": False,
        "network_access_profile_sid": "HA1",
        "account_sid": "AC1",
    }


def test_a_fleet_without_name_or_limit() -> None:
    tariff = mapping.to_tariff({"sid": "HF" + "a" * 32, "unique_name": None, "data_limit": None})
    assert tariff.name == "HF" + "a" * 32
    assert tariff.extra == {}


def test_a_fleet_data_limit_is_decimal_megabytes() -> None:
    tariff = mapping.to_tariff({"sid": "HF1", "data_limit": 2_000_000})
    assert tariff.extra == {"data_limit_bytes": 2_000_000_000_000}
    assert mapping.to_tariff({"sid": "HF1", "data_limit": "250"}).extra == {
        "data_limit_bytes": 250_000_000
    }


@pytest.mark.parametrize(
    ("record", "error"),
    [({"sid": None}, ValueError), ({"sid": "HF1", "data_limit": -1}, ValueError)],
)
def test_a_malformed_fleet_raises(record: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        mapping.to_tariff(record)


# -- usage --------------------------------------------------------------------------------


def test_usage_rows_by_direction_with_the_cost_in_extra() -> None:
    up, down = to_usage(usage(sim_sid=SID, iso_country="FR"))
    assert (up.direction, up.quantity, down.direction, down.quantity) == (
        Direction.MO,
        10,
        Direction.MT,
        20,
    )
    assert up.extra == down.extra
    assert up.extra == {
        "data_total": 30,
        "cost": "0.02",
        "currency": "USD",
        "sim_sid": SID,
        "iso_country": "FR",
    }
    assert up.cost is None
    assert up.final is True
    assert up.granularity is Granularity.DAY


def test_usage_keeps_every_dimension_given() -> None:
    [row, _] = to_usage(usage(sim_sid="HS1", fleet_sid="HF1", network_sid="HW1", iso_country="DE"))
    assert row.extra == {
        "data_total": 30,
        "cost": "0.02",
        "currency": "USD",
        "sim_sid": "HS1",
        "fleet_sid": "HF1",
        "network_sid": "HW1",
        "iso_country": "DE",
    }


def test_one_direction_missing_or_a_single_byte() -> None:
    [row] = to_usage(usage(data_upload=1, data_download=None))
    assert (row.direction, row.quantity) == (Direction.MO, 1)
    [row] = to_usage(usage(data_upload=None, data_download=1))
    assert (row.direction, row.quantity) == (Direction.MT, 1)


def test_usage_of_an_open_period_is_not_final() -> None:
    period = {"start_time": "2024-06-14T00:00:00Z", "end_time": "2024-06-16T00:00:00Z"}
    rows = to_usage(usage(period=period))
    assert [row.final for row in rows] == [False, False]


def test_usage_without_a_split_gives_one_total_row() -> None:
    [row] = to_usage(usage(data_upload=None, data_download=None, data_total=99))
    assert row.direction is None
    assert row.quantity == 99


def test_zero_usage_gives_no_rows() -> None:
    assert to_usage(usage(data_upload=0, data_download=0, data_total=0)) == []


def test_billed_amounts_as_text_and_without_currency() -> None:
    [row, _] = to_usage(usage(data_total_billed="0.03"))
    assert row.extra["cost"] == "0.03"
    [row, _] = to_usage(usage(data_total_billed=0, billed_unit=None))
    assert row.extra == {"data_total": 30, "cost": "0"}
    [row, _] = to_usage(usage(data_total_billed=None, billed_unit=None))
    assert row.extra == {"data_total": 30}


def test_whole_number_floats_are_bytes() -> None:
    up, down = to_usage(usage(data_upload=10.0, data_download="20"))
    assert (up.quantity, down.quantity) == (10, 20)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"data_upload": 1.5}, ValueError),
        ({"data_upload": -1}, ValueError),
        ({"data_upload": True}, TypeError),
        ({"data_upload": [1]}, TypeError),
        ({"data_upload": "lots"}, ValueError),
        ({"data_total_billed": "free"}, ValueError),
        ({"period": None}, TypeError),
        ({"period": {"start_time": "2024-05-01T00:00:00Z"}}, ValueError),
        ({"period": {"start_time": None, "end_time": "2024-05-01T00:00:00Z"}}, ValueError),
        (
            {"period": {"start_time": "2024-05-02T00:00:00Z", "end_time": "2024-05-01T00:00:00Z"}},
            ValueError,
        ),
    ],
)
def test_malformed_usage_raises(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        to_usage(usage(**changes))


def test_usage_without_period_raises() -> None:
    record = usage()
    del record["period"]
    with pytest.raises(KeyError):
        to_usage(record)


# -- audit events -------------------------------------------------------------------------


def update(**changes: Any) -> dict[str, Any]:
    return {
        "sid": "OB" + "a" * 32,
        "iccid": SUPER_SIM[:-1],
        "sim_sid": SID,
        "status": "successful",
        "packages": [{"name": "base-settings", "version": "1.0.0"}],
        "date_completed": "2015-07-30T21:00:00Z",
        "date_created": "2015-07-30T20:00:00Z",
        "date_updated": "2015-07-30T22:00:00Z",
        **changes,
    }


def test_a_completed_settings_update_is_a_field_change() -> None:
    event = mapping.to_audit_event(update())
    assert event.kind is AuditKind.FIELD_CHANGE
    assert event.iccid == SUPER_SIM
    assert event.occurred_at == datetime(2015, 7, 30, 21, tzinfo=UTC)
    assert event.new_value == "base-settings@1.0.0"
    assert event.id == "OB" + "a" * 32
    assert event.extra == {
        "sim_sid": SID,
        "status": "successful",
        "packages": "base-settings@1.0.0",
    }


@pytest.mark.parametrize("status", ["scheduled", "in-progress", "failed", "rolled-back"])
def test_other_settings_updates_are_other(status: str) -> None:
    event = mapping.to_audit_event(update(status=status))
    assert event.kind is AuditKind.OTHER
    assert event.new_value is None
    assert event.occurred_at == datetime(2015, 7, 30, 22, tzinfo=UTC)  # date_updated
    assert event.description == f"settings update {status}: base-settings@1.0.0"


def test_a_settings_update_falls_back_on_its_creation_time() -> None:
    event = mapping.to_audit_event(
        update(date_completed=None, date_updated=None, iccid=None, packages=[])
    )
    assert event.occurred_at == datetime(2015, 7, 30, 20, tzinfo=UTC)
    assert event.iccid is None
    assert event.new_value is None
    assert event.description == "settings update successful"


def test_packages_of_other_shapes() -> None:
    event = mapping.to_audit_event(update(packages=[{"name": "x"}, "y"]))
    assert event.new_value == "x, y"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"status": None}, ValueError),
        ({"date_completed": None, "date_updated": None, "date_created": None}, ValueError),
        ({"packages": "base-settings"}, TypeError),
        ({"date_created": "yesterday", "date_updated": None, "date_completed": None}, ValueError),
    ],
)
def test_a_malformed_settings_update_raises(
    changes: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        mapping.to_audit_event(update(**changes))
