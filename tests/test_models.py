"""Tests of the normalized models, enums and identifier helpers in ``cdp_sdk.models``."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pydantic
import pytest

import cdp_sdk.models as models
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    AuditKind,
    Bearer,
    Capability,
    CdpModel,
    ConnectorInfo,
    Direction,
    Granularity,
    Invoice,
    InvoiceLine,
    SimStatus,
    StatusChange,
    Subscription,
    Tag,
    Tariff,
    Unit,
    UsageRecord,
    ensure_utc,
    luhn_check_digit,
    luhn_valid,
    normalize_currency,
    normalize_eid,
    normalize_iccid,
    normalize_imei,
    normalize_imsi,
    normalize_msisdn,
)


def _with_check_digit(payload: str) -> str:
    return payload + str(luhn_check_digit(payload))


def _corrupt_last_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def _reference_luhn_valid(number: str) -> bool:
    """An independent Luhn check: the digit sum with every second digit doubled."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = sum(divmod(digit * 2, 10))
        total += digit
    return total % 10 == 0


ICCID = _with_check_digit("8988303000000000001")  # 20 digits
ICCID_2 = _with_check_digit("894400000000000123")  # 19 digits
T0 = datetime(2024, 5, 1, tzinfo=UTC)
T1 = datetime(2024, 5, 2, tzinfo=UTC)


# --- Luhn -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "check"),
    [
        ("7992739871", 3),  # the textbook example
        ("0", 0),
        ("1", 8),
        ("9", 1),
        ("35600000000000", 0),
        ("0000000000", 0),
    ],
)
def test_luhn_check_digit_known_values(payload: str, check: int) -> None:
    assert luhn_check_digit(payload) == check
    assert luhn_valid(payload + str(check))


@pytest.mark.parametrize("length", range(17, 22))
def test_generated_iccids_pass_luhn(length: int) -> None:
    payload = ("8988303" + "1234567890" * 3)[:length]
    iccid = _with_check_digit(payload)
    assert len(iccid) == length + 1
    assert luhn_valid(iccid)
    assert _reference_luhn_valid(iccid)
    assert normalize_iccid(iccid, luhn=True) == iccid


def test_luhn_agrees_with_reference_implementation() -> None:
    rng = random.Random(20240501)
    for _ in range(500):
        number = "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 25)))
        assert luhn_valid(number) is _reference_luhn_valid(number)
        assert luhn_valid(_with_check_digit(number[:-1]))


@pytest.mark.parametrize("length", range(1, 31))
def test_luhn_check_digit_of_every_length_agrees_with_the_reference(length: int) -> None:
    # Odd and even lengths put the doubled digits on different sides of the payload.
    rng = random.Random(length)
    for _ in range(40):
        payload = "".join(rng.choice("0123456789") for _ in range(length))
        check = luhn_check_digit(payload)
        assert _reference_luhn_valid(payload + str(check))
        assert [d for d in "0123456789" if _reference_luhn_valid(payload + d)] == [str(check)]


@pytest.mark.parametrize("iccid", [ICCID, ICCID_2])
def test_corrupted_iccid_rejected_only_with_luhn(iccid: str) -> None:
    corrupted = _corrupt_last_digit(iccid)
    assert not luhn_valid(corrupted)
    with pytest.raises(ValueError, match="Luhn") as info:
        normalize_iccid(corrupted, luhn=True)
    assert corrupted not in str(info.value)
    assert normalize_iccid(corrupted) == corrupted
    assert normalize_iccid(corrupted, luhn=False) == corrupted


def test_transposed_digits_fail_luhn() -> None:
    swapped = ICCID[:5] + ICCID[6] + ICCID[5] + ICCID[7:]
    assert swapped != ICCID
    assert not luhn_valid(swapped)


@pytest.mark.parametrize("bad", ["", "12a", " 12", "1.2", "\u0661\u0662"])
def test_luhn_check_digit_rejects_non_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="digits"):
        luhn_check_digit(bad)


@pytest.mark.parametrize("bad", ["", "0", "5", "12a4", " 18", "\u0661\u0668"])
def test_luhn_valid_is_false_for_non_numbers(bad: str) -> None:
    assert luhn_valid(bad) is False


def test_model_does_not_apply_luhn() -> None:
    corrupted = _corrupt_last_digit(ICCID)
    sub = _subscription(iccid=corrupted)
    assert sub.iccid == corrupted


# --- identifier boundaries ------------------------------------------------------------------

IDENTIFIERS: list[tuple[Callable[[str], str], str, int, int]] = [
    (normalize_iccid, "ICCID", 18, 22),
    (normalize_imsi, "IMSI", 5, 15),
    (normalize_msisdn, "MSISDN", 5, 15),
    (normalize_imei, "IMEI", 14, 16),
    (normalize_eid, "EID", 32, 32),
]


def _digits(length: int) -> str:
    return ("8912345678" * 4)[:length]


@pytest.mark.parametrize(("func", "name", "low", "high"), IDENTIFIERS)
@pytest.mark.parametrize("offset", [0, 1])
def test_identifier_lengths_inside_accepted(
    func: Callable[[str], str], name: str, low: int, high: int, offset: int
) -> None:
    for length in {low + offset, high - offset}:
        if low <= length <= high:
            value = _digits(length)
            assert func(value) == value


@pytest.mark.parametrize(("func", "name", "low", "high"), IDENTIFIERS)
@pytest.mark.parametrize("side", ["short", "long"])
def test_identifier_lengths_outside_rejected(
    func: Callable[[str], str], name: str, low: int, high: int, side: str
) -> None:
    value = _digits(low - 1 if side == "short" else high + 1)
    with pytest.raises(ValueError, match=name) as info:
        func(value)
    assert value not in str(info.value)
    assert f"(got {len(value)})" in str(info.value)


@pytest.mark.parametrize(("func", "name", "low", "high"), IDENTIFIERS)
@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda v: v[:-1] + "a", id="letter"),
        pytest.param(lambda v: v[:3] + " " + v[4:], id="inner-space"),
        pytest.param(lambda v: v[:3] + "-" + v[4:], id="dash"),
        pytest.param(lambda v: "\u0661" * len(v), id="arabic-indic-digits"),
        pytest.param(lambda v: "\uff11" + v[1:], id="fullwidth-digit"),
        pytest.param(lambda v: v[:-1] + ".", id="dot"),
        pytest.param(lambda v: "-" + v[1:], id="minus"),
        pytest.param(lambda v: "", id="empty"),
        pytest.param(lambda v: "   ", id="blank"),
    ],
)
def test_identifier_non_digits_rejected(
    func: Callable[[str], str], name: str, low: int, high: int, mutate: Callable[[str], str]
) -> None:
    value = mutate(_digits(high))
    with pytest.raises(ValueError, match=name) as info:
        func(value)
    if value.strip():
        assert value not in str(info.value)


@pytest.mark.parametrize(("func", "name", "low", "high"), IDENTIFIERS)
@pytest.mark.parametrize("pad", [" ", "\t", "\n", " \r\n "])
def test_identifier_surrounding_whitespace_stripped(
    func: Callable[[str], str], name: str, low: int, high: int, pad: str
) -> None:
    value = _digits(low)
    assert func(pad + value + pad) == value


@pytest.mark.parametrize("func", [normalize_iccid, normalize_imsi, normalize_imei, normalize_eid])
def test_leading_plus_only_allowed_for_msisdn(func: Callable[[str], str]) -> None:
    with pytest.raises(ValueError, match="digits 0-9"):
        func("+" + _digits(18))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+491701234567", "491701234567"),
        (" +491701234567 ", "491701234567"),
        ("491701234567", "491701234567"),
        ("+12345", "12345"),
        ("+" + "1" * 15, "1" * 15),
    ],
)
def test_msisdn_normalized_to_e164_digits(raw: str, expected: str) -> None:
    assert normalize_msisdn(raw) == expected


@pytest.mark.parametrize(
    "raw", ["++491701234567", "+ 491701234567", "49+1701234567", "+1234", "+" + "1" * 16, "+"]
)
def test_msisdn_invalid(raw: str) -> None:
    with pytest.raises(ValueError, match="MSISDN") as info:
        normalize_msisdn(raw)
    digits = raw.strip("+ ")
    if len(digits) >= 4:
        assert digits not in str(info.value)


@pytest.mark.parametrize(("func", "name", "low", "high"), IDENTIFIERS)
@pytest.mark.parametrize("value", [12345678901234567890, None, b"898830300000000000"])
def test_identifier_non_string_is_type_error(
    func: Callable[[Any], str], name: str, low: int, high: int, value: object
) -> None:
    with pytest.raises(TypeError, match=name):
        func(value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("iccid", "8988303000000000001234567"),
        ("iccid", "89883030000000000x1"),
        ("imsi", "2620112345678901"),
        ("msisdn", "+4917012345678901"),
        ("imei", "35600000000000012"),
        ("eid", "8904903200000000000000000000001"),
    ],
)
def test_validation_error_does_not_echo_identifier(field: str, value: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        _subscription(**{field: value})
    assert value not in str(info.value)
    assert value not in repr(info.value)
    assert info.value.errors()[0]["loc"] == (field,)


def test_identifiers_normalized_in_model() -> None:
    sub = _subscription(
        iccid=f" {ICCID} ",
        imsi=" 262011234567890",
        msisdn="+491701234567",
        imei="356000000000000 ",
        eid="\t" + _digits(32),
    )
    assert sub.iccid == ICCID
    assert sub.imsi == "262011234567890"
    assert sub.msisdn == "491701234567"
    assert sub.imei == "356000000000000"
    assert sub.eid == _digits(32)


IDENTIFIER_FIELDS: list[tuple[str, Callable[[str], str]]] = [
    ("iccid", normalize_iccid),
    ("imsi", normalize_imsi),
    ("msisdn", normalize_msisdn),
    ("imei", normalize_imei),
    ("eid", normalize_eid),
]


@pytest.mark.parametrize(("field", "normalize"), IDENTIFIER_FIELDS)
def test_model_fields_read_identifiers_exactly_as_the_normalizers(
    field: str, normalize: Callable[[str], str]
) -> None:
    # The model's field checks decide the usual case inline: every other input takes the
    # normalizer's path, with its errors.
    candidates: list[object] = [" 1234567 ", "\u0661\u0662\u0663", "12a45", "", None, 12345]
    for length in (4, 5, 14, 15, 16, 17, 18, 22, 23, 31, 32, 33):
        digits = _digits(length)
        candidates += [digits, f" {digits}", f"{digits}\n", f"+{digits}", f"++{digits}"]
    for value in candidates:
        expected, reason = _normalized(normalize, value)
        got, refusal = _model_field(field, value)
        assert got == expected, f"{field} read {value!r} as {got!r}"
        if refusal is not None:
            assert reason is not None, f"{field} refused {value!r}"
            assert reason in refusal or "valid string" in refusal


def _normalized(normalize: Callable[[str], str], value: object) -> tuple[str | None, str | None]:
    try:
        return normalize(value), None  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        return None, str(error)


def _model_field(field: str, value: object) -> tuple[str | None, str | None]:
    try:
        return getattr(_subscription(**{field: value}), field), None
    except pydantic.ValidationError as error:
        return None, str(error)


def test_identifier_given_as_number_rejected_by_model() -> None:
    with pytest.raises(pydantic.ValidationError):
        Subscription.model_validate(
            {"connector": "x", "id": "1", "iccid": int(ICCID), "status": "active",
             "status_raw": "A"}
        )  # fmt: skip


# --- datetimes ------------------------------------------------------------------------------


def test_naive_datetime_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="timezone-aware"):
        _subscription(created_at=datetime(2024, 5, 1, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        ensure_utc(datetime(2024, 5, 1))


def test_a_utc_datetime_is_kept_as_given() -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert ensure_utc(moment) is moment
    assert _subscription(created_at=moment).created_at is moment


@pytest.mark.parametrize("hours", [-11, -5, 0, 2, 5.5, 14])
def test_aware_datetime_converted_to_utc(hours: float) -> None:
    local = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=hours)))
    sub = _subscription(created_at=local, activated_at=local, updated_at=local)
    for value in (sub.created_at, sub.activated_at, sub.updated_at):
        assert value is not None
        assert value == local
        assert value.tzinfo is UTC
        assert value.utcoffset() == timedelta(0)
    assert ensure_utc(local).tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T07:00:00.250-05:00", datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_datetime_text_with_offset_converted(text: str, expected: datetime) -> None:
    event = AuditEvent(connector="x", occurred_at=text, kind="other")
    assert event.occurred_at == expected
    assert event.occurred_at.tzinfo is UTC


@pytest.mark.parametrize("text", ["2024-05-01T12:00:00", "2024-05-01 12:00", "2024-05-01"])
def test_datetime_text_without_offset_rejected(text: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        AuditEvent.model_validate_json(
            f'{{"connector": "x", "occurred_at": "{text}", "kind": "other"}}'
        )


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.1, Decimal("0.1")),
        (0.3, Decimal("0.3")),
        (19.99, Decimal("19.99")),
        (1e-7, Decimal("1E-7")),
        ("12.50", Decimal("12.50")),
        ("0.1", Decimal("0.1")),
        (3, Decimal(3)),
        (0, Decimal(0)),
        (-2.5, Decimal("-2.5")),
        (Decimal("1.005"), Decimal("1.005")),
    ],
)
def test_decimal_from_float_str_int(raw: Any, expected: Decimal) -> None:
    tariff = Tariff(connector="x", id="t", name="T", currency="EUR", recurring_fee=raw)
    assert isinstance(tariff.recurring_fee, Decimal)
    assert tariff.recurring_fee == expected
    assert str(tariff.recurring_fee) == str(expected)


def test_decimal_float_has_no_binary_noise() -> None:
    line = InvoiceLine(description="d", amount=0.1, quantity=0.2, unit_price=0.7)
    assert line.amount == Decimal("0.1")
    assert line.quantity == Decimal("0.2")
    assert line.unit_price == Decimal("0.7")
    assert line.amount != Decimal.from_float(0.1)  # the exact binary value is not what we keep


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), float("-inf"), "NaN", "sNaN", "Infinity", "-inf"]
)
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda v: Tariff(connector="x", id="t", name="T", currency="EUR", recurring_fee=v),
            id="tariff.recurring_fee",
        ),
        pytest.param(lambda v: InvoiceLine(description="d", amount=v), id="line.amount"),
        pytest.param(
            lambda v: InvoiceLine(description="d", amount=1, quantity=v), id="line.quantity"
        ),
        pytest.param(
            lambda v: _invoice(total=v),
            id="invoice.total",
        ),
        pytest.param(
            lambda v: _usage(cost=v, currency="EUR"),
            id="usage.cost",
        ),
    ],
)
def test_non_finite_decimal_rejected(bad: Any, build: Callable[[Any], object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        build(bad)


@pytest.mark.parametrize(("raw", "expected"), [("eur", "EUR"), ("Usd", "USD"), (" jpy ", "JPY")])
def test_currency_upper_cased(raw: str, expected: str) -> None:
    assert normalize_currency(raw) == expected
    assert _invoice(currency=raw).currency == expected


@pytest.mark.parametrize("bad", ["", "EU", "EURO", "E1R", "€", "ÄÖÜ", "U S"])
def test_currency_invalid(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        normalize_currency(bad)
    with pytest.raises(pydantic.ValidationError):
        _invoice(currency=bad)


def test_recurring_fee_requires_currency() -> None:
    with pytest.raises(pydantic.ValidationError, match="currency is required"):
        Tariff(connector="x", id="t", name="T", recurring_fee=Decimal("1"))
    assert Tariff(connector="x", id="t", name="T", currency="EUR").recurring_fee is None


def test_cost_requires_currency() -> None:
    with pytest.raises(pydantic.ValidationError, match="currency is required"):
        _usage(cost=Decimal("0.01"))
    assert _usage(cost=Decimal("0.01"), currency="eur").currency == "EUR"
    assert _usage(currency="EUR").cost is None


@pytest.mark.parametrize("field", ["included_data_bytes", "included_sms", "included_voice_seconds"])
def test_tariff_included_volumes_non_negative(field: str) -> None:
    assert getattr(Tariff(connector="x", id="t", name="T", **{field: 0}), field) == 0
    with pytest.raises(pydantic.ValidationError):
        Tariff(connector="x", id="t", name="T", **{field: -1})


# --- usage ----------------------------------------------------------------------------------

EXPECTED_UNIT = {
    Bearer.DATA: Unit.BYTES,
    Bearer.SMS: Unit.MESSAGES,
    Bearer.VOICE: Unit.SECONDS,
    Bearer.CSD: Unit.SECONDS,
}


@pytest.mark.parametrize(("bearer", "unit"), list(EXPECTED_UNIT.items()))
def test_unit_derived_from_bearer(bearer: Bearer, unit: Unit) -> None:
    assert _usage(bearer=bearer).unit is unit
    assert _usage(bearer=bearer.value).unit is unit
    assert _usage(bearer=bearer, unit=None).unit is unit
    assert _usage(bearer=bearer, unit=unit.value).unit is unit
    payload = f'{{"connector": "x", "bearer": "{bearer}", "quantity": 1, "granularity": "day"}}'
    assert UsageRecord.model_validate_json(payload).unit is unit


def test_unit_may_be_omitted_in_a_typed_call() -> None:
    # Checked by mypy too: `unit` must be optional in the generated __init__ signature.
    record = UsageRecord(connector="x", bearer=Bearer.VOICE, quantity=60, granularity="day")
    assert record.unit is Unit.SECONDS


@pytest.mark.parametrize(
    ("bearer", "unit"),
    [(b, u) for b in Bearer for u in Unit if u is not EXPECTED_UNIT[b]],
)
def test_unit_inconsistent_with_bearer_rejected(bearer: Bearer, unit: Unit) -> None:
    with pytest.raises(pydantic.ValidationError, match="does not fit bearer"):
        _usage(bearer=bearer, unit=unit)


def test_invalid_bearer_reports_only_bearer() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        _usage(bearer="fax")
    assert [error["loc"] for error in info.value.errors()] == [("bearer",)]


@pytest.mark.parametrize(("raw", "expected"), [(0, 0), (2.0, 2), ("3", 3), (10**15, 10**15)])
def test_quantity_accepts_integral_values(raw: Any, expected: int) -> None:
    quantity = _usage(quantity=raw).quantity
    assert quantity == expected
    assert type(quantity) is int


@pytest.mark.parametrize("bad", [1.5, -1, "1.5", "ten", None, float("nan")])
def test_quantity_rejects_fractions_and_negatives(bad: Any) -> None:
    with pytest.raises(pydantic.ValidationError):
        _usage(quantity=bad)


@pytest.mark.parametrize(
    ("start", "end"),
    [(T0, T0), (T1, T0), (T0 + timedelta(microseconds=1), T0)],
)
def test_usage_start_must_precede_end(start: datetime, end: datetime) -> None:
    with pytest.raises(pydantic.ValidationError, match="start must be before end"):
        _usage(start=start, end=end)


@pytest.mark.parametrize(("start", "end"), [(T0, T1), (T0, None), (None, T1), (None, None)])
def test_usage_open_or_ordered_periods_accepted(
    start: datetime | None, end: datetime | None
) -> None:
    record = _usage(start=start, end=end)
    assert (record.start, record.end) == (start, end)


def test_usage_period_compared_across_offsets() -> None:
    # 01:00+02:00 is 23:00 UTC of the day before, so it precedes 00:00 UTC.
    start = datetime(2024, 5, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    assert _usage(start=start, end=T0).start == datetime(2024, 4, 30, 23, tzinfo=UTC)


# --- invoices -------------------------------------------------------------------------------


def test_invoice_period_end_before_start_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="period_end"):
        _invoice(period_start=date(2024, 4, 30), period_end=date(2024, 4, 1))


def test_invoice_single_day_period_accepted() -> None:
    invoice = _invoice(period_start=date(2024, 4, 1), period_end=date(2024, 4, 1))
    assert invoice.period_start == invoice.period_end


# --- other field rules ----------------------------------------------------------------------


def test_tag_key_must_not_be_empty() -> None:
    with pytest.raises(pydantic.ValidationError):
        Tag(key="")
    assert Tag(key="label").value is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        (" 100.64.0.7 ", "100.64.0.7"),
        ("2001:DB8:0:0::0001", "2001:db8::1"),
        ("::1", "::1"),
    ],
)
def test_ip_address_canonical_text(raw: str, expected: str) -> None:
    assert _subscription(ip_address=raw).ip_address == expected


def test_ip_address_text_matches_the_ipaddress_module() -> None:
    import ipaddress

    for text in [
        "0.0.0.0",
        "9.99.199.255",
        "10.20.250.249",
        "255.255.255.255",
        "1.2.3.04",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "1..3.4",
        "\u0661.2.3.4",
        "1.2.3.4\n",
        "00.1.2.3",
    ]:
        try:
            expected: str | None = str(ipaddress.ip_address(text.strip()))
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(pydantic.ValidationError, match="IPv4 or IPv6"):
                _subscription(ip_address=text)
        else:
            assert _subscription(ip_address=text).ip_address == expected


@pytest.mark.parametrize("bad", ["", "10.0.0", "10.0.0.256", "010.0.0.1", "host.example", "::g"])
def test_ip_address_invalid(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="IPv4 or IPv6") as info:
        _subscription(ip_address=bad)
    if bad:
        assert bad not in str(info.value)


def test_status_change_state_literal() -> None:
    with pytest.raises(pydantic.ValidationError):
        StatusChange(connector="x", iccid=ICCID, requested="active", state="failed")


def test_connector_info_capabilities_from_strings() -> None:
    info = ConnectorInfo(name="emnify", title="emnify", capabilities={"usage", "subscriptions"})
    assert info.capabilities == frozenset({Capability.USAGE, Capability.SUBSCRIPTIONS})
    assert all(isinstance(cap, Capability) for cap in info.capabilities)
    assert hash(info) == hash(info.model_copy())
    with pytest.raises(pydantic.ValidationError):
        ConnectorInfo(name="x", title="X", capabilities={"teleport"})


def test_connector_info_json_lists_capabilities_in_declaration_order() -> None:
    info = ConnectorInfo(
        name="x", title="X", capabilities=frozenset({Capability.UPDATE_TAGS, Capability.USAGE})
    )
    assert info.model_dump(mode="json")["capabilities"] == ["usage", "update_tags"]
    assert info.model_dump()["capabilities"] == frozenset({"usage", "update_tags"})


def test_extra_defaults_are_not_shared() -> None:
    first = _usage()
    second = _usage()
    assert first.extra == {}
    assert second.extra == {}
    assert first.extra is not second.extra


@pytest.mark.parametrize("status", list(SimStatus))
def test_status_accepted_as_text(status: SimStatus) -> None:
    sub = _subscription(status=status.value, status_raw="Vendor State")
    assert sub.status is status
    assert sub.status_raw == "Vendor State"


# --- enums ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (
            Capability,
            [
                "subscriptions",
                "incremental",
                "change_status",
                "tariffs",
                "usage",
                "invoices",
                "audit_events",
                "tags",
                "update_tags",
            ],
        ),
        (
            SimStatus,
            [
                "inventory",
                "test",
                "ready",
                "active",
                "suspended",
                "deactivated",
                "retired",
                "unknown",
            ],
        ),
        (Bearer, ["data", "sms", "voice", "csd"]),
        (Direction, ["mo", "mt"]),
        (Unit, ["bytes", "messages", "seconds"]),
        (Granularity, ["session", "hour", "day", "month", "cycle"]),
        (AuditKind, ["status_change", "tariff_change", "field_change", "session", "other"]),
    ],
)
def test_enum_values_match_contract(enum: type[StrEnum], values: list[str]) -> None:
    assert [member.value for member in enum] == values
    for member, value in zip(enum, values, strict=True):
        assert member == value
        assert str(member) == value
        assert f"{member}" == value
        assert enum(value) is member
        assert member.name == value.upper()
        assert isinstance(member, str)


# --- whole models ---------------------------------------------------------------------------


def _subscription(**overrides: Any) -> Subscription:
    fields: dict[str, Any] = {
        "connector": "emnify",
        "id": "1001",
        "iccid": ICCID,
        "status": SimStatus.ACTIVE,
        "status_raw": "Activated",
    }
    fields.update(overrides)
    return Subscription(**fields)


def _usage(**overrides: Any) -> UsageRecord:
    fields: dict[str, Any] = {
        "connector": "emnify",
        "bearer": Bearer.DATA,
        "quantity": 1,
        "granularity": Granularity.DAY,
    }
    fields.update(overrides)
    return UsageRecord(**fields)


def _invoice(**overrides: Any) -> Invoice:
    fields: dict[str, Any] = {
        "connector": "emnify",
        "id": "INV-1",
        "period_start": date(2024, 4, 1),
        "period_end": date(2024, 4, 30),
        "currency": "EUR",
        "total": Decimal("0"),
    }
    fields.update(overrides)
    return Invoice(**fields)


NESTED_EXTRA: dict[str, Any] = {
    "raw_status": {"id": 1, "description": "Activated"},
    "flags": [True, False, None],
    "ratio": 0.25,
    "big": 12345678901234567890,
    "text": "ünïcödé",
    "nested": {"list": [1, "two", {"three": 3.5}], "empty": {}},
}


def _full_instances() -> list[CdpModel]:
    line = InvoiceLine(
        description="Data EU",
        amount=Decimal("12.3400"),
        quantity=Decimal("1.5"),
        unit_price=Decimal("8.226666666666666666666666667"),
        iccid=ICCID,
        category="data",
    )
    return [
        Tag(key="building", value="B7"),
        _subscription(
            account="acme",
            imsi="262011234567890",
            msisdn="491701234567",
            imei="356000000000000",
            eid=_digits(32),
            tariff="EU Flex",
            created_at=datetime(2023, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            activated_at=datetime(2023, 1, 3, tzinfo=timezone(timedelta(hours=-7))),
            updated_at=datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
            ip_address="2001:db8::1",
            tags=(Tag(key="building", value="B7"), Tag(key="spare")),
            extra=NESTED_EXTRA,
        ),
        ActivationMode(
            connector="emnify",
            name="Suspended",
            status=SimStatus.SUSPENDED,
            description="Blocked, can be reactivated",
            billable=False,
            auto_activates=False,
            settable=True,
            next=("Activated", "Deleted"),
            extra={"id": 2},
        ),
        StatusChange(
            connector="emnify",
            iccid=ICCID_2,
            requested=SimStatus.SUSPENDED,
            state="pending",
            request_id="req-42",
            effective_at=T1,
            extra={"queue": [1, 2]},
        ),
        Tariff(
            connector="emnify",
            id="t-1",
            name="EU Flex",
            description="Pay as you go",
            currency="EUR",
            recurring_fee=Decimal("0.90"),
            included_data_bytes=500 * 1024**2,
            included_sms=10,
            included_voice_seconds=0,
            extra={"zones": ["EU", "UK"]},
        ),
        _usage(
            iccid=ICCID,
            bearer=Bearer.SMS,
            direction=Direction.MO,
            quantity=17,
            unit=Unit.MESSAGES,
            start=T0,
            end=T1,
            granularity=Granularity.DAY,
            final=True,
            cost=Decimal("0.0850"),
            currency="EUR",
            zone="EU",
            extra={"operator": {"mcc": "262", "mnc": "01"}},
        ),
        _invoice(
            account="acme",
            issued_at=date(2024, 5, 2),
            due_at=date(2024, 5, 16),
            total=Decimal("12.34"),
            status="open",
            lines=(line, InvoiceLine(description="Fee", amount=Decimal("-1E+1"))),
            extra={"pdf": None},
        ),
        line,
        AuditEvent(
            connector="emnify",
            id="ev-1",
            iccid=ICCID,
            occurred_at=datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=2))),
            kind=AuditKind.STATUS_CHANGE,
            field="status",
            old_value="Issued",
            new_value="Activated",
            actor="api-key-7",
            description="Activated by API",
            extra={"ip": "192.0.2.1"},
        ),
        ConnectorInfo(
            name="emnify",
            title="emnify",
            capabilities=frozenset(Capability),
            distribution="cdp-iot-sdk",
            version="0.1.0",
        ),
    ]


FULL = _full_instances()
MODEL_TYPES = [
    Tag,
    Subscription,
    ActivationMode,
    StatusChange,
    Tariff,
    UsageRecord,
    Invoice,
    InvoiceLine,
    AuditEvent,
    ConnectorInfo,
]


def _ids(instances: list[CdpModel]) -> list[str]:
    return [type(instance).__name__ for instance in instances]


def test_every_model_has_a_full_instance() -> None:
    assert sorted(_ids(FULL)) == sorted(model.__name__ for model in MODEL_TYPES)


@pytest.mark.parametrize("instance", FULL, ids=_ids(FULL))
def test_full_instance_sets_every_field(instance: CdpModel) -> None:
    assert instance.model_fields_set == set(type(instance).model_fields)
    for name in type(instance).model_fields:
        value = getattr(instance, name)
        assert value is not None, name
        if name != "auto_activates" and name != "final" and name != "billable":
            assert value not in ((), {}, ""), name


@pytest.mark.parametrize("instance", FULL, ids=_ids(FULL))
def test_json_round_trip_is_lossless(instance: CdpModel) -> None:
    model = type(instance)
    text = instance.model_dump_json()
    again = model.model_validate_json(text)
    assert again == instance
    assert again.model_dump_json() == text
    assert model.model_validate(instance.model_dump(mode="json")) == instance
    assert model.model_validate(instance.model_dump()) == instance


def test_json_representation() -> None:
    usage = next(i for i in FULL if isinstance(i, UsageRecord))
    data = usage.model_dump(mode="json")
    assert data["cost"] == "0.0850"
    assert data["start"] == "2024-05-01T00:00:00Z"
    assert data["bearer"] == "sms"
    assert data["unit"] == "messages"
    sub = next(i for i in FULL if isinstance(i, Subscription))
    assert sub.model_dump(mode="json")["extra"] == NESTED_EXTRA
    assert sub.model_dump(mode="json")["tags"] == [
        {"key": "building", "value": "B7"},
        {"key": "spare", "value": None},
    ]
    round_tripped = Subscription.model_validate_json(sub.model_dump_json())
    assert round_tripped.extra["big"] == 12345678901234567890
    assert isinstance(round_tripped.tags, tuple)
    assert round_tripped.activated_at == datetime(2023, 1, 3, 7, tzinfo=UTC)
    invoice = next(i for i in FULL if isinstance(i, Invoice))
    again = Invoice.model_validate_json(invoice.model_dump_json())
    assert [str(line.amount) for line in again.lines] == ["12.3400", "-1E+1"]


@pytest.mark.parametrize("instance", FULL, ids=_ids(FULL))
def test_models_are_frozen(instance: CdpModel) -> None:
    name = next(iter(type(instance).model_fields))
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        setattr(instance, name, getattr(instance, name))


@pytest.mark.parametrize("instance", FULL, ids=_ids(FULL))
def test_unknown_fields_rejected(instance: CdpModel) -> None:
    data = instance.model_dump()
    data["colour"] = "blue"
    with pytest.raises(pydantic.ValidationError, match="colour") as info:
        type(instance).model_validate(data)
    assert info.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("model", MODEL_TYPES, ids=lambda m: m.__name__)
def test_model_config(model: type[CdpModel]) -> None:
    assert issubclass(model, CdpModel)
    assert model.model_config["frozen"] is True
    assert model.model_config["extra"] == "forbid"
    assert model.__doc__
    has_connector = "connector" in model.model_fields
    has_extra = "extra" in model.model_fields
    nested = model in (Tag, InvoiceLine, ConnectorInfo)
    assert has_connector is not nested
    assert has_extra is not nested


@pytest.mark.parametrize("model", MODEL_TYPES, ids=lambda m: m.__name__)
def test_required_fields_missing(model: type[CdpModel]) -> None:
    with pytest.raises(pydantic.ValidationError):
        model()


def test_public_names() -> None:
    assert sorted(models.__all__) == sorted(set(models.__all__))
    for name in models.__all__:
        assert getattr(models, name) is not None
    assert not [name for name in models.__all__ if name.startswith("_")]
