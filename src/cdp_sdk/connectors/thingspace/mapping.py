"""Verizon ThingSpace Connectivity Management payloads -> normalized models.

Pure functions and tables; the evidence for each rule is on the connector's docs page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import JsonValue

from cdp_sdk._tag_rules import TagRules
from cdp_sdk.mapping import Lifecycle, activation_modes, lookup_status, parse_datetime, tag
from cdp_sdk.models import (
    AuditEvent,
    AuditKind,
    Bearer,
    Direction,
    Granularity,
    SimStatus,
    StatusChange,
    Subscription,
    Tag,
    Tariff,
    UsageRecord,
    luhn_check_digit,
    luhn_valid,
    normalize_iccid,
)

__all__ = [
    "ACTIONS",
    "ACTIVATION_MODES",
    "BYTES_PER_KB",
    "CUSTOM_FIELDS",
    "FILTERABLE_STATES",
    "ICCID_DIGITS",
    "STATUS",
    "TAG_RULES",
    "Action",
    "action_for",
    "custom_field_updates",
    "device_ids",
    "device_state",
    "full_iccid",
    "history_items",
    "history_more",
    "request_instant",
    "request_state",
    "sessions",
    "sim_or_none",
    "state_key",
    "to_audit_event",
    "to_status_change",
    "to_subscription",
    "to_tariff",
    "to_usage",
    "usage_instant",
    "vendor_code",
]

NAME = "thingspace"

ICCID_DIGITS = 20
"""Verizon's ICCIDs have 20 digits, the last one the Luhn check digit ("20-digit ICCID")."""
BYTES_PER_KB = 1000
"""``sizeKb`` of a service plan, read as decimal kilobytes (the docs do not say which)."""
CUSTOM_FIELDS: tuple[str, ...] = tuple(f"CustomField{n}" for n in range(1, 6))
"""The five custom-field slots of a device: read as tags, written through customFields."""
CUSTOM_FIELD_MAX = 50
TAG_RULES = TagRules(
    keys=frozenset(CUSTOM_FIELDS),
    values="required",  # a slot holds text; clearing it is a removal
    max_length=CUSTOM_FIELD_MAX,
    allowed=r"[A-Za-z0-9 /@.,:\-_()\[\]]*",
    allowed_text="letters, digits, space and / @ . , : - _ ( ) [ ]",
)
"""What ``update_tags`` can write: the five slots, each with text of at most 50 characters
from alphanumerics, space and / @ . , : - _ ( ) [ ] (GetDeviceList's custom field values)."""

# -- states ------------------------------------------------------------------------------

STATUS: dict[str, SimStatus] = {
    "active": SimStatus.ACTIVE,  # connects, has MDN, IP and plan; billed
    "activate": SimStatus.ACTIVE,  # the SDK's spelling of the same state
    "suspend": SimStatus.SUSPENDED,  # blocked, keeps MDN/IP/plan, back to active at most 90 days on
    "deactive": SimStatus.DEACTIVATED,  # no MDN, IP or plan: service off, not billed
    "pre-active": SimStatus.INVENTORY,  # added to the account, never activated
    "preactive": SimStatus.INVENTORY,  # the spelling of /devices/actions/add
    "pending activation": SimStatus.INVENTORY,  # not usable until Verizon confirms
    "pending preactive": SimStatus.INVENTORY,
    "pending deactivation": SimStatus.ACTIVE,  # in service until the network confirms
    "pending suspend": SimStatus.ACTIVE,
    "pending resume": SimStatus.SUSPENDED,  # blocked until the restore is confirmed
    "pending service plan change": SimStatus.ACTIVE,  # plan changes need a line in service
    "pending mdn change": SimStatus.ACTIVE,  # an MDN change needs an active line
    "pending esn / meid change": SimStatus.ACTIVE,  # device changes need an active line
    "pending prl update": SimStatus.ACTIVE,  # PRL updates go to lines in service
}
"""Vendor state (lower case, single spaces) -> normalized status. ``pending account
update`` and ``pending Cost Center Codes change`` say nothing about service: ``unknown``."""

# name: (description, billable, auto_activates, settable, next states)
_LIFECYCLE: dict[str, Lifecycle] = {
    "active": (
        "In service: connects, has an MDN/MSISDN, an IP address and a service plan",
        True,
        False,
        True,
        ("deactive", "suspend"),
    ),
    "suspend": (
        "Service suspended: cannot connect, keeps MDN, IP and plan; returns to active after "
        "the contract's maximum (90 days in a row); billing depends on the request",
        None,
        False,
        True,
        ("active",),
    ),
    "deactive": (
        "Service deactivated: no MDN, IP address or service plan; can be activated again",
        False,
        False,
        True,
        ("active",),
    ),
    "pre-active": (
        "Added to the account without service (ThingSpace only); can only be activated",
        False,
        False,
        False,
        ("active",),
    ),
    "pending activation": ("Activation requested, not yet confirmed", None, False, False, ()),
    "pending deactivation": ("Deactivation requested, still in service", True, False, False, ()),
    "pending suspend": ("Suspension requested, still in service", True, False, False, ()),
    "pending resume": ("Restore requested, still suspended", None, False, False, ()),
    "pending preactive": ("Being added to the account", False, False, False, ()),
}

ACTIVATION_MODES = activation_modes(NAME, STATUS, _LIFECYCLE)

Action = Literal["activate", "restore", "suspend", "deactivate"]

ACTIONS: dict[tuple[str, SimStatus], Action] = {
    ("suspend", SimStatus.ACTIVE): "restore",
    ("deactive", SimStatus.ACTIVE): "activate",
    ("pre-active", SimStatus.ACTIVE): "activate",
    ("active", SimStatus.SUSPENDED): "suspend",
    ("active", SimStatus.DEACTIVATED): "deactivate",
}
"""(current vendor state, requested status) -> the action endpoint that makes that move;
the pairs are the valid next states of Verizon's state table."""

SETTABLE: frozenset[SimStatus] = frozenset(status for _, status in ACTIONS)

FILTERABLE_STATES: tuple[str, ...] = ("active", "suspend", "deactive", "pre-active")
"""The states a device list may ask for by ``currentState``: those whose REST spelling the
docs show. A status that also stands for a transitional ``pending ...`` state (spelled
only in the legacy state list) is filtered after a full listing instead."""


def state_key(raw: str) -> str:
    """A vendor state as the tables key it: lower case, single spaces, ``pre-active``."""
    key = " ".join(raw.split()).lower()
    return "pre-active" if key == "preactive" else key


def action_for(state: str, requested: SimStatus) -> Action | None:
    """The action that moves a device in vendor ``state`` to ``requested``, if any."""
    return ACTIONS.get((state_key(state), requested))


def device_state(record: Mapping[str, Any]) -> str:
    """The state of a device: the first ``carrierInformations[].state`` given."""
    for carrier in _list(record.get("carrierInformations"), "carrierInformations"):
        if isinstance(carrier, Mapping):
            state = carrier.get("state")
            if isinstance(state, str) and state.strip():
                return state.strip()
    raise ValueError("carrierInformations: no state")


# -- identifiers -----------------------------------------------------------------------


def full_iccid(value: str) -> str:
    """The full ICCID with its Luhn check digit.

    A 20-digit value is Verizon's full form and is kept; a 19-digit value is the same
    ICCID without its check digit, which is computed and appended. A shorter one keeps a
    valid check digit, or gets one.

    Raises:
        ValueError: not 18 to 22 digits.
    """
    iccid = normalize_iccid(value)
    if len(iccid) == ICCID_DIGITS - 1 or (len(iccid) < ICCID_DIGITS and not luhn_valid(iccid)):
        return iccid + str(luhn_check_digit(iccid))
    return iccid


def device_ids(record: Mapping[str, Any]) -> dict[str, str]:
    """``deviceIds[{id, kind}]`` as ``{kind (lower case): id}``; the first of a kind wins."""
    found: dict[str, str] = {}
    for entry in _list(record.get("deviceIds"), "deviceIds"):
        if not isinstance(entry, Mapping):
            raise TypeError("deviceIds: expected objects")
        kind, value = entry.get("kind"), entry.get("id")
        if isinstance(kind, str) and isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value).strip()
            if text:
                found.setdefault(kind.strip().lower(), text)
    return found


# -- subscriptions ------------------------------------------------------------------------

_DEVICE_EXTRA = (
    "billingCycleEndDate",
    "connected",
    "lastConnectionDate",
    "lastActivationBy",
)


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    """A device of ``POST /devices/actions/list`` as a subscription."""
    sim = sim_or_none(record)
    if sim is None:
        raise ValueError("deviceIds: no iccid")
    return sim


def sim_or_none(record: Mapping[str, Any]) -> Subscription | None:
    """A device as a subscription; ``None`` for a device without an ICCID (an ESN/MEID
    device is not a SIM). Its ``deviceIds`` are read once."""
    ids = device_ids(record)
    if "iccid" not in ids:
        return None
    iccid = full_iccid(ids["iccid"])
    raw_state = device_state(record)
    status, _ = lookup_status(STATUS, state_key(raw_state))
    carrier = _first_carrier(record)
    extra: dict[str, JsonValue] = {
        key: record[key] for key in _DEVICE_EXTRA if record.get(key) is not None
    }
    for kind in ("mdn", "meid", "esn"):
        if kind in ids:
            extra[kind] = ids[kind]
    if carrier.get("carrierName"):
        extra["carrierName"] = str(carrier["carrierName"])
    groups: list[JsonValue] = [
        str(name) for name in _list(record.get("groupNames"), "groupNames") if name
    ]
    if groups:
        extra["groupNames"] = groups
    attributes = _pairs(record.get("extendedAttributes"), "extendedAttributes")
    if attributes:
        extra["extendedAttributes"] = dict(attributes)
    tags, others = _custom_fields(record.get("customFields"))
    if others:
        extra["customFields"] = others
    return Subscription(
        connector=NAME,
        account=_text(record.get("accountName")),
        id=iccid,
        iccid=iccid,
        imsi=ids.get("imsi"),
        msisdn=_msisdn(ids),
        imei=ids.get("imei"),
        eid=ids.get("eid"),
        status=status,
        status_raw=raw_state,
        tariff=_text(carrier.get("servicePlan")),
        created_at=_instant(record.get("createdAt")),
        activated_at=_instant(record.get("lastActivationDate")),
        ip_address=_ip_address(record.get("ipAddress")),
        tags=tags,
        extra=extra,
    )


def _msisdn(ids: Mapping[str, str]) -> str | None:
    """The MSISDN; else the 10-digit MDN with the North American country code 1."""
    if "msisdn" in ids:
        return ids["msisdn"]
    mdn = ids.get("mdn")
    if mdn is not None and len(mdn) == 10 and mdn.isdigit():
        return "1" + mdn
    return None


def _ip_address(value: Any) -> str | None:
    text = _text(value)
    # 0.0.0.0: Verizon's "no address assigned" (a value compared, nothing is bound to it).
    return None if text in {None, "0.0.0.0"} else text  # nosec B104


def _first_carrier(record: Mapping[str, Any]) -> Mapping[str, Any]:
    for carrier in _list(record.get("carrierInformations"), "carrierInformations"):
        if isinstance(carrier, Mapping):
            return carrier
    return {}


def _custom_fields(value: Any) -> tuple[tuple[Tag, ...], dict[str, JsonValue]]:
    """Non-empty slots as tags (in slot order); keys that are not slots, kept apart."""
    slots: dict[str, str] = {}
    others: dict[str, JsonValue] = {}
    for key, text in _pairs(value, "customFields"):
        slot = _slot(key)
        if slot is None:
            others[key] = text
        elif text:
            slots.setdefault(slot, text)
    tags = tuple(tag(slot, slots[slot]) for slot in CUSTOM_FIELDS if slot in slots)
    return tags, others


_SLOTS = {slot.casefold(): slot for slot in CUSTOM_FIELDS}


def _slot(key: str) -> str | None:
    """``CustomField1``..``CustomField5`` whatever the case, else ``None``."""
    return _SLOTS.get(key.strip().casefold())


def custom_field_updates(
    tags: Mapping[str, str | None], remove: Iterable[str]
) -> list[dict[str, str]]:
    """The ``customFieldsToUpdate`` list that sets ``tags`` and clears the slots in
    ``remove`` (an empty value).

    Raises:
        ValueError: a key is not ``CustomField1``..``CustomField5``, a value is missing,
            longer than 50 characters, or holds a character Verizon does not allow.
    """
    removed = tuple(remove)
    problems = TAG_RULES.problems(tags, removed)
    if problems:
        raise ValueError("; ".join(problems))
    updates = [{"key": key, "value": str(value)} for key, value in tags.items()]
    return updates + [{"key": key, "value": ""} for key in removed]


# -- status changes ----------------------------------------------------------------------


def to_status_change(iccid: str, requested: SimStatus, body: Any) -> StatusChange:
    """The answer of an action endpoint: ``{"requestId"}``, processed later by Verizon."""
    if not isinstance(body, Mapping):
        raise TypeError("expected an object with requestId")
    request_id = _text(body.get("requestId"))
    if request_id is None:
        raise ValueError("missing requestId")
    return StatusChange(
        connector=NAME, iccid=iccid, requested=requested, state="pending", request_id=request_id
    )


def request_state(body: Any) -> Literal["pending", "done", "failed"]:
    """The status of an asynchronous request: ``Pending``, ``Success``, ``Failed``
    (``Failure`` in the SDK's enum)."""
    if not isinstance(body, Mapping):
        raise TypeError("expected an object with status")
    status = _text(body.get("status"))
    states: dict[str, Literal["pending", "done", "failed"]] = {
        "pending": "pending",
        "success": "done",
        "failed": "failed",
        "failure": "failed",
    }
    if status is None or status.lower() not in states:
        raise ValueError("unknown request status")
    return states[status.lower()]


# -- tariffs ------------------------------------------------------------------------------


def to_tariff(record: Mapping[str, Any]) -> Tariff:
    """A service plan of ``GET /plans/{accountName}``; activation takes its ``code``.

    ``sizeKb`` of 0 (as in Verizon's own example of a 5 GB plan) says nothing about the
    allowance: it becomes ``None`` and stays in ``extra``.
    """
    code = _text(record.get("code")) or _text(record.get("name"))
    if code is None:
        raise ValueError("code: missing")
    size = record.get("sizeKb")
    included = None
    if size is not None:
        kilobytes = _count(size, "sizeKb")
        included = kilobytes * BYTES_PER_KB if kilobytes else None
    extra: dict[str, JsonValue] = {}
    for key in ("carrierServicePlanCode", "sizeKb"):
        if record.get(key) is not None:
            extra[key] = record[key]
    attributes = _pairs(record.get("extendedAttributes"), "extendedAttributes")
    if attributes:
        extra["extendedAttributes"] = dict(attributes)
    return Tariff(
        connector=NAME,
        id=code,
        name=_text(record.get("name")) or code,
        included_data_bytes=included,
        extra=extra,
    )


# -- usage --------------------------------------------------------------------------------


def to_usage(iccid: str, record: Mapping[str, Any], *, now: datetime) -> list[UsageRecord]:
    """A day of ``POST /devices/usage/actions/list`` as data and SMS records.

    Both documented shapes are read: ``timestamp`` with ``extendedAttributes``
    ``MoSms``/``MtSms``, and ``eventDateTime`` with ``moSMS``/``mtSMS``. Data is the total
    sent and received; SMS is split by direction when both directions are given, else
    the ``smsUsed`` total.
    """
    moment = usage_instant(record)
    start = moment
    end = start + timedelta(days=1)
    extra: dict[str, JsonValue] = {}
    for key in ("source", "servicePlan", "serviceplan"):
        if record.get(key) is not None:
            extra["servicePlan" if key == "serviceplan" else key] = record[key]
    common: dict[str, Any] = {
        "connector": NAME,
        "iccid": iccid,
        "start": start,
        "end": end,
        "granularity": Granularity.DAY,
        "final": end <= now,
        "extra": extra,
    }
    records = []
    if record.get("bytesUsed") is not None:
        records.append(
            UsageRecord(
                bearer=Bearer.DATA, quantity=_count(record["bytesUsed"], "bytesUsed"), **common
            )
        )
    attributes = {
        key.casefold(): text
        for key, text in _pairs(record.get("extendedAttributes"), "extendedAttributes")
    }
    mo = record.get("moSMS", attributes.get("mosms"))
    mt = record.get("mtSMS", attributes.get("mtsms"))
    if mo is not None and mt is not None:
        for direction, value in ((Direction.MO, mo), (Direction.MT, mt)):
            records.append(
                UsageRecord(
                    bearer=Bearer.SMS, direction=direction, quantity=_count(value, "sms"), **common
                )
            )
    elif record.get("smsUsed") is not None:
        records.append(
            UsageRecord(bearer=Bearer.SMS, quantity=_count(record["smsUsed"], "smsUsed"), **common)
        )
    return records


def usage_instant(record: Mapping[str, Any]) -> datetime:
    """The day of a usage record: ``timestamp``, else ``eventDateTime`` (ISO 8601, or
    ``08/15/2021 00:00:00`` as one SDK example writes it; UTC unless an offset is given)."""
    value = record.get("timestamp", record.get("eventDateTime"))
    if isinstance(value, str) and "/" in value:  # "08/15/2021 00:00:00" (UTC)
        return datetime.strptime(value.strip(), "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
    moment = parse_datetime(value, assume_utc=True)
    if moment is None:
        raise ValueError("timestamp: missing")
    return moment


def sessions(
    iccid: str, events: Sequence[Mapping[str, Any]], *, open_start: datetime | None
) -> tuple[list[UsageRecord], datetime | None]:
    """Data sessions from connection events (oldest first): a ``Start`` opens a session,
    the next ``Stop`` closes it with its ``BytesUsed``.

    ``open_start`` is a session opened on an earlier page; the returned instant is the one
    left open at the end of these events (an ongoing session gives no record yet). A
    ``Stop`` without a ``Start`` in the window gives a record without ``start``.
    """
    records = []
    for event in events:
        moment = _required_instant(event.get("occurredAt"), "occurredAt")
        attributes = {
            key.casefold(): text
            for key, text in _pairs(event.get("connectionEventAttributes"), "attributes")
        }
        kind = attributes.get("event", "").casefold()
        if kind == "start":
            open_start = moment
        elif kind == "stop":
            records.append(
                UsageRecord(
                    connector=NAME,
                    iccid=iccid,
                    bearer=Bearer.DATA,
                    quantity=_count(attributes.get("bytesused", 0), "BytesUsed"),
                    start=open_start,
                    end=moment,
                    granularity=Granularity.SESSION,
                    final=True,
                )
            )
            open_start = None
    return records, open_start


# -- audit --------------------------------------------------------------------------------

_STATUS_EVENT = re.compile(r"activat|suspen|restor|resum|deactivat", re.IGNORECASE)
_PLAN_EVENT = re.compile(r"plan", re.IGNORECASE)


def to_audit_event(iccid: str, record: Mapping[str, Any]) -> AuditEvent:
    """A provisioning history entry: activations, suspensions, restores and
    deactivations are status changes, plan changes tariff changes, the rest ``other``."""
    event_type = _text(record.get("eventType"))
    status = _text(record.get("status"))
    if event_type is None:
        kind = AuditKind.OTHER
    elif _STATUS_EVENT.search(event_type):
        kind = AuditKind.STATUS_CHANGE
    elif _PLAN_EVENT.search(event_type):
        kind = AuditKind.TARIFF_CHANGE
    else:
        kind = AuditKind.OTHER
    extra: dict[str, JsonValue] = {}
    if status is not None:
        extra["status"] = status
    if record.get("servicePlan") is not None:
        extra["servicePlan"] = record["servicePlan"]
    attributes = _pairs(record.get("extendedAttributes"), "extendedAttributes")
    if attributes:
        extra["extendedAttributes"] = dict(attributes)
    return AuditEvent(
        connector=NAME,
        iccid=iccid,
        occurred_at=_required_instant(record.get("occurredAt"), "occurredAt"),
        kind=kind,
        field="state" if kind is AuditKind.STATUS_CHANGE else None,
        new_value=event_type,
        actor=_text(record.get("eventBy")),
        description=" - ".join(part for part in (event_type, status) if part) or None,
        extra=extra,
    )


def history_items(body: Any) -> list[Any]:
    """The entries of a provisioning history answer: an object, or (as the SDK documents
    it) a list of such objects."""
    items: list[Any] = []
    for part in _history_parts(body):
        items.extend(_list(part.get("provisioningHistory"), "provisioningHistory"))
    return items


def history_more(body: Any) -> bool:
    """``hasMoreData`` of a provisioning history answer, in either shape."""
    return any(part.get("hasMoreData") is True for part in _history_parts(body))


def _history_parts(body: Any) -> Iterator[Mapping[str, Any]]:
    parts = body if isinstance(body, list) else [body]
    for part in parts:
        if not isinstance(part, Mapping) or "provisioningHistory" not in part:
            raise ValueError("expected provisioningHistory")
        yield part


# -- requests and errors -----------------------------------------------------------------


def request_instant(moment: datetime) -> str:
    """A request date-time as Verizon documents it: ``2024-05-01T00:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def vendor_code(code: str) -> str:
    """An error code without its service prefix: ``UnifiedWebService.REQUEST_FAILED.
    AccountNotFound`` -> ``REQUEST_FAILED.AccountNotFound``. A code that starts with its
    category (``REQUEST_FAILED``, ``INPUT_INVALID``) or has no dot is kept."""
    service, dot, rest = code.strip().partition(".")
    if not dot or not rest or service.isupper():
        return code.strip()
    return rest


# -- helpers ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a count, got a boolean")
    number = float(str(value).strip()) if isinstance(value, str) else float(value)
    if not number.is_integer() or number < 0:
        raise ValueError(f"{name}: expected a whole, non-negative count")
    return int(number)


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{name}: expected a list")
    return value


def _pairs(value: Any, name: str) -> list[tuple[str, str]]:
    """``[{key, value}]`` as ``(key, value)`` pairs; null values become ``""``."""
    pairs = []
    for entry in _list(value, name):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str):
            raise TypeError(f"{name}: expected {{key, value}} objects")
        text = entry.get("value")
        pairs.append((entry["key"], "" if text is None else str(text).strip()))
    return pairs


def _instant(value: Any) -> datetime | None:
    """A response date-time: ISO 8601 with an offset, else UTC as Verizon documents."""
    return parse_datetime(value, assume_utc=True)


def _required_instant(value: Any, name: str) -> datetime:
    moment = _instant(value)
    if moment is None:
        raise ValueError(f"{name}: missing")
    return moment
