"""The ``sandbox`` connector: a synthetic CDP account that runs offline.

With its default ``base_url`` it talks to an in-process emulator over a seeded fleet, so it
needs no credentials and no network: the platform behind ``cdp demo``, notebooks and
tutorials. Pointed at ``cdp sandbox serve`` (or any host running the emulator), it speaks
HTTP like any other connector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter

import httpx
from pydantic import Field, SecretStr

from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk.connectors.sandbox import mapping
from cdp_sdk.connectors.sandbox.emulator import DEFAULT_API_KEY, SandboxEmulator
from cdp_sdk.errors import ConflictError, InvalidRequestError, NotFoundError
from cdp_sdk.http import (
    CursorPaginator,
    ErrorRule,
    ErrorTable,
    JsonLoginAuth,
    PageNumberPaginator,
    SinglePage,
    body_field,
)
from cdp_sdk.mapping import vendor_states
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Capability,
    Granularity,
    Invoice,
    SimStatus,
    StatusChange,
    Subscription,
    Tariff,
    UsageRecord,
)
from cdp_sdk.sandbox import Fleet

__all__ = ["IN_PROCESS_URL", "SandboxConnector", "SandboxSettings"]

IN_PROCESS_URL = "https://sandbox.cdp-sdk.invalid"
"""The default base URL: never resolved, it selects the in-process emulator."""

MAX_USAGE_DAYS = 366
SIM_PAGE_SIZE = 500
"""The Sandbox API's largest ``page_size`` for ``/v1/sims`` (its default is 100)."""
EVENT_PAGE_SIZE = 1000
"""The Sandbox API's largest ``limit`` for ``/v1/events`` (its default is 200)."""
SIM_PAGES = PageNumberPaginator(
    size_param="page_size", page_size=SIM_PAGE_SIZE, total_pages=body_field("total_pages")
)
"""The SIM list at its documented maximum page size."""
EVENT_PAGES = CursorPaginator("cursor", body_field("next_cursor"), "limit", EVENT_PAGE_SIZE)
"""The event list at its documented maximum page size."""


class SandboxSettings(ConnectorSettings):
    """Settings of the ``sandbox`` connector."""

    base_url: str = IN_PROCESS_URL
    api_key: SecretStr = SecretStr(DEFAULT_API_KEY)
    rate_limit: float | None = 50.0
    fleet_size: int = Field(200, ge=0, le=100_000, description="SIMs in the in-process fleet.")
    seed: int = Field(42, description="Seed of the in-process fleet.")
    today: date = Field(
        default_factory=lambda: datetime.now(UTC).date(),
        description="The in-process fleet's today (default: the current UTC date).",
    )


class SandboxConnector(BaseConnector):
    """Connector for the Sandbox platform (see the module docstring)."""

    name = "sandbox"
    title = "Sandbox (synthetic fleet, offline)"
    capabilities = frozenset(Capability)
    settings_model = SandboxSettings
    usage_granularities = frozenset({Granularity.DAY})
    filters_status = True  # GET /v1/sims?status=live,paused
    error_table = ErrorTable().extend(
        ErrorRule(NotFoundError, vendor_code="sim_not_found"),
        ErrorRule(ConflictError, vendor_code="illegal_transition"),
        ErrorRule(InvalidRequestError, vendor_code="invalid_status"),
    )
    settings: SandboxSettings

    def __init__(
        self, settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        assert isinstance(settings, SandboxSettings)
        if transport is None and settings.base_url == IN_PROCESS_URL:
            fleet = Fleet(settings.fleet_size, seed=settings.seed, today=settings.today)
            self.emulator: SandboxEmulator | None = SandboxEmulator(fleet)
            transport = self.emulator.transport()
        else:
            self.emulator = None
        super().__init__(settings, transport=transport)

    def authentication(self) -> httpx.Auth:
        return JsonLoginAuth(
            "/v1/auth",
            {"api_key": self.settings.api_key},
            token_field="access_token",
            expires_in_field="expires_in",
        )

    def subscriptions(
        self,
        *,
        modified_since: datetime | None,
        status: frozenset[SimStatus] | None = None,
    ) -> AsyncIterator[Subscription]:
        params = {"modified_since": modified_since.isoformat() if modified_since else None}
        states = vendor_states(mapping.STATUS, status) if status is not None else None
        if states is not None:
            if not states:
                return self.empty()
            params["status"] = ",".join(states)
        return self.listing(
            SIM_PAGES,
            "/v1/sims",
            mapping.to_subscription,
            items="data",
            params=params,
            key=itemgetter("iccid"),
        )

    async def subscription(self, iccid: str) -> Subscription:
        body = await self.http.request_json("GET", "/v1/sims/{iccid}", path_params={"iccid": iccid})
        return self.map_one(body, mapping.to_subscription, endpoint="GET /v1/sims/{iccid}")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        body = await self.http.request_json(
            "POST",
            "/v1/sims/{iccid}/status",
            path_params={"iccid": iccid},
            json={"status": mapping.STATE_FOR[status]},
        )
        return StatusChange(
            connector=self.name,
            iccid=iccid,
            requested=status,
            state="done",
            request_id=(body or {}).get("request_id"),
        )

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        await self.http.request(
            "PATCH",
            "/v1/sims/{iccid}/tags",
            path_params={"iccid": iccid},
            json={"set": dict(tags), "remove": list(remove)},
            idempotent=True,
        )

    def tariffs(self) -> AsyncIterator[Tariff]:
        return self.listing(SinglePage(), "/v1/plans", mapping.to_tariff, items="data")

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        now = datetime.now(UTC) if self.emulator is None else _midnight(self.settings.today)
        last = end or now + timedelta(days=1)
        first = start or last - timedelta(days=30)
        path = "/v1/usage" if iccid is None else "/v1/sims/{iccid}/usage"
        for window_start, window_end in _windows(first, last, MAX_USAGE_DAYS):
            body = await self.http.request_json(
                "GET",
                path,
                path_params=None if iccid is None else {"iccid": iccid},
                params={"from": window_start.date().isoformat(), "to": _day_after(window_end)},
            )
            days = self.map_records(
                (body or {}).get("data") or [],
                lambda row: mapping.to_usage(iccid, row, today=now),
                endpoint=f"GET {path}",
            )
            for records in days:
                for record in records:
                    if record.start and first <= record.start < last:
                        yield record

    async def invoices(
        self, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[Invoice]:
        async for invoice in self.listing(
            SinglePage(), "/v1/invoices", mapping.to_invoice, items="data"
        ):
            if _overlaps(invoice, start, end):
                yield invoice

    def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        params = {
            "iccid": iccid,
            "since": start.isoformat() if start else None,
            "until": end.isoformat() if end else None,
        }
        return self.listing(
            EVENT_PAGES, "/v1/events", mapping.to_audit_event, items="data", params=params
        )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day_after(moment: datetime) -> str:
    """The exclusive end date covering ``moment`` (a partial day counts whole)."""
    day = moment.date()
    return (day if moment == _midnight(day) else day + timedelta(days=1)).isoformat()


def _windows(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    windows = []
    while start < end:
        windows.append((start, min(end, start + timedelta(days=days))))
        start = windows[-1][1]
    return windows


def _overlaps(invoice: Invoice, start: datetime | None, end: datetime | None) -> bool:
    period_start = _midnight(invoice.period_start)
    period_end = _midnight(invoice.period_end) + timedelta(days=1)
    return (start is None or period_end > start) and (end is None or period_start < end)
