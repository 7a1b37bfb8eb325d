"""The exceptions cdp-sdk raises.

Every error derives from :class:`CdpError` and carries, where known, the connector that
raised it, the HTTP status, the vendor's own error code and the vendor's request id.
Messages never contain secrets, and identifiers (ICCID, IMSI, MSISDN, IMEI) in them are
redacted, so an exception can be logged or shown as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdp_sdk._redact import redact_text

__all__ = [
    "AuthenticationError",
    "CdpError",
    "CertificateError",
    "ClosedError",
    "ConfigurationError",
    "ConflictError",
    "ConnectorNotFoundError",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "TransientError",
    "UnexpectedResponseError",
    "UnsupportedCapabilityError",
]


class CdpError(Exception):
    """Base class of every cdp-sdk error."""

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        status_code: int | None = None,
        vendor_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = redact_text(message)
        self.connector = connector
        self.status_code = status_code
        self.vendor_code = vendor_code
        self.request_id = request_id
        super().__init__(self.message)

    def __str__(self) -> str:
        context = [
            f"{label}={value}"
            for label, value in (
                ("connector", self.connector),
                ("status", self.status_code),
                ("vendor_code", _redacted(self.vendor_code)),
                ("request_id", _redacted(self.request_id)),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, connector={self.connector!r}, "
            f"status_code={self.status_code!r}, vendor_code={_redacted(self.vendor_code)!r}, "
            f"request_id={_redacted(self.request_id)!r})"
        )


def _redacted(value: str | None) -> str | None:
    return None if value is None else redact_text(value)


class ConfigurationError(CdpError):
    """A setting is missing, unknown or invalid, or a connector plugin cannot be loaded."""


class ConnectorNotFoundError(ConfigurationError):
    """No installed connector has the requested name."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = tuple(sorted(available))
        installed = ", ".join(self.available) or "none"
        super().__init__(f"no connector named {name!r}; installed connectors: {installed}")


class CertificateError(ConfigurationError):
    """The platform's TLS certificate could not be verified; not retried. The message says
    how to trust the CA that signed it (the ``verify`` setting, or ``SSL_CERT_FILE``)."""


class AuthenticationError(CdpError):
    """The platform rejected the credentials (HTTP 401 or the vendor's equivalent)."""


class PermissionDeniedError(CdpError):
    """The credentials are valid but may not perform this operation (HTTP 403)."""


class NotFoundError(CdpError):
    """The SIM or other resource does not exist on the platform (HTTP 404)."""


class InvalidRequestError(CdpError):
    """The request was refused as malformed, or was refused by cdp-sdk before sending it."""


class ConflictError(CdpError):
    """The request conflicts with the resource's state, e.g. an illegal status transition."""


class _RetryAfterError(CdpError):
    """An error after which the server may have said how many seconds to wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        connector: str | None = None,
        status_code: int | None = None,
        vendor_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            connector=connector,
            status_code=status_code,
            vendor_code=vendor_code,
            request_id=request_id,
        )


class RateLimitedError(_RetryAfterError):
    """The platform's rate limit was hit and retries did not get through (see ``retry_after``)."""


class TransientError(_RetryAfterError):
    """A temporary failure: HTTP 5xx, a network error or a timeout, after retries."""


class OutcomeUnknownError(TransientError):
    """A write that is not safe to repeat was sent, but its answer was lost (a read timeout,
    a connection reset): the change may have been applied. Check before sending it again."""


class ClosedError(CdpError):
    """The connector, workspace or store was closed: open a new one to go on. Raised by
    any call made after ``close()`` (or ``aclose()``), and by a listing still being read."""


class UnsupportedCapabilityError(CdpError):
    """The connector does not offer the requested capability."""


class UnexpectedResponseError(CdpError):
    """The platform answered with a payload that cannot be read or mapped."""


class ResponseTooLargeError(UnexpectedResponseError):
    """A response body grew past ``max_response_bytes`` (counted after decompression); the
    read was stopped there. ``limit`` is that setting."""

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        connector: str | None = None,
        status_code: int | None = None,
        vendor_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.limit = limit
        super().__init__(
            message,
            connector=connector,
            status_code=status_code,
            vendor_code=vendor_code,
            request_id=request_id,
        )
