"""The Super SIM connector: settings, the two auth flows, and the endpoint behind each method.

Super SIM (Twilio IoT, operated by KORE Wireless since the acquisition) is served on the
Twilio host with HTTP Basic (``account_sid:auth_token``) and on KORE's hosts with OAuth 2.0
client credentials; the settings decide which. Requests are form-encoded with UpperCamel
parameters; lists page with ``PageSize`` and ``meta.next_page_url``. The API keys SIMs by
``sid`` (``HS...``); the connector finds the SIM of an ICCID with ``GET /v1/Sims?Iccid=``
and remembers the answer for its lifetime.
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import itemgetter
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, model_validator

from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk._tag_rules import TagRules
from cdp_sdk.connectors.supersim import mapping
from cdp_sdk.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnexpectedResponseError,
)
from cdp_sdk.http import (
    BasicAuth,
    ErrorRule,
    ErrorTable,
    NextUrlPaginator,
    OAuth2ClientCredentials,
    body_field,
)
from cdp_sdk.mapping import vendor_states
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

__all__ = ["KoreAuth", "SuperSimConnector", "SuperSimSettings", "token_url"]

BASE_URL = "https://supersim.twilio.com"
KORE_BASE_URL = "https://supersim.api.korewireless.com"
KORE_TOKEN_URL = "https://api.korewireless.com/api-services/v1/auth/token"
TOKEN_PATH = "/api-services/v1/auth/token"

SIMS = "/v1/Sims"
SIM = "/v1/Sims/{sid}"
FLEETS = "/v1/Fleets"
USAGE_RECORDS = "/v1/UsageRecords"
SETTINGS_UPDATES = "/v1/SettingsUpdates"

PAGE_SIZE = 1000
"""``PageSize`` of every list: the documented maximum (the default is 50)."""
PAGINATOR = NextUrlPaginator(body_field("meta.next_page_url"))
"""Every list: follow ``meta.next_page_url`` (it carries ``PageToken``) until it is null."""


class SuperSimSettings(ConnectorSettings):
    """Settings of the ``supersim`` connector: one pair of credentials.

    ``account_sid`` and ``auth_token`` sign each request with HTTP Basic (the Twilio host);
    ``client_id`` and ``client_secret`` trade for a Bearer token (KORE's hosts, and the
    default ``base_url`` becomes KORE's when they are given).
    """

    base_url: str = BASE_URL
    account_sid: str | None = Field(
        None, description="Account SID (AC...), or an API key SID, for HTTP Basic."
    )
    auth_token: SecretStr | None = Field(None, description="Auth token (or API key secret).")
    client_id: str | None = Field(None, description="KORE API client id (OAuth).")
    client_secret: SecretStr | None = Field(None, description="KORE API client secret (OAuth).")
    # Twilio limits concurrent requests per account and publishes no rate: its 429
    # (code 20429) is retried with backoff instead of pacing every call.
    rate_limit: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _kore_host_for_oauth(cls, data: Any) -> Any:
        if (
            isinstance(data, Mapping)
            and "base_url" not in data
            and (data.get("client_id") is not None or data.get("client_secret") is not None)
            and data.get("account_sid") is None
            and data.get("auth_token") is None
        ):
            return {**data, "base_url": KORE_BASE_URL}
        return data

    @model_validator(mode="after")
    def _one_pair_of_credentials(self) -> Self:
        basic = [name for name in ("account_sid", "auth_token") if _given(getattr(self, name))]
        oauth = [name for name in ("client_id", "client_secret") if _given(getattr(self, name))]
        if basic and oauth:
            raise ValueError(
                f"give account_sid and auth_token (HTTP Basic) or client_id and client_secret "
                f"(KORE OAuth), not both: got {', '.join(basic + oauth)}"
            )
        if not basic and not oauth:
            raise ValueError(
                "missing credentials: give account_sid and auth_token (HTTP Basic), or "
                "client_id and client_secret (KORE OAuth)"
            )
        pair = ("account_sid", "auth_token") if basic else ("client_id", "client_secret")
        given = basic or oauth
        missing = [name for name in pair if name not in given]
        if missing:
            raise ValueError(f"missing setting {missing[0]!r} (it goes with {given[0]!r})")
        return self


def _given(value: str | SecretStr | None) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is not None and bool(value.strip())


def token_url(base_url: str) -> str:
    """KORE's token endpoint for a ``base_url``: ``api.korewireless.com`` for KORE's hosts,
    else the same path on the ``base_url``'s own origin (the emulator, a proxy)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host == "korewireless.com" or host.endswith(".korewireless.com"):
        return KORE_TOKEN_URL
    return f"{parts.scheme}://{parts.netloc}{TOKEN_PATH}"


class KoreAuth(OAuth2ClientCredentials):
    """KORE's OAuth 2.0 client credentials: ``grant_type``, ``client_id`` and
    ``client_secret`` form-encoded to an absolute token URL, then ``Authorization: Bearer``.

    The token lives ``expires_in`` seconds (1 hour to 24 months, chosen per API client),
    is reused until a minute before that, and is renewed once on a 401.
    """

    def __init__(self, url: str, client_id: str, client_secret: SecretStr) -> None:
        super().__init__(url, client_id, client_secret, client_auth="body", body_format="form")
        self.url = url

    def endpoint(self, request: httpx.Request, path: str) -> httpx.URL:
        return httpx.URL(self.url)


class SuperSimConnector(BaseConnector):
    """Super SIM: SIMs and their status and unique name, Fleets, usage, settings updates."""

    name = "supersim"
    title = "Twilio / KORE Super SIM"
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
    settings_model = SuperSimSettings
    usage_granularities = frozenset(mapping.GRANULARITY)
    error_table = ErrorTable().extend(
        ErrorRule(AuthenticationError, vendor_code="20003"),  # wrong credentials
        ErrorRule(PermissionDeniedError, vendor_code="20005"),  # account not active
        ErrorRule(PermissionDeniedError, vendor_code="20403"),  # account suspended or closed
        ErrorRule(PermissionDeniedError, vendor_code="70051"),  # key or client lacks permission
        ErrorRule(NotFoundError, vendor_code="20404"),
        ErrorRule(RateLimitedError, vendor_code="20429"),  # too many concurrent requests
        ErrorRule(ConflictError, vendor_code="83010"),  # the SIM cannot take that status
    )
    filters_status = True  # GET /v1/Sims takes one Status
    full_listing_reason = "no change filter on /v1/Sims"
    tag_rules = TagRules(keys=frozenset({mapping.LABEL}), values="required")  # UniqueName
    settings: SuperSimSettings

    def __init__(
        self, settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)
        self._sids: dict[str, str] = {}

    def authentication(self) -> httpx.Auth:
        # The settings model guarantees exactly one complete pair.
        s = self.settings
        if s.client_id is not None and s.client_secret is not None:
            return KoreAuth(token_url(s.base_url), s.client_id, s.client_secret)
        return BasicAuth(str(s.account_sid), s.auth_token or SecretStr(""))

    async def check(self) -> None:
        """Log in afresh (OAuth), then read one SIM: proves the credentials and the host."""
        await self.http.authenticate()
        await self.http.request("GET", SIMS, params={"PageSize": 1})

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
        query: dict[str, Any] = {"PageSize": PAGE_SIZE}
        if states is not None and len(states) == 1:  # one Status; the facade filters several
            query["Status"] = states[0]
        return self.listing(
            PAGINATOR,
            SIMS,
            mapping.to_subscription,
            items="sims",
            params=query,
            key=itemgetter("sid"),
        )

    async def subscription(self, iccid: str) -> Subscription:
        return self.map_one(await self._sim(iccid), mapping.to_subscription, endpoint=f"GET {SIMS}")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        state = mapping.STATE_FOR.get(status)
        if state is None:
            raise InvalidRequestError(
                f"a Super SIM cannot be set to {status.value}: its settable statuses are "
                "ready, active and inactive (deactivated)",
                connector=self.name,
            )
        sid = await self._sid(iccid)
        response = await self.http.request(
            "POST", SIM, path_params={"sid": sid}, data={"Status": state}
        )
        change = partial(
            mapping.to_status_change,
            mapping.full_iccid(iccid),
            status,
            accepted=response.status_code == 202,
            request_id=self.error_table.request_id(response),
        )
        return self.map_one(self.http.decode(response, SIM), change, endpoint=f"POST {SIM}")

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        unique_name = mapping.label_update(tags, remove)
        if unique_name is None:
            return
        sid = await self._sid(iccid)
        await self.http.request(
            "POST", SIM, path_params={"sid": sid}, data={"UniqueName": unique_name}
        )

    # -- tariffs, usage, audit events ---------------------------------------------------

    def tariffs(self) -> AsyncIterator[Tariff]:
        return self.listing(
            PAGINATOR, FLEETS, mapping.to_tariff, items="fleets", params={"PageSize": PAGE_SIZE}
        )

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        granularity = granularity or Granularity.DAY
        now = datetime.now(UTC)
        where = {"Sim": await self._sid(iccid)} if iccid is not None else {}
        owner = mapping.full_iccid(iccid) if iccid is not None else None
        to_usage = partial(mapping.to_usage, iccid=owner, granularity=granularity, now=now)
        for first, last in _windows(granularity, start, end, now):
            params = {
                **where,
                "Granularity": mapping.GRANULARITY[granularity],
                "StartTime": _timestamp(first),
                "EndTime": _timestamp(last),
                "PageSize": PAGE_SIZE,
            }
            pages = self.http.paginate(
                PAGINATOR, USAGE_RECORDS, items="usage_records", params=params
            )
            async for rows in self.records(pages, to_usage, endpoint=f"GET {USAGE_RECORDS}"):
                for row in rows:
                    yield row

    async def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        params: dict[str, Any] = {"PageSize": PAGE_SIZE}
        if iccid is not None:
            params["Sim"] = await self._sid(iccid)
        events = self.listing(
            PAGINATOR,
            SETTINGS_UPDATES,
            mapping.to_audit_event,
            items="settings_updates",
            params=params,
        )
        async for event in events:
            if (start is None or event.occurred_at >= start) and (
                end is None or event.occurred_at < end
            ):
                yield event

    # -- helpers ------------------------------------------------------------------------

    async def _sim(self, iccid: str) -> Any:
        """The ``Sim`` of ``iccid``: ``GET /v1/Sims?Iccid=`` answers zero or one SIM."""
        for candidate in mapping.iccid_candidates(iccid):
            body = await self.http.request_json("GET", SIMS, params={"Iccid": candidate})
            sims = body.get("sims") if isinstance(body, Mapping) else None
            if not isinstance(sims, list):
                raise UnexpectedResponseError(
                    f"GET {SIMS}: the response has no 'sims' list", connector=self.name
                )
            if sims:
                sim = sims[0]
                sid = sim.get("sid") if isinstance(sim, Mapping) else None
                if not isinstance(sid, str) or not sid:
                    raise UnexpectedResponseError(
                        f"GET {SIMS}: a record could not be mapped (missing field 'sid')",
                        connector=self.name,
                    )
                self._sids[iccid] = sid
                return sim
        raise NotFoundError("no SIM with this ICCID on the account", connector=self.name)

    async def _sid(self, iccid: str) -> str:
        if iccid not in self._sids:
            await self._sim(iccid)
        return self._sids[iccid]


def _timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC to the second, as Twilio's own SDKs send it (``None`` leaves the
    vendor's default)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _windows(
    granularity: Granularity, start: datetime | None, end: datetime | None, now: datetime
) -> list[tuple[datetime | None, datetime | None]]:
    """The ``[StartTime, EndTime)`` windows to ask for: the range as given for hours and
    days (``None``: the vendor's default, the month before now); one window per calendar
    month for months (from the start of last month when ``start`` is omitted)."""
    if granularity is not Granularity.MONTH:
        return [(start, end)]
    last = end or now
    first = start or _month_start(_month_start(last) - timedelta(days=1))
    windows: list[tuple[datetime | None, datetime | None]] = []
    while first < last:
        following = _next_month(first)
        windows.append((first, min(following, last)))
        first = following
    return windows


def _month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(moment: datetime) -> datetime:
    days = calendar.monthrange(moment.year, moment.month)[1]
    return _month_start(_month_start(moment) + timedelta(days=days))
