"""emnify mapping: pure functions over documented, drifted and malformed payloads.

The payloads follow the reference's shapes (mvno-platforms.md section 1) and the recorded
traffic; ICCIDs carry valid check digits (the reference's made-up examples do not).
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
    ConflictError,
    Direction,
    Granularity,
    InvalidRequestError,
    SimStatus,
    Tag,
    UnexpectedResponseError,
)
from cdp_sdk.connectors.emnify import EmnifyConnector, EmnifySettings, mapping

NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)

SIM: dict[str, Any] = {
    "id": 4100012,
    "iccid": "8988303000012345678",
    "iccid_with_luhn": "89883030000123456789",
    "eid": None,
    "imsi": "295050912345678",
    "msisdn": "423663912345678",
    "production_date": "2023-02-10T09:14:00.000+0000",
    "activation_date": "2023-03-01T12:00:00.000+0000",
    "status": {"id": 1, "description": "Activated"},
    "customer_org": {"id": 51234, "name": "Acme Fleet", "country": {"id": 74, "name": "Germany"}},
    "issuer_org": {"id": 2, "name": "emnify", "country": {"id": 74, "name": "Germany"}},
    "endpoint": {
        "id": 9001,
        "name": "truck-17",
        "imei": "356938035643809",
        "imei_lock": False,
        "tags": "fleet,de",
        "ip_address": "10.192.0.17",
        "tariff_profile_id": 424560,
        "last_updated": "2024-05-01T08:00:00.000+0000",
    },
    "model": {"id": 4, "description": "Classic", "memory_size": 128},
}
ISSUED_SIM: dict[str, Any] = {
    "id": 4100013,
    "iccid": "8988303000012345679",
    "imsi": "295050912345679",
    "msisdn": "423663912345679",
    "production_date": "2023-02-10T09:14:00.000+0000",
    "status": {"id": 0, "description": "Issued"},
    "customer_org": {"id": 51234, "name": "Acme Fleet"},
}
DAY: dict[str, Any] = {
    "date": "2024-05-01",
    "data": {
        "volume": 12.5,
        "volume_tx": 2.25,
        "volume_rx": 10.25,
        "cost": 0,
        "traffic_type": {"id": 5, "description": "Data", "unit": "MB"},
        "currency": {"id": 1, "code": "EUR", "symbol": "€"},
    },
    "sms": {
        "volume": 3,
        "volume_tx": 1,
        "volume_rx": 2,
        "cost": 0.18,
        "traffic_type": {"id": 6, "description": "SMS", "unit": "SMS"},
        "currency": {"id": 1, "code": "EUR", "symbol": "€"},
    },
}
EVENT: dict[str, Any] = {  # as recorded from GET /api/v1/endpoint/{id}/event
    "timestamp": "2022-03-27T23:20:49.298Z",
    "alert": False,
    "description": "Status of SIM changed from 'Issued' to 'Activated'",
    "id": 351732524384257,
    "event_type": {"id": 8, "description": "SIM activation"},
    "event_source": {"id": 2, "description": "API"},
    "event_severity": {"id": 0, "description": "Info"},
    "organisation": {"id": 13886, "name": "Org"},
    "sim": {
        "iccid": "8988303000000000129",
        "id": 250,
        "production_date": "2015-03-06T11:15:57.000Z",
    },
    "imsi": {"id": 247, "import_date": "2015-03-06T11:18:06.000Z", "imsi": "295050999900095"},
}
PROFILE: dict[str, Any] = {  # docs.emnify.com tariff profile example
    "id": 1,
    "name": "Tariff Profile 1",
    "description": "This Tariff Profile is for testing.",
    "used_count": 56,
    "tariff": {
        "id": 1,
        "name": "Tariff 1",
        "created": "2014-10-20 00:00:00",
        "default_sms_mt_rate": 0.06,
        "default_sms_mo_rate": 0.06,
        "sim_issued_rate": 0,
        "sim_activated_rate": 1,
        "sim_suspended_rate": 0,
        "currency": {"id": 1, "code": "EUR", "symbol": "€"},
        "data_blocksize": {"id": 1, "description": "exact", "octets": 1},
    },
}


@pytest.fixture
def connector() -> Iterator[EmnifyConnector]:
    plugin = EmnifyConnector(EmnifySettings(application_token=SecretStr("app-token-123")))
    yield plugin
    asyncio.run(plugin.aclose())


def drifted(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    copied = copy.deepcopy(record)
    copied.update(changes)
    return copied


# -- subscriptions -----------------------------------------------------------------------


def test_sim_with_endpoint_maps_every_field() -> None:
    sim = mapping.to_subscription(SIM)
    assert sim.id == "4100012"
    assert sim.iccid == "89883030000123456789"
    assert (sim.imsi, sim.msisdn, sim.eid) == ("295050912345678", "423663912345678", None)
    assert sim.imei == "356938035643809"
    assert (sim.status, sim.status_raw) == (SimStatus.ACTIVE, "Activated")
    assert sim.account == "51234"
    assert sim.tariff == "424560"
    assert sim.ip_address == "10.192.0.17"
    assert sim.tags == (Tag(key="fleet"), Tag(key="de"))
    assert sim.created_at == datetime(2023, 2, 10, 9, 14, tzinfo=UTC)
    assert sim.activated_at == datetime(2023, 3, 1, 12, tzinfo=UTC)
    assert sim.updated_at is None
    assert sim.extra["endpoint_id"] == 9001
    assert sim.extra["endpoint_last_updated"] == "2024-05-01T08:00:00.000+0000"


def test_sim_without_endpoint_or_check_digit() -> None:
    sim = mapping.to_subscription(ISSUED_SIM)
    assert sim.iccid == "89883030000123456797"  # iccid and its computed check digit
    assert (sim.status, sim.status_raw) == (SimStatus.INVENTORY, "Issued")
    assert (sim.imei, sim.ip_address, sim.tariff, sim.activated_at) == (None, None, None, None)
    assert sim.tags == ()


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (0, SimStatus.INVENTORY),
        (1, SimStatus.ACTIVE),
        (2, SimStatus.SUSPENDED),
        (3, SimStatus.RETIRED),
        (4, SimStatus.TEST),
    ],
)
def test_status_is_read_from_the_id(state: int, status: SimStatus) -> None:
    record = drifted(SIM, status={"id": state, "description": "whatever the text says"})
    assert mapping.to_subscription(record).status is status


def test_status_description_text_is_not_trusted() -> None:
    sim = mapping.to_subscription(drifted(SIM, status={"id": 1, "description": "Active"}))
    assert (sim.status, sim.status_raw) == (SimStatus.ACTIVE, "Activated")


def test_unknown_status_keeps_the_vendor_text() -> None:
    sim = mapping.to_subscription(drifted(SIM, status={"id": 7, "description": "Recycled"}))
    assert (sim.status, sim.status_raw) == (SimStatus.UNKNOWN, "Recycled")
    bare = mapping.to_subscription(drifted(SIM, status={"id": "9"}))
    assert (bare.status, bare.status_raw) == (SimStatus.UNKNOWN, "9")


def test_unknown_fields_and_the_endpoint_detail_shape_are_accepted() -> None:
    endpoint = {**SIM["endpoint"], "tariff_profile": {"id": 5, "name": "EU"}, "runtime_data": {}}
    endpoint["status"] = {"id": 1, "description": "Disabled"}
    sim = mapping.to_subscription(drifted(SIM, endpoint=endpoint, satellite_capable=True))
    assert sim.tariff == "5"
    assert sim.extra["endpoint_status"] == "Disabled"


@pytest.mark.parametrize(
    "record",
    [
        drifted(SIM, status=None),
        drifted(SIM, status={"description": "Activated"}),
        drifted(SIM, status={"id": True}),
        drifted(SIM, status={"id": "one"}),
        {key: value for key, value in SIM.items() if key != "id"},
        drifted(SIM, iccid="8988303000O12345678"),
        drifted(SIM, production_date="yesterday"),
        drifted(SIM, imsi=295050912345678),
    ],
    ids=[
        "null-status",
        "no-status-id",
        "bool-id",
        "text-id",
        "no-id",
        "bad-iccid",
        "bad-date",
        "int-imsi",
    ],
)
def test_malformed_sims_become_unexpected_response_errors(
    connector: EmnifyConnector, record: dict[str, Any]
) -> None:
    with pytest.raises(UnexpectedResponseError, match="GET /api/v1/sim"):
        list(connector.map_records([record], mapping.to_subscription, endpoint="GET /api/v1/sim"))


# -- lifecycle ---------------------------------------------------------------------------


def test_activation_modes_follow_the_documented_moves() -> None:
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    assert modes["Issued"].next == ("Activated", "Factory Test")
    assert modes["Activated"].next == ("Suspended",)
    assert modes["Suspended"].next == ("Activated",)
    assert modes["Factory Test"].next == ("Activated",)
    assert modes["Factory Test"].auto_activates
    assert modes["Deleted"].next == ()
    assert not modes["Deleted"].settable
    assert not modes["Issued"].settable
    assert modes["Activated"].billable
    assert not modes["Suspended"].billable


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (0, SimStatus.ACTIVE, 1),
        (0, SimStatus.TEST, 4),
        (4, SimStatus.ACTIVE, 1),
        (1, SimStatus.SUSPENDED, 2),
        (2, SimStatus.ACTIVE, 1),
        (1, SimStatus.ACTIVE, None),
    ],
)
def test_requested_state_for_allowed_moves(
    current: int, target: SimStatus, expected: int | None
) -> None:
    assert mapping.requested_state(current, target) == expected


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (1, SimStatus.TEST),
        (1, SimStatus.INVENTORY),
        (2, SimStatus.RETIRED),
        (3, SimStatus.ACTIVE),
        (4, SimStatus.SUSPENDED),
    ],
)
def test_requested_state_refuses_illegal_moves(current: int, target: SimStatus) -> None:
    with pytest.raises(ConflictError, match="does not move"):
        mapping.requested_state(current, target)


@pytest.mark.parametrize("target", [SimStatus.READY, SimStatus.DEACTIVATED])
def test_requested_state_refuses_states_emnify_lacks(target: SimStatus) -> None:
    with pytest.raises(InvalidRequestError, match="no SIM state"):
        mapping.requested_state(1, target)


# -- tags --------------------------------------------------------------------------------


def test_merged_tags_add_and_remove_labels() -> None:
    endpoint = {"tags": "Customer A, Project B, Device C"}
    text = mapping.merged_tags(endpoint, {"new": None, "Project B": None}, ["Device C"])
    assert text == "Customer A,Project B,new"


def test_merged_tags_keep_keys_only_and_start_from_null() -> None:
    assert mapping.merged_tags({"tags": None}, {"x": "value is dropped"}, []) == "x"
    assert mapping.merged_tags({"tags": "a"}, {}, ["a"]) == ""


def test_merged_tags_refuse_a_comma_in_a_key() -> None:
    with pytest.raises(InvalidRequestError, match="comma"):
        mapping.merged_tags({"tags": ""}, {"a,b": None}, [])


def test_endpoint_id() -> None:
    assert mapping.endpoint_id(SIM) == 9001
    assert mapping.endpoint_id(ISSUED_SIM) is None


# -- tariffs -----------------------------------------------------------------------------


def test_tariff_profile_with_its_tariff() -> None:
    tariff = mapping.to_tariff(PROFILE)
    assert (tariff.id, tariff.name, tariff.currency) == ("1", "Tariff Profile 1", "EUR")
    assert tariff.recurring_fee == Decimal("1")
    assert tariff.extra["default_sms_mo_rate"] == "0.06"
    assert tariff.extra["kind"] == "tariff_profile"


def test_tariff_profile_without_tariff_has_no_fee() -> None:
    tariff = mapping.to_tariff({"id": 2, "name": "Bare"})
    assert (tariff.currency, tariff.recurring_fee) == (None, None)


def test_tariff_plan() -> None:
    plan = {
        "id": 3,
        "sim_activated_rate": 0.9,
        "start_date": "2023-01-01",
        "tariff_plan": {"id": 7, "name": "Pay as you grow", "rate": 0, "currency": {"code": "EUR"}},
    }
    tariff = mapping.plan_to_tariff(plan)
    assert (tariff.id, tariff.name, tariff.recurring_fee) == (
        "plan-7",
        "Pay as you grow",
        Decimal("0.9"),
    )
    assert tariff.extra["kind"] == "tariff_plan"


# -- usage -------------------------------------------------------------------------------


def test_daily_stats_become_tidy_records_in_bytes() -> None:
    records = mapping.to_daily_usage(DAY, iccid="89883030000123456789", now=NOW)
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, Direction.MO, 2_250_000),
        (Bearer.DATA, Direction.MT, 10_250_000),
        (Bearer.SMS, Direction.MO, 1),
        (Bearer.SMS, Direction.MT, 2),
    ]
    first = records[0]
    assert (first.start, first.end) == (
        datetime(2024, 5, 1, tzinfo=UTC),
        datetime(2024, 5, 2, tzinfo=UTC),
    )
    assert first.granularity is Granularity.DAY
    assert first.final
    assert first.cost is None
    assert first.extra == {"cost": "0", "currency": "EUR"}
    assert records[2].extra == {"cost": "0.18", "currency": "EUR"}


def test_an_empty_day_and_the_total_row_give_nothing() -> None:
    assert mapping.to_daily_usage({"date": "2024-05-02"}, iccid=None, now=NOW) == []
    assert mapping.to_daily_usage({**DAY, "date": "TOTAL"}, iccid=None, now=NOW) == []


def test_organisation_stats_with_text_numbers_and_satellite_traffic() -> None:
    day = {
        "date": "2024-06-15",
        "data": {**DAY["data"], "volume_tx": "0.5", "volume_rx": "1.000001", "cost": "0.1"},
        "sat_geo_sms": {"volume": 2},
    }
    records = mapping.to_daily_usage(day, iccid=None, now=NOW)
    assert [(r.quantity, r.direction, r.zone) for r in records] == [
        (500_000, Direction.MO, None),
        (1_000_001, Direction.MT, None),
        (2, None, "satellite"),
    ]
    assert not records[0].final  # the day is not over yet


@pytest.mark.parametrize(
    "day",
    [
        {**DAY, "data": {**DAY["data"], "traffic_type": {"unit": "KB"}}},
        {**DAY, "data": {**DAY["data"], "volume_tx": "lots"}},
        {**DAY, "data": {**DAY["data"], "volume_tx": -1}},
        {**DAY, "sms": {**DAY["sms"], "volume_rx": 1.5}},
        {**DAY, "sms": "3"},
        {key: value for key, value in DAY.items() if key != "date"},
        {**DAY, "date": "May 1st"},
    ],
    ids=["unit", "text", "negative", "fraction", "not-object", "no-date", "bad-date"],
)
def test_malformed_stats_become_unexpected_response_errors(
    connector: EmnifyConnector, day: dict[str, Any]
) -> None:
    with pytest.raises(UnexpectedResponseError, match="stats/daily"):
        list(
            connector.map_records(
                [day],
                lambda r: mapping.to_daily_usage(r, iccid=None, now=NOW),
                endpoint="GET /api/v1/sim/{sim_id}/stats/daily",
            )
        )


def test_monthly_stats_in_both_published_shapes() -> None:
    month = dict(DAY["data"].items()) | {"month": "2024-05-01"}
    body = {"last_month": {"data": month}, "current_month": {"sms": DAY["sms"]}}
    for answer in (body, [body]):
        records = mapping.to_monthly_usage(answer, iccid=None, now=NOW)
        assert [(r.start.month, r.final, r.granularity) for r in records if r.start] == [
            (5, True, Granularity.MONTH),
            (5, True, Granularity.MONTH),
            (6, False, Granularity.MONTH),
            (6, False, Granularity.MONTH),
        ]
    assert mapping.to_monthly_usage([], iccid=None, now=NOW) == []


# -- events ------------------------------------------------------------------------------


def test_recorded_status_event() -> None:
    event = mapping.to_audit_event(EVENT)
    assert event.id == "351732524384257"
    assert event.iccid == "89883030000000001294"  # sim.iccid and its check digit
    assert event.occurred_at == datetime(2022, 3, 27, 23, 20, 49, 298000, tzinfo=UTC)
    assert (event.kind, event.field) == (AuditKind.STATUS_CHANGE, "status")
    assert (event.old_value, event.new_value) == ("Issued", "Activated")
    assert event.actor == "API"
    assert event.extra["event_type_id"] == 8


@pytest.mark.parametrize(
    ("type_id", "kind"),
    [
        (3, AuditKind.SESSION),
        (5, AuditKind.SESSION),
        (1, AuditKind.SESSION),
        (9, AuditKind.STATUS_CHANGE),
        (51, AuditKind.OTHER),
        (999, AuditKind.OTHER),
    ],
)
def test_event_kinds_by_type_id(type_id: int, kind: AuditKind) -> None:
    event = mapping.to_audit_event(drifted(EVENT, event_type={"id": type_id}, description=None))
    assert event.kind is kind


def test_status_event_without_the_usual_text_still_names_the_new_state() -> None:
    event = mapping.to_audit_event(
        drifted(EVENT, event_type={"id": 9}, description="Suspended by policy")
    )
    assert (event.old_value, event.new_value) == (None, "Suspended")


def test_event_actor_and_iccid_precedence() -> None:
    event = mapping.to_audit_event(
        drifted(EVENT, user={"id": 4, "username": "ops@example.com"}, sim=None, event_type=None),
        iccid="89883030000123456789",
    )
    assert (event.actor, event.iccid, event.kind) == (
        "ops@example.com",
        "89883030000123456789",
        AuditKind.OTHER,
    )


def test_event_without_timestamp_is_malformed(connector: EmnifyConnector) -> None:
    record = {key: value for key, value in EVENT.items() if key != "timestamp"}
    with pytest.raises(UnexpectedResponseError, match="timestamp"):
        list(connector.map_records([record], mapping.to_audit_event, endpoint="GET /api/v1/event"))


def test_event_query_sends_from_and_until_together() -> None:
    start = datetime(2024, 6, 1, tzinfo=UTC)
    assert mapping.event_query(None, None, now=NOW) is None
    assert (
        mapping.event_query(start, None, now=NOW)
        == "from:2024-06-01T00:00:00Z,until:2024-06-16T12:00:00Z"
    )
    assert (
        mapping.event_query(None, start, now=NOW)
        == "from:2024-05-01T00:00:00Z,until:2024-06-01T00:00:00Z"
    )
