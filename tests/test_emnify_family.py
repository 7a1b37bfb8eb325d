"""The schema family emnify and 1NCE share (``cdp_sdk.connectors._emnify_family``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from cdp_sdk import (
    AuthenticationError,
    Bearer,
    ConflictError,
    Direction,
    Granularity,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from cdp_sdk.connectors import _emnify_family as family
from cdp_sdk.http import ErrorTable, VendorError

NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
TABLE = ErrorTable().extend(*family.FAMILY_ERROR_RULES, parse_body=family.parse_error)


def classify(status: int, body: object) -> Exception | None:
    request = httpx.Request("GET", "https://cdn.emnify.net/api/v1/sim")
    return TABLE.classify(httpx.Response(status, json=body, request=request), connector="emnify")


# -- errors ------------------------------------------------------------------------------


def test_parse_error_reads_the_token_and_the_message() -> None:
    body = {"error_code": 1401, "error_token": "InvalidReference", "message": "Not found."}
    assert family.parse_error(body) == VendorError("InvalidReference", "Not found.")


def test_parse_error_appends_nested_validation_messages() -> None:
    body = {
        "error_code": 1400,
        "error_token": "InputValidationFailed",
        "message": "Update endpoint validation error",
        "errors": [{"error_code": 1401, "error_token": "InvalidReference", "message": "No SP."}],
    }
    parsed = family.parse_error(body)
    assert parsed.code == "InputValidationFailed"
    assert parsed.message == "Update endpoint validation error; No SP."


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"statusCode": 400, "errorCode": "BadCredentials", "message": "No user."},
            "BadCredentials",
            "No user.",
        ),
        (
            {"message": "token contains an invalid number of segments"},
            None,
            "token contains an invalid number of segments",
        ),
        ({"error_code": 1000}, "1000", None),
        ("not an object", None, None),
        (None, None, None),
    ],
)
def test_parse_error_reads_every_family_shape(
    body: object, code: str | None, message: str | None
) -> None:
    assert family.parse_error(body) == VendorError(code, message)


@pytest.mark.parametrize(
    ("status", "token", "error"),
    [
        (401, "TokenExpired", AuthenticationError),
        (403, "Forbidden", PermissionDeniedError),
        (404, "InvalidReference", NotFoundError),
        (422, "InvalidReference", InvalidRequestError),
        (409, "Duplicated", ConflictError),
        (400, "NotAllowed", ConflictError),
        (422, "InputValidationFailed", InvalidRequestError),
        (429, "TooManyRequests", RateLimitedError),
        (404, "NotFound", NotFoundError),
    ],
)
def test_family_tokens_map_to_error_classes(
    status: int, token: str, error: type[Exception]
) -> None:
    found = classify(status, {"error_code": 1000, "error_token": token, "message": "m"})
    assert type(found) is error
    assert found.vendor_code == token  # type: ignore[union-attr]


# -- identifiers ---------------------------------------------------------------------------


def test_pick_iccid_appends_the_check_digit_to_iccid() -> None:
    # Recorded emnify traffic: SIM 250 has iccid 8988303000000000129 and no
    # iccid_with_luhn; an endpoint's SIM pairs 8988303000006738593 with ...85937.
    assert family.pick_iccid({"iccid": "8988303000000000129"}) == "89883030000000001294"
    record = {"iccid": "8988303000006738593", "iccid_with_luhn": "89883030000067385937"}
    assert family.pick_iccid(record) == "89883030000067385937"
    assert family.pick_iccid({"iccid": " 8988303000006738593 "}) == "89883030000067385937"


def test_pick_iccid_computes_rather_than_trusts_a_wrong_check_digit() -> None:
    # 1NCE's spec example pairs 8988303000123456789 with 89883030001234567890, whose last
    # digit is not the Luhn digit (4): the digit computed from iccid wins.
    record = {"iccid": "8988303000123456789", "iccid_with_luhn": "89883030001234567890"}
    assert family.pick_iccid(record) == "89883030001234567894"


def test_pick_iccid_falls_back_to_a_verified_iccid_with_luhn() -> None:
    assert family.pick_iccid({"iccid_with_luhn": "89883030000067385937"}) == (
        "89883030000067385937"
    )
    with pytest.raises(ValueError, match="Luhn"):
        family.pick_iccid({"iccid": None, "iccid_with_luhn": "89883030000067385930"})
    with pytest.raises(KeyError):
        family.pick_iccid({})
    with pytest.raises(ValueError, match="digits"):
        family.pick_iccid({"iccid": "8988-303000006738593"})
    with pytest.raises(TypeError):
        family.pick_iccid({"iccid": 8988303000006738593})


def test_iccid_candidates_try_the_value_without_its_check_digit_first() -> None:
    assert family.iccid_candidates("89883030000123456789") == (
        "8988303000012345678",
        "89883030000123456789",
    )
    assert family.iccid_candidates("8988303000000000129") == ("8988303000000000129",)


# -- dates and periods ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-11-18T08:25:53.000+0000", datetime(2021, 11, 18, 8, 25, 53, tzinfo=UTC)),
        ("2022-03-27T23:20:49.298Z", datetime(2022, 3, 27, 23, 20, 49, 298000, tzinfo=UTC)),
        ("2014-10-20 00:00:00", datetime(2014, 10, 20, tzinfo=UTC)),
        ("8/1/2019 8:47:00 AM", datetime(2019, 8, 1, 8, 47, tzinfo=UTC)),
        ("8/1/2019 8:47:00 PM", datetime(2019, 8, 1, 20, 47, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_time_reads_every_served_format(text: str | None, expected: datetime | None) -> None:
    assert family.parse_time(text) == expected


def test_day_span_covers_the_range_with_whole_days() -> None:
    start = datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert family.day_span(start, datetime(2024, 5, 3, tzinfo=UTC), now=NOW) == (
        date(2024, 5, 1),
        date(2024, 5, 3),
    )
    assert family.day_span(start, datetime(2024, 5, 3, 1, tzinfo=UTC), now=NOW)[1] == date(
        2024, 5, 4
    )


def test_day_span_defaults_to_the_last_30_days_up_to_today() -> None:
    assert family.day_span(None, None, now=NOW) == (date(2024, 5, 17), date(2024, 6, 16))


def test_date_windows_cut_a_range() -> None:
    assert family.date_windows(date(2024, 1, 1), date(2024, 1, 6), 2) == [
        (date(2024, 1, 1), date(2024, 1, 3)),
        (date(2024, 1, 3), date(2024, 1, 5)),
        (date(2024, 1, 5), date(2024, 1, 6)),
    ]
    assert family.date_windows(date(2024, 1, 1), date(2024, 1, 1), 2) == []


def test_month_period_runs_to_the_first_of_the_next_month() -> None:
    period = family.month_period("2024-12-01", now=NOW, final=False)
    assert (period.start, period.end) == (
        datetime(2024, 12, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert period.granularity is Granularity.MONTH
    assert not period.final


# -- usage records ---------------------------------------------------------------------------


@pytest.mark.parametrize("directions", [family.EMNIFY_DIRECTIONS, family.ONENCE_DIRECTIONS])
def test_stats_written_by_an_emulator_read_back_exactly(directions: family.Directions) -> None:
    record = {
        "date": "2024-05-01",
        "data": family.stats_block(
            Bearer.DATA, 2.25, 10.5, directions=directions, cost=Decimal("0.3"), as_text=True
        ),
        "sms": family.stats_block(
            Bearer.SMS, 3, 0, directions=directions, cost=Decimal("0.18"), as_text=False
        ),
    }
    period = family.day_period(record["date"], now=NOW)
    records = family.usage_records(
        record,
        connector="emnify",
        iccid=None,
        period=period,
        keep_cost=True,
        directions=directions,
    )
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, Direction.MO, 2_250_000),
        (Bearer.DATA, Direction.MT, 10_500_000),
        (Bearer.SMS, Direction.MO, 3),
    ]
    assert records[0].extra == {"cost": "0.300000", "currency": "EUR"}
    assert all(r.final and r.granularity is Granularity.DAY for r in records)


def test_the_two_platforms_read_sms_directions_apart() -> None:
    block = {"volume": 3, "volume_tx": 1, "volume_rx": 2, "traffic_type": {"unit": "SMS"}}
    period = family.day_period("2024-05-01", now=NOW)

    def read(directions: family.Directions) -> list[tuple[Direction | None, int]]:
        records = family.usage_records(
            {"sms": block},
            connector="x",
            iccid=None,
            period=period,
            keep_cost=False,
            directions=directions,
        )
        return [(record.direction, record.quantity) for record in records]

    # emnify: tx is "transmitted by the device"; 1NCE SmsUsage: rx is the MO-SMS count.
    assert read(family.EMNIFY_DIRECTIONS) == [(Direction.MO, 1), (Direction.MT, 2)]
    assert read(family.ONENCE_DIRECTIONS) == [(Direction.MO, 2), (Direction.MT, 1)]
    data = {"data": {**block, "traffic_type": {"unit": "MB"}}}
    for directions in (family.EMNIFY_DIRECTIONS, family.ONENCE_DIRECTIONS):
        records = family.usage_records(
            data, connector="x", iccid=None, period=period, keep_cost=False, directions=directions
        )
        assert [(r.direction, r.quantity) for r in records] == [
            (Direction.MO, 1_000_000),
            (Direction.MT, 2_000_000),
        ]


def test_page_of_serves_the_last_page_for_a_page_out_of_range() -> None:
    items = list(range(5))
    assert family.page_of(items, 9, 2) == ([4], 3, 3)
    assert family.page_of(items, "x", 2) == ([0, 1], 1, 3)
    assert family.page_of([], 1, 2) == ([], 1, 1)


def test_page_headers_in_both_casings() -> None:
    headers = family.page_headers(page=1, size=2, total=3, pages=2)
    assert headers["X-Total-Pages"] == "2"
    assert family.page_headers(page=1, size=2, total=3, pages=2, lower=True)["x-total-count"] == "3"


def test_page_count_and_number() -> None:
    assert (family.page_count(0, 10), family.page_count(10, 10), family.page_count(11, 10)) == (
        1,
        1,
        2,
    )
    assert (family.page_number(0, 3), family.page_number("2", 3), family.page_number(9, 3)) == (
        1,
        2,
        3,
    )
    assert family.page_number(None, 3) == 1
