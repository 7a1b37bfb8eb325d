"""The pure mapping helpers shared by connectors."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from cdp_sdk import SimStatus, Tag, mapping
from cdp_sdk.mapping import (
    BYTES_PER_MIB,
    from_epoch,
    labels_to_tags,
    lookup_status,
    megabytes_to_bytes,
    parse_date,
    parse_datetime,
    tag,
    to_decimal,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-06-29 00:21:33.339+0000", datetime(2016, 6, 29, 0, 21, 33, 339000, tzinfo=UTC)),
        ("2024-05-01T08:00:00Z", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T04:00:00-04:00", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00.000+0200", datetime(2024, 5, 1, 8, tzinfo=UTC)),
    ],
)
def test_parse_datetime_reads_vendor_formats_as_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed is not None
    assert parsed.tzinfo is UTC


def _reference_parse(text: str, assume_utc: bool) -> datetime:
    """The reading every vendor string must keep: offsets "+HHMM" rewritten "+HH:MM"
    before ``fromisoformat``, no offset refused unless UTC is assumed."""
    parsed = datetime.fromisoformat(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.strip()))
    if parsed.tzinfo is None:
        if not assume_utc:
            raise ValueError("no offset")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2016-06-29 00:21:33.339+0000",
        "2016-06-29 00:21:33.339+0530",
        "2016-06-29T00:21:33-0800",
        "2024-05-01T08:00:00Z",
        "2024-05-01T08:00:00.5Z",
        "2024-05-01T08:00:00.123456+00:00",
        "2024-05-01T08:00Z",
        "20240501T080000Z",
        " 2024-05-01T08:00:00+0200 ",
        "\t2024-05-01T08:00:00Z\n",
        "2024-05-01T08:00:00",
        "2024-05-01",
        "2024-0501",
        "2024-05-01T08:00:00+02",
        "2024-05-01T08:00:00+2:00",
        "2024-05-01T24:00:00Z",
        "yesterday",
    ],
)
@pytest.mark.parametrize("assume_utc", [False, True])
def test_parse_datetime_reads_each_string_as_the_reference_does(
    text: str, assume_utc: bool
) -> None:
    try:
        expected: Any = _reference_parse(text, assume_utc)
    except ValueError:
        expected = ValueError
    if expected is ValueError:
        with pytest.raises(ValueError, match=r"isoformat|offset|must be in"):
            parse_datetime(text, assume_utc=assume_utc)
    else:
        parsed = parse_datetime(text, assume_utc=assume_utc)
        assert parsed == expected
        assert parsed is not None
        assert parsed.tzinfo is UTC


def test_parse_datetime_never_assumes_local_time() -> None:
    with pytest.raises(ValueError, match="offset"):
        parse_datetime("2024-05-01 08:00:00")
    assert parse_datetime("2024-05-01 08:00:00", assume_utc=True) == datetime(
        2024, 5, 1, 8, tzinfo=UTC
    )


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01T00:00:00Z"])
def test_parse_datetime_refuses_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match=r"Invalid isoformat|month must be"):
        parse_datetime(bad)


def test_empty_values_are_none() -> None:
    for helper in (parse_datetime, parse_date, from_epoch, to_decimal):
        assert helper(None) is None
        assert helper("") is None


def test_parse_date() -> None:
    assert parse_date("2024-04-30") == date(2024, 4, 30)
    assert parse_date("2024-04-30T10:00:00Z") == date(2024, 4, 30)
    with pytest.raises(TypeError):
        parse_date(20240430)


def test_from_epoch_seconds_and_millis() -> None:
    assert from_epoch(1714550400) == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert from_epoch("1714550400123", unit="ms") == datetime(
        2024, 5, 1, 8, 0, 0, 123000, tzinfo=UTC
    )
    with pytest.raises(TypeError):
        from_epoch(True)


def test_to_decimal_is_exact() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("12.50") == Decimal("12.50")
    assert to_decimal(3) == Decimal(3)
    for bad in ("NaN", "inf", "twelve"):
        with pytest.raises(ValueError, match="not a"):
            to_decimal(bad)


def test_megabytes_to_bytes() -> None:
    assert megabytes_to_bytes(1.5) == 1_500_000
    assert megabytes_to_bytes("0.000001") == 1
    assert megabytes_to_bytes("1", bytes_per_mb=BYTES_PER_MIB) == 1_048_576
    assert megabytes_to_bytes(0.0000005) == 0  # half to even
    with pytest.raises(ValueError, match="negative"):
        megabytes_to_bytes(-1)


@pytest.mark.parametrize(
    "value", [0, 1, 100, 100.0, 2.0, 2**53 - 1, float(2**53 - 1), 2**53, 2**60, 1e16, 1e23]
)
def test_megabytes_to_bytes_of_whole_numbers_is_the_exact_decimal_reading(value: float) -> None:
    # Whole numbers skip the decimal arithmetic below 2**53; at and above it, a float's
    # decimal text ("1e+23") is not its binary value, and the decimal reading is kept.
    expected = int(Decimal(str(value)) * 1_000_000)
    assert megabytes_to_bytes(value) == expected
    assert megabytes_to_bytes(value, bytes_per_mb=BYTES_PER_MIB) == int(
        Decimal(str(value)) * BYTES_PER_MIB
    )


@pytest.mark.parametrize("bad", [True, False, -1, -1.0, float("nan"), float("inf"), None, ""])
def test_megabytes_to_bytes_refuses_what_is_not_a_volume(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        megabytes_to_bytes(bad)


def test_lookup_status_keeps_unknown_values() -> None:
    table = {"ACTIVATED": SimStatus.ACTIVE, 1: SimStatus.ACTIVE}
    assert lookup_status(table, "ACTIVATED") == (SimStatus.ACTIVE, "ACTIVATED")
    assert lookup_status(table, 1) == (SimStatus.ACTIVE, "1")
    assert lookup_status(table, "HIBERNATING") == (SimStatus.UNKNOWN, "HIBERNATING")
    for missing in (None, ""):
        with pytest.raises(ValueError, match="missing status"):
            lookup_status(table, missing)


def test_labels_to_tags() -> None:
    assert labels_to_tags("a, b,,a") == (Tag(key="a"), Tag(key="b"))
    assert labels_to_tags(None) == ()
    assert labels_to_tags("x;y", separator=";") == (Tag(key="x"), Tag(key="y"))


def test_tag_is_validated_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "_TAGS", {})
    first = tag("fleet", "trucks")
    assert first == Tag(key="fleet", value="trucks")
    assert tag("fleet", "trucks") is first
    assert tag("fleet") == Tag(key="fleet")
    assert tag("fleet") is not first
    assert labels_to_tags("fleet") == (tag("fleet"),)
    assert labels_to_tags("fleet")[0] is tag("fleet")
    with pytest.raises(pydantic.ValidationError):
        tag("")
    with pytest.raises(pydantic.ValidationError):
        tag("fleet", {"not": "text"})  # type: ignore[arg-type]
    assert ("", None) not in mapping._TAGS


def test_tag_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "_TAGS", {})
    monkeypatch.setattr(mapping, "_MAX_TAGS", 3)
    made = [tag(f"k{n}") for n in range(10)]
    assert len(mapping._TAGS) <= 3
    assert [t.key for t in made] == [f"k{n}" for n in range(10)]
    assert tag("k9") is made[9]


def test_activation_modes_from_a_lifecycle_table() -> None:
    from cdp_sdk.mapping import activation_modes

    modes = activation_modes(
        "acme",
        {"ON": SimStatus.ACTIVE, "OFF": SimStatus.SUSPENDED},
        {
            "ON": ("In service", True, False, True, ("OFF",)),
            "OFF": ("Blocked", None, False, True, ("ON",)),
        },
    )
    assert [(m.name, m.status, m.billable, m.next) for m in modes] == [
        ("ON", SimStatus.ACTIVE, True, ("OFF",)),
        ("OFF", SimStatus.SUSPENDED, None, ("ON",)),
    ]
    assert all(m.connector == "acme" and m.settable for m in modes)
