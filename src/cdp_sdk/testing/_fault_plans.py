"""The fault-free runs the fault matrix compares against, and where their pages are.

For each connector: the subscriptions listing (its result, the requests that fetch its
pages, whether pages are numbered, the records on each page) and one write (a status change
the vendor's state machine allows, else a tag update; the request it sends and its effect).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

import cdp_sdk
from cdp_sdk._facade import AsyncConnector
from cdp_sdk.models import Capability, SimStatus, Subscription
from cdp_sdk.sandbox import Fleet
from cdp_sdk.testing._emulated import EmulatedConnector, emulated_connectors
from cdp_sdk.testing._fault_transport import (
    Exchange,
    FaultTransport,
    expire_tokens,
    identifier_values,
    items_of,
    json_of,
    records_of,
    unknown_status,
)

__all__ = [
    "ListingPlan",
    "Plan",
    "WritePlan",
    "connect",
    "fresh_fleet",
    "iccid_forms",
    "plan_for",
]

FLEET_SIZE = 12
FLEET_SEED = 7
"""Twelve SIMs, served two a page (``_emulated.PAGE_SIZE``): page 3 can repeat page 1."""
MAX_RESPONSE_BYTES = 1024 * 1024
"""``max_response_bytes`` in the matrix: far above any page of the small fleet."""
TAG_KEY = "fault-matrix"


@dataclass
class ListingPlan:
    """The fault-free subscriptions listing of a connector, and where its pages are."""

    result: list[Subscription]
    key: tuple[str, str]
    pages: list[int]
    """Indices (among the requests with ``key``) of the pages that held records."""
    numbered: str | None
    """The page-number parameter, when the listing is paged by number."""
    page_records: list[frozenset[str]]
    """The ICCIDs of the SIMs on each of those pages."""
    page_statuses: list[int]
    """The HTTP status of each of those pages (ThingSpace answers 202 while more wait)."""
    target: Subscription | None
    """A SIM on the second page (its record is rewritten by some faults)."""
    target_has_status: bool
    logins: int
    tokens: bool


@dataclass
class WritePlan:
    """The fault-free write of a connector: what is called, on what, and its effect."""

    description: str
    iccid: str
    status: SimStatus | None
    """The status asked for, for a status change; ``None`` for a tag update."""
    key: tuple[str, str]
    method: str
    result: Any
    after: Any
    logins: int
    tokens: bool

    async def call(self, connector: AsyncConnector) -> Any:
        if self.status is not None:
            return _Change.of(await connector.change_status(self.iccid, self.status))
        labels_only = type(connector.plugin).tag_rules.values == "none"
        await connector.update_tags(self.iccid, {TAG_KEY: None if labels_only else "on"})
        return None

    async def effect(self, connector: AsyncConnector) -> Any:
        sim = await connector.subscription(self.iccid)
        return sim.status if self.status is not None else sorted(t.key for t in sim.tags)


@dataclass(frozen=True)
class _Change:
    """A status change as compared across runs (the vendor's request id differs)."""

    iccid: str
    requested: SimStatus
    state: str

    @classmethod
    def of(cls, change: Any) -> _Change:
        return cls(change.iccid, change.requested, change.state)


@dataclass
class Plan:
    entry: EmulatedConnector
    listing: ListingPlan | None
    write: WritePlan | None
    problem: str | None = None


class _Sleep:
    """Retries and the rate limiter wait for nothing; the waits asked for are kept."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def fresh_fleet(entry: EmulatedConnector) -> Fleet:
    """The matrix's small fleet, with the identifiers of ``entry``'s platform."""
    return Fleet(FLEET_SIZE, seed=FLEET_SEED, **entry.emulator.fleet_options)


def connect(entry: EmulatedConnector, transport: httpx.AsyncBaseTransport) -> AsyncConnector:
    connector = cdp_sdk.connect_async(
        entry.name,
        transport=transport,
        **{**entry.settings(), "max_response_bytes": MAX_RESPONSE_BYTES},
    )
    connector.plugin.http.sleep = _Sleep()
    connector.plugin.http.limiter.sleep = _Sleep()
    return connector


async def _listing_plan(entry: EmulatedConnector) -> ListingPlan:
    emulator = entry.start(fresh_fleet(entry))
    transport = FaultTransport(emulator)
    async with connect(entry, transport) as connector:
        result = [sim async for sim in connector.subscriptions()]
    first = next(exchange for exchange in transport.exchanges if not exchange.login)
    runs = [e for e in transport.exchanges if not e.login and e.key == first.key]
    numbered = _page_number_param([e.request for e in runs])
    pages = _longest_run(runs, numbered)
    by_index = {e.index: e for e in runs}
    page_records = [
        frozenset(
            sim.iccid
            for record in items_of(json_of(by_index[index].response)) or []
            if (sim := _sim_in(record, result)) is not None
        )
        for index in pages
    ]
    target = None
    if len(pages) > 1:
        second = items_of(json_of(by_index[pages[1]].response)) or []
        target = _sim_in(second[0] if second else None, result)
    has_status = False
    if target is not None:
        probe = {"body": [json_of(e.response) for e in transport.exchanges]}
        has_status = any(unknown_status(r) for r in records_of(probe, iccid_forms(target)))
    return ListingPlan(
        result=result,
        key=first.key,
        pages=pages,
        page_records=page_records,
        page_statuses=[_status(by_index[index].response) for index in pages],
        numbered=numbered,
        target=target,
        target_has_status=has_status,
        logins=transport.logins,
        tokens=expire_tokens(entry.start(fresh_fleet(entry))),
    )


def _status(response: httpx.Response | None) -> int:
    return response.status_code if response is not None else 0  # no answer: no page


def iccid_forms(sim: Subscription) -> frozenset[str]:
    """The ICCID as platforms may write it: in full, and without its check digit."""
    return frozenset({sim.iccid, sim.iccid[:-1]})


def _sim_in(record: Any, sims: Sequence[Subscription]) -> Subscription | None:
    if not isinstance(record, dict):
        return None
    values = identifier_values(record)
    for sim in sims:
        if values & (iccid_forms(sim) | {sim.id}):
            return sim
    return None


def _longest_run(exchanges: Sequence[Exchange], numbered: str | None) -> list[int]:
    """The indices of the non-empty pages of the longest single pass over the listing.

    A connector may walk a listing several times (in time windows, say); a pass starts
    with a request shaped like the very first one: the same parameters (and JSON body
    keys), and the first page number when pages are numbered. A listing that pages by a
    value in its JSON body (ThingSpace's ``largestDeviceIdSeen``) keeps its keys from page
    to page: there a pass starts with the very first body.
    """
    if not exchanges:
        return []
    first = exchanges[0].request
    passes: list[list[int]] = []
    for exchange in exchanges:
        request = exchange.request
        starts = (
            _shape(request) == _shape(first)
            and (
                numbered is None
                or request.url.params.get(numbered) == first.url.params.get(numbered)
            )
            and (numbered is not None or not first.content or request.content == first.content)
        )
        if starts or not passes:
            passes.append([])
        if items_of(json_of(exchange.response)) != []:
            passes[-1].append(exchange.index)
    return max(passes, key=len)


def _shape(request: httpx.Request) -> tuple[frozenset[str], frozenset[str]]:
    """The names of a request's query parameters and JSON body keys."""
    body: Any = None
    if request.content:
        with contextlib.suppress(ValueError):
            body = json.loads(request.content)
    keys = frozenset(body) if isinstance(body, dict) else frozenset()
    return frozenset(request.url.params.keys()), keys


def _page_number_param(requests: Sequence[httpx.Request]) -> str | None:
    """The query parameter that numbers the pages: present (as digits) in every request of
    the listing, the first included, and one higher from each request to the next that
    asks for the same thing otherwise (a listing walked in windows starts each at 1)."""
    first: dict[str, str] = dict(requests[0].url.params) if requests else {}
    for name, value in first.items():
        if not value.isdigit():
            continue
        queries: list[dict[str, str]] = [dict(request.url.params) for request in requests]
        if not all(query.get(name, "").isdigit() for query in queries):
            continue
        steps = [
            int(after[name]) - int(before[name])
            for before, after in itertools.pairwise(queries)
            if _without(before, name) == _without(after, name)
        ]
        if steps and all(step == 1 for step in steps):
            return name
    return None


def _without(query: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in query.items() if key != name}


async def _write_plan(entry: EmulatedConnector, listing: ListingPlan) -> WritePlan | None:
    chosen = await _choose_write(entry, listing.result)
    if chosen is None:
        return None
    description, iccid, status = chosen
    emulator = entry.start(fresh_fleet(entry))
    transport = FaultTransport(emulator)
    plan = WritePlan(description, iccid, status, ("", ""), "", None, None, 0, False)
    async with connect(entry, transport) as connector:
        plan.result = await plan.call(connector)
        writes = [e for e in transport.exchanges if not e.login and e.key[0] != "GET"]
        plan.logins = transport.logins
    if not writes:
        return None
    # The write is the last of them: reads made first may be POSTs too (ThingSpace looks a
    # device up with POST /devices/actions/list before it changes its state).
    plan.key, plan.method = writes[-1].key, writes[-1].key[0]
    async with connect(entry, emulator.transport()) as reader:
        plan.after = await plan.effect(reader)
    plan.tokens = listing.tokens
    return plan


async def _choose_write(
    entry: EmulatedConnector, sims: Sequence[Subscription]
) -> tuple[str, str, SimStatus | None] | None:
    """A status change the vendor's state machine allows, else a tag update."""
    capabilities = entry.connector.capabilities
    if Capability.CHANGE_STATUS in capabilities:
        async with connect(entry, entry.start(fresh_fleet(entry)).transport()) as connector:
            modes = await connector.activation_modes()
        status_of = {mode.name: mode.status for mode in modes}
        settable = {mode.name for mode in modes if mode.settable}
        for sim in sims:
            for mode in modes:
                if mode.status is not sim.status:
                    continue
                for name in mode.next:
                    target = status_of.get(name)
                    if name in settable and target not in (None, sim.status, SimStatus.RETIRED):
                        assert target is not None
                        return f"change_status(..., {target.value})", sim.iccid, target
    if Capability.UPDATE_TAGS in capabilities and sims:
        return f"update_tags(..., {{{TAG_KEY!r}: 'on'}})", sims[0].iccid, None
    return None


async def _plan(entry: EmulatedConnector) -> Plan:
    if Capability.SUBSCRIPTIONS not in entry.connector.capabilities:
        return Plan(entry, None, None, "the connector does not list subscriptions")
    listing = await _listing_plan(entry)
    return Plan(entry, listing, await _write_plan(entry, listing))


@functools.cache
def plan_for(name: str) -> Plan:
    """The fault-free runs of connector ``name`` (computed once per process)."""
    entries, _ = emulated_connectors([name])
    if not entries:
        raise LookupError(f"no emulated connector named {name!r}")
    return asyncio.run(_plan(entries[0]))
