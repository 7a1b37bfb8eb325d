"""The ``thingspace`` connector: Verizon ThingSpace Connectivity Management (``/api/m2m/v1``).

Every call carries two credentials: a ThingSpace OAuth token (client credentials, one
hour) and an M2M session token (UWS user name and password; it expires after 20 idle
minutes and is renewed only when Verizon says so). Writes are asynchronous: Verizon
answers a request id and applies the change later.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from cdp_sdk._connector import BaseConnector, Listing
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk.connectors.thingspace import mapping
from cdp_sdk.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
)
from cdp_sdk.http import (
    ChainedLoginAuth,
    ErrorRule,
    ErrorTable,
    HasMorePaginator,
    JsonLoginAuth,
    OAuth2ClientCredentials,
    Page,
    PageRequest,
    SinglePage,
    VendorError,
    body_field,
    chain_pages,
)
from cdp_sdk.mapping import parse_datetime, vendor_states
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Capability,
    Granularity,
    SimStatus,
    StatusChange,
    Subscription,
    Tariff,
    UsageRecord,
)

__all__ = [
    "ThingSpaceConnector",
    "ThingSpaceSettings",
    "parse_error_body",
    "session_expired",
]

logger = logging.getLogger("cdp_sdk")

BASE_URL = "https://thingspace.verizon.com"

TOKEN = "/api/ts/v1/oauth2/token"
LOGIN = "/api/m2m/v1/session/login"
DEVICES = "/api/m2m/v1/devices/actions/list"
ACTIONS: dict[mapping.Action, str] = {
    "activate": "/api/m2m/v1/devices/actions/activate",
    "deactivate": "/api/m2m/v1/devices/actions/deactivate",
    "suspend": "/api/m2m/v1/devices/actions/suspend",
    "restore": "/api/m2m/v1/devices/actions/restore",
}
CUSTOM_FIELDS = "/api/m2m/v1/devices/actions/customFields"
PLANS = "/api/m2m/v1/plans/{account_name}"
USAGE = "/api/m2m/v1/devices/usage/actions/list"
CONNECTIONS = "/api/m2m/v1/devices/connections/actions/listHistory"
HISTORY = "/api/m2m/v1/devices/history/actions/list"
REQUEST_STATUS = "/api/m2m/v1/accounts/{account_name}/requests/{request_id}/status"

SESSION_EXPIRED = "REQUEST_FAILED.SessionToken.Expired"
MAX_FAILED_LOGINS = 2
"""Session logins tried in a row before giving up: five failures lock the UWS user."""
DEACTIVATION_REASON = "FF"  # "General Admin/Maintenance", the only documented reason code

USAGE_SPAN = timedelta(days=30)
"""How far back usage and sessions reach when ``start`` is omitted."""
HISTORY_SPAN = timedelta(days=365)
"""How far back the provisioning history reaches when ``start`` is omitted (Verizon keeps
records for 12 months)."""


# -- errors -------------------------------------------------------------------------------


def parse_error_body(body: Any) -> VendorError:
    """Verizon's error bodies: ``{"errorCode": "<Service>.<CODE>", "errorMessage"}`` (the
    code kept without the service prefix), the API gateway's ``{"fault": {"code",
    "message", "description"}}``, and the OAuth endpoint's ``{"error",
    "error_description"}``."""
    if not isinstance(body, Mapping):
        return VendorError()
    fault = body.get("fault")
    if isinstance(fault, Mapping):
        code, message = fault.get("code"), fault.get("message") or fault.get("description")
        return VendorError(_scalar(code), _scalar(message))
    code = body.get("errorCode")
    if isinstance(code, str) and code.strip():
        return VendorError(mapping.vendor_code(code), _scalar(body.get("errorMessage")))
    if isinstance(body.get("error"), str):
        return VendorError(_scalar(body["error"]), _scalar(body.get("error_description")))
    return VendorError(message=_scalar(body.get("errorMessage")))


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def session_expired(response: httpx.Response) -> bool:
    """Whether Verizon refused the M2M session token as expired (the only answer that
    logs in again)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON, or nested too deep
        return False
    return parse_error_body(body).code == SESSION_EXPIRED


ERROR_TABLE = ErrorTable().extend(
    ErrorRule(AuthenticationError, vendor_code="900901"),  # invalid or expired OAuth token
    ErrorRule(AuthenticationError, vendor_code="900902"),  # missing credentials
    ErrorRule(AuthenticationError, vendor_code=SESSION_EXPIRED),  # still refused after a login
    ErrorRule(AuthenticationError, vendor_code="REQUEST_FAILED.SessionToken.Format"),
    ErrorRule(AuthenticationError, vendor_code="INPUT_INVALID.SessionToken.Invalid"),
    ErrorRule(AuthenticationError, vendor_code="invalid_client"),
    ErrorRule(NotFoundError, vendor_code="REQUEST_FAILED.AccountNotFound"),
    parse_body=parse_error_body,
)


# -- settings -----------------------------------------------------------------------------


class ThingSpaceSettings(ConnectorSettings):
    """Settings of the Verizon ThingSpace connector."""

    base_url: str = BASE_URL
    app_key: SecretStr = Field(description="The ThingSpace application key (OAuth client id).")
    app_secret: SecretStr = Field(description="The ThingSpace application secret.")
    username: str = Field(description="The UWS (Connectivity Management) user name.")
    password: SecretStr = Field(description="The UWS password.")
    account_name: str = Field(
        description="The billing account, e.g. 0000123456-00001 (keep the leading zeros)."
    )
    activation_service_plan: str | None = Field(
        None, description="The service plan code an activation assigns (from tariffs())."
    )
    activation_zip_code: str | None = Field(
        None, description="The ZIP code an activation derives the MDN from (5 digits)."
    )
    # Verizon publishes no rate limit for Connectivity Management: one call a second.
    rate_limit: float | None = 1.0

    @field_validator("account_name", "username")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("activation_zip_code")
    @classmethod
    def _zip_code(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{5}", value.strip()):
            raise ValueError("must be a 5-digit ZIP code")
        return None if value is None else value.strip()


# -- paging -------------------------------------------------------------------------------


def next_devices(
    request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
) -> PageRequest:
    """The next page of devices: ``largestDeviceIdSeen`` from the answer."""
    largest = body.get("largestDeviceIdSeen") if isinstance(body, Mapping) else None
    if isinstance(largest, bool) or not isinstance(largest, int | str) or largest == "":
        raise ValueError("the answer claims more devices but carries no largestDeviceIdSeen")
    return replace(request, json={**request.json, "largestDeviceIdSeen": largest})


DEVICE_PAGES = HasMorePaginator(body_field("hasMoreData"), next_devices)
"""Up to 2000 devices a page, sorted by device id; ``hasMoreData`` (HTTP 202) continues."""


def _later_pages(
    instant: Callable[[Any], datetime], more: Callable[[httpx.Response, Any], Any]
) -> HasMorePaginator:
    """500-record history pages: ``more`` (or HTTP 202) says more records wait, and the
    next request starts at the last record's time (an empty page that says more has no
    time to start from: ``ValueError``, which the client raises as
    :class:`~cdp_sdk.errors.UnexpectedResponseError`)."""

    def advance(
        request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest:
        if not items:
            raise ValueError("an empty page says more records follow, with no time to go on from")
        try:
            moment = instant(items[-1])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError("the last record of the page has no readable time") from None
        return replace(request, json={**request.json, "earliest": mapping.request_instant(moment)})

    return HasMorePaginator(more, advance)


def _history_more(response: httpx.Response, body: Any) -> bool:
    """``hasMoreData`` of a provisioning history answer (an object, or a list of them;
    read after the items, so a malformed answer has already raised)."""
    return mapping.history_more(body)


def _record_instant(field: str) -> Callable[[Any], datetime]:
    def read(record: Any) -> datetime:
        moment = parse_datetime(record.get(field), assume_utc=True)
        if moment is None:
            raise ValueError(f"{field}: missing")
        return moment

    return read


# -- the connector ------------------------------------------------------------------------


class ThingSpaceConnector(BaseConnector):
    """Verizon ThingSpace Connectivity Management: devices and their states, custom
    fields, service plans, daily usage and data sessions, and provisioning history."""

    name = "thingspace"
    title = "Verizon ThingSpace Connectivity Management"
    capabilities = frozenset(
        {
            Capability.SUBSCRIPTIONS,
            Capability.CHANGE_STATUS,
            Capability.TARIFFS,
            Capability.USAGE,
            Capability.AUDIT_EVENTS,
            Capability.TAGS,
            Capability.UPDATE_TAGS,
        }
    )
    settings_model = ThingSpaceSettings
    per_sim_only = frozenset({Capability.USAGE, Capability.AUDIT_EVENTS})
    usage_granularities = frozenset({Granularity.DAY, Granularity.SESSION})
    full_listing_reason = "no change filter on the device list"  # changes are only pushed
    error_table = ERROR_TABLE
    # The device list takes currentState, one state a request [SDK].
    filters_status = True
    tag_rules = mapping.TAG_RULES  # CustomField1..CustomField5
    settings: ThingSpaceSettings

    def authentication(self) -> httpx.Auth:
        settings = self.settings
        oauth = OAuth2ClientCredentials(
            TOKEN,
            settings.app_key.get_secret_value(),
            settings.app_secret,
            form_encode_basic=False,  # Verizon: base64 of "key:secret" as given
        )
        session = JsonLoginAuth(
            LOGIN,
            {"username": settings.username, "password": settings.password},
            token_field="sessionToken",
            header="VZ-M2M-Token",
            scheme=None,
            default_lifetime=None,  # renewed only when Verizon says the session expired
            refresh_on=session_expired,
            max_failed_logins=MAX_FAILED_LOGINS,
        )
        return ChainedLoginAuth(oauth, session)

    # -- subscriptions ------------------------------------------------------------------

    def subscriptions(
        self,
        *,
        modified_since: datetime | None,
        status: frozenset[SimStatus] | None = None,
    ) -> AsyncIterator[Subscription]:
        states = vendor_states(mapping.STATUS, status) if status is not None else None
        if states == []:
            return self.empty()
        # One listing per state asked by currentState, where every state wanted has a
        # documented REST spelling; else the whole list (the facade filters it).
        keys = None if states is None else list(dict.fromkeys(map(mapping.state_key, states)))
        if keys is not None and not set(keys) <= set(mapping.FILTERABLE_STATES):
            keys = None
        return Listing(self._device_pages(keys), self._subscriptions_of)

    def _device_pages(self, states: list[str] | None) -> AsyncIterator[Page]:
        """The pages of the device list: all devices, or one listing per state."""
        wanted: list[str | None] = [None] if states is None else [*states]
        return chain_pages(*(partial(self._devices_in, state) for state in wanted))

    def _devices_in(self, state: str | None) -> AsyncIterator[Page]:
        """The pages of the devices in ``state`` (all devices for ``None``)."""
        body: dict[str, Any] = {"accountName": self._account, "largestDeviceIdSeen": 0}
        if state is not None:
            body["currentState"] = state
        return self.http.paginate(
            DEVICE_PAGES,
            DEVICES,
            method="POST",
            json=body,
            items="devices",
            idempotent=True,
            key=_listing_key,
        )

    def _subscriptions_of(self, page: Page) -> Iterator[Subscription]:
        mapped = self.map_records(page.items, mapping.sim_or_none, endpoint=f"POST {DEVICES}")
        return (subscription for subscription in mapped if subscription is not None)

    async def subscription(self, iccid: str) -> Subscription:
        device = await self._device(mapping.full_iccid(iccid))
        return self.map_one(device, mapping.to_subscription, endpoint=f"POST {DEVICES}")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        if status not in mapping.SETTABLE:
            raise InvalidRequestError(
                f"ThingSpace has no action that moves a line to {status.value} "
                "(active, suspended and deactivated can be requested)",
                connector=self.name,
            )
        activation = self._activation_terms() if status is SimStatus.ACTIVE else {}
        full = mapping.full_iccid(iccid)
        device = await self._device(full)
        state = self.map_one(device, mapping.device_state, endpoint=f"POST {DEVICES}")
        action = mapping.action_for(state, status)
        if action is None:
            raise ConflictError(
                f"a line in state {state!r} cannot be moved to {status.value}",
                connector=self.name,
            )
        body: dict[str, Any] = {"devices": [_device_list(full)], "accountName": self._account}
        if action == "activate":
            body |= activation
        elif action == "deactivate":
            body["reasonCode"] = DEACTIVATION_REASON
        answer = await self.http.request_json("POST", ACTIONS[action], json=body)
        change = partial(mapping.to_status_change, full, status)
        return self.map_one(answer, change, endpoint=f"POST {ACTIONS[action]}")

    async def request_status(self, request_id: str) -> Literal["pending", "done", "failed"]:
        """How Verizon's processing of an asynchronous request (from
        ``StatusChange.request_id``) stands: no callback listener needed."""
        if not request_id.strip():
            raise InvalidRequestError("request_id must not be empty", connector=self.name)
        body = await self.http.request_json(
            "GET",
            REQUEST_STATUS,
            path_params={"account_name": self._account, "request_id": request_id.strip()},
        )
        return self.map_one(body, mapping.request_state, endpoint=f"GET {REQUEST_STATUS}")

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        try:
            updates = mapping.custom_field_updates(tags, remove)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), connector=self.name) from None
        body = {
            "accountName": self._account,
            "customFieldsToUpdate": updates,
            "devices": [_device_list(mapping.full_iccid(iccid))],
        }
        await self.http.request_json("PUT", CUSTOM_FIELDS, json=body)

    # -- tariffs ------------------------------------------------------------------------

    def tariffs(self) -> AsyncIterator[Tariff]:
        return self.listing(
            SinglePage(), PLANS, mapping.to_tariff, path_params={"account_name": self._account}
        )

    # -- usage --------------------------------------------------------------------------

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        assert iccid is not None  # per_sim_only: the facade refuses None
        full = mapping.full_iccid(iccid)
        now = datetime.now(UTC)
        last = end or now
        first = start or last - USAGE_SPAN
        if granularity is Granularity.SESSION:
            records = self._sessions(full, first, last)
        else:
            records = self._days(full, first, last, now)
        async for record in records:
            if _overlaps(record.start, record.end, first, last):
                yield record

    async def _days(
        self, iccid: str, first: datetime, last: datetime, now: datetime
    ) -> AsyncIterator[UsageRecord]:
        """Daily records; ``earliest`` at the UTC midnight of ``first``, where the day's
        record is stamped."""
        midnight = datetime.combine(first.astimezone(UTC).date(), time.min, tzinfo=UTC)
        body = {**_device_id(iccid), "earliest": _at(midnight), "latest": _at(last)}
        to_usage = partial(mapping.to_usage, iccid, now=now)
        timeline = self._timeline(
            USAGE, body, "usageHistory", mapping.usage_instant, body_field("hasMoreData")
        )
        async for entries in timeline:
            for records in self.map_records(entries, to_usage, endpoint=f"POST {USAGE}"):
                for record in records:
                    yield record

    async def _sessions(
        self, iccid: str, first: datetime, last: datetime
    ) -> AsyncIterator[UsageRecord]:
        body = {**_device_id(iccid), "earliest": _at(first), "latest": _at(last)}
        open_start: datetime | None = None
        timeline = self._timeline(
            CONNECTIONS,
            body,
            "connectionHistory",
            _record_instant("occurredAt"),
            body_field("hasMoreData"),
        )
        async for entries in timeline:
            try:
                records, open_start = mapping.sessions(iccid, entries, open_start=open_start)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise self.mapping_error(exc, endpoint=f"POST {CONNECTIONS}") from None
            for record in records:
                yield record

    # -- audit events -------------------------------------------------------------------

    async def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        assert iccid is not None  # per_sim_only: the facade refuses None
        full = mapping.full_iccid(iccid)
        last = end or datetime.now(UTC)
        first = start or last - HISTORY_SPAN
        body = {**_device_id(full), "earliest": _at(first), "latest": _at(last)}
        to_event = partial(mapping.to_audit_event, full)
        timeline = self._timeline(
            HISTORY, body, self._history_entries, _record_instant("occurredAt"), _history_more
        )
        async for entries in timeline:
            for event in self.map_records(entries, to_event, endpoint=f"POST {HISTORY}"):
                if first <= event.occurred_at < last:
                    yield event

    # -- helpers ------------------------------------------------------------------------

    @property
    def _account(self) -> str:
        return self.settings.account_name

    def _activation_terms(self) -> dict[str, str]:
        """The extras an activation needs, from the settings, or the refusal."""
        plan = self.settings.activation_service_plan
        zip_code = self.settings.activation_zip_code
        missing = [
            name
            for name, value in (
                ("activation_service_plan", plan),
                ("activation_zip_code", zip_code),
            )
            if not value
        ]
        if missing:
            raise InvalidRequestError(
                "activating a line needs a service plan and a ZIP code: set "
                + " and ".join(missing),
                connector=self.name,
            )
        assert plan is not None
        assert zip_code is not None
        return {"servicePlan": plan, "mdnZipCode": zip_code}

    async def _device(self, iccid: str) -> Mapping[str, Any]:
        """The device record of one ICCID (in its full form)."""
        body = await self.http.request_json(
            "POST",
            DEVICES,
            json={"accountName": self._account, **_device_id(iccid)},
            idempotent=True,
        )
        devices = self.map_one(body, _devices_of, endpoint=f"POST {DEVICES}")
        for device in devices:
            if self.map_one(device, _iccid_of, endpoint=f"POST {DEVICES}") == iccid:
                found: Mapping[str, Any] = device
                return found
        raise NotFoundError("no device with this ICCID in the account", connector=self.name)

    def _history_entries(self, body: Any) -> list[Any]:
        try:
            return mapping.history_items(body)
        except (TypeError, ValueError) as exc:
            raise self.mapping_error(exc, endpoint=f"POST {HISTORY}") from None

    async def _timeline(
        self,
        path: str,
        body: Mapping[str, Any],
        items: str | Callable[[Any], Sequence[Any]],
        instant: Callable[[Any], datetime],
        more: Callable[[httpx.Response, Any], Any],
    ) -> AsyncIterator[list[Any]]:
        """The records of a history endpoint, page by page (500 at most): the next
        request moves ``earliest`` to the last record's time, and the records of that
        instant the next page repeats are dropped."""
        boundary: list[Any] = []
        pages = self.http.paginate(
            _later_pages(instant, more),
            path,
            method="POST",
            json=dict(body),
            items=items,
            idempotent=True,
        )
        async for page in pages:
            fresh = [record for record in page.items if record not in boundary]
            if page.items:
                try:
                    last = instant(page.items[-1])
                    boundary = [r for r in page.items if _same_instant(instant, r, last)]
                except (KeyError, TypeError, ValueError, AttributeError):
                    boundary = []
            yield fresh


def _listing_key(device: Any) -> str | None:
    """A device's natural key in a listing: its full ICCID (``None`` without one)."""
    return _iccid_of(device) if isinstance(device, Mapping) else None


def _devices_of(body: Any) -> list[Any]:
    if not isinstance(body, Mapping):
        raise TypeError("expected an object with devices")
    devices = body.get("devices")
    if devices is None:
        return []
    if not isinstance(devices, list):
        raise TypeError("devices: expected a list")
    return devices


def _iccid_of(device: Any) -> str | None:
    ids = mapping.device_ids(device)
    return mapping.full_iccid(ids["iccid"]) if "iccid" in ids else None


def _same_instant(instant: Callable[[Any], datetime], record: Any, moment: datetime) -> bool:
    try:
        return instant(record) == moment
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _device_id(iccid: str) -> dict[str, Any]:
    return {"deviceId": {"id": iccid, "kind": "iccid"}}


def _device_list(iccid: str) -> dict[str, Any]:
    return {"deviceIds": [{"id": iccid, "kind": "iccid"}]}


def _at(moment: datetime) -> str:
    return mapping.request_instant(moment)


def _overlaps(
    begin: datetime | None, until: datetime | None, start: datetime, end: datetime
) -> bool:
    """Whether ``[begin, until)`` meets ``[start, end)`` (``None``: open)."""
    return (until is None or until > start) and (begin is None or begin < end)
