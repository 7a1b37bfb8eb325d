"""The emnify REST API, emulated over a synthetic fleet.

Shaped on the reference and on traffic recorded from the live API: a JWT from
``POST /api/v1/authenticate`` (valid 7 days, ``exp`` claim; the call itself allows 100
logins per 5 minutes), bare JSON arrays paged by ``page``/``per_page`` with the ``X-*``
headers (lower case on event lists) and ``Link``, a page number out of range answered
with the last page, ``{"error_code", "error_token", "message"}`` errors (gateway errors
carry only ``message``), ``204`` on PATCH, SIM status moves as documented (an illegal one
is refused with the PATCH's documented ``400`` and the ``1406 NotAllowed`` body), tags on
the endpoint, MB stats and events kept 30 days. SIM records carry ``iccid`` without its
check digit and, like the live records, mostly no ``iccid_with_luhn`` (one SIM in ten has
it); events name their SIM by ``iccid`` only. A page of SIMs costs O(page). Rate
limiting follows the general 2,000 requests per 5 minutes; the per-path limits (10 to 100
requests per second) are not emulated. 429 answers carry no ``Retry-After`` (none is
documented).

Fleet states emnify lacks are shown as their nearest emnify state: ``ready`` as Issued,
``deactivated`` as Suspended. Deleted SIMs are gone from the inventory.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from cdp_sdk.connectors._emnify_family import (
    EMNIFY_DIRECTIONS,
    error_body,
    page_count,
    page_headers,
    page_number,
    page_of,
    stats_block,
)
from cdp_sdk.models import AuditKind, Bearer, SimStatus
from cdp_sdk.sandbox import (
    DailyUsage,
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetAudit,
    FleetSim,
    RateWindow,
    TokenStore,
    json_response,
    route,
)

__all__ = ["DEFAULT_APPLICATION_TOKEN", "EmnifyEmulator"]

DEFAULT_APPLICATION_TOKEN = "emnify-sandbox-application-token"
TOKEN_TTL = 7 * 24 * 3600.0
RETENTION = timedelta(days=30)

SIM_ID_BASE = 4_100_000
ENDPOINT_ID_BASE = 11_380_000
PROFILE_ID_BASE = 424_560
ORG = {"id": 51234, "name": "Sandbox Fleet", "country": {"id": 74, "name": "Germany"}}
ISSUER = {"id": 2, "name": "emnify", "country": {"id": 74, "name": "Germany"}}
MODEL = {
    "id": 4,
    "description": "Classic",
    "memory_size": 128,
    "formfactor": {"id": 6, "name": "1/2/3FF (3in1)"},
    "manufacturer": {"id": 2, "name": "Bluefish"},
}

STATE_NAMES = {0: "Issued", 1: "Activated", 2: "Suspended", 3: "Deleted", 4: "Factory Test"}
VENDOR_STATE: dict[SimStatus, int] = {
    SimStatus.INVENTORY: 0,
    SimStatus.READY: 0,
    SimStatus.ACTIVE: 1,
    SimStatus.SUSPENDED: 2,
    SimStatus.DEACTIVATED: 2,
    SimStatus.RETIRED: 3,
    SimStatus.TEST: 4,
}
FLEET_STATUS = {
    0: SimStatus.INVENTORY,
    1: SimStatus.ACTIVE,
    2: SimStatus.SUSPENDED,
    3: SimStatus.RETIRED,
    4: SimStatus.TEST,
}
ALLOWED_MOVES: dict[int, tuple[int, ...]] = {0: (1, 4), 1: (2,), 2: (1,), 3: (), 4: (1,)}
EVENT_TYPES = {
    1: (8, "SIM activation"),
    2: (9, "SIM suspension"),
    3: (10, "SIM deletion"),
    4: (45, "SIM factory test"),
}
ERRORS: dict[int, tuple[int, str]] = {
    400: (1000, "BadRequest"),
    401: (1102, "InvalidToken"),
    403: (1104, "Forbidden"),
    404: (1201, "NotFound"),
    405: (1000, "BadRequest"),
    409: (1406, "NotAllowed"),
    422: (1400, "InputValidationFailed"),
    429: (1105, "TooManyRequests"),
}
SIM_FILTERS = {"iccid", "iccid_with_luhn", "imsi", "msisdn", "status", "id"}
SMS_RATE = Decimal("0.06")


class EmnifyEmulator(Emulator):
    """The emnify REST API over a :class:`~cdp_sdk.sandbox.Fleet`."""

    name = "emnify"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        application_token: str = DEFAULT_APPLICATION_TOKEN,
        token_ttl: float = TOKEN_TTL,
        **options: Any,
    ) -> None:
        options.setdefault("rate_limit", RateWindow(2000, 300.0))
        super().__init__(fleet, **options)
        self.application_token = application_token
        self.tokens = TokenStore(token_ttl, clock=self.clock)
        self.logins = RateWindow(100, 300.0)
        self._by_serial = {sim.serial: sim for sim in self.fleet.sims.values()}
        self._by_plain = {sim.iccid[:-1]: sim for sim in self.fleet.sims.values()}

    # -- vendor shape -------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        if status >= 500:  # the API gateway answers these, with a bare message
            return json_response({"message": message}, status)
        number, token = ERRORS.get(status, (1000, "BadRequest"))
        return json_response(error_body(number, token, message), status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        return json_response(error_body(1105, "TooManyRequests", "Too many requests"), 429)

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        segments = token.split(".")
        if len(segments) != 3:
            return json_response({"message": "token contains an invalid number of segments"}, 401)
        if not self.tokens.valid(segments[2]):
            return json_response(error_body(1103, "TokenExpired", "Token has expired"), 401)
        return None

    def lists(self, iccid: str) -> bool:
        return VENDOR_STATE[self.fleet.sims[iccid].status] != 3

    # -- authentication -------------------------------------------------------------------

    @route("POST", "/api/v1/authenticate", auth=False)
    def login(self, request: EmulatorRequest) -> httpx.Response:
        wait = self.logins.hit()
        if wait is not None:
            return self.rate_limited(wait)
        body = request.json()
        if not isinstance(body, dict) or body.get("application_token") != self.application_token:
            return json_response(error_body(1101, "InvalidCredentials", "Invalid credentials"), 401)
        now = self.clock()
        claims = {
            "aud": "/api/v1/authentication",
            "esc.app": 1,
            "esc.org": ORG["id"],
            "esc.orgName": ORG["name"],
            "iss": "cdp-sdk emnify emulator",
            "iat": int(now),
            "exp": int(now + self.tokens.ttl),
        }
        return json_response({"auth_token": _jwt(claims, self.tokens.issue())})

    # -- SIMs and endpoints -------------------------------------------------------------

    @route("GET", "/api/v1/sim")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        size = self.page_limit(request.params.get("per_page"), default=2000, maximum=2500)
        filters = _query_filters(request.params.get("q"))
        if filters is None or not set(filters) <= SIM_FILTERS:
            return self._invalid_query()
        sims = self._filtered(filters) if filters else self.listed()
        pages = page_count(len(sims), size)
        page = page_number(request.params.get("page", 1), pages)
        chunk = [self._sim(sim) for sim in sims[(page - 1) * size : page * size]]
        headers = page_headers(page=page, size=size, total=len(sims), pages=pages)
        headers |= {"X-Sort": "id", "Link": _links(request.request.url, page, pages)}
        return json_response(chunk, headers=headers)

    @route("GET", "/api/v1/sim/{sim_id}")
    def get_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_id(request.path_params["sim_id"])
        return self._no_sim(request) if sim is None else json_response(self._sim(sim))

    @route("PATCH", "/api/v1/sim/{sim_id}")
    def update_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_id(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim(request)
        body = request.json()
        status = body.get("status") if isinstance(body, dict) else None
        target = status.get("id") if isinstance(status, dict) else None
        if isinstance(target, bool) or target not in STATE_NAMES:
            return self._invalid("Update SIM validation error", "SIM - status has invalid format")
        current = VENDOR_STATE[sim.status]
        if target != current and target not in ALLOWED_MOVES[current]:
            # The PATCH documents 204 and 400 (an error_code/error_token/message body); the
            # errors reference gives 1406 NotAllowed as its 400 example.
            message = f"Status change from '{STATE_NAMES[current]}' to '{STATE_NAMES[target]}'"
            body = error_body(1406, "NotAllowed", f"{message} is not allowed.")
            return json_response(body, 400)
        if target != current:
            self.fleet.set_status(sim.iccid, FLEET_STATUS[target], at=self._now(), actor="api")
        return httpx.Response(204)

    @route("GET", "/api/v1/endpoint/{endpoint_id}")
    def get_endpoint(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_endpoint(request.path_params["endpoint_id"])
        return self._no_endpoint(request) if sim is None else json_response(self._endpoint(sim))

    @route("PATCH", "/api/v1/endpoint/{endpoint_id}")
    def update_endpoint(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_endpoint(request.path_params["endpoint_id"])
        if sim is None:
            return self._no_endpoint(request)
        body = request.json()
        if not isinstance(body, dict):
            return self._invalid("Update endpoint validation error", "Endpoint - invalid body")
        if "tags" in body:
            tags = body["tags"]
            if tags is not None and not isinstance(tags, str):
                return self._invalid(
                    "Update endpoint validation error", "Endpoint - tags has invalid format"
                )
            labels = [label.strip() for label in (tags or "").split(",") if label.strip()]
            self.fleet.set_tags(sim.iccid, dict.fromkeys(labels), at=self._now(), actor="api")
        return httpx.Response(204)

    # -- tariffs ------------------------------------------------------------------------

    @route("GET", "/api/v1/tariff_profile")
    def list_tariff_profiles(self, request: EmulatorRequest) -> httpx.Response:
        # The operation takes no paging parameters and answers every profile at once.
        return json_response([self._profile(index) for index in range(len(self.fleet.tariffs))])

    @route("GET", "/api/v1/tariff_plan/active")
    def active_tariff_plan(self, request: EmulatorRequest) -> httpx.Response:
        active = sum(1 for sim in self.fleet.sims.values() if sim.status is SimStatus.ACTIVE)
        return json_response(
            {
                "id": 1,
                "organisation_id": ORG["id"],
                "start_date": f"{self.fleet.history_start.isoformat()}T00:00:00.000+0000",
                "expiry_date": None,
                "sim_activated_rate": 0.9,
                "sim_activated_idle_rate": 0.5,
                "sim_suspended_rate": 0,
                "sim_suspended_active_rate": 0,
                "sim_activated_amount": active,
                "applied_price": {"sim_activated_rate": [{"rate": 0.9, "volume": active}]},
                "tariff_plan": {
                    "id": 7,
                    "name": "Pay as you grow",
                    "description": "Monthly fee per activated SIM",
                    "rate": 0,
                    "yearly_rate": 0,
                    "sim_activation_fee": 0,
                    "max_active_sims": 10000,
                    "currency": {"id": 1, "code": "EUR", "symbol": "€"},
                },
                "active": True,
            }
        )

    # -- usage --------------------------------------------------------------------------

    @route("GET", "/api/v1/sim/{sim_id}/stats/daily")
    def sim_daily_stats(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_id(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim(request)
        span = self._span(request)
        if isinstance(span, httpx.Response):
            return span
        rows = [
            self._day_row(usage.day, [usage]) for usage in self.fleet.usage_days(sim.iccid, *span)
        ]
        return json_response(rows)

    @route("GET", "/api/v1/organisation/{org}/stats/daily")
    def organisation_daily_stats(self, request: EmulatorRequest) -> httpx.Response:
        if request.path_params["org"] not in ("my", str(ORG["id"])):
            return self.error(403, "forbidden", "You do not have access to this organisation.")
        span = self._span(request)
        if isinstance(span, httpx.Response):
            return span
        by_day: dict[date, list[DailyUsage]] = {}
        for sim in self.fleet.sorted_sims():
            for usage in self.fleet.usage_days(sim.iccid, *span):
                by_day.setdefault(usage.day, []).append(usage)
        rows = [self._day_row(day, usages, as_text=True) for day, usages in sorted(by_day.items())]
        everything = [usage for usages in by_day.values() for usage in usages]
        rows.append({**self._day_row(span[0], everything, as_text=True), "date": "TOTAL"})
        return json_response(rows)

    @route("GET", "/api/v1/sim/{sim_id}/stats")
    def sim_stats(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_id(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim(request)
        return json_response(self._months([sim]))

    @route("GET", "/api/v1/organisation/{org}/stats")
    def organisation_stats(self, request: EmulatorRequest) -> httpx.Response:
        if request.path_params["org"] not in ("my", str(ORG["id"])):
            return self.error(403, "forbidden", "You do not have access to this organisation.")
        return json_response(self._months(self.fleet.sorted_sims()))

    # -- events -------------------------------------------------------------------------

    @route("GET", "/api/v1/event")
    def list_events(self, request: EmulatorRequest) -> httpx.Response:
        return self._events(request, None)

    @route("GET", "/api/v1/sim/{sim_id}/event")
    def list_sim_events(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_id(request.path_params["sim_id"])
        return self._no_sim(request) if sim is None else self._events(request, sim)

    @route("GET", "/api/v1/endpoint/{endpoint_id}/event")
    def list_endpoint_events(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim_by_endpoint(request.path_params["endpoint_id"])
        return self._no_endpoint(request) if sim is None else self._events(request, sim)

    # -- rendering ----------------------------------------------------------------------

    def _sim(self, sim: FleetSim) -> dict[str, Any]:
        state = VENDOR_STATE[sim.status]
        record: dict[str, Any] = {"id": SIM_ID_BASE + sim.serial, "iccid": sim.iccid[:-1]}
        if sim.serial % 10 == 0:  # live records mostly lack it
            record["iccid_with_luhn"] = sim.iccid
        record |= {
            "eid": sim.eid,
            "production_date": _timestamp(sim.created_at),
            "status": {"id": state, "description": STATE_NAMES[state]},
            "customer_org": ORG,
            "issuer_org": ISSUER,
            "imsi": sim.imsi,
            "msisdn": sim.msisdn,
            "model": MODEL,
        }
        if sim.activated_at is not None:
            record["activation_date"] = _timestamp(sim.activated_at)
        if _has_endpoint(sim):
            record["endpoint"] = {
                "id": ENDPOINT_ID_BASE + sim.serial,
                "name": f"device-{sim.serial}",
                "imei": sim.imei,
                "created": _timestamp(sim.created_at),
                "last_updated": _timestamp(sim.updated_at),
                "organisation_id": ORG["id"],
                "service_profile_id": 438035,
                "tariff_profile_id": self._profile_id(sim),
                "tags": _labels(sim),
                "ip_address": sim.ip_address,
                "ip_address_space_id": 24746,
            }
        return record

    def _endpoint(self, sim: FleetSim) -> dict[str, Any]:
        state = VENDOR_STATE[sim.status]
        enabled = sim.status not in (SimStatus.SUSPENDED, SimStatus.DEACTIVATED)
        return {
            "id": ENDPOINT_ID_BASE + sim.serial,
            "name": f"device-{sim.serial}",
            "tags": _labels(sim),
            "created": _timestamp(sim.created_at),
            "last_updated": _timestamp(sim.updated_at),
            "status": {"id": 0, "description": "Enabled"}
            if enabled
            else {"id": 1, "description": "Disabled"},
            "service_profile": {"id": 438035, "name": "Default service policy"},
            "tariff_profile": {
                "id": self._profile_id(sim),
                "name": self.fleet.tariff(sim.tariff_id).name,
            },
            "sim": {
                "id": SIM_ID_BASE + sim.serial,
                "iccid": sim.iccid[:-1],
                "iccid_with_luhn": sim.iccid,
                "imsi": sim.imsi,
                "msisdn": sim.msisdn,
                "status": {"id": state, "description": STATE_NAMES[state]},
            },
            "imei": sim.imei,
            "ip_address": sim.ip_address,
            "ip_address_space": {"id": 24746},
            "imei_lock": False,
        }

    def _profile(self, index: int) -> dict[str, Any]:
        tariff = self.fleet.tariffs[index]
        return {
            "id": PROFILE_ID_BASE + index,
            "name": tariff.name,
            "description": f"Coverage policy for {tariff.name}",
            "used_count": sum(1 for sim in self.fleet.sims.values() if sim.tariff_id == tariff.id),
            "tariff": {
                "id": 100 + index,
                "name": tariff.name,
                "description": f"{tariff.included_data_bytes // 1_000_000} MB included",
                "created": "2014-10-20 00:00:00",
                "default_sms_mt_rate": float(SMS_RATE),
                "default_sms_mo_rate": float(SMS_RATE),
                "sim_issued_rate": 0,
                "sim_activated_rate": float(tariff.monthly_fee),
                "sim_suspended_rate": 0,
                "sim_activation_rate": 0,
                "sim_reactivation_rate": 0.5,
                "sim_suspension_rate": 0.5,
                "sim_termination_rate": 0,
                "currency": {"id": 1, "code": tariff.currency, "symbol": "€"},
                "data_blocksize": {"id": 1, "description": "exact", "octets": 1},
                "data_throttle": {"id": 1, "description": "256 kbit/s", "octets": 256000},
            },
        }

    def _profile_id(self, sim: FleetSim) -> int:
        ids = [tariff.id for tariff in self.fleet.tariffs]
        return PROFILE_ID_BASE + ids.index(sim.tariff_id)

    def _day_row(
        self, day: date, usages: list[DailyUsage], *, as_text: bool = False
    ) -> dict[str, Any]:
        up = sum(usage.data_mo_bytes for usage in usages)
        down = sum(usage.data_mt_bytes for usage in usages)
        sms_mo = sum(usage.sms_mo for usage in usages)
        sms_mt = sum(usage.sms_mt for usage in usages)
        row: dict[str, Any] = {"date": day.isoformat()}
        if up + down + sms_mo + sms_mt == 0:
            return row  # a day without traffic comes as an empty shell
        row["data"] = stats_block(
            Bearer.DATA,
            up / 1e6,
            down / 1e6,
            directions=EMNIFY_DIRECTIONS,
            cost=self._data_cost(usages),
            as_text=as_text,
        )
        row["sms"] = stats_block(
            Bearer.SMS,
            sms_mo,
            sms_mt,
            directions=EMNIFY_DIRECTIONS,
            cost=SMS_RATE * (sms_mo + sms_mt),
            as_text=as_text,
        )
        return row

    def _data_cost(self, usages: Iterable[DailyUsage]) -> Decimal:
        total = Decimal(0)
        for usage in usages:
            rate = self.fleet.tariff(self.fleet.sims[usage.iccid].tariff_id).overage_per_mb
            total += rate * Decimal(usage.data_mo_bytes + usage.data_mt_bytes) / 1_000_000
        return total.quantize(Decimal("0.000001"))

    def _months(self, sims: list[FleetSim]) -> dict[str, Any]:
        this_month = self.fleet.today.replace(day=1)
        last_month = (this_month - timedelta(days=1)).replace(day=1)
        spans = {
            "last_month": (last_month, this_month),
            "current_month": (this_month, self.fleet.today + timedelta(days=1)),
        }
        answer: dict[str, Any] = {}
        for key, (first, stop) in spans.items():
            usages = [u for sim in sims for u in self.fleet.usage_days(sim.iccid, first, stop)]
            row = self._day_row(first, usages)
            if "data" in row:
                month = first.isoformat()
                answer[key] = {
                    bearer: {**row[bearer], "month": month, "last_updated": _timestamp(self._now())}
                    for bearer in ("data", "sms")
                }
        return answer

    def _events(self, request: EmulatorRequest, sim: FleetSim | None) -> httpx.Response:
        size = self.page_limit(request.params.get("per_page"), default=100, maximum=1000)
        filters = _query_filters(request.params.get("q"))
        window = _event_window(filters)
        if window is None:
            return self._invalid_query()
        since, until = window
        cutoff = datetime.combine(self.fleet.today, time.min, tzinfo=UTC) - RETENTION
        events = [
            self._event(number, audit)
            for number, audit in enumerate(self.fleet.audit, start=1)
            if (sim is None or audit.iccid == sim.iccid)
            and audit.occurred_at >= max(cutoff, since or cutoff)
            and (until is None or audit.occurred_at < until)
        ]
        events = [event for event in events if event is not None]
        chunk, page, pages = page_of(events, request.params.get("page", 1), size)
        headers = page_headers(page=page, size=size, total=len(events), pages=pages, lower=True)
        headers |= {"x-sort": "id", "Link": ""}
        return json_response(list(chunk), headers=headers)

    def _event(self, number: int, audit: FleetAudit) -> dict[str, Any] | None:
        sim = self.fleet.sims[audit.iccid]
        if audit.kind is AuditKind.STATUS_CHANGE:
            old = VENDOR_STATE[SimStatus(audit.old_value)] if audit.old_value else 0
            new = VENDOR_STATE[SimStatus(audit.new_value or "unknown")]
            if old == new:
                return None  # no move emnify would show
            type_id, type_name = EVENT_TYPES.get(new, (0, "Generic"))
            text = f"Status of SIM changed from '{STATE_NAMES[old]}' to '{STATE_NAMES[new]}'"
        elif audit.kind is AuditKind.TARIFF_CHANGE:
            type_id, type_name, text = 48, "SIM registration", "SIM registered to the workspace"
        else:
            type_id, type_name, text = 0, "Generic", f"Endpoint {audit.field} updated"
        api = "@" in audit.actor or audit.actor == "api"
        event: dict[str, Any] = {
            "timestamp": _event_time(audit.occurred_at),
            "alert": False,
            "description": text,
            "id": 351_732_524_384_000 + number,
            "event_type": {"id": type_id, "description": type_name},
            "event_source": {"id": 2, "description": "API"}
            if api
            else {"id": 1, "description": "Policy Control"},
            "event_severity": {"id": 0, "description": "Info"},
            "organisation": {"id": ORG["id"], "name": ORG["name"]},
            "sim": {
                "iccid": sim.iccid[:-1],
                "id": SIM_ID_BASE + sim.serial,
                "production_date": _event_time(sim.created_at),
            },
            "imsi": {"id": sim.serial, "imsi": sim.imsi},
        }
        if "@" in audit.actor:
            event["user"] = {"id": 1, "username": audit.actor, "name": audit.actor}
        return event

    # -- helpers ------------------------------------------------------------------------

    def _filtered(self, filters: dict[str, str]) -> Sequence[FleetSim]:
        """The listed SIMs matching every ``field:value`` filter (exact values)."""
        if "iccid" in filters or "iccid_with_luhn" in filters:
            plain = filters.get("iccid") or filters.get("iccid_with_luhn", "")[:-1]
            found = self._by_plain.get(plain)
            candidates: Sequence[FleetSim] = (
                [found] if found is not None and self.lists(found.iccid) else []
            )
        elif "id" in filters:
            found = self._sim_by_id(filters["id"])
            candidates = [found] if found is not None else []
        else:
            candidates = self.listed()
        return [
            sim
            for sim in candidates
            if all(_filter_value(sim, key) == value for key, value in filters.items())
        ]

    def _sim_by_id(self, text: str) -> FleetSim | None:
        sim = self._by_serial.get(_int(text) - SIM_ID_BASE)
        return sim if sim is not None and self.lists(sim.iccid) else None

    def _sim_by_endpoint(self, text: str) -> FleetSim | None:
        sim = self._by_serial.get(_int(text) - ENDPOINT_ID_BASE)
        return sim if sim is not None and _has_endpoint(sim) and self.lists(sim.iccid) else None

    def _span(self, request: EmulatorRequest) -> tuple[date, date] | httpx.Response:
        """``[start_date, end_date)``; by default the current month."""
        month = self.fleet.today.replace(day=1)
        try:
            start = _date(request.params.get("start_date")) or month
            end = _date(request.params.get("end_date")) or _next_month(start)
        except ValueError:
            return self.error(400, "bad_request", "Cannot parse parameter start_date or end_date")
        return start, end

    def _no_sim(self, request: EmulatorRequest) -> httpx.Response:
        return self.error(
            404, "not_found", f"SIM with id '{request.path_params['sim_id']}' not found."
        )

    def _no_endpoint(self, request: EmulatorRequest) -> httpx.Response:
        endpoint = request.path_params["endpoint_id"]
        return json_response(
            error_body(1401, "InvalidReference", f"Endpoint with Id '{endpoint}' not found."), 404
        )

    def _invalid_query(self) -> httpx.Response:
        body = error_body(1301, "InvalidQueryCriteria", "Search criteria is invalid")
        return json_response(body, 422)

    def _invalid(self, message: str, detail: str) -> httpx.Response:
        body = error_body(1400, "InputValidationFailed", message)
        body["errors"] = [error_body(1403, "InvalidFormat", detail)]
        return json_response(body, 422)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)


def _has_endpoint(sim: FleetSim) -> bool:
    return sim.status is not SimStatus.INVENTORY


def _labels(sim: FleetSim) -> str | None:
    labels = [value or key for key, value in sim.tags.items()]
    return ",".join(labels) if labels else None


def _jwt(claims: dict[str, Any], signature: str) -> str:
    def encode(part: dict[str, Any]) -> str:
        raw = json.dumps(part, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{encode({'alg': 'HS256', 'typ': 'JWT'})}.{encode(claims)}.{signature}"


def _query_filters(text: str | None) -> dict[str, str] | None:
    """``field:value,field:value`` as a dict; ``None`` when malformed."""
    filters: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part:
            continue
        key, sep, value = part.partition(":")
        if not sep:
            return None
        filters[key.strip()] = value.strip()
    return filters


def _event_window(
    filters: dict[str, str] | None,
) -> tuple[datetime | None, datetime | None] | None:
    if filters is None or ("from" in filters) != ("until" in filters):
        return None  # from and until go together
    if "from" not in filters:
        return None, None
    try:
        since = datetime.strptime(filters["from"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        until = datetime.strptime(filters["until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return since, until


def _filter_value(sim: FleetSim, key: str) -> str:
    """The value of a SIM list filter field for a fleet SIM."""
    values = {
        "id": str(SIM_ID_BASE + sim.serial),
        "iccid": sim.iccid[:-1],
        "iccid_with_luhn": sim.iccid,
        "imsi": sim.imsi,
        "msisdn": sim.msisdn,
        "status": str(VENDOR_STATE[sim.status]),
    }
    return values[key]


def _links(url: httpx.URL, page: int, pages: int) -> str:
    rels = {"first": 1, "prev": page - 1, "next": page + 1, "last": pages}
    return ", ".join(
        f'<{url.copy_set_param("page", number)}>; rel="{rel}"'
        for rel, number in rels.items()
        if 1 <= number <= pages
    )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _event_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1
