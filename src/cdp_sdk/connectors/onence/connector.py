"""The ``1nce`` connector: the 1NCE Management API (SIM Management v1, Product Information)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import itemgetter
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk._tag_rules import TagRules
from cdp_sdk.connectors import _emnify_family as family
from cdp_sdk.connectors.onence import mapping
from cdp_sdk.errors import AuthenticationError, ConflictError, InvalidRequestError, NotFoundError
from cdp_sdk.http import (
    ErrorRule,
    ErrorTable,
    OAuth2ClientCredentials,
    Page,
    body_field,
    chain_pages,
)
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

__all__ = ["OneNceConnector", "OneNceSettings"]

T = TypeVar("T")

SIM_PAGE_SIZE = 100  # the documented maximum
SIM_PAGES = family.paginator("pageSize", SIM_PAGE_SIZE)
EVENT_PAGE_SIZE = 1000  # the documented maximum


class OneNceSettings(ConnectorSettings):
    """Settings of the ``1nce`` connector: an API user of the 1NCE portal."""

    base_url: str = "https://api.1nce.com/management-api"
    username: str
    password: SecretStr
    # /sims has no documented limit but asks to be used gently; /products allows 100 calls
    # per 5 minutes, far above what tariffs() needs.
    rate_limit: float | None = 10.0


def _total_pages(response: httpx.Response, body: Any) -> Any:
    """``X-Total-Pages``, or the body's ``totalPages`` where the header is missing."""
    return family.TOTAL_PAGES(response, body) or body_field("totalPages")(response, body)


class OneNceConnector(BaseConnector):
    """1NCE: SIMs and their label, status, quotas, daily usage, events and products."""

    name = "1nce"
    title = "1NCE"
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
    settings_model = OneNceSettings
    per_sim_only = frozenset({Capability.USAGE, Capability.AUDIT_EVENTS})
    full_listing_reason = "no change filter on /v1/sims"
    usage_granularities = frozenset({Granularity.DAY})
    error_table = ErrorTable().extend(
        *family.FAMILY_ERROR_RULES,
        ErrorRule(AuthenticationError, vendor_code="BadCredentials"),
        # 422 on every SIM operation: "SIMs are expired and cannot be modified via API".
        ErrorRule(ConflictError, status=422),
        parse_body=family.parse_error,
    )
    # One tag: the SIM's ``label`` text (an empty label is no label).
    tag_rules = TagRules(keys=frozenset({mapping.LABEL}), values="required")
    settings: OneNceSettings

    def authentication(self) -> httpx.Auth:
        # Plain Basic of username:password (as 1NCE documents) and a JSON body; the token (an
        # hour by default) is reused until a minute before `expires_in` ends.
        return OAuth2ClientCredentials(
            "/oauth/token",
            self.settings.username,
            self.settings.password,
            body_format="json",
            form_encode_basic=False,
        )

    # -- subscriptions --------------------------------------------------------------------

    def subscriptions(self, *, modified_since: datetime | None) -> AsyncIterator[Subscription]:
        return self.listing(SIM_PAGES, "/v1/sims", mapping.to_subscription, key=itemgetter("iccid"))

    async def subscription(self, iccid: str) -> Subscription:
        record = await self._sim(iccid)
        subscription = self.map_one(
            record, mapping.to_subscription, endpoint="GET /v1/sims/{iccid}"
        )
        key = {"iccid": record["iccid"]}
        data = await self._optional(
            self.http.request_json("GET", "/v1/sims/{iccid}/quota/data", path_params=key)
        )
        sms = await self._optional(
            self.http.request_json("GET", "/v1/sims/{iccid}/quota/sms", path_params=key)
        )
        return self.map_one(
            subscription,
            lambda s: mapping.with_quotas(s, data, sms),
            endpoint="GET /v1/sims/{iccid}/quota",
        )

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        state = mapping.STATE_FOR.get(status)
        if state is None:
            raise InvalidRequestError(
                f"a 1NCE SIM is Enabled (active) or Disabled (deactivated); {status.value!r} "
                "has no 1NCE state",
                connector=self.name,
            )
        record = await self._sim(iccid)
        await self._put(record, status=state)
        full = self.map_one(record, family.pick_iccid, endpoint="GET /v1/sims/{iccid}")
        return StatusChange(connector=self.name, iccid=full, requested=status, state="done")

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        label = mapping.label_update(tags, remove)
        await self._put(await self._sim(iccid), label=label)

    # -- tariffs, usage, events -----------------------------------------------------------

    async def tariffs(self) -> AsyncIterator[Tariff]:
        body = await self.http.request_json("GET", "/v1/products")
        for tariff in self.map_records(body or [], mapping.to_tariff, endpoint="GET /v1/products"):
            yield tariff

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        assert iccid is not None  # per_sim_only: the facade refuses None
        now = datetime.now(UTC)
        first, stop = family.day_span(start, end, now=now)
        # end_dt is inclusive (the spec's example asks for one day with start = end).
        window = {"start_dt": first.isoformat(), "end_dt": (stop - timedelta(days=1)).isoformat()}

        async def usage_of(key: str) -> Any:
            return await self.http.request_json(
                "GET", "/v1/sims/{iccid}/usage", path_params={"iccid": key}, params=window
            )

        body, full = await self._per_sim(iccid, usage_of)
        stats = self.map_one(body, mapping.usage_days, endpoint="GET /v1/sims/{iccid}/usage")
        mapper = partial(mapping.to_usage, iccid=full, now=now)
        for day in self.map_records(stats, mapper, endpoint="GET /v1/sims/{iccid}/usage"):
            for usage in day:
                if family.overlaps(usage, start, end):
                    yield usage

    async def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        assert iccid is not None  # per_sim_only: the facade refuses None

        async def started(key: str) -> AsyncIterator[Page]:
            """The pages of the events under ``key``, the first one fetched already."""
            pages = self.http.paginate(
                family.paginator("pageSize", EVENT_PAGE_SIZE, total_pages=_total_pages),
                "/v1/sims/{iccid}/events",
                items=mapping.event_items,
                path_params={"iccid": key},
            )
            try:
                return chain_pages(pages, first=await anext(pages))
            except BaseException:
                close = getattr(pages, "aclose", None)
                if close is not None:
                    await close()
                raise

        pages, full = await self._per_sim(iccid, started)
        mapper = partial(mapping.to_audit_event, iccid=full)
        async for event in self.records(pages, mapper, endpoint="GET /v1/sims/{iccid}/events"):
            if family.in_range(event.occurred_at, start, end):
                yield event

    # -- helpers ------------------------------------------------------------------------

    async def _per_sim(self, iccid: str, call: Callable[[str], Awaitable[T]]) -> tuple[T, str]:
        """``call(key)`` for the key (ICCID form) under which 1NCE knows the SIM, and the
        SIM's full ICCID: one request, with no look-up of the SIM first.

        1NCE keys SIMs by ``iccid`` without the check digit, so an ICCID with a valid check
        digit (every ICCID cdp-sdk lists) is asked without it first; a 404 or 400 (the
        spec's answers for a SIM it does not know) tries the ICCID as given.
        """
        *first, last = family.iccid_candidates(iccid)
        for candidate in first:
            try:
                return await call(candidate), family.with_luhn(candidate)
            except (NotFoundError, InvalidRequestError):
                continue
        return await call(last), family.with_luhn(last)

    async def _sim(self, iccid: str) -> Mapping[str, Any]:
        """The SIM record: 1NCE keys SIMs by ``iccid`` without the check digit we show, and
        either form of the ICCID finds it."""
        *first, last = family.iccid_candidates(iccid)
        for candidate in first:
            try:
                return await self._get_sim(candidate)
            except (NotFoundError, InvalidRequestError):
                continue
        return await self._get_sim(last)

    async def _get_sim(self, key: str) -> Mapping[str, Any]:
        body = await self.http.request_json("GET", "/v1/sims/{iccid}", path_params={"iccid": key})
        if not isinstance(body, Mapping):
            raise self.mapping_error(
                TypeError("expected a SIM object"), endpoint="GET /v1/sims/{iccid}"
            )
        return body

    async def _put(self, record: Mapping[str, Any], **changes: str) -> None:
        await self.http.request(
            "PUT",
            "/v1/sims/{iccid}",
            path_params={"iccid": record["iccid"]},
            json=mapping.sim_update(record, **changes),
        )

    @staticmethod
    async def _optional(call: Awaitable[Any]) -> Any:
        """The answer of ``call``, or ``None`` where the platform has none (404)."""
        try:
            return await call
        except NotFoundError:
            return None
