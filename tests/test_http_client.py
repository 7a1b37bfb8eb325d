"""HttpClient basics: headers, base URL checks, path templates, JSON, call records."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from cdp_sdk._version import __version__
from cdp_sdk.errors import ConfigurationError, TransientError, UnexpectedResponseError
from cdp_sdk.http import (
    USER_AGENT,
    CallRecord,
    HttpClient,
    RetryPolicy,
    check_base_url,
    is_loopback,
)

BASE = "https://api.example.test"
ICCID = "8988216716970004975"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """A mock transport handler that logs the requests it receives."""

    def __init__(self, respond: Handler | None = None) -> None:
        self.respond = respond or (lambda request: httpx.Response(200, json={"ok": True}))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


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

    def make(api: FakeApi, **kwargs: Any) -> HttpClient:
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("sleep", no_sleep)
        client = HttpClient(connector="acme", transport=httpx.MockTransport(api), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# --- headers ---------------------------------------------------------------------------


async def test_user_agent_and_accept_headers(make_client: MakeClient) -> None:
    api = FakeApi()
    await make_client(api).request("GET", "/v1/sims")

    assert api.last.headers["User-Agent"] == f"cdp-sdk/{__version__}"
    assert re.fullmatch(r"cdp-sdk/\d+\.\d+\.\d+\S*", api.last.headers["User-Agent"])
    assert api.last.headers["Accept"] == "application/json"


async def test_client_and_call_headers_are_sent(make_client: MakeClient) -> None:
    api = FakeApi()
    client = make_client(api, headers={"X-Api-Version": "2", "Accept": "application/vnd.x+json"})
    await client.request("GET", "/v1/sims", headers={"X-Trace": "t-1"})

    assert api.last.headers["X-Api-Version"] == "2"
    assert api.last.headers["Accept"] == "application/vnd.x+json"
    assert api.last.headers["X-Trace"] == "t-1"
    assert api.last.headers["User-Agent"] == USER_AGENT


# --- base URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.example.test",
        "http://api.example.test:8080/prefix",
        "http://10.0.0.5",
        "http://localhost.example.test",  # looks local, is not
        "http://127.0.0.1.example.test",
    ],
)
async def test_plain_http_to_a_remote_host_is_refused(
    make_client: MakeClient, base_url: str
) -> None:
    api = FakeApi()
    with pytest.raises(ConfigurationError, match="allow_insecure_http") as caught:
        make_client(api, base_url=base_url)
    assert caught.value.connector == "acme"

    # ... unless the user asks for it.
    client = make_client(api, base_url=base_url, allow_insecure_http=True)
    await client.request("GET", "/v1/sims")
    assert api.last.url.scheme == "http"


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080",
        "http://localhost",
        "http://LOCALHOST:9000",
        "http://emulator.localhost",
        "http://127.10.0.1",
        "http://[::1]:8080",
    ],
)
async def test_plain_http_to_loopback_is_allowed(make_client: MakeClient, base_url: str) -> None:
    api = FakeApi()
    await make_client(api, base_url=base_url).request("GET", "/v1/sims")
    assert api.last.url.path == "/v1/sims"


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://api.example.test",
        "api.example.test",
        "https://",
        "https://api.example.test/?token=x",
        "https://api.example.test/#frag",
        "https://user:pass@api.example.test",
    ],
)
def test_malformed_base_url_is_a_configuration_error(base_url: str) -> None:
    with pytest.raises(ConfigurationError):
        HttpClient(connector="acme", base_url=base_url, transport=httpx.MockTransport(FakeApi()))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.test/", "https://api.example.test"),
        ("https://api.1nce.com/management-api/", "https://api.1nce.com/management-api"),
        ("http://localhost:8080", "http://localhost:8080"),
    ],
)
def test_check_base_url_strips_the_trailing_slash(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("a.b.localhost", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("localhost.example.test", False),
        ("api.example.test", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.1nce.com/management-api", "/management-api/v1/sims"),
        ("https://api.1nce.com/management-api/", "/management-api/v1/sims"),
        ("https://api.example.test", "/v1/sims"),
    ],
)
async def test_base_url_deployment_prefix_is_kept(
    make_client: MakeClient, base_url: str, expected: str
) -> None:
    api = FakeApi()
    await make_client(api, base_url=base_url).request("GET", "/v1/sims")

    assert api.last.url.path == expected
    assert api.last.url.host == httpx.URL(base_url).host


# --- path templates and query ----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "raw_path"),
    [
        ({"sim_id": "x", "name": "a b/c"}, b"/v1/sims/x/tags/a%20b%2Fc"),
        ({"sim_id": 42, "name": "k"}, b"/v1/sims/42/tags/k"),
        ({"sim_id": "../admin", "name": "?q=1#f"}, b"/v1/sims/..%2Fadmin/tags/%3Fq%3D1%23f"),
        ({"sim_id": "x", "name": "100%"}, b"/v1/sims/x/tags/100%25"),
        ({"sim_id": "x", "name": "grün"}, b"/v1/sims/x/tags/gr%C3%BCn"),
    ],
)
async def test_path_templates_are_filled_with_percent_encoding(
    make_client: MakeClient, params: dict[str, Any], raw_path: bytes
) -> None:
    api = FakeApi()
    await make_client(api).request("GET", "/v1/sims/{sim_id}/tags/{name}", path_params=params)

    assert api.last.url.raw_path == raw_path
    assert api.last.url.query == b""


async def test_a_missing_path_parameter_is_refused_before_sending(
    make_client: MakeClient,
) -> None:
    api = FakeApi()
    with pytest.raises(ValueError, match="no value for name"):
        await make_client(api).request(
            "GET", "/v1/sims/{sim_id}/tags/{name}", path_params={"sim_id": "x"}
        )
    assert api.requests == []


async def test_query_params_drop_none_values(make_client: MakeClient) -> None:
    api = FakeApi()
    await make_client(api).request(
        "GET", "/v1/sims", params={"status": "active", "tag": None, "limit": 10}
    )
    assert dict(api.last.url.params) == {"status": "active", "limit": "10"}


@pytest.mark.parametrize("params", [None, {}, {"ignored": None}])
async def test_a_query_in_the_path_is_kept_without_params(
    make_client: MakeClient, params: dict[str, Any] | None
) -> None:
    api = FakeApi()
    await make_client(api).request("GET", "/v1/sims?fixed=1", params=params)
    assert api.last.url.query == b"fixed=1"


async def test_json_body_is_sent(make_client: MakeClient) -> None:
    api = FakeApi()
    await make_client(api).request("post", "/v1/sims/{id}", path_params={"id": 1}, json={"a": 1})

    assert api.last.method == "POST"
    assert api.last.headers["Content-Type"] == "application/json"
    assert api.last.content == b'{"a":1}'


# --- JSON decoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"sims": [1, 2]}', {"sims": [1, 2]}),
        (b"[1, 2]", [1, 2]),
        (b"null", None),
        (b"", None),
    ],
)
async def test_request_json_decodes(make_client: MakeClient, content: bytes, expected: Any) -> None:
    api = FakeApi(lambda request: httpx.Response(200, content=content))
    assert await make_client(api).request_json("GET", "/v1/sims") == expected


@pytest.mark.parametrize("content", [b"<html>ok</html>", b"{not json", b"\xff\xfe\x00"])
async def test_request_json_rejects_a_non_json_body(
    make_client: MakeClient, content: bytes
) -> None:
    api = FakeApi(
        lambda request: httpx.Response(200, content=content, headers={"X-Request-Id": "r-9"})
    )
    with pytest.raises(UnexpectedResponseError, match="not JSON") as caught:
        await make_client(api).request_json("GET", "/v1/sims/{iccid}", path_params={"iccid": ICCID})

    assert caught.value.status_code == 200
    assert caught.value.request_id == "r-9"
    assert caught.value.connector == "acme"
    assert ICCID not in str(caught.value)


async def test_redirects_are_not_followed(make_client: MakeClient) -> None:
    api = FakeApi(
        lambda request: httpx.Response(302, headers={"Location": "https://elsewhere.example.test/"})
    )
    with pytest.raises(UnexpectedResponseError):
        await make_client(api).request("GET", "/v1/sims")
    assert len(api.requests) == 1


@pytest.mark.parametrize("kind", ["text/html", "text/html; charset=utf-8", "application/xhtml+xml"])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
async def test_an_html_page_answered_with_200_is_not_the_api(
    make_client: MakeClient, kind: str, method: str
) -> None:
    # A proxy, captive portal or maintenance page: a write "answered" so never happened.
    page = "<html><body>Maintenance</body></html>"
    api = FakeApi(lambda request: httpx.Response(200, text=page, headers={"Content-Type": kind}))
    with pytest.raises(UnexpectedResponseError, match="HTML page") as caught:
        await make_client(api).request(method, "/v1/sims/{iccid}", path_params={"iccid": ICCID})
    assert caught.value.status_code == 200
    assert caught.value.connector == "acme"
    assert len(api.requests) == 1  # not retried
    assert ICCID not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "content"),
    [("text/html", b""), ("application/json", b"{}"), ("text/plain", b"<html></html>")],
    ids=["empty-html", "json", "plain-text"],
)
async def test_other_answers_pass(make_client: MakeClient, kind: str, content: bytes) -> None:
    api = FakeApi(
        lambda request: httpx.Response(200, content=content, headers={"Content-Type": kind})
    )
    response = await make_client(api).request("PUT", "/v1/sims")
    assert response.status_code == 200


# --- call records ----------------------------------------------------------------------


async def test_one_call_record_per_attempt_with_the_template(make_client: MakeClient) -> None:
    statuses = iter([503, 503, 200])
    api = FakeApi(
        lambda request: httpx.Response(
            next(statuses), json={}, headers={"X-Request-Id": f"req-{len(api.requests)}"}
        )
    )
    client = make_client(api, clock=TickingClock(), retry=RetryPolicy(max_retries=3))
    records: list[CallRecord] = []
    client.add_observer(records.append)

    await client.request("GET", "/v1/sims/{iccid}", path_params={"iccid": ICCID})

    assert [request.url.path for request in api.requests] == [f"/v1/sims/{ICCID}"] * 3
    assert records == [
        CallRecord(
            connector="acme",
            method="GET",
            path="/v1/sims/{iccid}",
            status_code=status,
            duration=0.25,
            attempt=attempt,
            request_id=f"req-{attempt}",
            error=error,
        )
        for attempt, status, error in [
            (1, 503, "TransientError"),
            (2, 503, "TransientError"),
            (3, 200, None),
        ]
    ]
    assert all(ICCID not in repr(record) for record in records)


async def test_call_record_of_a_transport_error(make_client: MakeClient) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = make_client(FakeApi(fail), retry=RetryPolicy(max_retries=1))
    first: list[CallRecord] = []
    second: list[CallRecord] = []
    client.add_observer(first.append)
    client.add_observer(second.append)

    with pytest.raises(TransientError):
        await client.request("DELETE", "/v1/sims/{iccid}", path_params={"iccid": ICCID})

    assert first == second
    assert [(r.attempt, r.status_code, r.request_id, r.error) for r in first] == [
        (1, None, None, "TransientError"),
        (2, None, None, "TransientError"),
    ]
    assert {r.path for r in first} == {"/v1/sims/{iccid}"}


async def test_logs_never_show_the_identifier(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    statuses = iter([500, 200])
    api = FakeApi(lambda request: httpx.Response(next(statuses), json={}))
    client = make_client(api)

    with caplog.at_level(logging.DEBUG):
        await client.request("GET", "/v1/sims/{iccid}", path_params={"iccid": ICCID})

    assert any("/v1/sims/{iccid}" in record.getMessage() for record in caplog.records)
    assert any("retrying" in record.getMessage() for record in caplog.records)
    assert ICCID not in caplog.text


async def test_each_retry_is_a_warning_with_its_wait_cause_and_attempt(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter(
        [
            httpx.Response(503, json={}),
            httpx.Response(429, json={}, headers={"Retry-After": "2"}),
            httpx.Response(200, json={}),
        ]
    )
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    retry = RetryPolicy(max_retries=4, initial_wait=1.0, jitter=lambda: 1.0)
    client = make_client(FakeApi(lambda request: next(answers)), retry=retry, sleep=sleep)

    with caplog.at_level(logging.WARNING, logger="cdp_sdk"):
        await client.request("GET", "/v1/sims/{iccid}", path_params={"iccid": ICCID})

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert re.fullmatch(r"acme: retrying in 1\.0 s after .*503.* \(attempt 1 of 5\)", warnings[0])
    assert re.fullmatch(r"acme: retrying in 2\.0 s after .*429.* \(attempt 2 of 5\)", warnings[1])
    assert sleeps == [1.0, 2.0]


async def test_authenticate_without_a_login_flow(make_client: MakeClient) -> None:
    api = FakeApi()
    assert await make_client(api).authenticate() is False
    assert api.requests == []
