"""The HTTP layer connectors are built on: client, auth flows, retries, limits, paging, errors.

This is the only package in cdp-sdk that does network I/O. Connector authors use it; they
never write their own retry, paging, authentication or error-mapping code.
"""

from cdp_sdk._redact import protect_loggers as _protect_loggers
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
    tls_verification,
)
from cdp_sdk.http._errors import (
    DEFAULT_ERROR_RULES,
    ErrorRule,
    ErrorTable,
    RateLimitHeaders,
    RetryAfterHeader,
    VendorError,
    parse_error_body,
)
from cdp_sdk.http._guard import ItemKey, ListingGuard
from cdp_sdk.http._pages import chain_pages, map_pages
from cdp_sdk.http._paginate import (
    CursorPaginator,
    HasMorePaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    SinglePage,
    StartAfterPaginator,
    body_field,
    header_value,
    read_count,
    read_flag,
)
from cdp_sdk.http._ratelimit import RateLimiter
from cdp_sdk.http._retry import IDEMPOTENT_METHODS, RetryPolicy
from cdp_sdk.http._timeout import call_timeout, current_timeout
from cdp_sdk.http._tls import shared_ssl_context

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
    "ItemKey",
    "JsonLoginAuth",
    "ListingGuard",
    "LoginTokenAuth",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "RateLimitHeaders",
    "RateLimiter",
    "RetryAfterHeader",
    "RetryPolicy",
    "SinglePage",
    "StartAfterPaginator",
    "Token",
    "TokenAuth",
    "VendorError",
    "body_field",
    "call_timeout",
    "chain_pages",
    "check_base_url",
    "current_timeout",
    "header_value",
    "is_loopback",
    "jwt_expiry",
    "map_pages",
    "parse_error_body",
    "read_count",
    "read_flag",
    "shared_ssl_context",
    "tls_verification",
    "unauthorized",
]

# httpx logs every request URL at INFO and httpcore every response header at DEBUG; both
# carry ICCIDs (emnify's Link header), so their loggers (and the others of the stack) redact.
_protect_loggers()
