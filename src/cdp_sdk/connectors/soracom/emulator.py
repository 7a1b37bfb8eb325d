"""Soracom API v1, emulated over a synthetic fleet.

Follows the official OpenAPI (``soracom-api.en.yaml``): AuthKey login answering an API key
and a token that expires after ``tokenTimeoutSeconds``; ``limit`` and
``last_evaluated_key`` paging with the ``x-soracom-next-key`` header; SIM status actions
with termination protection; tags; Air usage statistics; status history and session
events; the API audit log; bills and bill item summaries. Errors are
``{"code", "message"}``; a per-minute rate limit answers 429 with the
``X-Soracom-Ratelimit-*`` headers.

Requests are checked against the spec: a query parameter the operation does not document,
a value of the wrong type or out of its documented range (``limit`` of the search up to
100, of the status history up to 100, of the audit log up to 1000) and a body with a field
the schema does not name answer 400 ``{"code", "message"}``.

The fleet's statuses show as the Soracom states they map to: ``suspended`` as ``inactive``
(sessions blocked, still billed), ``deactivated`` as ``suspended`` (long-term storage),
``ready`` and ``test`` as ``ready``.

Emulator choices where the public docs say nothing: SIMs not yet registered (the fleet's
``inventory``) are not listed; an eUICC SIM's ``simId`` is the ICCID of its bootstrap
profile while its active profile carries the fleet's ICCID; error codes other than
``AUM0001`` and ``AUM0002`` are placeholders (``EMU...``). A status action the SIM's state
refuses (any action on a terminated SIM, ``terminate`` under termination protection) is
answered as the actions document, 200 with the SIM as it is (``refusals="unchanged"``,
the default), or with 400 and an error body (``refusals="400"``): the public docs do not
say which. ``set_to_standby`` on a SIM in ``no_standby`` answers its documented 400.
"""

from __future__ import annotations

import bisect
import math
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import httpx

from cdp_sdk.models import AuditKind, SimStatus, luhn_check_digit
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetInvoice,
    FleetSim,
    QueryParam,
    RateWindow,
    checks_query,
    json_response,
    route,
)

__all__ = [
    "DEFAULT_AUTH_KEY",
    "DEFAULT_AUTH_KEY_ID",
    "MinuteWindow",
    "SoracomEmulator",
]

DEFAULT_AUTH_KEY_ID = "keyId-emulator"
DEFAULT_AUTH_KEY = "secret-emulator-auth-key"
OPERATOR_ID = "OP0012345678"
NEXT_KEY = "x-soracom-next-key"
MAX_TOKEN_TIMEOUT = 172_800
API_ACTOR = "root"  # changes made through this API, by the root AuthKey

TOKEN_ERROR = "AUM0001"
LOGIN_ERROR = "AUM0002"
BAD_REQUEST = "EMU0400"
REFUSED = "EMU0409"  # a refused status action, with refusals="400" (the docs name no code)
NOT_FOUND = "EMU0404"
RATE_LIMITED = "EMU0429"

STATE_OF: dict[SimStatus, str] = {
    SimStatus.INVENTORY: "shipped",
    SimStatus.TEST: "ready",
    SimStatus.READY: "ready",
    SimStatus.ACTIVE: "active",
    SimStatus.SUSPENDED: "inactive",
    SimStatus.DEACTIVATED: "suspended",
    SimStatus.RETIRED: "terminated",
}
STATUS_OF: dict[str, SimStatus] = {
    "shipped": SimStatus.INVENTORY,
    "ready": SimStatus.READY,
    "standby": SimStatus.READY,
    "active": SimStatus.ACTIVE,
    "inactive": SimStatus.SUSPENDED,
    "suspended": SimStatus.DEACTIVATED,
    "terminated": SimStatus.RETIRED,
}
ACTION_TARGET: dict[str, str] = {
    "activate": "active",
    "deactivate": "inactive",
    "suspend": "suspended",
    "set_to_standby": "standby",
    "terminate": "terminated",
}
ACTION_FOR: dict[SimStatus, str] = {
    STATUS_OF[target]: action for action, target in ACTION_TARGET.items()
}
_IN_SERVICE = frozenset({"active", "inactive", "standby", "suspended", "terminated"})
# Vendor state -> states its actions reach; nothing returns to ready, nothing leaves
# terminated, and a SIM must be registered before any action.
MOVES: dict[str, frozenset[str]] = {
    "shipped": frozenset(),
    "ready": _IN_SERVICE,
    "active": _IN_SERVICE,
    "inactive": _IN_SERVICE,
    "standby": _IN_SERVICE,
    "suspended": _IN_SERVICE,
    "terminated": frozenset(),
}
# The query parameters each operation documents (soracom-api.en.yaml), with their ranges.
KEY = QueryParam()
EPOCH = QueryParam("integer", minimum=0)
SEARCH_VALUES = QueryParam(repeatable=True)
LIST_PARAMS = {"limit": QueryParam("integer", minimum=1), "last_evaluated_key": KEY}
SEARCH_PARAMS = {
    **dict.fromkeys(
        (
            "name",
            "group",
            "group_id",
            "sim_id",
            "imsi",
            "msisdn",
            "iccid",
            "serial_number",
            "tag",
            "bundles",
            "status",
            "subscription",
            "module_type",
        ),
        SEARCH_VALUES,
    ),
    "session_status": QueryParam(choices=("NA", "ONLINE", "OFFLINE")),
    "limit": QueryParam("integer", minimum=1, maximum=100),
    "last_evaluated_key": KEY,
    "search_type": QueryParam(choices=("and", "or")),
}
HISTORY_PARAMS = {
    "from": EPOCH,
    "to": EPOCH,
    "last_evaluated_key": KEY,
    "sort": QueryParam(choices=("desc", "asc")),
    "limit": QueryParam("integer", minimum=1, maximum=100),
}
SESSION_PARAMS = {
    "from": EPOCH,
    "to": EPOCH,
    "limit": QueryParam("integer", minimum=1),
    "last_evaluated_key": KEY,
}
AUDIT_LOG_PARAMS = {
    "api_kind": QueryParam(),
    "from_epoch_ms": EPOCH,
    "to_epoch_ms": EPOCH,
    "limit": QueryParam("integer", minimum=1, maximum=1000),
    "last_evaluated_key": KEY,
}
SIM_STATS_PARAMS = {
    "from": QueryParam("integer", minimum=0, required=True),
    "to": QueryParam("integer", minimum=0, required=True),
    "period": QueryParam(choices=("month", "day", "minutes"), required=True),
}
OPERATOR_STATS_PARAMS = {
    **SIM_STATS_PARAMS,
    "period": QueryParam(choices=("month", "day"), required=True),
}
AUTH_FIELDS = frozenset(
    {
        "authKey",
        "authKeyId",
        "email",
        "mfaOTPCode",
        "operatorId",
        "password",
        "tokenTimeoutSeconds",
        "userName",
    }
)
TAG_FIELDS = frozenset({"tagName", "tagValue"})
# The primary subscriber's status enum in the spec (``SimplifiedSubscriber``).
_SUBSCRIBER_STATES = frozenset({"shipped", "delivered", "ready", "active", "terminated"})
PLAN_OF = {"plan-s": "plan01s", "plan-m": "planX3", "plan-l": "planP1"}
SPEED_CLASS = "s1.standard"
SLOW_CLASS = "s1.slow"


class MinuteWindow(RateWindow):
    """At most ``limit`` calls a minute, counted from the first call of each minute."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(limit, 60.0, clock=clock)
        self._time = clock
        self._opened = -math.inf
        self._count = 0

    def hit(self) -> float | None:
        now = self._time()
        if now >= self._opened + self.per:
            self._opened, self._count = now, 0
        if self._count >= self.limit:
            return self._opened + self.per - now
        self._count += 1
        return None

    @property
    def remaining(self) -> int:
        """Calls left in the current minute."""
        return max(0, self.limit - self._count)

    @property
    def seconds_before_refresh(self) -> int:
        """Whole seconds until the next minute starts."""
        return math.ceil(min(self.per, max(0.0, self._opened + self.per - self._time())))


class SoracomEmulator(Emulator):
    """The Soracom API over a :class:`~cdp_sdk.sandbox.Fleet`."""

    name = "soracom"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        auth_key_id: str = DEFAULT_AUTH_KEY_ID,
        auth_key: str = DEFAULT_AUTH_KEY,
        operator_id: str = OPERATOR_ID,
        requests_per_minute: int = 1200,
        refusals: Literal["unchanged", "400"] = "unchanged",
        **options: Any,
    ) -> None:
        options.setdefault("rate_limit", MinuteWindow(requests_per_minute))
        super().__init__(fleet, **options)
        self.auth_key_id = auth_key_id
        self.auth_key = auth_key
        self.operator_id = operator_id
        self.sessions: dict[str, tuple[str, float]] = {}  # token -> (API key, expiry)
        self.logins = 0
        self._states: dict[str, str] = {}  # ICCID -> vendor state set through the API
        self._history: defaultdict[str, list[tuple[datetime, str]]] = defaultdict(list)
        self._termination_enabled: set[str] = set()
        registered = [sim for sim in self.fleet.sims.values() if self.lists(sim.iccid)]
        self._ordered = sorted(registered, key=sim_id_of)
        self._ids = [sim_id_of(sim) for sim in self._ordered]
        self._by_sim_id = {sim_id_of(sim): sim for sim in self._ordered}
        self.refusals = refusals
        """How a refused status action is answered: ``"unchanged"`` (200 with the SIM as it
        is, the only documented answers being 200 and 404) or ``"400"`` (an error body)."""
        self.no_standby: set[str] = set()
        """ICCIDs of SIMs that do not support standby (``set_to_standby`` answers 400)."""

    def lists(self, iccid: str) -> bool:
        """SIMs not yet registered to the account (``inventory``) are not listed."""
        return self.fleet.sims[iccid].status is not SimStatus.INVENTORY

    def expire_tokens(self) -> None:
        """Expire every API key and token now (as after ``tokenTimeoutSeconds``)."""
        self.sessions.clear()

    # -- vendor shape -------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        return json_response({"code": code, "message": message}, status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        response = self.error(429, RATE_LIMITED, "Too many requests; retry later")
        response.headers.update(self._rate_headers(remaining=0, refresh=retry_after))
        return response

    def response_headers(self, request: httpx.Request) -> Mapping[str, str]:
        window = self.rate_limit
        if not isinstance(window, MinuteWindow):
            return {}
        return self._rate_headers(window.remaining, window.seconds_before_refresh)

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        api_key = request.headers.get("X-Soracom-API-Key")
        token = request.headers.get("X-Soracom-Token")
        if not api_key or not token:
            return self.error(401, TOKEN_ERROR, "An API key and an API token are required")
        session = self.sessions.get(token)
        if session is None or session[0] != api_key or self.clock() >= session[1]:
            return self.error(401, TOKEN_ERROR, "The API key or the API token is not valid")
        return None

    # -- auth ---------------------------------------------------------------------------

    @route("POST", "/v1/auth", auth=False)
    @checks_query({}, code=BAD_REQUEST)
    def login(self, request: EmulatorRequest) -> httpx.Response:
        body = request.json()
        if not isinstance(body, dict):
            return self.error(400, BAD_REQUEST, "The request body must be a JSON object")
        if unknown := sorted(set(body) - AUTH_FIELDS):
            return self.error(400, BAD_REQUEST, f"Unknown field {unknown[0]} in the request")
        if body.get("authKeyId") != self.auth_key_id or body.get("authKey") != self.auth_key:
            return self.error(401, LOGIN_ERROR, "Invalid AuthKey ID or AuthKey")
        timeout = body.get("tokenTimeoutSeconds", 86_400)
        if not _is_int(timeout) or not 0 < timeout <= MAX_TOKEN_TIMEOUT:
            return self.error(400, BAD_REQUEST, "tokenTimeoutSeconds must be 1 to 172800")
        api_key, token = f"api-{uuid.uuid4()}", secrets.token_urlsafe(32)
        self.sessions[token] = (api_key, self.clock() + timeout)
        self.logins += 1
        return json_response({"apiKey": api_key, "operatorId": self.operator_id, "token": token})

    # -- SIMs ---------------------------------------------------------------------------

    @route("GET", "/v1/sims")
    @checks_query(LIST_PARAMS, code=BAD_REQUEST)
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        size = self.page_limit(request.params.get("limit"), default=100, maximum=100)
        after = request.params.get("last_evaluated_key") or ""
        start = bisect.bisect_right(self._ids, after)  # O(page): no scan of the fleet
        return self._sim_page(self._ordered[start : start + size + 1], size)

    @route("GET", "/v1/sims/{sim_id}")
    @checks_query({}, code=BAD_REQUEST)
    def get_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._by_sim_id.get(request.path_params["sim_id"])
        return self._no_sim() if sim is None else json_response(self._render(sim))

    @route("GET", "/v1/query/sims")
    @checks_query(SEARCH_PARAMS, code=BAD_REQUEST)
    def search_sims(self, request: EmulatorRequest) -> httpx.Response:
        terms = {
            field: [v.casefold() for raw in request.params.get_list(field) for v in raw.split(",")]
            for field in _SEARCH_FIELDS
            if request.params.get_list(field)
        }
        if any(len(value) < 2 for values in terms.values() for value in values):
            return self.error(400, BAD_REQUEST, "Each search value needs 2 characters or more")
        combine = any if (request.params.get("search_type") or "and").lower() == "or" else all
        size = self.page_limit(request.params.get("limit"), default=10, maximum=100)
        after = request.params.get("last_evaluated_key") or ""
        found = [
            sim
            for sim in self._ordered
            if sim_id_of(sim) > after
            and (not terms or combine(self._matches(sim, f, v) for f, v in terms.items()))
        ]
        return self._sim_page(found, size)

    @route("POST", "/v1/sims/{sim_id}/{action}")
    @checks_query({}, code=BAD_REQUEST)
    def act(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._by_sim_id.get(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim()
        if request.request.content:
            return self.error(400, BAD_REQUEST, "The action takes no request body")
        action, state = request.path_params["action"], self._state(sim)
        if action in ("enable_termination", "disable_termination"):
            if state == "terminated":
                return self._refuse(sim, "The SIM is terminated")
            if action == "enable_termination":
                self._termination_enabled.add(sim.iccid)
            else:
                self._termination_enabled.discard(sim.iccid)
            return json_response(self._render(sim))
        target = ACTION_TARGET.get(action)
        if target is None:
            return self.error(404, NOT_FOUND, "No such API")
        if target == "standby" and sim.iccid in self.no_standby:
            return self.error(400, REFUSED, 'The specified SIM does not support "standby."')
        if target != state and target not in MOVES[state]:
            return self._refuse(sim, f"A SIM in status {state} cannot become {target}")
        if target == "terminated" and sim.iccid not in self._termination_enabled:
            return self._refuse(sim, "Termination protection is on; enable termination")
        if target != state:
            self._set_state(sim, target)
        return json_response(self._render(sim))

    @route("PUT", "/v1/sims/{sim_id}/tags")
    @checks_query({}, code=BAD_REQUEST)
    def put_tags(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._by_sim_id.get(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim()
        body = request.json()
        if not isinstance(body, list) or not all(_is_tag_update(tag) for tag in body):
            return self.error(400, BAD_REQUEST, "Send a list of {tagName, tagValue}")
        tags = dict(sim.tags) | {tag["tagName"]: tag["tagValue"] for tag in body}
        self.fleet.set_tags(sim.iccid, tags, at=self._now(), actor=API_ACTOR)
        return json_response(self._render(sim))

    @route("DELETE", "/v1/sims/{sim_id}/tags/{tag_name}")
    @checks_query({}, code=BAD_REQUEST)
    def delete_tag(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._by_sim_id.get(request.path_params["sim_id"])
        name = request.path_params["tag_name"]
        if sim is None or name not in sim.tags:
            return self.error(404, NOT_FOUND, "The SIM or the tag does not exist")
        tags = {key: value for key, value in sim.tags.items() if key != name}
        self.fleet.set_tags(sim.iccid, tags, at=self._now(), actor=API_ACTOR)
        return httpx.Response(204)

    # -- history and events -------------------------------------------------------------

    @route("GET", "/v1/sims/{sim_id}/statuses/history")
    @checks_query(HISTORY_PARAMS, code=BAD_REQUEST)
    def status_history(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._by_sim_id.get(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim()
        window = _window(request, "from", "to")
        order = request.params.get("sort") or "desc"
        if window is None or order not in ("asc", "desc"):
            return self.error(400, BAD_REQUEST, "from and to are epoch ms; sort is asc or desc")
        entries = [
            self._history_entry(sim, at, state)
            for at, state in self._status_history(sim)
            if _inside(int(at.timestamp() * 1000), window)
        ]
        if order == "desc":
            entries.reverse()
        size = self.page_limit(request.params.get("limit"), default=30, maximum=100)
        return self._offset_page(entries, size, request)

    @route("GET", "/v1/sims/{sim_id}/events/sessions")
    @checks_query(SESSION_PARAMS, code=BAD_REQUEST)
    def session_events(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._by_sim_id.get(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim()
        window = _window(request, "from", "to")
        if window is None:
            return self.error(400, BAD_REQUEST, "from and to are epoch ms")
        events = [e for e in self._session_events(sim) if _inside(e["time"], window)]
        size = self.page_limit(request.params.get("limit"), default=100, maximum=100)
        return self._offset_page(events, size, request)

    @route("GET", "/v1/audit_logs/api")
    @checks_query(AUDIT_LOG_PARAMS, code=BAD_REQUEST)
    def api_audit_log(self, request: EmulatorRequest) -> httpx.Response:
        window = _window(request, "from_epoch_ms", "to_epoch_ms")
        before = request.params.get("last_evaluated_key")
        if window is None or (before is not None and not before.isdigit()):
            return self.error(400, BAD_REQUEST, "Times are epoch milliseconds")
        kind = request.params.get("api_kind")
        entries = [
            entry
            for entry in self._api_log()
            if _inside(entry["requestedTimeEpochMs"], window)
            and (kind is None or entry["apiKind"] == kind)
            and (before is None or entry["requestedTimeEpochMs"] < int(before))
        ]
        size = self.page_limit(request.params.get("limit"), default=100, maximum=1000)
        chunk = entries[:size]
        more = len(entries) > size
        return _listing(chunk, str(chunk[-1]["requestedTimeEpochMs"]) if more else None)

    # -- usage --------------------------------------------------------------------------

    @route("GET", "/v1/stats/air/sims/{sim_id}")
    @checks_query(SIM_STATS_PARAMS, code=BAD_REQUEST)
    def sim_stats(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._by_sim_id.get(request.path_params["sim_id"])
        if sim is None:
            return self._no_sim()
        span = self._stats_span(request, ("month", "day", "minutes"))
        if isinstance(span, httpx.Response):
            return span
        first, last, period = span
        if period == "minutes" or self._state(sim) == "terminated":
            return json_response([])  # five-minute buckets are not emulated
        buckets: dict[date, dict[str, list[int]]] = {}
        for day in self.fleet.usage_days(sim.iccid, first, last + timedelta(days=1)):
            bucket = buckets.setdefault(_bucket(day.day, period), {})
            for speed_class, share in _speed_classes(sim):
                totals = bucket.setdefault(speed_class, [0, 0])
                totals[0] += round(day.data_mo_bytes * share)
                totals[1] += round(day.data_mt_bytes * share)
        return json_response(
            [
                {
                    "date": start.strftime("%Y%m%d" if period == "day" else "%Y%m"),
                    "unixtime": _epoch_seconds(start),
                    "dataTrafficStatsMap": {
                        speed_class: _traffic(up, down) for speed_class, (up, down) in split.items()
                    },
                }
                for start, split in sorted(buckets.items())
                if any(up or down for up, down in split.values())
            ]
        )

    @route("GET", "/v1/stats/air/operators/{operator_id}")
    @checks_query(OPERATOR_STATS_PARAMS, code=BAD_REQUEST)
    def operator_stats(self, request: EmulatorRequest) -> httpx.Response:
        if request.path_params["operator_id"] != self.operator_id:
            return self.error(403, "EMU0403", "Not your operator")
        span = self._stats_span(request, ("month", "day"))
        if isinstance(span, httpx.Response):
            return span
        first, last, period = span
        totals: dict[date, list[int]] = {}
        for sim in self._ordered:
            for day in self.fleet.usage_days(sim.iccid, first, last + timedelta(days=1)):
                total = totals.setdefault(_bucket(day.day, period), [0, 0])
                total[0] += day.data_mo_bytes
                total[1] += day.data_mt_bytes
        return json_response(
            [
                {
                    "unixtime": _epoch_seconds(start),
                    "uploadByteSizeTotal": up,
                    "downloadByteSizeTotal": down,
                }
                for start, (up, down) in sorted(totals.items())
                if up or down
            ]
        )

    # -- billing ------------------------------------------------------------------------

    @route("GET", "/v1/bills")
    @checks_query({}, code=BAD_REQUEST)
    def bills(self, request: EmulatorRequest) -> httpx.Response:
        closed = [_bill(invoice) for invoice in self.fleet.invoices() if invoice.closed]
        return json_response({"billList": closed[::-1]})

    @route("GET", "/v1/bills/{yyyyMM}")
    @checks_query({}, code=BAD_REQUEST)
    def bill(self, request: EmulatorRequest) -> httpx.Response:
        month = request.path_params["yyyyMM"]
        for invoice in self.fleet.invoices():
            if f"{invoice.period_start:%Y%m}" == month:
                return json_response(_bill(invoice))
        return self.error(404, NOT_FOUND, "No bill for this month")

    @route("GET", "/v1/bills/summaries/bill_items")
    @checks_query({}, code=BAD_REQUEST)
    def bill_items(self, request: EmulatorRequest) -> httpx.Response:
        recent = self.fleet.invoices()[-4:][::-1]  # this month and the three before, newest first
        updated = _epoch_seconds(self.fleet.today)
        return json_response(
            [
                {
                    "yearMonth": f"{invoice.period_start:%Y%m}",
                    "currency": invoice.currency,
                    "updatedTime": updated,
                    "costBreakdownList": [
                        {
                            "amount": float(line.amount),
                            "billItemCategory": line.category,
                            "billItemName": line.description,
                        }
                        for line in sorted(invoice.lines, key=lambda line: -line.amount)
                    ],
                }
                for invoice in recent
            ]
        )

    # -- rendering ----------------------------------------------------------------------

    def _render(self, sim: FleetSim) -> dict[str, Any]:
        state, plan = self._state(sim), PLAN_OF.get(sim.tariff_id, sim.tariff_id)
        subscriber: dict[str, Any] = {
            "imsi": sim.imsi,
            "msisdn": sim.msisdn,
            "subscription": plan,
            "bundles": [],
            "capabilities": {"data": True, "sms": True},
        }
        if state in _SUBSCRIBER_STATES:  # the spec's subscriber enum lacks the other states
            subscriber["status"] = state
        profiles = {
            sim.iccid: {
                "iccid": sim.iccid,
                "otaSupported": True,
                "primaryImsi": sim.imsi,
                "subscribers": {sim.imsi: subscriber},
            }
        }
        if sim.eid is not None:  # the bootstrap profile of an eUICC names the SIM
            profiles[sim_id_of(sim)] = {"iccid": sim_id_of(sim), "otaSupported": True}
        body: dict[str, Any] = {
            "simId": sim_id_of(sim),
            "operatorId": self.operator_id,
            "status": state,
            "type": "uicc" if sim.eid is None else "euicc",
            "moduleType": "trio" if sim.eid is None else "embedded",
            "speedClass": SPEED_CLASS,
            "tags": {"name": ""} | {key: value or "" for key, value in sim.tags.items()},
            "terminationEnabled": sim.iccid in self._termination_enabled,
            "createdTime": _epoch_ms(sim.created_at),
            "lastModifiedTime": _epoch_ms(sim.updated_at),
            "activeProfileId": sim.iccid,
            "profiles": profiles,
            "capabilities": {"data": True, "sms": True},
        }
        if sim.imei is not None and state == "active":
            body["sessionStatus"] = {
                "online": True,
                "imei": sim.imei,
                "imsi": sim.imsi,
                "ueIpAddress": sim.ip_address,
                "subscription": plan,
                "lastUpdatedAt": _epoch_ms(sim.updated_at),
                "cell": _cell(sim),
            }
        elif sim.imei is not None:
            body["sessionStatus"] = {"online": False, "lastUpdatedAt": _epoch_ms(sim.updated_at)}
            body["previousSession"] = {
                "imei": sim.imei,
                "imsi": sim.imsi,
                "ueIpAddress": sim.ip_address,
                "createdTime": _epoch_ms(sim.updated_at - timedelta(hours=3)),
                "deletedTime": _epoch_ms(sim.updated_at - timedelta(hours=1)),
            }
        return body

    def _history_entry(self, sim: FleetSim, at: datetime, state: str) -> dict[str, Any]:
        return {
            "simId": sim_id_of(sim),
            "imsi": sim.imsi,
            "primaryImsi": sim.imsi,
            "isPrimary": True,
            "status": state,
            "speedClass": SPEED_CLASS,
            "subscription": PLAN_OF.get(sim.tariff_id, sim.tariff_id),
            "bundles": [],
            "applyDateTimeEpochSec": int(at.timestamp()),
        }

    def _status_history(self, sim: FleetSim) -> list[tuple[datetime, str]]:
        """(time, vendor state): registration, the fleet's history, then API changes."""
        moves = [(sim.created_at, "ready")]
        moves += [
            (event.occurred_at, STATE_OF[SimStatus(event.new_value)])
            for event in self.fleet.audit
            if event.iccid == sim.iccid
            and event.kind is AuditKind.STATUS_CHANGE
            and event.actor != API_ACTOR
            and event.new_value is not None
        ]
        moves += self._history[sim.iccid]
        return sorted(moves, key=lambda move: move[0])

    def _session_events(self, sim: FleetSim) -> list[dict[str, Any]]:
        """Two sessions in the fleet's last days, newest event first."""
        if sim.imei is None:
            return []
        today = datetime.combine(self.fleet.today, datetime.min.time(), tzinfo=UTC)
        opened = today - timedelta(days=2, minutes=-(sim.serial % 600))
        timeline = [
            ("Created", opened, 1),
            ("Modified", opened + timedelta(minutes=40), 1),
            ("Deleted", opened + timedelta(minutes=90), 1),
            ("Created", opened + timedelta(days=1), 2),
        ]
        if self._state(sim) != "active":
            timeline.append(("Deleted", opened + timedelta(days=1, minutes=30), 2))
        return [
            {
                "event": event,
                "time": _epoch_ms(at),
                "simId": sim_id_of(sim),
                "imsi": sim.imsi,
                "imei": sim.imei,
                "apn": "soracom.io",
                "ueIpAddress": sim.ip_address,
                "sessionId": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{sim.iccid}-{session}")),
                "subscription": PLAN_OF.get(sim.tariff_id, sim.tariff_id),
                "operatorId": self.operator_id,
                "cell": _cell(sim),
            }
            for event, at, session in reversed(timeline)
        ]

    def _api_log(self) -> list[dict[str, Any]]:
        """API calls behind the fleet's status and tag changes, newest first."""
        entries = []
        for event in self.fleet.audit:
            if event.actor in ("provisioning", "auto-activation"):
                continue
            sim = self.fleet.sims[event.iccid]
            if event.kind is AuditKind.FIELD_CHANGE:
                action = "tags"
            elif event.kind is AuditKind.STATUS_CHANGE and event.new_value is not None:
                action = ACTION_FOR.get(SimStatus(event.new_value), "")
            else:
                action = ""
            if not action:
                continue
            entries.append(
                {
                    "apiKind": f"/v1/sims/{{sim_id}}/{action}",
                    "operatorId": self.operator_id,
                    "remoteIpAddress": "192.0.2.10",
                    "requestPath": f"/v1/sims/{sim_id_of(sim)}/{action}",
                    "requestedTimeEpochMs": _epoch_ms(event.occurred_at),
                    "statusCode": 200,
                    "userName": "" if event.actor == API_ACTOR else event.actor,
                }
            )
        return sorted(entries, key=lambda entry: -entry["requestedTimeEpochMs"])

    # -- helpers ------------------------------------------------------------------------

    def _state(self, sim: FleetSim) -> str:
        """The vendor state: as set through the API while the fleet agrees, else derived."""
        state = self._states.get(sim.iccid)
        if state is not None and STATUS_OF[state] is sim.status:
            return state
        return STATE_OF[sim.status]

    def _set_state(self, sim: FleetSim, state: str) -> None:
        now = self._now()
        self.fleet.set_status(sim.iccid, STATUS_OF[state], at=now, actor=API_ACTOR)
        sim.updated_at = now
        self._states[sim.iccid] = state
        self._history[sim.iccid].append((now, state))

    def _matches(self, sim: FleetSim, field: str, values: list[str]) -> bool:
        haystack = {
            "iccid": [sim.iccid, sim_id_of(sim)],
            "sim_id": [sim_id_of(sim)],
            "imsi": [sim.imsi],
            "msisdn": [sim.msisdn],
            "status": [self._state(sim)],
            "name": [sim.tags.get("name") or ""],
            "tag": [value or "" for value in sim.tags.values()],
        }[field]
        return any(value in text.casefold() for value in values for text in haystack)

    def _sim_page(self, sims: list[FleetSim], size: int) -> httpx.Response:
        chunk = sims[:size]
        more = len(sims) > size
        return _listing(
            [self._render(sim) for sim in chunk], sim_id_of(chunk[-1]) if more else None
        )

    def _offset_page(
        self, rows: list[dict[str, Any]], size: int, request: EmulatorRequest
    ) -> httpx.Response:
        key = request.params.get("last_evaluated_key") or "0"
        offset = int(key) if key.isdigit() else 0
        more = offset + size < len(rows)
        return _listing(rows[offset : offset + size], str(offset + size) if more else None)

    def _stats_span(
        self, request: EmulatorRequest, periods: tuple[str, ...]
    ) -> tuple[date, date, str] | httpx.Response:
        period = request.params.get("period")
        start, end = _number(request.params.get("from")), _number(request.params.get("to"))
        if period not in periods or start is None or end is None:
            return self.error(400, BAD_REQUEST, f"from and to (unix seconds) and period {periods}")
        first = datetime.fromtimestamp(start, UTC).date()
        last = datetime.fromtimestamp(end, UTC).date()
        if last < first:
            return self.error(400, BAD_REQUEST, "to must not be before from")
        if period == "month":
            first, last = first.replace(day=1), _month_end(last)
        return first, last, period

    def _rate_headers(self, remaining: int, refresh: float) -> dict[str, str]:
        window = self.rate_limit
        limit = window.limit if window is not None else 0
        return {
            "X-Soracom-Ratelimit-Limit": str(limit),
            "X-Soracom-Ratelimit-Remaining": str(remaining),
            "X-Soracom-Ratelimit-Seconds-Before-Refresh": str(max(1, math.ceil(refresh))),
        }

    def _refuse(self, sim: FleetSim, message: str) -> httpx.Response:
        """A refused status action, answered as ``refusals`` says."""
        if self.refusals == "400":
            return self.error(400, REFUSED, message)
        return json_response(self._render(sim))

    def _no_sim(self) -> httpx.Response:
        return self.error(404, NOT_FOUND, "No such SIM found")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)


_SEARCH_FIELDS = ("iccid", "sim_id", "imsi", "msisdn", "status", "name", "tag")


def sim_id_of(sim: FleetSim) -> str:
    """The SIM's ``simId``: its ICCID, or for an eUICC the ICCID of its bootstrap profile."""
    if sim.eid is None:
        return sim.iccid
    body = f"8942310{sim.serial:011d}"
    return body + str(luhn_check_digit(body))


def _listing(rows: list[Any], next_key: str | None) -> httpx.Response:
    return json_response(rows, headers={NEXT_KEY: next_key} if next_key else None)


def _bill(invoice: FleetInvoice) -> dict[str, Any]:
    bill: dict[str, Any] = {
        "yearMonth": f"{invoice.period_start:%Y%m}",
        "amount": float(invoice.total),
        "currency": invoice.currency,
        "state": "closed" if invoice.closed else "temporary",
    }
    if invoice.closed:
        bill["paymentStatus"] = "paid"
        bill["paymentTransactionId"] = f"{invoice.period_start:%Y%m}_emulated"
    return bill


def _traffic(upload: int, download: int) -> dict[str, int]:
    return {
        "uploadByteSizeTotal": upload,
        "downloadByteSizeTotal": download,
        "uploadPacketSizeTotal": math.ceil(upload / 1000),
        "downloadPacketSizeTotal": math.ceil(download / 1000),
    }


def _speed_classes(sim: FleetSim) -> tuple[tuple[str, float], ...]:
    """How a SIM's traffic splits over speed classes (every fourth SIM changed class)."""
    if sim.serial % 4 == 0:
        return ((SLOW_CLASS, 0.25), (SPEED_CLASS, 0.75))
    return ((SPEED_CLASS, 1.0),)


def _cell(sim: FleetSim) -> dict[str, Any]:
    return {
        "mcc": 262,
        "mnc": 1,
        "tac": 4700 + sim.serial % 100,
        "eci": 1_000_000 + sim.serial,
        "radioType": "LTE",
    }


def _bucket(day: date, period: str) -> date:
    return day if period == "day" else day.replace(day=1)


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _window(request: EmulatorRequest, low: str, high: str) -> tuple[int | None, int | None] | None:
    """The ``(from, to)`` epoch bounds of a query, or ``None`` when one is not a number."""
    bounds = request.params.get(low), request.params.get(high)
    if any(bound is not None and _number(bound) is None for bound in bounds):
        return None
    return _number(bounds[0]), _number(bounds[1])


def _inside(moment: int, window: tuple[int | None, int | None]) -> bool:
    low, high = window
    return (low is None or moment >= low) and (high is None or moment <= high)


def _number(text: str | None) -> int | None:
    """A non-negative integer query value, or ``None``."""
    return int(text) if text is not None and text.isdigit() else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_tag_update(tag: Any) -> bool:
    return (
        isinstance(tag, dict)
        and set(tag) <= TAG_FIELDS
        and isinstance(tag.get("tagName"), str)
        and bool(tag["tagName"])
        and isinstance(tag.get("tagValue"), str)
    )


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _epoch_seconds(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp())
