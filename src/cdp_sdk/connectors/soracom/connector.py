"""The Soracom connector: settings, token auth, and the endpoint behind each method.

Soracom keys its SIMs by ``simId``; the connector finds the SIM of an ICCID with the
search API (``/v1/query/sims?iccid=``) and remembers the answer for its lifetime.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import itemgetter
from typing import Any

import httpx
from pydantic import Field, SecretStr

from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk.connectors.soracom import mapping
from cdp_sdk.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    UnexpectedResponseError,
)
from cdp_sdk.http import (
    CursorPaginator,
    ErrorRule,
    ErrorTable,
    LoginTokenAuth,
    RetryAfterHeader,
    SinglePage,
    Token,
    header_value,
)
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Capability,
    Granularity,
    Invoice,
    SimStatus,
    StatusChange,
    Subscription,
    UsageRecord,
)

__all__ = ["SoracomAuth", "SoracomConnector", "SoracomSettings"]

BASE_URL = "https://g.api.soracom.io"
TOKEN_TIMEOUT_SECONDS = 86_400

AUTH = "/v1/auth"
SIMS = "/v1/sims"
SIM = "/v1/sims/{sim_id}"
SEARCH_SIMS = "/v1/query/sims"
TAGS = "/v1/sims/{sim_id}/tags"
TAG = "/v1/sims/{sim_id}/tags/{tag_name}"
STATUS_HISTORY = "/v1/sims/{sim_id}/statuses/history"
SESSION_EVENTS = "/v1/sims/{sim_id}/events/sessions"
SIM_STATS = "/v1/stats/air/sims/{sim_id}"
OPERATOR_STATS = "/v1/stats/air/operators/{operator_id}"
API_AUDIT_LOG = "/v1/audit_logs/api"
BILLS = "/v1/bills"
BILL = "/v1/bills/{yyyyMM}"
BILL_ITEMS = "/v1/bills/summaries/bill_items"

PAGE_SIZE = 100
AUDIT_LOG_PAGE_SIZE = 1000
NEXT_KEY = "x-soracom-next-key"

# How far back usage reaches when ``start`` is omitted, by scope and period.
DEFAULT_SPAN: dict[tuple[str, str], timedelta] = {
    ("sim", "day"): timedelta(days=30),
    ("sim", "month"): timedelta(days=365),
    ("account", "day"): timedelta(days=7),  # the operator report reaches 7 days back by day
    ("account", "month"): timedelta(days=92),  # and 3 months back by month
}

# ``limit`` and ``last_evaluated_key``; the next key comes in the ``x-soracom-next-key`` header.
PAGINATOR = CursorPaginator("last_evaluated_key", header_value(NEXT_KEY), "limit", PAGE_SIZE)


def audit_log_next_key(response: httpx.Response, body: Any) -> Any:
    """The audit log's next key: the ``x-soracom-next-key`` header, else (as the parameter's
    description reads) the ``requestedTimeEpochMs`` of the last entry of a full page."""
    if key := response.headers.get(NEXT_KEY):
        return key
    if isinstance(body, list) and len(body) >= AUDIT_LOG_PAGE_SIZE and isinstance(body[-1], dict):
        last = body[-1]
        return last.get("requestedTimeEpochMs", last.get("requestedTimeEpocMs"))
    return None


AUDIT_LOG_PAGINATOR = CursorPaginator(
    "last_evaluated_key", audit_log_next_key, "limit", AUDIT_LOG_PAGE_SIZE
)


class SoracomSettings(ConnectorSettings):
    """Settings of the Soracom connector."""

    base_url: str = BASE_URL
    auth_key_id: SecretStr = Field(description="The AuthKey ID (``keyId-...``).")
    auth_key: SecretStr = Field(description="The AuthKey secret (``secret-...``).")
    # Soracom limits each API per operator and minute without publishing the numbers; its
    # 429 answers say when to call again, and the retry follows them.
    rate_limit: float | None = None


class SoracomAuth(LoginTokenAuth):
    """``POST /v1/auth`` with an AuthKey; each request then carries the answer's API key and
    token in ``X-Soracom-API-Key`` and ``X-Soracom-Token``.

    The token lives ``tokenTimeoutSeconds`` (asked for in the login request); the operator
    id of the answer is kept for the operator-wide endpoints.
    """

    def __init__(
        self,
        auth_key_id: SecretStr,
        auth_key: SecretStr,
        *,
        token_timeout: int = TOKEN_TIMEOUT_SECONDS,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._auth_key_id = auth_key_id
        self._auth_key = auth_key
        self.token_timeout = token_timeout
        self.operator_id: str | None = None

    def login_request(self, request: httpx.Request) -> httpx.Request:
        body = {
            "authKeyId": self._auth_key_id.get_secret_value(),
            "authKey": self._auth_key.get_secret_value(),
            "tokenTimeoutSeconds": self.token_timeout,
        }
        return httpx.Request("POST", self.endpoint(request, AUTH), json=body)

    def parse_login(self, response: httpx.Response) -> Token:
        body: dict[str, Any] = response.json()
        api_key, token = _secret_text(body["apiKey"]), _secret_text(body["token"])
        self.operator_id = body.get("operatorId")
        return Token.of(
            {"X-Soracom-API-Key": api_key, "X-Soracom-Token": token},
            expires_at=self._clock() + self.token_timeout,
        )


def _secret_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the login answer lacks the API key or the token")
    return value


class SoracomConnector(BaseConnector):
    """Soracom API v1: SIMs, status actions, tags, Air usage, bills and audit trails."""

    name = "soracom"
    title = "Soracom"
    capabilities = frozenset(
        {
            Capability.SUBSCRIPTIONS,
            Capability.CHANGE_STATUS,
            Capability.USAGE,
            Capability.INVOICES,
            Capability.AUDIT_EVENTS,
            Capability.TAGS,
            Capability.UPDATE_TAGS,
        }
    )
    settings_model = SoracomSettings
    full_listing_reason = "no change filter on /v1/sims"
    usage_granularities = frozenset(mapping.PERIOD_FOR)
    error_table = ErrorTable().extend(
        ErrorRule(AuthenticationError, vendor_code="AUM0001"),  # token missing or invalid
        ErrorRule(AuthenticationError, vendor_code="AUM0002"),  # wrong credentials
        retry_after_headers=(RetryAfterHeader("X-Soracom-Ratelimit-Seconds-Before-Refresh"),),
    )
    settings: SoracomSettings

    def __init__(
        self, settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)
        self._sim_ids: dict[str, str] = {}

    def authentication(self) -> httpx.Auth:
        return SoracomAuth(self.settings.auth_key_id, self.settings.auth_key)

    # -- subscriptions ------------------------------------------------------------------

    def subscriptions(self, *, modified_since: datetime | None) -> AsyncIterator[Subscription]:
        return self.listing(PAGINATOR, SIMS, mapping.to_subscription, key=itemgetter("simId"))

    async def subscription(self, iccid: str) -> Subscription:
        return self.map_one(await self._sim(iccid), mapping.to_subscription, endpoint=f"GET {SIM}")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        actions = mapping.ACTIONS_FOR.get(status)
        if actions is None:
            raise InvalidRequestError(
                f"Soracom has no action that moves a SIM to {status.value}", connector=self.name
            )
        sim_id = await self._sim_id(iccid)
        for action in actions[:-1]:
            await self._act(sim_id, action)
        sim = await self._act(sim_id, actions[-1])
        # A refusal may come as an error (400) or as the SIM answered as it is (the action
        # documents 200 and 404 only): both raise ConflictError.
        change = partial(mapping.to_status_change, iccid, status, actions[-1])
        return self.map_one(sim, change, endpoint=f"POST {SIM}/{actions[-1]}")

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        sim_id = await self._sim_id(iccid)
        if tags:
            await self.http.request(
                "PUT", TAGS, path_params={"sim_id": sim_id}, json=mapping.tag_updates(tags)
            )
        for key in remove:
            with contextlib.suppress(NotFoundError):  # not there: nothing to remove
                await self.http.request(
                    "DELETE", TAG, path_params={"sim_id": sim_id, "tag_name": key}
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
        period = mapping.PERIOD_FOR[granularity or Granularity.DAY]
        now = datetime.now(UTC)
        last = end or now
        first = start or last - DEFAULT_SPAN["account" if iccid is None else "sim", period]
        if iccid is None:
            path, where = OPERATOR_STATS, {"operator_id": await self._operator_id()}
        else:
            path, where = SIM_STATS, {"sim_id": await self._sim_id(iccid)}
        # ``from`` and ``to`` pick the periods that contain them: ``to`` is the last second.
        query = {"from": int(first.timestamp()), "to": int(last.timestamp()) - 1, "period": period}
        to_usage = partial(mapping.to_usage, iccid, period=period, now=now)
        async for page in self.http.paginate(SinglePage(), path, path_params=where, params=query):
            for records in self.map_records(page.items, to_usage, endpoint=f"GET {path}"):
                for record in records:
                    if _overlaps(record.start, record.end, first, last):
                        yield record

    # -- audit events -------------------------------------------------------------------

    async def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        events = (
            self._api_audit_log(start, end)
            if iccid is None
            else self._sim_events(iccid, start, end)
        )
        async for event in events:
            if _within(event.occurred_at, start, end):
                yield event

    async def _sim_events(
        self, iccid: str, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        """The SIM's status history (oldest first), then its session events."""
        where = {"sim_id": await self._sim_id(iccid)}
        window = {"from": _ms(start), "to": _ms(end, last=True)}
        pages = self.http.paginate(
            PAGINATOR, STATUS_HISTORY, path_params=where, params={**window, "sort": "asc"}
        )
        # An entry holds the state after an operation; its predecessor tells what changed.
        history = [entry async for page in pages for entry in page.items]
        to_event = partial(mapping.to_history_event, iccid)
        for event in self.map_records(
            mapping.with_previous(history),
            lambda pair: to_event(*pair),
            endpoint=f"GET {STATUS_HISTORY}",
        ):
            yield event
        to_session = partial(mapping.to_session_event, iccid)
        sessions = self.http.paginate(PAGINATOR, SESSION_EVENTS, path_params=where, params=window)
        async for event in self.records(sessions, to_session, endpoint=f"GET {SESSION_EVENTS}"):
            yield event

    def _api_audit_log(
        self, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        """Every call to the API on the account, with the user who made it."""
        window = {"from_epoch_ms": _ms(start), "to_epoch_ms": _ms(end, last=True)}
        return self.listing(
            AUDIT_LOG_PAGINATOR, API_AUDIT_LOG, mapping.to_api_audit_event, params=window
        )

    # -- invoices -----------------------------------------------------------------------

    async def invoices(
        self, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[Invoice]:
        summaries = await self.http.request_json("GET", BILL_ITEMS)
        items = self.map_one(summaries, mapping.bill_items_by_month, endpoint=f"GET {BILL_ITEMS}")
        history = await self.http.request_json("GET", BILLS)
        months = self.map_one(
            history, partial(mapping.bills_by_month, items=items), endpoint=f"GET {BILLS}"
        )
        bills = []
        for month, bill in months:
            if not _overlaps(*_month_span(month), start, end):
                continue
            if bill is None or not bill.get("currency"):  # this month's bill, or no currency
                bill = await self._monthly_bill(month) or bill
            if bill is not None:
                bills.append(bill)
        to_invoice = partial(mapping.to_invoice, items=items)
        for invoice in self.map_records(bills, to_invoice, endpoint=f"GET {BILL}"):
            yield invoice

    async def _monthly_bill(self, month: str) -> Any:
        """The bill of one month (``None`` before it is computed or without charges)."""
        try:
            return await self.http.request_json("GET", BILL, path_params={"yyyyMM": month})
        except NotFoundError:
            return None

    # -- helpers ------------------------------------------------------------------------

    async def _sim(self, iccid: str) -> Any:
        """The ``Sim`` holding ``iccid``: by its known ``simId``, else found by search."""
        if (sim_id := self._sim_ids.get(iccid)) is not None:
            return await self.http.request_json("GET", SIM, path_params={"sim_id": sim_id})
        found = await self.http.request_json(
            "GET", SEARCH_SIMS, params={"iccid": iccid, "limit": PAGE_SIZE}
        )
        sim = self.map_one(
            found, partial(mapping.find_by_iccid, iccid), endpoint=f"GET {SEARCH_SIMS}"
        )
        if sim is None:
            raise NotFoundError("no SIM with this ICCID on the account", connector=self.name)
        self._sim_ids[iccid] = str(sim["simId"])
        return sim

    async def _sim_id(self, iccid: str) -> str:
        if iccid not in self._sim_ids:
            await self._sim(iccid)
        return self._sim_ids[iccid]

    async def _act(self, sim_id: str, action: str) -> Any:
        """``POST /v1/sims/{sim_id}/<action>``; the updated ``Sim``."""
        try:
            return await self.http.request_json(
                "POST", f"{SIM}/{action}", path_params={"sim_id": sim_id}
            )
        except InvalidRequestError as error:
            # The action endpoints take nothing but the SIM: a 400 (documented for
            # set_to_standby, "does not support standby") means that its state, its type or
            # its termination protection refuses the move.
            raise ConflictError(
                error.message,
                connector=self.name,
                status_code=error.status_code,
                vendor_code=error.vendor_code,
                request_id=error.request_id,
            ) from None

    async def _operator_id(self) -> str:
        auth = self.http.auth
        assert isinstance(auth, SoracomAuth)
        operator_id = auth.operator_id
        if operator_id is None:
            await self.http.authenticate(force=False)
            operator_id = auth.operator_id
        if operator_id is None:
            raise UnexpectedResponseError(
                "the login answer carries no operatorId", connector=self.name
            )
        return operator_id


def _ms(moment: datetime | None, *, last: bool = False) -> int | None:
    """Epoch milliseconds; with ``last``, the final millisecond before ``moment``."""
    if moment is None:
        return None
    return int(moment.timestamp() * 1000) - (1 if last else 0)


def _month_span(month: str) -> tuple[datetime, datetime]:
    first, last = mapping.bill_period(month)
    midnight = datetime.min.time()
    return (
        datetime.combine(first, midnight, tzinfo=UTC),
        datetime.combine(last, midnight, tzinfo=UTC) + timedelta(days=1),
    )


def _overlaps(
    begin: datetime | None, until: datetime | None, start: datetime | None, end: datetime | None
) -> bool:
    """Whether ``[begin, until)`` meets ``[start, end)`` (``None``: unbounded)."""
    return (start is None or until is None or until > start) and (
        end is None or begin is None or begin < end
    )


def _within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment < end)
