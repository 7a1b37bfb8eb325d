"""Paging signals read from headers as well as bodies, and the reason a bad one gives.

A paging signal that cannot be followed raises ``UnexpectedResponseError``; its message
names which signal was wrong (never its value), which is what a user reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.errors import TransientError, UnexpectedResponseError
from cdp_sdk.http import (
    CursorPaginator,
    HasMorePaginator,
    HttpClient,
    JsonLoginAuth,
    NextUrlPaginator,
    Page,
    PageRequest,
    Paginator,
    RetryPolicy,
    StartAfterPaginator,
    body_field,
    header_value,
    is_loopback,
)

BASE = "https://api.example.test"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def client() -> AsyncIterator[Callable[[Handler], HttpClient]]:
    made: list[HttpClient] = []

    def make(handler: Handler) -> HttpClient:
        made.append(
            HttpClient(connector="acme", base_url=BASE, transport=httpx.MockTransport(handler))
        )
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def listing(client: HttpClient, paginator: Paginator, **kwargs: Any) -> list[Page]:
    return [page async for page in client.paginate(paginator, "/v1/sims", **kwargs)]


@pytest.mark.parametrize(
    ("paginator", "body", "reason"),
    [
        (
            CursorPaginator("cursor", body_field("next")),
            {"data": [{"id": 1}], "next": {"key": 2}},
            "the next-page cursor is not a string",
        ),
        (
            NextUrlPaginator(body_field("next")),
            {"data": [{"id": 1}], "next": 42},
            "the next-page URL is not a string",
        ),
        (
            StartAfterPaginator("after", lambda item: item["id"], body_field("more")),
            {"data": [{"id": 1}], "more": "perhaps"},
            "the more-data flag is not a boolean",
        ),
        (
            StartAfterPaginator("after", lambda item: item["id"], body_field("more")),
            {"data": [], "more": True},
            "an empty page says more data follows, with no item to start after",
        ),
        (
            HasMorePaginator(body_field("more"), lambda r, *_: r.with_params(n=1)),
            {"data": [{"id": 1}], "more": "perhaps"},
            "the more-data flag is not a boolean",
        ),
    ],
    ids=["cursor", "next-url", "start-after-flag", "start-after-empty", "has-more-flag"],
)
async def test_a_bad_paging_signal_names_itself(
    client: Callable[[Handler], HttpClient], paginator: Paginator, body: Any, reason: str
) -> None:
    make = client(lambda request: httpx.Response(200, json=body))
    with pytest.raises(UnexpectedResponseError) as caught:
        await listing(make, paginator, items="data")
    assert caught.value.message == (
        f"GET /v1/sims: the paging signal cannot be followed ({reason})"
    )


async def test_a_next_url_in_a_header_is_followed_with_the_request_body(
    client: Callable[[Handler], HttpClient],
) -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(request.url.params.get("page", "1"))
        headers = {"X-Next": f"/v1/sims?page={page + 1}"} if page < 3 else {}
        return httpx.Response(200, json={"data": [{"id": page}]}, headers=headers)

    make = client(respond)
    query = {"filter": "active"}
    pages = [
        page
        async for page in make.paginate(
            NextUrlPaginator(header_value("X-Next")),
            "/v1/sims",
            method="POST",
            json=query,
            params={"limit": 1},
            items="data",
            idempotent=True,
        )
    ]
    assert [page.items for page in pages] == [[{"id": 1}], [{"id": 2}], [{"id": 3}]]
    # The next URL's query replaces ours; the body goes with every page request.
    assert [dict(r.url.params) for r in seen] == [{"limit": "1"}, {"page": "2"}, {"page": "3"}]
    assert {r.content for r in seen} == {b'{"filter":"active"}'}


async def test_more_data_flags_in_headers(client: Callable[[Handler], HttpClient]) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("after", "0"))
        more = "yes" if after < 2 else "no"
        return httpx.Response(200, json=[{"id": after + 1}], headers={"X-More": more})

    start_after = StartAfterPaginator("after", lambda item: item["id"], header_value("X-More"))
    pages = await listing(client(respond), start_after)
    assert [page.items for page in pages] == [[{"id": 1}], [{"id": 2}], [{"id": 3}]]

    def advance(
        request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest:
        # The vendor says where to go on: in a header and in the body.
        return request.with_params(after=response.headers["X-Last"], seen=body["count"])

    def respond_more(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("after", "0"))
        headers = {"X-More": "1" if after < 4 else "0", "X-Last": str(after + 2)}
        return httpx.Response(200, json={"count": after + 2, "d": [{"id": after}]}, headers=headers)

    seen = await listing(
        client(respond_more), HasMorePaginator(header_value("X-More"), advance), items="d"
    )
    assert [page.items for page in seen] == [[{"id": 0}], [{"id": 2}], [{"id": 4}]]
    assert [dict(page.response.request.url.params) for page in seen] == [
        {},
        {"after": "2", "seen": "2"},
        {"after": "4", "seen": "4"},
    ]


async def test_a_response_hook_sees_every_response(
    client: Callable[[Handler], HttpClient],
) -> None:
    make = client(lambda request: httpx.Response(200, json={"path": request.url.path}))
    hooked: list[str] = []

    async def hook(response: httpx.Response) -> None:
        await response.aread()
        hooked.append(response.json()["path"])

    make.add_response_hook(hook)
    await make.request("GET", "/v1/sims")
    await make.request("GET", "/v1/plans")
    assert hooked == ["/v1/sims", "/v1/plans"]


async def test_a_failed_login_names_the_connector() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    auth = JsonLoginAuth("/v1/auth", {"key": SecretStr("k")}, token_field="token")
    client = HttpClient(
        connector="acme",
        base_url=BASE,
        auth=auth,
        transport=httpx.MockTransport(refuse),
        retry=RetryPolicy(max_retries=0),
    )
    try:
        with pytest.raises(TransientError) as caught:
            await client.authenticate()
    finally:
        await client.aclose()
    assert caught.value.connector == "acme"


@pytest.mark.parametrize("host", ["127.0.0.1X", "X127.0.0.1", "[::1]X", "localhostX"])
def test_a_loopback_address_with_anything_around_it_is_not_loopback(host: str) -> None:
    assert is_loopback(host) is False
