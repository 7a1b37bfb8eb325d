"""The listing guards fail fast, against platforms that page on (but not forever).

Each fake platform below ends its listing after a few dozen pages, so that a broken guard
makes a test fail in milliseconds (a listing that ends without the error) instead of
hanging until the per-test timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest

from cdp_sdk.errors import UnexpectedResponseError
from cdp_sdk.http import (
    CursorPaginator,
    HasMorePaginator,
    HttpClient,
    Page,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    body_field,
    header_value,
)

BASE = "https://api.example.test"
BOUND = 40
"""Pages a fake platform serves before it ends its listing."""


class Platform:
    """A fake API that logs requests and answers through ``respond``."""

    def __init__(self, respond: Callable[[httpx.Request, int], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request, len(self.requests))


@pytest.fixture
async def client() -> AsyncIterator[Callable[[Platform], HttpClient]]:
    made: list[HttpClient] = []

    def make(platform: Platform) -> HttpClient:
        made.append(
            HttpClient(connector="acme", base_url=BASE, transport=httpx.MockTransport(platform))
        )
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def drain(into: list[Page], client: HttpClient, paginator: Paginator, **kwargs: Any) -> None:
    async for page in client.paginate(paginator, "/v1/sims", **kwargs):
        into.append(page)


def full_pages(request: httpx.Request, count: int) -> httpx.Response:
    """Page n holds record n, up to BOUND; then an empty page ends the list."""
    page = int(request.url.params["page"])
    return httpx.Response(200, json=[{"id": page}] if page <= BOUND else [])


@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_the_page_limit_stops_the_listing_at_the_limit(
    client: Callable[[Platform], HttpClient], limit: int
) -> None:
    platform = Platform(full_pages)
    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError, match=f"more than {limit} pages"):
        await drain(pages, client(platform), PageNumberPaginator(), max_pages=limit)
    assert [page.items for page in pages] == [[{"id": n}] for n in range(1, limit + 1)]
    assert len(platform.requests) == limit  # the next page is never asked for


async def test_without_a_page_limit_the_platform_ends_the_listing(
    client: Callable[[Platform], HttpClient],
) -> None:
    platform = Platform(full_pages)
    pages: list[Page] = []
    await drain(pages, client(platform), PageNumberPaginator())
    assert len(pages) == BOUND + 1
    assert len(platform.requests) == BOUND + 1


async def test_a_listing_of_exactly_the_limit_fits(
    client: Callable[[Platform], HttpClient],
) -> None:
    def respond(request: httpx.Request, count: int) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json=[{"id": page}], headers={"X-Total-Pages": "4"})

    platform = Platform(respond)
    pages: list[Page] = []
    paginator = PageNumberPaginator(total_pages=header_value("X-Total-Pages"))
    await drain(pages, client(platform), paginator, max_pages=4)
    assert len(pages) == 4


async def test_a_cursor_that_does_not_advance_raises_on_the_repeat(
    client: Callable[[Platform], HttpClient],
) -> None:
    # New records every time, but always the same next cursor.
    def respond(request: httpx.Request, count: int) -> httpx.Response:
        cursor = "k1" if count < BOUND else ""
        return httpx.Response(200, json={"data": [{"id": count}], "next": cursor})

    platform = Platform(respond)
    pages: list[Page] = []
    paginator = CursorPaginator("cursor", body_field("next"))
    with pytest.raises(UnexpectedResponseError, match="repeated a page") as caught:
        await drain(pages, client(platform), paginator, items="data")
    assert caught.value.connector == "acme"
    assert len(platform.requests) == 2  # the repeat is refused before it is sent
    assert len(pages) == 2


async def test_a_page_served_again_raises(client: Callable[[Platform], HttpClient]) -> None:
    # The cursor advances, the records do not.
    def respond(request: httpx.Request, count: int) -> httpx.Response:
        cursor = f"k{count}" if count < BOUND else ""
        return httpx.Response(200, json={"data": [{"id": 1}, {"id": 2}], "next": cursor})

    platform = Platform(respond)
    pages: list[Page] = []
    paginator = CursorPaginator("cursor", body_field("next"))
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        await drain(pages, client(platform), paginator, items="data")
    assert len(platform.requests) == 2
    assert len(pages) == 1  # the repeated page is not handed on


async def test_empty_pages_that_claim_more_stop_at_the_limit(
    client: Callable[[Platform], HttpClient],
) -> None:
    def respond(request: httpx.Request, count: int) -> httpx.Response:
        return httpx.Response(200, json={"data": [], "next": f"k{count}" if count < BOUND else ""})

    platform = Platform(respond)
    pages: list[Page] = []
    paginator = CursorPaginator("cursor", body_field("next"))
    with pytest.raises(UnexpectedResponseError, match="3 empty pages in a row"):
        await drain(pages, client(platform), paginator, items="data", max_empty_pages=3)
    assert len(platform.requests) == 3


async def test_an_empty_page_between_full_ones_restarts_the_count(
    client: Callable[[Platform], HttpClient],
) -> None:
    # Empty, empty, full, empty, empty, full ...: never 3 empty pages in a row.
    def respond(request: httpx.Request, count: int) -> httpx.Response:
        items = [{"id": count}] if count % 3 == 0 else []
        return httpx.Response(200, json={"data": items, "next": f"k{count}" if count < 12 else ""})

    platform = Platform(respond)
    pages: list[Page] = []
    paginator = CursorPaginator("cursor", body_field("next"))
    await drain(pages, client(platform), paginator, items="data", max_empty_pages=3)
    assert [item["id"] for page in pages for item in page.items] == [3, 6, 9, 12]


# -- HTTP 202 means more data unless switched off (ThingSpace) --------------------------------


def _advance(
    request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
) -> PageRequest:
    return request.with_params(after=items[-1]["id"])


async def test_http_202_means_more_data_by_default(
    client: Callable[[Platform], HttpClient],
) -> None:
    def respond(request: httpx.Request, count: int) -> httpx.Response:
        # No flag in the body: the status alone says whether more data waits.
        return httpx.Response(202 if count < 3 else 200, json={"records": [{"id": count}]})

    platform = Platform(respond)
    pages: list[Page] = []
    paginator = HasMorePaginator(body_field("more"), _advance)
    await drain(pages, client(platform), paginator, items="records")
    assert [page.items for page in pages] == [[{"id": 1}], [{"id": 2}], [{"id": 3}]]
    assert [dict(r.url.params) for r in platform.requests] == [{}, {"after": "1"}, {"after": "2"}]


def refusal(exc: pytest.ExceptionInfo[UnexpectedResponseError]) -> tuple[str, str | None]:
    return str(exc.value), exc.value.connector


async def test_each_listing_guard_names_the_connector_and_the_path_in_full(
    client: Callable[[Platform], HttpClient],
) -> None:
    """A user reads which connector and which endpoint a stopped listing was, whichever
    guard stopped it."""
    pages: list[Page] = []
    with pytest.raises(UnexpectedResponseError) as caught:
        await drain(pages, client(Platform(full_pages)), PageNumberPaginator(), max_pages=2)
    assert refusal(caught) == ("/v1/sims: more than 2 pages (connector=acme)", "acme")

    def empty(request: httpx.Request, count: int) -> httpx.Response:
        return httpx.Response(200, json={"data": [], "next": f"k{count}"})

    with pytest.raises(UnexpectedResponseError) as caught:
        await drain(
            pages,
            client(Platform(empty)),
            CursorPaginator("cursor", body_field("next")),
            items="data",
            max_empty_pages=2,
        )
    assert refusal(caught) == (
        "GET /v1/sims: 2 empty pages in a row, yet the platform says more data follows; "
        "stopping rather than page forever (connector=acme, status=200)",
        "acme",
    )

    def not_json(request: httpx.Request, count: int) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with pytest.raises(UnexpectedResponseError) as caught:
        await drain(pages, client(Platform(not_json)), PageNumberPaginator())
    assert refusal(caught)[0].startswith("GET /v1/sims returned ")

    def listless(request: httpx.Request, count: int) -> httpx.Response:
        return httpx.Response(200, json={"items": []})

    with pytest.raises(UnexpectedResponseError) as caught:
        await drain(pages, client(Platform(listless)), PageNumberPaginator(), items="data")
    assert refusal(caught)[0].startswith("GET /v1/sims: the response has no 'data' list")
