"""A listing holds one page at a time: a page is let go before the next is requested.

Each connector's listings are read from its emulator through a transport that, when a
page of the listing is asked for, checks by weak reference that no earlier page's response
is still alive anywhere (a page's items and body go with it). The garbage collector is off
meanwhile: a page must go when its last reference does, not wait for a collection, which
comes seldom for objects that have lived through a few (a listing of emnify's pages of
2,500 SIMs held several bodies of 2 MiB at once). The core page streams (``chain_pages``,
``map_pages``) are checked on their own as well.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import AsyncConnector, Granularity
from cdp_sdk.connectors.hologram import connector as hologram
from cdp_sdk.connectors.jasper import connector as jasper
from cdp_sdk.connectors.onence import connector as onence
from cdp_sdk.connectors.soracom import connector as soracom
from cdp_sdk.connectors.supersim import connector as supersim
from cdp_sdk.http import Page, PageNumberPaginator, chain_pages, map_pages
from cdp_sdk.workspace import Account
from emulated import TODAY, emulated, pick

pytestmark = pytest.mark.frames

TODAY_UTC = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)
MONTH_AGO = TODAY_UTC - timedelta(days=30)


class Tracking(httpx.AsyncBaseTransport):
    """Counts, at each request whose path ends with ``path``, the earlier such answers
    still alive."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str) -> None:
        self.inner = inner
        self.path = path
        self.answers: list[weakref.ref[httpx.Response]] = []
        self.alive_when_asked: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        listed = request.url.path.endswith(self.path)
        if listed:
            self.alive_when_asked.append(sum(ref() is not None for ref in self.answers))
        answer = await self.inner.handle_async_request(request)
        if not listed:
            return answer
        # A copy: the emulator keeps its own last answer per path (for replay faults).
        content = await answer.aread()
        copy = httpx.Response(answer.status_code, headers=answer.headers, content=content)
        self.answers.append(weakref.ref(copy))
        return copy


async def read_all(
    account: Account, path: str, listing: Callable[[AsyncConnector], AsyncIterator[Any]]
) -> Tracking:
    """``listing`` of the emulated ``account`` read to its end, each record dropped as it
    comes, with the garbage collector off."""
    connector = account.connector
    assert isinstance(account.transport, httpx.AsyncBaseTransport)
    tracking = Tracking(account.transport, path)
    gc.collect()
    gc.disable()
    try:
        async with cdp_sdk.connect_async(connector, transport=tracking, **account.settings) as api:
            async for _ in listing(api):
                pass
    finally:
        gc.enable()
    return tracking


def one_at_a_time(tracking: Tracking, pages: int) -> None:
    assert len(tracking.alive_when_asked) >= pages, tracking.alive_when_asked
    assert tracking.alive_when_asked == [0] * len(tracking.alive_when_asked)


# -- subscriptions: every connector -------------------------------------------------------

SUBSCRIPTIONS = [  # connector, the listing's path, SIMs for three pages or more
    ("emnify", "/api/v1/sim", 45),  # pages of 20 (patched below)
    ("1nce", "/v1/sims", 201),
    ("sandbox", "/v1/sims", 1001),
    ("soracom", "/v1/sims", 201),
    ("supersim", "/v1/Sims", 45),  # pages of 20 (patched below)
    ("thingspace", "/devices/actions/list", 3001),
    ("hologram", "/links/cellular", 401),
    ("jasper", "/devices", 101),
]


@pytest.mark.parametrize(("connector", "path", "size"), SUBSCRIPTIONS)
async def test_subscriptions_hold_one_page_at_a_time(
    connector: str, path: str, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "cdp_sdk.connectors.emnify.connector.SIM_PAGES",
        PageNumberPaginator(size_param="per_page", page_size=20),
    )
    monkeypatch.setattr(supersim, "PAGE_SIZE", 20)
    account, _ = emulated(connector, size)
    tracking = await read_all(account, path, lambda api: api.subscriptions())
    one_at_a_time(tracking, 2)


async def test_thingspace_holds_one_page_across_state_listings() -> None:
    statuses = {cdp_sdk.SimStatus.ACTIVE, cdp_sdk.SimStatus.SUSPENDED}
    account, _ = emulated("thingspace", 3001)
    tracking = await read_all(
        account, "/devices/actions/list", lambda api: api.subscriptions(status=statuses)
    )
    one_at_a_time(tracking, 2)


# -- other listings through a connector's own page plumbing --------------------------------


async def test_1nce_events_hold_one_page_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onence, "EVENT_PAGE_SIZE", 1)
    account, emulator = emulated("1nce", 6)
    iccid = max(
        emulator.fleet.sorted_sims(),
        key=lambda sim: len(emulator.fleet.audit_events(iccid=sim.iccid)),
    ).iccid
    tracking = await read_all(
        account, "/events", lambda api: api.audit_events(iccid, start=None, end=None)
    )
    one_at_a_time(tracking, 2)


async def test_supersim_usage_holds_one_page_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supersim, "PAGE_SIZE", 2)
    account, _ = emulated("supersim", 6)
    tracking = await read_all(
        account, "/UsageRecords", lambda api: api.usage(granularity=Granularity.DAY)
    )
    one_at_a_time(tracking, 2)


async def test_jasper_events_hold_one_page_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        jasper,
        "PAGES",
        PageNumberPaginator(
            page_param="pageNumber",
            size_param="pageSize",
            page_size=1,
            last_page=jasper.PAGES.last_page,
        ),
    )
    account, emulator = emulated("jasper", 6)
    iccid = pick(emulator)[0].iccid
    start = datetime(2020, 1, 1, tzinfo=UTC)
    tracking = await read_all(
        account, "/auditTrails", lambda api: api.audit_events(iccid, start=start, end=None)
    )
    one_at_a_time(tracking, 2)


async def test_hologram_usage_holds_one_page_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hologram, "DAILY_PAGES", hologram.pages(2, hologram.mapping.record_id))
    account, _ = emulated("hologram", 4)  # pages of 2 rows
    tracking = await read_all(
        account,
        "/usage/data/daily",
        lambda api: api.usage(granularity=Granularity.DAY, start=MONTH_AGO, end=TODAY_UTC),
    )
    one_at_a_time(tracking, 2)


async def test_soracom_session_events_hold_one_page_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        soracom,
        "PAGINATOR",
        soracom.CursorPaginator(
            "last_evaluated_key", soracom.header_value(soracom.NEXT_KEY), "limit", 1
        ),
    )
    account, emulator = emulated("soracom", 6)
    iccid = pick(emulator)[0].iccid
    tracking = await read_all(
        account, "/events/sessions", lambda api: api.audit_events(iccid, start=None, end=None)
    )
    one_at_a_time(tracking, 2)


# -- the core page streams ------------------------------------------------------------------


class Items(list[Any]):
    """Page items a weak reference can follow."""


def pages_of(*sizes: int, log: list[str] | None = None, name: str = "") -> AsyncIterator[Page]:
    """Pages of ``sizes`` items; ``log`` records each page asked for, after a collection
    checks that no earlier page of any stream is alive (appended to ``alive``)."""

    async def stream() -> AsyncIterator[Page]:
        for number, size in enumerate(sizes):
            if log is not None:
                log.append(f"{name}{number}")
            yield Page(Items(range(size)), None, httpx.Response(200))

    return stream()


class Held:
    """Weak references to the pages handed out, and at each step how many were alive."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Any]] = []
        self.alive: list[int] = []

    def check(self) -> None:
        gc.collect()
        self.alive.append(sum(ref() is not None for ref in self.refs))


def watched(held: Held, pages: AsyncIterator[Page]) -> AsyncIterator[Page]:
    async def stream() -> AsyncIterator[Page]:
        while True:
            held.check()
            try:
                page = await anext(pages)
            except StopAsyncIteration:
                return
            held.refs.append(weakref.ref(page.items))
            yield page
            del page

    return stream()


async def test_chain_pages_runs_sources_in_turn_and_starts_them_late() -> None:
    log: list[str] = []
    started: list[str] = []

    def later() -> AsyncIterator[Page]:
        started.append("b")
        return pages_of(1, 2, log=log, name="b")

    chained = chain_pages(pages_of(3, log=log, name="a"), later, pages_of(0, log=log, name="c"))
    sizes = []
    async for page in chained:
        sizes.append(len(page.items))
        assert started == ([] if log == ["a0"] else ["b"])
    assert sizes == [3, 1, 2, 0]
    assert log == ["a0", "b0", "b1", "c0"]


async def test_chain_pages_hands_out_first_before_the_sources() -> None:
    first = Page(Items([9]), None, httpx.Response(200))
    chained = chain_pages(pages_of(2), first=first)
    assert [list(page.items) async for page in chained] == [[9], [0, 1]]


async def test_chain_pages_keeps_no_page_while_the_next_is_fetched() -> None:
    held = Held()
    first = Page(Items([9]), None, httpx.Response(200))
    held.refs.append(weakref.ref(first.items))
    chained = chain_pages(
        watched(held, pages_of(2, 2)), lambda: watched(held, pages_of(1)), first=first
    )
    del first
    async for page in chained:
        assert len(page.items) > 0
        del page
    # Asked for: the first source's two pages and its end, then the second's page and end.
    assert held.alive == [0, 0, 0, 0, 0]


async def test_map_pages_keeps_neither_page_nor_result_while_the_next_is_fetched() -> None:
    held = Held()

    async def doubled(page: Page) -> Items:
        result = Items([*page.items, *page.items])
        held.refs.append(weakref.ref(result))
        return result

    results = []
    async for items in map_pages(watched(held, pages_of(1, 2, 3)), doubled):
        results.append(len(items))
        del items
    assert results == [2, 4, 6]
    assert held.alive == [0, 0, 0, 0]


async def test_closing_closes_the_streams_of_chain_pages_and_map_pages() -> None:
    closed: list[str] = []

    def tracked(name: str) -> AsyncIterator[Page]:
        async def stream() -> AsyncIterator[Page]:
            try:
                yield Page(Items([1]), None, httpx.Response(200))
                yield Page(Items([2]), None, httpx.Response(200))
            finally:
                closed.append(name)

        return stream()

    later = tracked("b")
    chained = chain_pages(tracked("a"), later)
    await anext(chained)
    await chained.aclose()  # type: ignore[attr-defined]
    assert closed == ["a"]
    with pytest.raises(StopAsyncIteration):  # closed before it started
        await anext(later)

    async def fails(page: Page) -> Page:
        raise ValueError("no")

    mapped = map_pages(tracked("c"), fails)
    with pytest.raises(ValueError, match="no"):
        await anext(mapped)
    assert closed[-1] == "c"


class Plain(AsyncIterator[Page]):
    """A stream of pages that is an iterator only: no ``aclose``."""

    def __init__(self, *sizes: int) -> None:
        self.sizes = list(sizes)

    async def __anext__(self) -> Page:
        if not self.sizes:
            raise StopAsyncIteration
        return Page(Items(range(self.sizes.pop(0))), None, httpx.Response(200))


async def test_a_closed_chain_ends_whatever_it_held_and_takes_streams_without_aclose() -> None:
    first = Page(Items([9]), None, httpx.Response(200))
    chained = chain_pages(Plain(1, 2), Plain(3), first=first)
    await chained.aclose()  # type: ignore[attr-defined]
    with pytest.raises(StopAsyncIteration):  # neither the first page nor a source's
        await anext(chained)

    chained = chain_pages(Plain(1, 2), Plain(3))
    assert len((await anext(chained)).items) == 1
    await chained.aclose()  # type: ignore[attr-defined]
    with pytest.raises(StopAsyncIteration):
        await anext(chained)
    mapped = map_pages(Plain(1), lambda page: asyncio.sleep(0, page))
    await mapped.aclose()  # type: ignore[attr-defined]
