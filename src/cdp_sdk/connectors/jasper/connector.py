"""The ``jasper`` connector: Cisco IoT Control Center (formerly Jasper) REST API.

Control Center runs the SIM fleets of AT&T, Rogers, Telefonica, Tele2, Telstra and many
other operators; each gives its customers a host name, which is ``base_url``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import itemgetter

import httpx
from pydantic import Field, SecretStr

from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk._tag_rules import TagRules
from cdp_sdk.connectors.jasper import mapping
from cdp_sdk.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    UnexpectedResponseError,
)
from cdp_sdk.http import (
    BasicAuth,
    ErrorRule,
    ErrorTable,
    Page,
    PageNumberPaginator,
    body_field,
    map_pages,
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

__all__ = ["JasperConnector", "JasperSettings"]

logger = logging.getLogger("cdp_sdk")

DEVICES = "/rws/api/v1/devices"
DEVICE = "/rws/api/v1/devices/{iccid}"
CTD_USAGE = "/rws/api/v1/devices/{iccid}/ctdUsages"
ZONE_USAGE = "/rws/api/v1/devices/{iccid}/usageInZone"
AUDIT_TRAILS = "/rws/api/v1/devices/{iccid}/auditTrails"
RATE_PLANS = "/rws/api/v1/rateplans"

PAGES = PageNumberPaginator(
    page_param="pageNumber", size_param="pageSize", page_size=50, last_page=body_field("lastPage")
)
"""Every Control Center listing: ``pageNumber`` from 1, at most 50 a page, ``lastPage`` (the
documented pagination signal; a listing whose answer lacks it ends on a short page)."""
OLD_WINDOW = "10000045"
"""Reported for a Search Devices ``modifiedSince`` older than a year."""


class JasperSettings(ConnectorSettings):
    """Settings of the Cisco IoT Control Center connector."""

    base_url: str = Field(
        description="The REST host of your operator's Control Center, e.g. "
        "https://restapi1.jasper.com (the /rws/api/v1 paths are appended)."
    )
    username: str = Field(description="The Control Center user name.")
    api_key: SecretStr = Field(description="That user's API key (created in Control Center).")
    rate_limit: float | None = 1.0  # fair use: about one call a second ...
    max_concurrency: int | None = 1  # ... and one call at a time


class JasperConnector(BaseConnector):
    """Cisco IoT Control Center: devices, their states and custom fields, rate plans,
    cycle usage and the audit trail of each SIM."""

    name = "jasper"
    title = "Cisco IoT Control Center (Jasper)"
    capabilities = frozenset(
        {
            Capability.SUBSCRIPTIONS,
            Capability.INCREMENTAL,
            Capability.CHANGE_STATUS,
            Capability.TARIFFS,
            Capability.USAGE,
            Capability.AUDIT_EVENTS,
            Capability.TAGS,
            Capability.UPDATE_TAGS,
        }
    )
    settings_model = JasperSettings
    per_sim_only = frozenset({Capability.USAGE, Capability.AUDIT_EVENTS})
    usage_granularities = frozenset({Granularity.CYCLE})
    filters_status = True  # Search Devices: status=<one state>
    error_table = ErrorTable(errors_in_success=True).extend(
        ErrorRule(AuthenticationError, vendor_code="10000001"),  # or a caller IP not allowed
        ErrorRule(NotFoundError, vendor_code="20000001"),
        ErrorRule(ConflictError, vendor_code="10000029"),  # back to a pre-activation state
        ErrorRule(ConflictError, vendor_code="10030000"),  # already activated
        ErrorRule(ConflictError, vendor_code="1000512"),  # not purged (return to inventory)
        ErrorRule(ConflictError, vendor_code="1000559"),  # state not allowed for that return
        ErrorRule(RateLimitedError, vendor_code="40000029"),  # with any HTTP status
        ErrorRule(InvalidRequestError, vendor_code=OLD_WINDOW),  # with any HTTP status
    )
    # The fixed custom-field slots, each holding text.
    tag_rules = TagRules(keys=frozenset(mapping.CUSTOM_FIELDS), values="required")
    settings: JasperSettings

    def __init__(
        self, settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)
        self._oldest_window: timedelta | None = None
        """How far back Search Devices reaches, once the platform refused an older window."""
        self._warned_old_windows = False

    def authentication(self) -> httpx.Auth:
        return BasicAuth(self.settings.username, self.settings.api_key)

    async def check(self) -> None:
        params = {"modifiedSince": mapping.request_instant(datetime.now(UTC)), "pageSize": 1}
        await self.http.request("GET", DEVICES, params=params)

    async def subscriptions(
        self,
        *,
        modified_since: datetime | None,
        status: frozenset[SimStatus] | None = None,
    ) -> AsyncIterator[Subscription]:
        since = modified_since or mapping.FULL_SYNC_SINCE
        states = vendor_states(mapping.STATUS, status) if status is not None else None
        # Search Devices takes one status: one search per state (none for a status no
        # state maps to), so that only the SIMs wanted cost a Get Device Details each.
        searches: list[str | None] = [None] if states is None else list(states)
        listed: set[str] = set()
        for state in searches:
            newest = _Newest()
            async for iccid in self._changed_devices(since, newest, status=state):
                if len(searches) > 1:
                    if iccid in listed:  # changed state while the searches ran
                        continue
                    listed.add(iccid)
                sim = await self._details(iccid)
                if sim is not None:
                    newest.see(sim.updated_at)
                    yield sim

    async def subscription(self, iccid: str) -> Subscription:
        body = await self.http.request_json("GET", DEVICE, path_params={"iccid": iccid})
        return self.map_one(body, mapping.to_subscription, endpoint=f"GET {DEVICE}")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        state = mapping.STATE_FOR.get(status)
        if state is None:
            raise InvalidRequestError(
                f"Control Center has no state for {status.value!r}; use deactivated to block a SIM",
                connector=self.name,
            )
        response = await self._edit(iccid, {"status": state})
        return mapping.to_status_change(iccid, status, response.status_code)

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        try:
            changes = mapping.custom_field_changes(tags, remove)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), connector=self.name) from None
        await self._edit(iccid, changes)

    def tariffs(self) -> AsyncIterator[Tariff]:
        return self.listing(PAGES, RATE_PLANS, mapping.to_tariff, items="ratePlans")

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        assert iccid is not None  # per_sim_only: the facade refuses None
        current = await self.http.request_json("GET", ZONE_USAGE, path_params={"iccid": iccid})
        cycle = self.map_one(current, mapping.cycle_bounds, endpoint=f"GET {ZONE_USAGE}")
        if cycle is not None and start is not None:
            for parameter, cycle_start, cycle_end in mapping.past_cycles(cycle[0]):
                if mapping.overlaps((cycle_start, cycle_end), start, end):
                    for record in await self._closed_cycle(iccid, parameter):
                        if mapping.overlaps((record.start, record.end), start, end):
                            yield record
        if cycle is None or mapping.overlaps(cycle, start, end):
            for record in await self._cycle_to_date(iccid, cycle):
                yield record

    async def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        assert iccid is not None  # per_sim_only: the facade refuses None
        days = mapping.days_of_history(start, datetime.now(UTC))
        pages = self.http.paginate(
            PAGES,
            AUDIT_TRAILS,
            items="deviceAuditTrails",
            path_params={"iccid": iccid},
            params={"daysOfHistory": days},
        )
        to_event = partial(mapping.to_audit_event, iccid)
        async for event in self.records(pages, to_event, endpoint=f"GET {AUDIT_TRAILS}"):
            if mapping.within(event.occurred_at, start, end):
                yield event

    # -- helpers ------------------------------------------------------------------------

    async def _changed_devices(
        self, since: datetime, newest: _Newest, *, status: str | None = None
    ) -> AsyncIterator[str]:
        """ICCIDs of the devices changed since ``since`` (in the Control Center state
        ``status``, if given), oldest change first, each once.

        Cisco documents Search Devices with ``modifiedSince`` alone: it "returns any
        devices that have been modified since this time", so one search lists them all
        (the fewest requests: one per 50 devices). Tele2's catalogue adds ``modifiedTill``,
        at most a year after ``modifiedSince``. Where a search could have been cut a year
        after ``since`` (``since`` is older than a year) and no device it listed was
        updated later than that (``newest``, the Get Device Details ``dateUpdated`` of
        each device listed, is kept by the caller), the rest is walked in windows of a
        year (``modifiedSince``..``modifiedTill``, the last one open).

        Adjacent windows share their boundary instant: an ICCID from the last page of one
        window is not repeated by the next. A device changed again while the listing runs
        moves to the last, open window and is not repeated either (its next change is the
        next incremental run's). Any other ICCID listed twice is a paging fault of the
        platform and raises :class:`UnexpectedResponseError` (the listing keeps the ICCIDs
        it has seen: memory grows with the fleet). A platform that refuses a
        ``modifiedSince`` older than a year (``10000045``) is walked from the oldest window
        it accepts, with a warning: SIMs unchanged since then cannot be listed there.
        """
        now = datetime.now(UTC)
        if self._oldest_window is not None:
            since = max(since, now - self._oldest_window)
        boundary: set[str] = set()
        seen: set[str] = set()
        for window_start, window_end in _search_windows(since, now, newest):
            params = {
                "modifiedSince": mapping.request_instant(window_start),
                "modifiedTill": window_end and mapping.request_instant(window_end),
                "status": status,
            }
            last_page: list[str] = []
            pages = self.http.paginate(
                PAGES, DEVICES, items="devices", params=params, key=itemgetter("iccid")
            )
            try:
                async for iccids in map_pages(pages, self._listed_iccids):
                    for iccid in iccids:
                        if iccid in boundary or (iccid in seen and window_end is None):
                            continue
                        if iccid in seen:
                            raise UnexpectedResponseError(
                                f"GET {DEVICES}: the platform listed the same device in two "
                                "search windows; stopping rather than return duplicates",
                                connector=self.name,
                            )
                        seen.add(iccid)
                        yield iccid
                    last_page = iccids or last_page
            except InvalidRequestError as error:
                oldest = now - mapping.ACCEPTED_WINDOW
                if error.vendor_code != OLD_WINDOW or last_page or window_start >= oldest:
                    raise
                self._refuse_old_windows(oldest)
                async for iccid in self._changed_devices(oldest, newest, status=status):
                    yield iccid
                return
            boundary = set(last_page)

    async def _listed_iccids(self, page: Page) -> list[str]:
        """The ICCIDs of a page of Search Devices."""
        return list(self.map_records(page.items, mapping.listed_iccid, endpoint=f"GET {DEVICES}"))

    def _refuse_old_windows(self, oldest: datetime) -> None:
        """Remember that this platform lists only the last year; warn once."""
        self._oldest_window = mapping.ACCEPTED_WINDOW
        if not self._warned_old_windows:
            self._warned_old_windows = True
            logger.warning(
                "%s: Search Devices refuses windows older than a year (error %s); listing "
                "from %s: SIMs unchanged since then cannot be listed by this platform",
                self.name,
                OLD_WINDOW,
                oldest.date().isoformat(),
            )

    async def _details(self, iccid: str) -> Subscription | None:
        """Get Device Details of a listed device; ``None`` if it left the account since."""
        try:
            body = await self.http.request_json("GET", DEVICE, path_params={"iccid": iccid})
        except NotFoundError:
            logger.info("%s: a listed SIM is no longer in the account; skipped", self.name)
            return None
        mapped = self.map_records([body], mapping.to_subscription, endpoint=f"GET {DEVICE}")
        return next(mapped, None)

    async def _cycle_to_date(
        self, iccid: str, cycle: tuple[datetime, datetime] | None
    ) -> list[UsageRecord]:
        """Get Device Usage: the counters of the open cycle."""
        body = await self.http.request_json("GET", CTD_USAGE, path_params={"iccid": iccid})
        to_usage = partial(mapping.to_cycle_to_date, iccid, cycle)
        return self.map_one(body, to_usage, endpoint=f"GET {CTD_USAGE}")

    async def _closed_cycle(self, iccid: str, cycle_start: str) -> list[UsageRecord]:
        """Get Device Usage by Zone for one of the closed cycles."""
        body = await self.http.request_json(
            "GET", ZONE_USAGE, path_params={"iccid": iccid}, params={"cycleStartDate": cycle_start}
        )
        to_usage = partial(mapping.to_zone_usage, iccid, final=True)
        return self.map_one(body, to_usage, endpoint=f"GET {ZONE_USAGE}")

    async def _edit(self, iccid: str, changes: Mapping[str, str]) -> httpx.Response:
        """Edit Device Details (refusals inside a 202 are raised by the error table)."""
        return await self.http.request(
            "PUT", DEVICE, path_params={"iccid": iccid}, json=dict(changes)
        )


class _Newest:
    """The latest instant seen so far (``None`` before the first)."""

    def __init__(self) -> None:
        self.value: datetime | None = None

    def see(self, moment: datetime | None) -> None:
        if moment is not None and (self.value is None or moment > self.value):
            self.value = moment


def _search_windows(
    since: datetime, now: datetime, newest: _Newest
) -> Iterator[tuple[datetime, datetime | None]]:
    """The Search Devices windows of a listing from ``since``: one open search (Cisco's
    documented call); then, only where that search could have stopped a year after
    ``since`` without a device listed past that point (``newest``, read once the first
    search is done), the years after it, one window each (the last open)."""
    start = since.astimezone(UTC).replace(microsecond=0)
    yield start, None
    cut = start + mapping.SEARCH_WINDOW
    if cut >= now or (newest.value is not None and newest.value > cut):
        return
    yield from mapping.search_windows(cut, now)
