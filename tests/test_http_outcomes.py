"""How HttpClient reports what a call came to: a 3xx answer, a vendor code in a 2xx, a
failure with nothing to say, a closed client, the duration in the debug log and the path
a login is journaled under."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from cdp_sdk.errors import (
    ClosedError,
    ConflictError,
    NotFoundError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http import CallRecord, ErrorRule, ErrorTable, HttpClient, JsonLoginAuth

BASE = "https://api.example.test"


async def test_a_300_answer_is_not_a_success(mock_client: Callable[..., HttpClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(300, json={"choices": ["/v1/a", "/v1/b"]})

    with pytest.raises(UnexpectedResponseError) as caught:
        await mock_client(handler).request("GET", "/v1/sims")
    assert caught.value.status_code == 300


async def test_a_vendor_code_in_a_2xx_finds_its_rule_behind_a_status_rule(
    mock_client: Callable[..., HttpClient],
) -> None:
    # Cisco-style: refusals come with HTTP 202 and a vendor code. The connector's table
    # lists a status rule first; it must not hide the vendor-code rule after it.
    errors = ErrorTable(errors_in_success=True).extend(
        ErrorRule(ConflictError, status=409),
        ErrorRule(NotFoundError, vendor_code="10000003"),
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"errorCode": "10000003", "errorMessage": "no such SIM"})

    with pytest.raises(NotFoundError) as caught:
        await mock_client(handler, errors=errors).request("GET", "/v1/sims/x")
    assert caught.value.vendor_code == "10000003"
    assert caught.value.message == "GET /v1/sims/x failed: no such SIM"


async def test_a_failure_with_nothing_to_say_still_reads_as_one(
    mock_client: Callable[..., HttpClient],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(599)  # no body, no reason phrase httpx knows

    with pytest.raises(TransientError) as caught:
        await mock_client(handler).request("GET", "/v1/sims")
    assert caught.value.message == "GET /v1/sims failed: request failed"


async def test_a_closed_client_says_so_and_names_its_connector(
    mock_client: Callable[..., HttpClient],
) -> None:
    client = mock_client(lambda request: httpx.Response(200, json={}))
    await client.aclose()
    with pytest.raises(ClosedError) as caught:
        await client.request("GET", "/v1/sims")
    assert caught.value.message == "the toy connector is closed; connect again"
    assert caught.value.connector == "toy"


async def test_the_debug_log_gives_a_calls_duration_in_milliseconds(
    mock_client: Callable[..., HttpClient], caplog: pytest.LogCaptureFixture
) -> None:
    ticks = iter([100.0, 101.0])
    client = mock_client(lambda request: httpx.Response(200, json={}), clock=lambda: next(ticks))
    with caplog.at_level(logging.DEBUG, logger="cdp_sdk"):
        await client.request("GET", "/v1/sims")
    lines = [record.getMessage() for record in caplog.records if record.name == "cdp_sdk"]
    assert "toy: GET /v1/sims -> 200 in 1000 ms (attempt 1)" in lines


async def journaled(client: HttpClient, path: str) -> list[tuple[str, str]]:
    """The method and path of each call one GET of ``path`` journals, its login included."""
    records: list[CallRecord] = []
    client.add_observer(records.append)
    await client.request("GET", path)
    return [(record.method, record.path) for record in records]


async def test_a_login_is_journaled_by_its_path_under_the_deployment_prefix(
    mock_client: Callable[..., HttpClient],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/MAX/XAuth/token":
            return httpx.Response(200, json={"token": "tok-0123456789"})
        return httpx.Response(200, json={})

    auth = JsonLoginAuth("/XAuth/token", {"user": "u"}, token_field="token")
    client = mock_client(handler, auth=auth, base_url=f"{BASE}/MAX")
    assert await journaled(client, "/v1/sims") == [("POST", "/XAuth/token"), ("GET", "/v1/sims")]


class _TokenElsewhere(JsonLoginAuth):
    """A plugin's flow whose login lives on another host (as KORE's token URL does)."""

    def endpoint(self, request: httpx.Request, path: str) -> httpx.URL:
        return httpx.URL("https://auth.example.test/oauth/token")


async def test_a_login_outside_the_base_url_is_journaled_by_its_whole_path(
    mock_client: Callable[..., HttpClient],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.test":
            return httpx.Response(200, json={"token": "tok-0123456789"})
        return httpx.Response(200, json={})

    auth = _TokenElsewhere("/unused", {"user": "u"}, token_field="token")
    client = mock_client(handler, auth=auth, base_url=f"{BASE}/v1")
    assert await journaled(client, "/sims") == [("POST", "/oauth/token"), ("GET", "/sims")]
