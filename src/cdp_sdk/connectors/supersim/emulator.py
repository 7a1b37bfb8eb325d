"""Super SIM (supersim v1), emulated over a synthetic fleet.

Follows the official OpenAPI (twilio-oai ``twilio_supersim_v1.yaml``) for paths,
parameters and answers: HTTP Basic ``account_sid:auth_token``, and KORE's OAuth 2.0 client
credentials (``POST /api-services/v1/auth/token``, form-encoded) for Bearer tokens;
form-encoded updates; lists paged by ``PageSize`` (1 to 1000, default 50) and
``PageToken`` in a ``meta`` envelope whose ``next_page_url`` is null on the last page;
errors ``{"code", "message", "more_info", "status"}`` with Twilio's codes (20003
authentication, 20404 not found, 20429 too many requests, 20001 invalid parameter,
83010 a status the SIM cannot take). An update answers 200, or 202 with status
``scheduled`` when ``schedule_delay`` is set (the SIM then takes its new status once that
many seconds have passed).

Twilio documents unknown parameters as ignored (warning 20001, "no harm done"), so the
emulator ignores them too and records each in :attr:`SuperSimEmulator.warnings`, the way
Twilio's debugger would; invalid values of known parameters (a ``PageSize`` over 1000, a
``Status`` outside its enum, an unreadable time) are refused with 400.

Emulator choices where the public docs say nothing: fleet SIMs that are retired are gone
from the account; ``suspended`` and ``deactivated`` fleet SIMs show as ``inactive``; each
of the fleet's tariffs is a Fleet whose ``data_limit`` is the tariff's volume in MB; data
is billed at ``USD 0.10`` per MB, except usage of the fleet's last day, still "being
processed" (billed 0, ``billed_unit`` null); a day's traffic is spread over its hours by a
fixed profile; all traffic is on one network in one country; a SIM's settings updates are
one ``base-settings`` package at activation (and a scheduled update for every seventh
SIM); Twilio limits concurrent requests without publishing a number, which the emulator
stands in for with a per-second rate window; 429 answers carry no ``Retry-After`` (none is
documented).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from cdp_sdk.models import SimStatus
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetSim,
    FleetTariff,
    RateWindow,
    TokenStore,
    json_response,
    route,
)

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "SuperSimEmulator",
]

DEFAULT_ACCOUNT_SID = "AC" + "5e" * 16
DEFAULT_AUTH_TOKEN = "supersim-emulator-auth-token"
DEFAULT_CLIENT_ID = "supersim-emulator-client"
DEFAULT_CLIENT_SECRET = "supersim-emulator-client-secret"
TOKEN_TTL = 3600.0  # the shortest lifetime a KORE API client can choose

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
PRICE_PER_MB = Decimal("0.10")
CURRENCY = "USD"
NETWORK_SID = "HW" + "0a" * 16
ISO_COUNTRY = "DE"

INVALID_PARAMETER = 20001
AUTHENTICATE = 20003
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
STATUS_REFUSED = 83010
_CODE_FOR_STATUS = {
    400: INVALID_PARAMETER,
    401: AUTHENTICATE,
    403: 20403,
    404: NOT_FOUND,
    405: 20004,
    429: TOO_MANY_REQUESTS,
    500: 20500,
    503: 20503,
}

STATE_OF: dict[SimStatus, str] = {
    SimStatus.INVENTORY: "new",
    SimStatus.TEST: "ready",
    SimStatus.READY: "ready",
    SimStatus.ACTIVE: "active",
    SimStatus.SUSPENDED: "inactive",
    SimStatus.DEACTIVATED: "inactive",
}
STATUS_OF: dict[str, SimStatus] = {
    "new": SimStatus.INVENTORY,
    "ready": SimStatus.READY,
    "active": SimStatus.ACTIVE,
    "inactive": SimStatus.DEACTIVATED,
}
# The statuses an update may ask for from each status (ready only from new; nothing
# returns to new; nothing moves while an update is queued).
MOVES: dict[str, frozenset[str]] = {
    "new": frozenset({"ready", "active"}),
    "ready": frozenset({"active", "inactive"}),
    "active": frozenset({"inactive"}),
    "inactive": frozenset({"active"}),
    "scheduled": frozenset(),
}
SETTABLE = frozenset({"ready", "active", "inactive"})
LIST_STATUSES = frozenset({"new", "ready", "active", "inactive", "scheduled"})
UPDATE_STATUSES = frozenset({"scheduled", "in-progress", "successful", "failed"})
GRANULARITIES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "all": None}
GROUPS = frozenset({"sim", "fleet", "network", "isoCountry"})

_PAGING = frozenset({"PageSize", "Page", "PageToken"})
_QUERY: dict[str, frozenset[str]] = {
    "/v1/Sims": frozenset({"Status", "Fleet", "Iccid"}) | _PAGING,
    "/v1/Fleets": frozenset({"NetworkAccessProfile"}) | _PAGING,
    "/v1/UsageRecords": frozenset(
        {"Sim", "Fleet", "Network", "IsoCountry", "Group", "Granularity", "StartTime", "EndTime"}
    )
    | _PAGING,
    "/v1/SettingsUpdates": frozenset({"Sim", "Status"}) | _PAGING,
}
_UPDATE_FIELDS = frozenset(
    {"UniqueName", "Status", "Fleet", "CallbackUrl", "CallbackMethod", "AccountSid"}
)
# A day's traffic spread over its 24 hours (relative weights, busier in daytime).
_HOURLY = (1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 3, 3, 2, 2, 1)


class _Refused(Exception):
    """A request the API refuses: carries the answer."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class _Window:
    """A UsageRecords query: the buckets and the SIMs they sum over."""

    start: datetime
    end: datetime
    step: timedelta | None
    groups: Sequence[tuple[dict[str, Any], Sequence[FleetSim]]]

    def buckets(self) -> list[tuple[datetime, datetime]]:
        """The periods, newest first (the order Super SIM lists usage in)."""
        if self.step is None:
            return [(self.start, self.end)]
        first = _floor(self.start, self.step)
        periods = []
        while first < self.end:
            periods.append((first, first + self.step))
            first += self.step
        return periods[::-1]


class SuperSimEmulator(Emulator):
    """The Super SIM API over a :class:`~cdp_sdk.sandbox.Fleet`."""

    name = "supersim"

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_ttl: float = TOKEN_TTL,
        requests_per_second: int = 100,
        schedule_delay: float | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("rate_limit", RateWindow(requests_per_second))
        super().__init__(fleet, **options)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.client_id = client_id or DEFAULT_CLIENT_ID
        self.client_secret = client_secret or DEFAULT_CLIENT_SECRET
        self.tokens = TokenStore(token_ttl, clock=self.clock)
        self.schedule_delay = schedule_delay
        self.warnings: list[str] = []
        """Unknown parameters the emulator ignored, as Twilio's warning 20001 reports them."""
        self._states: dict[str, str] = {}  # ICCID -> status set through the API
        self._queued: dict[str, tuple[str, float]] = {}  # ICCID -> (status, due at)
        self._names: dict[str, str | None] = {}
        self._fleet_of: dict[str, str | None] = {}
        self._served = 0
        self._sims = [sim for sim in self.fleet.sorted_sims() if self.lists(sim.iccid)]
        self._by_key: dict[str, FleetSim] = {sim_sid(sim): sim for sim in self._sims}
        self._fleets = {tariff.id: fleet_sid(tariff) for tariff in self.fleet.tariffs}
        for sim in self._sims:
            customer = sim.tags.get("customer")
            self._names[sim.iccid] = f"{customer}-{sim.serial:04d}" if customer else None
            in_fleet = sim.status is not SimStatus.INVENTORY
            self._fleet_of[sim.iccid] = self._fleets[sim.tariff_id] if in_fleet else None

    def lists(self, iccid: str) -> bool:
        """Retired fleet SIMs are gone from the account."""
        return self.fleet.sims[iccid].status is not SimStatus.RETIRED

    # -- vendor shape -------------------------------------------------------------------

    def error(self, status: int, code: str | int, message: str) -> httpx.Response:
        number = int(code) if str(code).isdigit() else _CODE_FOR_STATUS.get(status, status)
        return error_response(status, number, message)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        return self.error(429, TOO_MANY_REQUESTS, "Too Many Requests")

    def response_headers(self, request: httpx.Request) -> Mapping[str, str]:
        self._served += 1
        digest = hashlib.blake2b(f"{self._served}".encode(), digest_size=16).hexdigest()
        return {"Twilio-Request-Id": f"RQ{digest}"}

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Basic":
            try:
                pair = base64.b64decode(credentials, validate=True).decode()
            except ValueError:
                pair = ""
            user, _, password = pair.partition(":")
            if secrets.compare_digest(
                user.encode(), self.account_sid.encode()
            ) and secrets.compare_digest(password.encode(), self.auth_token.encode()):
                return None
        elif scheme == "Bearer" and self.tokens.valid(credentials):
            return None
        return self.error(401, AUTHENTICATE, "Authenticate")

    def expire_tokens(self) -> None:
        """Expire every Bearer token now (as when ``expires_in`` runs out)."""
        self.tokens.expire_all()

    # -- KORE OAuth ---------------------------------------------------------------------

    @route("POST", "/api-services/v1/auth/token", auth=False)
    def token(self, request: EmulatorRequest) -> httpx.Response:
        form = _form(request)
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return json_response(
                {
                    "error": "unauthorized_client",
                    "error_description": "Invalid client or Invalid client credentials",
                },
                401,
            )
        return json_response(
            {
                "access_token": self.tokens.issue(),
                "expires_in": int(self.tokens.ttl),
                "token_type": "Bearer",
                "scope": "supersim",
            }
        )

    # -- Sims ---------------------------------------------------------------------------

    @route("GET", "/v1/Sims")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        return self._guarded(request, self._list_sims)

    def _list_sims(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, "/v1/Sims")
        status = _choice(query, "Status", LIST_STATUSES)
        fleet = query.get("Fleet")
        fleet_key = self._fleet_key(fleet) if fleet is not None else None
        iccid = query.get("Iccid")
        # Unfiltered, a page is a slice of the listing: no scan of the fleet per page.
        sims = (
            self._sims
            if status is None and fleet is None and iccid is None
            else [
                sim
                for sim in self._sims
                if (status is None or self._state(sim) == status)
                and (fleet is None or self._fleet_of[sim.iccid] == fleet_key)
                and (iccid is None or sim.iccid == iccid)
            ]
        )
        return self._page(
            request, query, "sims", len(sims), lambda a, b: self._render_sims(sims[a:b])
        )

    @route("GET", "/v1/Sims/{sid}")
    def get_sim(self, request: EmulatorRequest) -> httpx.Response:
        return self._guarded(request, lambda r: json_response(self._render(self._sim(r))))

    @route("POST", "/v1/Sims/{sid}")
    def update_sim(self, request: EmulatorRequest) -> httpx.Response:
        return self._guarded(request, self._update_sim)

    def _update_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self._sim(request)
        form = _form(request)
        self._warn(request, set(form) - _UPDATE_FIELDS)
        status = form.get("Status")
        if status is not None and status not in SETTABLE:
            raise _refused(f"Invalid Status: {status}")
        if "Fleet" in form:
            self._fleet_of[sim.iccid] = self._fleet_key(form["Fleet"])
        if "UniqueName" in form:
            self._names[sim.iccid] = form["UniqueName"] or None
            sim.updated_at = self._now()
        if status is None or status == self._state(sim):
            return json_response(self._render(sim))
        if status not in MOVES[self._state(sim)]:
            message = f"Unable to update the Super SIM from {self._state(sim)} to {status}"
            raise _Refused(self.error(400, STATUS_REFUSED, message))
        if self.schedule_delay is not None:
            self._queued[sim.iccid] = (status, self.clock() + self.schedule_delay)
            sim.updated_at = self._now()
            return json_response(self._render(sim), 202)
        self._set_state(sim, status)
        return json_response(self._render(sim))

    # -- Fleets -------------------------------------------------------------------------

    @route("GET", "/v1/Fleets")
    def list_fleets(self, request: EmulatorRequest) -> httpx.Response:
        return self._guarded(request, self._list_fleets)

    def _list_fleets(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, "/v1/Fleets")
        profile = query.get("NetworkAccessProfile")
        tariffs = [
            tariff
            for tariff in self.fleet.tariffs
            if profile is None or profile in (nap_sid(), "Sandbox NAP")
        ]
        return self._page(
            request,
            query,
            "fleets",
            len(tariffs),
            lambda a, b: [self._render_fleet(tariff) for tariff in tariffs[a:b]],
        )

    # -- UsageRecords -------------------------------------------------------------------

    @route("GET", "/v1/UsageRecords")
    def usage_records(self, request: EmulatorRequest) -> httpx.Response:
        return self._guarded(request, self._usage_records)

    def _usage_records(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, "/v1/UsageRecords")
        window = self._usage_window(query)
        buckets = window.buckets()
        groups = window.groups
        total = len(buckets) * len(groups)

        def render(first: int, stop: int) -> list[dict[str, Any]]:
            rows = []
            for index in range(first, min(stop, total)):
                period = buckets[index // len(groups)]
                dimensions, sims = groups[index % len(groups)]
                counted = (max(period[0], window.start), min(period[1], window.end))
                rows.append(self._usage_row(period, counted, dimensions, sims))
            return rows

        return self._page(request, query, "usage_records", total, render)

    def _usage_window(self, query: Mapping[str, str]) -> _Window:
        granularity = _choice(query, "Granularity", frozenset(GRANULARITIES)) or "all"
        group = _choice(query, "Group", GROUPS)
        end = _time(query, "EndTime") or self._now()
        start = _time(query, "StartTime") or _month_before(end)
        if start >= end:
            raise _refused("StartTime must be before EndTime")
        sims = list(self._sims)
        dimensions: dict[str, Any] = {}
        if (key := query.get("Sim")) is not None:
            sim = self._by_key.get(key) or self._named(key)
            sims = [sim] if sim is not None else []
            dimensions["sim_sid"] = sim_sid(sim) if sim is not None else key
        if (fleet := query.get("Fleet")) is not None:
            fleet_key = self._fleet_key(fleet)
            sims = [sim for sim in sims if self._fleet_of[sim.iccid] == fleet_key]
            dimensions["fleet_sid"] = fleet_key
        if (network := query.get("Network")) is not None:
            sims = sims if network == NETWORK_SID else []
            dimensions["network_sid"] = network
        if (country := query.get("IsoCountry")) is not None:
            sims = sims if country.upper() == ISO_COUNTRY else []
            dimensions["iso_country"] = country.upper()
        groups: list[tuple[dict[str, Any], Sequence[FleetSim]]]
        if group == "sim":
            groups = [({**dimensions, "sim_sid": sim_sid(sim)}, [sim]) for sim in sims]
        elif group == "fleet":
            keys = sorted({key for s in sims if (key := self._fleet_of[s.iccid]) is not None})
            groups = [
                (
                    {**dimensions, "fleet_sid": key},
                    [s for s in sims if self._fleet_of[s.iccid] == key],
                )
                for key in keys
            ]
        elif group == "network":
            groups = [({**dimensions, "network_sid": NETWORK_SID}, sims)]
        elif group == "isoCountry":
            groups = [({**dimensions, "iso_country": ISO_COUNTRY}, sims)]
        else:
            groups = [(dimensions, sims)]
        return _Window(start, end, GRANULARITIES[granularity], groups)

    def _usage_row(
        self,
        period: tuple[datetime, datetime],
        counted: tuple[datetime, datetime],
        dimensions: Mapping[str, Any],
        sims: Sequence[FleetSim],
    ) -> dict[str, Any]:
        """One record: ``period`` as reported, usage counted in ``counted`` (the period
        clipped to the window asked for)."""
        upload = download = 0
        for sim in sims:
            up, down = self._traffic(sim, *counted)
            upload, download = upload + up, download + down
        total = upload + download
        processing = period[1] > datetime.combine(self.fleet.today, datetime.min.time(), UTC)
        billed = Decimal(0) if processing else _billed(total)
        return {
            "account_sid": self.account_sid,
            "sim_sid": dimensions.get("sim_sid"),
            "network_sid": dimensions.get("network_sid"),
            "fleet_sid": dimensions.get("fleet_sid"),
            "iso_country": dimensions.get("iso_country"),
            "period": {"start_time": _iso(period[0]), "end_time": _iso(period[1])},
            "data_upload": upload,
            "data_download": download,
            "data_total": total,
            "data_total_billed": float(billed),
            "billed_unit": None if processing or not total else CURRENCY,
        }

    def _traffic(self, sim: FleetSim, start: datetime, end: datetime) -> tuple[int, int]:
        """Bytes up and down of ``sim`` in ``[start, end)``: whole days where the window
        holds them, hour by hour at its edges (an hour counts when it starts inside)."""
        upload = download = 0
        moment = start
        while moment < end:
            midnight = datetime.combine(moment.date(), datetime.min.time(), UTC)
            following = midnight + timedelta(days=1)
            if not self._in_history(midnight.date()):
                moment = following
                continue
            usage = self.fleet.daily_usage(sim.iccid, midnight.date())
            if moment == midnight and following <= end:
                upload, download = upload + usage.data_mo_bytes, download + usage.data_mt_bytes
                moment = following
                continue
            first = _ceil_hour(moment)
            last = min(end, following)
            hour = first
            while hour < last:
                upload += _hourly(usage.data_mo_bytes, hour.hour)
                download += _hourly(usage.data_mt_bytes, hour.hour)
                hour += timedelta(hours=1)
            moment = following
        return upload, download

    def _in_history(self, day: date) -> bool:
        return self.fleet.history_start <= day <= self.fleet.today

    # -- SettingsUpdates ----------------------------------------------------------------

    @route("GET", "/v1/SettingsUpdates")
    def settings_updates(self, request: EmulatorRequest) -> httpx.Response:
        return self._guarded(request, self._settings_updates)

    def _settings_updates(self, request: EmulatorRequest) -> httpx.Response:
        query = self._query(request, "/v1/SettingsUpdates")
        status = _choice(query, "Status", UPDATE_STATUSES)
        sims = list(self._sims)
        if (key := query.get("Sim")) is not None:
            found = self._by_key.get(key) or self._named(key)
            sims = [found] if found is not None else []
        updates = [
            update
            for sim in sims
            for update in self._updates(sim)
            if status is None or update["status"] == status
        ]
        updates.sort(key=lambda update: update["date_created"], reverse=True)
        return self._page(
            request, query, "settings_updates", len(updates), lambda a, b: updates[a:b]
        )

    def _updates(self, sim: FleetSim) -> list[dict[str, Any]]:
        if sim.activated_at is None:
            return []
        applied = sim.activated_at + timedelta(hours=1)
        updates = [
            _update(sim, "successful", created=sim.activated_at, updated=applied, done=applied)
        ]
        if sim.serial % 7 == 0:
            queued = datetime.combine(self.fleet.today, datetime.min.time(), UTC)
            created = queued - timedelta(days=1)
            updates.append(_update(sim, "scheduled", created=created, updated=created, done=None))
        return updates

    # -- rendering ----------------------------------------------------------------------

    def _render(self, sim: FleetSim) -> dict[str, Any]:
        sid = sim_sid(sim)
        url = f"https://supersim.twilio.com/v1/Sims/{sid}"
        return {
            "sid": sid,
            "unique_name": self._names[sim.iccid],
            "account_sid": self.account_sid,
            "iccid": sim.iccid,
            "status": self._state(sim),
            "fleet_sid": self._fleet_of[sim.iccid],
            "date_created": _iso(sim.created_at),
            "date_updated": _iso(sim.updated_at),
            "url": url,
            "links": {
                "billing_periods": f"{url}/BillingPeriods",
                "sim_ip_addresses": f"{url}/IpAddresses",
            },
        }

    def _render_sims(self, sims: Sequence[FleetSim]) -> list[dict[str, Any]]:
        return [self._render(sim) for sim in sims]

    def _render_fleet(self, tariff: FleetTariff) -> dict[str, Any]:
        sid = self._fleets[tariff.id]
        created = _iso(datetime.combine(self.fleet.history_start, datetime.min.time(), UTC))
        return {
            "account_sid": self.account_sid,
            "sid": sid,
            "unique_name": tariff.name,
            "date_created": created,
            "date_updated": created,
            "url": f"https://supersim.twilio.com/v1/Fleets/{sid}",
            "data_enabled": True,
            "data_limit": tariff.included_data_bytes // 1_000_000,
            "data_metering": "payg",
            "sms_commands_enabled": True,
            "sms_commands_url": None,
            "sms_commands_method": "POST",
            "network_access_profile_sid": nap_sid(),
            "ip_commands_url": None,
            "ip_commands_method": "POST",
        }

    # -- paging -------------------------------------------------------------------------

    def _page(
        self,
        request: EmulatorRequest,
        query: Mapping[str, str],
        key: str,
        total: int,
        render: Callable[[int, int], list[dict[str, Any]]],
    ) -> httpx.Response:
        """One page of a list and its ``meta``; only the page's rows are rendered."""
        size = _page_size(query.get("PageSize"))
        if self.max_page_size:  # tests ask for small pages; the vendor's own rules come first
            size = min(size, self.max_page_size)
        page = _whole(query.get("Page"), "Page", minimum=0, default=0)
        token = query.get("PageToken")
        offset = _offset(token) if token is not None else 0
        filters = [(name, value) for name, value in query.items() if name not in _PAGING]
        base = f"{request.request.url.scheme}://{request.request.url.netloc.decode()}"
        path = request.request.url.path

        def url(number: int, page_token: str | None = None) -> str:
            params = [*filters, ("PageSize", str(size)), ("Page", str(number))]
            if page_token is not None:
                params.append(("PageToken", page_token))
            return f"{base}{path}?{urlencode(params)}"

        more = offset + size < total
        body = {
            key: render(offset, offset + size),
            "meta": {
                "first_page_url": url(0),
                "key": key,
                "next_page_url": url(page + 1, f"PA{offset + size}") if more else None,
                "page": page,
                "page_size": size,
                "previous_page_url": (
                    url(page - 1, f"PB{max(0, offset - size)}") if offset > 0 else None
                ),
                "url": url(page, token),
            },
        }
        return json_response(body)

    # -- helpers ------------------------------------------------------------------------

    def _guarded(
        self, request: EmulatorRequest, handler: Callable[[EmulatorRequest], httpx.Response]
    ) -> httpx.Response:
        try:
            return handler(request)
        except _Refused as refused:
            return refused.response

    def _query(self, request: EmulatorRequest, path: str) -> dict[str, str]:
        params = request.params
        self._warn(request, set(params) - _QUERY[path])
        return {name: params[name] for name in params if name in _QUERY[path]}

    def _warn(self, request: EmulatorRequest, unknown: set[str]) -> None:
        if unknown:
            names = ", ".join(sorted(unknown))
            self.warnings.append(
                f"20001 Unknown parameters ({names}) ignored on "
                f"{request.method} {request.request.url.path}"
            )

    def _sim(self, request: EmulatorRequest) -> FleetSim:
        key = request.path_params["sid"]
        sim = self._by_key.get(key) or self._named(key)
        if sim is None:
            message = f"The requested resource {request.request.url.path} was not found"
            raise _Refused(self.error(404, NOT_FOUND, message))
        return sim

    def _named(self, unique_name: str) -> FleetSim | None:
        return next((sim for sim in self._sims if self._names[sim.iccid] == unique_name), None)

    def _fleet_key(self, value: str) -> str:
        for tariff in self.fleet.tariffs:
            if value in (self._fleets[tariff.id], tariff.name):
                return self._fleets[tariff.id]
        raise _Refused(self.error(404, NOT_FOUND, f"Fleet {value} was not found"))

    def _state(self, sim: FleetSim) -> str:
        """The status: a queued update until it is due, then what was set through the API
        while the fleet agrees, else the fleet's status shown the Super SIM way."""
        queued = self._queued.get(sim.iccid)
        if queued is not None:
            target, due = queued
            if self.clock() < due:
                return "scheduled"
            del self._queued[sim.iccid]
            self._set_state(sim, target)
        state = self._states.get(sim.iccid)
        if state is not None and STATUS_OF[state] is sim.status:
            return state
        return STATE_OF[sim.status]

    def _set_state(self, sim: FleetSim, state: str) -> None:
        now = self._now()
        self.fleet.set_status(sim.iccid, STATUS_OF[state], at=now, actor="api")
        sim.updated_at = now
        self._states[sim.iccid] = state
        if self._fleet_of[sim.iccid] is None and state != "new":
            self._fleet_of[sim.iccid] = self._fleets[sim.tariff_id]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC).replace(microsecond=0)


def sim_sid(sim: FleetSim) -> str:
    """The SIM's ``sid``: ``HS`` and 32 hex digits derived from its ICCID."""
    return "HS" + hashlib.blake2b(sim.iccid.encode(), digest_size=16).hexdigest()


def fleet_sid(tariff: FleetTariff) -> str:
    """The ``sid`` of the Fleet that stands for a fleet tariff."""
    return "HF" + hashlib.blake2b(tariff.id.encode(), digest_size=16).hexdigest()


def nap_sid() -> str:
    """The one Network Access Profile of the emulated account."""
    return "HA" + "0b" * 16


def _update(
    sim: FleetSim, status: str, *, created: datetime, updated: datetime, done: datetime | None
) -> dict[str, Any]:
    key = f"{sim.iccid}-{status}"
    return {
        "sid": "OB" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest(),
        "iccid": sim.iccid,
        "sim_sid": sim_sid(sim),
        "status": status,
        "packages": [
            {
                "name": "base-settings",
                "version": "1.0.0" if status == "successful" else "1.1.0",
                "more_info": "https://twilio.com/docs/iot/supersim/settings-packages/base-settings",
            }
        ],
        "date_completed": _iso(done) if done else None,
        "date_created": _iso(created),
        "date_updated": _iso(updated),
    }


def _form(request: EmulatorRequest) -> dict[str, str]:
    """The form fields of the body; a body of another type carries no parameters."""
    content_type = request.headers.get("Content-Type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    return dict(parse_qsl(request.request.content.decode(), keep_blank_values=True))


def _choice(query: Mapping[str, str], name: str, allowed: frozenset[str]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise _refused(f"Invalid {name}: {value}")
    return value


def _time(query: Mapping[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _refused(f"Invalid {name}: not an ISO 8601 time")
    return moment.astimezone(UTC)


def _page_size(value: str | None) -> int:
    size = _whole(value, "PageSize", minimum=1, default=DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise _refused(f"PageSize must be at most {MAX_PAGE_SIZE}")
    return size


def _whole(value: str | None, name: str, *, minimum: int, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise _refused(f"Invalid {name}: {value}")
    return int(value)


def _offset(token: str) -> int:
    if len(token) > 2 and token[:2] in ("PA", "PB") and token[2:].isdigit():
        return int(token[2:])
    raise _refused("Invalid PageToken")


def error_response(status: int, code: int, message: str) -> httpx.Response:
    """A Twilio error answer: ``{"code", "message", "more_info", "status"}``."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json_response(body, status)


def _refused(message: str) -> _Refused:
    """A 400 for an invalid parameter value (Twilio code 20001)."""
    return _Refused(error_response(400, INVALID_PARAMETER, message))


def _billed(total_bytes: int) -> Decimal:
    megabytes = Decimal(total_bytes) / Decimal(1_000_000)
    return (megabytes * PRICE_PER_MB).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


def _hourly(day_bytes: int, hour: int) -> int:
    """The part of a day's bytes that falls in ``hour``; the hours add up to the day."""
    weights = sum(_HOURLY)
    before = day_bytes * sum(_HOURLY[:hour]) // weights
    through = day_bytes * sum(_HOURLY[: hour + 1]) // weights
    return through - before


def _ceil_hour(moment: datetime) -> datetime:
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + timedelta(hours=1)


def _floor(moment: datetime, step: timedelta) -> datetime:
    if step >= timedelta(days=1):
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _month_before(moment: datetime) -> datetime:
    """The same time a month earlier (the last day of that month when it is shorter)."""
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
