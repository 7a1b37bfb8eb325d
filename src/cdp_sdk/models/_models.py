"""The normalized records every connector returns.

All models are immutable pydantic models that reject unknown fields. Datetimes are aware
and in UTC, money is :class:`~decimal.Decimal` with an ISO 4217 currency, volumes are
integers in base units, and vendor fields with no normalized home go to ``extra``.
A model survives a JSON round trip unchanged:
``Model.model_validate_json(m.model_dump_json()) == m``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_serializer,
    field_validator,
    model_validator,
)

from cdp_sdk.models._enums import (
    AuditKind,
    Bearer,
    Capability,
    Direction,
    Granularity,
    SimStatus,
    Unit,
)
from cdp_sdk.models._identifiers import Currency, Eid, Iccid, Imei, Imsi, Msisdn, UtcDatetime

__all__ = [
    "ActivationMode",
    "AuditEvent",
    "CdpModel",
    "ConnectorInfo",
    "Invoice",
    "InvoiceLine",
    "StatusChange",
    "Subscription",
    "Tag",
    "Tariff",
    "UsageRecord",
]

# Money: a finite Decimal. Floats are converted through their shortest repr (0.1 gives
# Decimal("0.1")), and JSON carries Decimals as strings, so no binary noise creeps in.
_Money = Annotated[Decimal, Field(allow_inf_nan=False)]
# Volumes and counts in base units.
_Count = Annotated[int, Field(ge=0)]
_NonEmpty = Annotated[str, Field(min_length=1)]

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
"""Dotted-quad IPv4 text exactly as ``str(ipaddress.ip_address(...))`` writes it."""

_DEFAULT_UNIT: dict[Bearer, Unit] = {
    Bearer.DATA: Unit.BYTES,
    Bearer.SMS: Unit.MESSAGES,
    Bearer.VOICE: Unit.SECONDS,
    Bearer.CSD: Unit.SECONDS,
}


class CdpModel(BaseModel):
    """Base of the normalized models: immutable, unknown fields rejected.

    Validation errors do not show the rejected input, since it is often an identifier
    (personal data); ``ValidationError.errors()`` still holds it for programmatic use.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )


class Tag(CdpModel):
    """A label on a subscription: a key, with a value on key/value platforms."""

    key: _NonEmpty
    value: str | None = None


class Subscription(CdpModel):
    """A SIM subscription on one platform, with its identifiers and lifecycle state."""

    connector: _NonEmpty
    account: str | None = None
    """The platform account or organisation holding the SIM, where the platform has one."""
    id: _NonEmpty
    """The platform's own key for the subscription (may equal the ICCID)."""
    iccid: Iccid
    """The full ICCID, with its Luhn check digit when the platform exposes one."""
    imsi: Imsi | None = None
    msisdn: Msisdn | None = None
    """E.164 digits without the leading ``+``."""
    imei: Imei | None = None
    """The IMEI of the device last seen with the SIM."""
    eid: Eid | None = None
    status: SimStatus
    status_raw: str
    """The platform's own name for the state, kept as given."""
    tariff: str | None = None
    """The tariff or rate plan, as the platform names or keys it."""
    created_at: UtcDatetime | None = None
    activated_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    ip_address: str | None = None
    """The IPv4 or IPv6 address assigned to the SIM, in canonical text form."""
    tags: tuple[Tag, ...] = ()
    extra: dict[str, JsonValue] = Field(default_factory=dict)
    """Vendor fields worth keeping that have no normalized home."""

    @field_validator("ip_address")
    @classmethod
    def _check_ip_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _CANONICAL_IPV4.fullmatch(value):
            return value  # already an IPv4 address in canonical text: the usual case
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("ip_address must be an IPv4 or IPv6 address") from None


class ActivationMode(CdpModel):
    """A lifecycle state of the platform and how it maps to :class:`SimStatus`."""

    connector: _NonEmpty
    name: _NonEmpty
    """The platform's own name for the state."""
    status: SimStatus
    description: str | None = None
    billable: bool | None = None
    """Whether a SIM in this state is billed; None when the platform does not say."""
    auto_activates: bool = False
    """The SIM becomes active on its first network use."""
    settable: bool = False
    """The state can be requested through the API."""
    next: tuple[str, ...] = ()
    """Names of the platform states reachable through the API from this one."""
    extra: dict[str, JsonValue] = Field(default_factory=dict)
    """Vendor fields worth keeping that have no normalized home."""


class StatusChange(CdpModel):
    """The outcome of a status change request."""

    connector: _NonEmpty
    iccid: Iccid
    requested: SimStatus
    state: Literal["done", "pending"]
    """``done`` when the platform applied the change, ``pending`` when it queued it."""
    request_id: str | None = None
    """The platform's key for a queued request, to follow it up."""
    effective_at: UtcDatetime | None = None
    extra: dict[str, JsonValue] = Field(default_factory=dict)
    """Vendor fields worth keeping that have no normalized home."""


class Tariff(CdpModel):
    """A tariff, rate plan or price plan offered on a platform."""

    connector: _NonEmpty
    id: _NonEmpty
    name: str
    description: str | None = None
    currency: Currency | None = None
    recurring_fee: _Money | None = None
    """The fee per SIM and billing cycle, in ``currency``."""
    included_data_bytes: _Count | None = None
    included_sms: _Count | None = None
    included_voice_seconds: _Count | None = None
    extra: dict[str, JsonValue] = Field(default_factory=dict)
    """Vendor fields worth keeping that have no normalized home."""

    @model_validator(mode="after")
    def _check_currency(self) -> Self:
        if self.recurring_fee is not None and self.currency is None:
            raise ValueError("currency is required when recurring_fee is set")
        return self


class UsageRecord(CdpModel):
    """Traffic of one bearer, direction and period, for one SIM or a whole account.

    ``unit`` follows from ``bearer`` when omitted (data: bytes, sms: messages, voice and
    csd: seconds); a unit that does not fit the bearer is rejected. ``quantity`` is an
    integer: an integral float such as ``2.0`` is accepted, ``1.5`` is rejected.
    """

    connector: _NonEmpty
    iccid: Iccid | None = None
    """None for an account-level total."""
    bearer: Bearer
    direction: Direction | None = None
    """None when the platform gives the total of both directions."""
    quantity: _Count
    # Never None once validated: `_derive_unit` fills it in from the bearer. The None default
    # only tells type checkers (and the pydantic mypy plugin) that the argument may be omitted.
    unit: Unit = None  # type: ignore[assignment]
    """The base unit of ``quantity``; derived from ``bearer`` when omitted."""
    start: UtcDatetime | None = None
    """Start of the period, included."""
    end: UtcDatetime | None = None
    """End of the period, excluded: ``[start, end)``."""
    granularity: Granularity
    final: bool = False
    """The period is closed and the figures will not change."""
    cost: _Money | None = None
    currency: Currency | None = None
    zone: str | None = None
    """The platform's tariff zone or roaming region for this traffic."""
    extra: dict[str, JsonValue] = Field(default_factory=dict)
    """Vendor fields worth keeping that have no normalized home."""

    @model_validator(mode="before")
    @classmethod
    def _derive_unit(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("unit") is None and "bearer" in data:
            try:
                unit = _DEFAULT_UNIT[Bearer(data["bearer"])]
            except (ValueError, TypeError):
                # The bearer field reports its own error; a placeholder unit keeps that the
                # only one, rather than adding a confusing "unit: field required".
                unit = Unit.BYTES
            data = {**data, "unit": unit}
        return data

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        expected = _DEFAULT_UNIT[self.bearer]
        if self.unit is not expected:
            raise ValueError(
                f"unit {self.unit.value!r} does not fit bearer {self.bearer.value!r} "
                f"(expected {expected.value!r})"
            )
        if self.start is not None and self.end is not None and not self.start < self.end:
            raise ValueError("start must be before end (the period is [start, end))")
        if self.cost is not None and self.currency is None:
            raise ValueError("currency is required when cost is set")
        return self


class InvoiceLine(CdpModel):
    """One line of an invoice."""

    description: str
    amount: _Money
    """The line total, in the invoice currency."""
    quantity: _Money | None = None
    unit_price: _Money | None = None
    iccid: Iccid | None = None
    """The SIM the line is for, when it is for a single SIM."""
    category: str | None = None
    """The platform's charge category (e.g. subscription, data, SMS, one-off)."""


class Invoice(CdpModel):
    """An invoice of the connectivity service provider."""

    connector: _NonEmpty
    account: str | None = None
    id: _NonEmpty
    period_start: date
    """First day of the billed period, included."""
    period_end: date
    """Last day of the billed period, included."""
    issued_at: date | None = None
    due_at: date | None = None
    currency: Currency
    total: _Money
    status: str | None = None
    """The platform's own payment status, e.g. ``open`` or ``paid``."""
    lines: tuple[InvoiceLine, ...] = ()
    extra: dict[str, JsonValue] = Field(default_factory=dict)
    """Vendor fields worth keeping that have no normalized home."""

    @model_validator(mode="after")
    def _check_period(self) -> Self:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class AuditEvent(CdpModel):
    """An entry of the platform's audit trail of a SIM or the account."""

    connector: _NonEmpty
    id: str | None = None
    iccid: Iccid | None = None
    occurred_at: UtcDatetime
    kind: AuditKind
    field: str | None = None
    """The field that changed, as the platform names it."""
    old_value: str | None = None
    new_value: str | None = None
    actor: str | None = None
    """Who made the change: a user, an API key or the platform itself."""
    description: str | None = None
    extra: dict[str, JsonValue] = Field(default_factory=dict)
    """Vendor fields worth keeping that have no normalized home."""


class ConnectorInfo(CdpModel):
    """A connector as the registry lists it, read without importing the plugin."""

    name: _NonEmpty
    """The entry-point name, passed to :func:`cdp_sdk.connect`."""
    title: str
    """A human-readable name of the platform."""
    capabilities: frozenset[Capability]
    distribution: str | None = None
    """The Python distribution that provides the connector."""
    version: str | None = None
    """The version of that distribution."""

    @field_serializer("capabilities", when_used="json")
    def _serialize_capabilities(self, capabilities: frozenset[Capability]) -> list[str]:
        # A set has no order; JSON lists capabilities in declaration order, so the output
        # is stable from one process to the next.
        return [cap.value for cap in Capability if cap in capabilities]
