"""The Hologram connector: settings, HTTP Basic auth, and the endpoint behind each method.

A SIM is a cellular link (``/api/1/links/cellular``, one per SIM profile) of a device
(``/api/1/devices``). The connector lists links and joins each page with its devices in
one extra call (``ids=``), so the IMEI, name and tags come along without reading the
fleet twice. State changes and tags act on the device.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import chain
from typing import Any

import httpx
from pydantic import Field, SecretStr

from cdp_sdk._connector import BaseConnector, Listing
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk.connectors.hologram import mapping
from cdp_sdk.errors import ConflictError, InvalidRequestError, NotFoundError
from cdp_sdk.http import (
    BasicAuth,
    ErrorTable,
    Page,
    StartAfterPaginator,
    body_field,
    map_pages,
)
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Capability,
    Direction,
    Granularity,
    SimStatus,
    StatusChange,
    Subscription,
    Tariff,
    UsageRecord,
)

__all__ = ["BASE_URL", "HologramConnector", "HologramSettings"]

BASE_URL = "https://dashboard.hologram.io"

LINKS = "/api/1/links/cellular"
HISTORY = "/api/1/links/cellular/{linkid}/history"
DEVICES = "/api/1/devices"
DEVICE_STATE = "/api/1/devices/{deviceid}/state"
TAGS = "/api/1/devices/tags"
TAG_LINK = "/api/1/devices/tags/{tagid}/link"
TAG_UNLINK = "/api/1/devices/tags/{tagid}/unlink"
PLANS = "/api/1/plans"
SESSIONS = "/api/1/usage/data"
DAILY = "/api/1/usage/data/daily"
MONTHLY = "/api/1/usage/data/monthly"
SMS = "/api/1/usage/sms"

PAGE_SIZE = 200
"""``limit`` of links, devices, plans and SMS: Hologram states no maximum for them."""
DAILY_PAGE_SIZE = 5000
"""``limit`` of the daily usage listing: its documented maximum."""
SESSION_PAGE_SIZE = 250
"""``limit`` of the data sessions listing: Hologram recommends 250 or fewer."""
ONE_ANSWER_LIMIT = 5000
"""``limit`` of the endpoints without a cursor (monthly usage, tags): one answer, which
must say it is complete."""
RATE_LIMIT = 2.0
"""Requests per second: Hologram enforces a limit without publishing it."""
RATE_LIMIT_WAIT = 5.0
"""Hologram asks to pause 5 to 10 seconds after a 429 (which names no wait)."""
MAX_CACHED_LINKS = 10_000
"""Links whose ids the connector keeps (by ICCID, and ICCIDs by link id): a listing fills
them up to this many, so per-SIM calls of the same connector (state history, changes)
and account-wide usage rows need no look-up of the link."""

DEFAULT_SPAN: dict[Granularity, timedelta] = {
    Granularity.SESSION: timedelta(days=7),
    Granularity.DAY: timedelta(days=30),
    Granularity.MONTH: timedelta(days=365),
}
"""How far back usage reaches when ``start`` is omitted."""


def pages(page_size: int, cursor: Any = mapping.link_id) -> StartAfterPaginator:
    """``limit`` + ``startafter`` (the last record's id); the listing ends when the
    answer no longer says ``continues``."""
    return StartAfterPaginator("startafter", cursor, body_field("continues"), "limit", page_size)


LINK_PAGES = pages(PAGE_SIZE)
PLAN_PAGES = pages(PAGE_SIZE)
DAILY_PAGES = pages(DAILY_PAGE_SIZE, mapping.record_id)
SESSION_PAGES = pages(SESSION_PAGE_SIZE, mapping.record_id)
SMS_PAGES = pages(PAGE_SIZE, mapping.record_id)


class HologramSettings(ConnectorSettings):
    """Settings of the Hologram connector."""

    base_url: str = BASE_URL
    api_key: SecretStr = Field(description="The API key (Dashboard, Settings, API).")
    org_id: int | None = Field(
        None, ge=1, description="Scope every call that takes ``orgid`` to this organization."
    )
    rate_limit: float | None = RATE_LIMIT


class HologramConnector(BaseConnector):
    """Hologram REST API: SIM links and devices, state changes, device tags, plans,
    data and SMS usage, and SIM state history."""

    name = "hologram"
    title = "Hologram"
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
    settings_model = HologramSettings
    per_sim_only = frozenset({Capability.AUDIT_EVENTS})
    full_listing_reason = "no change filter on the link list"
    usage_granularities = frozenset(DEFAULT_SPAN)
    error_table = ErrorTable().extend(
        parse_body=mapping.parse_error, rate_limit_wait=RATE_LIMIT_WAIT
    )
    settings: HologramSettings

    def __init__(
        self, settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)
        self._ids: dict[str, tuple[str, str, str | None]] = {}  # ICCID -> link, device, org
        self._iccid_of: dict[str, str] = {}  # link id -> ICCID, for account-wide usage

    def authentication(self) -> httpx.Auth:
        return BasicAuth("apikey", self.settings.api_key)

    # -- subscriptions ------------------------------------------------------------------

    def subscriptions(self, *, modified_since: datetime | None) -> AsyncIterator[Subscription]:
        links = self.http.paginate(
            LINK_PAGES, LINKS, items=mapping.page_items, params=self._org(), key=mapping.link_id
        )
        return self.records(map_pages(links, self._with_devices), _joined, endpoint=f"GET {LINKS}")

    async def subscription(self, iccid: str) -> Subscription:
        link = await self._link(iccid)
        devices = await self._devices([link.get("deviceid")])
        device = devices.get(str(link.get("deviceid")))
        return self.map_one((link, device), _joined, endpoint=f"GET {LINKS}")

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        action = mapping.ACTIONS.get(status)
        if action is None:
            hint = (
                ": pause keeps the monthly fee (suspended) and deactivate is permanent (retired)"
                if status is SimStatus.DEACTIVATED
                else ""
            )
            raise InvalidRequestError(
                f"Hologram has no state change to {status.value}{hint}", connector=self.name
            )
        linkid, deviceid, _ = await self._sim_ids(iccid)
        try:
            response = await self.http.request(
                "POST", DEVICE_STATE, path_params={"deviceid": deviceid}, json={"state": action}
            )
        except InvalidRequestError as error:
            # The call takes nothing but the state we choose: a refusal is about the SIM's
            # state (pending, dead, paused by the system).
            raise ConflictError(
                error.message,
                connector=self.name,
                status_code=error.status_code,
                vendor_code=error.vendor_code,
                request_id=error.request_id,
            ) from None
        body = self.http.decode(response, DEVICE_STATE)
        change = partial(mapping.to_status_change, iccid, status, action, linkid)
        return self.map_one(body, change, endpoint=f"POST {DEVICE_STATE}")

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        _, deviceid, orgid = await self._sim_ids(iccid)
        scope = {"orgid": self.settings.org_id or orgid}
        body = await self.http.request_json(
            "GET", TAGS, params={**scope, "limit": ONE_ANSWER_LIMIT}
        )
        existing = self.map_one(body, mapping.single_page_items, endpoint=f"GET {TAGS}")
        by_name = mapping.tags_by_name(existing)
        devices = {"deviceids": [_number(deviceid)]}
        for key in dict.fromkeys(key.strip() for key in tags):
            tag = by_name.get(key)
            if tag is None:  # a new tag, created on this device
                await self.http.request("POST", TAGS, params=scope, json={"name": key, **devices})
            elif not mapping.tag_holds(tag, deviceid):
                await self.http.request(
                    "POST", TAG_LINK, path_params={"tagid": tag["id"]}, json=devices
                )
        for key in dict.fromkeys(key.strip() for key in remove):
            tag = by_name.get(key)
            if tag is not None and mapping.tag_holds(tag, deviceid) is not False:
                await self.http.request(
                    "POST", TAG_UNLINK, path_params={"tagid": tag["id"]}, json=devices
                )

    # -- tariffs ------------------------------------------------------------------------

    def tariffs(self) -> AsyncIterator[Tariff]:
        plans = self.http.paginate(PLAN_PAGES, PLANS, items=mapping.page_items, params=self._org())
        return Listing(
            plans,
            lambda page: chain.from_iterable(
                self.map_records(page.items, mapping.to_tariffs, endpoint=f"GET {PLANS}")
            ),
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
        granularity = granularity or Granularity.DAY
        now = datetime.now(UTC)
        last = end or now
        first = start or last - DEFAULT_SPAN[granularity]
        where = {**self._org()}
        if iccid is not None:
            where["linkid"] = (await self._sim_ids(iccid))[0]
        if granularity is Granularity.SESSION:
            rows = self._rows(SESSION_PAGES, SESSIONS, {**where, **_window(first, last)})
            data = self._data_usage(rows, iccid, mapping.to_session_usage, SESSIONS, now)
        elif granularity is Granularity.DAY:
            day = datetime.combine(first.date(), datetime.min.time(), tzinfo=UTC)
            rows = self._rows(DAILY_PAGES, DAILY, {**where, **_window(day, last)})
            data = self._data_usage(rows, iccid, mapping.to_daily_usage, DAILY, now)
        else:
            rows = self._one_answer(MONTHLY, {**where, **_months(first, last)})
            data = self._data_usage(rows, iccid, mapping.to_monthly_usage, MONTHLY, now)
        async for record in data:
            if _overlaps(record.start, record.end, first, last):
                yield record
        if granularity is not Granularity.SESSION:  # SMS are counted per day or month
            async for record in self._sms_usage(iccid, where, first, last, granularity, now):
                yield record

    def _data_usage(
        self,
        pages: AsyncIterator[Page],
        iccid: str | None,
        to_record: Callable[..., UsageRecord],
        path: str,
        now: datetime,
    ) -> AsyncIterator[UsageRecord]:
        """Data usage rows as records; account-wide rows get the ICCID of their link."""

        async def owned(page: Page) -> Page:
            """The page's rows, each with the ICCIDs of the page's links."""
            known = await self._iccids(_link_ids(page.items)) if iccid is None else {}
            return Page([(row, known) for row in page.items], page.body, page.response)

        def mapped(pair: tuple[Any, Mapping[str, str]]) -> UsageRecord:
            return _usage_row(to_record, iccid, pair[1], now, pair[0])

        return self.records(map_pages(pages, owned), mapped, endpoint=f"GET {path}")

    async def _sms_usage(
        self,
        iccid: str | None,
        where: Mapping[str, Any],
        first: datetime,
        last: datetime,
        granularity: Granularity,
        now: datetime,
    ) -> AsyncIterator[UsageRecord]:
        """SMS counted per SIM, direction and day (or month) over ``/usage/sms``.

        The counts of the whole window are kept until the listing ends: one entry per SIM,
        direction and period with SMS, not one per message.
        """
        counts: dict[tuple[str, Direction, datetime], tuple[int, Decimal, bool]] = {}
        pages = self._rows(SMS_PAGES, SMS, {**where, **_window(first, last)})
        async for linkid, direction, moment, cost in self.records(
            pages, mapping.sms_event, endpoint=f"GET {SMS}"
        ):
            if not first <= moment < last:
                continue
            key = (str(linkid), direction, mapping.period_start(moment, granularity))
            count, total, costed = counts.get(key, (0, Decimal(0), True))
            counts[key] = (count + 1, total + (cost or 0), costed and cost is not None)
        ordered = sorted(counts.items(), key=lambda item: (item[0][2], item[0][0], item[0][1]))
        known = await self._iccids(key[0] for key, _ in ordered) if iccid is None else {}

        def to_record(
            item: tuple[tuple[str, Direction, datetime], tuple[int, Decimal, bool]],
        ) -> UsageRecord:
            (linkid, direction, period), (count, total, costed) = item
            return mapping.to_sms_usage(
                iccid if iccid is not None else _owner(known, linkid),
                direction,
                period,
                granularity,
                count,
                total if costed else None,
                now=now,
            )

        for record in self.map_records(ordered, to_record, endpoint=f"GET {SMS}"):
            yield record

    # -- audit events -------------------------------------------------------------------

    async def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        assert iccid is not None  # per_sim_only: the facade refuses None
        linkid = (await self._sim_ids(iccid))[0]
        body = await self.http.request_json("GET", HISTORY, path_params={"linkid": linkid})
        entries = self.map_one(body, mapping.single_page_items, endpoint=f"GET {HISTORY}")
        to_event = partial(mapping.to_audit_event, iccid)
        for event in self.map_records(entries, to_event, endpoint=f"GET {HISTORY}"):
            if (start is None or event.occurred_at >= start) and (
                end is None or event.occurred_at < end
            ):
                yield event

    # -- helpers ------------------------------------------------------------------------

    def _org(self) -> dict[str, Any]:
        """``orgid`` for the calls that take it, when the settings name an organization."""
        return {"orgid": self.settings.org_id} if self.settings.org_id is not None else {}

    async def _with_devices(self, page: Page) -> Page:
        """A page of links as (link, device) pairs: one ``/devices?ids=`` call a page."""
        self._remember(page.items)
        devices = await self._devices(_device_ids(page.items))
        pairs = [
            (link, devices.get(str(link.get("deviceid"))) if isinstance(link, Mapping) else None)
            for link in page.items
        ]
        return Page(pairs, page.body, page.response)

    async def _devices(self, ids: Iterable[Any]) -> dict[str, Mapping[str, Any]]:
        """The devices with these ids, by id (as text)."""
        wanted = list(dict.fromkeys(str(i) for i in ids if i is not None))
        found: dict[str, Mapping[str, Any]] = {}
        if not wanted:
            return found
        params = {**self._org(), "ids": ",".join(wanted)}
        async for page in self.http.paginate(
            pages(len(wanted)), DEVICES, items=mapping.page_items, params=params
        ):
            for device in page.items:
                if isinstance(device, Mapping) and device.get("id") is not None:
                    found[str(device["id"])] = device
        return found

    async def _link(self, iccid: str) -> Mapping[str, Any]:
        """The link holding ``iccid`` (given with or without its check digit)."""
        candidates = mapping.iccid_candidates(iccid)
        params = {**self._org(), "sims": ",".join(candidates), "limit": PAGE_SIZE}
        body = await self.http.request_json("GET", LINKS, params=params)
        links = self.map_one(body, mapping.single_page_items, endpoint=f"GET {LINKS}")
        link = mapping.find_link(iccid, [item for item in links if isinstance(item, Mapping)])
        if link is None:
            raise NotFoundError("no SIM with this ICCID on the account", connector=self.name)
        ids = self.map_one(link, _ids_of, endpoint=f"GET {LINKS}")
        self._ids[iccid] = ids
        return link

    def _remember(self, links: Iterable[Any]) -> None:
        """Keep the ids of listed links (up to :data:`MAX_CACHED_LINKS`); a link that
        does not map is left to the mapping, which reports it."""
        for link in links:
            if len(self._ids) >= MAX_CACHED_LINKS:
                return
            try:
                iccid = mapping.full_iccid(link["sim"])
                ids = _ids_of(link)
            except (KeyError, TypeError, ValueError):
                continue
            self._ids.setdefault(iccid, ids)
            if len(self._iccid_of) < MAX_CACHED_LINKS:
                self._iccid_of.setdefault(ids[0], iccid)

    async def _sim_ids(self, iccid: str) -> tuple[str, str, str | None]:
        """The link id, device id and organization id of ``iccid`` (looked up once)."""
        if iccid not in self._ids:
            await self._link(iccid)
        return self._ids[iccid]

    async def _iccids(self, link_ids: Iterable[str]) -> dict[str, str]:
        """The ICCIDs of these links, looked up by ``ids=`` for those not seen before."""
        wanted = list(dict.fromkeys(link_ids))
        missing = [linkid for linkid in wanted if linkid not in self._iccid_of]
        for offset in range(0, len(missing), PAGE_SIZE):
            chunk = missing[offset : offset + PAGE_SIZE]
            if len(self._iccid_of) + len(chunk) > MAX_CACHED_LINKS:
                self._iccid_of.clear()
            params = {**self._org(), "ids": ",".join(chunk)}
            async for page in self.http.paginate(
                pages(len(chunk)), LINKS, items=mapping.page_items, params=params
            ):
                for link in page.items:
                    try:
                        self._iccid_of[str(link["id"])] = mapping.full_iccid(link["sim"])
                    except (KeyError, TypeError, ValueError):
                        continue  # a link that does not map: its usage rows will say so
        return {linkid: self._iccid_of[linkid] for linkid in wanted if linkid in self._iccid_of}

    def _rows(
        self, paginator: StartAfterPaginator, path: str, params: Mapping[str, Any]
    ) -> AsyncIterator[Page]:
        return self.http.paginate(paginator, path, items=mapping.page_items, params=params)

    async def _one_answer(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[Page]:
        response = await self.http.request(
            "GET", path, params={**params, "limit": ONE_ANSWER_LIMIT}
        )
        body = self.http.decode(response, path)
        rows = self.map_one(body, mapping.single_page_items, endpoint=f"GET {path}")
        yield Page(list(rows), body, response)


def _joined(pair: tuple[Any, Any]) -> Subscription:
    link, device = pair
    return mapping.to_subscription(link, device)


def _ids_of(link: Mapping[str, Any]) -> tuple[str, str, str | None]:
    orgid = link.get("orgid")
    return str(link["id"]), str(link["deviceid"]), None if orgid is None else str(orgid)


def _device_ids(links: Iterable[Any]) -> list[Any]:
    return [link.get("deviceid") for link in links if isinstance(link, Mapping)]


def _link_ids(rows: Iterable[Any]) -> list[str]:
    return [
        str(row["linkid"])
        for row in rows
        if isinstance(row, Mapping) and row.get("linkid") is not None
    ]


def _usage_row(
    to_record: Callable[..., UsageRecord],
    iccid: str | None,
    known: Mapping[str, str],
    now: datetime,
    row: Any,
) -> UsageRecord:
    owner = iccid if iccid is not None else _owner(known, row.get("linkid"))
    return to_record(owner, row, now=now)


def _owner(known: Mapping[str, str], linkid: Any) -> str:
    """The ICCID of a usage row's link; a link the account does not list fails the row."""
    iccid = known.get(str(linkid))
    if iccid is None:
        raise ValueError("usage of a link whose SIM is not listed")
    return iccid


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _window(first: datetime, last: datetime) -> dict[str, int]:
    """``timestart`` and ``timeend`` (Unix seconds) around ``[first, last)``."""
    return {"timestart": int(first.timestamp()), "timeend": int(last.timestamp())}


def _months(first: datetime, last: datetime) -> dict[str, str]:
    """``mintime`` and ``maxtime`` (``MM/DD/YYYY``) of the months meeting ``[first, last)``."""
    final = last - timedelta(microseconds=1)
    return {
        "mintime": first.replace(day=1).strftime("%m/%d/%Y"),
        "maxtime": final.strftime("%m/%d/%Y"),
    }


def _overlaps(
    begin: datetime | None, until: datetime | None, start: datetime, end: datetime
) -> bool:
    """Whether ``[begin, until)`` meets ``[start, end)`` (an open end meets what follows)."""
    if begin is None:
        return True
    return begin < end and (until is None or until > start)
