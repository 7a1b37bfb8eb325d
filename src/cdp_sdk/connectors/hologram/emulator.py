"""The Hologram REST API (``/api/1``), emulated over a synthetic fleet.

Follows Hologram's API Blueprint (``hologram-io/rest-api-docs``) and the newer reference
pages where they say more: HTTP Basic auth with the user ``apikey`` (or the legacy
``apikey`` query parameter); ``{"success", "data"}`` envelopes with ``limit``, ``size``,
``continues`` and ``links`` on listings; ``limit`` + ``startafter`` paging (links and plans
by ascending id, devices and usage newest first); errors ``{"success": false, "error"}``;
a 429 ``API rate limit exceeded`` without a wait header. Cellular links, devices, device
tags, state changes through the device (pending until they reach the network), SIM state
history, plans, and data and SMS usage.

Emulator choices where the docs are silent: SIMs not claimed yet (the fleet's
``inventory``) are not listed; a state change stays pending for ``propagation`` seconds;
a refused state change answers 400; query parameters the docs do not list answer 400; an
unknown ``orgid`` answers 403; the rate limit is 1200 calls a minute (Hologram publishes
no number); ``sim`` values carry the check digit unless ``iccid_check_digit=False``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx

from cdp_sdk.models import AuditKind, SimStatus
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetSim,
    RateWindow,
    json_response,
    route,
)

__all__ = ["DEFAULT_API_KEY", "ORG_ID", "HologramEmulator", "device_id_of", "link_id_of"]

DEFAULT_API_KEY = "hologram-emulator-api-key"
ORG_ID = 98765
BASE = "dashboard.hologram.io"
API_ACTOR = "api"
LINK_BASE = 500_000
DEVICE_BASE = 300_000
PLAN_IDS = {"plan-s": 101, "plan-m": 102, "plan-l": 103}
MAX_USAGE_LIMIT = 5000  # the newer reference's maximum for the usage listings
RECENT_DAYS = 92  # sessions and SMS are kept for the last three months
TIME = "%Y-%m-%d %H:%M:%S"

# The state a fleet status shows as, before any change through the API.
STATE_OF: dict[SimStatus, str] = {
    SimStatus.TEST: "LIVE",
    SimStatus.READY: "LIVE",
    SimStatus.ACTIVE: "LIVE",
    SimStatus.SUSPENDED: "PAUSED-USER",
    SimStatus.DEACTIVATED: "DEAD",
    SimStatus.RETIRED: "DEAD",
}
STATUS_OF: dict[str, SimStatus] = {
    "LIVE": SimStatus.ACTIVE,
    "PAUSED-USER": SimStatus.SUSPENDED,
    "PAUSED-SYS": SimStatus.SUSPENDED,
    "DEAD": SimStatus.RETIRED,
}
# action: (state while it reaches the network, settled state)
ACTIONS: dict[str, tuple[str, str]] = {
    "live": ("LIVE-PENDING", "LIVE"),
    "pause": ("PAUSED-PENDING-USER", "PAUSED-USER"),
    "deactivate": ("DEAD", "DEAD"),
}
# settled state -> actions it accepts (a no-op is accepted too)
ACCEPTS: dict[str, frozenset[str]] = {
    "LIVE": frozenset({"live", "pause", "deactivate"}),
    "PAUSED-USER": frozenset({"live", "pause", "deactivate"}),
    "PAUSED-SYS": frozenset({"deactivate"}),
    "DEAD": frozenset(),
}

_LINK_PARAMS = frozenset(
    {
        "orgid", "limit", "showip", "id", "ids", "sim", "sims", "simrange", "msisdn",
        "tunnelable", "imsi", "imsis", "deviceid", "deviceids", "claimedafter",
        "claimedbefore", "tagid", "tagids", "tagname", "carrierid", "startafter",
    }
)  # fmt: skip
_DEVICE_PARAMS = frozenset(
    {
        "orgid", "orgids", "tagid", "tagname", "sim", "limit", "startafter", "id", "ids",
        "linkid", "phone", "tunnelable", "name", "type", "withlocation", "imei", "imei-sv",
    }
)  # fmt: skip
_USAGE_PARAMS = frozenset(
    {
        "orgid", "orgids", "startafter", "linkid", "linkids", "tagid", "tagids", "tagname",
        "timestart", "timeend", "islive", "limit",
    }
)  # fmt: skip
_MONTHLY_PARAMS = frozenset({"linkid", "tagid", "limit", "orgid", "mintime", "maxtime"})
_PLAN_PARAMS = frozenset({"orgid", "id", "ids", "limit", "startafter"})
_TAG_PARAMS = frozenset({"orgid", "id", "deviceids", "limit"})


class _Refusal(Exception):
    """A request the platform refuses: answered with its status and error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HologramEmulator(Emulator):
    """The Hologram REST API over a :class:`~cdp_sdk.sandbox.Fleet`."""

    name = "hologram"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        org_id: int = ORG_ID,
        propagation: float = 30.0,
        iccid_check_digit: bool = True,
        requests_per_minute: int = 1200,
        **options: Any,
    ) -> None:
        options.setdefault("rate_limit", RateWindow(requests_per_minute, 60.0))
        super().__init__(fleet, **options)
        self.api_key = api_key
        self.org_id = org_id
        self.propagation = propagation
        self.iccid_check_digit = iccid_check_digit
        self._changes: dict[str, list[tuple[datetime, str, str, str]]] = {}
        listed = [sim for sim in self.fleet.sorted_sims() if self.lists(sim.iccid)]
        self._link_ids = [link_id_of(sim) for sim in listed]  # ascending
        self._by_link = {link_id_of(sim): sim for sim in listed}
        self._by_device = {device_id_of(sim): sim for sim in listed}
        self._device_ids = sorted(self._by_device)  # ascending; listed newest first
        self._by_sim = {self._sim_text(sim): sim for sim in listed}
        self._plans = {PLAN_IDS.get(t.id, 100 + n): t for n, t in enumerate(self.fleet.tariffs)}
        self._tags: dict[int, dict[str, Any]] = {}
        """Tags by id; a tag's ``deviceids`` is a set here, rendered as a sorted list."""
        self._first_named: dict[str, int] = {}  # the oldest tag of each name
        self._tags_of: dict[int, set[int]] = {device: set() for device in self._by_device}
        for sim in listed:
            for value in sim.tags.values():
                if value:
                    self._tag_device(self._tag_named(value), device_id_of(sim))

    def lists(self, iccid: str) -> bool:
        """SIMs not claimed yet (the fleet's ``inventory``) have no link on the account."""
        return self.fleet.sims[iccid].status is not SimStatus.INVENTORY

    # -- vendor shape -------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        return json_response({"success": False, "error": message}, status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        return self.error(429, "rate_limited", "API rate limit exceeded")  # no wait header

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        key = request.params.get("apikey")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, secret = "", ""
            key = secret if user == "apikey" else None
        if key != self.api_key:
            return self.error(401, "unauthorized", "Invalid API key")
        return None

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle(request)
        except _Refusal as refusal:  # raised by a handler: the vendor's error answer
            return self.error(refusal.status, "refused", refusal.message)

    # -- cellular links -----------------------------------------------------------------

    @route("GET", "/api/1/links/cellular")
    def list_links(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _LINK_PARAMS)
        limit = self._limit(query)
        after = _int_param(query, "startafter")
        chosen = self._chosen_links(query)
        if chosen is None:  # no id filter: walk the links after the cursor, in id order
            start = bisect.bisect_right(self._link_ids, after) if after is not None else 0
            candidates: Iterable[int] = (
                self._link_ids[i] for i in range(start, len(self._link_ids))
            )
        else:
            candidates = (i for i in sorted(chosen) if after is None or i > after)
        keep = self._link_filter(query)
        rows = (self._link(self._by_link[i]) for i in candidates if keep(self._by_link[i]))
        return self._page(request, rows, limit, "id")

    @route("GET", "/api/1/links/cellular/{linkid}/history")
    def link_history(self, request: EmulatorRequest) -> httpx.Response:
        self._query(request, frozenset())
        sim = self._by_link.get(_number(request.path_params["linkid"]) or -1)
        if sim is None:
            raise _Refusal(404, "Link not found")
        return json_response({"success": True, "data": self._history(sim)})

    # -- device tags (before /devices/{deviceid}, which would match them) --------------

    @route("GET", "/api/1/devices/tags")
    def list_tags(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _TAG_PARAMS)
        limit = self._limit(query, cursor=False)
        wanted = _id_set(query, "id", "id")
        devices = _id_set(query, "deviceids", "deviceids")
        tags = (
            self._tag_body(tag)
            for tag_id, tag in sorted(self._tags.items())
            if (wanted is None or tag_id in wanted)
            and (devices is None or devices & tag["deviceids"])
        )
        return self._page(request, tags, limit, None)

    @route("POST", "/api/1/devices/tags")
    def create_tag(self, request: EmulatorRequest) -> httpx.Response:
        self._query(request, frozenset({"orgid"}))
        body = _body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _Refusal(400, "name is required")
        tag = self._new_tag(name.strip())
        for device in self._devices_of(body, required=False):
            self._tag_device(tag, device)
        return json_response({"success": True, "data": self._tag_body(tag)})

    @route("POST", "/api/1/devices/tags/{tagid}/link")
    def link_tag(self, request: EmulatorRequest) -> httpx.Response:
        self._query(request, frozenset())
        tag = self._tag_at(request)
        for device in self._devices_of(_body(request), required=True):
            self._tag_device(tag, device)
        return json_response({"success": True, "data": self._tag_body(tag)})

    @route("POST", "/api/1/devices/tags/{tagid}/unlink")
    def unlink_tag(self, request: EmulatorRequest) -> httpx.Response:
        self._query(request, frozenset())
        tag = self._tag_at(request)
        for device in self._devices_of(_body(request), required=True):
            if device in tag["deviceids"]:
                tag["deviceids"].discard(device)
                self._tags_of[device].discard(tag["id"])
        return json_response({"success": True, "data": self._tag_body(tag)})

    @route("DELETE", "/api/1/devices/tags/{tagid}")
    def delete_tag(self, request: EmulatorRequest) -> httpx.Response:
        self._query(request, frozenset())
        tag = self._tag_at(request)
        for device in tag["deviceids"]:
            self._tags_of[device].discard(tag["id"])
        del self._tags[tag["id"]]
        if self._first_named.get(tag["name"]) == tag["id"]:
            del self._first_named[tag["name"]]
            same = next((t["id"] for t in self._tags.values() if t["name"] == tag["name"]), None)
            if same is not None:
                self._first_named[tag["name"]] = same
        return json_response({"success": True})

    # -- devices ------------------------------------------------------------------------

    @route("GET", "/api/1/devices")
    def list_devices(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _DEVICE_PARAMS)
        limit = self._limit(query)
        after = _int_param(query, "startafter")
        ids = _id_set(query, "id", "ids")
        if "linkid" in query:
            link = self._by_link.get(_int_param(query, "linkid") or -1)
            of_link = {device_id_of(link)} if link is not None else set()
            ids = of_link if ids is None else ids & of_link
        if ids is None:  # newest first: the devices with lower ids than the cursor
            stop = len(self._device_ids)
            if after is not None:
                stop = bisect.bisect_left(self._device_ids, after)
            candidates: Iterable[int] = (self._device_ids[i] for i in range(stop - 1, -1, -1))
        else:
            candidates = (d for d in sorted(ids, reverse=True) if after is None or d < after)
        keep = self._device_filter(query)
        rows = (
            self._device(self._by_device[d])
            for d in candidates
            if d in self._by_device and keep(self._by_device[d])
        )
        return self._page(request, rows, limit, "id")

    @route("GET", "/api/1/devices/{deviceid}")
    def get_device(self, request: EmulatorRequest) -> httpx.Response:
        self._query(request, frozenset())
        return json_response({"success": True, "data": self._device(self._device_at(request))})

    @route("POST", "/api/1/devices/{deviceid}/state")
    def change_state(self, request: EmulatorRequest) -> httpx.Response:
        self._query(request, frozenset())
        sim = self._device_at(request)
        body = _body(request)
        action = body.get("state")
        if action not in ACTIONS:
            raise _Refusal(400, "state must be one of live, pause or deactivate")
        current = self._state(sim)
        if current.endswith("-PENDING") or "-PENDING-" in current:
            raise _Refusal(400, f"SIM state is locked ({current})")
        if action not in ACCEPTS.get(current, frozenset()):
            raise _Refusal(400, f"Cannot {action} a SIM in state {current}")
        pending, settled = ACTIONS[action]
        if settled != current:
            now = self._now()
            self._changes.setdefault(sim.iccid, []).append((now, current, pending, settled))
            self.fleet.set_status(sim.iccid, STATUS_OF[settled], at=now, actor=API_ACTOR)
        return json_response({"success": True})

    # -- plans --------------------------------------------------------------------------

    @route("GET", "/api/1/plans")
    def list_plans(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _PLAN_PARAMS)
        limit = self._limit(query)
        after = _int_param(query, "startafter")
        wanted = _id_set(query, "id", "ids")
        plans = (
            self._plan(plan_id)
            for plan_id in sorted(self._plans)
            if (after is None or plan_id > after) and (wanted is None or plan_id in wanted)
        )
        return self._page(request, plans, limit, "id")

    # -- usage --------------------------------------------------------------------------

    @route("GET", "/api/1/usage/data/daily")
    def daily_usage(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _USAGE_PARAMS)
        limit = self._limit(query, maximum=MAX_USAGE_LIMIT)
        first, stop = self._days(query, self.fleet.history_start)
        rows = (
            {
                "linkid": link,
                "record_id": key,
                "date": day.isoformat(),
                "bytes": volume,
                "session_count": _sessions(volume),
            }
            for key, day, link, volume, _ in self._link_days(query, first, stop)
            if volume
        )
        return self._page(request, rows, limit, "record_id")

    @route("GET", "/api/1/usage/data")
    def data_sessions(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _USAGE_PARAMS)
        limit = self._limit(query, maximum=MAX_USAGE_LIMIT)
        first, stop = self._days(query, self.fleet.today - timedelta(days=RECENT_DAYS))
        window = _time_window(query)
        rows = (
            session
            for key, day, link, volume, sim in self._link_days(query, first, stop, per=10)
            for session in self._sessions(key, day, link, volume, sim)
            if _inside(session["timestamp"], window) and _before(session, query)
        )
        return self._page(request, rows, limit, "record_id")

    @route("GET", "/api/1/usage/sms")
    def sms_usage(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _USAGE_PARAMS)
        limit = self._limit(query)
        first, stop = self._days(query, self.fleet.today - timedelta(days=RECENT_DAYS))
        window = _time_window(query)
        rows = (
            message
            for key, day, link, _, sim in self._link_days(query, first, stop, per=100)
            for message in self._messages(key, day, link, sim)
            if _inside(message["timestamp"], window) and _before(message, query)
        )
        return self._page(request, rows, limit, "record_id")

    @route("GET", "/api/1/usage/data/monthly")
    def monthly_usage(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, _MONTHLY_PARAMS)
        limit = self._limit(query, cursor=False)
        low, high = _us_date(query.get("mintime")), _us_date(query.get("maxtime"))
        first = max(self.fleet.history_start, low or self.fleet.history_start).replace(day=1)
        last = min(self.fleet.today, high or self.fleet.today)
        links = self._usage_links(query)[::-1]
        months: list[date] = []
        month = date(last.year, last.month, 1)
        while month >= first:
            months.append(month)
            month = (month - timedelta(days=1)).replace(day=1)
        rows = (
            row
            for month in months
            for link in links
            if (row := self._month_row(link, month, first, last))["bytes"]
        )
        return self._page(request, rows, limit, None)

    # -- rendering ----------------------------------------------------------------------

    def _link(self, sim: FleetSim) -> dict[str, Any]:
        """A Cellular Link object."""
        bootstrap = sim.eid is not None
        return {
            "id": link_id_of(sim),
            "deviceid": device_id_of(sim),
            "devicename": _device_name(sim),
            "orgid": self.org_id,
            "tunnelable": 0,
            "partnerid": 1,
            "sim": self._sim_text(sim),
            "sim_attribute": "STANDARD",
            "msisdn": sim.msisdn,
            "imsi": int(sim.imsi),
            "dataplansubscriptionid": 70_000 + sim.serial,
            "zone": "global",
            "carrier": 2,
            "state": self._state(sim),
            "whenclaimed": _time(sim.activated_at or sim.created_at),
            "whenexpires": _time(self._expiry(sim)),
            "whencreated": _time(sim.created_at),
            "overagelimit": -1,
            "datathreshold": 0,
            "smslimit": 100,
            "mfa_available": 0,
            "pin": "1111",
            "puk": "11111111",
            "priv_ip_address": sim.ip_address,
            "euicc_type": "BOOTSTRAP" if bootstrap else "UICC",
            "eid": sim.eid,
            "euicc_state": "ENABLED",
            "profile_state": "ENABLED",
            "apn": "hologram",
        }

    def _device(self, sim: FleetSim) -> dict[str, Any]:
        """A Device object, with its Device Link."""
        plan_id = self._plan_id(sim)
        tariff = self._plans[plan_id]
        device: dict[str, Any] = {
            "id": device_id_of(sim),
            "orgid": self.org_id,
            "name": _device_name(sim),
            "type": "Unknown",
            "whencreated": _time(sim.created_at),
            "phonenumber": "",
            "phonenumber_cost": "0.00",
            "tunnelable": 0,
            "imei": sim.imei or "",
            "imei_sv": _imei_sv(sim),
            "hidden": 0,
            "tags": [
                {"id": tag, "name": self._tags[tag]["name"]}
                for tag in sorted(self._tags_of.get(device_id_of(sim), ()))
            ],
            "links": {
                "cellular": [
                    {
                        "id": link_id_of(sim),
                        "sim": self._sim_text(sim),
                        "imsi": int(sim.imsi),
                        "msisdn": sim.msisdn,
                        "carrierid": 2,
                        "state": self._state(sim),
                        "whenclaimed": _time(sim.activated_at or sim.created_at),
                        "whenexpires": _time(self._expiry(sim)),
                        "overagelimit": -1,
                        "datathreshold": 0,
                        "smslimit": 100,
                        "pin": "1111",
                        "puk": "11111111",
                        "euicc_type": "BOOTSTRAP" if sim.eid else "UICC",
                        "eid": sim.eid,
                        "euicc_state": "ENABLED",
                        "profile_state": "ENABLED",
                        "apn": "hologram",
                        "plan": {
                            "id": plan_id,
                            "zone": "global",
                            "name": tariff.name,
                            "data": tariff.included_data_bytes,
                            "cost": _price(tariff.monthly_fee),
                            "sms": "0.1900",
                            "overage": _price(tariff.overage_per_mb),
                            "account_tier": "BASE",
                        },
                        "last_network_used": "T-Mobile USA, Inc" if sim.imei else "",
                        "last_connect_time": _time(sim.updated_at) if sim.imei else "",
                        "cur_billing_data_used": 0,
                        "last_billing_data_used": 0,
                    }
                ]
            },
            "model": "Unknown",
            "manufacturer": "Unknown",
        }
        if sim.imei is not None:
            device["lastsession"] = {
                "linkid": link_id_of(sim),
                "bytes": 0,
                "session_begin": _time(sim.updated_at - timedelta(hours=2)),
                "session_end": _time(sim.updated_at - timedelta(hours=1)),
                "imei": device["imei_sv"],
                "cellid": 4864 + sim.serial,
                "tadig": "USAW6",
                "lac": 31602,
                "network_name": "T-Mobile USA, Inc",
                "radio_access_technology": "LTE",
                "active": False,
            }
        return device

    def _plan(self, plan_id: int) -> dict[str, Any]:
        """A Data Plan object: a base tier, and a cheaper one from 100 devices."""
        tariff = self._plans[plan_id]

        def zone(fee: Decimal) -> dict[str, Any]:
            return {
                "amount": _price(fee),
                "sms": "0.1900",
                "overage": _price(tariff.overage_per_mb),
                "carriers": {"2": {"apn": "hologram"}},
            }

        return {
            "id": plan_id,
            "name": tariff.name,
            "partnerid": 1,
            "description": f"{tariff.name}, billed every 30 days",
            "data": tariff.included_data_bytes,
            "recurring": 1,
            "enabled": 1,
            "billingperiod": 1,
            "groupid": 0,
            "developerplan": 0,
            "tiers": {
                "BASE": {"devicecount": 0, "zones": {"global": zone(tariff.monthly_fee)}},
                "100": {
                    "devicecount": 100,
                    "zones": {"global": zone(tariff.monthly_fee * Decimal("0.9"))},
                },
            },
        }

    def _tag_body(self, tag: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": tag["name"], "id": tag["id"], "deviceids": sorted(tag["deviceids"])}

    def _history(self, sim: FleetSim) -> list[dict[str, Any]]:
        """Sim State History: the claim, the fleet's changes, then changes through the API."""
        claimed = sim.activated_at or sim.created_at
        steps = [
            (claimed, "INACTIVE", "LIVE-PENDING", "USER"),
            (claimed + timedelta(minutes=1), "LIVE-PENDING", "LIVE", "USER"),
        ]
        for event in self.fleet.audit:
            if (
                event.iccid != sim.iccid
                or event.kind is not AuditKind.STATUS_CHANGE
                or event.actor == API_ACTOR
                or event.new_value == SimStatus.ACTIVE.value
            ):
                continue
            old = _fleet_state(SimStatus(event.old_value or "ready"), sim)
            new = _fleet_state(SimStatus(event.new_value or "ready"), sim)
            if old != new:
                steps.append(
                    (event.occurred_at, old, new, "SYS" if new == "PAUSED-SYS" else "USER")
                )
        for at, old, pending, settled in self._changes.get(sim.iccid, ()):
            steps.append((at, old, pending, "USER"))
            reached = at + timedelta(seconds=self.propagation)
            if pending != settled and self._now() >= reached:
                steps.append((reached, pending, settled, "USER"))
        steps.sort(key=lambda step: step[0])
        return [
            {
                "id": link_id_of(sim) * 100 + number,
                "timestamp": _time(at),
                "linkid": link_id_of(sim),
                "oldstate": old,
                "newstate": new,
                "reason": reason,
            }
            for number, (at, old, new, reason) in enumerate(steps, start=1)
        ]

    def _sessions(
        self, key: int, day: date, link: int, volume: int, sim: FleetSim
    ) -> Iterator[dict[str, Any]]:
        """The data sessions of one SIM-day, newest first (``key`` is the day's record)."""
        count = min(9, _sessions(volume)) if volume else 0
        begin = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        for index in reversed(range(count)):
            started = begin + timedelta(hours=2 * index + 1)
            yield {
                "linkid": link,
                "record_id": key * 10 + index,
                "session_begin": _time(started),
                "timestamp": _time(started + timedelta(minutes=50)),
                "bytes": volume // count + (volume % count if index == 0 else 0),
                "cellid": 4864 + sim.serial,
                "lac": 31602,
                "network_name": "T-Mobile USA, Inc",
                "radio_access_technology": "LTE",
                "imei": sim.imei or "",
                "imeisv": _imei_sv(sim),
            }

    def _messages(self, key: int, day: date, link: int, sim: FleetSim) -> Iterator[dict[str, Any]]:
        """The device-originated SMS of one SIM-day, newest first."""
        count = min(99, self.fleet.daily_usage(sim.iccid, day).sms_mo)
        begin = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        for index in reversed(range(count)):
            yield {
                "linkid": link,
                "record_id": key * 100 + index,
                "timestamp": _time(begin + timedelta(minutes=14 * index + 7)),
                "direction": "DO",
                "other_number": f"1555010{sim.serial % 10_000:04d}",
            }

    def _month_row(self, link: int, month: date, first: date, last: date) -> dict[str, Any]:
        sim = self._by_link[link]
        following = (month + timedelta(days=32)).replace(day=1)
        days = self.fleet.usage_days(
            sim.iccid, max(month, first), min(following, last + timedelta(days=1))
        )
        volume = sum(day.data_mo_bytes + day.data_mt_bytes for day in days)
        sessions = sum(
            _sessions(day.data_mo_bytes + day.data_mt_bytes)
            for day in days
            if day.data_mo_bytes + day.data_mt_bytes
        )
        return {
            "linkid": link,
            "record_id": f"{link}{month:%Y%m}",
            "month": month.month,
            "year": month.year,
            "session_count": str(sessions),
            "bytes": volume,
        }

    # -- state --------------------------------------------------------------------------

    def _state(self, sim: FleetSim) -> str:
        """The link state: the last change through the API (pending for ``propagation``
        seconds), else the fleet's status as Hologram shows it."""
        changes = self._changes.get(sim.iccid)
        if changes:
            at, _, pending, settled = changes[-1]
            if self._now() < at + timedelta(seconds=self.propagation):
                return pending
            return settled
        return _fleet_state(sim.status, sim)

    # -- helpers ------------------------------------------------------------------------

    def _query(self, request: EmulatorRequest, allowed: frozenset[str]) -> dict[str, str]:
        """The query, refusing a parameter the docs do not list and a foreign ``orgid``."""
        query = {key: value for key, value in request.params.multi_items() if key != "apikey"}
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise _Refusal(400, f"Unknown parameter: {unknown[0]}")
        if "orgid" in query and query["orgid"] != str(self.org_id):
            raise _Refusal(403, "You do not have access to this organization")
        return query

    def _limit(
        self, query: Mapping[str, str], *, maximum: int | None = None, cursor: bool = True
    ) -> int:
        """The page size asked for (100 by default); ``max_page_size`` (set by tests to
        force many pages) applies only where a cursor can fetch the rest."""
        raw = query.get("limit")
        if raw is not None and (not raw.isdigit() or int(raw) < 1):
            raise _Refusal(400, "limit must be a positive number")
        if raw is not None and maximum is not None and int(raw) > maximum:
            raise _Refusal(400, f"limit must be at most {maximum}")
        if not cursor:
            return int(raw) if raw is not None else 100
        return self.page_limit(raw, default=100, maximum=10**9)

    def _page(
        self,
        request: EmulatorRequest,
        rows: Iterable[dict[str, Any]],
        limit: int,
        cursor: str | None,
    ) -> httpx.Response:
        """One page of a listing: ``limit`` rows, with ``continues`` and ``links.next``
        when one more row exists (only ``limit + 1`` rows are ever produced)."""
        page: list[dict[str, Any]] = []
        more = False
        for row in rows:
            if len(page) == limit:
                more = True
                break
            page.append(row)
        path = request.request.url.path
        body: dict[str, Any] = {"success": True, "limit": limit, "size": len(page)}
        links: dict[str, Any] = {"path": path, "base": BASE}
        if more:
            body["continues"] = True
            if cursor is not None:
                query = {k: v for k, v in request.params.multi_items() if k != "startafter"}
                query["startafter"] = str(page[-1][cursor])
                links["next"] = str(httpx.URL(path, params=query))
        body["links"] = links
        body["data"] = page
        return json_response(body)

    def _chosen_links(self, query: Mapping[str, str]) -> set[int] | None:
        """The links an id or ICCID filter names (``None``: no such filter)."""
        chosen = _id_set(query, "id", "ids")
        for name in ("sim", "sims"):
            if name in query:
                sims = {value.strip() for value in query[name].split(",") if value.strip()}
                found = {link_id_of(self._by_sim[s]) for s in sims if s in self._by_sim}
                chosen = found if chosen is None else chosen & found
        devices = _id_set(query, "deviceid", "deviceids")
        if devices is not None:
            found = {link_id_of(self._by_device[d]) for d in devices if d in self._by_device}
            chosen = found if chosen is None else chosen & found
        return None if chosen is None else {i for i in chosen if i in self._by_link}

    def _link_filter(self, query: Mapping[str, str]) -> Callable[[FleetSim], bool]:
        tests: list[Callable[[FleetSim], bool]] = []
        if "msisdn" in query:
            tests.append(lambda sim: sim.msisdn == query["msisdn"])
        imsis = _text_set(query, "imsi", "imsis")
        if imsis is not None:
            tests.append(lambda sim: sim.imsi in imsis)
        if "simrange" in query:
            low, _, high = query["simrange"].partition("-")
            tests.append(lambda sim: low.strip() <= self._sim_text(sim) <= high.strip())
        claimed_after, claimed_before = (
            _int_param(query, "claimedafter"),
            _int_param(query, "claimedbefore"),
        )
        if claimed_after is not None:
            tests.append(lambda sim: _claimed(sim) > claimed_after)
        if claimed_before is not None:
            tests.append(lambda sim: _claimed(sim) < claimed_before)
        tests.append(self._tag_test(query))
        if query.get("tunnelable", "").lower() in {"1", "true"}:
            tests.append(lambda sim: False)  # no emulated SIM is tunnelable
        if "carrierid" in query:
            tests.append(lambda sim: query["carrierid"] == "2")
        return lambda sim: all(test(sim) for test in tests)

    def _device_filter(self, query: Mapping[str, str]) -> Callable[[FleetSim], bool]:
        tests: list[Callable[[FleetSim], bool]] = [self._tag_test(query)]
        if "sim" in query:
            tests.append(lambda sim: self._sim_text(sim) == query["sim"].strip())
        if "name" in query:
            tests.append(lambda sim: _device_name(sim) == query["name"])
        if "imei" in query:
            tests.append(lambda sim: sim.imei == query["imei"])
        if "imei-sv" in query:
            tests.append(lambda sim: _imei_sv(sim) == query["imei-sv"])
        if "phone" in query:
            tests.append(lambda sim: False)  # no emulated device has a phone number
        if query.get("tunnelable", "").lower() in {"1", "true"}:
            tests.append(lambda sim: False)
        if "type" in query:
            tests.append(lambda sim: query["type"] == "Unknown")
        if "orgids" in query:
            orgs = {value.strip() for value in query["orgids"].split(",")}
            tests.append(lambda sim: str(self.org_id) in orgs)
        return lambda sim: all(test(sim) for test in tests)

    def _tag_test(self, query: Mapping[str, str]) -> Callable[[FleetSim], bool]:
        tags = _id_set(query, "tagid", "tagids")
        if "tagname" in query:
            named = {
                tag_id for tag_id, tag in self._tags.items() if tag["name"] == query["tagname"]
            }
            tags = named if tags is None else tags & named
        if tags is None:
            return lambda sim: True
        wanted = tags
        return lambda sim: bool(self._tags_of.get(device_id_of(sim), set()) & wanted)

    def _usage_links(self, query: Mapping[str, str]) -> list[int]:
        """The links a usage query covers, in ascending id order (the listing itself, not
        a copy, when nothing filters it)."""
        links = _id_set(query, "linkid", "linkids")
        orgs = _text_set(query, "orgids", "orgids")
        if orgs is not None and str(self.org_id) not in orgs:
            return []
        chosen = self._link_ids if links is None else sorted(i for i in links if i in self._by_link)
        if query.get("islive", "").lower() in {"1", "true"}:
            chosen = [i for i in chosen if self._state(self._by_link[i]) == "LIVE"]
        if any(name in query for name in ("tagid", "tagids", "tagname")):
            keep = self._tag_test(query)
            chosen = [i for i in chosen if keep(self._by_link[i])]
        return chosen

    def _link_days(
        self, query: Mapping[str, str], first: date, stop: date, *, per: int = 1
    ) -> Iterator[tuple[int, date, int, int, FleetSim]]:
        """(day record id, day, link, bytes, SIM) newest first, from just below the
        ``startafter`` cursor: a day record id is ``day number * 10^6 + link id``, and a
        session or SMS id is that times ``per`` plus its index."""
        after = _int_param(query, "startafter")
        links = self._usage_links(query)
        day = stop - timedelta(days=1)
        if after is not None:
            day = min(day, date.fromordinal(max(1, (after - 1) // per // 1_000_000)))
        while day >= first:
            count = len(links)
            if after is not None:  # on the cursor's day, the links below the cursor's
                bound = (after - 1) // per - day.toordinal() * 1_000_000
                count = bisect.bisect_right(links, bound)
            for index in range(count - 1, -1, -1):
                link = links[index]
                sim = self._by_link[link]
                usage = self.fleet.daily_usage(sim.iccid, day)
                key = day.toordinal() * 1_000_000 + link
                yield key, day, link, usage.data_mo_bytes + usage.data_mt_bytes, sim
            day -= timedelta(days=1)

    def _days(self, query: Mapping[str, str], oldest: date) -> tuple[date, date]:
        """The days ``[first, stop)`` a usage query reaches, within what is kept."""
        window = _time_window(query)
        first = max(oldest, self.fleet.history_start)
        stop = self.fleet.today + timedelta(days=1)
        if window[0] is not None:
            first = max(first, window[0].date())
        if window[1] is not None:
            stop = min(stop, (window[1] - timedelta(microseconds=1)).date() + timedelta(days=1))
        return first, stop

    def _device_at(self, request: EmulatorRequest) -> FleetSim:
        sim = self._by_device.get(_number(request.path_params["deviceid"]) or -1)
        if sim is None:
            raise _Refusal(404, "Device not found")
        return sim

    def _tag_at(self, request: EmulatorRequest) -> dict[str, Any]:
        tag = self._tags.get(_number(request.path_params["tagid"]) or -1)
        if tag is None:
            raise _Refusal(404, "Tag not found")
        return tag

    def _devices_of(self, body: Mapping[str, Any], *, required: bool) -> list[int]:
        ids = body.get("deviceids")
        if ids is None and not required:
            return []
        if not isinstance(ids, list) or not ids:
            raise _Refusal(400, "deviceids must be a list of device ids")
        devices = [_number(str(item)) for item in ids]
        if any(device not in self._by_device for device in devices):
            raise _Refusal(400, "Unknown device in deviceids")
        return [device for device in devices if device is not None]

    def _tag_named(self, name: str) -> dict[str, Any]:
        found = self._first_named.get(name)
        return self._tags[found] if found is not None else self._new_tag(name)

    def _new_tag(self, name: str) -> dict[str, Any]:
        tag_id = 900 + len(self._tags) + 1
        while tag_id in self._tags:
            tag_id += 1
        tag: dict[str, Any] = {"id": tag_id, "name": name, "deviceids": set()}
        self._tags[tag_id] = tag
        self._first_named.setdefault(name, tag_id)
        return tag

    def _tag_device(self, tag: dict[str, Any], device: int) -> None:
        tag["deviceids"].add(device)
        self._tags_of.setdefault(device, set()).add(tag["id"])

    def _sim_text(self, sim: FleetSim) -> str:
        return sim.iccid if self.iccid_check_digit else sim.iccid[:-1]

    def _plan_id(self, sim: FleetSim) -> int:
        return next(plan for plan, tariff in self._plans.items() if tariff.id == sim.tariff_id)

    def _expiry(self, sim: FleetSim) -> datetime:
        claimed = sim.activated_at or sim.created_at
        today = datetime.combine(self.fleet.today, datetime.min.time(), tzinfo=UTC)
        periods = max(0, (today - claimed).days // 30) + 1
        return claimed + timedelta(days=30 * periods)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)


def link_id_of(sim: FleetSim) -> int:
    """The id of a SIM's cellular link."""
    return LINK_BASE + sim.serial


def device_id_of(sim: FleetSim) -> int:
    """The id of the device a SIM's link belongs to."""
    return DEVICE_BASE + sim.serial


def _fleet_state(status: SimStatus, sim: FleetSim) -> str:
    """How a fleet status shows on Hologram; every fourth paused SIM was paused by the
    system (a data limit reached)."""
    state = STATE_OF.get(status, "LIVE")
    return "PAUSED-SYS" if state == "PAUSED-USER" and sim.serial % 4 == 0 else state


def _before(record: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    """Whether a usage record comes after the ``startafter`` cursor (a lower id)."""
    after = _int_param(query, "startafter")
    return after is None or int(record["record_id"]) < after


def _imei_sv(sim: FleetSim) -> str:
    """The IMEI-SV the network sees: the IMEI without its check digit, software 01."""
    return f"{sim.imei[:14]}01" if sim.imei else ""


def _device_name(sim: FleetSim) -> str:
    return f"Device {sim.serial:05d}"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME)


def _price(amount: Decimal) -> str:
    return f"{amount:.4f}"


def _sessions(volume: int) -> int:
    return 1 + volume // 5_000_000


def _claimed(sim: FleetSim) -> int:
    return int((sim.activated_at or sim.created_at).timestamp())


def _body(request: EmulatorRequest) -> dict[str, Any]:
    """A JSON or form-urlencoded body, as the docs allow both."""
    content_type = request.headers.get("Content-Type", "")
    if "application/x-www-form-urlencoded" in content_type or "x-form-urlencoded" in content_type:
        form = parse_qs(request.request.content.decode(errors="replace"))
        return {key: values[-1] for key, values in form.items()}
    body = request.json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _Refusal(400, "The request body must be an object")
    return body


def _number(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    value = _number(raw)
    if value is None:
        raise _Refusal(400, f"{name} must be a number")
    return value


def _id_set(query: Mapping[str, str], one: str, many: str) -> set[int] | None:
    found: set[int] | None = None
    for name in dict.fromkeys((one, many)):
        if name in query:
            values = {_number(v) for v in query[name].split(",") if v.strip()}
            if None in values:
                raise _Refusal(400, f"{name} must be numbers")
            ids = {v for v in values if v is not None}
            found = ids if found is None else found & ids
    return found


def _text_set(query: Mapping[str, str], one: str, many: str) -> set[str] | None:
    found: set[str] | None = None
    for name in (one, many):
        if name in query:
            values = {v.strip() for v in query[name].split(",") if v.strip()}
            found = values if found is None else found & values
    return found


def _time_window(query: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    start, end = _int_param(query, "timestart"), _int_param(query, "timeend")
    return (
        datetime.fromtimestamp(start, UTC) if start is not None else None,
        datetime.fromtimestamp(end, UTC) if end is not None else None,
    )


def _inside(text: str, window: tuple[datetime | None, datetime | None]) -> bool:
    moment = datetime.strptime(text, TIME).replace(tzinfo=UTC)
    low, high = window
    return (low is None or moment >= low) and (high is None or moment < high)


def _us_date(text: str | None) -> date | None:
    """A ``MM/DD/YYYY`` date of ``mintime`` and ``maxtime``."""
    if text is None:
        return None
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y").date()
    except ValueError:
        raise _Refusal(400, "mintime and maxtime are MM/DD/YYYY dates") from None
