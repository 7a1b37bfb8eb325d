"""Where a listing with a more-data flag ends, on a platform that would serve a few more
pages if asked (so a listing that does not stop fails at once instead of paging on)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from cdp_sdk.http import HasMorePaginator, HttpClient, PageRequest, RetryPolicy, body_field


def _platform(requests: list[httpx.Request], flag: dict[str, Any]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        offset = int(request.url.params.get("offset", "0"))
        if offset >= 6:
            return httpx.Response(404, json={"message": "no such page"})
        return httpx.Response(
            200, json={"records": [{"id": offset + 1}, {"id": offset + 2}], **flag}
        )

    return httpx.MockTransport(handler)


def _advance(
    request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
) -> PageRequest:
    return request.with_params(offset=items[-1]["id"])


@pytest.mark.parametrize("flag", [{}, {"hasMoreData": None}, {"hasMoreData": False}])
async def test_a_page_without_a_more_data_flag_is_the_last(flag: dict[str, Any]) -> None:
    requests: list[httpx.Request] = []
    client = HttpClient(
        connector="toy",
        base_url="https://api.example.test",
        transport=_platform(requests, flag),
        retry=RetryPolicy(max_retries=0),
    )
    paginator = HasMorePaginator(body_field("hasMoreData"), _advance)
    try:
        pages = [page async for page in client.paginate(paginator, "/usage", items="records")]
    finally:
        await client.aclose()
    assert [list(page.items) for page in pages] == [[{"id": 1}, {"id": 2}]]
    assert len(requests) == 1
