"""ThingSpace mapping: documented payloads -> normalized models, without HTTP.

Payloads follow the examples of Verizon's API reference and of the APIMatic SDK generated
from Verizon's spec (``sdks-io/verizon-apis-python-sdk``), as recorded in the project's
reference notes (operator-platforms.md section 2); drifted and malformed variants check
that nothing maps silently wrong.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_sdk import AuditKind, Bearer, Direction, Granularity, SimStatus, Tag
from cdp_sdk.connectors.thingspace import mapping
from cdp_sdk.models import luhn_check_digit, luhn_valid

NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
ICCID_19 = "8914800000080078425"
ICCID = ICCID_19 + str(luhn_check_digit(ICCID_19))  # 89148000000800784259, as documented

DEVICE: dict[str, Any] = {
    "accountName": "0000123456-00001",
    "billingCycleEndDate": "2024-06-09T20:00:00-04:00",
    "carrierInformations": [
        {"carrierName": "Verizon Wireless", "servicePlan": "M2MSHR5GB", "state": "active"}
    ],
    "connected": True,
    "createdAt": "2023-08-07T10:42:15-04:00",
    "customFields": [{"key": "CustomField1", "value": "fleet-A"}],
    "deviceIds": [
        {"id": "89148000000800784259", "kind": "iccid"},
        {"id": "990013907835573", "kind": "imei"},
        {"id": "311480123456789", "kind": "imsi"},
        {"id": "15086303371", "kind": "msisdn"},
    ],
    "extendedAttributes": [{"key": "PrimaryPlaceOfUseCity", "value": "Washington"}],
    "groupNames": ["4G West"],
    "ipAddress": "10.1.2.3",
    "lastActivationBy": "Jane Ops",
    "lastActivationDate": "2023-08-07T10:42:34-04:00",
    "lastConnectionDate": "2024-05-01T04:23:37-04:00",
}


def device(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(DEVICE)
    record.update(changes)
    return record


def with_state(state: str) -> dict[str, Any]:
    return device(carrierInformations=[{"carrierName": "Verizon Wireless", "state": state}])


# -- ICCID --------------------------------------------------------------------------------


def test_the_documented_iccid_is_a_full_20_digit_iccid() -> None:
    assert ICCID == "89148000000800784259"
    assert luhn_valid(ICCID)


@pytest.mark.parametrize(
    ("given", "full"),
    [
        (ICCID, ICCID),  # Verizon's 20-digit form, kept
        (ICCID_19, ICCID),  # without the check digit: computed and appended
        (" " + ICCID_19 + " ", ICCID),
        ("89148000000800139708", "89148000000800139708"),  # 20 digits are kept as given
        ("894450010219830482", "8944500102198304826"),  # 18 digits, no check digit yet
        ("8944500102198304826", "89445001021983048261"),  # 19 digits, Luhn-valid: extended still
    ],
)
def test_full_iccid(given: str, full: str) -> None:
    assert mapping.full_iccid(given) == full
    assert luhn_valid(full) or len(full) == 20


def test_full_iccid_keeps_a_valid_short_iccid() -> None:
    body = "89445001021983048"  # 17 digits + check = 18
    eighteen = body + str(luhn_check_digit(body))
    assert mapping.full_iccid(eighteen) == eighteen


@pytest.mark.parametrize("bad", ["", "8914800000080078425X", "123", "1" * 23])
def test_full_iccid_refuses_what_is_not_an_iccid(bad: str) -> None:
    with pytest.raises(ValueError, match="ICCID"):
        mapping.full_iccid(bad)


# -- subscriptions ------------------------------------------------------------------------


def test_device_maps_to_subscription() -> None:
    sim = mapping.to_subscription(DEVICE)

    assert sim.connector == "thingspace"
    assert sim.account == "0000123456-00001"
    assert sim.id == sim.iccid == ICCID
    assert sim.imei == "990013907835573"
    assert sim.imsi == "311480123456789"
    assert sim.msisdn == "15086303371"
    assert sim.eid is None
    assert sim.status is SimStatus.ACTIVE
    assert sim.status_raw == "active"
    assert sim.tariff == "M2MSHR5GB"
    assert sim.created_at == datetime(2023, 8, 7, 14, 42, 15, tzinfo=UTC)
    assert sim.activated_at == datetime(2023, 8, 7, 14, 42, 34, tzinfo=UTC)
    assert sim.updated_at is None
    assert sim.ip_address == "10.1.2.3"
    assert sim.tags == (Tag(key="CustomField1", value="fleet-A"),)
    assert sim.extra == {
        "billingCycleEndDate": "2024-06-09T20:00:00-04:00",
        "connected": True,
        "lastConnectionDate": "2024-05-01T04:23:37-04:00",
        "lastActivationBy": "Jane Ops",
        "carrierName": "Verizon Wireless",
        "groupNames": ["4G West"],
        "extendedAttributes": {"PrimaryPlaceOfUseCity": "Washington"},
    }


def test_a_19_digit_iccid_from_the_platform_gets_its_check_digit() -> None:
    record = device(deviceIds=[{"id": ICCID_19, "kind": "iccid"}])
    sim = mapping.to_subscription(record)
    assert sim.iccid == sim.id == ICCID


@pytest.mark.parametrize("kind", ["iccid", "ICCID", "iccId", " Iccid "])
def test_identifier_kinds_are_read_without_regard_to_case(kind: str) -> None:
    record = device(
        deviceIds=[{"id": ICCID, "kind": kind}, {"id": "990013907835573", "kind": "IMEI"}]
    )
    sim = mapping.to_subscription(record)
    assert sim.iccid == ICCID
    assert sim.imei == "990013907835573"


def test_the_first_identifier_of_a_kind_wins() -> None:
    ids = mapping.device_ids(
        {
            "deviceIds": [
                {"id": "1", "kind": "imei"},
                {"id": "2", "kind": "IMEI"},
                {"id": 3, "kind": "esn"},
            ]
        }
    )
    assert ids == {"imei": "1", "esn": "3"}


def test_identifiers_without_a_value_or_a_text_kind_are_skipped() -> None:
    ids = mapping.device_ids(
        {
            "deviceIds": [
                {"id": "", "kind": "imei"},
                {"id": "1", "kind": 7},
                {"id": True, "kind": "esn"},
                {"id": " 5 ", "kind": "imei"},
            ]
        }
    )
    assert ids == {"imei": "5"}


def test_an_mdn_without_msisdn_gets_the_north_american_country_code() -> None:
    record = device(deviceIds=[{"id": ICCID, "kind": "iccid"}, {"id": "5086303371", "kind": "mdn"}])
    sim = mapping.to_subscription(record)
    assert sim.msisdn == "15086303371"
    assert sim.extra["mdn"] == "5086303371"


def test_an_mdn_that_is_not_10_digits_is_not_guessed_into_an_msisdn() -> None:
    record = device(deviceIds=[{"id": ICCID, "kind": "iccid"}, {"id": "508630337", "kind": "mdn"}])
    assert mapping.to_subscription(record).msisdn is None


def test_meid_esn_and_eid() -> None:
    eid = "89049032000001000000001234567890"
    record = device(
        deviceIds=[
            {"id": ICCID, "kind": "iccid"},
            {"id": eid, "kind": "eid"},
            {"id": "A100003685E561", "kind": "meid"},
            {"id": "19110173057", "kind": "esn"},
        ]
    )
    sim = mapping.to_subscription(record)
    assert sim.eid == eid
    assert (sim.extra["meid"], sim.extra["esn"]) == ("A100003685E561", "19110173057")


@pytest.mark.parametrize("address", ["0.0.0.0", "", None])
def test_no_ip_address(address: str | None) -> None:
    assert mapping.to_subscription(device(ipAddress=address)).ip_address is None


def test_custom_field_slots_become_tags_in_slot_order() -> None:
    fields = [
        {"key": "CustomField3", "value": "c"},
        {"key": "customfield1", "value": "a"},  # read without regard to case
        {"key": "CustomField2", "value": ""},  # an empty slot is no tag
        {"key": "CustomField5", "value": None},
        {"key": "Region", "value": "west"},  # not a slot: kept apart
    ]
    sim = mapping.to_subscription(device(customFields=fields))
    assert sim.tags == (Tag(key="CustomField1", value="a"), Tag(key="CustomField3", value="c"))
    assert sim.extra["customFields"] == {"Region": "west"}


def test_devices_with_the_same_custom_field_share_its_tag() -> None:
    # A fleet repeats a few values on many devices: one validated tag each, not one a device.
    first, second = (
        mapping.to_subscription(device(customFields=[{"key": "CustomField1", "value": "west"}]))
        for _ in range(2)
    )
    assert first.tags == (Tag(key="CustomField1", value="west"),)
    assert first.tags[0] is second.tags[0]


def test_a_device_without_an_iccid_is_not_a_sim() -> None:
    record = device(deviceIds=[{"id": "A100003685E561", "kind": "meid"}])
    assert mapping.sim_or_none(record) is None
    with pytest.raises(ValueError, match="no iccid"):
        mapping.to_subscription(record)


def test_unknown_fields_are_ignored() -> None:
    sim = mapping.to_subscription(device(newField={"x": 1}, simOtaDate="2017-12-01"))
    assert "newField" not in sim.extra


# The state table of Verizon's "About device states" page and the states of the legacy
# GetDeviceInformation page, as returned (mixed case).
@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("active", SimStatus.ACTIVE),
        ("Active", SimStatus.ACTIVE),
        ("Activate", SimStatus.ACTIVE),
        ("suspend", SimStatus.SUSPENDED),
        ("deactive", SimStatus.DEACTIVATED),
        ("Pre-active", SimStatus.INVENTORY),
        ("preactive", SimStatus.INVENTORY),
        ("pending activation", SimStatus.INVENTORY),
        ("pending preactive", SimStatus.INVENTORY),
        ("pending deactivation", SimStatus.ACTIVE),
        ("pending suspend", SimStatus.ACTIVE),
        ("pending resume", SimStatus.SUSPENDED),
        ("pending service plan change", SimStatus.ACTIVE),
        ("pending MDN change", SimStatus.ACTIVE),
        ("pending PRL Update", SimStatus.ACTIVE),
        ("pending ESN / MEID change", SimStatus.ACTIVE),
        ("pending  ESN /  MEID change", SimStatus.ACTIVE),
        ("pending account update", SimStatus.UNKNOWN),
        ("pending Cost Center Codes change", SimStatus.UNKNOWN),
        ("retired-in-2030", SimStatus.UNKNOWN),
    ],
)
def test_state_map(state: str, status: SimStatus) -> None:
    sim = mapping.to_subscription(with_state(state))
    assert sim.status is status
    assert sim.status_raw == state.strip()


def test_the_first_carrier_with_a_state_gives_the_state() -> None:
    record = device(
        carrierInformations=[
            {"carrierName": "Verizon Wireless", "servicePlan": "A"},
            {"carrierName": "Verizon Wireless", "state": "suspend"},
        ]
    )
    sim = mapping.to_subscription(record)
    assert sim.status is SimStatus.SUSPENDED
    assert sim.tariff == "A"


@pytest.mark.parametrize(
    "carriers", [None, [], [{"carrierName": "Verizon Wireless"}], [{"state": ""}]]
)
def test_a_device_without_a_state_is_malformed(carriers: Any) -> None:
    with pytest.raises(ValueError, match="state"):
        mapping.to_subscription(device(carrierInformations=carriers))


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("deviceIds", "89148000000800784259", TypeError),
        ("deviceIds", ["iccid"], TypeError),
        ("carrierInformations", {"state": "active"}, TypeError),
        ("customFields", [{"value": "x"}], TypeError),
        ("groupNames", "4G West", TypeError),
        ("createdAt", "07/08/2023", ValueError),
        ("createdAt", "2023-08-07T10:42:15", None),  # no offset: UTC, as documented
        ("accountName", 12345, None),
        ("accountName", {"name": "x"}, TypeError),
    ],
)
def test_drifted_devices(field: str, value: Any, error: type[Exception] | None) -> None:
    record = device(**{field: value})
    if error is None:
        mapping.to_subscription(record)
    else:
        with pytest.raises(error):
            mapping.to_subscription(record)


def test_a_device_with_an_invalid_imei_is_refused() -> None:
    record = device(
        deviceIds=[{"id": ICCID, "kind": "iccid"}, {"id": "15-digit IMEI", "kind": "imei"}]
    )
    with pytest.raises(ValueError, match="IMEI"):
        mapping.to_subscription(record)


# -- activation modes and actions ------------------------------------------------------


def test_activation_modes_follow_the_state_table() -> None:
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    assert set(modes) >= {"active", "suspend", "deactive", "pre-active"}
    assert modes["active"].next == ("deactive", "suspend")
    assert modes["suspend"].next == ("active",)
    assert modes["deactive"].next == ("active",)
    assert modes["pre-active"].next == ("active",)
    for mode in modes.values():
        assert mode.connector == "thingspace"
        assert set(mode.next) <= set(modes)
        assert mode.status is mapping.STATUS[mode.name]
    # billing by the normalized definitions and Verizon's texts
    assert modes["active"].billable is True
    assert modes["deactive"].billable is False  # deactivated: not billed
    assert modes["suspend"].billable is None  # billed, or not: the docs disagree
    assert modes["pre-active"].billable is False
    assert modes["pending deactivation"].billable is True  # still in service
    assert modes["pending suspend"].billable is True
    assert modes["pending preactive"].billable is False
    assert modes["pending activation"].billable is None
    assert modes["pending resume"].billable is None
    assert {name for name, mode in modes.items() if mode.settable} == {
        "active",
        "suspend",
        "deactive",
    }
    assert not any(mode.auto_activates for mode in modes.values())


@pytest.mark.parametrize(
    ("state", "requested", "action"),
    [
        ("active", SimStatus.SUSPENDED, "suspend"),
        ("active", SimStatus.DEACTIVATED, "deactivate"),
        ("suspend", SimStatus.ACTIVE, "restore"),
        ("deactive", SimStatus.ACTIVE, "activate"),
        ("Pre-active", SimStatus.ACTIVE, "activate"),
        ("preactive", SimStatus.ACTIVE, "activate"),
        ("active", SimStatus.ACTIVE, None),
        ("suspend", SimStatus.DEACTIVATED, None),  # suspend -> active only
        ("deactive", SimStatus.SUSPENDED, None),
        ("pre-active", SimStatus.DEACTIVATED, None),
        ("pending suspend", SimStatus.ACTIVE, None),  # a change is under way
        ("active", SimStatus.RETIRED, None),
    ],
)
def test_actions_follow_the_valid_next_states(
    state: str, requested: SimStatus, action: str | None
) -> None:
    assert mapping.action_for(state, requested) == action


def test_settable_statuses() -> None:
    assert {SimStatus.ACTIVE, SimStatus.SUSPENDED, SimStatus.DEACTIVATED} == mapping.SETTABLE


def test_status_change_is_pending_with_the_request_id() -> None:
    change = mapping.to_status_change(
        ICCID, SimStatus.SUSPENDED, {"requestId": "595f5c44-c31c-4552-8670-020a1545a84d"}
    )
    assert change.state == "pending"
    assert change.request_id == "595f5c44-c31c-4552-8670-020a1545a84d"
    assert (change.iccid, change.requested) == (ICCID, SimStatus.SUSPENDED)


@pytest.mark.parametrize("body", [{}, {"requestId": ""}, {"requestId": None}, [], "x"])
def test_status_change_without_request_id_is_malformed(body: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        mapping.to_status_change(ICCID, SimStatus.ACTIVE, body)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Pending", "pending"),
        ("Success", "done"),
        ("Failed", "failed"),
        ("Failure", "failed"),
        ("SUCCESS", "done"),
    ],
)
def test_request_state(status: str, state: str) -> None:
    assert mapping.request_state({"requestId": "86c83330", "status": status}) == state


@pytest.mark.parametrize("body", [{"status": "Queued"}, {}, [], {"status": 1}])
def test_unknown_request_state_is_refused(body: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        mapping.request_state(body)


# -- custom fields ------------------------------------------------------------------------


def test_custom_field_updates() -> None:
    updates = mapping.custom_field_updates(
        {"CustomField1": "West Region", "CustomField2": "Distribution"}, ["CustomField5"]
    )
    assert updates == [
        {"key": "CustomField1", "value": "West Region"},
        {"key": "CustomField2", "value": "Distribution"},
        {"key": "CustomField5", "value": ""},
    ]


@pytest.mark.parametrize(
    ("tags", "remove", "message"),
    [
        ({"CustomField6": "x"}, (), "'CustomField6' is not a tag of this platform"),
        ({"customfield1": "x"}, (), "'customfield1' is not a tag of this platform"),
        ({}, ("region",), "'region' is not a tag of this platform"),
        ({"CustomField1": None}, (), "'CustomField1' needs a value"),
        ({"CustomField1": "  "}, (), "'CustomField1' needs a value"),
        ({"CustomField1": "x" * 51}, (), "'CustomField1': a value holds at most 50 characters"),
        ({"CustomField1": "O'Brien"}, (), "'CustomField1': the value holds characters"),
        ({"CustomField1": "a<b"}, (), "characters the platform refuses"),
        ({"CustomField1": "a;b"}, (), r"refuses \(letters, digits, space and / @"),
    ],
)
def test_custom_field_updates_refuse_bad_input(
    tags: dict[str, str | None], remove: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        mapping.custom_field_updates(tags, remove)


def test_every_allowed_character_and_50_characters_pass() -> None:
    value = "Aa9 /@.,:-_()[]" + "x" * 35
    assert len(value) == 50
    assert mapping.custom_field_updates({"CustomField3": value}, ()) == [
        {"key": "CustomField3", "value": value}
    ]


# -- tariffs ------------------------------------------------------------------------------


def test_service_plans_of_the_sdk_example() -> None:
    plan = mapping.to_tariff(
        {"name": "2MSHR5GB", "code": "M2MSHR5GB", "sizeKb": 0, "carrierServicePlanCode": "84638"}
    )
    assert plan.id == "M2MSHR5GB"  # activation takes the code
    assert plan.name == "2MSHR5GB"
    assert plan.included_data_bytes is None  # 0 KB on a 5 GB plan says nothing
    assert plan.currency is None
    assert plan.recurring_fee is None
    assert plan.extra == {"carrierServicePlanCode": "84638", "sizeKb": 0}


def test_a_plan_size_is_read_in_decimal_kilobytes() -> None:
    plan = mapping.to_tariff(
        {"code": "P1", "sizeKb": 5000, "extendedAttributes": [{"key": "Pool", "value": "A"}]}
    )
    assert plan.included_data_bytes == 5_000_000
    assert plan.name == "P1"
    assert plan.extra["extendedAttributes"] == {"Pool": "A"}


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ({"sizeKb": 1}, ValueError),
        ({"code": "P", "sizeKb": -1}, ValueError),
        ({"code": "P", "sizeKb": True}, TypeError),
        ({"code": "P", "sizeKb": 1.5}, ValueError),
    ],
)
def test_malformed_plans(record: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        mapping.to_tariff(record)


# -- usage --------------------------------------------------------------------------------


def test_daily_usage_of_the_documented_example() -> None:
    record = {
        "bytesUsed": 4096,
        "smsUsed": 1,
        "source": "Raw Usage",
        "timestamp": "2024-05-01T00:00:00Z",
        "extendedAttributes": [{"key": "MoSms", "value": "1"}, {"key": "MtSms", "value": "0"}],
    }
    data, mo, mt = mapping.to_usage(ICCID, record, now=NOW)

    start, end = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)
    for usage in (data, mo, mt):
        assert (usage.iccid, usage.start, usage.end) == (ICCID, start, end)
        assert usage.granularity is Granularity.DAY
        assert usage.final
        assert usage.extra == {"source": "Raw Usage"}
    assert (data.bearer, data.direction, data.quantity, data.unit) == (
        Bearer.DATA,
        None,
        4096,
        "bytes",
    )
    assert (mo.bearer, mo.direction, mo.quantity) == (Bearer.SMS, Direction.MO, 1)
    assert (mt.bearer, mt.direction, mt.quantity) == (Bearer.SMS, Direction.MT, 0)


@pytest.mark.parametrize("moment", ["2021-08-15T00:00:00Z", "08/15/2021 00:00:00"])
def test_daily_usage_of_the_second_documented_shape(moment: str) -> None:
    record = {
        "bytesUsed": 3072,
        "serviceplan": "The serviceplan name",
        "source": "Raw Usage",
        "eventDateTime": moment,
        "smsUsed": 250,
        "moSMS": 100,
        "mtSMS": 92,  # Verizon's own example: MO + MT need not add up to smsUsed
    }
    data, mo, mt = mapping.to_usage(ICCID, record, now=NOW)
    assert data.start == datetime(2021, 8, 15, tzinfo=UTC)
    assert data.extra == {"source": "Raw Usage", "servicePlan": "The serviceplan name"}
    assert (data.quantity, mo.quantity, mt.quantity) == (3072, 100, 92)


def test_one_sms_direction_only_gives_the_total() -> None:
    # The SDK's example carries MoSms alone: the direction split is unknown.
    record = {
        "bytesUsed": 4096,
        "extendedAttributes": [{"key": "MoSms", "value": "0"}],
        "smsUsed": 3,
        "source": "Raw Usage",
        "timestamp": "2020-12-01T00:00:00Z",
        "servicePlan": "servicePlan0",
    }
    data, sms = mapping.to_usage(ICCID, record, now=NOW)
    assert (sms.bearer, sms.direction, sms.quantity) == (Bearer.SMS, None, 3)
    assert data.extra == {"source": "Raw Usage", "servicePlan": "servicePlan0"}


def test_a_day_that_ends_now_is_final() -> None:
    [data] = mapping.to_usage(ICCID, {"bytesUsed": 1, "timestamp": "2024-06-14T12:00:00Z"}, now=NOW)
    assert data.end == NOW
    assert data.final


def test_a_day_not_over_is_not_final() -> None:
    record = {"bytesUsed": 1, "timestamp": "2024-06-15T00:00:00Z"}
    [data] = mapping.to_usage(ICCID, record, now=NOW)
    assert not data.final


def test_a_day_with_an_offset_is_the_day_from_that_instant() -> None:
    [data] = mapping.to_usage(
        ICCID, {"bytesUsed": 1, "timestamp": "2024-06-01T00:00:00-04:00"}, now=NOW
    )
    assert data.start == datetime(2024, 6, 1, 4, tzinfo=UTC)
    assert data.end == datetime(2024, 6, 2, 4, tzinfo=UTC)


def test_a_day_without_an_offset_is_utc() -> None:
    [data] = mapping.to_usage(ICCID, {"bytesUsed": 1, "timestamp": "2024-06-01T00:00:00"}, now=NOW)
    assert data.start == datetime(2024, 6, 1, tzinfo=UTC)


def test_a_record_without_counters_gives_nothing() -> None:
    assert mapping.to_usage(ICCID, {"timestamp": "2024-06-01T00:00:00Z"}, now=NOW) == []


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ({"bytesUsed": 1}, ValueError),  # no time
        ({"bytesUsed": -1, "timestamp": "2024-06-01T00:00:00Z"}, ValueError),
        ({"bytesUsed": "12.5", "timestamp": "2024-06-01T00:00:00Z"}, ValueError),
        ({"bytesUsed": True, "timestamp": "2024-06-01T00:00:00Z"}, TypeError),
        ({"smsUsed": 1, "timestamp": "15-08-2021"}, ValueError),
        ({"smsUsed": 1, "timestamp": "2024-06-01T00:00:00Z", "extendedAttributes": {}}, TypeError),
    ],
)
def test_malformed_usage(record: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        mapping.to_usage(ICCID, record, now=NOW)


def test_usage_counts_may_be_numeric_strings() -> None:
    [data] = mapping.to_usage(
        ICCID, {"bytesUsed": "419863234", "timestamp": "2024-06-01T00:00:00Z"}, now=NOW
    )
    assert data.quantity == 419_863_234


# -- sessions -----------------------------------------------------------------------------

CONNECTIONS = [
    {
        "connectionEventAttributes": [
            {"key": "BytesUsed", "value": "0"},
            {"key": "Event", "value": "Start"},
        ],
        "extendedAttributes": [],
        "occurredAt": "2015-12-17T14:12:36-05:00",
    },
    {
        "connectionEventAttributes": [
            {"key": "BytesUsed", "value": "419863234"},
            {"key": "Event", "value": "Stop"},
            {"key": "Msisdn", "value": "15086303371"},
        ],
        "extendedAttributes": [],
        "occurredAt": "2015-12-19T01:20:00-05:00",
    },
]


def test_a_start_and_a_stop_make_a_session() -> None:
    [session], still_open = mapping.sessions(ICCID, CONNECTIONS, open_start=None)
    assert still_open is None
    assert session.granularity is Granularity.SESSION
    assert (session.bearer, session.direction) == (Bearer.DATA, None)
    assert session.quantity == 419_863_234
    assert session.start == datetime(2015, 12, 17, 19, 12, 36, tzinfo=UTC)
    assert session.end == datetime(2015, 12, 19, 6, 20, tzinfo=UTC)
    assert session.final
    assert session.extra == {}  # the MSISDN stays out


def test_a_session_may_span_two_pages() -> None:
    records, still_open = mapping.sessions(ICCID, CONNECTIONS[:1], open_start=None)
    assert records == []
    assert still_open == datetime(2015, 12, 17, 19, 12, 36, tzinfo=UTC)
    [session], _ = mapping.sessions(ICCID, CONNECTIONS[1:], open_start=still_open)
    assert session.start == still_open


def test_a_stop_without_its_start_has_no_start() -> None:
    [session], _ = mapping.sessions(ICCID, CONNECTIONS[1:], open_start=None)
    assert session.start is None
    assert session.end is not None


def test_event_keys_are_read_without_regard_to_case() -> None:
    events = [
        {
            "connectionEventAttributes": [{"key": "event", "value": "START"}],
            "occurredAt": "2024-06-01T00:00:00Z",
        },
        {
            "connectionEventAttributes": [
                {"key": "EVENT", "value": "stop"},
                {"key": "bytesused", "value": "7"},
            ],
            "occurredAt": "2024-06-01T01:00:00Z",
        },
        {
            "connectionEventAttributes": [{"key": "Event", "value": "Interim"}],
            "occurredAt": "2024-06-01T02:00:00Z",
        },
    ]
    [session], still_open = mapping.sessions(ICCID, events, open_start=None)
    assert session.quantity == 7
    assert still_open is None


def test_a_stop_without_bytes_used_counts_zero() -> None:
    events = [
        {
            "connectionEventAttributes": [{"key": "Event", "value": "Stop"}],
            "occurredAt": "2024-06-01T01:00:00Z",
        }
    ]
    [session], _ = mapping.sessions(ICCID, events, open_start=None)
    assert session.quantity == 0


def test_an_event_without_time_is_malformed() -> None:
    with pytest.raises(ValueError, match="occurredAt"):
        mapping.sessions(ICCID, [{"connectionEventAttributes": []}], open_start=None)


# -- provisioning history ---------------------------------------------------------------

HISTORY = [
    {
        "provisioningHistory": [
            {
                "occurredAt": "2015-12-17T13:56:13-05:00",
                "status": "Success",
                "eventBy": "Harry Potter",
                "eventType": "Activation Confirmed",
                "servicePlan": "Tablet5GB",
                "mdn": "",
                "msisdn": "15086303371",
                "extendedAttributes": [],
            }
        ],
        "hasMoreData": False,
    }
]


def test_provisioning_history_of_the_documented_example() -> None:
    [entry] = mapping.history_items(HISTORY)
    event = mapping.to_audit_event(ICCID, entry)
    assert event.kind is AuditKind.STATUS_CHANGE
    assert event.occurred_at == datetime(2015, 12, 17, 18, 56, 13, tzinfo=UTC)
    assert event.field == "state"
    assert event.new_value == "Activation Confirmed"
    assert event.old_value is None
    assert event.actor == "Harry Potter"
    assert event.description == "Activation Confirmed - Success"
    assert event.extra == {"status": "Success", "servicePlan": "Tablet5GB"}
    assert event.iccid == ICCID


def test_history_in_either_shape() -> None:
    assert mapping.history_items(HISTORY[0]) == mapping.history_items(HISTORY)
    assert not mapping.history_more(HISTORY)
    assert mapping.history_more({"provisioningHistory": [], "hasMoreData": True})
    assert mapping.history_more(
        [{"provisioningHistory": []}, {"provisioningHistory": [], "hasMoreData": True}]
    )


@pytest.mark.parametrize("body", [{}, [{"hasMoreData": False}], "x", None])
def test_history_without_its_list_is_malformed(body: Any) -> None:
    with pytest.raises(ValueError, match="provisioningHistory"):
        mapping.history_items(body)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("Activate", AuditKind.STATUS_CHANGE),
        ("Suspend", AuditKind.STATUS_CHANGE),
        ("Suspension Confirmed", AuditKind.STATUS_CHANGE),
        ("Restore", AuditKind.STATUS_CHANGE),
        ("Deactivate", AuditKind.STATUS_CHANGE),
        ("Service Plan Change", AuditKind.TARIFF_CHANGE),
        ("Device Move", AuditKind.OTHER),
        (None, AuditKind.OTHER),
    ],
)
def test_event_kinds(event_type: str | None, kind: AuditKind) -> None:
    event = mapping.to_audit_event(
        ICCID, {"occurredAt": "2024-06-01T00:00:00Z", "eventType": event_type}
    )
    assert event.kind is kind
    assert event.field == ("state" if kind is AuditKind.STATUS_CHANGE else None)


def test_history_extended_attributes_are_kept() -> None:
    record = {
        "occurredAt": "2024-06-01T00:00:00Z",
        "eventType": "Device Move",
        "extendedAttributes": [{"key": "FromAccount", "value": "0000123456-00002"}],
    }
    event = mapping.to_audit_event(ICCID, record)
    assert event.extra == {"extendedAttributes": {"FromAccount": "0000123456-00002"}}
    assert event.description == "Device Move"
    assert event.actor is None


def test_an_entry_without_time_is_malformed() -> None:
    with pytest.raises(ValueError, match="occurredAt"):
        mapping.to_audit_event(ICCID, {"eventType": "Activate"})


# -- requests and error codes -------------------------------------------------------------


def test_request_instant() -> None:
    moment = datetime(2024, 6, 1, 8, 30, 15, 999_000, tzinfo=UTC)
    assert mapping.request_instant(moment) == "2024-06-01T08:30:15Z"


@pytest.mark.parametrize(
    ("code", "bare"),
    [
        ("UnifiedWebService.REQUEST_FAILED.AccountNotFound", "REQUEST_FAILED.AccountNotFound"),
        (
            "DeviceService.INPUT_INVALID.CustomField.InvalidName",
            "INPUT_INVALID.CustomField.InvalidName",
        ),
        ("REQUEST_FAILED.SessionToken.Expired", "REQUEST_FAILED.SessionToken.Expired"),
        ("DeserializationFailed", "DeserializationFailed"),
        (" UnifiedWebService.REQUEST_FAILED.UnexpectedError ", "REQUEST_FAILED.UnexpectedError"),
    ],
)
def test_vendor_code_drops_the_service_prefix(code: str, bare: str) -> None:
    assert mapping.vendor_code(code) == bare


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Pre-active", "pre-active"),
        ("preactive", "pre-active"),
        (" pending   Suspend ", "pending suspend"),
    ],
)
def test_state_key(raw: str, key: str) -> None:
    assert mapping.state_key(raw) == key
