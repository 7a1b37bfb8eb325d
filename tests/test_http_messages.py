"""What the HTTP client tells the user: the exact refusal of a base URL, the messages of an
answer it cannot use, the debug line and call record of every call (logins included), and
the timeouts it hands to the transport."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http import (
    CallRecord,
    HttpClient,
    NextUrlPaginator,
    OAuth2ClientCredentials,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    RetryPolicy,
    body_field,
    check_base_url,
)

BASE = "https://api.example.test"
Handler = Callable[[httpx.Request], httpx.Response]


class TickingClock:
    """A monotonic clock that advances 0.25 s every time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


async def no_sleep(delay: float) -> None:
    return None


MakeClient = Callable[..., HttpClient]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[HttpClient] = []

    def make(handler: Handler, **kwargs: Any) -> HttpClient:
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("sleep", no_sleep)
        kwargs.setdefault("retry", RetryPolicy(max_retries=0))
        client = HttpClient(connector="acme", transport=httpx.MockTransport(handler), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def answer(status: int = 200, **kwargs: Any) -> Handler:
    return lambda request: httpx.Response(status, **kwargs)


# -- the base URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://api.example.test", "base_url must be an absolute http(s) URL"),
        ("https://", "base_url must be an absolute http(s) URL"),
        (
            "http://api.example.test",
            "base_url uses plain http to a non-loopback host; use https "
            "or set allow_insecure_http=True",
        ),
        ("https://api.example.test/?page=1", "base_url must not carry a query or a fragment"),
        ("https://api.example.test/#top", "base_url must not carry a query or a fragment"),
        (
            "https://user@api.example.test",
            "base_url must not carry credentials; use the connector's settings",
        ),
    ],
)
def test_a_refused_base_url_says_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_base_url(url)
    with pytest.raises(ConfigurationError) as caught:
        HttpClient(connector="acme", base_url=url, transport=httpx.MockTransport(answer()))
    assert caught.value.message == message
    assert caught.value.connector == "acme"


# -- timeouts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}),
        (5.0, {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}),
        (120.0, {"connect": 10.0, "read": 120.0, "write": 120.0, "pool": 120.0}),
    ],
)
async def test_the_timeouts_reach_the_transport(
    make_client: MakeClient, seconds: float | None, expected: dict[str, float]
) -> None:
    """30 s by default; connecting never waits more than 10 s."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = make_client(handler, **({} if seconds is None else {"timeout": seconds}))
    await client.request("GET", "/v1/sims")
    assert seen[0].extensions["timeout"] == expected


# -- answers the client cannot use -----------------------------------------------------------


async def test_an_html_page_is_named_as_such(make_client: MakeClient) -> None:
    page = answer(
        200, text="<html>down for maintenance</html>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(UnexpectedResponseError) as caught:
        await make_client(page).request("POST", "/v1/sims/{iccid}/status", path_params={"iccid": 1})
    assert caught.value.message == (
        "POST /v1/sims/{iccid}/status was answered with an HTML page, not by the "
        "platform's API (a proxy or a maintenance page?)"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<sims/>", "a body that is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "a JSON body nested too deeply to read"),
    ],
)
async def test_an_unreadable_body_names_the_call_and_why(
    make_client: MakeClient, content: bytes, reason: str
) -> None:
    client = make_client(answer(200, content=content))
    with pytest.raises(UnexpectedResponseError) as caught:
        await client.request_json("GET", "/v1/sims")
    assert caught.value.message == f"GET /v1/sims returned {reason}"
    with pytest.raises(UnexpectedResponseError) as listed:
        async for _ in client.paginate(PageNumberPaginator(), "/v1/plans"):
            pass
    assert listed.value.message == f"GET /v1/plans returned {reason}"


async def test_a_missing_path_parameter_names_every_one_missing(make_client: MakeClient) -> None:
    message = "/v1/{account}/sims/{iccid}: no value for account, iccid"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        await make_client(answer()).request(
            "GET", "/v1/{account}/sims/{iccid}", path_params={"plan": 1}
        )


async def test_a_list_that_cannot_be_read_names_the_listing(make_client: MakeClient) -> None:
    client = make_client(answer(200, json={"data": {"sims": 3}}))

    with pytest.raises(UnexpectedResponseError) as absent:
        async for _ in client.paginate(PageNumberPaginator(), "/v1/sims", items="sims"):
            pass
    assert absent.value.message == "GET /v1/sims: the response has no 'sims' list"

    def sims(body: Any) -> Sequence[Any]:
        return body["data"]["sims"]["list"]  # type: ignore[no-any-return]

    with pytest.raises(UnexpectedResponseError) as unreadable:
        async for _ in client.paginate(PageNumberPaginator(), "/v1/sims", items=sims):
            pass
    assert unreadable.value.message == (
        "GET /v1/sims: the list of items cannot be read (TypeError)"
    )


class Refusing(Paginator):
    """A paginator whose reading of the page fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ValueError("the cursor is " + "x" * 300), "the cursor is " + "x" * 186),
        (IndexError("list index out of range"), "IndexError"),
    ],
)
async def test_a_paging_signal_that_cannot_be_followed_says_why(
    make_client: MakeClient, error: Exception, reason: str
) -> None:
    """A paginator's own message (at most 200 characters), else the kind of failure."""
    client = make_client(answer(200, json=[{"id": 1}]))
    with pytest.raises(UnexpectedResponseError) as caught:
        async for _ in client.paginate(Refusing(error), "/v1/sims"):
            pass
    assert caught.value.message == (
        f"GET /v1/sims: the paging signal cannot be followed ({reason})"
    )


async def test_the_listing_guards_name_the_connector_and_the_listing(
    make_client: MakeClient,
) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        return httpx.Response(200, json=[{"id": number}], headers={"X-Total-Pages": "9"})

    client = make_client(page)
    paginator = PageNumberPaginator(
        page_size=1, total_pages=lambda r, b: r.headers["X-Total-Pages"]
    )
    with pytest.raises(UnexpectedResponseError) as limited:
        async for _ in client.paginate(paginator, "/v1/sims", max_pages=2):
            pass
    assert (limited.value.message, limited.value.connector) == (
        "/v1/sims: more than 2 pages",
        "acme",
    )

    empty = make_client(answer(200, json=[], headers={"X-Total-Pages": "99"}))
    with pytest.raises(UnexpectedResponseError) as stuck:
        async for _ in empty.paginate(paginator, "/v1/sims", max_empty_pages=3):
            pass
    assert stuck.value.message == (
        "GET /v1/sims: 3 empty pages in a row, yet the platform says more data follows; "
        "stopping rather than page forever"
    )
    assert stuck.value.connector == "acme"

    elsewhere = make_client(
        answer(200, json={"data": [1], "next": "https://elsewhere.example.test/v1/sims?p=2"})
    )
    with pytest.raises(UnexpectedResponseError) as moved:
        async for _ in elsewhere.paginate(
            NextUrlPaginator(body_field("next")), "/v1/sims", items="data"
        ):
            pass
    assert moved.value.message == "/v1/sims: refusing to follow a next-page link to another host"
    assert moved.value.connector == "acme"


# -- the debug line and the call record of each call -----------------------------------------


async def test_every_call_has_one_debug_line(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([httpx.Response(200, json={})])

    def handler(request: httpx.Request) -> httpx.Response:
        found = next(answers, None)
        if found is None:
            raise httpx.ConnectError("refused")
        return found

    client = make_client(handler, clock=TickingClock())
    with caplog.at_level(logging.DEBUG, logger="cdp_sdk"):
        await client.request("GET", "/v1/sims/{iccid}", path_params={"iccid": "x"})
        with pytest.raises(TransientError):
            await client.request("delete", "/v1/sims/{iccid}", path_params={"iccid": "x"})
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert lines == [
        "acme: GET /v1/sims/{iccid} -> 200 in 250 ms (attempt 1)",
        "acme: DELETE /v1/sims/{iccid} -> TransientError in 250 ms (attempt 1)",
    ]


async def test_a_login_is_recorded_under_its_own_path_below_the_base_url() -> None:
    answers = iter(
        [
            httpx.Response(401, json={"message": "bad credentials"}),
            httpx.Response(200, json={"access_token": "tok-123456", "expires_in": 3600}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return next(answers)
        return httpx.Response(200, json={})

    client = HttpClient(
        connector="1nce",
        base_url="https://api.example.test/management-api",
        auth=OAuth2ClientCredentials(
            "/oauth/token", "user", SecretStr("password-123"), body_format="json"
        ),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_retries=0),
    )
    records: list[CallRecord] = []
    client.add_observer(records.append)
    try:
        with pytest.raises(AuthenticationError):
            await client.request("GET", "/v1/sims")
        await client.request("GET", "/v1/sims")
    finally:
        await client.aclose()
    summary = [(r.method, r.path, r.status_code, r.attempt, r.error) for r in records]
    assert summary[0] == ("POST", "/oauth/token", 401, 1, "AuthenticationError")
    assert summary[-2:] == [
        ("POST", "/oauth/token", 200, 1, None),
        ("GET", "/v1/sims", 200, 1, None),
    ]
    assert all(r.connector == "1nce" for r in records)
    assert all(0 <= r.duration < 60 for r in records)
