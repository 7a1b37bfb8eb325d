"""Hologram mapping: pure functions over documented, drifted and malformed payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cdp_sdk import (
    AuditKind,
    Bearer,
    Direction,
    Granularity,
    SimStatus,
    Tag,
    UnexpectedResponseError,
)
from cdp_sdk.connectors.hologram import HologramConnector, HologramSettings, mapping
from cdp_sdk.models import luhn_check_digit, luhn_valid
from hologram_payloads import (
    DAILY,
    DEVICE,
    HISTORY,
    ICCID,
    ICCID_BODY,
    LINK,
    LINK_ID,
    MONTHLY,
    PLAN,
    SESSIONS,
    SMS,
    SMS_NEWER,
    answer,
    page,
    with_,
)

NOW = datetime(2024, 6, 15, tzinfo=UTC)


# -- subscriptions ------------------------------------------------------------------------


def test_a_documented_link_and_its_device_map_to_a_subscription() -> None:
    sim = mapping.to_subscription(LINK, DEVICE)

    assert sim.connector == "hologram"
    assert sim.id == str(LINK_ID)
    assert sim.account == "4477"
    assert sim.iccid == ICCID
    assert sim.imsi == "234500012345678"  # a number in the API
    assert sim.msisdn == "882350012345678"
    assert sim.imei == "356938035643809"  # from the device
    assert sim.eid is None
    assert sim.status is SimStatus.ACTIVE
    assert sim.status_raw == "LIVE"
    assert sim.tariff == "127:1"  # the plan (from the device's link) and its zone
    assert sim.created_at == datetime(2023, 12, 1, 10, 20, 30, tzinfo=UTC)
    assert sim.activated_at == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert sim.updated_at is None
    assert sim.ip_address == "10.176.4.21"
    assert sim.tags == (Tag(key="pumps"), Tag(key="north"))
    assert sim.extra["device_name"] == "Pump 12"
    assert sim.extra["plan_name"] == "Flexible 10MB"
    assert sim.extra["plan_data_bytes"] == 10000000
    assert sim.extra["account_tier"] == "BASE"
    assert sim.extra["cur_billing_data_used"] == 2692964  # only the device's link has it
    assert sim.extra["overagelimit"] == 20000000
    assert sim.extra["model"] == "BG96"
    assert sim.extra["deviceid"] == 56668
    assert "pending" not in sim.extra


def test_pin_and_puk_never_reach_the_subscription() -> None:
    sim = mapping.to_subscription(LINK, DEVICE)
    assert "pin" not in sim.extra
    assert "puk" not in sim.extra
    assert "87654321" not in sim.model_dump_json()


def test_the_links_own_values_win_over_the_devices_view() -> None:
    device = with_(DEVICE)
    device["links"]["cellular"][0]["state"] = "PAUSED-USER"
    device["links"]["cellular"][0]["msisdn"] = "882350099999999"
    sim = mapping.to_subscription(LINK, device)
    assert sim.status_raw == "LIVE"
    assert sim.msisdn == "882350012345678"


def test_a_link_without_its_device_still_maps() -> None:
    sim = mapping.to_subscription(LINK, None)
    assert sim.iccid == ICCID
    assert sim.imei is None
    assert sim.tags == ()
    assert sim.tariff is None  # the plan comes with the device
    assert sim.extra["device_name"] == "Pump 12"  # the link's devicename
    assert sim.account == "4477"


def test_the_device_of_another_link_gives_no_plan() -> None:
    device = with_(DEVICE)
    device["links"]["cellular"][0]["id"] = LINK_ID + 1
    assert mapping.to_subscription(LINK, device).tariff is None


def test_the_account_falls_back_to_the_devices_organization() -> None:
    link = {key: value for key, value in LINK.items() if key != "orgid"}
    assert mapping.to_subscription(link, with_(DEVICE, orgid=99)).account == "99"


def test_tags_as_plain_names_are_read_too() -> None:
    device = with_(DEVICE, tags=["pumps", " north ", "", "pumps", 17])
    assert mapping.to_subscription(LINK, device).tags == (Tag(key="pumps"), Tag(key="north"))


@pytest.mark.parametrize("imei", ["", "0000000000000000", "000000000000000", None])
def test_an_empty_or_zero_imei_is_no_imei(imei: str | None) -> None:
    assert mapping.to_subscription(LINK, with_(DEVICE, imei=imei)).imei is None


def test_an_euicc_bootstrap_profile_carries_its_eid() -> None:
    eid = "89049032000001000000012345678901"
    link = with_(LINK, euicc_type="BOOTSTRAP", eid=eid)
    assert mapping.to_subscription(link, DEVICE).eid == eid


def test_empty_texts_become_none() -> None:
    link = with_(LINK, msisdn="", priv_ip_address="")
    sim = mapping.to_subscription(link, with_(DEVICE, links={"cellular": []}))
    assert sim.msisdn is None
    assert sim.ip_address is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("INACTIVE", SimStatus.INVENTORY),
        ("LIVE", SimStatus.ACTIVE),
        ("ACTIVE", SimStatus.ACTIVE),
        ("LIVE-PENDING", SimStatus.ACTIVE),
        ("PAUSED", SimStatus.SUSPENDED),
        ("PAUSED-USER", SimStatus.SUSPENDED),
        ("PAUSED-PENDING-USER", SimStatus.SUSPENDED),
        ("PAUSED-SYS", SimStatus.SUSPENDED),
        ("PAUSED-BY-SYS", SimStatus.SUSPENDED),
        ("PAUSED-PENDING-SYS", SimStatus.SUSPENDED),
        ("DEAD", SimStatus.RETIRED),
        ("DEAD-PENDING", SimStatus.RETIRED),
        ("HIBERNATING", SimStatus.UNKNOWN),
    ],
)
def test_status_map(raw: str, status: SimStatus) -> None:
    sim = mapping.to_subscription(with_(LINK, state=raw), DEVICE)
    assert sim.status is status
    assert sim.status_raw == raw
    assert sim.extra.get("pending") is (True if "PENDING" in raw else None)


def test_the_lifecycle_table_follows_the_billing_docs() -> None:
    modes = {mode.name: mode for mode in mapping.ACTIVATION_MODES}
    assert set(modes) == set(mapping.STATUS)
    assert {name for name, mode in modes.items() if mode.settable} == {
        "LIVE",
        "PAUSED-USER",
        "DEAD",
    }
    # Paused SIMs still pay the monthly fee; a deactivated (dead) one does not.
    assert modes["PAUSED-USER"].billable is True
    assert modes["PAUSED-SYS"].billable is True
    assert modes["DEAD"].billable is False
    assert modes["INACTIVE"].billable is False
    assert modes["LIVE"].next == ("PAUSED-USER", "DEAD")
    assert modes["PAUSED-USER"].next == ("LIVE", "DEAD")
    assert modes["PAUSED-SYS"].next == ("DEAD",)  # it resumes once its cause is fixed
    assert modes["DEAD"].next == ()
    assert all(mode.next == () for name, mode in modes.items() if "PENDING" in name)
    assert not any(mode.auto_activates for mode in modes.values())
    for mode in modes.values():
        assert set(mode.next) <= set(modes)


def test_actions_reach_the_states_of_their_statuses() -> None:
    for status, action in mapping.ACTIONS.items():
        assert mapping.STATUS[mapping.SETTLED_STATE[action]] is status
    assert SimStatus.DEACTIVATED not in mapping.ACTIONS


# -- identifiers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sim", "iccid"),
    [
        (ICCID, ICCID),  # 19 digits with the check digit: kept
        (ICCID_BODY, ICCID),  # 18 digits: the check digit appended
        (int(ICCID), ICCID),
        (f" {ICCID} ", ICCID),
        ("8901410321111851073", "89014103211118510738"),  # 19, last digit not its check
        ("89014103211118510720", "89014103211118510720"),  # 20 digits: complete
        ("89014103211118510721", "89014103211118510721"),  # 20 digits: taken as given
        ("89445001122334455", "894450011223344555"),  # 17 digits: appended
    ],
)
def test_full_iccid(sim: Any, iccid: str) -> None:
    assert mapping.full_iccid(sim) == iccid


@pytest.mark.parametrize(
    "sim", ["", "8944500112233445", "89445001122334455671234", "89445OO112233445567", None, 1.5]
)
def test_full_iccid_refuses_what_is_not_an_iccid(sim: Any) -> None:
    with pytest.raises(ValueError, match="ICCID"):
        mapping.full_iccid(sim)


def test_every_full_iccid_of_up_to_19_digits_passes_luhn() -> None:
    for body in ("894450011223344556", "8988303000000000070"[:-1], "898830300000000007"):
        assert luhn_valid(mapping.full_iccid(body))


def test_iccid_candidates_cover_both_forms() -> None:
    assert mapping.iccid_candidates(ICCID) == (
        ICCID,
        ICCID_BODY,
        ICCID + str(luhn_check_digit(ICCID)),
    )
    assert mapping.iccid_candidates(ICCID_BODY) == (ICCID_BODY, ICCID)
    twenty = "89014103211118510720"
    assert mapping.iccid_candidates(twenty) == (twenty, twenty[:-1])


def test_find_link_takes_the_sim_of_the_iccid_in_either_form() -> None:
    stored_without = with_(LINK, sim=ICCID_BODY)
    assert mapping.find_link(ICCID, [stored_without]) == stored_without
    assert mapping.find_link(ICCID_BODY, [LINK]) == LINK
    assert mapping.find_link(ICCID, [with_(LINK, sim="8944500112233445575")]) is None
    assert mapping.find_link(ICCID, [with_(LINK, sim="garbage"), LINK]) == LINK


def test_find_link_prefers_the_exact_iccid() -> None:
    # A user's 19 digits that happen to end in a valid check digit of their first 18.
    other = with_(LINK, id=1, sim=ICCID + str(luhn_check_digit(ICCID)))
    assert mapping.find_link(ICCID, [other, LINK]) == LINK
    assert mapping.find_link(ICCID, [other]) == other


# -- envelopes ----------------------------------------------------------------------------


def test_page_items_reads_the_data_list() -> None:
    body = page("/api/1/links/cellular", [LINK], limit=1, next_after=LINK_ID)
    assert mapping.page_items(body) == [LINK]
    assert mapping.page_items({"success": True, "data": []}) == []
    assert mapping.page_items({"success": True}) == []


@pytest.mark.parametrize("continues", [True, "true", 1])
def test_an_empty_page_that_continues_raises(continues: Any) -> None:
    body = {"success": True, "limit": 5, "size": 0, "continues": continues, "data": []}
    with pytest.raises(UnexpectedResponseError, match="empty page says more records follow"):
        mapping.page_items(body)


@pytest.mark.parametrize("continues", [False, "false", 0, None])
def test_an_empty_last_page_ends(continues: Any) -> None:
    assert mapping.page_items({"success": True, "continues": continues, "data": []}) == []


@pytest.mark.parametrize(
    "body",
    [
        {"success": False, "error": "Invalid linkid"},
        {"success": True, "data": {"id": 1}},
        ["not", "an", "envelope"],
    ],
)
def test_answers_that_are_not_pages_raise(body: Any) -> None:
    with pytest.raises(UnexpectedResponseError):
        mapping.page_items(body)


def test_a_list_without_a_cursor_must_be_complete() -> None:
    assert mapping.single_page_items(answer(HISTORY)) == HISTORY
    with pytest.raises(UnexpectedResponseError, match="takes no cursor"):
        mapping.single_page_items(page("/api/1/devices/tags", [{"id": 1}], limit=1, next_after=1))


def test_cursors() -> None:
    assert mapping.link_id(LINK) == LINK_ID
    assert mapping.record_id(DAILY[0]) == 104691062
    assert mapping.record_id(SMS_NEWER[0]) == 123457  # the newer SMS shape has only id
    for broken in ({}, {"id": None}, {"id": True}, "x"):
        with pytest.raises(UnexpectedResponseError, match="no id to start the next page"):
            mapping.link_id(broken)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"success": False, "error": "API rate limit exceeded"}, "API rate limit exceeded"),
        ({"success": False, "error": {"message": "nested"}}, "nested"),
        ({"success": False, "error": ""}, None),
        ({"success": False}, None),
        (None, None),
    ],
)
def test_parse_error(body: Any, message: str | None) -> None:
    vendor = mapping.parse_error(body)
    assert vendor.code is None
    assert vendor.message == message


def test_parse_time() -> None:
    assert mapping.parse_time("2019-10-15 17:41:38") == datetime(
        2019, 10, 15, 17, 41, 38, tzinfo=UTC
    )
    assert mapping.parse_time("0000-00-00 00:00:00") is None
    assert mapping.parse_time("") is None
    assert mapping.parse_time(None) is None
    with pytest.raises(ValueError, match="Invalid isoformat"):
        mapping.parse_time("yesterday")


# -- status changes -----------------------------------------------------------------------


def test_a_bare_success_is_a_pending_change() -> None:
    change = mapping.to_status_change(
        ICCID, SimStatus.SUSPENDED, "pause", LINK_ID, {"success": True}
    )
    assert change.state == "pending"
    assert change.requested is SimStatus.SUSPENDED
    assert change.extra == {"action": "pause"}


def test_a_device_answer_showing_the_settled_state_is_done() -> None:
    device = with_(DEVICE)
    device["links"]["cellular"][0]["state"] = "PAUSED-USER"
    change = mapping.to_status_change(ICCID, SimStatus.SUSPENDED, "pause", LINK_ID, answer(device))
    assert change.state == "done"
    assert change.extra == {"action": "pause", "state": "PAUSED-USER"}


def test_a_device_answer_still_pending_is_pending() -> None:
    device = with_(DEVICE)
    device["links"]["cellular"][0]["state"] = "PAUSED-PENDING-USER"
    change = mapping.to_status_change(ICCID, SimStatus.SUSPENDED, "pause", LINK_ID, answer(device))
    assert change.state == "pending"
    other = mapping.to_status_change(ICCID, SimStatus.SUSPENDED, "pause", 1, answer(DEVICE))
    assert other.state == "pending"  # the answer does not show this SIM's link


# -- tariffs ------------------------------------------------------------------------------


def test_a_plan_gives_one_tariff_per_zone_priced_by_its_base_tier() -> None:
    zone_1, world = mapping.to_tariffs(PLAN)

    assert zone_1.id == "127:1"
    assert zone_1.name == "Flexible 10MB (1)"
    assert zone_1.description == "10 MB a month, then pay as you go"
    assert zone_1.currency == "USD"
    assert zone_1.recurring_fee == Decimal("1.50")  # BASE needs 0 devices, 1000 needs 1000
    assert zone_1.included_data_bytes == 10000000
    assert zone_1.included_sms is None
    assert zone_1.extra["sms_price"] == "0.19"
    assert zone_1.extra["overage_per_mb"] == "0.40"
    assert zone_1.extra["billing_period_days"] == 30
    assert zone_1.extra["recurring"] is True
    assert zone_1.extra["developerplan"] is False
    assert zone_1.extra["tiers"] == {
        "BASE": {"devicecount": 0, "amount": "1.50", "sms": "0.19", "overage": "0.40"},
        "1000": {"devicecount": 1000, "amount": "1.10", "sms": "0.15", "overage": "0.30"},
    }
    assert world.id == "127:global"
    assert world.recurring_fee == Decimal("4.75")
    assert list(world.extra["tiers"]) == ["BASE"]


def test_the_tariff_of_a_subscription_names_a_listed_tariff() -> None:
    ids = {tariff.id for tariff in mapping.to_tariffs(PLAN)}
    assert mapping.to_subscription(LINK, DEVICE).tariff in ids


def test_a_plan_without_tiers_has_no_price() -> None:
    [tariff] = mapping.to_tariffs({"id": 5, "name": "Legacy", "data": "0"})
    assert tariff.id == "5"
    assert tariff.recurring_fee is None
    assert tariff.currency is None
    assert tariff.included_data_bytes == 0


def test_a_dollar_sign_in_a_price_is_read() -> None:
    plan = with_(PLAN, tiers={"BASE": {"devicecount": 0, "zones": {"1": {"amount": "$2.13"}}}})
    assert mapping.to_tariffs(plan)[0].recurring_fee == Decimal("2.13")


# -- usage --------------------------------------------------------------------------------


def test_a_daily_row_is_one_utc_day_of_bytes() -> None:
    record = mapping.to_daily_usage(ICCID, DAILY[0], now=NOW)
    assert record.iccid == ICCID
    assert record.bearer is Bearer.DATA
    assert record.direction is None  # Hologram gives no up/down split
    assert record.quantity == 5242880
    assert record.start == datetime(2024, 5, 2, tzinfo=UTC)
    assert record.end == datetime(2024, 5, 3, tzinfo=UTC)
    assert record.granularity is Granularity.DAY
    assert record.final is True
    assert record.extra == {"linkid": LINK_ID, "session_count": 14}


def test_today_is_not_final() -> None:
    record = mapping.to_daily_usage(ICCID, DAILY[0], now=datetime(2024, 5, 2, 12, tzinfo=UTC))
    assert record.final is False


def test_a_monthly_row_is_a_calendar_month() -> None:
    record = mapping.to_monthly_usage(ICCID, MONTHLY[0], now=NOW)
    assert record.quantity == 21474836
    assert record.start == datetime(2024, 4, 1, tzinfo=UTC)
    assert record.end == datetime(2024, 5, 1, tzinfo=UTC)
    assert record.granularity is Granularity.MONTH
    assert record.extra == {"linkid": LINK_ID, "session_count": 43}  # "43" in the API
    december = mapping.to_monthly_usage(ICCID, {**MONTHLY[0], "month": 12}, now=NOW)
    assert december.end == datetime(2025, 1, 1, tzinfo=UTC)


def test_a_session_row_runs_from_its_begin_to_its_end() -> None:
    record = mapping.to_session_usage(ICCID, SESSIONS[0], now=NOW)
    assert record.granularity is Granularity.SESSION
    assert record.start == datetime(2024, 5, 2, 16, 4, 20, tzinfo=UTC)
    assert record.end == datetime(2024, 5, 2, 16, 34, 22, tzinfo=UTC)
    assert record.quantity == 500000
    assert record.final is True
    assert record.extra["network_name"] == "Hologram Global"
    assert record.extra["imei"] == "356938035643809"
    assert record.extra["cellid"] == 1234


def test_an_open_or_instant_session_has_no_end() -> None:
    open_session = {**SESSIONS[0], "timestamp": "0000-00-00 00:00:00"}
    instant = {**SESSIONS[0], "timestamp": SESSIONS[0]["session_begin"]}
    for row in (open_session, instant):
        record = mapping.to_session_usage(ICCID, row, now=NOW)
        assert record.end is None
        assert record.final is False


def test_sms_events() -> None:
    linkid, direction, moment, cost = mapping.sms_event(SMS[0])
    assert (linkid, direction, cost) == (LINK_ID, Direction.MO, None)
    assert moment == datetime(2024, 5, 2, 18, 47, 22, tzinfo=UTC)
    newer = mapping.sms_event(SMS_NEWER[0])
    assert newer[1] is Direction.MO  # outbound SMS without a direction field
    assert newer[3] == Decimal("0.05")
    assert mapping.sms_event({**SMS[0], "direction": "DT"})[1] is Direction.MT
    with pytest.raises(ValueError, match="direction"):
        mapping.sms_event({**SMS[0], "direction": "XX"})
    with pytest.raises(ValueError, match="timestamp"):
        mapping.sms_event({**SMS[0], "timestamp": "0000-00-00 00:00:00"})


def test_period_start() -> None:
    moment = datetime(2024, 5, 2, 18, 47, 22, tzinfo=UTC)
    assert mapping.period_start(moment, Granularity.DAY) == datetime(2024, 5, 2, tzinfo=UTC)
    assert mapping.period_start(moment, Granularity.MONTH) == datetime(2024, 5, 1, tzinfo=UTC)


def test_sms_usage_records() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    day = mapping.to_sms_usage(ICCID, Direction.MO, start, Granularity.DAY, 3, None, now=NOW)
    assert (day.bearer, day.unit, day.quantity) == (Bearer.SMS, "messages", 3)
    assert day.end == datetime(2024, 5, 2, tzinfo=UTC)
    assert day.cost is None
    assert day.currency is None
    month = mapping.to_sms_usage(
        ICCID, Direction.MO, start, Granularity.MONTH, 2, Decimal("0.10"), now=NOW
    )
    assert month.end == datetime(2024, 6, 1, tzinfo=UTC)
    assert (month.cost, month.currency) == (Decimal("0.10"), "USD")


# -- audit events -------------------------------------------------------------------------


def test_a_history_entry_is_a_state_change() -> None:
    event = mapping.to_audit_event(ICCID, HISTORY[0])
    assert event.id == "9001"
    assert event.iccid == ICCID
    assert event.kind is AuditKind.STATUS_CHANGE
    assert event.field == "state"
    assert (event.old_value, event.new_value) == ("INACTIVE", "LIVE-PENDING")
    assert event.occurred_at == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert event.description == "reason: USER"
    assert event.extra == {"reason": "USER", "linkid": LINK_ID}


def test_a_history_entry_without_reason_or_id() -> None:
    event = mapping.to_audit_event(ICCID, {"timestamp": "2024-02-03 04:05:06", "newstate": "DEAD"})
    assert event.id is None
    assert event.description is None
    assert event.old_value is None
    assert event.extra == {}


# -- malformed and drifted payloads -------------------------------------------------------


def connector(**settings: Any) -> HologramConnector:
    return HologramConnector(HologramSettings(api_key="k", **settings))


@pytest.mark.parametrize(
    "broken",
    [
        {key: value for key, value in LINK.items() if key != "sim"},
        with_(LINK, sim="12"),
        with_(LINK, state=None),
        with_(LINK, whencreated="yesterday"),
        with_(LINK, imsi="not digits"),
        {key: value for key, value in LINK.items() if key != "id"},
    ],
    ids=["no-sim", "bad-iccid", "no-state", "bad-time", "bad-imsi", "no-id"],
)
def test_malformed_links_become_unexpected_response_errors(broken: dict[str, Any]) -> None:
    pairs = [(broken, None)]
    with pytest.raises(UnexpectedResponseError, match="GET /api/1/links/cellular: a record"):
        list(
            connector().map_records(
                pairs, lambda p: mapping.to_subscription(*p), endpoint="GET /api/1/links/cellular"
            )
        )


def test_lenient_mode_skips_a_malformed_link() -> None:
    lenient = connector(strict=False)
    pairs = [(with_(LINK, sim="12"), None), (LINK, DEVICE)]
    mapped = list(lenient.map_records(pairs, lambda p: mapping.to_subscription(*p), endpoint="x"))
    assert [sim.iccid for sim in mapped] == [ICCID]
    assert lenient.skipped_records == 1


def test_drifted_links_map() -> None:
    minimal = {"id": 7, "sim": ICCID, "state": "LIVE", "newField": {"x": 1}}
    sim = mapping.to_subscription(minimal, {"id": 8, "futureField": []})
    assert sim.id == "7"
    assert sim.account is None
    assert sim.tariff is None
    assert sim.created_at is None
    assert sim.extra == {}


@pytest.mark.parametrize(
    "row",
    [
        {**DAILY[0], "bytes": -1},
        {**DAILY[0], "bytes": "many"},
        {**DAILY[0], "bytes": True},
        {k: v for k, v in DAILY[0].items() if k != "date"},
        {**DAILY[0], "date": "02/05/2024"},
    ],
    ids=["negative", "text", "boolean", "no-date", "us-date"],
)
def test_malformed_daily_rows_raise(row: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError, KeyError)):
        mapping.to_daily_usage(ICCID, row, now=NOW)


@pytest.mark.parametrize(
    "plan",
    [
        {k: v for k, v in PLAN.items() if k != "id"},
        with_(PLAN, tiers=["BASE"]),
        with_(PLAN, tiers={"BASE": {"devicecount": 0, "zones": {"1": {"amount": "cheap"}}}}),
    ],
    ids=["no-id", "tiers-list", "bad-amount"],
)
def test_malformed_plans_raise(plan: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError, KeyError, AttributeError)):
        mapping.to_tariffs(plan)


# -- what the newer reference adds --------------------------------------------------------


def test_every_kept_field_lands_in_extra() -> None:
    # The newer reference's device example adds simcardid, is_hyper and data_threshold.
    device = with_(DEVICE, simcardid=4860808, is_hyper=False, phonenumber="+15555551234")
    device["links"]["cellular"][0] |= {"data_threshold": -1, "simcardid": 4860808}
    sim = mapping.to_subscription(LINK, device)
    assert sim.extra == {
        "deviceid": 56668,
        "carrier": 2,
        "carrierid": 2,
        "apn": "hologram",
        "euicc_type": "UICC",
        "profile_state": "ENABLED",
        "euicc_state": "ENABLED",
        "sim_attribute": "STANDARD",
        "tunnelable": 0,
        "overagelimit": 20000000,
        "datathreshold": 0,
        "data_threshold": -1,
        "smslimit": 100,
        "whenexpires": "2024-06-03 04:05:06",
        "last_network_used": "T-Mobile USA, Inc",
        "last_connect_time": "2024-05-20 08:00:00",
        "cur_billing_data_used": 2692964,
        "last_billing_data_used": 5421465,
        "dataplansubscriptionid": 88231,
        "simcardid": 4860808,
        "type": "Unknown",
        "model": "BG96",
        "manufacturer": "Quectel",
        "imei_sv": "3569380356438001",
        "phonenumber": "+15555551234",
        "is_hyper": False,
        "device_name": "Pump 12",
        "plan_id": 127,
        "plan_name": "Flexible 10MB",
        "plan_data_bytes": 10000000,
        "zone": "1",
        "account_tier": "BASE",
    }


def test_the_zone_falls_back_to_the_links_own() -> None:
    device = with_(DEVICE)
    del device["links"]["cellular"][0]["plan"]["zone"]
    assert mapping.to_subscription(with_(LINK, zone="global"), device).tariff == "127:global"
    assert mapping.to_subscription(with_(LINK, zone=""), device).tariff == "127"


def test_envelope_errors_say_what_is_wrong() -> None:
    with pytest.raises(UnexpectedResponseError, match=r"^the answer's data is not a list"):
        mapping.page_items({"success": True, "data": {"id": 1}})
    with pytest.raises(UnexpectedResponseError, match=r"^the answer is not a JSON object"):
        mapping.answer_data([])
    with pytest.raises(UnexpectedResponseError, match=r"success=false \(Invalid linkid\)"):
        mapping.answer_data({"success": False, "error": "Invalid linkid"})
    with pytest.raises(UnexpectedResponseError, match=r"success=false \(\)"):
        mapping.answer_data({"success": False, "error": {"code": 1}})


@pytest.mark.parametrize("continues", ["yes", "1", " TRUE "])
def test_continues_as_text(continues: str) -> None:
    with pytest.raises(UnexpectedResponseError, match="empty page"):
        mapping.page_items({"success": True, "continues": continues, "data": []})


def test_a_nested_error_named_error_is_read() -> None:
    assert mapping.parse_error({"error": {"error": "inner"}}).message == "inner"


def test_full_iccid_says_why_it_refuses() -> None:
    with pytest.raises(ValueError, match=r"^sim is not an ICCID of 17 to 22 digits$"):
        mapping.full_iccid("123")
    with pytest.raises(ValueError, match=r"^sim is not an ICCID"):
        mapping.full_iccid(None)


def test_tags_by_name_keeps_the_lowest_id_of_a_name() -> None:
    tags = [
        {"name": "north", "id": 10},
        {"name": "north", "id": 9},
        {"name": "south", "id": "x7"},
        {"name": "south", "id": 200},
        {"name": 5, "id": 1},
        "north",
        {"id": 3},
    ]
    found = mapping.tags_by_name(tags)
    assert found == {"north": {"name": "north", "id": 9}, "south": {"name": "south", "id": 200}}


def test_tag_holds() -> None:
    assert mapping.tag_holds({"deviceids": [1, "2"]}, "2") is True
    assert mapping.tag_holds({"deviceids": [1]}, 2) is False
    assert mapping.tag_holds({"id": 1}, 2) is None


def test_the_tariff_extra_keeps_the_plan_facts() -> None:
    zone_1 = mapping.to_tariffs(with_(PLAN, groupid=4, enabled=0, description=""))[0]
    assert zone_1.description is None
    assert {key: value for key, value in zone_1.extra.items() if key != "tiers"} == {
        "plan_id": 127,
        "recurring": True,
        "enabled": False,
        "developerplan": False,
        "billing_period_days": 30,
        "groupid": 4,
        "zone": "1",
        "sms_price": "0.19",
        "overage_per_mb": "0.40",
    }
    three = with_(PLAN, billingperiod=3, recurring=True, data="")
    assert mapping.to_tariffs(three)[0].extra["billing_period_days"] == 90
    assert mapping.to_tariffs(three)[0].extra["recurring"] is True
    assert mapping.to_tariffs(three)[0].included_data_bytes is None


def test_tiers_are_ordered_by_devices_then_name() -> None:
    price = {"1": {"amount": "1"}}
    plan = with_(
        PLAN,
        tiers={
            "B": {"devicecount": 0, "zones": {"1": {"amount": "2"}}},
            "A": {"zones": {"1": {"amount": "3"}}},  # no devicecount: needs none
            "Z": {"devicecount": 1, "zones": price},
        },
    )
    [tariff] = mapping.to_tariffs(plan)
    assert list(tariff.extra["tiers"]) == ["A", "B", "Z"]
    assert tariff.recurring_fee == Decimal("3")
    assert tariff.extra["tiers"]["A"]["devicecount"] == 0


def test_tiers_must_be_an_object() -> None:
    with pytest.raises(TypeError, match=r"^tiers is not an object$"):
        mapping.to_tariffs(with_(PLAN, tiers=["BASE"]))


def test_a_daily_date_with_a_time_is_read() -> None:
    row = {**DAILY[0], "date": "2024-05-02 00:00:00"}
    assert mapping.to_daily_usage(ICCID, row, now=NOW).start == datetime(2024, 5, 2, tzinfo=UTC)


def test_session_extras() -> None:
    record = mapping.to_session_usage(ICCID, SESSIONS[0], now=NOW)
    assert record.extra == {
        "linkid": LINK_ID,
        "imei": "356938035643809",
        "imeisv": "3569380356438001",
        "network_name": "Hologram Global",
        "radio_access_technology": "LTE",
        "cellid": 1234,
        "lac": 543210,
    }
    ongoing = mapping.to_session_usage(
        ICCID, SESSIONS[0], now=datetime(2024, 5, 2, 16, 30, tzinfo=UTC)
    )
    assert ongoing.final is False


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**DAILY[0], "bytes": True}, "^bytes must be a number$"),
        ({**DAILY[0], "bytes": None}, "^bytes must be a number$"),
        ({**DAILY[0], "bytes": "many"}, "^bytes is not a number$"),
        ({**DAILY[0], "bytes": -5}, "^negative bytes$"),
        ({**DAILY[0], "session_count": "x"}, "^session_count is not a number$"),
    ],
)
def test_counts_say_what_is_wrong(row: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        mapping.to_daily_usage(ICCID, row, now=NOW)


def test_session_and_sms_errors_say_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"^missing session_begin$"):
        mapping.to_session_usage(ICCID, {**SESSIONS[0], "session_begin": ""}, now=NOW)
    with pytest.raises(ValueError, match=r"^unknown SMS direction$"):
        mapping.sms_event({**SMS[0], "direction": "MO"})
    with pytest.raises(ValueError, match=r"^missing linkid$"):
        mapping.sms_event({**SMS[0], "linkid": None})
    with pytest.raises(ValueError, match=r"^missing timestamp$"):
        mapping.to_audit_event(ICCID, {"timestamp": ""})


def test_an_sms_period_not_over_is_not_final() -> None:
    start = datetime(2024, 6, 14, tzinfo=UTC)
    today = mapping.to_sms_usage(ICCID, Direction.MO, start, Granularity.DAY, 1, None, now=NOW)
    running = mapping.to_sms_usage(
        ICCID,
        Direction.MO,
        start,
        Granularity.DAY,
        1,
        None,
        now=datetime(2024, 6, 14, 9, tzinfo=UTC),
    )
    assert today.final is True
    assert running.final is False


def test_who_pays_in_each_state() -> None:
    billable = {mode.name: mode.billable for mode in mapping.ACTIVATION_MODES}
    assert billable == {
        "INACTIVE": False,
        "LIVE": True,
        "ACTIVE": True,
        "LIVE-PENDING": True,
        "PAUSED": True,
        "PAUSED-USER": True,
        "PAUSED-PENDING-USER": True,
        "PAUSED-SYS": True,
        "PAUSED-BY-SYS": True,
        "PAUSED-PENDING-SYS": True,
        "DEAD": False,
        "DEAD-PENDING": None,
    }


def test_the_device_name_wins_over_the_links_copy() -> None:
    sim = mapping.to_subscription(with_(LINK, devicename="old name"), with_(DEVICE, name="Pump 13"))
    assert sim.extra["device_name"] == "Pump 13"


def test_the_plans_zone_wins_over_the_links() -> None:
    assert mapping.to_subscription(with_(LINK, zone="global"), DEVICE).tariff == "127:1"


def test_a_plan_without_tiers_keeps_its_description_or_none() -> None:
    [described] = mapping.to_tariffs({"id": 5, "description": "old plan"})
    [empty] = mapping.to_tariffs({"id": 5, "description": ""})
    assert (described.description, empty.description) == ("old plan", None)
    with pytest.raises(ValueError, match=r"^data is not a number$"):
        mapping.to_tariffs({"id": 5, "data": "lots"})


def test_an_sms_without_time_says_so() -> None:
    with pytest.raises(ValueError, match=r"^missing timestamp$"):
        mapping.sms_event({**SMS[0], "timestamp": None})
