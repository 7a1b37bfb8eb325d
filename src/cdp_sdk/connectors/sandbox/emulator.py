"""The Sandbox platform's API, emulated over a synthetic fleet.

A small, fully featured CDP API of our own design: every normalized entity, a login
token, page-number and cursor paging, a vendor state machine, and JSON error bodies
``{"error": {"code", "message"}}``. It is the offline platform behind ``cdp demo``.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any

import httpx

from cdp_sdk.models import SimStatus
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetSim,
    RateWindow,
    TokenStore,
    json_response,
    route,
)

__all__ = ["DEFAULT_API_KEY", "SandboxEmulator"]

DEFAULT_API_KEY = "sandbox-api-key"

STATE_OF: dict[SimStatus, str] = {
    SimStatus.INVENTORY: "provisioned",
    SimStatus.TEST: "trial",
    SimStatus.READY: "activation_ready",
    SimStatus.ACTIVE: "live",
    SimStatus.SUSPENDED: "paused",
    SimStatus.DEACTIVATED: "stopped",
    SimStatus.RETIRED: "terminated",
}
STATUS_OF = {state: status for status, state in STATE_OF.items()}
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "provisioned": ("trial", "activation_ready", "live"),
    "trial": ("activation_ready", "live", "stopped"),
    "activation_ready": ("live", "stopped"),
    "live": ("paused", "stopped"),
    "paused": ("live", "stopped"),
    "stopped": ("live", "terminated"),
    "terminated": (),
}
MAX_USAGE_DAYS = 366


class SandboxEmulator(Emulator):
    """The Sandbox API over a :class:`~cdp_sdk.sandbox.Fleet`."""

    name = "sandbox"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        token_ttl: float = 3600.0,
        requests_per_second: int = 100,
        **options: Any,
    ) -> None:
        options.setdefault("rate_limit", RateWindow(requests_per_second, 1.0))
        super().__init__(fleet, **options)
        self.api_key = api_key
        self.tokens = TokenStore(token_ttl, clock=self.clock)

    # -- vendor shape -------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        return json_response({"error": {"code": code, "message": message}}, status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        response = self.error(429, "rate_limited", "Too many requests")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.valid(token):
            return None
        return self.error(401, "invalid_token", "The access token is missing or expired")

    # -- endpoints ----------------------------------------------------------------------

    @route("POST", "/v1/auth", auth=False)
    def login(self, request: EmulatorRequest) -> httpx.Response:
        body = request.json() or {}
        if body.get("api_key") != self.api_key:
            return self.error(401, "invalid_api_key", "Unknown API key")
        return json_response(
            {
                "access_token": self.tokens.issue(),
                "token_type": "Bearer",
                "expires_in": self.tokens.ttl,
            }
        )

    @route("GET", "/v1/sims")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        size = self.page_limit(request.params.get("page_size"), default=100, maximum=500)
        page = _positive_int(request.params.get("page"), 1)
        since = request.params.get("modified_since")
        try:
            cutoff = datetime.fromisoformat(since) if since else None
        except ValueError:
            return self.error(400, "invalid_parameter", "modified_since must be ISO 8601")
        wanted = [state for state in (request.params.get("status") or "").split(",") if state]
        if unknown := sorted(set(wanted) - set(STATUS_OF)):
            return self.error(400, "invalid_parameter", f"unknown status {unknown[0]!r}")
        # Both are kept by the fleet between pages: a page is a slice, O(page). A status
        # filter is applied to them (O(fleet) a page: a filtered listing is a rare call).
        sims = self.fleet.ordered() if cutoff is None else self.fleet.changed_since(cutoff)
        if wanted:
            sims = [sim for sim in sims if STATE_OF[sim.status] in wanted]
        total_pages = max(1, -(-len(sims) // size))
        chunk = sims[(page - 1) * size : page * size]
        return json_response(
            {
                "data": [self._sim(sim) for sim in chunk],
                "page": page,
                "page_size": size,
                "total_pages": total_pages,
            }
        )

    @route("GET", "/v1/sims/{iccid}")
    def get_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        return self._not_found() if sim is None else json_response(self._sim(sim))

    @route("POST", "/v1/sims/{iccid}/status")
    def set_status(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self._not_found()
        target = (request.json() or {}).get("status")
        if target not in STATUS_OF:
            return self.error(400, "invalid_status", "Unknown status")
        current = STATE_OF[sim.status]
        if target not in TRANSITIONS[current]:
            return self.error(409, "illegal_transition", f"Cannot go from {current} to {target}")
        self.fleet.set_status(sim.iccid, STATUS_OF[target], at=self._now(), actor="api")
        return json_response(
            {"iccid": sim.iccid, "status": target, "request_id": f"chg-{len(self.requests)}"}
        )

    @route("PATCH", "/v1/sims/{iccid}/tags")
    def update_tags(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self._not_found()
        body = request.json() or {}
        tags = {k: v for k, v in sim.tags.items() if k not in body.get("remove", [])}
        tags.update(body.get("set", {}))
        self.fleet.set_tags(sim.iccid, tags, at=self._now(), actor="api")
        return json_response(self._sim(sim))

    @route("GET", "/v1/plans")
    def list_plans(self, request: EmulatorRequest) -> httpx.Response:
        return json_response(
            {
                "data": [
                    {
                        "id": plan.id,
                        "name": plan.name,
                        "currency": plan.currency,
                        "monthly_fee": str(plan.monthly_fee),
                        "included": {
                            "data_mb": plan.included_data_bytes // 1_000_000,
                            "sms": plan.included_sms,
                        },
                        "overage_per_mb": str(plan.overage_per_mb),
                    }
                    for plan in self.fleet.tariffs
                ]
            }
        )

    @route("GET", "/v1/sims/{iccid}/usage")
    def sim_usage(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self._not_found()
        span = self._span(request)
        if isinstance(span, httpx.Response):
            return span
        days = self.fleet.usage_days(sim.iccid, *span)
        return json_response({"data": [_day(d.day, d) for d in days]})

    @route("GET", "/v1/usage")
    def account_usage(self, request: EmulatorRequest) -> httpx.Response:
        span = self._span(request)
        if isinstance(span, httpx.Response):
            return span
        totals: dict[date, dict[str, int]] = {}
        for sim in self.fleet.sorted_sims():
            for usage in self.fleet.usage_days(sim.iccid, *span):
                row = totals.setdefault(usage.day, dict.fromkeys(_USAGE_FIELDS, 0))
                for field, attribute in _USAGE_FIELDS.items():
                    row[field] += getattr(usage, attribute)
        return json_response(
            {"data": [{"date": day.isoformat(), **row} for day, row in sorted(totals.items())]}
        )

    @route("GET", "/v1/invoices")
    def list_invoices(self, request: EmulatorRequest) -> httpx.Response:
        return json_response(
            {
                "data": [
                    {
                        "number": invoice.id,
                        "period": {
                            "from": invoice.period_start.isoformat(),
                            "to": invoice.period_end.isoformat(),
                        },
                        "issued_on": invoice.issued_at.isoformat() if invoice.issued_at else None,
                        "due_on": invoice.due_at.isoformat() if invoice.due_at else None,
                        "currency": invoice.currency,
                        "total": str(invoice.total),
                        "state": "closed" if invoice.closed else "open",
                        "lines": [
                            {
                                "text": line.description,
                                "category": line.category,
                                "quantity": str(line.quantity),
                                "unit_price": str(line.unit_price),
                                "amount": str(line.amount),
                            }
                            for line in invoice.lines
                        ],
                    }
                    for invoice in self.fleet.invoices()
                ]
            }
        )

    @route("GET", "/v1/events")
    def list_events(self, request: EmulatorRequest) -> httpx.Response:
        size = self.page_limit(request.params.get("limit"), default=200, maximum=1000)
        iccid = request.params.get("iccid")
        try:
            since = _instant(request.params.get("since"))
            until = _instant(request.params.get("until"))
        except ValueError:
            return self.error(400, "invalid_parameter", "since and until must be ISO 8601")
        events = self.fleet.audit_events(iccid=iccid, since=since, until=until)
        offset = _decode_cursor(request.params.get("cursor"))
        chunk = events[offset : offset + size]
        more = offset + size < len(events)
        return json_response(
            {
                "data": [
                    {
                        "id": event.id,
                        "iccid": event.iccid,
                        "at": event.occurred_at.isoformat().replace("+00:00", "Z"),
                        "type": event.kind.value,
                        "field": event.field,
                        "from": _vendor_value(event.field, event.old_value),
                        "to": _vendor_value(event.field, event.new_value),
                        "by": event.actor,
                    }
                    for event in chunk
                ],
                "next_cursor": _encode_cursor(offset + size) if more else None,
            }
        )

    # -- helpers ------------------------------------------------------------------------

    def _sim(self, sim: FleetSim) -> dict[str, Any]:
        return {
            "iccid": sim.iccid,
            "imsi": sim.imsi,
            "msisdn": f"+{sim.msisdn}",
            "imei": sim.imei,
            "eid": sim.eid,
            "status": STATE_OF[sim.status],
            "plan_id": sim.tariff_id,
            "created_at": _iso(sim.created_at),
            "activated_at": _iso(sim.activated_at),
            "updated_at": _iso(sim.updated_at),
            "ip_address": sim.ip_address,
            "tags": dict(sim.tags),
        }

    def _span(self, request: EmulatorRequest) -> tuple[date, date] | httpx.Response:
        try:
            start = date.fromisoformat(request.params.get("from") or "")
            end = date.fromisoformat(request.params.get("to") or "")
        except ValueError:
            return self.error(400, "invalid_parameter", "from and to must be YYYY-MM-DD dates")
        if end <= start or (end - start).days > MAX_USAGE_DAYS:
            return self.error(
                400, "invalid_range", f"to must be after from, at most {MAX_USAGE_DAYS} days"
            )
        return start, end

    def _not_found(self) -> httpx.Response:
        return self.error(404, "sim_not_found", "No SIM with this ICCID")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)


_USAGE_FIELDS = {
    "data_up_bytes": "data_mo_bytes",
    "data_down_bytes": "data_mt_bytes",
    "sms_mo": "sms_mo",
    "sms_mt": "sms_mt",
    "voice_mo_seconds": "voice_mo_seconds",
    "voice_mt_seconds": "voice_mt_seconds",
}


def _day(day: date, usage: Any) -> dict[str, Any]:
    return {"date": day.isoformat(), **{f: getattr(usage, a) for f, a in _USAGE_FIELDS.items()}}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _vendor_value(field: str, value: str | None) -> str | None:
    if field == "status" and value is not None:
        return STATE_OF.get(SimStatus(value), value)
    return value


def _positive_int(text: str | None, default: int) -> int:
    try:
        return max(1, int(text)) if text else default
    except ValueError:
        return default


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode("ascii")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o:")))
    except ValueError:
        return 0
