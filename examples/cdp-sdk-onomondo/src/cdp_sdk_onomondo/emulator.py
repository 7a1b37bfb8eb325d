"""The Onomondo API, emulated over a synthetic :class:`~cdp_sdk.sandbox.Fleet`.

It follows the public documentation where it speaks, and the connector's reading where it
does not (see the README's known gaps):

- auth: ``Authorization: <key>`` (``Bearer <key>`` is accepted too); otherwise 401;
- ``GET /sims?limit&next_page``: ``{"count", "limit", "offset", "total", "sims"}`` in SIM id
  order; the cursor is the base64 of the page's last SIM id, sent as a body field
  ``next_page`` (``cursor_in="body"``) or as a ``next_page`` header (``cursor_in="header"``);
- ``GET /sims/{sim_id}`` and ``PATCH /sims/{sim_id}`` with ``{"activated": bool}``, by the
  9-digit SIM id or the ICCID;
- ``GET /usage/{sim_id}?group=hours&filter=time:<day|month|year>``: one data row per day in
  service (``time``, ``upload``, ``download``, ``country_code``) under ``usage``, same paging;
- errors ``{"error": "<code>", "message": "..."}`` (the legacy style, e.g. ``sim_not_found``);
  a 429 carries ``x-ratelimit-limit/-remaining/-reset`` (reset in epoch seconds).

The fleet's ``active`` SIMs are ``activated: true``, all others ``false``; a SIM has been
online when the fleet gave it a device (an IMEI). Retired SIMs have left the organisation:
they are not listed and answer 404. Pass ``rate_limit=RateWindow(600, 60.0)`` for the
documented limit.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import httpx
from cdp_sdk import SimStatus
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetSim,
    json_response,
    route,
)

_TAG_NAMESPACE = uuid.UUID("6f1b7a52-4c0e-4a39-9d1c-0e5b3f7f2a10")
_NO_NETWORK = dict.fromkeys(("name", "country", "country_code", "mcc", "mnc"))
_NETWORK = {
    "name": "Telekom",
    "country": "Germany",
    "country_code": "DE",
    "mcc": "262",
    "mnc": "01",
}


class OnomondoEmulator(Emulator):
    """Onomondo's REST API over a fleet; SIM state changes are written to the fleet."""

    name = "onomondo"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        api_key: str = "onomondo-test-key",
        cursor_in: Literal["body", "header"] = "body",
        **options: Any,
    ) -> None:
        super().__init__(fleet, **options)
        self.api_key = api_key
        self.cursor_in = cursor_in

    # -- hooks -------------------------------------------------------------------------

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if key and key == self.api_key:
            return None
        return self.error(401, "unauthorized", "Missing or invalid API key")

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        return json_response({"error": code, "message": message}, status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        response = self.error(429, "rate_limit_exceeded", "Too many requests")
        limit = self.rate_limit.limit if self.rate_limit is not None else 600
        response.headers["x-ratelimit-limit"] = str(limit)
        response.headers["x-ratelimit-remaining"] = "0"
        response.headers["x-ratelimit-reset"] = str(math.ceil(self.clock() + retry_after))
        return response

    def lists(self, iccid: str) -> bool:
        sim = self.fleet.sim(iccid)
        return sim is not None and sim.status is not SimStatus.RETIRED

    # -- endpoints ---------------------------------------------------------------------

    @route("GET", "/sims")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        sims = self.listed()  # in SIM id order, kept between pages: a page is a slice
        first = 0
        if cursor := request.params.get("next_page"):
            last_id = _decode(cursor)
            if last_id is None:
                return self.error(400, "next_page_invalid", "Invalid next_page")
            first = bisect.bisect_right(sims, last_id, key=_sim_id)
        limit = self.page_limit(request.params.get("limit"), default=1000, maximum=1000)
        page = sims[first : first + limit]
        more = first + limit < len(sims)
        return self._page(
            "sims",
            [self._render(sim) for sim in page],
            offset=first,
            limit=limit,
            total=len(sims),
            cursor=_encode(_sim_id(page[-1])) if more and page else None,
        )

    @route("GET", "/sims/{sim_id}")
    def get_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request.path_params["sim_id"])
        if sim is None:
            return self.error(404, "sim_not_found", "SIM not found")
        return json_response(self._render(sim))

    @route("PATCH", "/sims/{sim_id}")
    def update_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request.path_params["sim_id"])
        if sim is None:
            return self.error(404, "sim_not_found", "SIM not found")
        body = request.json()  # a body that is not JSON is answered 400 by the framework
        if not isinstance(body, dict):
            return self.error(400, "body_invalid", "The body must be an object")
        activated = body.get("activated")
        if "activated" in body and not isinstance(activated, bool):
            return self.error(400, "activated_invalid", "activated must be true or false")
        if activated is True:
            target = SimStatus.ACTIVE
        elif activated is False and sim.status is SimStatus.ACTIVE:
            target = SimStatus.SUSPENDED if _came_online(sim) else SimStatus.INVENTORY
        else:  # already deactivated, or no change requested
            target = sim.status
        now = datetime.fromtimestamp(self.clock(), UTC)
        self.fleet.set_status(sim.iccid, target, at=now, actor="api")
        return json_response(self._render(sim))

    @route("GET", "/usage/{sim_id}")
    def sim_usage(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request.path_params["sim_id"])
        if sim is None:
            return self.error(404, "sim_not_found", "SIM not found")
        period = self._period(request)
        if period is None:
            return self.error(400, "filter_invalid", "Invalid filter")
        rows = [
            {
                "sim_id": _sim_id(sim),
                "time": _iso(
                    datetime.combine(day.day, datetime.min.time(), UTC)
                    + timedelta(hours=sim.serial % 24)
                ),
                "upload": day.data_mo_bytes,
                "download": day.data_mt_bytes,
                "country_code": "dk",
            }
            for day in self.fleet.usage_days(sim.iccid, *period)
            if day.data_mo_bytes or day.data_mt_bytes
        ]
        first = 0
        if cursor := request.params.get("next_page"):
            position = _decode(cursor)
            if position is None or not position.isdigit():
                return self.error(400, "next_page_invalid", "Invalid next_page")
            first = int(position)
        limit = self.page_limit(request.params.get("limit"), default=1000, maximum=1000)
        more = first + limit < len(rows)
        return self._page(
            "usage",
            rows[first : first + limit],
            offset=first,
            limit=limit,
            total=len(rows),
            cursor=_encode(str(first + limit)) if more else None,
        )

    # -- helpers -----------------------------------------------------------------------

    def _page(
        self, key: str, items: list[Any], *, offset: int, limit: int, total: int, cursor: str | None
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "count": len(items),
            "limit": limit,
            "offset": offset,
            "total": total,
            key: items,
        }
        headers: dict[str, str] = {}
        if self.cursor_in == "body":
            body["next_page"] = cursor
        elif cursor is not None:
            headers["next_page"] = cursor
        return json_response(body, headers=headers)

    def _find(self, key: str) -> FleetSim | None:
        if len(key) == 9 and key.isdigit():
            sim = next((s for s in self.fleet.sims.values() if _sim_id(s) == key), None)
        else:
            sim = self.fleet.sim(key)
        return sim if sim is not None and self.lists(sim.iccid) else None

    def _period(self, request: EmulatorRequest) -> tuple[date, date] | None:
        start, end = self.fleet.history_start, self.fleet.today + timedelta(days=1)
        filters = request.params.get_list("filter") + request.params.get_list("filter[]")
        for value in filters:
            if not value.startswith("time:"):
                continue
            text = value.removeprefix("time:")
            try:
                if len(text) == 10:
                    start = date.fromisoformat(text)
                    end = start + timedelta(days=1)
                elif len(text) == 7:
                    start = date.fromisoformat(text + "-01")
                    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
                else:
                    start = date(int(text), 1, 1)
                    end = date(start.year + 1, 1, 1)
            except ValueError:
                return None
        return start, end

    def _render(self, sim: FleetSim) -> dict[str, Any]:
        activated = sim.status is SimStatus.ACTIVE
        seen = _came_online(sim)
        online = activated and seen and sim.serial % 3 != 0
        last_online = _iso(sim.activated_at) if seen and sim.activated_at else None
        today = self.fleet.daily_usage(sim.iccid, self.fleet.today)
        return {
            "id": _sim_id(sim),
            "iccid": sim.iccid,
            "label": f"unit-{sim.serial:04d}" if sim.serial % 2 else None,
            "network_whitelist": "Europe",
            "imei_lock": None,
            "connector": None,
            "activated": activated,
            "ipv4": sim.ip_address,
            "online": online,
            "online_at": last_online if online else None,
            "last_came_online_at": last_online,
            "network": dict(_NETWORK if online else _NO_NETWORK),
            "usage": today.data_mo_bytes + today.data_mt_bytes,
            "tags": [_tag(value or key) for key, value in sim.tags.items()],
        }


def _sim_id(sim: FleetSim) -> str:
    return f"{sim.serial:09d}"


def _came_online(sim: FleetSim) -> bool:
    return sim.imei is not None


def _tag(name: str) -> dict[str, Any]:
    tag_id = str(uuid.uuid5(_TAG_NAMESPACE, name))
    return {"id": tag_id, "name": name, "can_write": True, "color": "#5ba571"}


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _decode(cursor: str) -> str | None:
    try:
        return base64.b64decode(cursor, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
