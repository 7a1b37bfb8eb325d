"""Paginators driven through ``HttpClient.paginate`` against in-process fake APIs."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from operator import itemgetter
from typing import Any

import httpx
import pytest

from cdp_sdk.errors import UnexpectedResponseError
from cdp_sdk.http import (
    CursorPaginator,
    HasMorePaginator,
    HttpClient,
    ListingGuard,
    NextUrlPaginator,
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    SinglePage,
    StartAfterPaginator,
    body_field,
    header_value,
    read_count,
    read_flag,
)

BASE = "https://api.example.test"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """A mock transport handler that logs every request it receives."""

    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def params(self) -> list[dict[str, str]]:
        return [dict(request.url.params) for request in self.requests]


MakeClient = Callable[[Handler], HttpClient]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[HttpClient] = []

    def make(handler: Handler) -> HttpClient:
        client = HttpClient(connector="test", base_url=BASE, transport=httpx.MockTransport(handler))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def collect(client: HttpClient, paginator: Paginator, path: str, **kwargs: Any) -> list[Page]:
    return [page async for page in client.paginate(paginator, path, **kwargs)]


async def drain(
    into: list[Page], client: HttpClient, paginator: Paginator, path: str, **kwargs: Any
) -> None:
    """Like :func:`collect`, but keeps the pages yielded before an error in ``into``."""
    async for page in client.paginate(paginator, path, **kwargs):
        into.append(page)


def flat(pages: Sequence[Page]) -> list[Any]:
    return [item for page in pages for item in page.items]


def ids(*numbers: int) -> list[dict[str, int]]:
    return [{"id": n} for n in numbers]


# --- page number ------------------------------------------------------------------------


@pytest.mark.parametrize(("more", "last"), [(False, True), ("false", "true")])
async def test_page_number_with_last_page_flag_in_body(
    make_client: MakeClient, more: Any, last: Any
) -> None:
    # Jasper: {"devices": [...], "pageNumber": 1, "lastPage": false}
    pages = {1: ids(1, 2), 2: ids(3, 4), 3: ids(5)}

    def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["pageNumber"])
        return httpx.Response(
            200,
            json={
                "devices": pages[number],
                "pageNumber": number,
                "lastPage": last if number == 3 else more,
            },
        )

    api = FakeApi(respond)
    paginator = PageNumberPaginator(
        page_param="pageNumber",
        size_param="pageSize",
        page_size=2,
        last_page=body_field("lastPage"),
    )
    result = await collect(
        make_client(api),
        paginator,
        "/rws/api/v1/devices",
        items="devices",
        params={"modifiedSince": "2024-01-01T00:00:00Z"},
    )

    assert flat(result) == ids(1, 2, 3, 4, 5)
    assert [request.url.path for request in api.requests] == ["/rws/api/v1/devices"] * 3
    assert api.params == [
        {"modifiedSince": "2024-01-01T00:00:00Z", "pageNumber": str(n), "pageSize": "2"}
        for n in (1, 2, 3)
    ]


def test_last_page_flag_wins_over_a_full_page() -> None:
    # A full page with lastPage=true ends the list without an extra request.
    paginator = PageNumberPaginator(page_size=2, last_page=body_field("lastPage"))
    request = paginator.first(PageRequest("/x"))
    response = httpx.Response(200, request=httpx.Request("GET", BASE + "/x"))
    assert paginator.next(request, response, {"lastPage": True}, ids(1, 2)) is None
    assert paginator.next(request, response, {"lastPage": False}, ids(1, 2)) == PageRequest(
        "/x", {"page": 2, "per_page": 2}
    )


@pytest.mark.parametrize("header", ["X-Total-Pages", "x-total-pages"])
async def test_page_number_with_total_pages_header(make_client: MakeClient, header: str) -> None:
    # emnify / 1NCE: page + per_page, X-Total-Pages says when to stop (header case varies).
    pages = {1: ids(1, 2), 2: ids(3, 4), 3: ids(5, 6)}

    def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        return httpx.Response(200, json=pages[number], headers={header: "3", "X-Total-Count": "6"})

    api = FakeApi(respond)
    paginator = PageNumberPaginator(page_size=2, total_pages=header_value("X-Total-Pages"))
    result = await collect(make_client(api), paginator, "/api/v1/sim")

    # Every page is full, so only the header can stop the listing after page 3.
    assert flat(result) == ids(1, 2, 3, 4, 5, 6)
    assert api.params == [{"page": str(n), "per_page": "2"} for n in (1, 2, 3)]


async def test_page_number_zero_based_with_total_pages(make_client: MakeClient) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["p"])
        return httpx.Response(200, json={"items": ids(number)}, headers={"X-Total-Pages": "2"})

    api = FakeApi(respond)
    paginator = PageNumberPaginator(
        page_param="p", size_param=None, first_page=0, total_pages=header_value("X-Total-Pages")
    )
    result = await collect(make_client(api), paginator, "/list", items="items")

    assert flat(result) == ids(0, 1)
    assert api.params == [{"p": "0"}, {"p": "1"}]


async def test_page_number_without_end_signal_stops_on_short_page(
    make_client: MakeClient,
) -> None:
    pages = {1: ids(1, 2, 3), 2: ids(4, 5, 6), 3: ids(7)}
    api = FakeApi(lambda r: httpx.Response(200, json=pages[int(r.url.params["page"])]))
    paginator = PageNumberPaginator(size_param="pageSize", page_size=3)

    result = await collect(make_client(api), paginator, "/v1/sims")

    assert flat(result) == ids(1, 2, 3, 4, 5, 6, 7)
    assert api.params == [{"page": str(n), "pageSize": "3"} for n in (1, 2, 3)]


async def test_page_number_stops_on_empty_page(make_client: MakeClient) -> None:
    # Full pages all the way: only the empty page ends the listing.
    pages = {1: ids(1, 2), 2: ids(3, 4), 3: []}
    api = FakeApi(lambda r: httpx.Response(200, json={"sims": pages[int(r.url.params["page"])]}))

    result = await collect(
        make_client(api), PageNumberPaginator(page_size=2), "/v1/sims", items="sims"
    )

    assert [page.items for page in result] == [ids(1, 2), ids(3, 4), []]
    assert len(api.requests) == 3


@pytest.mark.parametrize("total_pages", [None, "5"])
async def test_page_number_clamped_out_of_range_page_is_a_loop(
    make_client: MakeClient, total_pages: str | None
) -> None:
    # emnify answers a page out of range with the last page instead of an error.
    pages = {1: ids(1, 2), 2: ids(3, 4)}

    def respond(request: httpx.Request) -> httpx.Response:
        number = min(int(request.url.params["page"]), 2)
        headers = {"X-Total-Pages": total_pages} if total_pages else {}
        return httpx.Response(200, json=pages[number], headers=headers)

    api = FakeApi(respond)
    paginator = PageNumberPaginator(page_size=2, total_pages=header_value("X-Total-Pages"))
    pages_seen: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        await drain(pages_seen, make_client(api), paginator, "/api/v1/sim")

    # The repeated page is never yielded.
    assert flat(pages_seen) == ids(1, 2, 3, 4)
    assert len(api.requests) == 3


# --- offset and limit -------------------------------------------------------------------


def offset_api(
    items: list[dict[str, int]],
    *,
    total: Any = "items",
    short: int = 0,
    names: tuple[str, str] = ("offset", "limit"),
) -> FakeApi:
    """``?offset=&limit=`` (or other ``names``) over ``items``; ``total``: the count
    announced in the body (``"items"``: the true count, ``None``: none); ``short``: items
    withheld from each page (a vendor returning fewer than asked)."""

    def respond(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params[names[0]])
        limit = int(request.url.params.get(names[1], 100)) - short
        body: dict[str, Any] = {"data": items[offset : offset + limit]}
        if total is not None:
            body["total"] = len(items) if total == "items" else total
        return httpx.Response(200, json=body)

    return FakeApi(respond)


async def test_offset_with_a_total_ends_on_the_total(make_client: MakeClient) -> None:
    api = offset_api(ids(1, 2, 3, 4))  # full pages all the way: only the total can stop it
    paginator = OffsetPaginator(page_size=2, total=body_field("total"))
    result = await collect(make_client(api), paginator, "/v1/sims", items="data")

    assert flat(result) == ids(1, 2, 3, 4)
    assert api.params == [{"offset": "0", "limit": "2"}, {"offset": "2", "limit": "2"}]


async def test_offset_counts_the_items_received_not_the_limit(make_client: MakeClient) -> None:
    # The vendor sends fewer than asked (3 of 4) although more follow: nothing is skipped.
    api = offset_api(ids(*range(1, 8)), short=1)
    paginator = OffsetPaginator(page_size=4, total=body_field("total"))
    result = await collect(make_client(api), paginator, "/v1/sims", items="data")

    assert flat(result) == ids(*range(1, 8))
    assert [p["offset"] for p in api.params] == ["0", "3", "6"]


async def test_offset_without_a_total_ends_on_a_short_page(make_client: MakeClient) -> None:
    api = offset_api(ids(1, 2, 3, 4, 5), total=None, names=("start", "count"))
    paginator = OffsetPaginator("start", "count", page_size=2)
    result = await collect(make_client(api), paginator, "/x", items="data")
    assert flat(result) == ids(1, 2, 3, 4, 5)
    assert api.params == [{"start": str(n), "count": "2"} for n in (0, 2, 4)]


async def test_offset_without_a_total_or_size_ends_on_an_empty_page(
    make_client: MakeClient,
) -> None:
    api = offset_api(ids(1, 2, 3), total=None)
    paginator = OffsetPaginator(limit_param=None)
    result = await collect(make_client(api), paginator, "/x", items="data")
    assert [page.items for page in result] == [ids(1, 2, 3), []]
    assert api.params == [{"offset": "0"}, {"offset": "3"}]


async def test_offset_a_short_page_does_not_end_a_listing_with_a_total(
    make_client: MakeClient,
) -> None:
    pages = {0: ids(1, 2), 2: ids(3), 3: ids(4, 5)}
    api = FakeApi(
        lambda r: httpx.Response(200, json={"data": pages[int(r.url.params["offset"])], "total": 5})
    )
    paginator = OffsetPaginator(page_size=2, total=body_field("total"))
    result = await collect(make_client(api), paginator, "/x", items="data")
    assert flat(result) == ids(1, 2, 3, 4, 5)


async def test_offset_an_empty_page_before_the_total_raises(make_client: MakeClient) -> None:
    api = offset_api(ids(1, 2), total=5)  # claims 5, holds 2
    paginator = OffsetPaginator(page_size=2, total=body_field("total"))
    seen: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="the paging signal cannot be followed"):
        await drain(seen, make_client(api), paginator, "/v1/sims", items="data")
    assert flat(seen) == ids(1, 2)  # what came before the bad page, then the error


@pytest.mark.parametrize("total", ["many", -1, 2.5, True])
async def test_offset_an_unreadable_total_raises(make_client: MakeClient, total: Any) -> None:
    api = offset_api(ids(1, 2, 3), total=total)
    paginator = OffsetPaginator(page_size=2, total=body_field("total"))
    with pytest.raises(UnexpectedResponseError, match="paging signal"):
        await collect(make_client(api), paginator, "/x", items="data")


def test_offset_from_one_with_a_total_header() -> None:
    paginator = OffsetPaginator(start=1, page_size=2, total=header_value("X-Total-Count"))
    first = paginator.first(PageRequest("/x"))
    assert first.params == {"offset": 1, "limit": 2}
    response = httpx.Response(200, headers={"X-Total-Count": "3"})
    second = paginator.next(first, response, None, ids(1, 2))
    assert second == PageRequest("/x", {"offset": 3, "limit": 2})
    assert paginator.next(second, response, None, ids(3)) is None


# --- cursor -----------------------------------------------------------------------------


async def test_cursor_in_response_header(make_client: MakeClient) -> None:
    # Soracom: limit + last_evaluated_key, the next key comes in x-soracom-next-key.
    pages = {None: (ids(1, 2), "k-2"), "k-2": (ids(3, 4), "k-4"), "k-4": (ids(5), None)}

    def respond(request: httpx.Request) -> httpx.Response:
        items, next_key = pages[request.url.params.get("last_evaluated_key")]
        headers = {"x-soracom-next-key": next_key} if next_key else {}
        return httpx.Response(200, json=items, headers=headers)

    api = FakeApi(respond)
    paginator = CursorPaginator(
        "last_evaluated_key",
        header_value("x-soracom-next-key"),
        size_param="limit",
        page_size=2,
    )
    result = await collect(make_client(api), paginator, "/v1/sims")

    assert flat(result) == ids(1, 2, 3, 4, 5)
    assert api.params == [
        {"limit": "2"},
        {"limit": "2", "last_evaluated_key": "k-2"},
        {"limit": "2", "last_evaluated_key": "k-4"},
    ]


@pytest.mark.parametrize("end", [None, "", "absent"])
async def test_cursor_in_body_field(make_client: MakeClient, end: str | None) -> None:
    # Onomondo: {"sims": [...], "next_page": "<opaque cursor>"}; the end is a null,
    # an empty or a missing cursor.
    def respond(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("next_page")
        if cursor is None:
            return httpx.Response(200, json={"sims": ids(1, 2), "next_page": "MDAy=="})
        body: dict[str, Any] = {"sims": ids(3)}
        if end != "absent":
            body["next_page"] = end
        return httpx.Response(200, json=body)

    api = FakeApi(respond)
    paginator = CursorPaginator("next_page", body_field("next_page"))
    result = await collect(make_client(api), paginator, "/sims", items="sims", params={"limit": 2})

    assert flat(result) == ids(1, 2, 3)
    assert api.params == [{"limit": "2"}, {"limit": "2", "next_page": "MDAy=="}]


async def test_cursor_repeated_is_a_loop(make_client: MakeClient) -> None:
    # The server hands out the same cursor forever.
    api = FakeApi(
        lambda r: httpx.Response(
            200, json=ids(len(r.url.params)), headers={"x-next": "same-cursor"}
        )
    )
    paginator = CursorPaginator("cursor", header_value("x-next"))

    with pytest.raises(UnexpectedResponseError, match="repeated a page") as caught:
        await collect(make_client(api), paginator, "/v1/sims")

    assert caught.value.connector == "test"
    # Page one (no cursor), page two (cursor), then the repeat is refused before sending.
    assert api.params == [{}, {"cursor": "same-cursor"}]


async def test_cursor_cycle_over_several_pages_is_a_loop(make_client: MakeClient) -> None:
    # a -> b -> a: the cursor repeats two pages later, with different items in between.
    cursors = {None: "a", "a": "b", "b": "a"}
    api = FakeApi(
        lambda r: httpx.Response(
            200,
            json={
                "items": [r.url.params.get("c", "first")],
                "next": cursors[r.url.params.get("c")],
            },
        )
    )
    with pytest.raises(UnexpectedResponseError):
        await collect(
            make_client(api), CursorPaginator("c", body_field("next")), "/x", items="items"
        )
    assert api.params == [{}, {"c": "a"}, {"c": "b"}]


# --- next URL ---------------------------------------------------------------------------


async def test_next_url_in_body(make_client: MakeClient) -> None:
    # Twilio: meta.next_page_url is absolute, on the same host, and carries PageToken.
    next_urls = {
        None: f"{BASE}/v1/Sims?PageSize=2&Page=1&PageToken=PA%2Babc",
        "PA+abc": f"{BASE}/v1/Sims?PageSize=2&Page=2&PageToken=PAdef",
        "PAdef": None,
    }
    items = {None: ids(1, 2), "PA+abc": ids(3, 4), "PAdef": ids(5)}

    def respond(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("PageToken")
        return httpx.Response(
            200,
            json={"sims": items[token], "meta": {"key": "sims", "next_page_url": next_urls[token]}},
        )

    api = FakeApi(respond)
    paginator = NextUrlPaginator(body_field("meta.next_page_url"))
    result = await collect(
        make_client(api), paginator, "/v1/Sims", items="sims", params={"PageSize": 2}
    )

    assert flat(result) == ids(1, 2, 3, 4, 5)
    # The next URL is followed as given: its own query, nothing of ours added or dropped.
    assert [str(request.url) for request in api.requests] == [
        f"{BASE}/v1/Sims?PageSize=2",
        f"{BASE}/v1/Sims?PageSize=2&Page=1&PageToken=PA%2Babc",
        f"{BASE}/v1/Sims?PageSize=2&Page=2&PageToken=PAdef",
    ]


async def test_next_url_relative_is_resolved_against_the_response(
    make_client: MakeClient,
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if "after" in request.url.params:
            return httpx.Response(200, json={"data": ids(2), "links": {"next": None}})
        return httpx.Response(200, json={"data": ids(1), "links": {"next": "/api/1/x?after=1"}})

    api = FakeApi(respond)
    result = await collect(
        make_client(api), NextUrlPaginator(body_field("links.next")), "/api/1/x", items="data"
    )

    assert flat(result) == ids(1, 2)
    assert str(api.requests[1].url) == f"{BASE}/api/1/x?after=1"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example.test/v1/Sims?Page=1",
        "//evil.example.test/v1/Sims?Page=1",
        "http://api.example.test/v1/Sims?Page=1",  # a downgrade to plain http
        "https://api.example.test:8443/v1/Sims?Page=1",
    ],
)
async def test_next_url_to_another_origin_is_refused(
    make_client: MakeClient, next_url: str
) -> None:
    api = FakeApi(
        lambda r: httpx.Response(200, json={"sims": ids(1), "meta": {"next_page_url": next_url}})
    )
    pages: list[Page] = []
    paginator = NextUrlPaginator(body_field("meta.next_page_url"))
    with pytest.raises(UnexpectedResponseError, match="another host"):
        await drain(pages, make_client(api), paginator, "/v1/Sims", items="sims")

    assert flat(pages) == ids(1)
    # Nothing was sent anywhere but the configured host.
    assert [request.url.host for request in api.requests] == ["api.example.test"]
    assert len(api.requests) == 1


async def test_next_url_repeated_is_a_loop(make_client: MakeClient) -> None:
    loop_url = f"{BASE}/v1/Sims?Page=1&PageToken=PAloop"
    api = FakeApi(
        lambda r: httpx.Response(
            200,
            json={"sims": [str(r.url)], "meta": {"next_page_url": loop_url}},
        )
    )
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        await collect(
            make_client(api),
            NextUrlPaginator(body_field("meta.next_page_url")),
            "/v1/Sims",
            items="sims",
        )
    assert len(api.requests) == 2


# --- start after ------------------------------------------------------------------------


async def test_start_after_id_with_continues_flag(make_client: MakeClient) -> None:
    # Hologram: limit + startafter=<last id>; "continues" is present while more exist.
    pages = {None: ids(9, 8), "8": ids(7, 6), "6": ids(5)}

    def respond(request: httpx.Request) -> httpx.Response:
        data = pages[request.url.params.get("startafter")]
        body: dict[str, Any] = {"success": True, "limit": 2, "size": len(data), "data": data}
        if data[-1]["id"] > 5:
            body["continues"] = True
        return httpx.Response(200, json=body)

    api = FakeApi(respond)
    paginator = StartAfterPaginator(
        "startafter",
        item_id=lambda item: item["id"],
        continues=body_field("continues"),
        size_param="limit",
        page_size=2,
    )
    result = await collect(
        make_client(api), paginator, "/api/1/links/cellular", items="data", params={"orgid": 42}
    )

    assert flat(result) == ids(9, 8, 7, 6, 5)
    assert api.params == [
        {"orgid": "42", "limit": "2"},
        {"orgid": "42", "limit": "2", "startafter": "8"},
        {"orgid": "42", "limit": "2", "startafter": "6"},
    ]


async def test_start_after_without_flag_stops_on_empty_page(make_client: MakeClient) -> None:
    pages = {None: ids(1, 2), "2": ids(3), "3": []}
    api = FakeApi(lambda r: httpx.Response(200, json={"data": pages[r.url.params.get("after")]}))
    paginator = StartAfterPaginator("after", item_id=lambda item: item["id"])

    result = await collect(make_client(api), paginator, "/x", items="data")

    assert [page.items for page in result] == [ids(1, 2), ids(3), []]
    assert api.params == [{}, {"after": "2"}, {"after": "3"}]


async def test_start_after_ignored_by_server_is_a_loop(make_client: MakeClient) -> None:
    # The server ignores startafter and serves the first page again.
    api = FakeApi(lambda r: httpx.Response(200, json={"data": ids(1, 2), "continues": True}))
    paginator = StartAfterPaginator(
        "startafter", item_id=lambda item: item["id"], continues=body_field("continues")
    )
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        await collect(make_client(api), paginator, "/api/1/devices", items="data")
    assert len(api.requests) == 2


# --- has more ---------------------------------------------------------------------------


def advance_largest_id(
    request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
) -> PageRequest:
    return PageRequest(request.url, request.params, {**request.json, "lastSeen": items[-1]["id"]})


async def test_has_more_flag_in_body(make_client: MakeClient) -> None:
    # ThingSpace style: POST a filter, {"hasMoreData": true, "devices": [...]}.
    def respond(request: httpx.Request) -> httpx.Response:
        last_seen = json.loads(request.content).get("lastSeen", 0)
        devices = [d for d in ids(1, 2, 3, 4, 5) if d["id"] > last_seen][:2]
        return httpx.Response(200, json={"hasMoreData": devices[-1]["id"] < 5, "devices": devices})

    api = FakeApi(respond)
    paginator = HasMorePaginator(body_field("hasMoreData"), advance_largest_id)
    result = await collect(
        make_client(api),
        paginator,
        "/api/m2m/v1/devices/actions/list",
        method="POST",
        json={"accountName": "0000123456-00001"},
        items="devices",
        idempotent=True,
    )

    assert flat(result) == ids(1, 2, 3, 4, 5)
    assert [request.method for request in api.requests] == ["POST"] * 3
    assert [json.loads(request.content) for request in api.requests] == [
        {"accountName": "0000123456-00001"},
        {"accountName": "0000123456-00001", "lastSeen": 2},
        {"accountName": "0000123456-00001", "lastSeen": 4},
    ]


@pytest.mark.parametrize("more_on_202", [True, False])
async def test_has_more_http_202_means_more_data(
    make_client: MakeClient, more_on_202: bool
) -> None:
    # HTTP 202 with no flag in the body means "more data" unless switched off.
    def respond(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        status = 202 if offset < 4 else 200
        return httpx.Response(status, json={"records": ids(offset + 1, offset + 2)})

    def advance(
        request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest:
        return request.with_params(offset=items[-1]["id"])

    api = FakeApi(respond)
    paginator = HasMorePaginator(body_field("hasMoreData"), advance, more_on_202=more_on_202)
    result = await collect(make_client(api), paginator, "/usage", items="records")

    if more_on_202:
        assert flat(result) == ids(1, 2, 3, 4, 5, 6)
        assert api.params == [{}, {"offset": "2"}, {"offset": "4"}]
        assert [page.response.status_code for page in result] == [202, 202, 200]
    else:
        assert flat(result) == ids(1, 2)
        assert len(api.requests) == 1


async def test_has_more_without_progress_is_a_loop(make_client: MakeClient) -> None:
    # advance() produces the same request again: refused before it is sent twice.
    api = FakeApi(lambda r: httpx.Response(200, json={"hasMoreData": True, "d": ids(1)}))
    paginator = HasMorePaginator(body_field("hasMoreData"), lambda req, *_: req)

    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        await collect(make_client(api), paginator, "/x", items="d")
    assert len(api.requests) == 1


async def test_has_more_on_an_empty_page_it_cannot_advance_from_raises(
    make_client: MakeClient,
) -> None:
    # hasMoreData with no device to take the largest id from: not an end, not followable.
    api = FakeApi(lambda r: httpx.Response(200, json={"hasMoreData": True, "devices": []}))
    paginator = HasMorePaginator(body_field("hasMoreData"), advance_largest_id)
    pages: list[Page] = []

    with pytest.raises(UnexpectedResponseError, match="paging signal cannot be followed"):
        await drain(pages, make_client(api), paginator, "/x", items="devices", json={})

    assert [page.items for page in pages] == [[]]
    assert len(api.requests) == 1


async def test_next_url_follows_an_empty_page_until_the_url_repeats(
    make_client: MakeClient,
) -> None:
    # A next URL is an explicit end signal: an empty page that names one is followed, and a
    # URL named twice is a loop.
    api = FakeApi(lambda r: httpx.Response(200, json={"items": [], "next": "/x?c=1"}))
    with pytest.raises(UnexpectedResponseError, match="repeated"):
        await collect(make_client(api), NextUrlPaginator(body_field("next")), "/x", items="items")
    assert [request.url.raw_path for request in api.requests] == [b"/x", b"/x?c=1"]


# --- what every paginator shares --------------------------------------------------------


async def test_pages_are_streamed_one_request_at_a_time(make_client: MakeClient) -> None:
    api = FakeApi(
        lambda r: httpx.Response(
            200, json=ids(int(r.url.params["page"])) if r.url.params["page"] != "4" else []
        )
    )
    pages = make_client(api).paginate(PageNumberPaginator(), "/v1/sims")

    assert len(api.requests) == 0  # nothing is sent before iteration starts
    first = await anext(pages)
    assert first.items == ids(1)
    assert len(api.requests) == 1  # the second page waits until the first was consumed
    second = await anext(pages)
    assert second.items == ids(2)
    assert len(api.requests) == 2
    rest = [page.items async for page in pages]
    assert rest == [ids(3), []]
    assert len(api.requests) == 4


class Items(list[Any]):
    """A page's items that a weak reference can follow."""


@pytest.mark.frames
async def test_a_page_is_let_go_before_the_next_is_fetched(make_client: MakeClient) -> None:
    held: list[weakref.ref[Any]] = []
    alive_when_asked: list[bool] = []

    def respond(request: httpx.Request) -> httpx.Response:
        gc.collect()
        alive_when_asked.append(any(ref() is not None for ref in held))
        number = int(request.url.params["page"])
        return httpx.Response(200, json=ids(number) if number < 3 else [])

    pages = make_client(FakeApi(respond)).paginate(PageNumberPaginator(), "/v1/sims", items=Items)
    async for page in pages:
        held += [weakref.ref(page.items), weakref.ref(page.response)]
        del page
    assert alive_when_asked == [False, False, False]


@pytest.mark.frames
async def test_a_page_is_not_held_while_the_caller_reads_it(make_client: MakeClient) -> None:
    # The caller maps a page and drops it: the listing keeps nothing of it meanwhile (the
    # caller's records and the page's decoded body would be alive at once).
    alive_while_read: list[bool] = []

    def respond(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        return httpx.Response(200, json=ids(number) if number < 3 else [])

    pages = make_client(FakeApi(respond)).paginate(PageNumberPaginator(), "/v1/sims", items=Items)
    async for page in pages:
        held = [weakref.ref(page.items), weakref.ref(page.response)]
        del page
        gc.collect()
        alive_while_read.append(any(ref() is not None for ref in held))
    assert alive_while_read == [False, False, False]


async def test_stopping_early_sends_no_further_request(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=ids(int(r.url.params["page"]))))
    pages = make_client(api).paginate(PageNumberPaginator(), "/v1/sims")
    async for page in pages:
        if page.items == ids(2):
            break
    await pages.aclose()
    assert len(api.requests) == 2


STYLES = [
    PageNumberPaginator(page_size=2, last_page=body_field("last")),
    PageNumberPaginator(page_size=2, total_pages=body_field("pages")),
    PageNumberPaginator(page_size=2),
    CursorPaginator("c", body_field("next")),
    NextUrlPaginator(body_field("next")),
    StartAfterPaginator("after", item_id=lambda item: item["id"], continues=body_field("more")),
    StartAfterPaginator("after", item_id=lambda item: item["id"]),
    HasMorePaginator(body_field("more"), lambda req, *_: req.with_params(x=1)),
    SinglePage(),
]


@pytest.mark.parametrize("paginator", STYLES, ids=lambda p: type(p).__name__)
async def test_an_empty_page_that_signals_the_end_ends_every_style(
    make_client: MakeClient, paginator: Paginator
) -> None:
    body = {"items": [], "next": None, "more": False, "last": True, "pages": 1}
    api = FakeApi(lambda r: httpx.Response(200, json=body))
    result = await collect(make_client(api), paginator, "/x", items="items")

    assert [page.items for page in result] == [[]]
    assert len(api.requests) == 1


def numbered(request: httpx.Request) -> int:
    return int(request.url.params.get("page", "1"))


@pytest.mark.parametrize(
    ("paginator", "respond"),
    [
        pytest.param(
            PageNumberPaginator(page_size=2, last_page=body_field("lastPage")),
            lambda r: {
                "d": {1: ids(1, 2), 2: [], 3: ids(3)}[numbered(r)],
                "lastPage": numbered(r) == 3,
            },
            id="page-number-last-page-flag",
        ),
        pytest.param(
            PageNumberPaginator(page_size=2, total_pages=body_field("total")),
            lambda r: {"d": {1: ids(1, 2), 2: [], 3: ids(3)}[numbered(r)], "total": "3"},
            id="page-number-total-pages",
        ),
        pytest.param(
            CursorPaginator("c", body_field("next")),
            lambda r: {
                None: {"d": ids(1, 2), "next": "k1"},
                "k1": {"d": [], "next": "k2"},
                "k2": {"d": ids(3), "next": None},
            }[r.url.params.get("c")],
            id="cursor",
        ),
        pytest.param(
            NextUrlPaginator(body_field("next")),
            lambda r: {
                None: {"d": ids(1, 2), "next": "/x?c=k1"},
                "k1": {"d": [], "next": "/x?c=k2"},
                "k2": {"d": ids(3)},
            }[r.url.params.get("c")],
            id="next-url",
        ),
        pytest.param(
            HasMorePaginator(
                body_field("more"),
                lambda req, *_: req.with_params(after=req.params.get("after", 0) + 1),
            ),
            lambda r: {
                None: {"d": ids(1, 2), "more": True},
                "1": {"d": [], "more": True},
                "2": {"d": ids(3)},
            }[r.url.params.get("after")],
            id="has-more",
        ),
    ],
)
async def test_an_empty_page_in_the_middle_that_claims_more_is_followed(
    make_client: MakeClient, paginator: Paginator, respond: Callable[[httpx.Request], Any]
) -> None:
    # The vendor's end signal decides, not the empty page: the listing goes on to page 3.
    api = FakeApi(lambda r: httpx.Response(200, json=respond(r)))
    result = await collect(make_client(api), paginator, "/x", items="d")

    assert [page.items for page in result] == [ids(1, 2), [], ids(3)]
    assert len(api.requests) == 3


async def test_page_number_follows_empty_pages_up_to_the_announced_total(
    make_client: MakeClient,
) -> None:
    pages = {1: ids(1, 2), 2: [], 3: [], 4: ids(3)}
    api = FakeApi(
        lambda r: httpx.Response(200, json=pages[numbered(r)], headers={"X-Total-Pages": "4"})
    )
    paginator = PageNumberPaginator(page_size=2, total_pages=header_value("X-Total-Pages"))

    result = await collect(make_client(api), paginator, "/api/v1/sim")

    assert flat(result) == ids(1, 2, 3)
    assert api.params == [{"page": str(n), "per_page": "2"} for n in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    ("paginator", "body"),
    [
        pytest.param(
            StartAfterPaginator("after", item_id=lambda i: i["id"], continues=body_field("more")),
            {"d": [], "more": True},
            id="start-after-continues",
        ),
        pytest.param(
            HasMorePaginator(body_field("more"), advance_largest_id),
            {"d": [], "more": True},
            id="has-more-largest-id",
        ),
    ],
)
async def test_an_empty_page_that_claims_more_but_cannot_be_followed_raises(
    make_client: MakeClient, paginator: Paginator, body: dict[str, Any]
) -> None:
    served: list[int] = []

    def respond(request: httpx.Request) -> httpx.Response:
        served.append(1)
        return httpx.Response(
            200, json={"d": ids(1, 2), "more": True} if len(served) == 1 else body
        )

    api = FakeApi(respond)
    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="cannot be followed") as caught:
        await drain(pages, make_client(api), paginator, "/x", items="d", json={})

    assert caught.value.connector == "test"
    assert caught.value.status_code == 200
    assert [page.items for page in pages] == [ids(1, 2), []]


async def test_an_empty_page_whose_cursor_does_not_advance_is_a_loop(
    make_client: MakeClient,
) -> None:
    # An empty page hands back the cursor that fetched it: it cannot advance.
    api = FakeApi(
        lambda r: httpx.Response(
            200, json={"d": [] if r.url.params.get("c") else ids(1), "next": "k1"}
        )
    )
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        await collect(make_client(api), CursorPaginator("c", body_field("next")), "/x", items="d")
    assert api.params == [{}, {"c": "k1"}]


async def test_endless_empty_pages_that_claim_more_raise(make_client: MakeClient) -> None:
    # lastPage stays false while nothing comes: bounded by max_empty_pages.
    api = FakeApi(
        lambda r: httpx.Response(200, json={"d": ids(1) if numbered(r) == 1 else [], "last": False})
    )
    paginator = PageNumberPaginator(page_size=1, last_page=body_field("last"))
    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="3 empty pages in a row"):
        await drain(pages, make_client(api), paginator, "/x", items="d", max_empty_pages=3)

    assert flat(pages) == ids(1)
    assert len(api.requests) == 4


async def test_the_default_bound_on_empty_pages(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json={"d": [], "last": "false"}))
    paginator = PageNumberPaginator(last_page=body_field("last"))
    with pytest.raises(UnexpectedResponseError, match="50 empty pages in a row"):
        await collect(make_client(api), paginator, "/x", items="d")
    assert len(api.requests) == 50


# --- the loop guard over the whole listing ----------------------------------------------


@pytest.mark.parametrize(
    ("served", "expected_pages"),
    [
        ({1: ids(1, 2), 2: ids(3, 4), 3: ids(1, 2)}, 2),  # page 1 again as page 3
        ({1: ids(1, 2), 2: ids(3, 4), 3: ids(5, 6), 4: ids(3, 4)}, 3),  # page 2 again as page 4
    ],
    ids=["page-1-as-page-3", "page-2-as-page-4"],
)
async def test_a_page_served_again_later_is_a_loop(
    make_client: MakeClient, served: dict[int, list[Any]], expected_pages: int
) -> None:
    # The requests all differ (page numbers), but a page's items come back later on.
    api = FakeApi(
        lambda r: httpx.Response(200, json=served[numbered(r)], headers={"X-Total-Pages": "9"})
    )
    paginator = PageNumberPaginator(page_size=2, total_pages=header_value("X-Total-Pages"))
    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="repeated a page") as caught:
        await drain(pages, make_client(api), paginator, "/api/v1/sim")

    assert len(pages) == expected_pages  # the repeated page is never yielded
    assert caught.value.connector == "test"
    assert "GET /api/v1/sim" in caught.value.message


async def test_a_record_listed_twice_raises_with_a_natural_key(make_client: MakeClient) -> None:
    # A SIM added at the front between two requests shifts an offset listing by one: the
    # last SIM of page 1 comes again at the top of page 2 (different pages, same record).
    served = {1: ids(1, 2), 2: [{"id": 2}, {"id": 3}], 3: ids(4)}
    api = FakeApi(lambda r: httpx.Response(200, json=served[numbered(r)]))
    paginator = PageNumberPaginator(page_size=2)

    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="same record twice") as caught:
        await drain(pages, make_client(api), paginator, "/v1/sims", key=itemgetter("id"))
    assert flat(pages) == ids(1, 2)
    assert "GET /v1/sims" in caught.value.message
    assert caught.value.connector == "test"

    # Without a key function, only the pages are compared: the overlap goes through.
    unguarded = await collect(make_client(api), paginator, "/v1/sims")
    assert flat(unguarded) == [*ids(1, 2), {"id": 2}, {"id": 3}, *ids(4)]


async def test_a_record_twice_on_one_page_raises(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=[{"id": 7}, {"id": 7}]))
    with pytest.raises(UnexpectedResponseError, match="same record twice"):
        await collect(make_client(api), SinglePage(), "/v1/sims", key=itemgetter("id"))


async def test_records_without_a_readable_key_are_left_to_the_mapping(
    make_client: MakeClient,
) -> None:
    body = [{"id": 1}, {"name": "no id"}, "not an object", {"id": None}, {"name": "again"}]
    api = FakeApi(lambda r: httpx.Response(200, json=body))
    result = await collect(make_client(api), SinglePage(), "/v1/sims", key=itemgetter("id"))
    assert flat(result) == body


async def test_natural_keys_of_different_types_do_not_collide(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=[{"id": 1}, {"id": "1"}]))
    result = await collect(make_client(api), SinglePage(), "/v1/sims", key=itemgetter("id"))
    assert len(flat(result)) == 2


def test_the_guard_keeps_digests_not_records() -> None:
    guard = ListingGuard(connector="t", endpoint="GET /v1/sims", key=itemgetter("iccid"))
    guard.check_request(PageRequest("/v1/sims", {"page": 1}))
    guard.check_page([{"iccid": "89883030000000000016"}])
    held = repr(vars(guard))
    assert "8988303" not in held
    assert guard.requests == 1


# --- unreadable paging signals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("paginator", "body", "headers"),
    [
        (
            PageNumberPaginator(total_pages=header_value("X-Total-Pages")),
            ids(1),
            {"X-Total-Pages": "many"},
        ),
        (
            PageNumberPaginator(total_pages=header_value("X-Total-Pages")),
            ids(1),
            {"X-Total-Pages": "2.5"},
        ),
        (
            PageNumberPaginator(total_pages=header_value("X-Total-Pages")),
            ids(1),
            {"X-Total-Pages": "-1"},
        ),
        (PageNumberPaginator(total_pages=body_field("n")), {"d": ids(1), "n": True}, {}),
        (PageNumberPaginator(total_pages=body_field("n")), {"d": ids(1), "n": [3]}, {}),
        (PageNumberPaginator(last_page=body_field("last")), {"d": ids(1), "last": "maybe"}, {}),
        (PageNumberPaginator(last_page=body_field("last")), {"d": ids(1), "last": {"x": 1}}, {}),
        (PageNumberPaginator(last_page=body_field("last")), {"d": ids(1), "last": 2}, {}),
        (CursorPaginator("c", body_field("next")), {"d": ids(1), "next": {"k": 1}}, {}),
        (NextUrlPaginator(body_field("next")), {"d": ids(1), "next": ["/x?p=2"]}, {}),
        (
            HasMorePaginator(body_field("more"), advance_largest_id),
            {"d": ids(1), "more": "perhaps"},
            {},
        ),
        (
            StartAfterPaginator("a", item_id=lambda i: i["id"], continues=body_field("more")),
            {"d": ids(1), "more": "sometimes"},
            {},
        ),
    ],
    ids=[
        "total-not-a-number",
        "total-fraction",
        "total-negative",
        "total-boolean",
        "total-list",
        "flag-word",
        "flag-object",
        "flag-two",
        "cursor-object",
        "next-url-list",
        "has-more-word",
        "continues-word",
    ],
)
async def test_an_unreadable_paging_signal_is_an_unexpected_response(
    make_client: MakeClient, paginator: Paginator, body: Any, headers: dict[str, str]
) -> None:
    api = FakeApi(
        lambda r: httpx.Response(200, json=body, headers={**headers, "X-Request-Id": "req-9"})
    )
    items = None if isinstance(body, list) else "d"
    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="paging signal cannot be followed") as caught:
        await drain(pages, make_client(api), paginator, "/v1/sims", items=items, json={})

    assert caught.value.connector == "test"
    assert caught.value.status_code == 200
    assert caught.value.request_id == "req-9"
    assert "GET /v1/sims" in caught.value.message
    assert flat(pages) == ids(1)  # the page itself was good
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("TRUE", True),
        (" no ", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("false", False),
    ],
)
def test_read_flag_accepts_the_boolean_spellings(value: Any, expected: bool) -> None:
    assert read_flag(value, "flag") is expected


@pytest.mark.parametrize("value", [None, "", "maybe", 2, -1, 0.5, [], {}])
def test_read_flag_refuses_anything_else(value: Any) -> None:
    with pytest.raises(ValueError, match="the flag is not a boolean"):
        read_flag(value, "flag")


def test_read_flag_absent() -> None:
    assert read_flag(None, "flag", absent=False) is False
    assert read_flag(None, "flag", absent=True) is True


@pytest.mark.parametrize(("value", "expected"), [(3, 3), (0, 0), ("12", 12), (" 7 ", 7), (4.0, 4)])
def test_read_count_accepts_whole_numbers(value: Any, expected: int) -> None:
    assert read_count(value, "count") == expected


@pytest.mark.parametrize(
    "value", [True, "", "1e3", "٣", "3.5", 3.5, float("inf"), None, [1], "0x10", -2]
)
def test_read_count_refuses_anything_else(value: Any) -> None:
    with pytest.raises(ValueError, match="the count is"):
        read_count(value, "count")


async def test_a_deeply_nested_page_is_an_unexpected_response(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(UnexpectedResponseError, match="nested too deeply") as caught:
        await collect(make_client(api), SinglePage(), "/v1/sims")
    assert caught.value.status_code == 200
    assert caught.value.__context__ is None


async def test_an_items_reader_that_fails_is_an_unexpected_response(
    make_client: MakeClient,
) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json={"data": "oops"}))
    with pytest.raises(UnexpectedResponseError, match="list of items cannot be read"):
        await collect(make_client(api), SinglePage(), "/x", items=lambda body: body["data"]["rows"])


async def test_single_page(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json={"plans": ids(1, 2, 3)}))
    result = await collect(make_client(api), SinglePage(), "/plans", items="plans")
    assert flat(result) == ids(1, 2, 3)
    assert len(api.requests) == 1


@pytest.mark.parametrize(("max_pages", "total"), [(3, 3), (5, 3)])
async def test_max_pages_allows_a_listing_that_fits(
    make_client: MakeClient, max_pages: int, total: int
) -> None:
    api = FakeApi(
        lambda r: httpx.Response(
            200, json=ids(int(r.url.params["page"])), headers={"X-Total-Pages": str(total)}
        )
    )
    paginator = PageNumberPaginator(total_pages=header_value("X-Total-Pages"))
    result = await collect(make_client(api), paginator, "/x", max_pages=max_pages)
    assert flat(result) == ids(*range(1, total + 1))


async def test_max_pages_exceeded_raises(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=ids(int(r.url.params["page"]))))
    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match="more than 2 pages"):
        await drain(pages, make_client(api), PageNumberPaginator(), "/x", max_pages=2)
    assert flat(pages) == ids(1, 2)
    assert len(api.requests) == 2  # the third page is never requested


@pytest.mark.parametrize(
    ("body", "items", "expected"),
    [
        ({"sims": ids(1, 2)}, "sims", ids(1, 2)),
        ({"data": {"rows": ids(3)}}, lambda body: body["data"]["rows"], ids(3)),
        (ids(4, 5), None, ids(4, 5)),
        ({"sims": None}, "sims", []),
    ],
    ids=["key", "callable", "body-is-list", "null-list"],
)
async def test_items_locator(
    make_client: MakeClient, body: Any, items: Any, expected: list[Any]
) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=body))
    result = await collect(make_client(api), SinglePage(), "/x", items=items)

    assert [page.items for page in result] == [expected]
    assert result[0].body == body
    assert result[0].response.status_code == 200


@pytest.mark.parametrize(
    ("body", "items"),
    [
        ({"sims": {"id": 1}}, "sims"),
        ({"sims": "none"}, "sims"),
        ({"sims": ids(1)}, None),
        ("just text", "sims"),
        ({"data": 3}, lambda body: body["data"]),
        ({"sims": (1, 2)}, lambda body: tuple(body["sims"])),
    ],
    ids=["dict", "string", "mapping-as-list", "string-body", "callable-int", "callable-tuple"],
)
async def test_items_not_a_list_raises(make_client: MakeClient, body: Any, items: Any) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=body, headers={"X-Request-Id": "req-7"}))
    with pytest.raises(UnexpectedResponseError, match=r"expected a list|has no 'sims'") as caught:
        await collect(make_client(api), SinglePage(), "/v1/sims", items=items)
    assert caught.value.status_code == 200
    assert caught.value.request_id == "req-7"


async def test_non_json_page_raises(make_client: MakeClient) -> None:
    api = FakeApi(lambda r: httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(UnexpectedResponseError, match="not JSON"):
        await collect(make_client(api), SinglePage(), "/x")


async def test_path_params_are_filled_once_and_kept_across_pages(
    make_client: MakeClient,
) -> None:
    api = FakeApi(
        lambda r: httpx.Response(
            200,
            json=ids(1) if r.url.params.get("c") is None else [],
            headers={"x-next": "n"} if r.url.params.get("c") is None else {},
        )
    )
    client = make_client(api)
    records = []
    client.add_observer(records.append)
    await collect(
        client,
        CursorPaginator("c", header_value("x-next")),
        "/v1/sims/{iccid}/usage",
        path_params={"iccid": "8988216716970004975"},
    )

    assert [request.url.path for request in api.requests] == [
        "/v1/sims/8988216716970004975/usage"
    ] * 2
    # Call records show the template on every page, never the identifier.
    assert [record.path for record in records] == ["/v1/sims/{iccid}/usage"] * 2


async def test_next_url_call_records_show_the_template(make_client: MakeClient) -> None:
    next_url = f"{BASE}/v1/Sims?Page=1&PageToken=secret-ish"
    api = FakeApi(
        lambda r: httpx.Response(
            200,
            json={"sims": [], "next": None}
            if "PageToken" in r.url.params
            else {"sims": ids(1), "next": next_url},
        )
    )
    client = make_client(api)
    records = []
    client.add_observer(records.append)
    await collect(client, NextUrlPaginator(body_field("next")), "/v1/Sims", items="sims")

    assert [record.path for record in records] == ["/v1/Sims", "/v1/Sims"]


@pytest.mark.parametrize(
    "body", [{"devices": []}, {}, [{"id": 1}]], ids=["other-key", "empty", "list"]
)
async def test_a_missing_items_key_is_drift_not_an_empty_page(
    make_client: MakeClient, body: Any
) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=body))
    with pytest.raises(UnexpectedResponseError, match="has no 'sims' list"):
        await collect(make_client(api), SinglePage(), "/v1/sims", items="sims")
