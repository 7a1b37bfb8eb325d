"""The HTTP layer connectors are built on: client, auth flows, retries, limits, paging, errors.

This is the only package in cdp-sdk that does network I/O. Connector authors use it; they
never write their own retry, paging, authentication or error-mapping code.
"""

import logging as _logging

from cdp_sdk._redact import RedactingFilter as _RedactingFilter
from cdp_sdk.http._auth import (
    BasicAuth,
    ChainedLoginAuth,
    HeaderAuth,
    JsonLoginAuth,
    LoginTokenAuth,
    OAuth2ClientCredentials,
    Token,
    TokenAuth,
    jwt_expiry,
    unauthorized,
)
from cdp_sdk.http._client import (
    USER_AGENT,
    CallRecord,
    HttpClient,
    Page,
    check_base_url,
    is_loopback,
)
from cdp_sdk.http._errors import (
    DEFAULT_ERROR_RULES,
    ErrorRule,
    ErrorTable,
    RetryAfterHeader,
    VendorError,
    parse_error_body,
)
from cdp_sdk.http._paginate import (
    CursorPaginator,
    HasMorePaginator,
    NextUrlPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    PagingError,
    SinglePage,
    StartAfterPaginator,
    body_field,
    header_value,
)
from cdp_sdk.http._ratelimit import RateLimiter
from cdp_sdk.http._retry import IDEMPOTENT_METHODS, RetryPolicy

__all__ = [
    "DEFAULT_ERROR_RULES",
    "IDEMPOTENT_METHODS",
    "USER_AGENT",
    "BasicAuth",
    "CallRecord",
    "ChainedLoginAuth",
    "CursorPaginator",
    "ErrorRule",
    "ErrorTable",
    "HasMorePaginator",
    "HeaderAuth",
    "HttpClient",
    "JsonLoginAuth",
    "LoginTokenAuth",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "PagingError",
    "RateLimiter",
    "RetryAfterHeader",
    "RetryPolicy",
    "SinglePage",
    "StartAfterPaginator",
    "Token",
    "TokenAuth",
    "VendorError",
    "body_field",
    "check_base_url",
    "header_value",
    "is_loopback",
    "jwt_expiry",
    "parse_error_body",
    "unauthorized",
]

# httpx logs every request URL at INFO; URLs carry ICCIDs, so redact them there too.
_httpx_logger = _logging.getLogger("httpx")
if not any(isinstance(f, _RedactingFilter) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactingFilter())
