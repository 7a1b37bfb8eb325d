"""Models -> table rows (pure functions).

The rows of the tables a sync upserts page by page (subscriptions, platform tags, usage,
invoices, audit events) leave out the columns every row of a page shares, which the
writer gives once: :meth:`Stamp.columns`, and for tags :func:`platform_tag_constants`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Invoice,
    Subscription,
    Tariff,
    UsageRecord,
)
from cdp_sdk.sync.schema import audit_key, usage_key

__all__ = [
    "Stamp",
    "activation_mode_row",
    "audit_event_row",
    "invoice_line_rows",
    "invoice_row",
    "platform_tag_constants",
    "platform_tag_rows",
    "subscription_row",
    "tariff_row",
    "usage_row",
]


@dataclass(frozen=True)
class Stamp:
    """The bookkeeping columns of the rows one write produces."""

    account: str
    run_id: int
    synced_at: datetime

    def columns(self) -> dict[str, Any]:
        """The bookkeeping columns: which run wrote the rows, and when."""
        return {"run_id": self.run_id, "synced_at": self.synced_at}


def subscription_row(stamp: Stamp, sim: Subscription) -> dict[str, Any]:
    return {
        "account": stamp.account,
        "id": sim.id,
        "connector": sim.connector,
        "iccid": sim.iccid,
        "imsi": sim.imsi,
        "msisdn": sim.msisdn,
        "imei": sim.imei,
        "eid": sim.eid,
        "status": sim.status.value,
        "status_raw": sim.status_raw,
        "tariff": sim.tariff,
        "created_at": sim.created_at,
        "activated_at": sim.activated_at,
        "updated_at": sim.updated_at,
        "ip_address": sim.ip_address,
        "platform_account": sim.account,
        "extra": dict(sim.extra),
    }


def platform_tag_rows(stamp: Stamp, sim: Subscription) -> list[dict[str, Any]]:
    account, iccid = stamp.account, sim.iccid
    return [
        {"account": account, "iccid": iccid, "key": tag.key, "value": tag.value} for tag in sim.tags
    ]


def platform_tag_constants(stamp: Stamp) -> dict[str, Any]:
    """The columns every platform tag row of a page shares."""
    return {"source": "platform", "pushed_at": None, "removed": False, **stamp.columns()}


def activation_mode_row(stamp: Stamp, mode: ActivationMode) -> dict[str, Any]:
    return {
        "account": stamp.account,
        "name": mode.name,
        "connector": mode.connector,
        "status": mode.status.value,
        "description": mode.description,
        "billable": mode.billable,
        "auto_activates": mode.auto_activates,
        "settable": mode.settable,
        "next": list(mode.next),
        "extra": dict(mode.extra),
        **stamp.columns(),
    }


def tariff_row(stamp: Stamp, tariff: Tariff) -> dict[str, Any]:
    return {
        "account": stamp.account,
        "id": tariff.id,
        "connector": tariff.connector,
        "name": tariff.name,
        "description": tariff.description,
        "currency": tariff.currency,
        "recurring_fee": tariff.recurring_fee,
        "included_data_bytes": tariff.included_data_bytes,
        "included_sms": tariff.included_sms,
        "included_voice_seconds": tariff.included_voice_seconds,
        "extra": dict(tariff.extra),
        **stamp.columns(),
    }


def usage_row(stamp: Stamp, record: UsageRecord) -> dict[str, Any]:
    return {
        "account": stamp.account,
        "record_key": usage_key(record),
        "connector": record.connector,
        "iccid": record.iccid,
        "bearer": record.bearer.value,
        "direction": record.direction.value if record.direction else None,
        "quantity": record.quantity,
        "unit": record.unit.value,
        "period_start": record.start,
        "period_end": record.end,
        "granularity": record.granularity.value,
        "final": record.final,
        "cost": record.cost,
        "currency": record.currency,
        "zone": record.zone,
        "extra": dict(record.extra),
    }


def invoice_row(stamp: Stamp, invoice: Invoice) -> dict[str, Any]:
    return {
        "account": stamp.account,
        "id": invoice.id,
        "connector": invoice.connector,
        "platform_account": invoice.account,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "issued_at": invoice.issued_at,
        "due_at": invoice.due_at,
        "currency": invoice.currency,
        "total": invoice.total,
        "status": invoice.status,
        "extra": dict(invoice.extra),
    }


def invoice_line_rows(stamp: Stamp, invoice: Invoice) -> list[dict[str, Any]]:
    return [
        {
            "account": stamp.account,
            "invoice_id": invoice.id,
            "line_no": number,
            "description": line.description,
            "amount": line.amount,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "iccid": line.iccid,
            "category": line.category,
            **stamp.columns(),
        }
        for number, line in enumerate(invoice.lines, start=1)
    ]


def audit_event_row(stamp: Stamp, event: AuditEvent) -> dict[str, Any]:
    return {
        "account": stamp.account,
        "record_key": audit_key(event),
        "connector": event.connector,
        "id": event.id,
        "iccid": event.iccid,
        "occurred_at": event.occurred_at,
        "kind": event.kind.value,
        "field": event.field,
        "old_value": event.old_value,
        "new_value": event.new_value,
        "actor": event.actor,
        "description": event.description,
        "extra": dict(event.extra),
    }
