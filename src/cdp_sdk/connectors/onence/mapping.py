"""1NCE Management API payloads -> normalized models (pure functions and tables)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import JsonValue

from cdp_sdk.connectors._emnify_family import (
    BYTES_PER_MB,
    ONENCE_DIRECTIONS,
    day_period,
    parse_time,
    pick_iccid,
    usage_records,
)
from cdp_sdk.errors import InvalidRequestError
from cdp_sdk.mapping import (
    Lifecycle,
    activation_modes,
    lookup_status,
    megabytes_to_bytes,
    tag,
    to_decimal,
)
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    AuditKind,
    SimStatus,
    Subscription,
    Tariff,
    UsageRecord,
)

__all__ = [
    "ACTIVATION_MODES",
    "LABEL",
    "STATE_FOR",
    "STATUS",
    "event_items",
    "label_update",
    "sim_update",
    "to_audit_event",
    "to_subscription",
    "to_tariff",
    "to_usage",
    "usage_days",
    "with_quotas",
]

NAME = "1nce"
LABEL = "label"
"""The key of the one tag a 1NCE SIM carries: its ``label``."""

# The 1NCE SIM states (SIM Management spec, ``SIM_card.status``: Enabled | Disabled), mapped
# by the normalized definitions. Both are set with PUT /v1/sims/{iccid}, from either state.
# name: (description, billable, auto-activates, settable, next states)
_LIFECYCLE: dict[str, Lifecycle] = {
    # active: network access ("enabled (active)", Values_for_a_SIM_update.status). The
    # prepaid lifetime plan is paid once, not per state or month: billable stays unknown.
    "Enabled": (
        "Network access; traffic uses the prepaid volume",
        None,
        False,
        True,
        ("Disabled",),
    ),
    # deactivated: the spec calls it "disabled (deactivated)"; no network access, and no
    # charge accrues in this state (nothing on 1NCE is billed by state).
    "Disabled": (
        "No network access until enabled again; nothing is charged",
        False,
        False,
        True,
        ("Enabled",),
    ),
}
STATUS: dict[str, SimStatus] = {
    "Enabled": SimStatus.ACTIVE,  # "enabled (active)"
    "Disabled": SimStatus.DEACTIVATED,  # "disabled (deactivated)"
}
STATE_FOR: dict[SimStatus, str] = {status: state for state, status in STATUS.items()}
"""The state each normalized status is requested as; the others have no 1NCE state."""

ACTIVATION_MODES: tuple[ActivationMode, ...] = activation_modes(NAME, STATUS, _LIFECYCLE)

# Events carry their type as text only: (words in event_type, kind), first match wins.
_EVENT_KINDS: tuple[tuple[str, AuditKind], ...] = (
    ("status of sim changed", AuditKind.STATUS_CHANGE),
    ("pdp context", AuditKind.SESSION),
    ("location", AuditKind.SESSION),
)
_STATUS_TEXT = re.compile(r"from '([^']*)' to '([^']*)'")
_EVENT_EXTRA = ("event_severity", "alert", "country", "operator", "mcc", "mnc")
_QUOTA_DATES = ("expiry_date", "last_status_change_date")


# -- subscriptions -----------------------------------------------------------------------


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    """A SIM of ``GET /v1/sims``; ``label`` becomes ``Tag("label", text)``.

    ``iccid`` is the ICCID without its check digit (the spec pairs ``8988303000123456789``
    with ``iccid_with_luhn`` ``89883030001234567890``): it stays the SIM's ``id`` and the
    check digit is computed from it for the normalized ``iccid``.
    """
    status, raw = lookup_status(STATUS, record["status"])
    label = record.get("label")
    quota = record.get("current_quota")
    iccid = pick_iccid(record)
    return Subscription.model_validate(
        {
            "connector": NAME,
            # 1NCE's key: the ICCID without check digit
            "id": str(record.get("iccid") or iccid[:-1]),
            "iccid": iccid,
            "imsi": record.get("imsi") or None,
            "msisdn": record.get("msisdn") or None,
            "imei": record.get("imei") or None,
            "status": status,
            "status_raw": raw,
            "activated_at": parse_time(record.get("activation_date")),
            "ip_address": record.get("ip_address") or None,
            "tags": (tag(LABEL, str(label)),) if label else (),
            "extra": _compact(
                {
                    "imsi_2": record.get("imsi_2"),
                    "current_imsi": record.get("current_imsi"),
                    "imei_lock": record.get("imei_lock"),
                    "current_quota_bytes": None if quota is None else _bytes(quota),
                    "quota_status": _dig(record, "quota_status", "description"),
                    "current_quota_sms": record.get("current_quota_SMS"),
                    "quota_status_sms": _dig(record, "quota_status_SMS", "description"),
                }
            ),
        }
    )


def with_quotas(
    subscription: Subscription, data: Mapping[str, Any] | None, sms: Mapping[str, Any] | None
) -> Subscription:
    """``subscription`` with its data and SMS quotas (``/quota/data``, ``/quota/sms``) in
    ``extra``: volumes in bytes and messages, dates as ISO 8601."""
    extra = dict(subscription.extra)
    if data:
        extra["quota_data"] = _quota(data, unit="bytes")
    if sms:
        extra["quota_sms"] = _quota(sms, unit="sms")
    return subscription.model_copy(update={"extra": extra})


def _quota(body: Mapping[str, Any], *, unit: str) -> dict[str, JsonValue]:
    def amount(value: Any) -> int | None:
        if value is None:
            return None
        return _bytes(value) if unit == "bytes" else int(Decimal(str(value)))

    dates = {key: parse_time(body.get(key)) for key in _QUOTA_DATES}
    return _compact(
        {
            f"remaining_{unit}": amount(body.get("volume")),
            f"total_{unit}": amount(body.get("total_volume")),
            f"last_added_{unit}": amount(body.get("last_volume_added")),
            "threshold_percentage": body.get("threshold_percentage"),
            "peak_throughput_bps": body.get("peak_throughput"),
            **{key: moment.isoformat() if moment else None for key, moment in dates.items()},
        }
    )


def sim_update(
    record: Mapping[str, Any], *, status: str | None = None, label: str | None = None
) -> dict[str, Any]:
    """The body of ``PUT /v1/sims/{iccid}``: the change, with the SIM's other settable
    fields as they are (``imei_lock`` defaults to false when left out)."""
    body: dict[str, Any] = {
        "iccid": record["iccid"],
        "status": status or record["status"],
        "imei_lock": bool(record.get("imei_lock", False)),
    }
    current = label if label is not None else record.get("label")
    if current is not None:
        body["label"] = current
    return body


def label_update(tags: Mapping[str, str | None], remove: Iterable[str]) -> str:
    """The new ``label`` for an ``update_tags`` call ("" clears it)."""
    others = sorted((set(tags) | set(remove)) - {LABEL})
    if others:
        raise InvalidRequestError(
            f"a 1NCE SIM has one tag, {LABEL!r}; cannot set or remove {', '.join(others)}",
            connector=NAME,
        )
    return (tags.get(LABEL) or "") if LABEL in tags else ""


# -- usage, events, products -------------------------------------------------------------


def usage_days(body: Any) -> list[Any]:
    """The daily records of a usage answer ``{"stats": [...]}``."""
    if body is None:
        return []
    if not isinstance(body, Mapping):
        raise TypeError("expected an object with stats")
    return list(body.get("stats") or [])


def to_usage(record: Mapping[str, Any], *, iccid: str, now: datetime) -> list[UsageRecord]:
    """Records of one day of ``GET /v1/sims/{iccid}/usage`` (volumes are MB strings).

    Data ``volume_tx`` is sent by the SIM (mo), but SMS ``volume_rx`` is the MO-SMS count
    and ``volume_tx`` the MT-SMS count, as the spec's ``SmsUsage`` describes them. 1NCE's
    ``cost`` mirrors the volume and carries no price, so it is not kept.
    """
    period = day_period(record["date"], now=now)
    return usage_records(
        record,
        connector=NAME,
        iccid=iccid,
        period=period,
        keep_cost=False,
        directions=ONENCE_DIRECTIONS,
    )


def event_items(body: Any) -> list[Any]:
    """The events of a page: ``{"events": [...]}`` (v1), or a bare list (v2)."""
    if isinstance(body, Mapping):
        return list(body.get("events") or [])
    return list(body or [])


def to_audit_event(record: Mapping[str, Any], *, iccid: str) -> AuditEvent:
    """An event of ``GET /v1/sims/{iccid}/events``, classified by its ``event_type`` text."""
    text = str(record.get("event_type") or "")
    lowered = text.lower()
    kind = next((kind for words, kind in _EVENT_KINDS if words in lowered), AuditKind.OTHER)
    found = _STATUS_TEXT.search(text) if kind is AuditKind.STATUS_CHANGE else None
    old, new = found.groups() if found else (None, None)
    return AuditEvent(
        connector=NAME,
        iccid=iccid,
        occurred_at=parse_time(record["timestamp"]),
        kind=kind,
        field="status" if kind is AuditKind.STATUS_CHANGE else None,
        old_value=old,
        new_value=new,
        description=text or None,
        extra=_compact({key: record.get(key) for key in _EVENT_EXTRA}),
    )


def to_tariff(product: Mapping[str, Any]) -> Tariff:
    """A product of ``GET /v1/products``: its recurring charges are the recurring fee."""
    recurring = [_charge(c) for c in product.get("recurring_charges") or ()]
    one_time = [_charge(c) for c in product.get("one_time_charges") or ()]
    currencies = {charge["currency"] for charge in recurring} - {None}
    if len(currencies) > 1:
        raise ValueError("recurring charges in more than one currency")
    # The spec requires none of a Charge's fields: one without an amount leaves the fee
    # unknown rather than understated.
    known = [Decimal(c["amount"]) for c in recurring if c["amount"] is not None]
    fee = sum(known, Decimal(0)) if len(known) == len(recurring) else None
    currency = next(iter(currencies), None) or next(
        (charge["currency"] for charge in one_time if charge["currency"]), None
    )
    return Tariff(
        connector=NAME,
        id=str(product["id"]),
        name=str(product.get("product") or product["id"]),
        description=product.get("material") or None,
        currency=currency,
        recurring_fee=fee if recurring and currency else None,
        extra=_compact(
            {
                "one_time_charges": one_time,  # type: ignore[dict-item]
                "recurring_charges": recurring,  # type: ignore[dict-item]
                "package_size": product.get("package_size"),
                "min_contract_duration_months": product.get("min_contract_duration"),
                "min_quantity": product.get("minQuantity"),
                "max_quantity": product.get("maxQuantity"),
                "max_quantity_per_customer": product.get("maxQuantityPerCustomer"),
            }
        ),
    )


def _charge(charge: Mapping[str, Any]) -> dict[str, str | None]:
    amount = to_decimal(charge.get("amount_net"))
    return {
        "name": charge.get("name"),
        "amount": None if amount is None else str(amount),
        "currency": charge.get("currency"),
    }


# -- helpers -----------------------------------------------------------------------------


def _bytes(megabytes: Any) -> int:
    return megabytes_to_bytes(megabytes, bytes_per_mb=BYTES_PER_MB)


def _dig(record: Any, *keys: str) -> Any:
    for key in keys:
        # A JSON object is a dict: checked first, before the slower Mapping check.
        if type(record) is not dict and not isinstance(record, Mapping):
            return None
        record = record.get(key)
    return record


def _compact(values: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    return {key: value for key, value in values.items() if value is not None}
