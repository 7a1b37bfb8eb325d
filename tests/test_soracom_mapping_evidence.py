"""Soracom mapping: fields, fallbacks and refusals a user reads, from Soracom's OpenAPI spec.

Shapes from the official spec in the reference (``soracom-api.en.yaml``): ``Sim`` with
``profiles`` keyed by ICCID, each with ``primaryImsi`` and ``subscribers``,
``activeProfileId``, ``sessionStatus{online, ueIpAddress, subscription}``,
``imeiLock{imei}``; ``SimStatusHistoryResponse{applyDateTimeEpochSec, bundles, groupId,
imsi, isPrimary, speedClass, status, subscription}``; ``SessionEvent{event, cell, ...}``;
the API audit log entry; ``MonthlyBill{yearMonth, amount, currency, state, paymentStatus,
paymentTransactionId, appliedCouponAmount}`` and the bill item summary
``{yearMonth, currency, updatedTime, costBreakdownList[{amount, billItemCategory,
billItemName}]}``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_sdk import AuditKind, ConflictError, Granularity, SimStatus, UnexpectedResponseError
from cdp_sdk.connectors.soracom import SoracomConnector, SoracomSettings, mapping

ICCID = "8942310222000012345"
OTHER = "8942310222000012352"
IMSI = "295050012345678"
IMSI_2 = "295050012345679"

SIM: dict[str, Any] = {
    "simId": ICCID,
    "operatorId": "OP0012345678",
    "status": "active",
    "sessionStatus": {"online": False},
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


# -- subscriptions -----------------------------------------------------------------------


def test_the_primary_imsi_names_the_subscriber_among_several() -> None:
    profile = {
        "iccid": ICCID,
        "primaryImsi": IMSI_2,
        "subscribers": {
            IMSI: {"imsi": IMSI, "subscription": "plan-US"},
            IMSI_2: {"imsi": IMSI_2, "subscription": "plan01s", "bundles": ["D-300MB"]},
        },
    }
    subscription = mapping.to_subscription(sim(profiles={ICCID: profile}))
    assert (subscription.imsi, subscription.tariff) == (IMSI_2, "plan01s")
    assert subscription.extra["bundles"] == ["D-300MB"]


def test_without_a_primary_imsi_the_first_subscriber_is_taken() -> None:
    profile = {"iccid": ICCID, "subscribers": {IMSI: {"imsi": IMSI}}}
    assert mapping.to_subscription(sim(profiles={ICCID: profile})).imsi == IMSI


def test_the_active_profile_wins_over_an_earlier_profile_with_subscribers() -> None:
    other = {"iccid": OTHER, "subscribers": {IMSI_2: {"imsi": IMSI_2}}}
    euicc = sim(activeProfileId=ICCID, profiles={OTHER: other, **SIM["profiles"]})
    subscription = mapping.to_subscription(euicc)
    assert (subscription.iccid, subscription.imsi) == (ICCID, IMSI)


def test_the_session_plan_and_ip_address_fill_in_while_online() -> None:
    profile = {"iccid": ICCID, "subscribers": {IMSI: {"imsi": IMSI}}}
    online = {"online": True, "ueIpAddress": "10.0.0.9", "subscription": "plan-D"}
    subscription = mapping.to_subscription(sim(profiles={ICCID: profile}, sessionStatus=online))
    assert (subscription.tariff, subscription.ip_address) == ("plan-D", "10.0.0.9")
    offline = {"online": False, "ueIpAddress": "10.0.0.9"}
    assert mapping.to_subscription(sim(sessionStatus=offline)).ip_address is None


def test_the_locked_imei_is_kept() -> None:
    locked = mapping.to_subscription(sim(imeiLock={"imei": "356938035643809"}))
    assert locked.extra["imeiLock"] == "356938035643809"


# -- refusals in words -------------------------------------------------------------------


def refusal(mapper: Callable[[Any], Any], record: Any, endpoint: str) -> str:
    connector = SoracomConnector(SoracomSettings(auth_key_id="keyId-1", auth_key="secret-1"))
    with pytest.raises(UnexpectedResponseError) as caught:
        connector.map_one(record, mapper, endpoint=endpoint)
    return caught.value.message


def test_a_sim_without_profiles_is_refused_in_words() -> None:
    message = refusal(mapping.to_subscription, sim(profiles={}), "GET /sims")
    assert message == (
        "GET /sims: a record could not be mapped (ValueError: the SIM has no profile, so no ICCID)"
    )


def test_a_search_answer_that_is_not_a_list_is_refused_in_words() -> None:
    message = refusal(lambda b: mapping.find_by_iccid(ICCID, b), {}, "GET /query/sims")
    assert message == (
        "GET /query/sims: a record could not be mapped "
        "(TypeError: the search answer is not a list of SIMs)"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("lots", "ValueError: invalid literal for int() with base 10: 'lots'"),
        ([1], "TypeError: a byte or packet count must be a number"),
        (-5, "ValueError: negative byte or packet count"),
    ],
)
def test_bad_byte_counts_are_refused_in_words(value: Any, reason: str) -> None:
    row = {"unixtime": 1717200000, "uploadByteSizeTotal": value}
    now = datetime(2024, 6, 15, tzinfo=UTC)
    message = refusal(
        lambda r: mapping.to_usage(None, r, period="day", now=now), row, "POST /stats/air"
    )
    assert message == f"POST /stats/air: a record could not be mapped ({reason})"


@pytest.mark.parametrize(
    ("bill", "reason"),
    [
        ({"yearMonth": "2024-1", "amount": 1, "currency": "USD"}, "yearMonth must be yyyyMM"),
        ({"yearMonth": "202405", "amount": None, "currency": "USD"}, "missing amount"),
    ],
)
def test_bad_bills_are_refused_in_words(bill: dict[str, Any], reason: str) -> None:
    message = refusal(lambda b: mapping.to_invoice(b, items={}), bill, "GET /bills")
    assert message == f"GET /bills: a record could not be mapped (ValueError: {reason})"


def test_an_api_audit_entry_without_time_names_the_field() -> None:
    message = refusal(mapping.to_api_audit_event, {"apiKind": "/v1/sims"}, "GET /audit_logs/api")
    assert message == (
        "GET /audit_logs/api: a record could not be mapped (missing field 'requestedTimeEpochMs')"
    )


def test_a_refused_status_action_names_the_connector() -> None:
    with pytest.raises(ConflictError) as caught:
        mapping.to_status_change(ICCID, SimStatus.ACTIVE, "activate", {"status": "inactive"})
    assert caught.value.connector == "soracom"


# -- audit events ------------------------------------------------------------------------


def test_a_history_entry_keeps_every_documented_field() -> None:
    entry = {
        "applyDateTimeEpochSec": 1717200000,
        "imsi": IMSI,
        "isPrimary": True,
        "status": "active",
        "subscription": "plan01s",
        "speedClass": "s1.fast",
        "bundles": ["D-300MB"],
    }
    event = mapping.to_history_event(ICCID, entry, None)
    assert event.iccid == ICCID
    assert event.extra == {
        "imsi": IMSI,
        "isPrimary": True,
        "status": "active",
        "subscription": "plan01s",
        "speedClass": "s1.fast",
        "bundles": ["D-300MB"],
    }


def test_a_session_event_keeps_its_sim_and_cell() -> None:
    cell = {"radioType": "lte", "mcc": 440, "mnc": 10, "tac": 5490, "eci": 12345}
    event = mapping.to_session_event(
        ICCID, {"time": 1717200000000, "event": "Created", "imsi": IMSI, "cell": cell}
    )
    assert (event.iccid, event.kind, event.new_value) == (ICCID, AuditKind.SESSION, "Created")
    assert event.extra == {"imsi": IMSI, "cell": cell}


def test_an_api_audit_entry_without_path_has_no_description() -> None:
    entry = {
        "apiKind": "/v1/sims",
        "requestedTimeEpochMs": 1717200000000,
        "statusCode": 200,
        "operatorId": "OP0012345678",
        "userName": "SORACOMAPI",
    }
    event = mapping.to_api_audit_event(entry)
    assert (event.description, event.actor) == (None, "SORACOMAPI")
    assert event.extra == {"apiKind": "/v1/sims", "statusCode": 200, "operatorId": "OP0012345678"}


# -- invoices ----------------------------------------------------------------------------


def test_a_bill_keeps_its_payment_and_coupon_and_lines_fall_back_to_the_category() -> None:
    bill = {
        "yearMonth": "202405",
        "amount": 12.5,
        "currency": "USD",
        "state": "closed",
        "paymentStatus": "paid",
        "paymentTransactionId": "txn-42",
        "appliedCouponAmount": 2.5,
    }
    summary = {
        "yearMonth": "202405",
        "currency": "USD",
        "updatedTime": 1717200000,
        "costBreakdownList": [
            {"amount": 10, "billItemCategory": "basic_charge"},
            {"amount": 2.5},
        ],
    }
    invoice = mapping.to_invoice(bill, items={"202405": summary})
    assert [(line.description, line.category) for line in invoice.lines] == [
        ("basic_charge", "basic_charge"),
        ("", None),
    ]
    assert invoice.extra == {
        "paymentStatus": "paid",
        "paymentTransactionId": "txn-42",
        "appliedCouponAmount": "2.5",
        "linesUpdatedTime": 1717200000,
    }


def test_the_session_imsi_fills_in_for_a_subscriber_without_one() -> None:
    profile = {"iccid": ICCID, "subscribers": {IMSI: {"msisdn": "423650012345678"}}}
    session = {"online": True, "imsi": IMSI}
    subscription = mapping.to_subscription(sim(profiles={ICCID: profile}, sessionStatus=session))
    assert subscription.imsi == IMSI


# -- usage -------------------------------------------------------------------------------


def test_a_monthly_row_is_a_month_of_the_sim() -> None:
    row = {"unixtime": 1714521600, "uploadByteSizeTotal": 10, "downloadByteSizeTotal": 0}
    now = datetime(2024, 6, 15, tzinfo=UTC)
    (record,) = mapping.to_usage(ICCID, row, period="month", now=now)
    assert (record.iccid, record.granularity) == (ICCID, Granularity.MONTH)
    assert (record.start, record.end) == (
        datetime(2024, 5, 1, tzinfo=UTC),
        datetime(2024, 6, 1, tzinfo=UTC),
    )


def test_a_row_without_time_is_refused_naming_the_field() -> None:
    now = datetime(2024, 6, 15, tzinfo=UTC)
    message = refusal(
        lambda r: mapping.to_usage(None, r, period="day", now=now),
        {"unixtime": None, "uploadByteSizeTotal": 1},
        "POST /stats/air",
    )
    assert message == "POST /stats/air: a record could not be mapped (ValueError: missing unixtime)"


# -- tables (module-level: mutation testing does not change them, so they are read whole) ---


def test_the_lifecycle_flags_follow_soracom_s_status_pages() -> None:
    # "Subscriber Status" and the support article on Inactive, Suspended and Terminated:
    # active and inactive ("the standard basic daily fee continues to apply") are billed;
    # ready and standby activate on the next connection; the fee of ready, standby and
    # suspended depends on the plan (unknown); the five action targets are settable.
    flags = {
        mode.name: (mode.status, mode.billable, mode.auto_activates, mode.settable)
        for mode in mapping.ACTIVATION_MODES
    }
    assert flags == {
        "shipped": (SimStatus.INVENTORY, False, False, False),
        "instock": (SimStatus.INVENTORY, False, False, False),
        "ready": (SimStatus.READY, None, True, False),
        "testing": (SimStatus.TEST, False, False, False),
        "active": (SimStatus.ACTIVE, True, False, True),
        "inactive": (SimStatus.SUSPENDED, True, False, True),
        "standby": (SimStatus.READY, None, True, True),
        "suspended": (SimStatus.DEACTIVATED, None, False, True),
        "terminated": (SimStatus.RETIRED, False, False, True),
    }


def test_each_status_action_sets_the_state_its_reference_names() -> None:
    # POST /v1/sims/{sim_id}/<action>: "Changes status of specified SIM to ...".
    assert mapping.ACTION_STATE == {
        "activate": "active",
        "deactivate": "inactive",
        "suspend": "suspended",
        "set_to_standby": "standby",
        "terminate": "terminated",
    }
    assert mapping.ACTIONS_FOR[SimStatus.RETIRED] == ("enable_termination", "terminate")
