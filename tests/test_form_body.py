"""HttpClient form bodies (``data=``) and next-URL listings that cross an empty page."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from cdp_sdk.errors import TransientError
from cdp_sdk.http import HttpClient, NextUrlPaginator, PageRequest, RetryPolicy, body_field

BASE = "https://api.example.test"


async def no_sleep(delay: float) -> None:
    return None


def client(handler: httpx.MockTransport, **kwargs: object) -> HttpClient:
    return HttpClient(connector="toy", base_url=BASE, transport=handler, sleep=no_sleep, **kwargs)  # type: ignore[arg-type]


async def test_form_fields_are_sent_url_encoded() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    http = client(httpx.MockTransport(answer))
    await http.request("POST", "/v1/Sims/{sid}", path_params={"sid": "HS1"}, data={"Status": "a b"})
    await http.aclose()
    request = seen[0]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(request.content.decode()) == [("Status", "a b")]
    assert request.url.path == "/v1/Sims/HS1"


async def test_a_json_body_and_form_data_together_are_refused() -> None:
    http = client(httpx.MockTransport(lambda request: httpx.Response(200)))
    with pytest.raises(ValueError, match="not both"):
        await http.request("POST", "/x", json={"a": 1}, data={"b": "2"})
    await http.aclose()


async def test_an_idempotent_form_post_is_retried_with_its_body() -> None:
    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(503 if len(bodies) == 1 else 200, json={})

    http = client(httpx.MockTransport(answer), retry=RetryPolicy(max_retries=1))
    await http.request("POST", "/x", data={"Status": "active"}, idempotent=True)
    await http.aclose()
    assert bodies == [b"Status=active", b"Status=active"]


async def test_a_form_post_is_not_retried_by_default() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={})

    http = client(httpx.MockTransport(answer), retry=RetryPolicy(max_retries=3))
    with pytest.raises(TransientError):
        await http.request("POST", "/x", data={"Status": "active"})
    await http.aclose()
    assert len(calls) == 1


async def test_a_next_url_listing_follows_an_empty_page_to_its_end() -> None:
    pages = {
        "/items": {"items": [1, 2], "meta": {"next": f"{BASE}/items?PageToken=a"}},
        "/items?PageToken=a": {"items": [], "meta": {"next": f"{BASE}/items?PageToken=b"}},
        "/items?PageToken=b": {"items": [3], "meta": {"next": None}},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        key = request.url.raw_path.decode()
        return httpx.Response(200, json=pages[key])

    http = client(httpx.MockTransport(answer))
    paginator = NextUrlPaginator(body_field("meta.next"))
    items = [
        item
        async for page in http.paginate(paginator, "/items", items="items")
        for item in page.items
    ]
    await http.aclose()
    assert items == [1, 2, 3]


def test_next_url_paginator_goes_on_after_an_empty_page() -> None:
    paginator = NextUrlPaginator(body_field("meta.next"))
    request = PageRequest(f"{BASE}/items")
    response = httpx.Response(200, request=httpx.Request("GET", f"{BASE}/items"))
    following = paginator.next(request, response, {"meta": {"next": "/items?PageToken=b"}}, [])
    assert following is not None
    assert following.url == f"{BASE}/items?PageToken=b"
    assert paginator.next(request, response, {"meta": {"next": None}}, [1]) is None
