"""Hologram REST API (``/api/1``) payloads -> normalized models (pure functions and tables).

Field names follow Hologram's API Blueprint (``hologram-io/rest-api-docs``, ``apiary.apib``)
and its newer reference pages on docs.hologram.io where they add fields. Every answer is an
envelope ``{"success", "data", "limit", "size", "continues", "links"}``; times are naive
UTC text (``2019-10-15 17:41:38``); volumes are bytes; prices are decimal strings in USD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import JsonValue

from cdp_sdk.errors import UnexpectedResponseError
from cdp_sdk.http import VendorError
from cdp_sdk.mapping import (
    Lifecycle,
    activation_modes,
    lookup_status,
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
    SimStatus,
    StatusChange,
    Subscription,
    Tag,
    Tariff,
    UsageRecord,
    luhn_check_digit,
    luhn_valid,
)

__all__ = [
    "ACTIONS",
    "ACTIVATION_MODES",
    "CURRENCY",
    "SETTLED_STATE",
    "STATUS",
    "answer_data",
    "device_tags",
    "find_link",
    "full_iccid",
    "iccid_candidates",
    "link_id",
    "month_span",
    "page_items",
    "parse_error",
    "parse_time",
    "period_start",
    "record_id",
    "single_page_items",
    "sms_event",
    "tag_holds",
    "tags_by_name",
    "tariff_id",
    "to_audit_event",
    "to_daily_usage",
    "to_monthly_usage",
    "to_session_usage",
    "to_sms_usage",
    "to_status_change",
    "to_subscription",
    "to_tariffs",
]

NAME = "hologram"
CURRENCY = "USD"
"""Hologram bills in US dollars (balance history amounts such as ``"$2.13"``)."""

T = TypeVar("T")

# -- lifecycle ---------------------------------------------------------------------------

STATUS: dict[str, SimStatus] = {
    "INACTIVE": SimStatus.INVENTORY,  # the state before a claim (activation): not usable
    "LIVE": SimStatus.ACTIVE,  # activated, passes data, the monthly fee applies
    "ACTIVE": SimStatus.ACTIVE,  # one version of the SIM states article names LIVE so
    "LIVE-PENDING": SimStatus.ACTIVE,  # activation or resume accepted, still propagating
    "PAUSED": SimStatus.SUSPENDED,  # the Blueprint's generic paused state
    "PAUSED-USER": SimStatus.SUSPENDED,  # paused by a user: resumable, monthly fees apply
    "PAUSED-PENDING-USER": SimStatus.SUSPENDED,  # a user's pause, still propagating
    "PAUSED-SYS": SimStatus.SUSPENDED,  # paused by Hologram: resumes once the cause is fixed
    "PAUSED-BY-SYS": SimStatus.SUSPENDED,  # the spelling of one troubleshooting page
    "PAUSED-PENDING-SYS": SimStatus.SUSPENDED,  # a system pause, still propagating
    "DEAD": SimStatus.RETIRED,  # deactivated: permanent, cannot be reactivated, not billed
    "DEAD-PENDING": SimStatus.RETIRED,  # a deactivation, still propagating
}

ACTIONS: dict[SimStatus, str] = {
    SimStatus.ACTIVE: "live",
    SimStatus.SUSPENDED: "pause",
    SimStatus.RETIRED: "deactivate",
}
"""The ``state`` sent to ``POST /api/1/devices/{deviceid}/state`` for each status."""

SETTLED_STATE: dict[str, str] = {"live": "LIVE", "pause": "PAUSED-USER", "deactivate": "DEAD"}
"""The link state once an action has reached the network (before that: a pending state)."""

_FROM_LIVE = ("PAUSED-USER", "DEAD")
_FROM_PAUSED = ("LIVE", "DEAD")

# name: (description, billable, auto_activates, settable, next states)
_LIFECYCLE: dict[str, Lifecycle] = {
    "INACTIVE": ("Not activated yet (the state before a claim)", False, False, False, ()),
    "LIVE": ("Activated; passes data; the monthly fee applies", True, False, True, _FROM_LIVE),
    "ACTIVE": (
        "LIVE, as one version of the SIM states article names it",
        True,
        False,
        False,
        _FROM_LIVE,
    ),
    "LIVE-PENDING": ("Activation or resume accepted, reaching the network", True, False, False, ()),
    "PAUSED": ("Paused (the Blueprint's generic state)", True, False, False, _FROM_PAUSED),
    "PAUSED-USER": (
        "Paused by a user: no data or SMS; monthly fees still apply",
        True,
        False,
        True,
        _FROM_PAUSED,
    ),
    "PAUSED-PENDING-USER": ("A pause accepted, reaching the network", True, False, False, ()),
    "PAUSED-SYS": (
        "Paused by Hologram (balance, data or SMS limit); resumes once the cause is fixed",
        True,
        False,
        False,
        ("DEAD",),
    ),
    "PAUSED-BY-SYS": (
        "PAUSED-SYS, as one troubleshooting page spells it",
        True,
        False,
        False,
        ("DEAD",),
    ),
    "PAUSED-PENDING-SYS": ("A system pause, reaching the network", True, False, False, ()),
    "DEAD": ("Deactivated for good: cannot be reactivated; not billed", False, False, True, ()),
    "DEAD-PENDING": ("A deactivation, reaching the network", None, False, False, ()),
}

ACTIVATION_MODES = activation_modes(NAME, STATUS, _LIFECYCLE)

# Link fields kept in ``extra`` as they are (never ``pin`` or ``puk``: they are secrets).
_LINK_EXTRAS = (
    "deviceid",
    "carrier",
    "carrierid",
    "apn",
    "euicc_type",
    "profile_state",
    "euicc_state",
    "sim_attribute",
    "tunnelable",
    "overagelimit",
    "datathreshold",
    "data_threshold",
    "smslimit",
    "whenexpires",
    "last_network_used",
    "last_connect_time",
    "cur_billing_data_used",
    "last_billing_data_used",
    "dataplansubscriptionid",
    "simcardid",
)
_DEVICE_EXTRAS = ("type", "model", "manufacturer", "imei_sv", "phonenumber", "is_hyper")
_NO_IMEI = frozenset({"", "0" * 15, "0" * 16})
_EMPTY_TIME = "0000-00-00 00:00:00"

# -- envelopes and errors ----------------------------------------------------------------


def page_items(body: Any) -> Sequence[Any]:
    """The records of one page of a listing: the envelope's ``data`` list.

    A page that says more follow (``continues``) while holding no record gives no id to
    start after: the listing cannot go on, and must not end short, so it raises.
    """
    data = answer_data(body)
    if data is None:
        data = []
    if not isinstance(data, list):
        raise UnexpectedResponseError("the answer's data is not a list", connector=NAME)
    if not data and _truthy(body.get("continues")):
        raise UnexpectedResponseError(
            "an empty page says more records follow (continues) and names none to start "
            "after; refusing to end the listing short",
            connector=NAME,
        )
    return data


def single_page_items(body: Any) -> Sequence[Any]:
    """The records of an endpoint without a cursor: complete unless it says it continues."""
    items = page_items(body)
    if _truthy(body.get("continues")):
        raise UnexpectedResponseError(
            "the answer says more records follow, but this endpoint takes no cursor to "
            "fetch them; refusing a short list",
            connector=NAME,
        )
    return items


def answer_data(body: Any) -> Any:
    """The ``data`` of a successful envelope; a ``success: false`` answer raises."""
    if not isinstance(body, Mapping):
        raise UnexpectedResponseError("the answer is not a JSON object", connector=NAME)
    if body.get("success") is False:
        error = body.get("error")
        raise UnexpectedResponseError(
            f"the platform answered success=false ({error if isinstance(error, str) else ''})",
            connector=NAME,
        )
    return body.get("data")


def parse_error(body: Any) -> VendorError:
    """The message of ``{"success": false, "error": "..."}``; Hologram sends no code."""
    if not isinstance(body, Mapping):
        return VendorError()
    error = body.get("error")
    if isinstance(error, str) and error:
        return VendorError(message=error)
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("error")
        return VendorError(message=str(message) if message else None)
    return VendorError()


def record_id(record: Any) -> Any:
    """The cursor of a usage record: ``record_id`` (an SMS record of the newer reference
    carries ``id`` instead)."""
    value = record.get("record_id") if isinstance(record, Mapping) else None
    return _cursor(record, "id") if value is None else value


def link_id(record: Any) -> Any:
    """The cursor of a link, device or plan: its ``id``."""
    return _cursor(record, "id")


def _cursor(record: Any, field: str) -> Any:
    value = record.get(field) if isinstance(record, Mapping) else None
    if value is None or isinstance(value, bool):
        raise UnexpectedResponseError(
            f"the last record of a page has no {field} to start the next page after",
            connector=NAME,
        )
    return value


def parse_time(value: Any) -> datetime | None:
    """A naive UTC ``YYYY-MM-DD HH:MM:SS`` as aware UTC; the all-zero time is ``None``."""
    if value is None or value == "" or value == _EMPTY_TIME:
        return None
    return parse_datetime(value, assume_utc=True)


# -- identifiers -------------------------------------------------------------------------


def full_iccid(value: Any) -> str:
    """The ICCID with its Luhn check digit.

    The docs show ``sim`` values of 19 and 20 digits without saying whether the check
    digit is included, and Hologram's ICCIDs have 19 or 20 digits in all. So a value of
    18 digits or fewer lacks it, and a 19-digit value lacks it unless its last digit is
    its check digit: both get it appended. A value of 20 digits or more is complete.
    """
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not text.isdigit() or not 17 <= len(text) <= 22:
        raise ValueError("sim is not an ICCID of 17 to 22 digits")
    if len(text) >= 20 or (len(text) == 19 and luhn_valid(text)):
        return text
    return text + str(luhn_check_digit(text))


def iccid_candidates(iccid: str) -> tuple[str, ...]:
    """The ``sim`` values that may hold the SIM a user names by ``iccid`` (with or
    without its check digit): as given, without its check digit, with one appended."""
    forms = [iccid]
    if luhn_valid(iccid):
        forms.append(iccid[:-1])
    forms.extend(_completed(iccid))
    return tuple(dict.fromkeys(forms))


def find_link(iccid: str, links: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The link of ``iccid`` in a ``sims=`` answer: the one whose full ICCID is ``iccid``,
    else the one whose full ICCID is ``iccid`` with its check digit appended."""
    found: dict[str, Mapping[str, Any]] = {}
    for link in links:
        try:
            found.setdefault(full_iccid(link.get("sim")), link)
        except ValueError:
            continue
    return next((found[form] for form in (iccid, *_completed(iccid)) if form in found), None)


def _completed(iccid: str) -> tuple[str, ...]:
    """``iccid`` with a check digit appended, where it may lack one (19 digits or fewer)."""
    return (iccid + str(luhn_check_digit(iccid)),) if len(iccid) <= 19 else ()


# -- subscriptions -----------------------------------------------------------------------


def to_subscription(link: Mapping[str, Any], device: Mapping[str, Any] | None) -> Subscription:
    """A cellular link (one SIM profile) with its device.

    The device gives the IMEI, name and tags, and its own view of the link
    (``links.cellular[]``) the plan and the usage counters, which the link listing lacks;
    where both carry a field, the link's value wins.
    """
    device = device or {}
    profile = _device_link(device, link.get("id"))

    def field(name: str) -> Any:
        value = link.get(name)
        return profile.get(name) if value is None else value

    status, raw = lookup_status(STATUS, field("state"))
    plan = field("plan")
    plan = plan if isinstance(plan, Mapping) else {}
    zone = _zone(plan, link)
    extra: dict[str, JsonValue] = {
        key: value for key in _LINK_EXTRAS if (value := field(key)) is not None
    }
    extra |= {key: device[key] for key in _DEVICE_EXTRAS if device.get(key) not in (None, "")}
    extra |= _present(
        device_name=device.get("name") or link.get("devicename"),
        plan_id=plan.get("id"),
        plan_name=plan.get("name"),
        plan_data_bytes=plan.get("data"),
        zone=zone,
        account_tier=plan.get("account_tier"),
        pending=True if "PENDING" in raw else None,
    )
    orgid = link.get("orgid")
    return Subscription.model_validate(
        {
            "connector": NAME,
            "account": _text(device.get("orgid") if orgid is None else orgid),
            "id": str(link["id"]),
            "iccid": full_iccid(link["sim"]),
            "imsi": _text(field("imsi")) or None,
            "msisdn": _text(field("msisdn")) or None,
            "imei": _imei(device.get("imei")),
            "eid": _text(field("eid")) or None,
            "status": status,
            "status_raw": raw,
            "tariff": tariff_id(plan.get("id"), zone),
            "created_at": parse_time(field("whencreated")),
            "activated_at": parse_time(field("whenclaimed")),
            "ip_address": _text(link.get("priv_ip_address")) or None,
            "tags": device_tags(device),
            "extra": extra,
        }
    )


def device_tags(device: Mapping[str, Any]) -> tuple[Tag, ...]:
    """A device's tags as keys without values: the Blueprint lists ``{id, name}`` objects,
    the newer reference plain names; both are read."""
    seen: dict[str, Tag] = {}
    for item in device.get("tags") or ():
        name = item.get("name") if isinstance(item, Mapping) else item
        if isinstance(name, str) and name.strip() and name.strip() not in seen:
            seen[name.strip()] = tag(name.strip())
    return tuple(seen.values())


def tags_by_name(tags: Iterable[Any]) -> dict[str, Mapping[str, Any]]:
    """The organization's device tags by name (of two with one name, the lowest id)."""
    named = [t for t in tags if isinstance(t, Mapping) and isinstance(t.get("name"), str)]
    found: dict[str, Mapping[str, Any]] = {}
    for item in sorted(named, key=lambda t: _id_order(t.get("id"))):
        found.setdefault(item["name"].strip(), item)
    return found


def tag_holds(tag: Mapping[str, Any], deviceid: Any) -> bool | None:
    """Whether a tag is on the device (``None`` when the answer omits ``deviceids``)."""
    ids = tag.get("deviceids")
    if not isinstance(ids, list):
        return None
    return str(deviceid) in {str(item) for item in ids}


def tariff_id(plan_id: Any, zone: str | None) -> str | None:
    """The id of the tariff a SIM is on: its plan id and price zone (``"41:global"``)."""
    if plan_id is None:
        return None
    return f"{plan_id}:{zone}" if zone else str(plan_id)


def to_status_change(
    iccid: str, requested: SimStatus, action: str, linkid: Any, body: Any
) -> StatusChange:
    """The outcome of a state change. The change propagates to the network after the
    answer (pending states, async change requests): ``done`` only when the answer shows
    the SIM's link settled in the target state, else ``pending``."""
    data = answer_data(body)
    state = _link_state(data, linkid)
    settled = state == SETTLED_STATE[action]
    return StatusChange(
        connector=NAME,
        iccid=iccid,
        requested=requested,
        state="done" if settled else "pending",
        extra=_present(action=action, state=state),
    )


def _link_state(device: Any, linkid: Any) -> str | None:
    """The state of link ``linkid`` in a device answer (``links.cellular[]``), if any."""
    if not isinstance(device, Mapping):
        return None
    state = _device_link(device, linkid).get("state")
    return state if isinstance(state, str) else None


def _device_link(device: Mapping[str, Any], linkid: Any) -> Mapping[str, Any]:
    """The device's entry for link ``linkid`` (``links.cellular[]``); empty if none."""
    links = device.get("links")
    cellular = links.get("cellular") if isinstance(links, Mapping) else None
    if not isinstance(cellular, list) or linkid is None:
        return {}
    for entry in cellular:
        if isinstance(entry, Mapping) and str(entry.get("id")) == str(linkid):
            return entry
    return {}


# -- tariffs -----------------------------------------------------------------------------


def to_tariffs(plan: Mapping[str, Any]) -> list[Tariff]:
    """One tariff per price zone of a plan: the monthly fee of its base tier (the one
    needing the fewest devices); every tier's prices for that zone stay in ``extra``."""
    plan_id = plan["id"]
    tiers = plan.get("tiers") or {}
    if not isinstance(tiers, Mapping):
        raise TypeError("tiers is not an object")
    ordered = sorted(tiers.items(), key=lambda item: (_devicecount(item[1]), item[0]))
    zones: dict[str, dict[str, Any]] = {}
    for tier_name, tier in ordered:
        for zone, price in (tier.get("zones") or {}).items():
            zones.setdefault(str(zone), {})[str(tier_name)] = {
                "devicecount": _devicecount(tier),
                "amount": _text(price.get("amount")),
                "sms": _text(price.get("sms")),
                "overage": _text(price.get("overage")),
            }
    common: dict[str, JsonValue] = _present(
        plan_id=plan_id,
        recurring=_flag(plan.get("recurring")),
        enabled=_flag(plan.get("enabled")),
        developerplan=_flag(plan.get("developerplan")),
        billing_period_days=_days(plan.get("billingperiod")),
        groupid=plan.get("groupid"),
    )
    name = str(plan.get("name") or plan_id)
    data = _bytes(plan.get("data"))
    if not zones:
        return [
            Tariff(
                connector=NAME,
                id=str(plan_id),
                name=name,
                description=plan.get("description") or None,
                included_data_bytes=data,
                extra=common,
            )
        ]
    tariffs = []
    for zone, prices in zones.items():
        base = next(iter(prices.values()))
        tariffs.append(
            Tariff(
                connector=NAME,
                id=f"{plan_id}:{zone}",
                name=f"{name} ({zone})",
                description=plan.get("description") or None,
                currency=CURRENCY,
                recurring_fee=_money(base["amount"]),
                included_data_bytes=data,
                extra=common
                | _present(
                    zone=zone,
                    sms_price=base["sms"],
                    overage_per_mb=base["overage"],
                    tiers=prices,
                ),
            )
        )
    return tariffs


# -- usage -------------------------------------------------------------------------------


def to_daily_usage(iccid: str | None, row: Mapping[str, Any], *, now: datetime) -> UsageRecord:
    """A ``/usage/data/daily`` row: the bytes (both directions) of one UTC day."""
    day = date.fromisoformat(str(row["date"]).strip()[:10])
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    return _data_record(iccid, row, start, end, Granularity.DAY, now=now)


def to_monthly_usage(iccid: str | None, row: Mapping[str, Any], *, now: datetime) -> UsageRecord:
    """A ``/usage/data/monthly`` row: the bytes of one calendar month."""
    start, end = month_span(int(row["year"]), int(row["month"]))
    return _data_record(iccid, row, start, end, Granularity.MONTH, now=now)


def to_session_usage(iccid: str | None, row: Mapping[str, Any], *, now: datetime) -> UsageRecord:
    """A ``/usage/data`` row: one data session, from ``session_begin`` to ``timestamp``
    (its end; an open session has none)."""
    start = parse_time(row["session_begin"])
    end = parse_time(row.get("timestamp"))
    if start is None:
        raise ValueError("missing session_begin")
    if end is not None and end <= start:
        end = None  # a session shorter than the clock's second: no period
    record = _data_record(iccid, row, start, end, Granularity.SESSION, now=now)
    extra = dict(record.extra)
    extra |= _present(
        imei=_text(row.get("imei")),
        imeisv=_text(row.get("imeisv")),
        network_name=row.get("network_name"),
        radio_access_technology=row.get("radio_access_technology"),
        cellid=row.get("cellid"),
        lac=row.get("lac"),
    )
    return record.model_copy(update={"extra": extra})


def _data_record(
    iccid: str | None,
    row: Mapping[str, Any],
    start: datetime,
    end: datetime | None,
    granularity: Granularity,
    *,
    now: datetime,
) -> UsageRecord:
    return UsageRecord(
        connector=NAME,
        iccid=iccid,
        bearer=Bearer.DATA,
        direction=None,  # Hologram reports bytes without an up/down split
        quantity=_count(row["bytes"], "bytes"),
        start=start,
        end=end,
        granularity=granularity,
        final=end is not None and end <= now,
        extra=_present(
            linkid=row.get("linkid"),
            session_count=_count(row["session_count"], "session_count")
            if row.get("session_count") is not None
            else None,
        ),
    )


_SMS_DIRECTION = {None: Direction.MO, "DO": Direction.MO, "DT": Direction.MT}


def sms_event(row: Mapping[str, Any]) -> tuple[Any, Direction, datetime, Decimal | None]:
    """One ``/usage/sms`` record: its link, direction (``DO``: device originated; the
    newer reference lists outbound SMS without a direction), time, and cost when given."""
    moment = parse_time(row["timestamp"])
    if moment is None:
        raise ValueError("missing timestamp")
    direction = row.get("direction")
    if direction not in _SMS_DIRECTION:
        raise ValueError("unknown SMS direction")
    linkid = row["linkid"]
    if linkid is None:
        raise ValueError("missing linkid")
    return linkid, _SMS_DIRECTION[direction], moment, _money(row.get("cost"))


def period_start(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the UTC day (or calendar month) holding ``moment``."""
    if granularity is Granularity.MONTH:
        return month_span(moment.year, moment.month)[0]
    return datetime.combine(moment.date(), time.min, tzinfo=UTC)


def to_sms_usage(
    iccid: str | None,
    direction: Direction,
    start: datetime,
    granularity: Granularity,
    count: int,
    cost: Decimal | None,
    *,
    now: datetime,
) -> UsageRecord:
    """The SMS of one SIM, direction and day (or month), counted from ``/usage/sms``."""
    end = (
        month_span(start.year, start.month)[1]
        if granularity is Granularity.MONTH
        else start + timedelta(days=1)
    )
    return UsageRecord(
        connector=NAME,
        iccid=iccid,
        bearer=Bearer.SMS,
        direction=direction,
        quantity=count,
        start=start,
        end=end,
        granularity=granularity,
        final=end <= now,
        cost=cost,
        currency=CURRENCY if cost is not None else None,
    )


def month_span(year: int, month: int) -> tuple[datetime, datetime]:
    """The first instant of a calendar month and of the month after it, in UTC."""
    first = datetime(year, month, 1, tzinfo=UTC)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return first, following


# -- audit events ------------------------------------------------------------------------


def to_audit_event(iccid: str, entry: Mapping[str, Any]) -> AuditEvent:
    """A state history entry of a link: old and new state, and the reason (``USER``...)."""
    occurred_at = parse_time(entry["timestamp"])
    if occurred_at is None:
        raise ValueError("missing timestamp")
    reason = entry.get("reason")
    return AuditEvent(
        connector=NAME,
        id=_text(entry.get("id")),
        iccid=iccid,
        occurred_at=occurred_at,
        kind=AuditKind.STATUS_CHANGE,
        field="state",
        old_value=_text(entry.get("oldstate")),
        new_value=_text(entry.get("newstate")),
        description=f"reason: {reason}" if reason else None,
        extra=_present(reason=reason, linkid=entry.get("linkid")),
    )


# -- helpers -----------------------------------------------------------------------------


def _zone(plan: Mapping[str, Any], link: Mapping[str, Any]) -> str | None:
    zone = plan.get("zone")
    if zone is None:
        zone = link.get("zone")
    return None if zone is None or zone == "" else str(zone)


def _imei(value: Any) -> str | None:
    text = _text(value)
    return None if text is None or text.strip() in _NO_IMEI else text


def _devicecount(tier: Any) -> int:
    count = tier.get("devicecount") if isinstance(tier, Mapping) else None
    return int(count) if count is not None else 0


def _bytes(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return _count(value, "data")


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{field} must be a number")
    try:
        count = int(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{field} is not a number") from None
    if count < 0:
        raise ValueError(f"negative {field}")
    return count


def _money(value: Any) -> Decimal | None:
    if isinstance(value, str):
        value = value.strip().removeprefix("$")
    return to_decimal(value)


def _days(periods: Any) -> int | None:
    """Days of ``billingperiod`` (counted in 30-day intervals)."""
    if periods is None or periods == "" or isinstance(periods, bool):
        return None
    return int(periods) * 30


def _id_order(value: Any) -> tuple[int, int, str]:
    """Numeric ids in number order, before any other id."""
    text = str(value)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    return bool(int(value)) if not isinstance(value, bool) else value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _present(**values: Any) -> dict[str, JsonValue]:
    return {key: value for key, value in values.items() if value is not None}
