"""The table that turns failed HTTP responses into cdp-sdk errors."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cdp_sdk.errors import (
    AuthenticationError,
    CdpError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http import (
    DEFAULT_ERROR_RULES,
    ErrorRule,
    ErrorTable,
    RetryAfterHeader,
    VendorError,
    parse_error_body,
)

BASE = "https://api.example.test"
NOW = 1_714_564_800.0  # 2024-05-01T12:00:00Z

_UNSET: Any = object()


def response(
    status: int,
    body: Any = _UNSET,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    method: str = "GET",
    path: str = "/v1/sims",
) -> httpx.Response:
    """A response to ``method path``, with a JSON ``body`` or raw ``content``."""
    request = httpx.Request(method, BASE + path)
    if body is not _UNSET:
        return httpx.Response(status, json=body, headers=headers, request=request)
    return httpx.Response(status, content=content or b"", headers=headers, request=request)


def classify(table: ErrorTable, resp: httpx.Response) -> CdpError | None:
    return table.classify(resp, connector="acme")


# --- default rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (405, InvalidRequestError),
        (408, TransientError),
        (409, ConflictError),
        (410, InvalidRequestError),
        (422, InvalidRequestError),
        (429, RateLimitedError),
        (499, InvalidRequestError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (504, TransientError),
        (599, TransientError),
        (301, UnexpectedResponseError),
        (304, UnexpectedResponseError),
        (600, UnexpectedResponseError),  # no rule at all: the payload cannot be mapped
    ],
)
def test_default_status_rules(status: int, error: type[CdpError]) -> None:
    result = classify(ErrorTable(), response(status, {"message": "boom"}))
    assert type(result) is error
    assert result.status_code == status


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_success_is_not_an_error(status: int) -> None:
    assert classify(ErrorTable(), response(status, {"errorCode": "10000001"})) is None


def test_error_fields_are_set() -> None:
    result = classify(
        ErrorTable(),
        response(
            404,
            {"errorCode": "20000001", "errorMessage": "Resource not found"},
            headers={"X-Request-Id": "req-123"},
            method="PUT",
            path="/rws/api/v1/devices/x",
        ),
    )

    assert isinstance(result, NotFoundError)
    assert result.connector == "acme"
    assert result.status_code == 404
    assert result.vendor_code == "20000001"
    assert result.request_id == "req-123"
    assert result.message == "PUT /rws/api/v1/devices/x failed: Resource not found"
    assert str(result) == (
        "PUT /rws/api/v1/devices/x failed: Resource not found "
        "(connector=acme, status=404, vendor_code=20000001, request_id=req-123)"
    )


def test_identifiers_in_the_path_are_redacted_from_the_message() -> None:
    iccid = "8988216716970004975"
    result = classify(ErrorTable(), response(404, {}, path=f"/rws/api/v1/devices/{iccid}"))
    assert result is not None
    assert iccid not in str(result)
    assert "<id:" in result.message


# --- vendor rules ----------------------------------------------------------------------

JASPER = ErrorTable().extend(
    ErrorRule(AuthenticationError, vendor_code="10000001"),
    ErrorRule(RateLimitedError, vendor_code="40000029"),
    ErrorRule(NotFoundError, vendor_code="20000001"),
    ErrorRule(ConflictError, status=400, vendor_code="1000512"),
)


@pytest.mark.parametrize(
    ("status", "body", "error", "vendor_code"),
    [
        (
            400,
            {"errorMessage": "Invalid credentials", "errorCode": "10000001"},
            AuthenticationError,
            "10000001",
        ),
        (
            401,
            {"errorMessage": "IP not allowed", "errorCode": "10000001"},
            AuthenticationError,
            "10000001",
        ),
        (
            400,
            {"errorMessage": "Rate limit exceeded", "errorCode": "40000029"},
            RateLimitedError,
            "40000029",
        ),
        (
            400,
            {"errorMessage": "Invalid ICCID", "errorCode": "20000001"},
            NotFoundError,
            "20000001",
        ),
        # A rule on status AND code needs both.
        (400, {"errorMessage": "Not purged", "errorCode": "1000512"}, ConflictError, "1000512"),
        (500, {"errorMessage": "Not purged", "errorCode": "1000512"}, TransientError, "1000512"),
        # An unknown vendor code falls through to the status rules.
        (
            400,
            {"errorMessage": "ModifiedSince is required.", "errorCode": "10000003"},
            InvalidRequestError,
            "10000003",
        ),
    ],
)
def test_jasper_vendor_codes_take_precedence(
    status: int, body: Any, error: type[CdpError], vendor_code: str
) -> None:
    result = classify(JASPER, response(status, body))
    assert type(result) is error
    assert result.vendor_code == vendor_code
    assert result.status_code == status
    assert body["errorMessage"] in result.message


def test_vendor_rate_limit_code_carries_retry_after() -> None:
    table = JASPER.extend(retry_after_headers=[RetryAfterHeader("X-Wait")])
    result = classify(table, response(400, {"errorCode": "40000029"}, headers={"X-Wait": "4"}))
    assert isinstance(result, RateLimitedError)
    assert result.retry_after == 4.0


@pytest.mark.parametrize(
    ("table", "status", "body", "error", "vendor_code", "message"),
    [
        pytest.param(
            ErrorTable().extend(ErrorRule(NotFoundError, vendor_code="1401")),
            422,
            {
                "error_code": 1401,
                "error_token": "InvalidReference",
                "message": "Endpoint with Id '-1' not found.",
            },
            NotFoundError,
            "1401",
            "Endpoint with Id '-1' not found.",
            id="emnify",
        ),
        pytest.param(
            ErrorTable(),
            422,
            {
                "error_code": 1400,
                "error_token": "InputValidationFailed",
                "message": "Update endpoint validation error",
                "errors": [{"error_code": 1401, "message": "nested"}],
            },
            InvalidRequestError,
            "1400",
            "Update endpoint validation error",
            id="emnify-validation",
        ),
        pytest.param(
            ErrorTable().extend(ErrorRule(AuthenticationError, vendor_code="900901")),
            401,
            {"fault": {"code": "900901", "message": "Invalid Credentials"}},
            AuthenticationError,
            "900901",
            "Invalid Credentials",
            id="verizon-gateway",
        ),
        pytest.param(
            ErrorTable().extend(ErrorRule(AuthenticationError, vendor_code="AUM0001")),
            400,
            {"code": "AUM0001", "message": "Invalid auth key"},
            AuthenticationError,
            "AUM0001",
            "Invalid auth key",
            id="soracom",
        ),
        pytest.param(
            ErrorTable(),
            400,
            {"httpStatus": 400, "errorMessage": {"code": "AUM0002", "message": "Bad key"}},
            InvalidRequestError,
            "AUM0002",
            "Bad key",
            id="soracom-api-call-error",
        ),
        pytest.param(
            ErrorTable(),
            404,
            {"code": 20404, "message": "The requested resource was not found", "status": 404},
            NotFoundError,
            "20404",
            "The requested resource was not found",
            id="twilio",
        ),
        pytest.param(
            ErrorTable(),
            401,
            {"success": False, "error": "Invalid API key"},
            AuthenticationError,
            None,
            "Invalid API key",
            id="hologram",
        ),
    ],
)
def test_vendor_error_bodies(
    table: ErrorTable,
    status: int,
    body: Any,
    error: type[CdpError],
    vendor_code: str | None,
    message: str,
) -> None:
    result = classify(table, response(status, body))
    assert type(result) is error
    assert result.vendor_code == vendor_code
    assert result.message.endswith(f"failed: {message}")


@pytest.mark.parametrize(
    ("status", "content", "error", "reason"),
    [
        (502, b"<html><body>Bad gateway</body></html>", TransientError, "Bad Gateway"),
        (404, b"", NotFoundError, "Not Found"),
        (403, b"Forbidden", PermissionDeniedError, "Forbidden"),
        (400, b"\xff\xfe not utf-8", InvalidRequestError, "Bad Request"),
        (401, b"[1, 2]", AuthenticationError, "Unauthorized"),  # JSON but not an object
    ],
    ids=["html", "empty", "text", "binary", "json-list"],
)
def test_bodies_without_a_vendor_error(
    status: int, content: bytes, error: type[CdpError], reason: str
) -> None:
    result = classify(ErrorTable(), response(status, content=content))
    assert type(result) is error
    assert result.vendor_code is None
    assert result.message == f"GET /v1/sims failed: {reason}"


def test_later_extension_wins_and_the_original_is_unchanged() -> None:
    base = ErrorTable()
    first = base.extend(ErrorRule(NotFoundError, vendor_code="X"))
    second = first.extend(ErrorRule(ConflictError, vendor_code="X"))
    body = {"code": "X"}

    assert type(classify(base, response(400, body))) is InvalidRequestError
    assert type(classify(first, response(400, body))) is NotFoundError
    assert type(classify(second, response(400, body))) is ConflictError
    assert base.rules == DEFAULT_ERROR_RULES
    assert second.rules[:2] == (
        ErrorRule(ConflictError, vendor_code="X"),
        ErrorRule(NotFoundError, vendor_code="X"),
    )


def test_status_rules_can_override_defaults() -> None:
    # A platform that sends 400 for a throttled call and 418 for maintenance.
    table = ErrorTable().extend(
        ErrorRule(RateLimitedError, status=400), ErrorRule(TransientError, status=418)
    )
    assert type(classify(table, response(400, {}))) is RateLimitedError
    assert type(classify(table, response(418, {}))) is TransientError
    assert type(classify(table, response(401, {}))) is AuthenticationError


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (519, InvalidRequestError),
        (520, TransientError),
        (525, TransientError),
        (529, TransientError),
        (530, InvalidRequestError),
    ],
)
def test_status_range_rules_are_inclusive(status: int, expected: type[CdpError]) -> None:
    table = ErrorTable(
        rules=(ErrorRule(TransientError, status=(520, 529)), ErrorRule(InvalidRequestError))
    )
    assert type(classify(table, response(status, {}))) is expected


def test_a_deeply_nested_error_body_is_classified_by_status() -> None:
    deep = b'{"code": "X", "detail": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    result = classify(ErrorTable(), response(503, content=deep))
    assert isinstance(result, TransientError)
    assert result.status_code == 503
    assert result.vendor_code is None


def test_the_default_parser_reads_one_level_down_only() -> None:
    # Deeper nesting is not searched (and cannot exhaust the recursion limit).
    deep: dict[str, Any] = {"code": "E9", "message": "m"}
    for _ in range(5_000):
        deep = {"wrapper": deep}
    assert parse_error_body(deep) == VendorError()
    assert parse_error_body({"fault": {"code": "E1", "message": "m"}}) == VendorError("E1", "m")


def test_a_body_parser_that_fails_is_read_as_no_vendor_error() -> None:
    def parse(body: Any) -> VendorError:
        return VendorError(code=body["result"]["err"])

    table = ErrorTable().extend(parse_body=parse)
    result = classify(table, response(500, {"unexpected": "shape"}))
    assert isinstance(result, TransientError)
    assert result.vendor_code is None


def test_custom_body_parser() -> None:
    def parse(body: Any) -> VendorError:
        return VendorError(code=body["result"]["err"], message=body["result"]["text"])

    table = ErrorTable().extend(ErrorRule(ConflictError, vendor_code="E7"), parse_body=parse)
    result = classify(table, response(400, {"result": {"err": "E7", "text": "busy"}}))

    assert isinstance(result, ConflictError)
    assert result.vendor_code == "E7"
    assert result.message.endswith("failed: busy")


@pytest.mark.parametrize(
    ("rule", "status", "code", "expected"),
    [
        (ErrorRule(NotFoundError, status=404), 404, None, True),
        (ErrorRule(NotFoundError, status=404), 404, "any", True),
        (ErrorRule(NotFoundError, status=404), 405, None, False),
        (ErrorRule(NotFoundError, vendor_code="7"), 500, "7", True),
        (ErrorRule(NotFoundError, vendor_code="7"), 500, None, False),
        (ErrorRule(NotFoundError, vendor_code="7"), 500, "70", False),
        (ErrorRule(NotFoundError, status=(400, 403), vendor_code="7"), 403, "7", True),
        (ErrorRule(NotFoundError, status=(400, 403), vendor_code="7"), 404, "7", False),
        (ErrorRule(NotFoundError), 999, None, True),
    ],
)
def test_rule_matches(rule: ErrorRule, status: int, code: str | None, expected: bool) -> None:
    assert rule.matches(status, code) is expected


# --- request ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "headers", "expected"),
    [
        ((), {"X-Request-Id": "abc"}, "abc"),
        ((), {"x-request-id": "lower"}, "lower"),
        ((), {"Twilio-Request-Id": "RQ1"}, "RQ1"),
        ((), {"X-Amzn-RequestId": "amz"}, "amz"),
        ((), {}, None),
        ((), {"X-Request-Id": ""}, None),
        (("X-Soracom-Request-Id",), {"X-Soracom-Request-Id": "sora"}, "sora"),
        # A connector's own header comes before the generic ones.
        (
            ("X-Soracom-Request-Id",),
            {"X-Request-Id": "gen", "X-Soracom-Request-Id": "sora"},
            "sora",
        ),
        (("X-Soracom-Request-Id",), {"X-Request-Id": "gen"}, "gen"),
    ],
)
def test_request_id(extra: tuple[str, ...], headers: dict[str, str], expected: str | None) -> None:
    table = ErrorTable().extend(request_id_headers=extra)
    resp = response(500, {}, headers=headers)

    assert table.request_id(resp) == expected
    result = classify(table, resp)
    assert result is not None
    assert result.request_id == expected


# --- wait headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": " 3 "}, 3.0),
        ({"Retry-After": "Wed, 01 May 2024 12:00:10 GMT"}, 10.0),
        ({"Retry-After": "Wed, 01 May 2024 11:00:00 GMT"}, 0.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_header(headers: dict[str, str], expected: float | None) -> None:
    table = ErrorTable(wall_clock=lambda: NOW)
    resp = response(429, {}, headers=headers)

    assert table.retry_after(resp) == expected
    result = classify(table, resp)
    assert isinstance(result, RateLimitedError)
    assert result.retry_after == expected


@pytest.fixture
def local_time_is_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test with the process in a time zone far from UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_is_not_utc")
@pytest.mark.parametrize(
    "value",
    [
        "Wed, 01 May 2024 12:00:10 GMT",  # IMF-fixdate
        "Wednesday, 01-May-24 12:00:10 GMT",  # obsolete RFC 850 date
        "Wed May  1 12:00:10 2024",  # obsolete asctime date: no zone, means GMT
        "Wed, 01 May 2024 12:00:10 -0000",
        "Wed, 01 May 2024 14:00:10 +0200",
    ],
)
def test_http_dates_do_not_depend_on_the_local_time_zone(value: str) -> None:
    table = ErrorTable(wall_clock=lambda: NOW)
    assert table.retry_after(response(429, {}, headers={"Retry-After": value})) == 10.0


def test_unreadable_vendor_header_falls_back_to_the_next() -> None:
    table = ErrorTable(wall_clock=lambda: NOW).extend(
        retry_after_headers=[RetryAfterHeader("X-Reset", unit="epoch_seconds")]
    )
    resp = response(503, {}, headers={"X-Reset": "tomorrow", "Retry-After": "6"})
    assert table.retry_after(resp) == 6.0


def test_a_documented_rate_limit_wait_applies_to_429s_without_a_header() -> None:
    table = ErrorTable(wall_clock=lambda: NOW).extend(rate_limit_wait=5.0)

    limited = classify(table, response(429, {}))
    told = classify(table, response(429, {}, headers={"Retry-After": "2"}))
    failed = classify(table, response(503, {}))

    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 5.0
    assert isinstance(told, RateLimitedError)
    assert told.retry_after == 2.0  # the server's own wait comes first
    assert isinstance(failed, TransientError)
    assert failed.retry_after is None  # not a rate-limit answer


def test_a_later_extension_keeps_the_rate_limit_wait_unless_it_sets_one() -> None:
    table = ErrorTable().extend(rate_limit_wait=5.0)

    assert table.extend(request_id_headers=["X-Trace"]).rate_limit_wait == 5.0
    assert table.extend(rate_limit_wait=8.0).rate_limit_wait == 8.0
    assert ErrorTable().rate_limit_wait is None


@pytest.mark.parametrize("status", [400, 401, 404, 409])
def test_only_retryable_errors_carry_retry_after(status: int) -> None:
    result = classify(ErrorTable(), response(status, {}, headers={"Retry-After": "5"}))
    assert result is not None
    assert not hasattr(result, "retry_after")


# --- parse_error_body ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"errorCode": "1000", "errorMessage": "m"}, VendorError("1000", "m")),
        ({"error_code": 1401, "message": "m"}, VendorError("1401", "m")),
        ({"code": "AUM0001", "message": "m"}, VendorError("AUM0001", "m")),
        ({"errorcode": 5, "detail": "d"}, VendorError("5", "d")),
        ({"title": "t"}, VendorError(None, "t")),
        ({"error_message": "e"}, VendorError(None, "e")),
        (
            {"fault": {"code": "900901", "message": "Invalid Credentials"}},
            VendorError("900901", "Invalid Credentials"),
        ),
        ({"errorMessage": {"code": "X", "message": "nested"}}, VendorError("X", "nested")),
        # A top-level field wins over a nested one.
        (
            {"code": "top", "error": {"code": "inner", "message": "inner m"}},
            VendorError("top", "inner m"),
        ),
        (
            {"errorCode": True, "message": "bools are not codes"},
            VendorError(None, "bools are not codes"),
        ),
        ({"errorCode": 1.5, "message": "nor floats"}, VendorError(None, "nor floats")),
        ({}, VendorError()),
        ([{"code": "1"}], VendorError()),
        ("text", VendorError()),
        (None, VendorError()),
        (42, VendorError()),
    ],
)
def test_parse_error_body(body: Any, expected: VendorError) -> None:
    assert parse_error_body(body) == expected


def test_vendor_reset_headers_apply_to_rate_limiting_only() -> None:
    table = ErrorTable().extend(
        retry_after_headers=[RetryAfterHeader("x-ratelimit-reset", unit="epoch_seconds")]
    )
    table = dataclasses.replace(table, wall_clock=lambda: 1_000.0)
    headers = {"x-ratelimit-reset": "1044"}
    limited = classify(table, response(429, {}, headers=headers))
    failed = classify(table, response(500, {}, headers=headers))
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 44.0
    assert isinstance(failed, TransientError)
    assert failed.retry_after is None
    unavailable = classify(table, response(503, {}, headers={**headers, "Retry-After": "3"}))
    assert isinstance(unavailable, TransientError)
    assert unavailable.retry_after == 3.0


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            202,
            {"errorCode": "1000512", "errorMessage": "SIM is not in Purged state"},
            ConflictError,
        ),
        (200, {"errorCode": "99999999"}, UnexpectedResponseError),
        (200, {"iccid": "x", "plan": {"code": "P1", "message": "n/a"}}, None),
        (200, {"iccid": "x"}, None),
        (200, [{"code": "1"}], None),
    ],
)
def test_errors_inside_2xx_answers_when_the_vendor_sends_them(
    status: int, body: Any, expected: type[CdpError] | None
) -> None:
    table = ErrorTable(errors_in_success=True).extend(
        ErrorRule(ConflictError, vendor_code="1000512")
    )
    result = classify(table, response(status, body))
    assert (type(result) if result else None) is expected
    assert classify(ErrorTable(), response(status, body)) is None
