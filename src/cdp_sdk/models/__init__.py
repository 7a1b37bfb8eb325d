"""Normalized, typed models of SIM subscriptions, usage, tariffs, invoices and audit events.

Every connector maps its platform's payloads to these models, so code written against them
works with any platform. The identifier helpers (``normalize_iccid``, ``luhn_valid`` ...)
and the ``Annotated`` field types (``Iccid``, ``UtcDatetime`` ...) are public for plugin
authors writing mapping code.
"""

from cdp_sdk.models._enums import (
    AuditKind,
    Bearer,
    Capability,
    Direction,
    Granularity,
    SimStatus,
    Unit,
)
from cdp_sdk.models._identifiers import (
    Currency,
    Eid,
    Iccid,
    Imei,
    Imsi,
    Msisdn,
    UtcDatetime,
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
from cdp_sdk.models._models import (
    ActivationMode,
    AuditEvent,
    CdpModel,
    ConnectorInfo,
    Invoice,
    InvoiceLine,
    StatusChange,
    Subscription,
    Tag,
    Tariff,
    UsageRecord,
)

__all__ = [
    "ActivationMode",
    "AuditEvent",
    "AuditKind",
    "Bearer",
    "Capability",
    "CdpModel",
    "ConnectorInfo",
    "Currency",
    "Direction",
    "Eid",
    "Granularity",
    "Iccid",
    "Imei",
    "Imsi",
    "Invoice",
    "InvoiceLine",
    "Msisdn",
    "SimStatus",
    "StatusChange",
    "Subscription",
    "Tag",
    "Tariff",
    "Unit",
    "UsageRecord",
    "UtcDatetime",
    "ensure_utc",
    "luhn_check_digit",
    "luhn_valid",
    "normalize_currency",
    "normalize_eid",
    "normalize_iccid",
    "normalize_imei",
    "normalize_imsi",
    "normalize_msisdn",
]
