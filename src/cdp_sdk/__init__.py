"""cdp-sdk: one normalized, typed API over IoT SIM Connected Device Platforms.

>>> import cdp_sdk
>>> [c.name for c in cdp_sdk.available_connectors()]  # doctest: +SKIP
>>> with cdp_sdk.connect("emnify", application_token="...") as emnify:  # doctest: +SKIP
...     for sim in emnify.subscriptions():
...         print(sim.iccid, sim.status)
"""

from typing import TYPE_CHECKING, Any

from cdp_sdk._connector import BaseConnector
from cdp_sdk._facade import AsyncConnector, Connector
from cdp_sdk._registry import (
    ENTRY_POINT_GROUP,
    ConnectorLoadWarning,
    available_connectors,
    connect,
    connect_async,
    load_connector,
)
from cdp_sdk._settings import ConnectorSettings, InsecureTLSWarning
from cdp_sdk._tag_rules import TagRules
from cdp_sdk._version import __version__
from cdp_sdk.errors import (
    AuthenticationError,
    CdpError,
    CertificateError,
    ClosedError,
    ConfigurationError,
    ConflictError,
    ConnectorNotFoundError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseTooLargeError,
    TransientError,
    UnexpectedResponseError,
    UnsupportedCapabilityError,
)
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    AuditKind,
    Bearer,
    Capability,
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
)

if TYPE_CHECKING:
    from cdp_sdk.workspace import Workspace

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActivationMode",
    "AsyncConnector",
    "AuditEvent",
    "AuditKind",
    "AuthenticationError",
    "BaseConnector",
    "Bearer",
    "Capability",
    "CdpError",
    "CertificateError",
    "ClosedError",
    "ConfigurationError",
    "ConflictError",
    "Connector",
    "ConnectorInfo",
    "ConnectorLoadWarning",
    "ConnectorNotFoundError",
    "ConnectorSettings",
    "Direction",
    "Granularity",
    "InsecureTLSWarning",
    "InvalidRequestError",
    "Invoice",
    "InvoiceLine",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "SimStatus",
    "StatusChange",
    "Subscription",
    "Tag",
    "TagRules",
    "Tariff",
    "TransientError",
    "UnexpectedResponseError",
    "Unit",
    "UnsupportedCapabilityError",
    "UsageRecord",
    "Workspace",
    "__version__",
    "available_connectors",
    "connect",
    "connect_async",
    "load_connector",
]


def __getattr__(name: str) -> Any:
    # ``Workspace`` is imported on first use, so ``import cdp_sdk`` stays light.
    if name == "Workspace":
        from cdp_sdk.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'cdp_sdk' has no attribute {name!r}")
