"""The 1NCE Management API, emulated over a synthetic fleet.

Follows 1NCE's published OpenAPI specs (SIM Management v1, Authorization, Product
Information) under the ``/management-api`` deployment prefix: ``POST /oauth/token`` with
HTTP Basic and a JSON ``grant_type`` (bad credentials are a ``400 BadCredentials``, as
documented), bearer tokens valid ``expires_in`` = 3600 s, ``page``/``pageSize`` lists with
the ``X-*`` headers, ``PUT /v1/sims/{iccid}`` for status and label, daily usage with MB
strings limited to the last 6 months, quotas, per-SIM events and products (100 calls per
5 minutes). Errors follow the v2 spec's ``{"error_code", "error_token", "message"}``;
401 and 403 come from the gateway as ``{"message"}``.

Requests are checked as the specs describe them: a query parameter the operation does not
document, a ``page`` or ``pageSize`` out of its documented range or not a number, and a PUT
body with a field ``Values_for_a_SIM_update`` does not name answer 400 ``BadRequest`` (the
v2 spec's validation error, ``Cannot parse parameter ... as Int``).

A 1NCE SIM is Enabled or Disabled: fleet SIMs in service (active, ready, test) show as
Enabled, the others as Disabled; writing Disabled deactivates the fleet SIM; retired SIMs
are not listed. The fleet's ICCIDs carry their check digit, so the vendor's ``iccid`` is
the fleet ICCID without its last digit. SMS usage is written as the spec's ``SmsUsage``
reads it: ``volume_rx`` MO, ``volume_tx`` MT. A page of SIMs costs O(page).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from cdp_sdk.connectors._emnify_family import (
    EURO,
    ONENCE_DIRECTIONS,
    error_body,
    page_count,
    page_headers,
    page_number,
    page_of,
    stats_block,
)
from cdp_sdk.models import AuditKind, Bearer, SimStatus
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetAudit,
    FleetSim,
    QueryParam,
    RateWindow,
    TokenStore,
    checks_query,
    json_response,
    route,
)

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERNAME", "PREFIX", "OneNceEmulator"]

DEFAULT_USERNAME = "api-user@example.com"
DEFAULT_PASSWORD = "1nce-sandbox-password"
PREFIX = "/management-api"
USAGE_MONTHS_DAYS = 183

ENABLED = {SimStatus.ACTIVE, SimStatus.READY, SimStatus.TEST}
PLATFORM_STATE = {  # the platform's SIM states, as its event texts name them
    SimStatus.INVENTORY: "Issued",
    SimStatus.READY: "Issued",
    SimStatus.TEST: "Factory Test",
    SimStatus.ACTIVE: "Activated",
    SimStatus.SUSPENDED: "Suspended",
    SimStatus.DEACTIVATED: "Suspended",
    SimStatus.RETIRED: "Deleted",
}
TOKENS = {400: "BadRequest", 404: "NotFound", 405: "BadRequest", 409: "Conflict"}

# The query parameters each operation documents (SIM Management v1), with their ranges.
PAGE = QueryParam("integer", minimum=1)
SIM_LIST_PARAMS = {
    "page": PAGE,
    "pageSize": QueryParam("integer", minimum=1, maximum=100),
    "q": QueryParam(),
    "sort": QueryParam(),
}
EVENT_PARAMS = {
    "page": PAGE,
    "pageSize": QueryParam("integer", minimum=1, maximum=1000),
    "sort": QueryParam(),
}
USAGE_PARAMS = {"start_dt": QueryParam(), "end_dt": QueryParam()}
SIM_UPDATE_FIELDS = frozenset({"iccid", "label", "imei_lock", "status"})


class OneNceEmulator(Emulator):
    """The 1NCE Management API over a :class:`~cdp_sdk.sandbox.Fleet`."""

    name = "1nce"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        token_ttl: int = 3600,
        **options: Any,
    ) -> None:
        super().__init__(fleet, **options)
        self.credentials = (username, password)
        self.tokens = TokenStore(token_ttl, clock=self.clock)
        self.product_calls = RateWindow(100, 300.0)
        self._by_key = {sim.iccid[:-1]: sim for sim in self.fleet.sims.values()}

    # -- vendor shape -------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        if status in (401, 403):
            return json_response({"message": "Unauthorized" if status == 401 else message}, status)
        token = "InternalServerError" if status >= 500 else TOKENS.get(status, "BadRequest")
        return json_response(error_body(1000, token, message), status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        return json_response({"message": "Too Many Requests"}, 429)

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return None if self.tokens.valid(token) else self.error(401, "unauthorized", "")

    def lists(self, iccid: str) -> bool:
        return self.fleet.sims[iccid].status is not SimStatus.RETIRED

    # -- authorization ------------------------------------------------------------------

    @route("POST", PREFIX + "/oauth/token", auth=False)
    def token(self, request: EmulatorRequest) -> httpx.Response:
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return self._auth_error("UnsupportedContentTypeError", "Content-Type not supported")
        username, password = _basic(request.headers.get("Authorization", ""))
        if not username or not password:
            missing = "username" if not username else "password"
            return self._auth_error(
                "AuthValidationError",
                f"Auth header validation error: Missing attributes '{missing}'",
            )
        body = request.json()
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return self._auth_error(
                "BodyValidationError",
                "Request body validation error: Missing attributes 'grant_type'",
            )
        if (username, password) != self.credentials:
            return self._auth_error("BadCredentials", "User does not exist.")
        return json_response(
            {
                "status_code": 200,
                "access_token": self.tokens.issue(),
                "token_type": "bearer",
                "expires_in": int(self.tokens.ttl),
                "userId": username,
                "scope": "all",
            }
        )

    # -- SIMs -----------------------------------------------------------------------------

    @route("GET", PREFIX + "/v1/sims")
    @checks_query(SIM_LIST_PARAMS)
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        size = self.page_limit(request.params.get("pageSize"), default=10, maximum=100)
        filters = dict(
            part.partition(":")[::2] for part in (request.params.get("q") or "").split(",") if part
        )
        if not set(filters) <= {"imei", "ip_address"}:
            return self.error(400, "bad_request", "Filter criteria is invalid")
        listed = self.listed()
        if filters:  # a filtered search reads the fleet; the plain listing slices it
            listed = [sim for sim in listed if _matches(sim, filters)]
        pages = page_count(len(listed), size)
        page = page_number(request.params.get("page", 1), pages)
        chunk = [self._sim(sim) for sim in listed[(page - 1) * size : page * size]]
        headers = page_headers(page=page, size=size, total=len(listed), pages=pages)
        return json_response(chunk, headers=headers)

    @route("GET", PREFIX + "/v1/sims/{iccid}")
    @checks_query({})
    def get_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request)
        return self._not_found() if sim is None else json_response(self._sim(sim))

    @route("PUT", PREFIX + "/v1/sims/{iccid}")
    @checks_query({})
    def update_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request)
        if sim is None:
            return self._not_found()
        body = request.json()
        problem = _update_problem(body, request.path_params["iccid"])
        if problem:
            return self.error(400, "bad_request", problem)
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        enabled = body["status"] == "Enabled"
        if enabled != (sim.status in ENABLED):
            target = SimStatus.ACTIVE if enabled else SimStatus.DEACTIVATED
            self.fleet.set_status(sim.iccid, target, at=now, actor="api")
        if "label" in body:
            tags = {"label": body["label"]} if body["label"] else {}
            self.fleet.set_tags(sim.iccid, tags, at=now, actor="api")
        return httpx.Response(200)

    # -- usage, quotas, events, products ------------------------------------------------

    @route("GET", PREFIX + "/v1/sims/{iccid}/usage")
    @checks_query(USAGE_PARAMS)
    def usage(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request)
        if sim is None:
            return self._not_found()
        try:
            start = _day(request.params.get("start_dt")) or self.fleet.today.replace(day=1)
            end = _day(request.params.get("end_dt")) or self.fleet.today
        except ValueError:
            return self.error(400, "bad_request", "Dates must be given as YYYY-MM-DD")
        start = max(start, self.fleet.today - timedelta(days=USAGE_MONTHS_DAYS))
        days = self.fleet.usage_days(sim.iccid, start, end + timedelta(days=1))
        stats = [
            {
                "date": f"{usage.day.isoformat()}T00:00:00.000Z",
                "data": _block(Bearer.DATA, usage.data_mo_bytes / 1e6, usage.data_mt_bytes / 1e6),
                "sms": _block(Bearer.SMS, usage.sms_mo, usage.sms_mt),
            }
            for usage in days
        ]
        return json_response({"stats": stats})

    @route("GET", PREFIX + "/v1/sims/{iccid}/quota/data")
    @checks_query({})
    def data_quota(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request)
        if sim is None:
            return self._not_found()
        total = self.fleet.tariff(sim.tariff_id).included_data_bytes / 1e6
        used = sum(u.data_mo_bytes + u.data_mt_bytes for u in self._lifetime_usage(sim)) / 1e6
        return json_response(self._quota(sim, total, used, peak_throughput=1_000_000))

    @route("GET", PREFIX + "/v1/sims/{iccid}/quota/sms")
    @checks_query({})
    def sms_quota(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request)
        if sim is None:
            return self._not_found()
        total = self.fleet.tariff(sim.tariff_id).included_sms
        used = sum(u.sms_mo + u.sms_mt for u in self._lifetime_usage(sim))
        return json_response(self._quota(sim, total, used))

    @route("GET", PREFIX + "/v1/sims/{iccid}/events")
    @checks_query(EVENT_PARAMS)
    def events(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._find(request)
        if sim is None:
            return self._not_found()
        size = self.page_limit(request.params.get("pageSize"), default=10, maximum=1000)
        events = [self._event(audit) for audit in self.fleet.audit_events(iccid=sim.iccid)]
        found = [event for event in events if event is not None]
        chunk, page, pages = page_of(found, request.params.get("page", 1), size)
        headers = page_headers(page=page, size=size, total=len(found), pages=pages)
        body = {"events": list(chunk), "totalEvents": len(found), "totalPages": pages}
        return json_response(body, headers=headers)

    @route("GET", PREFIX + "/v1/products")
    @checks_query({})
    def products(self, request: EmulatorRequest) -> httpx.Response:
        wait = self.product_calls.hit()
        if wait is not None:
            return self.rate_limited(wait)
        return json_response(
            [
                {
                    "id": 1001 + index,
                    "product": f"1NCE IoT {tariff.name}",
                    "material": "1NCE FlexSIM",
                    "package_size": 1,
                    "minQuantity": 1,
                    "maxQuantity": 1000,
                    "maxQuantityPerCustomer": 100000,
                    "min_contract_duration": 120,
                    "one_time_charges": [
                        {"name": "provisionCharge", "amount_net": 10, "currency": tariff.currency}
                    ],
                    "recurring_charges": [
                        {
                            "name": "monthlyCharge",
                            "amount_net": float(tariff.monthly_fee),
                            "currency": tariff.currency,
                        }
                    ],
                }
                for index, tariff in enumerate(self.fleet.tariffs)
            ]
        )

    # -- rendering ----------------------------------------------------------------------

    def _sim(self, sim: FleetSim) -> dict[str, Any]:
        record: dict[str, Any] = {
            "iccid": sim.iccid[:-1],
            "iccid_with_luhn": sim.iccid,
            "imsi": sim.imsi,
            "imsi_2": f"{int(sim.imsi) + 900}",
            "current_imsi": sim.imsi,
            "msisdn": sim.msisdn,
            "imei_lock": False,
            "status": "Enabled" if sim.status in ENABLED else "Disabled",
            "ip_address": sim.ip_address,
            "current_quota": self.fleet.tariff(sim.tariff_id).included_data_bytes / 1e6,
            "quota_status": {"id": 0, "description": "More than 20% available"},
            "current_quota_SMS": self.fleet.tariff(sim.tariff_id).included_sms,
            "quota_status_SMS": {"id": 0, "description": "More than 20% available"},
        }
        if sim.imei:
            record["imei"] = sim.imei
        if sim.activated_at:
            record["activation_date"] = _timestamp(sim.activated_at)
        label = sim.tags.get("label") or "-".join(v or k for k, v in sorted(sim.tags.items()))
        if label:
            record["label"] = label
        return record

    def _quota(
        self, sim: FleetSim, total: float, used: float, *, peak_throughput: int | None = None
    ) -> dict[str, Any]:
        quota: dict[str, Any] = {
            "volume": round(max(0.0, total - used), 6),
            "total_volume": total,
            "expiry_date": f"{sim.created_at.year + 10}-01-01T00:00:00.000Z",
            "last_volume_added": total,
            "last_status_change_date": _timestamp(sim.created_at, iso_z=True),
            "threshold_percentage": 20,
        }
        if peak_throughput:
            quota["peak_throughput"] = peak_throughput
        return quota

    def _event(self, audit: FleetAudit) -> dict[str, Any] | None:
        if audit.kind is not AuditKind.STATUS_CHANGE:
            return None
        old = PLATFORM_STATE[SimStatus(audit.old_value)] if audit.old_value else "Issued"
        new = PLATFORM_STATE[SimStatus(audit.new_value or "unknown")]
        if old == new:
            return None
        sim = self.fleet.sims[audit.iccid]
        event = {
            "timestamp": _timestamp(audit.occurred_at),
            "event_type": f"Status of SIM changed from '{old}' to '{new}'",
            "iccid": sim.iccid[:-1],
            "imsi": sim.imsi,
            "country": "Germany",
            "operator": "Telekom",
            "mcc": "262",
            "mnc": "01",
            "alert": False,
            "event_severity": "Info",
        }
        if sim.imei:
            event["imei"] = sim.imei
        return event

    def _lifetime_usage(self, sim: FleetSim) -> Sequence[Any]:
        return self.fleet.usage_days(sim.iccid, self.fleet.history_start, self.fleet.today)

    # -- helpers ------------------------------------------------------------------------

    def _find(self, request: EmulatorRequest) -> FleetSim | None:
        sim = self._by_key.get(request.path_params["iccid"])
        return sim if sim is not None and self.lists(sim.iccid) else None

    def _not_found(self) -> httpx.Response:
        return self.error(404, "not_found", "SIM not found")

    def _auth_error(self, code: str, message: str) -> httpx.Response:
        return json_response({"statusCode": 400, "errorCode": code, "message": message}, 400)


def _basic(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    try:
        decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


def _matches(sim: FleetSim, filters: dict[str, str]) -> bool:
    values = {"imei": sim.imei, "ip_address": sim.ip_address}
    return all(values.get(key) == value for key, value in filters.items())


def _update_problem(body: Any, iccid: str) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a SIM update object"
    if unknown := sorted(set(body) - SIM_UPDATE_FIELDS):
        return f"Unknown field {unknown[0]} in the SIM update"
    if body.get("iccid") != iccid:
        return "iccid is required and must match the path"
    if body.get("status") not in ("Enabled", "Disabled"):
        return "status is required: Enabled or Disabled"
    if "label" in body and not isinstance(body["label"], str):
        return "label must be a string"
    if "imei_lock" in body and not isinstance(body["imei_lock"], bool):
        return "imei_lock must be a boolean"
    return None


def _block(bearer: Bearer, mo: float, mt: float) -> dict[str, Any]:
    # 1NCE's cost mirrors the volume ("no real cost value behind this number").
    cost = Decimal(str(round(mo + mt, 6)))
    block = stats_block(bearer, mo, mt, directions=ONENCE_DIRECTIONS, cost=cost, as_text=True)
    block["currency"] = dict(EURO)
    return block


def _timestamp(moment: datetime, *, iso_z: bool = False) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000") + ("Z" if iso_z else "+0000")


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
