"""emnify mapping: the fields, fallbacks and refusals a user reads, from the vendor's shapes.

Shapes from the reference (mvno-platforms.md section 1): the SIM fields (E2, E1, E4) with
``eid`` and ``iccid_with_luhn``; the tariff profile ``{id, name, description, used_count,
tariff{id, name, ..., currency{code}}}`` and the active tariff plan ``{start_date,
expiry_date, sim_activated_rate, sim_suspended_rate, tariff_plan{name, description, rate,
yearly_rate, sim_activation_fee, max_active_sims, ...}}`` (E1, E4); ``.../stats`` with
``last_month`` and ``current_month`` that "appear only when traffic exists" (E1, E8); the
event fields ``user{id, username, name}``, ``endpoint{id, ...}``, ``sim{id, iccid, ...}``
(E2, E1); the PATCH moves (E8).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from cdp_sdk import (
    AuditKind,
    ConflictError,
    InvalidRequestError,
    SimStatus,
    UnexpectedResponseError,
)
from cdp_sdk.connectors.emnify import EmnifyConnector, EmnifySettings, mapping

NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
ICCID = "89883030000123456789"
PLAIN = "8988303000012345678"


@pytest.fixture
def connector() -> Iterator[EmnifyConnector]:
    plugin = EmnifyConnector(EmnifySettings(application_token=SecretStr("app-token-123")))
    yield plugin
    asyncio.run(plugin.aclose())


def sim(**fields: Any) -> dict[str, Any]:
    return {"id": 7, "iccid": PLAIN, "status": {"id": 1, "description": "Activated"}} | fields


# -- SIMs --------------------------------------------------------------------------------


def test_the_eid_of_an_esim_is_kept() -> None:
    eid = "89049032000001000000012345678901"
    assert mapping.to_subscription(sim(eid=eid)).eid == eid
    assert mapping.to_subscription(sim(eid=None)).eid is None


def test_a_boolean_status_id_is_refused_in_words(connector: EmnifyConnector) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        list(
            connector.map_records(
                [sim(status={"id": True})], mapping.to_subscription, endpoint="GET /api/v1/sim"
            )
        )
    assert caught.value.message == (
        "GET /api/v1/sim: a record could not be mapped (TypeError: status.id is a boolean)"
    )


def test_find_sim_picks_the_sim_with_this_iccid_among_several() -> None:
    other = {"id": 1, "iccid": "8988303000012345679"}
    wanted = {"id": 2, "iccid": PLAIN}
    assert mapping.find_sim([other, wanted], ICCID) == wanted
    assert mapping.find_sim([other, wanted], PLAIN) == wanted
    assert mapping.find_sim([other], ICCID) is None


def test_find_sim_reads_iccid_with_luhn_when_the_plain_iccid_is_missing() -> None:
    only_full = {"id": 3, "iccid_with_luhn": ICCID}
    assert mapping.find_sim([only_full], ICCID) == only_full


def test_find_sim_refuses_an_answer_that_is_not_a_list(connector: EmnifyConnector) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        connector.map_one(
            {"id": 2}, lambda b: mapping.find_sim(b, ICCID), endpoint="GET /api/v1/sim"
        )
    assert caught.value.message == (
        "GET /api/v1/sim: a record could not be mapped (TypeError: expected a list of SIMs)"
    )


# -- state moves and tags: the errors name the connector and say what is allowed ---------------


def test_a_state_emnify_lacks_is_refused_with_no_hint_when_none_applies() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        mapping.requested_state(1, SimStatus.UNKNOWN)
    assert caught.value.connector == "emnify"
    assert caught.value.message == "emnify has no SIM state for 'unknown'"


def test_a_move_from_deleted_lists_no_allowed_target() -> None:
    with pytest.raises(ConflictError) as caught:
        mapping.requested_state(3, SimStatus.ACTIVE)
    assert caught.value.connector == "emnify"
    assert caught.value.message == (
        "emnify does not move a SIM from 'Deleted' to 'Activated' (allowed: none)"
    )


def test_a_move_from_issued_lists_both_allowed_targets() -> None:
    with pytest.raises(ConflictError) as caught:
        mapping.requested_state(0, SimStatus.SUSPENDED)
    assert caught.value.message == (
        "emnify does not move a SIM from 'Issued' to 'Suspended' (allowed: Activated, Factory Test)"
    )


def test_a_move_from_a_state_emnify_never_documented_names_its_id() -> None:
    with pytest.raises(ConflictError) as caught:
        mapping.requested_state(6, SimStatus.ACTIVE)
    assert caught.value.message == (
        "emnify does not move a SIM from '6' to 'Activated' (allowed: none)"
    )


def test_tags_with_commas_are_refused_naming_each_one() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        mapping.merged_tags({"tags": None}, {"a,b": None, "c,d": "x"}, [])
    assert caught.value.connector == "emnify"
    assert caught.value.message == "emnify tags cannot contain a comma: 'a,b', 'c,d'"


# -- tariffs -----------------------------------------------------------------------------


def test_a_tariff_profile_keeps_its_tariff_and_usage_count() -> None:
    profile = {
        "id": 1,
        "name": "Tariff Profile 1",
        "description": "This Tariff Profile is for testing.",
        "used_count": 56,
        "tariff": {
            "id": 11,
            "name": "Tariff 1",
            "sim_activated_rate": 1,
            "default_sms_mo_rate": 0.06,
            "currency": {"id": 1, "code": "EUR"},
        },
    }
    tariff = mapping.to_tariff(profile)
    assert tariff.description == "This Tariff Profile is for testing."
    assert tariff.extra == {
        "kind": "tariff_profile",
        "tariff_id": 11,
        "tariff_name": "Tariff 1",
        "used_count": 56,
        "sim_activated_rate": "1",
        "default_sms_mo_rate": "0.06",
    }


def test_a_rate_without_a_currency_is_no_fee() -> None:
    tariff = mapping.to_tariff({"id": 2, "name": "Bare", "tariff": {"sim_activated_rate": 1}})
    assert (tariff.currency, tariff.recurring_fee, tariff.description) == (None, None, None)
    plan = mapping.plan_to_tariff({"sim_activated_rate": 1, "tariff_plan": {"name": "P"}})
    assert (plan.currency, plan.recurring_fee) == (None, None)


def test_the_active_tariff_plan_keeps_its_dates_and_rates() -> None:
    plan = {
        "organisation_id": 51234,
        "start_date": "2023-01-01",
        "expiry_date": "2025-01-01",
        "sim_activated_rate": 0.9,
        "sim_suspended_rate": 0.1,
        "tariff_plan": {
            "id": 7,
            "name": "Pay as you grow",
            "description": "Per active SIM",
            "rate": 0,
            "yearly_rate": 120,
            "sim_activation_fee": 0.5,
            "max_active_sims": 1000,
            "currency": {"code": "EUR"},
        },
    }
    tariff = mapping.plan_to_tariff(plan)
    assert tariff.description == "Per active SIM"
    assert tariff.extra == {
        "kind": "tariff_plan",
        "start_date": "2023-01-01",
        "expiry_date": "2025-01-01",
        "sim_activated_rate": "0.9",
        "sim_suspended_rate": "0.1",
        "rate": "0",
        "yearly_rate": "120",
        "sim_activation_fee": "0.5",
        "max_active_sims": "1000",
    }


def test_a_tariff_plan_is_named_by_the_ids_it_has() -> None:
    assert mapping.plan_to_tariff({"id": 3, "tariff_plan": {"name": "P"}}).id == "plan-3"
    bare = mapping.plan_to_tariff({})
    assert (bare.id, bare.name, bare.description) == ("plan-active", "Tariff plan", None)


# -- monthly stats -----------------------------------------------------------------------


def data(volume_tx: float, **extra: Any) -> dict[str, Any]:
    return {
        "volume": volume_tx,
        "volume_tx": volume_tx,
        "volume_rx": 0,
        "cost": 0.25,
        "currency": {"code": "EUR"},
        "traffic_type": {"unit": "MB"},
    } | extra


def test_months_without_a_month_field_are_placed_by_the_clock() -> None:
    body = {"last_month": {"data": data(1)}, "current_month": {"data": data(2)}}
    records = mapping.to_monthly_usage(body, iccid=ICCID, now=NOW)
    assert [(r.start, r.quantity) for r in records] == [
        (datetime(2024, 5, 1, tzinfo=UTC), 1_000_000),
        (datetime(2024, 6, 1, tzinfo=UTC), 2_000_000),
    ]
    assert {r.iccid for r in records} == {ICCID}
    assert records[0].extra == {"cost": "0.25", "currency": "EUR"}


def test_a_missing_last_month_still_gives_the_current_month() -> None:
    body = {"current_month": {"data": data(2, month="2024-06-01")}}
    records = mapping.to_monthly_usage(body, iccid=None, now=NOW)
    assert {r.start for r in records} == {datetime(2024, 6, 1, tzinfo=UTC)}


def test_the_vendor_month_wins_over_the_clock() -> None:
    # Just after midnight on July 1st, emnify may still answer for June as current_month.
    now = datetime(2024, 7, 1, 0, 5, tzinfo=UTC)
    body = {
        "current_month": {"data": data(2, month="2024-06-01"), "sms": {"volume_tx": 1}},
        "last_month": {"sms": {"volume_tx": 1, "month": "2024-05-01"}, "data": data(1)},
    }
    records = mapping.to_monthly_usage(body, iccid=None, now=now)
    assert {r.start for r in records} == {
        datetime(2024, 5, 1, tzinfo=UTC),
        datetime(2024, 6, 1, tzinfo=UTC),
    }


def test_last_month_is_closed_on_emnify_word_even_when_our_clock_lags() -> None:
    # emnify's clock has passed into July; ours still reads June 30th.
    now = datetime(2024, 6, 30, 23, 59, tzinfo=UTC)
    body = {"last_month": {"data": data(1, month="2024-06-01")}}
    records = mapping.to_monthly_usage(body, iccid=None, now=now)
    assert records
    assert all(r.final for r in records)


# -- events ------------------------------------------------------------------------------


def event(**fields: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "timestamp": "2024-06-01T10:00:00Z",
        "event_type": {"id": 3, "description": "Create PDP Context"},
    } | fields


def test_the_actor_is_the_username_then_the_name_then_the_user_id() -> None:
    named = event(user={"id": 4, "name": "Ops Team"})
    assert mapping.to_audit_event(named).actor == "Ops Team"
    numbered = event(user={"id": 4}, event_source={"description": "API"})
    assert mapping.to_audit_event(numbered).actor == "4"


def test_an_event_keeps_its_endpoint_id() -> None:
    record = event(endpoint={"id": 9001, "name": "truck-17"})
    assert mapping.to_audit_event(record).extra["endpoint_id"] == 9001


def test_the_event_sim_gives_the_iccid_from_either_field() -> None:
    assert mapping.to_audit_event(event(sim={"id": 250})).iccid is None
    full = event(sim={"id": 250, "iccid_with_luhn": ICCID})
    assert mapping.to_audit_event(full).iccid == ICCID


def test_the_event_window_is_sent_in_utc_whatever_the_machine_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        start = datetime(2024, 6, 1, 9, tzinfo=timezone(timedelta(hours=2)))
        query = mapping.event_query(start, start + timedelta(days=1), now=NOW)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert query == "from:2024-06-01T07:00:00Z,until:2024-06-02T07:00:00Z"


def test_a_rate_the_vendor_leaves_out_is_not_reported() -> None:
    tariff = mapping.to_tariff({"id": 2, "name": "Bare", "tariff": {"sim_issued_rate": 0}})
    assert tariff.extra == {"kind": "tariff_profile", "sim_issued_rate": "0"}
    assert Decimal(str(tariff.extra["sim_issued_rate"])) == 0


# -- tables (module-level: mutation testing does not change them, so they are read whole) ---


def test_event_types_by_emnify_s_event_type_list() -> None:
    # E3 event-types.md: 8/9/10/45 move the SIM's state; 1/2/15/16 (location update and
    # purge) and 3/5 (PDP context create/delete) are the network side of a session.
    assert mapping.EVENT_KIND == {
        8: AuditKind.STATUS_CHANGE,  # SIM activation
        9: AuditKind.STATUS_CHANGE,  # SIM suspension
        10: AuditKind.STATUS_CHANGE,  # SIM deletion
        45: AuditKind.STATUS_CHANGE,  # SIM factory test
        1: AuditKind.SESSION,  # Update location
        2: AuditKind.SESSION,  # Update GPRS location
        3: AuditKind.SESSION,  # Create PDP Context
        5: AuditKind.SESSION,  # Delete PDP Context
        15: AuditKind.SESSION,  # Purge location
        16: AuditKind.SESSION,  # Purge GPRS location
    }


def test_the_lifecycle_flags_follow_emnify_s_lifecycle_page() -> None:
    # "SIM lifecycle management" (E3) and the PATCH reference (E8): only Activated is charged
    # for its month; Factory Test alone moves on by itself ("automatically moves to the
    # Activated state"); Issued is never reached again and Deleted is no PATCH target.
    flags = {
        mode.name: (mode.status, mode.billable, mode.auto_activates, mode.settable)
        for mode in mapping.ACTIVATION_MODES
    }
    assert flags == {
        "Issued": (SimStatus.INVENTORY, False, False, False),
        "Activated": (SimStatus.ACTIVE, True, False, True),
        "Suspended": (SimStatus.SUSPENDED, False, False, True),
        "Deleted": (SimStatus.RETIRED, False, False, False),
        "Factory Test": (SimStatus.TEST, False, True, True),
    }
    assert {mode.name: mode.extra["status_id"] for mode in mapping.ACTIVATION_MODES} == {
        "Issued": 0,
        "Activated": 1,
        "Suspended": 2,
        "Deleted": 3,
        "Factory Test": 4,
    }
