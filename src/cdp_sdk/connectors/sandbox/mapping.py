"""Sandbox API payloads -> normalized models (pure functions and tables)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from cdp_sdk.mapping import (
    Lifecycle,
    activation_modes,
    lookup_status,
    parse_date,
    parse_datetime,
    tag,
    to_decimal,
)
from cdp_sdk.models import (
    AuditEvent,
    AuditKind,
    Bearer,
    Direction,
    Granularity,
    Invoice,
    InvoiceLine,
    SimStatus,
    Subscription,
    Tariff,
    UsageRecord,
)

__all__ = [
    "ACTIVATION_MODES",
    "STATUS",
    "to_audit_event",
    "to_invoice",
    "to_subscription",
    "to_tariff",
    "to_usage",
]

NAME = "sandbox"

STATUS: dict[str, SimStatus] = {
    "provisioned": SimStatus.INVENTORY,
    "trial": SimStatus.TEST,
    "activation_ready": SimStatus.READY,
    "live": SimStatus.ACTIVE,
    "paused": SimStatus.SUSPENDED,
    "stopped": SimStatus.DEACTIVATED,
    "terminated": SimStatus.RETIRED,
}
STATE_FOR: dict[SimStatus, str] = {status: state for state, status in STATUS.items()}

# name: (description, billable, auto_activates, settable, next states)
_LIFECYCLE: dict[str, Lifecycle] = {
    "provisioned": (
        "Delivered, not yet usable",
        False,
        False,
        False,
        ("trial", "activation_ready", "live"),
    ),
    "trial": ("Free test traffic", False, True, True, ("activation_ready", "live", "stopped")),
    "activation_ready": ("Activates on first attach", False, True, True, ("live", "stopped")),
    "live": ("In service and billed", True, False, True, ("paused", "stopped")),
    "paused": ("Service blocked, fee still due", True, False, True, ("live", "stopped")),
    "stopped": ("Service off, not billed", False, False, True, ("live", "terminated")),
    "terminated": ("End of life", False, False, True, ()),
}

ACTIVATION_MODES = activation_modes(NAME, STATUS, _LIFECYCLE)

_KIND = {kind.value: kind for kind in AuditKind}

# (vendor field, bearer, direction)
_USAGE_COLUMNS = (
    ("data_up_bytes", Bearer.DATA, Direction.MO),
    ("data_down_bytes", Bearer.DATA, Direction.MT),
    ("sms_mo", Bearer.SMS, Direction.MO),
    ("sms_mt", Bearer.SMS, Direction.MT),
    ("voice_mo_seconds", Bearer.VOICE, Direction.MO),
    ("voice_mt_seconds", Bearer.VOICE, Direction.MT),
)


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    status, raw = lookup_status(STATUS, record["status"])
    tags = record.get("tags") or {}
    return Subscription.model_validate(
        {
            "connector": NAME,
            "id": str(record["iccid"]),
            "iccid": record["iccid"],
            "imsi": record.get("imsi"),
            "msisdn": record.get("msisdn"),
            "imei": record.get("imei"),
            "eid": record.get("eid"),
            "status": status,
            "status_raw": raw,
            "tariff": record.get("plan_id"),
            "created_at": parse_datetime(record.get("created_at")),
            "activated_at": parse_datetime(record.get("activated_at")),
            "updated_at": parse_datetime(record.get("updated_at")),
            "ip_address": record.get("ip_address"),
            "tags": tuple([tag(key, value) for key, value in sorted(tags.items())]),
        }
    )


def to_tariff(record: Mapping[str, Any]) -> Tariff:
    included = record.get("included") or {}
    data_mb = included.get("data_mb")
    return Tariff(
        connector=NAME,
        id=str(record["id"]),
        name=record["name"],
        currency=record.get("currency"),
        recurring_fee=to_decimal(record.get("monthly_fee")),
        included_data_bytes=None if data_mb is None else int(data_mb) * 1_000_000,
        included_sms=included.get("sms"),
        extra={"overage_per_mb": record.get("overage_per_mb")},
    )


def to_usage(iccid: str | None, record: Mapping[str, Any], *, today: datetime) -> list[UsageRecord]:
    """One tidy record per bearer and direction for one day (zero rows left out)."""
    start = datetime.combine(parse_date(record["date"]) or today.date(), time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    return [
        UsageRecord(
            connector=NAME,
            iccid=iccid,
            bearer=bearer,
            direction=direction,
            quantity=int(record[field]),
            start=start,
            end=end,
            granularity=Granularity.DAY,
            final=end <= today,
        )
        for field, bearer, direction in _USAGE_COLUMNS
        if int(record.get(field) or 0) > 0
    ]


def to_invoice(record: Mapping[str, Any]) -> Invoice:
    period = record["period"]
    return Invoice(
        connector=NAME,
        id=str(record["number"]),
        period_start=parse_date(period["from"]),
        period_end=parse_date(period["to"]),
        issued_at=parse_date(record.get("issued_on")),
        due_at=parse_date(record.get("due_on")),
        currency=record["currency"],
        total=to_decimal(record["total"]),
        status=record.get("state"),
        lines=tuple(
            InvoiceLine(
                description=line["text"],
                amount=to_decimal(line["amount"]),
                quantity=to_decimal(line.get("quantity")),
                unit_price=to_decimal(line.get("unit_price")),
                category=line.get("category"),
            )
            for line in record.get("lines") or ()
        ),
    )


def to_audit_event(record: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        connector=NAME,
        id=str(record["id"]),
        iccid=record.get("iccid"),
        occurred_at=parse_datetime(record["at"]),
        kind=_KIND.get(record.get("type") or "", AuditKind.OTHER),
        field=record.get("field"),
        old_value=record.get("from"),
        new_value=record.get("to"),
        actor=record.get("by"),
    )
