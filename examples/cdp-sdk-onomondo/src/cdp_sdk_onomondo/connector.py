"""The Onomondo connector: settings, capabilities, and the endpoint behind each method."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from typing import Any

import httpx
from cdp_sdk import (
    ActivationMode,
    BaseConnector,
    Capability,
    ConnectorSettings,
    Granularity,
    InvalidRequestError,
    NotFoundError,
    SimStatus,
    StatusChange,
    Subscription,
    UsageRecord,
)
from cdp_sdk.http import (
    CursorPaginator,
    ErrorRule,
    ErrorTable,
    HeaderAuth,
    RateLimitHeaders,
    RetryAfterHeader,
    body_field,
    header_value,
)
from pydantic import Field, SecretStr

from cdp_sdk_onomondo import mapping

logger = logging.getLogger("cdp_sdk")

SIMS = "/sims"
SIM = "/sims/{sim_id}"  # the 9-digit SIM id, or the ICCID (documented for GET)
USAGE = "/usage/{sim_id}"


def next_page(response: httpx.Response, body: Any) -> Any:
    """The ``next_page`` cursor from the body, or else from a response header.

    Onomondo documents the ``next_page`` query parameter but not where the next value comes
    back, so both places are read.
    """
    return body_field("next_page")(response, body) or header_value("next_page")(response, body)


PAGINATOR = CursorPaginator("next_page", next_page, size_param="limit", page_size=1000)


class OnomondoSettings(ConnectorSettings):
    """Settings of the Onomondo connector."""

    api_key: SecretStr = Field(description="An API key of the organisation.")
    base_url: str = "https://api.onomondo.com"
    rate_limit: float | None = 10.0  # 600 calls per minute


class OnomondoConnector(BaseConnector):
    """Onomondo's REST API: SIMs, their activation, tags (read only) and hourly data usage."""

    name = "onomondo"
    title = "Onomondo"
    capabilities = frozenset(
        {Capability.SUBSCRIPTIONS, Capability.CHANGE_STATUS, Capability.TAGS, Capability.USAGE}
    )
    settings_model = OnomondoSettings
    per_sim_only = frozenset({Capability.USAGE})
    full_listing_reason = "no change filter on /sims"
    usage_granularities = frozenset({Granularity.HOUR})
    error_table = ErrorTable().extend(
        ErrorRule(NotFoundError, vendor_code="sim_not_found"),
        parse_body=mapping.parse_error,
        retry_after_headers=(RetryAfterHeader("x-ratelimit-reset", unit="epoch_seconds"),),
        # Onomondo reports its count of 600 calls a minute on its answers.
        rate_limit_headers=RateLimitHeaders(
            "x-ratelimit-remaining", "x-ratelimit-reset", unit="epoch_seconds"
        ),
    )
    settings: OnomondoSettings

    def authentication(self) -> httpx.Auth:
        # The raw key, as the API introduction states; see the README about "Bearer".
        return HeaderAuth("Authorization", self.settings.api_key)

    async def check(self) -> None:
        await self.http.request("GET", SIMS, params={"limit": 1})

    async def subscriptions(
        self, *, modified_since: datetime | None
    ) -> AsyncIterator[Subscription]:
        total, received = None, 0
        async for page in self.http.paginate(PAGINATOR, SIMS, items="sims", key=itemgetter("id")):
            if total is None and isinstance(page.body, dict):
                total = page.body.get("total")
            received += len(page.items)
            for sim in self.map_records(page.items, mapping.to_subscription, endpoint="GET /sims"):
                yield sim
        if isinstance(total, int) and received < total:  # a cursor we could not find
            logger.warning("%s: the listing ended after %d of %d SIMs", self.name, received, total)

    async def subscription(self, iccid: str) -> Subscription:
        body = await self.http.request_json("GET", SIM, path_params={"sim_id": iccid})
        return self.map_one(body, mapping.to_subscription, endpoint="GET /sims/{sim_id}")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        activated = mapping.ACTIVATED_FOR.get(status)
        if activated is None:
            raise InvalidRequestError(
                f"Onomondo cannot set {status.value}: a SIM is activated (active) or "
                "deactivated (suspended)",
                connector=self.name,
            )
        await self.http.request(
            "PATCH",
            SIM,
            path_params={"sim_id": iccid},
            json={"activated": activated},
            idempotent=True,  # setting a boolean twice changes nothing
        )
        return StatusChange(connector=self.name, iccid=iccid, requested=status, state="done")

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        assert iccid is not None  # per_sim_only: the facade refuses None
        sim = await self.subscription(iccid)  # /usage/{sim_id} is documented with SIM ids
        to_usage = partial(mapping.to_usage, iccid=iccid, now=datetime.now(UTC))
        pages = self.http.paginate(
            PAGINATOR,
            USAGE,
            items=mapping.usage_items,
            path_params={"sim_id": sim.id},
            params={"group": "hours", "filter": mapping.time_filter(start, end)},
        )
        async for page in pages:
            for records in self.map_records(page.items, to_usage, endpoint="GET /usage/{sim_id}"):
                for record in records:
                    if mapping.in_range(record, start, end):
                        yield record
