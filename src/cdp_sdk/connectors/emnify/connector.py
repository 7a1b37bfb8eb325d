"""The ``emnify`` connector: the emnify REST API (``/api/v1``) of an enterprise workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from typing import Any

import httpx
from pydantic import SecretStr

from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk._tag_rules import TagRules
from cdp_sdk.connectors import _emnify_family as family
from cdp_sdk.connectors.emnify import mapping
from cdp_sdk.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from cdp_sdk.http import ErrorRule, ErrorTable, JsonLoginAuth, SinglePage
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

__all__ = ["EmnifyConnector", "EmnifySettings"]

SIM_PAGE_SIZE = 2500
"""``per_page`` of the SIM list: the documented maximum ("max. 2500"; the default is 2000)."""
SIM_PAGES = family.paginator("per_page", SIM_PAGE_SIZE)
EVENT_PAGE_SIZE = 1000
"""``per_page`` of the event lists, whose maximum is not documented."""
EVENT_PAGES = family.paginator("per_page", EVENT_PAGE_SIZE)
USAGE_WINDOW_DAYS = 180
"""The longest range one daily-stats call asks for (emnify's own default span is 6 months)."""


class EmnifySettings(ConnectorSettings):
    """Settings of the ``emnify`` connector."""

    base_url: str = "https://cdn.emnify.net"
    application_token: SecretStr
    # 2,000 requests per IP per 5 minutes is 6.7/s on average, under the 10/s of /api/v1/sim.
    rate_limit: float | None = 6.0


class EmnifyConnector(BaseConnector):
    """emnify: SIMs, endpoint tags, tariff profiles, usage stats and events."""

    name = "emnify"
    title = "emnify"
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
    settings_model = EmnifySettings
    usage_granularities = frozenset({Granularity.DAY, Granularity.MONTH})
    filters_status = True  # GET /api/v1/sim?q=status:<id>, one status at a time
    full_listing_reason = "no change filter on /api/v1/sim"
    error_table = ErrorTable().extend(
        *family.FAMILY_ERROR_RULES,
        ErrorRule(ConflictError, vendor_code="Unavailable"),  # 1601, e.g. no IP address left
        parse_body=family.parse_error,
    )
    burst = 5  # the 10 req/s paths allow bursts of 5
    # Endpoint tags are one comma-separated text: labels without values.
    tag_rules = TagRules(values="none", forbidden=",")
    settings: EmnifySettings

    @classmethod
    def tag_problems(
        cls,
        tags: Mapping[str, str | None],
        remove: Iterable[str] = (),
        *,
        sim: Subscription | None = None,
    ) -> list[str]:
        problems = super().tag_problems(tags, remove, sim=sim)
        if sim is not None and sim.extra.get("endpoint_id") is None:
            problems.append(
                "the SIM is not assigned to an endpoint (device), and emnify keeps tags on "
                "endpoints"
            )
        return problems

    def authentication(self) -> httpx.Auth:
        # The JWT is cached per connector instance until its `exp` claim (7 days seen) and
        # renewed once on a 401: /api/v1/authenticate allows only 100 calls per 5 minutes.
        return JsonLoginAuth(
            "/api/v1/authenticate",
            {"application_token": self.settings.application_token},
            token_field="auth_token",
        )

    # -- subscriptions --------------------------------------------------------------------

    def subscriptions(
        self,
        *,
        modified_since: datetime | None,
        status: frozenset[SimStatus] | None = None,
    ) -> AsyncIterator[Subscription]:
        states = vendor_states(mapping.STATUS, status) if status is not None else None
        if states == []:
            return self.empty()
        # q=status:<id> takes one SIM status id; several are filtered by the facade.
        query = {"q": f"status:{states[0]}"} if states is not None and len(states) == 1 else None
        return self.listing(
            SIM_PAGES, "/api/v1/sim", mapping.to_subscription, params=query, key=itemgetter("id")
        )

    async def subscription(self, iccid: str) -> Subscription:
        record = await self._sim(iccid)
        return self.map_one(record, mapping.to_subscription, endpoint="GET /api/v1/sim")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        record = await self._sim(iccid)
        endpoint = "GET /api/v1/sim"
        current = self.map_one(record, mapping.state_id, endpoint=endpoint)
        state = mapping.requested_state(current, status)
        full = self.map_one(record, family.pick_iccid, endpoint=endpoint)
        if state is not None:
            await self.http.request(
                "PATCH",
                "/api/v1/sim/{sim_id}",
                path_params={"sim_id": record["id"]},
                json={"status": {"id": state}},
                idempotent=True,
            )
        return StatusChange(connector=self.name, iccid=full, requested=status, state="done")

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        endpoint_id = mapping.endpoint_id(await self._sim(iccid))
        if endpoint_id is None:
            raise ConflictError(
                "this SIM is not assigned to an endpoint (device), and emnify keeps tags on "
                "endpoints: assign it to one first",
                connector=self.name,
            )
        path, ids = "/api/v1/endpoint/{endpoint_id}", {"endpoint_id": endpoint_id}
        endpoint = await self.http.request_json("GET", path, path_params=ids)
        text = self.map_one(
            endpoint, lambda e: mapping.merged_tags(e, tags, remove), endpoint=f"GET {path}"
        )
        await self.http.request(
            "PATCH", path, path_params=ids, json={"tags": text}, idempotent=True
        )

    # -- tariffs, usage, events -----------------------------------------------------------

    async def tariffs(self) -> AsyncIterator[Tariff]:
        # The tariff profile list takes no paging parameters: one answer holds them all.
        async for tariff in self.listing(SinglePage(), "/api/v1/tariff_profile", mapping.to_tariff):
            yield tariff
        try:  # the organisation's plan, where the user may read it
            plan = await self.http.request_json("GET", "/api/v1/tariff_plan/active")
        except (NotFoundError, PermissionDeniedError):
            return
        if plan:
            yield self.map_one(
                plan, mapping.plan_to_tariff, endpoint="GET /api/v1/tariff_plan/active"
            )

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        scope = "/api/v1/organisation/my" if iccid is None else "/api/v1/sim/{sim_id}"
        ids, iccid = await self._scope(iccid)
        if granularity is Granularity.MONTH:
            records = self._monthly_usage(f"{scope}/stats", ids, iccid)
        else:
            records = self._daily_usage(f"{scope}/stats/daily", ids, iccid, start, end)
        async for record in records:
            if family.overlaps(record, start, end):
                yield record

    async def _monthly_usage(
        self, path: str, ids: Mapping[str, Any] | None, iccid: str | None
    ) -> AsyncIterator[UsageRecord]:
        body = await self.http.request_json("GET", path, path_params=ids)
        mapper = partial(mapping.to_monthly_usage, iccid=iccid, now=datetime.now(UTC))
        for record in self.map_one(body, mapper, endpoint=f"GET {path}"):
            yield record

    async def _daily_usage(
        self,
        path: str,
        ids: Mapping[str, Any] | None,
        iccid: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> AsyncIterator[UsageRecord]:
        now = datetime.now(UTC)
        first, stop = family.day_span(start, end, now=now)
        mapper = partial(mapping.to_daily_usage, iccid=iccid, now=now)
        for window_start, window_stop in family.date_windows(first, stop, USAGE_WINDOW_DAYS):
            window = {"start_date": window_start.isoformat(), "end_date": window_stop.isoformat()}
            body = await self.http.request_json("GET", path, path_params=ids, params=window)
            for day in self.map_records(body or [], mapper, endpoint=f"GET {path}"):
                for record in day:
                    # end_date may be read as inclusive: keep each day in one window only.
                    if record.start and window_start <= record.start.date() < window_stop:
                        yield record

    async def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        path = "/api/v1/event" if iccid is None else "/api/v1/sim/{sim_id}/event"
        ids, iccid = await self._scope(iccid)
        query = mapping.event_query(start, end, now=datetime.now(UTC))
        pages = self.http.paginate(
            EVENT_PAGES,
            path,
            path_params=ids,
            params={"q": query},
        )
        to_event = partial(mapping.to_audit_event, iccid=iccid)
        async for event in self.records(pages, to_event, endpoint=f"GET {path}"):
            if family.in_range(event.occurred_at, start, end):
                yield event

    # -- helpers ------------------------------------------------------------------------

    async def _scope(self, iccid: str | None) -> tuple[Mapping[str, Any] | None, str | None]:
        """The ``sim_id`` path parameters of a per-SIM call and the SIM's full ICCID."""
        if iccid is None:
            return None, None
        record = await self._sim(iccid)
        full = self.map_one(record, family.pick_iccid, endpoint="GET /api/v1/sim")
        return {"sim_id": record["id"]}, full

    async def _sim(self, iccid: str) -> Mapping[str, Any]:
        """The SIM record with this ICCID (with or without its check digit), found through
        the list's ``iccid`` filter, which takes the ICCID without it."""
        for candidate in family.iccid_candidates(iccid):
            body = await self.http.request_json(
                "GET", "/api/v1/sim", params={"q": f"iccid:{candidate}", "page": 1, "per_page": 10}
            )
            record = self.map_one(
                body or [], lambda b: mapping.find_sim(b, iccid), endpoint="GET /api/v1/sim"
            )
            if record is not None:
                return record
        raise NotFoundError("no SIM with this ICCID", connector=self.name)
