"""Verizon ThingSpace Connectivity Management, emulated over a synthetic fleet.

What it follows (sources on the connector's docs page): the OAuth token at
``/api/ts/v1/oauth2/token`` (Basic ``key:secret``, one hour, the same token again within
that hour) and the M2M session at ``/api/m2m/v1/session/login`` (expires after 20 idle
minutes; five failed logins in a row lock the user), both required on every call;
``POST /devices/actions/list`` with up to 2000 devices a page sorted by device id,
``hasMoreData`` and HTTP 202 while more wait; the asynchronous actions (activate,
deactivate, suspend, restore, custom fields) answering ``{"requestId"}`` and applied
after ``processing_seconds``, with their ``pending ...`` states meanwhile and the request
status lookup; service plans; daily usage, connection history and provisioning history
in pages of 500 continued by moving ``earliest``; the ``errorCode``/``errorMessage``
bodies and the API gateway's ``fault`` bodies.

Emulator choices where the docs are silent (listed on the docs page): the answer of a
device listing carries ``largestDeviceIdSeen`` (the device's serial); a device that is not
in the account gives an empty list; an illegal move is accepted and its request ends
``Failed`` (Verizon reports such failures asynchronously); the fleet's ``ready`` and
``test`` SIMs are ``pre-active``; retired SIMs were deleted from the account and are not
listed; malformed requests and refused logins answer ``REQUEST_FAILED.UnexpectedError``,
the general error of Verizon's list; a 429 (only when a test injects one) has no body.
"""

from __future__ import annotations

import base64
import bisect
import re
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx

from cdp_sdk.mapping import parse_datetime
from cdp_sdk.models import SimStatus
from cdp_sdk.sandbox import Emulator, EmulatorRequest, Fleet, FleetSim, json_response, route

__all__ = [
    "ACCOUNT_NAME",
    "DEFAULT_APP_KEY",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "ThingSpaceEmulator",
]

DEFAULT_APP_KEY = "emulator-app-key"
DEFAULT_APP_SECRET = "emulator-app-secret"
DEFAULT_USERNAME = "emulator-uws-user"
DEFAULT_PASSWORD = "emulator-uws-password"
ACCOUNT_NAME = "0000123456-00001"

OAUTH_TTL = 3600.0
SESSION_IDLE = 20 * 60.0
LOCK_AFTER = 5
MAX_DEVICES = 2000
MAX_RECORDS = 500
CARRIER = "Verizon Wireless"
SERVICE = "UnifiedWebService"
DEVICE_SERVICE = "DeviceService"
EASTERN = timezone(timedelta(hours=-4))  # the offset of the docs' examples

UNEXPECTED = "REQUEST_FAILED.UnexpectedError"
ACCOUNT_NOT_FOUND = "REQUEST_FAILED.AccountNotFound"
SESSION_EXPIRED = "REQUEST_FAILED.SessionToken.Expired"
SESSION_INVALID = "INPUT_INVALID.SessionToken.Invalid"
BAD_CUSTOM_FIELD = "INPUT_INVALID.CustomField.InvalidName"
BAD_CHARACTER = "INPUT_INVALID.Request.InvalidCharacter"

STATE_OF: dict[SimStatus, str] = {
    SimStatus.ACTIVE: "active",
    SimStatus.SUSPENDED: "suspend",
    SimStatus.DEACTIVATED: "deactive",
    SimStatus.INVENTORY: "pre-active",
    SimStatus.READY: "pre-active",
    SimStatus.TEST: "pre-active",
}
STATUS_OF: dict[str, SimStatus] = {
    "active": SimStatus.ACTIVE,
    "suspend": SimStatus.SUSPENDED,
    "deactive": SimStatus.DEACTIVATED,
    "pre-active": SimStatus.INVENTORY,
}
MOVES: dict[tuple[str, str], str] = {
    ("deactive", "activate"): "active",
    ("pre-active", "activate"): "active",
    ("suspend", "restore"): "active",
    ("active", "suspend"): "suspend",
    ("active", "deactivate"): "deactive",
}
"""(state, action) -> the state the action leads to: Verizon's valid next states."""
PENDING: dict[str, str] = {
    "activate": "pending activation",
    "restore": "pending resume",
    "suspend": "pending suspend",
    "deactivate": "pending deactivation",
}
EVENT_OF: dict[str, str] = {
    "activate": "Activate",
    "restore": "Restore",
    "suspend": "Suspend",
    "deactivate": "Deactivate",
}
SLOTS = ("CustomField1", "CustomField2", "CustomField3", "CustomField4", "CustomField5")
SLOT_OF_TAG = {"fleet": "CustomField1", "region": "CustomField2", "customer": "CustomField3"}
PLAN_CODES = {"plan-s": "M2MSHR10MB", "plan-m": "M2MSHR100MB", "plan-l": "M2MSHR1GB"}

_DEVICE_LIST_KEYS = frozenset(
    {
        "accountName",
        "deviceId",
        "filter",
        "currentState",
        "customFields",
        "earliest",
        "latest",
        "groupName",
        "servicePlan",
        "maxNumberOfDevices",
        "largestDeviceIdSeen",
    }
)
_DEVICE_SET_KEYS = frozenset({"accountName", "customFields", "devices", "groupName", "servicePlan"})
_ACTION_KEYS: dict[str, frozenset[str]] = {
    "activate": _DEVICE_SET_KEYS
    | {
        "mdnZipCode",
        "carrierIpPoolName",
        "carrierName",
        "costCenterCode",
        "leadId",
        "primaryPlaceOfUse",
        "publicIpRestriction",
        "skuNumber",
    },
    "deactivate": _DEVICE_SET_KEYS | {"reasonCode", "etfWaiver", "deleteAfterDeactivation"},
    "suspend": _DEVICE_SET_KEYS | {"withBilling"},
    "restore": _DEVICE_SET_KEYS | {"withBilling"},
}
_HISTORY_KEYS = frozenset({"deviceId", "earliest", "latest"})
_USAGE_KEYS = frozenset({"deviceId", "earliest", "latest", "label"})
_CUSTOM_FIELD_KEYS = _DEVICE_SET_KEYS | {"customFieldsToUpdate"}


@dataclass
class _Request:
    """An asynchronous request and its outcome, applied once it is due."""

    id: str
    iccids: tuple[str | None, ...]
    action: str
    due: float
    changes: dict[str, str] = field(default_factory=dict)
    plan: str | None = None
    status: str = "Pending"


class _Refused(Exception):
    """A request that Verizon answers with an error body."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__("refused")
        self.response = response


class ThingSpaceEmulator(Emulator):
    """ThingSpace Connectivity Management over a :class:`~cdp_sdk.sandbox.Fleet`."""

    name = "thingspace"
    fleet_options = {"iccid_prefix": "891480", "iccid_digits": 20}  # 20-digit ICCIDs

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        app_key: str = DEFAULT_APP_KEY,
        app_secret: str = DEFAULT_APP_SECRET,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        account_name: str = ACCOUNT_NAME,
        processing_seconds: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(fleet, **options)
        self.app_key = app_key
        self.app_secret = app_secret
        self.username = username
        self.password = password
        self.account_name = account_name
        self.processing_seconds = processing_seconds
        """How long Verizon takes to apply an asynchronous request (0: at once)."""
        self.oauth_tokens: dict[str, float] = {}  # token -> expiry
        self.sessions: dict[str, float] = {}  # token -> last use
        self.oauth_logins = 0
        self.session_logins = 0
        self.failed_logins = 0
        self.locked = False
        listed = sorted(
            (sim for sim in self.fleet.sims.values() if self.lists(sim.iccid)),
            key=lambda sim: sim.serial,
        )
        self._ordered = listed
        self._serials = [sim.serial for sim in listed]
        self._by_date = sorted(listed, key=lambda sim: (sim.created_at, sim.serial))
        self._dates = [sim.created_at for sim in self._by_date]
        self._states = {sim.iccid: STATE_OF[sim.status] for sim in listed}
        self._plans = {sim.iccid: PLAN_CODES.get(sim.tariff_id, sim.tariff_id) for sim in listed}
        self._custom = {sim.iccid: _slots_of(sim) for sim in listed}
        self._groups = {sim.iccid: str(sim.tags.get("region") or "Default") for sim in listed}
        self._requests: dict[str, _Request] = {}
        self._queue: list[_Request] = []
        self._history: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in self.fleet.audit:
            entry = _history_entry(self.fleet, event)
            if entry is not None and event.iccid in self._states:
                self._history[event.iccid].append(entry)

    def lists(self, iccid: str) -> bool:
        """Retired SIMs were deleted from the account."""
        return self.fleet.sims[iccid].status is not SimStatus.RETIRED

    def expire_sessions(self) -> None:
        """End every M2M session now, as 20 idle minutes do."""
        self.sessions.clear()

    def expire_tokens(self) -> None:
        """Expire every OAuth token now (as after an hour, or a revoke)."""
        self.oauth_tokens.clear()

    def state_of(self, iccid: str) -> str:
        """The device's state as Verizon shows it (``pending ...`` while a request runs)."""
        self._settle()
        return self._shown_state(iccid)

    # -- vendor shape -------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        if status in (404, 405):  # the gateway knows no such resource
            return _fault(
                400, "900906", "No matching resource found in the API for the given request"
            )
        if status == 401:
            return _fault(401, "900901", "Invalid Credentials")
        if status == 403:
            return httpx.Response(
                403,
                content=(
                    '<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>403</am:code>'
                    "<am:type>Status report</am:type><am:message>Forbidden</am:message>"
                    "<am:description>Access is not allowed.</am:description></am:fault>"
                ),
                headers={"Content-Type": "application/xml"},
            )
        if status == 429:
            return httpx.Response(429)
        if not re.match(r"(REQUEST_FAILED|INPUT_INVALID)\.", code):
            code = UNEXPECTED
        return _m2m_error(status, SERVICE, code, message)

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        refusal = self._bearer(request)
        if refusal is not None:
            return refusal
        token = request.headers.get("VZ-M2M-Token")
        if not token or token not in self.sessions:
            return _m2m_error(400, SERVICE, SESSION_INVALID, "The session token is not valid")
        if self.clock() - self.sessions[token] >= SESSION_IDLE:
            del self.sessions[token]
            return _m2m_error(400, SERVICE, SESSION_EXPIRED, "The Session has expired")
        self.sessions[token] = self.clock()
        self._settle()
        return None

    def _bearer(self, request: EmulatorRequest) -> httpx.Response | None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme != "Bearer" or not token:
            return _fault(401, "900902", "Missing Credentials")
        expiry = self.oauth_tokens.get(token)
        if expiry is None or self.clock() >= expiry:
            return _fault(401, "900901", "Invalid Credentials")
        return None

    # -- auth ---------------------------------------------------------------------------

    @route("POST", "/api/ts/v1/oauth2/token", auth=False)
    def oauth_token(self, request: EmulatorRequest) -> httpx.Response:
        scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
        if scheme != "Basic" or not encoded:
            return _fault(401, "900902", "Missing Credentials")
        expected = f"{self.app_key}:{self.app_secret}".encode()
        if encoded.strip() != base64.b64encode(expected).decode("ascii"):
            return _fault(401, "900901", "Invalid Credentials")
        form = parse_qs(request.request.content.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return json_response(
                {
                    "error_description": "Missing grant_type parameter value",
                    "error": "invalid_request",
                },
                400,
            )
        self.oauth_logins += 1
        now = self.clock()
        # Within the hour, every request returns the same token (until it is revoked).
        live = [(token, expiry) for token, expiry in self.oauth_tokens.items() if expiry > now]
        token, expiry = live[0] if live else (secrets.token_hex(16), now + OAUTH_TTL)
        self.oauth_tokens[token] = expiry
        return json_response(
            {
                "access_token": token,
                "scope": "am_application_scope default",
                "token_type": "Bearer",
                "expires_in": int(expiry - now),
            }
        )

    @route("POST", "/api/m2m/v1/session/login", auth=False)
    def session_login(self, request: EmulatorRequest) -> httpx.Response:
        refusal = self._bearer(request)
        if refusal is not None:
            return refusal
        self.session_logins += 1
        body = request.json()
        if self.locked:
            return _m2m_error(400, SERVICE, UNEXPECTED, "The contact record is locked")
        if (
            not isinstance(body, dict)
            or body.get("username") != self.username
            or body.get("password") != self.password
        ):
            self.failed_logins += 1
            self.locked = self.failed_logins >= LOCK_AFTER
            return _m2m_error(400, SERVICE, UNEXPECTED, "Login failed")
        self.failed_logins = 0
        token = str(uuid.uuid4())
        self.sessions[token] = self.clock()
        return json_response({"sessionToken": token})

    # -- devices ------------------------------------------------------------------------

    @route("POST", "/api/m2m/v1/devices/actions/list")
    def list_devices(self, request: EmulatorRequest) -> httpx.Response:
        try:
            body = self._body(request, _DEVICE_LIST_KEYS, required=(), allow_empty=True)
            self._account(body, required=False)
            if "deviceId" in body:
                sim = self._find(body["deviceId"])
                devices = [] if sim is None else [self._render(sim, single=True)]
                return json_response({"hasMoreData": False, "devices": devices})
            size = self.page_limit(
                _whole(body.get("maxNumberOfDevices", MAX_DEVICES), 1, MAX_DEVICES),
                default=MAX_DEVICES,
                maximum=MAX_DEVICES,
            )
            wanted = self._filter(body)
            by_id = "largestDeviceIdSeen" in body
            largest = _whole(body["largestDeviceIdSeen"], 0, None) if by_id else 0
            earliest = None if by_id else _instant_or_none(body.get("earliest"))
        except _Refused as refused:
            return refused.response
        if by_id:
            start = bisect.bisect_right(self._serials, largest)
            found, more = _take(self._ordered, start, size, wanted)
            answer: dict[str, Any] = {
                "hasMoreData": more,
                "devices": [self._render(s) for s in found],
            }
            answer["largestDeviceIdSeen"] = found[-1].serial if found else largest
            return json_response(answer, 202 if more else 200)
        start = 0 if earliest is None else bisect.bisect_left(self._dates, earliest)
        found, more = _take(self._by_date, start, size, wanted)
        return json_response(
            {"hasMoreData": more, "devices": [self._render(s) for s in found]}, 202 if more else 200
        )

    @route("POST", "/api/m2m/v1/devices/actions/activate")
    def activate(self, request: EmulatorRequest) -> httpx.Response:
        return self._act(request, "activate")

    @route("POST", "/api/m2m/v1/devices/actions/deactivate")
    def deactivate(self, request: EmulatorRequest) -> httpx.Response:
        return self._act(request, "deactivate")

    @route("POST", "/api/m2m/v1/devices/actions/suspend")
    def suspend(self, request: EmulatorRequest) -> httpx.Response:
        return self._act(request, "suspend")

    @route("POST", "/api/m2m/v1/devices/actions/restore")
    def restore(self, request: EmulatorRequest) -> httpx.Response:
        return self._act(request, "restore")

    @route("PUT", "/api/m2m/v1/devices/actions/customFields")
    def custom_fields(self, request: EmulatorRequest) -> httpx.Response:
        try:
            body = self._body(request, _CUSTOM_FIELD_KEYS, required=("customFieldsToUpdate",))
            self._account(body, required=False)
            updates = body["customFieldsToUpdate"]
            if not isinstance(updates, list) or not updates:
                raise _Refused(self.error(400, UNEXPECTED, "customFieldsToUpdate is required"))
            changes: dict[str, str] = {}
            for update in updates:
                if not isinstance(update, dict) or not isinstance(update.get("value"), str):
                    raise _Refused(self.error(400, UNEXPECTED, "Send {key, value} pairs"))
                if update.get("key") not in SLOTS:
                    raise _Refused(
                        _m2m_error(400, DEVICE_SERVICE, BAD_CUSTOM_FIELD, "Invalid custom field")
                    )
                if re.search(r"['<\\]", update["value"]):
                    raise _Refused(
                        _m2m_error(400, DEVICE_SERVICE, BAD_CHARACTER, "Invalid character")
                    )
                changes[update["key"]] = update["value"]
            iccids = self._targets(body)
        except _Refused as refused:
            return refused.response
        return self._queue_request(iccids, "customFields", changes=changes)

    @route("GET", "/api/m2m/v1/accounts/{account}/requests/{request_id}/status")
    def request_status(self, request: EmulatorRequest) -> httpx.Response:
        if request.path_params["account"] != self.account_name:
            return _m2m_error(400, SERVICE, ACCOUNT_NOT_FOUND, "Account not found")
        entry = self._requests.get(request.path_params["request_id"])
        if entry is None or len(entry.iccids) != 1:
            return self.error(400, UNEXPECTED, "No single-device request with this id")
        return json_response({"requestId": entry.id, "status": entry.status})

    # -- plans, usage and history ---------------------------------------------------------

    @route("GET", "/api/m2m/v1/plans/{account}")
    def plans(self, request: EmulatorRequest) -> httpx.Response:
        if request.path_params["account"] != self.account_name:
            return _m2m_error(400, SERVICE, ACCOUNT_NOT_FOUND, "Account not found")
        return json_response(
            [
                {
                    "name": tariff.name,
                    "code": PLAN_CODES.get(tariff.id, tariff.id),
                    "sizeKb": tariff.included_data_bytes // 1000,
                    "carrierServicePlanCode": str(84630 + index),
                    "extendedAttributes": [],
                }
                for index, tariff in enumerate(self.fleet.tariffs)
            ]
        )

    @route("POST", "/api/m2m/v1/devices/usage/actions/list")
    def usage(self, request: EmulatorRequest) -> httpx.Response:
        try:
            sim, earliest, latest = self._history_request(request, _USAGE_KEYS)
        except _Refused as refused:
            return refused.response
        size = self.page_limit(None, default=MAX_RECORDS, maximum=MAX_RECORDS)
        records: list[dict[str, Any]] = []
        more = False
        if sim is not None:
            for day in self._days(sim, earliest, latest):
                usage = self.fleet.daily_usage(sim.iccid, day)
                data = usage.data_mo_bytes + usage.data_mt_bytes
                if not data and not usage.sms_mo and not usage.sms_mt:
                    continue
                if len(records) == size:
                    more = True
                    break
                records.append(
                    {
                        "bytesUsed": data,
                        "extendedAttributes": [
                            {"key": "MoSms", "value": str(usage.sms_mo)},
                            {"key": "MtSms", "value": str(usage.sms_mt)},
                        ],
                        "servicePlan": self._plans[sim.iccid],
                        "smsUsed": usage.sms_mo + usage.sms_mt,
                        "source": "Raw Usage",
                        "timestamp": f"{day.isoformat()}T00:00:00Z",
                    }
                )
        return json_response({"hasMoreData": more, "usageHistory": records}, 202 if more else 200)

    @route("POST", "/api/m2m/v1/devices/connections/actions/listHistory")
    def connection_history(self, request: EmulatorRequest) -> httpx.Response:
        try:
            sim, earliest, latest = self._history_request(request, _HISTORY_KEYS)
        except _Refused as refused:
            return refused.response
        size = self.page_limit(None, default=MAX_RECORDS, maximum=MAX_RECORDS)
        events: list[dict[str, Any]] = []
        more = False
        if sim is not None:
            for event in self._connection_events(sim, earliest, latest):
                if len(events) == size:
                    more = True
                    break
                events.append(event)
        return json_response(
            {"connectionHistory": events, "hasMoreData": more}, 202 if more else 200
        )

    @route("POST", "/api/m2m/v1/devices/history/actions/list")
    def provisioning_history(self, request: EmulatorRequest) -> httpx.Response:
        try:
            sim, earliest, latest = self._history_request(request, _HISTORY_KEYS)
        except _Refused as refused:
            return refused.response
        size = self.page_limit(None, default=MAX_RECORDS, maximum=MAX_RECORDS)
        entries = self._history[sim.iccid] if sim is not None else []
        times = [_instant(entry["occurredAt"]) for entry in entries]
        first = bisect.bisect_left(times, earliest)
        last = bisect.bisect_right(times, latest)
        chunk = entries[first : min(last, first + size)]
        more = last - first > size
        return json_response(
            [{"provisioningHistory": chunk, "hasMoreData": more}], 202 if more else 200
        )

    # -- requests -----------------------------------------------------------------------

    def _act(self, request: EmulatorRequest, action: str) -> httpx.Response:
        required: tuple[str, ...] = ("devices",)
        if action == "activate":
            required = ("devices", "servicePlan", "mdnZipCode")
        elif action == "deactivate":
            required = ("accountName", "devices", "reasonCode")
        try:
            body = self._body(request, _ACTION_KEYS[action], required=required)
            self._account(body, required=action == "deactivate")
            if action == "deactivate" and body["reasonCode"] != "FF":
                raise _Refused(self.error(400, UNEXPECTED, "The only reason code is FF"))
            plan = None
            if action == "activate":
                zip_code, plan = body["mdnZipCode"], body["servicePlan"]
                if not isinstance(zip_code, str) or not re.fullmatch(r"\d{5}", zip_code):
                    raise _Refused(self.error(400, UNEXPECTED, "mdnZipCode must be 5 digits"))
                if not isinstance(plan, str) or not plan:
                    raise _Refused(self.error(400, UNEXPECTED, "servicePlan is required"))
            iccids = self._targets(body)
        except _Refused as refused:
            return refused.response
        return self._queue_request(iccids, action, plan=plan)

    def _queue_request(
        self,
        iccids: tuple[str | None, ...],
        action: str,
        *,
        changes: dict[str, str] | None = None,
        plan: str | None = None,
    ) -> httpx.Response:
        entry = _Request(
            id=str(uuid.uuid4()),
            iccids=iccids,
            action=action,
            due=self.clock() + self.processing_seconds,
            changes=changes or {},
            plan=plan,
        )
        self._requests[entry.id] = entry
        self._queue.append(entry)
        self._settle()
        return json_response({"requestId": entry.id})

    def _settle(self) -> None:
        """Apply the requests that are due, in the order they came."""
        now = self.clock()
        while self._queue and self._queue[0].due <= now:
            self._apply(self._queue.pop(0))

    def _apply(self, entry: _Request) -> None:
        results = [self._apply_one(entry, iccid) for iccid in entry.iccids]
        entry.status = "Success" if all(results) else "Failed"

    def _apply_one(self, entry: _Request, iccid: str | None) -> bool:
        if iccid is None:
            return False  # not a device of this account
        at = datetime.fromtimestamp(self.clock(), UTC)
        if entry.action == "customFields":
            slots = self._custom[iccid]
            for key, value in entry.changes.items():
                if value:
                    slots[key] = value
                else:
                    slots.pop(key, None)
            tags: dict[str, str | None] = dict(sorted(slots.items()))
            self.fleet.set_tags(iccid, tags, at=at, actor=self.username)
            return True
        target = MOVES.get((self._states[iccid], entry.action))
        if target is None:
            return False
        if entry.plan is not None:
            self._plans[iccid] = entry.plan
        self._states[iccid] = target
        self.fleet.set_status(iccid, STATUS_OF[target], at=at, actor=self.username)
        self._history[iccid].append(
            {
                "occurredAt": _stamp(at),
                "status": "Success",
                "eventBy": self.username,
                "eventType": EVENT_OF[entry.action],
                "servicePlan": self._plans[iccid],
                "mdn": "",
                "msisdn": self.fleet.sims[iccid].msisdn if target != "deactive" else "",
                "extendedAttributes": [],
            }
        )
        return True

    def _shown_state(self, iccid: str) -> str:
        for entry in self._queue:
            if iccid in entry.iccids and entry.action in PENDING:
                return PENDING[entry.action]
        return self._states[iccid]

    # -- request checks -----------------------------------------------------------------

    def _body(
        self,
        request: EmulatorRequest,
        allowed: frozenset[str],
        *,
        required: tuple[str, ...],
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        body = request.json()
        if body is None and allow_empty:
            return {}
        if not isinstance(body, dict):
            raise _Refused(self.error(400, UNEXPECTED, "The request body must be a JSON object"))
        unknown = sorted(set(body) - allowed)
        missing = [key for key in required if body.get(key) in (None, "", [])]
        if unknown or missing:
            raise _Refused(
                self.error(400, UNEXPECTED, f"Unexpected {unknown} or missing {missing} elements")
            )
        return body

    def _account(self, body: Mapping[str, Any], *, required: bool) -> None:
        name = body.get("accountName")
        if name is None and not required:
            return
        if name != self.account_name:
            raise _Refused(_m2m_error(400, SERVICE, ACCOUNT_NOT_FOUND, "Account not found"))

    def _targets(self, body: Mapping[str, Any]) -> tuple[str | None, ...]:
        """The ICCIDs of ``devices`` (``None`` for a device not in the account)."""
        devices = body.get("devices")
        if not isinstance(devices, list) or not devices:
            raise _Refused(self.error(400, UNEXPECTED, "devices is required"))
        found: list[str | None] = []
        for device in devices:
            ids = device.get("deviceIds") if isinstance(device, dict) else None
            if not isinstance(ids, list) or not ids:
                raise _Refused(self.error(400, UNEXPECTED, "deviceIds is required"))
            sims = {sim.iccid for sim in (self._find(item) for item in ids) if sim is not None}
            found.append(sims.pop() if len(sims) == 1 else None)
        return tuple(found)

    def _find(self, device_id: Any) -> FleetSim | None:
        """The listed SIM a ``{id, kind}`` names (kinds case-insensitive)."""
        if not isinstance(device_id, dict):
            raise _Refused(self.error(400, UNEXPECTED, "deviceId must be {id, kind}"))
        value, kind = device_id.get("id"), device_id.get("kind")
        if not isinstance(value, str) or not isinstance(kind, str) or not value or not kind:
            raise _Refused(self.error(400, UNEXPECTED, "deviceId needs id and kind"))
        kind = kind.lower()
        if kind not in {"iccid", "imei", "imsi", "msisdn", "mdn", "eid", "esn", "meid"}:
            raise _Refused(self.error(400, UNEXPECTED, "Unknown device identifier kind"))
        if kind == "iccid":
            sim = self.fleet.sims.get(value)
            return sim if sim is not None and sim.iccid in self._states else None
        for sim in self._ordered:  # other identifiers: a scan (look-ups by ICCID are O(1))
            if value in _identifiers(sim).get(kind, ()):
                return sim
        return None

    def _filter(self, body: Mapping[str, Any]) -> Callable[[FleetSim], bool] | None:
        """The listing filters of the request, as a test of a SIM (``None``: all)."""
        tests: list[Callable[[FleetSim], bool]] = []
        state = body.get("currentState")
        if state is not None:
            if not isinstance(state, str):
                raise _Refused(self.error(400, UNEXPECTED, "currentState must be text"))
            tests.append(lambda sim: self._shown_state(sim.iccid).lower() == state.lower())
        plan = body.get("servicePlan")
        if plan is not None:
            tests.append(lambda sim: self._plans[sim.iccid] == plan)
        wanted = body.get("customFields")
        if wanted is not None:
            if not isinstance(wanted, list) or not all(isinstance(w, dict) for w in wanted):
                raise _Refused(self.error(400, UNEXPECTED, "customFields must be {key, value}"))
            tests.append(
                lambda sim: all(
                    self._custom[sim.iccid].get(w.get("key")) == w.get("value") for w in wanted
                )
            )
        latest = _instant_or_none(body.get("latest"))
        if latest is not None:
            tests.append(lambda sim: sim.created_at <= latest)
        if body.get("earliest") is not None and "largestDeviceIdSeen" in body:
            earliest = _instant_or_none(body["earliest"])
            tests.append(lambda sim: earliest is None or sim.created_at >= earliest)
        if not tests:
            return None
        return lambda sim: all(test(sim) for test in tests)

    def _history_request(
        self, request: EmulatorRequest, allowed: frozenset[str]
    ) -> tuple[FleetSim | None, datetime, datetime]:
        body = self._body(request, allowed, required=("deviceId", "earliest", "latest"))
        earliest = _instant_or_none(body["earliest"])
        latest = _instant_or_none(body["latest"])
        if earliest is None or latest is None:
            raise _Refused(self.error(400, UNEXPECTED, "earliest and latest are ISO 8601"))
        return self._find(body["deviceId"]), earliest, latest

    # -- rendering ----------------------------------------------------------------------

    def _render(self, sim: FleetSim, *, single: bool = False) -> dict[str, Any]:
        state = self._shown_state(sim.iccid)
        base_state = self._states[sim.iccid]
        in_service = base_state in ("active", "suspend")
        ids = [{"id": sim.iccid, "kind": "iccid"}]
        if sim.imei:
            ids.append({"id": sim.imei, "kind": "imei"})
        ids.append({"id": sim.imsi, "kind": "imsi"})
        if in_service:
            ids.append({"id": sim.msisdn, "kind": "msisdn"})
        if sim.eid:
            ids.append({"id": sim.eid, "kind": "eid"})
        carrier: dict[str, Any] = {"carrierName": CARRIER, "state": state}
        if in_service:
            carrier["servicePlan"] = self._plans[sim.iccid]
        device: dict[str, Any] = {
            "accountName": self.account_name,
            "billingCycleEndDate": _cycle_end(self.fleet.today),
            "carrierInformations": [carrier],
            "connected": base_state == "active" and sim.serial % 3 != 0,
            "createdAt": _stamp(sim.created_at),
            "deviceIds": ids,
            "groupNames": [self._groups[sim.iccid]],
        }
        slots = self._custom[sim.iccid]
        if slots:
            device["customFields"] = [{"key": key, "value": slots[key]} for key in sorted(slots)]
        if in_service:
            device["ipAddress"] = sim.ip_address
        if sim.activated_at is not None:
            device["lastActivationBy"] = "ThingSpace Emulator"
            device["lastActivationDate"] = _stamp(sim.activated_at)
        if base_state == "active":
            seen = datetime.combine(self.fleet.today, time(4, 23, 37), tzinfo=UTC)
            device["lastConnectionDate"] = _stamp(seen - timedelta(days=sim.serial % 5))
        if single:  # "returned for a single device", not in a list of devices
            device["extendedAttributes"] = [
                {"key": "PrimaryPlaceOfUseCity", "value": "Basking Ridge"}
            ]
        return device

    def _days(self, sim: FleetSim, earliest: datetime, latest: datetime) -> Iterator[date]:
        """Days whose record (stamped at 00:00 UTC) lies in ``[earliest, latest]``, within
        the fleet's history (Verizon keeps 12 months)."""
        day = earliest.astimezone(UTC).date()
        if datetime.combine(day, time.min, tzinfo=UTC) < earliest:
            day += timedelta(days=1)
        day = max(day, self.fleet.history_start)
        stop = min(latest.astimezone(UTC).date(), self.fleet.today)
        while day <= stop:
            yield day
            day += timedelta(days=1)

    def _connection_events(
        self, sim: FleetSim, earliest: datetime, latest: datetime
    ) -> Iterator[dict[str, Any]]:
        """One data session a day in service: Start at 06:00 UTC, Stop at 18:00 UTC."""
        day = max(earliest.astimezone(UTC).date() - timedelta(days=1), self.fleet.history_start)
        stop = min(latest.astimezone(UTC).date(), self.fleet.today)
        while day <= stop:
            usage = self.fleet.daily_usage(sim.iccid, day)
            volume = usage.data_mo_bytes + usage.data_mt_bytes
            if volume:
                begin = datetime.combine(day, time(6), tzinfo=UTC)
                for moment, attributes in (
                    (
                        begin,
                        [{"key": "BytesUsed", "value": "0"}, {"key": "Event", "value": "Start"}],
                    ),
                    (
                        begin + timedelta(hours=12),
                        [
                            {"key": "BytesUsed", "value": str(volume)},
                            {"key": "Event", "value": "Stop"},
                            {"key": "Msisdn", "value": sim.msisdn},
                        ],
                    ),
                ):
                    if earliest <= moment <= latest:
                        yield {
                            "connectionEventAttributes": attributes,
                            "extendedAttributes": [],
                            "occurredAt": _stamp(moment, offset=timezone(timedelta(hours=-5))),
                        }
            day += timedelta(days=1)


def _take(
    ordered: list[FleetSim], start: int, size: int, wanted: Callable[[FleetSim], bool] | None
) -> tuple[list[FleetSim], bool]:
    """Up to ``size`` SIMs from ``start`` that pass ``wanted``, and whether more remain."""
    if wanted is None:
        return ordered[start : start + size], start + size < len(ordered)
    found: list[FleetSim] = []
    for index in range(start, len(ordered)):
        if wanted(ordered[index]):
            if len(found) == size:
                return found, True
            found.append(ordered[index])
    return found, False


def _identifiers(sim: FleetSim) -> dict[str, tuple[str, ...]]:
    mdn = sim.msisdn[-10:]
    return {
        "imei": (sim.imei,) if sim.imei else (),
        "imsi": (sim.imsi,),
        "msisdn": (sim.msisdn,),
        "mdn": (mdn,),
        "eid": (sim.eid,) if sim.eid else (),
    }


def _slots_of(sim: FleetSim) -> dict[str, str]:
    return {
        SLOT_OF_TAG[key]: value for key, value in sim.tags.items() if key in SLOT_OF_TAG and value
    }


def _history_entry(fleet: Fleet, event: Any) -> dict[str, Any] | None:
    """A fleet status change as a provisioning history entry."""
    if event.field != "status" or event.new_value is None:
        return None
    old, new = event.old_value, event.new_value
    if new == SimStatus.ACTIVE.value:
        event_type = "Restore" if old == SimStatus.SUSPENDED.value else "Activate"
    elif new == SimStatus.SUSPENDED.value:
        event_type = "Suspend"
    elif new == SimStatus.DEACTIVATED.value:
        event_type = "Deactivate"
    else:
        return None
    sim = fleet.sims[event.iccid]
    return {
        "occurredAt": _stamp(event.occurred_at),
        "status": "Success",
        "eventBy": event.actor,
        "eventType": event_type,
        "servicePlan": PLAN_CODES.get(sim.tariff_id, sim.tariff_id),
        "mdn": "",
        "msisdn": sim.msisdn if event_type != "Deactivate" else "",
        "extendedAttributes": [],
    }


def _m2m_error(status: int, service: str, code: str, message: str) -> httpx.Response:
    return json_response({"errorCode": f"{service}.{code}", "errorMessage": message}, status)


def _fault(status: int, code: str, message: str) -> httpx.Response:
    return json_response(
        {
            "fault": {
                "code": code,
                "message": message,
                "description": "Access failure for API: /m2m/v1, version: v1",
            }
        },
        status,
    )


def _whole(value: Any, low: int, high: int | None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        limit = f"{low} to {high}" if high is not None else f"at least {low}"
        raise _Refused(_m2m_error(400, SERVICE, UNEXPECTED, f"A whole number {limit} is expected"))
    return value


def _instant_or_none(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return _instant(value)
    except (TypeError, ValueError):
        raise _Refused(
            _m2m_error(400, SERVICE, UNEXPECTED, "Dates are ISO 8601 date-times")
        ) from None


def _instant(value: Any) -> datetime:
    moment = parse_datetime(value, assume_utc=True)
    if moment is None:
        raise ValueError("missing date-time")
    return moment.replace(microsecond=0)  # decimal seconds are ignored on input


def _stamp(moment: datetime, *, offset: timezone = EASTERN) -> str:
    """A response date-time with an offset, as the docs' examples write them."""
    return moment.astimezone(offset).isoformat(timespec="seconds")


def _cycle_end(today: date) -> str:
    """The end of the billing cycle: the 9th, 20:00 Eastern, as in the docs' example."""
    month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    end = datetime.combine(month.replace(day=9), time(20), tzinfo=EASTERN)
    return end.isoformat(timespec="seconds")
