"""Classification of HTTP responses into cdp-sdk errors, driven by a table of rules."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

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

__all__ = [
    "DEFAULT_ERROR_RULES",
    "ErrorRule",
    "ErrorTable",
    "RateLimitHeaders",
    "RetryAfterHeader",
    "VendorError",
    "parse_error_body",
]


@dataclass(frozen=True, slots=True)
class VendorError:
    """What a vendor's error body says: its own code and message, both optional."""

    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """Maps a failed response to an error class.

    A rule matches on the vendor's error code, on the HTTP status (one code or an inclusive
    ``(low, high)`` range), or on both. Rules are tried in order; the first match wins.
    """

    error: type[CdpError]
    status: int | tuple[int, int] | None = None
    vendor_code: str | None = None

    def matches(self, status: int, vendor_code: str | None) -> bool:
        if self.vendor_code is not None and self.vendor_code != vendor_code:
            return False
        if self.status is None:
            return True
        if isinstance(self.status, tuple):
            low, high = self.status
            return low <= status <= high
        return status == self.status


@dataclass(frozen=True, slots=True)
class RetryAfterHeader:
    """A response header that says how long to wait before calling again.

    ``unit`` tells how to read it: ``"seconds"`` (delta seconds or an HTTP date, as in
    ``Retry-After``), ``"epoch_seconds"`` or ``"epoch_millis"`` (a reset instant).
    """

    name: str
    unit: Literal["seconds", "epoch_seconds", "epoch_millis"] = "seconds"
    rate_limit_only: bool = True
    """Read it only on answers classified as rate limiting (a vendor's rate-limit reset
    means nothing on a 500); ``False`` reads it on transient failures too."""


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The response headers in which a platform reports its own rate-limit count: the
    requests ``remaining`` in the current period, and in how long (or when) it is ``reset``.

    ``unit`` tells how to read the reset: ``"seconds"`` from now (Soracom's
    ``X-Soracom-Ratelimit-Seconds-Before-Refresh``), ``"epoch_seconds"`` or
    ``"epoch_millis"`` (an instant, such as Onomondo's ``x-ratelimit-reset``). The HTTP
    client reads them on every response that carries both, and its rate limiter lets no
    request start past the count until the reset.
    """

    remaining: str
    reset: str
    unit: Literal["seconds", "epoch_seconds", "epoch_millis"] = "seconds"


DEFAULT_ERROR_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(AuthenticationError, status=401),
    ErrorRule(PermissionDeniedError, status=403),
    ErrorRule(NotFoundError, status=404),
    ErrorRule(ConflictError, status=409),
    ErrorRule(TransientError, status=408),
    ErrorRule(RateLimitedError, status=429),
    ErrorRule(TransientError, status=(500, 599)),
    ErrorRule(InvalidRequestError, status=(400, 499)),
    ErrorRule(UnexpectedResponseError, status=(300, 399)),
)

_PARSE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError)
_CODE_KEYS = ("errorCode", "error_code", "code", "errorcode")
_MESSAGE_KEYS = ("errorMessage", "error_message", "message", "detail", "title", "error")


def parse_error_body(body: Any) -> VendorError:
    """Read a vendor code and message from the common JSON error shapes.

    Handles flat bodies (``{"errorCode": "1000", "errorMessage": "..."}``,
    ``{"error_code": 1401, "message": "..."}``) and one level of nesting
    (``{"fault": {"code": ..., "message": ...}}``, ``{"errorMessage": {"code": ...}}``).
    """
    if not isinstance(body, Mapping):
        return VendorError()
    code = _first_scalar(body, _CODE_KEYS)
    message = _first_scalar(body, _MESSAGE_KEYS)
    if code is None or message is None:
        for value in body.values():
            if isinstance(value, Mapping):  # one level down, no deeper
                code = code if code is not None else _first_scalar(value, _CODE_KEYS)
                if message is None:
                    message = _first_scalar(value, _MESSAGE_KEYS)
                break
    return VendorError(code=code, message=message)


def _first_scalar(body: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


@dataclass(frozen=True)
class ErrorTable:
    """Turns failed responses into typed errors.

    The table holds the rules (vendor rules first, then the HTTP defaults), the parser of
    the vendor's error body, the headers that carry a request id and the headers that say
    how long to wait after a 429 or 503. A connector extends the default table with its own
    codes through :meth:`extend`.
    """

    rules: Sequence[ErrorRule] = DEFAULT_ERROR_RULES
    parse_body: Callable[[Any], VendorError] = parse_error_body
    request_id_headers: Sequence[str] = (
        "X-Request-Id",
        "Request-Id",
        "X-Correlation-Id",
        "X-Amzn-RequestId",
        "Twilio-Request-Id",
    )
    retry_after_headers: Sequence[RetryAfterHeader] = (
        RetryAfterHeader("Retry-After", rate_limit_only=False),
    )
    errors_in_success: bool = False
    """Read 2xx bodies for a top-level vendor error code too (vendors that refuse with
    HTTP 202, such as Cisco Control Center)."""
    rate_limit_wait: float | None = None
    """Seconds to wait after a rate-limit answer that names no wait, where the vendor
    documents one (Hologram asks to pause 5-10 s after a 429); ``None``: back off."""
    rate_limit_headers: RateLimitHeaders | None = None
    """Where the platform reports its remaining requests and their reset, if it does."""
    wall_clock: Callable[[], float] = field(default=time.time, compare=False)

    def extend(
        self,
        *rules: ErrorRule,
        parse_body: Callable[[Any], VendorError] | None = None,
        request_id_headers: Sequence[str] = (),
        retry_after_headers: Sequence[RetryAfterHeader] = (),
        rate_limit_wait: float | None = None,
        rate_limit_headers: RateLimitHeaders | None = None,
    ) -> ErrorTable:
        """A new table whose ``rules`` take precedence over this one's."""
        return replace(
            self,
            rules=(*rules, *self.rules),
            parse_body=parse_body or self.parse_body,
            request_id_headers=(*request_id_headers, *self.request_id_headers),
            retry_after_headers=(*retry_after_headers, *self.retry_after_headers),
            rate_limit_wait=self.rate_limit_wait if rate_limit_wait is None else rate_limit_wait,
            rate_limit_headers=rate_limit_headers or self.rate_limit_headers,
        )

    def rate_budget(self, response: httpx.Response) -> tuple[int, float] | None:
        """The platform's own count on ``response``: the requests remaining and the
        seconds until they reset; ``None`` when the table names no such headers or the
        response lacks one of them or carries an unreadable value."""
        names = self.rate_limit_headers
        if names is None:
            return None
        remaining = response.headers.get(names.remaining)
        reset = response.headers.get(names.reset)
        if remaining is None or reset is None:
            return None
        try:
            count = int(remaining.strip())
        except ValueError:
            return None
        seconds = _parse_wait(reset.strip(), names.unit, self.wall_clock())
        if seconds is None or count < 0 or not math.isfinite(seconds):
            return None
        return count, max(0.0, seconds)

    def request_id(self, response: httpx.Response) -> str | None:
        """The vendor's id for this request, from the first request-id header present."""
        for name in self.request_id_headers:
            value: str | None = response.headers.get(name)
            if value:
                return value
        return None

    def retry_after(self, response: httpx.Response, *, rate_limited: bool = True) -> float | None:
        """Seconds the server asks us to wait, from the first wait header it sent that
        applies (``rate_limited``: the answer was classified as rate limiting); without
        one, ``rate_limit_wait`` for a rate-limit answer."""
        for header in self.retry_after_headers:
            if header.rate_limit_only and not rate_limited:
                continue
            raw = response.headers.get(header.name)
            if raw is None:
                continue
            seconds = _parse_wait(raw.strip(), header.unit, self.wall_clock())
            if seconds is not None:
                return max(0.0, seconds)
        return self.rate_limit_wait if rate_limited else None

    def classify(self, response: httpx.Response, *, connector: str) -> CdpError | None:
        """The error ``response`` stands for, or ``None`` for a success.

        A 2xx answer is a success, unless ``errors_in_success`` is set and its body carries
        a vendor error code: then the vendor-code rules classify it (no matching rule:
        :class:`UnexpectedResponseError`).
        """
        success = 200 <= response.status_code < 300
        if success and not self.errors_in_success:
            return None
        body = _json_or_none(response)
        if success and not (isinstance(body, Mapping) and any(k in body for k in _CODE_KEYS)):
            return None  # only a top-level error code turns a 2xx into a failure
        try:
            vendor = self.parse_body(body)
        except _PARSE_ERRORS:  # an error body of a shape the parser did not expect
            vendor = VendorError()
        if success and vendor.code is None:
            return None
        error_class: type[CdpError] = UnexpectedResponseError
        for rule in self.rules:
            if success and rule.vendor_code is None:
                continue
            if rule.matches(response.status_code, vendor.code) or (
                success and rule.vendor_code == vendor.code
            ):
                error_class = rule.error
                break
        reason = vendor.message or response.reason_phrase or "request failed"
        message = f"{response.request.method} {response.url.path} failed: {reason}"
        context: dict[str, Any] = {
            "connector": connector,
            "status_code": response.status_code,
            "vendor_code": vendor.code,
            "request_id": self.request_id(response),
        }
        if issubclass(error_class, RateLimitedError | TransientError):
            wait = self.retry_after(
                response, rate_limited=issubclass(error_class, RateLimitedError)
            )
            return error_class(message, retry_after=wait, **context)
        return error_class(message, **context)


def _json_or_none(response: httpx.Response) -> Any:
    """The decoded body; ``None`` when it is not JSON or is nested too deeply to decode
    (the error is then classified from the HTTP status alone)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _parse_wait(raw: str, unit: str, now: float) -> float | None:
    try:
        number = float(raw)
    except ValueError:
        number = None
    if unit == "epoch_seconds" and number is not None:
        return number - now
    if unit == "epoch_millis" and number is not None:
        return number / 1000 - now
    if number is not None:
        return number
    try:
        instant = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if instant.tzinfo is None:
        # HTTP dates are GMT; asctime dates and "-0000" parse as naive: not local time.
        instant = instant.replace(tzinfo=UTC)
    return instant.timestamp() - now
