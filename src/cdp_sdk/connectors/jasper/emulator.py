"""Cisco IoT Control Center's REST API, emulated over a synthetic fleet.

It follows the public documentation (see ``docs/connectors/jasper.md``):

- HTTP Basic ``username:api_key`` on every call; a wrong one answers 401 ``10000001``, a
  missing one 401 without a code;
- ``GET /rws/api/v1/devices?modifiedSince&modifiedTill&pageSize&pageNumber``: without
  ``modifiedSince`` 400 ``10000003``; every device modified since ``modifiedSince``
  (Cisco's page), up to ``modifiedTill`` where one is given, which reaches at most a year
  after ``modifiedSince`` (Tele2's catalogue; a longer window is cut there, both ends
  included); thin records ``iccid, status, ratePlan, communicationPlan`` oldest change
  first, with ``pageNumber`` and ``lastPage``. With ``refuse_old_windows=True`` a
  ``modifiedSince`` more than a year before the emulator's clock answers 400
  ``10000045``, as one integrator reports some platforms do (others describe full syncs
  from 2010 in yearly windows: the default serves them). With ``cut_open_windows=True`` a
  search without ``modifiedTill`` stops a year after ``modifiedSince`` too (a reading of
  the catalogue's limit that no source states, kept to test that clients list every
  device either way);
- ``GET /devices/{iccid}``, and ``PUT`` with ``status`` and custom fields: a move back to a
  pre-activation state after activation answers ``10000029``, activating an activated SIM
  ``10030000``; other moves outside the state table are refused with a 400 without a code
  (the platform's code for them is not documented); the answer is 200, or 202 with
  ``edit_status=202``, and then a status change takes effect ``edit_delay`` seconds
  later (the platform completes accepted changes "within several seconds");
- ``GET /devices/{iccid}/ctdUsages``, ``/usageInZone?cycleStartDate`` (monthly cycles from
  the 1st, UTC; the current cycle and the two before it) and
  ``/auditTrails?daysOfHistory`` (most recent first, counted back from the fleet's today);
- ``GET /rateplans`` (plan names only: the per-type fields are not documented), paged with
  ``pageNumber`` and ``lastPage`` as Control Center's pagination describes;
- an unknown ICCID answers 404 ``20000001``; over ``rate_limit`` (pass
  ``RateWindow(1, 1.0)`` for the fair use) 429 ``40000029``, without ``Retry-After``.

The fleet's ``suspended`` SIMs show as ``DEACTIVATED``, since Control Center has no
suspension. The fleet's tags ``fleet``, ``region`` and ``customer`` are the custom fields
``accountCustom1..3``; any slot written through the API is kept under its own name.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import httpx

from cdp_sdk.models import SimStatus
from cdp_sdk.sandbox import (
    DailyUsage,
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetSim,
    json_response,
    route,
)

__all__ = ["DEFAULT_API_KEY", "DEFAULT_USERNAME", "JasperEmulator"]

DEFAULT_USERNAME = "jasper-user"
DEFAULT_API_KEY = "jasper-test-api-key"
API = "/rws/api/v1"
ACCOUNT_ID = "100020620"
COMMUNICATION_PLAN = "CP_Data_SMS"

STATE_OF: dict[SimStatus, str] = {
    SimStatus.INVENTORY: "INVENTORY",
    SimStatus.TEST: "TEST_READY",
    SimStatus.READY: "ACTIVATION_READY",
    SimStatus.ACTIVE: "ACTIVATED",
    SimStatus.SUSPENDED: "DEACTIVATED",
    SimStatus.DEACTIVATED: "DEACTIVATED",
    SimStatus.RETIRED: "RETIRED",
}
STATUS_OF: dict[str, SimStatus] = {
    "TEST_READY": SimStatus.TEST,
    "INVENTORY": SimStatus.INVENTORY,
    "ACTIVATION_READY": SimStatus.READY,
    "ACTIVATED": SimStatus.ACTIVE,
    "DEACTIVATED": SimStatus.DEACTIVATED,
    "RETIRED": SimStatus.RETIRED,
    "PURGED": SimStatus.RETIRED,
    "REPLACED": SimStatus.RETIRED,
}
TRANSITIONS: dict[str, frozenset[str]] = {
    "TEST_READY": frozenset(
        {"INVENTORY", "ACTIVATION_READY", "ACTIVATED", "DEACTIVATED", "RETIRED"}
    ),
    "INVENTORY": frozenset(
        {"TEST_READY", "ACTIVATION_READY", "ACTIVATED", "DEACTIVATED", "RETIRED"}
    ),
    "ACTIVATION_READY": frozenset(
        {"TEST_READY", "INVENTORY", "ACTIVATED", "DEACTIVATED", "RETIRED"}
    ),
    "ACTIVATED": frozenset({"INVENTORY", "DEACTIVATED", "RETIRED"}),
    "DEACTIVATED": frozenset({"INVENTORY", "ACTIVATED", "RETIRED"}),
    "RETIRED": frozenset(),
    "PURGED": frozenset(),
    "REPLACED": frozenset(),
}
PRE_ACTIVATION = frozenset({"TEST_READY", "ACTIVATION_READY"})
SLOTS: tuple[str, ...] = (
    *(f"accountCustom{n}" for n in range(1, 11)),
    *(f"operatorCustom{n}" for n in range(1, 6)),
    *(f"customerCustom{n}" for n in range(1, 6)),
)
SLOT_OF_TAG = {"fleet": "accountCustom1", "region": "accountCustom2", "customer": "accountCustom3"}
TAG_OF_SLOT = {slot: tag for tag, slot in SLOT_OF_TAG.items()}
AUDIT_FIELD = {"status": "SIM Status", "tariff": "Rate Plan", "tags": "Custom Fields"}
SEARCH_WINDOW = timedelta(days=365)
OLD_WINDOW = "10000045"
PAGE_SIZE = 50
CYCLES_SERVED = 3
MAX_DAYS_OF_HISTORY = 365


class JasperEmulator(Emulator):
    """Cisco IoT Control Center over a :class:`~cdp_sdk.sandbox.Fleet`; status and custom
    field changes are written to the fleet."""

    name = "jasper"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        username: str = DEFAULT_USERNAME,
        api_key: str = DEFAULT_API_KEY,
        edit_status: int = 200,
        edit_delay: float = 0.0,
        refuse_old_windows: bool = False,
        cut_open_windows: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(fleet, **options)
        self.username = username
        self.api_key = api_key
        self.edit_status = edit_status
        """200 (applied) or 202 (accepted): the answer to a successful edit."""
        self.edit_delay = edit_delay
        """Seconds (on the emulator's clock) an accepted (202) status change takes to take
        effect; ``math.inf``: never."""
        self.accepted: dict[str, tuple[float, str]] = {}
        """Accepted status changes not in effect yet: ICCID -> (when due, target state)."""
        self.refuse_old_windows = refuse_old_windows
        """Refuse a Search Devices ``modifiedSince`` older than a year with ``10000045``."""
        self.cut_open_windows = cut_open_windows
        """Stop a Search Devices without ``modifiedTill`` a year after ``modifiedSince``."""
        self._searched: tuple[object, Sequence[Any]] = (None, ())
        self.states: dict[str, str] = {}
        """States set through the API (or by a test, e.g. ``PURGED`` for an operator purge),
        by ICCID; one counts while the fleet's status still maps to it."""

    # -- vendor shape -------------------------------------------------------------------

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return self.error(401, "", "Full authentication is required to access this resource")
        if _basic_credentials(header) == (self.username, self.api_key):
            return None
        return self.error(401, "10000001", "Invalid credentials")

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        body = {"errorMessage": message}
        if code.isdigit():  # the framework's own codes (``emulated_500``) are not vendor codes
            body["errorCode"] = code
        return json_response(body, status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        return self.error(429, "40000029", "Rate limit exceeded")

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self._settle()
            return super().handle(request)

    def state(self, sim: FleetSim) -> str:
        """The Control Center state of a SIM of the fleet."""
        remembered = self.states.get(sim.iccid)
        if remembered is not None and STATUS_OF[remembered] is sim.status:
            return remembered
        return STATE_OF[sim.status]

    # -- devices ------------------------------------------------------------------------

    @route("GET", f"{API}/devices")
    def search_devices(self, request: EmulatorRequest) -> httpx.Response:
        if not request.params.get("modifiedSince"):
            return self.error(400, "10000003", "ModifiedSince is required.")
        try:
            since = _instant(request.params["modifiedSince"])
            last: datetime | None = since + SEARCH_WINDOW if self.cut_open_windows else None
            if till := request.params.get("modifiedTill"):
                last = min(since + SEARCH_WINDOW, _instant(till))
        except ValueError:
            return self.error(400, "", "modifiedSince and modifiedTill must be ISO 8601")
        if self.refuse_old_windows and since < self._now() - SEARCH_WINDOW:
            return self.error(
                400, OLD_WINDOW, "modifiedSince must not be more than one year in the past"
            )
        changed = self._search(since, last, request.params.get("status"))
        page, chunk, last_page = self._page(request, changed)
        return json_response(
            {
                "pageNumber": page,
                "lastPage": last_page,
                "devices": [
                    {
                        "iccid": sim.iccid,
                        "status": self.state(sim),
                        "ratePlan": self.fleet.tariff(sim.tariff_id).name,
                        "communicationPlan": COMMUNICATION_PLAN,
                    }
                    for sim in chunk
                ],
            }
        )

    def _search(self, since: datetime, last: datetime | None, status: str | None) -> Sequence[Any]:
        """The devices of a search, oldest change first: kept for the pages of one listing
        (until the fleet changes), so a page costs a slice."""
        key = (self.fleet.revision, since, last, status)
        if self._searched[0] != key:
            found = self.fleet.modified_between(since, last)
            if status is not None:
                found = [sim for sim in found if self.state(sim) == status]
            self._searched = (key, found)
        return self._searched[1]

    @route("GET", f"{API}/devices/{{iccid}}")
    def get_device(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        return self._unknown_iccid() if sim is None else json_response(self._device(sim))

    @route("PUT", f"{API}/devices/{{iccid}}")
    def edit_device(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self._unknown_iccid()
        changes = request.json()
        if not isinstance(changes, dict) or not changes:
            return self.error(400, "", "At least one parameter is required")
        unknown = sorted(set(changes) - {"status", *SLOTS})
        if unknown:
            return self.error(400, "", f"The emulator cannot edit {', '.join(unknown)}")
        if "status" in changes:
            refusal = self._move(sim, changes["status"])
            if refusal is not None:
                return refusal
        slots = {slot: changes[slot] for slot in SLOTS if slot in changes}
        if slots:
            self._write_slots(sim, slots)
        return json_response({"iccid": sim.iccid}, self.edit_status)

    # -- usage, audit trail, rate plans ------------------------------------------------------

    @route("GET", f"{API}/devices/{{iccid}}/ctdUsages")
    def device_usage(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self._unknown_iccid()
        cycle = self._cycle_starts()[0]
        days = self.fleet.usage_days(sim.iccid, cycle.date(), _next_month(cycle).date())
        data = sum(day.data_mo_bytes + day.data_mt_bytes for day in days)
        tariff = self.fleet.tariff(sim.tariff_id)
        return json_response(
            {
                "iccid": sim.iccid,
                "imsi": sim.imsi,
                "msisdn": sim.msisdn,
                "imei": sim.imei,
                "status": self.state(sim),
                "ratePlan": tariff.name,
                "communicationPlan": COMMUNICATION_PLAN,
                "ctdDataUsage": data,
                "ctdSMSUsage": sum(day.sms_mo + day.sms_mt for day in days),
                "ctdVoiceUsage": sum(day.voice_mo_seconds + day.voice_mt_seconds for day in days),
                "ctdSessionCount": sum(1 for day in days if day.data_mo_bytes + day.data_mt_bytes),
                "overageLimitReached": data > tariff.included_data_bytes,
                "overageLimitOverride": "DEFAULT",
            }
        )

    @route("GET", f"{API}/devices/{{iccid}}/usageInZone")
    def device_usage_by_zone(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self._unknown_iccid()
        starts = self._cycle_starts()
        asked = request.params.get("cycleStartDate")
        try:
            start = _cycle_start(asked) if asked else starts[0]
        except ValueError:
            return self.error(400, "", "cycleStartDate must be yyyy-MM-ddZ")
        if start not in starts:
            return self.error(400, "", "cycleStartDate must start one of the last three cycles")
        end = _next_month(start)
        days = self.fleet.usage_days(sim.iccid, start.date(), end.date())
        plan = self.fleet.tariff(sim.tariff_id).name
        return json_response(
            {
                "iccid": sim.iccid,
                "timeStamp": _report_date(self._today()),
                "cycleStartDate": _report_date(start),
                "cycleEndDate": _report_date(end - timedelta(seconds=1)),
                "deviceCycleUsageInZones": {f"{plan}, 1": [_zone_row(plan, days)]},
            }
        )

    @route("GET", f"{API}/devices/{{iccid}}/auditTrails")
    def device_audit_history(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self._unknown_iccid()
        days = _positive_int(request.params.get("daysOfHistory"), 30)
        if days > MAX_DAYS_OF_HISTORY:
            return self.error(400, "", f"daysOfHistory may be at most {MAX_DAYS_OF_HISTORY}")
        cutoff = self._today() + timedelta(days=1 - days)
        events = sorted(
            (e for e in self.fleet.audit if e.iccid == sim.iccid and e.occurred_at >= cutoff),
            key=lambda event: (event.occurred_at, event.id),
            reverse=True,
        )
        page, chunk, last_page = self._page(request, events)
        return json_response(
            {
                "iccid": sim.iccid,
                "timestamp": _report_date(self._today()),
                "pageNumber": page,
                "lastPage": last_page,
                "deviceAuditTrails": [
                    {
                        "field": AUDIT_FIELD.get(event.field, event.field),
                        "priorValue": self._audit_value(event.field, event.old_value),
                        "value": self._audit_value(event.field, event.new_value),
                        "effectiveDate": _report_date(event.occurred_at),
                        "status": "Executed",
                        "userName": event.actor,
                    }
                    for event in chunk
                ],
            }
        )

    @route("GET", f"{API}/rateplans")
    def rate_plans(self, request: EmulatorRequest) -> httpx.Response:
        page, chunk, last_page = self._page(request, self.fleet.tariffs)
        return json_response(
            {
                "operatorName": "Emulated Operator",
                "operatorId": 1,
                "timeStamp": _report_date(self._today()),
                "pageNumber": page,
                "lastPage": last_page,
                "ratePlans": [{"name": plan.name} for plan in chunk],
            }
        )

    # -- helpers ------------------------------------------------------------------------

    def _device(self, sim: FleetSim) -> dict[str, Any]:
        return {
            "iccid": sim.iccid,
            "imsi": sim.imsi,
            "msisdn": sim.msisdn,
            "imei": sim.imei,
            "status": self.state(sim),
            "ratePlan": self.fleet.tariff(sim.tariff_id).name,
            "communicationPlan": COMMUNICATION_PLAN,
            "customer": None,
            "endConsumerId": None,
            "dateActivated": _device_date(sim.activated_at),
            "dateAdded": _device_date(sim.created_at),
            "dateUpdated": _device_date(sim.updated_at),
            "dateShipped": _device_date(sim.created_at),
            "accountId": ACCOUNT_ID,
            "fixedIPAddress": sim.ip_address,
            "fixedIpv6Address": None,
            **self._slots(sim),
            "simNotes": None,
            "deviceID": f"device-{sim.serial:04d}",
            "modemID": None,
            "globalSimType": "",
            "eid": sim.eid,
        }

    def _move(self, sim: FleetSim, target: Any) -> httpx.Response | None:
        """Apply a status change, or the platform's refusal of it."""
        if target not in TRANSITIONS:
            return self.error(400, "", "Invalid SIM status")
        current = self.state(sim)
        if target == current:
            if target == "ACTIVATED":
                return self.error(
                    400, "10030000", "Cannot activate a SIM which is already activated"
                )
            return None
        if target in PRE_ACTIVATION and sim.activated_at is not None:
            return self.error(
                400, "10000029", "This SIM may not be moved back to a Pre Activation status"
            )
        if target not in TRANSITIONS[current]:
            return self.error(400, "", f"The SIM status cannot change from {current} to {target}")
        if self.edit_status == 202 and self.edit_delay > 0:
            self.accepted[sim.iccid] = (self.clock() + self.edit_delay, target)
            return None
        self._set_state(sim, target)
        return None

    def _set_state(self, sim: FleetSim, target: str) -> None:
        self.fleet.set_status(sim.iccid, STATUS_OF[target], at=self._now(), actor=self.username)
        self.states[sim.iccid] = target

    def _settle(self) -> None:
        """Put the accepted status changes that are due into effect."""
        now = self.clock()
        for iccid, (due, target) in list(self.accepted.items()):
            if due <= now:
                del self.accepted[iccid]
                self._set_state(self.fleet.sims[iccid], target)

    def _slots(self, sim: FleetSim) -> dict[str, str]:
        slots = dict.fromkeys(SLOTS, "")
        for key, value in sim.tags.items():
            slot = SLOT_OF_TAG.get(key, key)
            if slot in slots:
                slots[slot] = value or ""
        return slots

    def _write_slots(self, sim: FleetSim, slots: dict[str, Any]) -> None:
        tags = dict(sim.tags)
        for slot, value in slots.items():
            key = TAG_OF_SLOT.get(slot, slot)
            if value in (None, ""):
                tags.pop(key, None)
            else:
                tags[key] = str(value)
        self.fleet.set_tags(sim.iccid, tags, at=self._now(), actor=self.username)

    def _audit_value(self, field: str, value: str | None) -> str:
        if value is None:
            return ""
        if field == "status":
            return STATE_OF[SimStatus(value)]
        if field == "tariff":
            return self.fleet.tariff(value).name
        return value

    def _page(
        self, request: EmulatorRequest, items: Sequence[Any]
    ) -> tuple[int, Sequence[Any], bool]:
        """The requested page of ``items``: its number, its items, and whether it is last."""
        size = self.page_limit(request.params.get("pageSize"), default=PAGE_SIZE, maximum=PAGE_SIZE)
        page = _positive_int(request.params.get("pageNumber"), 1)
        return page, items[(page - 1) * size : page * size], page * size >= len(items)

    def _cycle_starts(self) -> list[datetime]:
        """Starts of the billing cycles served: the current one first."""
        month = datetime.combine(self.fleet.today.replace(day=1), time.min, tzinfo=UTC)
        starts = [month]
        while len(starts) < CYCLES_SERVED:
            starts.append(_next_month(starts[-1], -1))
        return starts

    def _today(self) -> datetime:
        return datetime.combine(self.fleet.today, time.min, tzinfo=UTC)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)

    def _unknown_iccid(self) -> httpx.Response:
        return self.error(404, "20000001", "Invalid ICCID")


def _zone_row(plan: str, days: list[DailyUsage]) -> dict[str, Any]:
    return {
        "ratePlan": plan,
        "ratePlanVersion": "1",
        "zone": "Home",
        "dataUsage": sum(day.data_mo_bytes + day.data_mt_bytes for day in days),
        "dataUsageUnit": "bytes",
        "smsMOUsage": sum(day.sms_mo for day in days),
        "smsMTUsage": sum(day.sms_mt for day in days),
        "voiceMOUsage": sum(day.voice_mo_seconds for day in days),
        "voiceMOUsageUnit": "seconds",
        "voiceMTUsage": sum(day.voice_mt_seconds for day in days),
        "voiceMTUsageUnit": "seconds",
    }


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username, password


def _instant(text: str) -> datetime:
    """An ISO 8601 request date-time (without an offset: UTC)."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cycle_start(text: str) -> datetime:
    """A ``yyyy-MM-ddZ`` / ``yyyy-MM-dd+hh:mm`` date as the instant it starts."""
    day = date.fromisoformat(text[:10])
    zone = text[10:].strip()
    offset = timedelta(0)
    if zone not in ("", "Z"):
        parsed = datetime.fromisoformat(f"2000-01-01T00:00:00{zone}").utcoffset()
        offset = parsed if parsed is not None else offset
    return datetime.combine(day, time.min, tzinfo=timezone(offset)).astimezone(UTC)


def _next_month(moment: datetime, months: int = 1) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def _device_date(moment: datetime | None) -> str | None:
    """``2016-06-29 00:21:33.339+0000``, the format of device fields."""
    if moment is None:
        return None
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def _report_date(moment: datetime) -> str:
    """``2024-05-02T10:00:00.000Z``, the format of report time stamps."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _positive_int(text: str | None, default: int) -> int:
    try:
        return max(1, int(text)) if text else default
    except ValueError:
        return default
