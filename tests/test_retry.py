"""The retry policy, alone and inside ``HttpClient`` (fake sleep: no real waiting)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from cdp_sdk.errors import (
    AuthenticationError,
    CdpError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.http import ErrorTable, HttpClient, RetryAfterHeader, RetryPolicy

BASE = "https://api.example.test"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()
"""The fixed wall-clock time of the error table, for HTTP dates and reset instants."""

OK = httpx.Response(200, json={"ok": True})


class RecordingSleep:
    """An async sleep that records the delays it was asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(base_url=BASE, assert_all_called=False)


MakeClient = Callable[..., HttpClient]


@pytest.fixture
async def make_client(router: respx.MockRouter, sleep: RecordingSleep) -> AsyncIterator[MakeClient]:
    clients: list[HttpClient] = []

    def make(**kwargs: Any) -> HttpClient:
        kwargs.setdefault("retry", RetryPolicy(jitter=lambda: 1.0))
        kwargs.setdefault("errors", ErrorTable(wall_clock=lambda: NOW))
        client = HttpClient(
            connector="test",
            base_url=BASE,
            transport=httpx.MockTransport(router.async_handler),
            sleep=sleep,
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# --- server-directed waits -------------------------------------------------------------


async def test_429_with_retry_after_seconds_then_success(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    route = router.get("/v1/sims").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), OK]
    )

    response = await make_client().request("GET", "/v1/sims")

    assert response.status_code == 200
    assert route.call_count == 2
    assert sleep.delays == [2.0]


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("Wed, 01 May 2024 12:00:05 GMT", 5.0),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        ("Wed, 01 May 2024 11:59:00 GMT", 0.0),  # already past: go again at once
        ("0", 0.0),
        ("1.5", 1.5),
    ],
)
async def test_retry_after_as_http_date_or_seconds(
    router: respx.MockRouter,
    make_client: MakeClient,
    sleep: RecordingSleep,
    retry_after: str,
    expected: float,
) -> None:
    router.get("/v1/sims").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": retry_after}), OK]
    )

    await make_client().request("GET", "/v1/sims")

    assert sleep.delays == [pytest.approx(expected)]


@pytest.mark.parametrize(
    ("header", "headers", "expected"),
    [
        (
            RetryAfterHeader("X-Soracom-Ratelimit-Seconds-Before-Refresh"),
            {"X-Soracom-Ratelimit-Seconds-Before-Refresh": "3"},
            3.0,
        ),
        (
            RetryAfterHeader("x-ratelimit-reset", unit="epoch_seconds"),
            {"X-RateLimit-Reset": str(int(NOW) + 7)},
            7.0,
        ),
        (
            RetryAfterHeader("x-ratelimit-reset", unit="epoch_millis"),
            {"x-ratelimit-reset": str(int(NOW * 1000) + 2500)},
            2.5,
        ),
        # The vendor header comes first, even when Retry-After is also sent.
        (
            RetryAfterHeader("X-Soracom-Ratelimit-Seconds-Before-Refresh"),
            {"X-Soracom-Ratelimit-Seconds-Before-Refresh": "4", "Retry-After": "9"},
            4.0,
        ),
        # Without the vendor header, the table falls back to Retry-After.
        (
            RetryAfterHeader("X-Soracom-Ratelimit-Seconds-Before-Refresh"),
            {"Retry-After": "9"},
            9.0,
        ),
    ],
    ids=["soracom-seconds", "epoch-seconds", "epoch-millis", "vendor-first", "fallback"],
)
async def test_vendor_reset_headers(
    router: respx.MockRouter,
    make_client: MakeClient,
    sleep: RecordingSleep,
    header: RetryAfterHeader,
    headers: dict[str, str],
    expected: float,
) -> None:
    errors = ErrorTable(wall_clock=lambda: NOW).extend(retry_after_headers=[header])
    router.get("/v1/sims").mock(side_effect=[httpx.Response(429, headers=headers), OK])

    await make_client(errors=errors).request("GET", "/v1/sims")

    assert sleep.delays == [pytest.approx(expected)]


@pytest.mark.parametrize(
    "retry_after", ["120", "Wed, 01 May 2024 12:02:00 GMT"], ids=["seconds", "http-date"]
)
async def test_retry_after_above_cap_raises_at_once(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep, retry_after: str
) -> None:
    route = router.get("/v1/sims").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": retry_after, "X-Request-Id": "r-1"}),
            OK,
        ]
    )
    client = make_client(retry=RetryPolicy(max_retry_after=60))

    with pytest.raises(RateLimitedError) as caught:
        await client.request("GET", "/v1/sims")

    assert route.call_count == 1
    assert sleep.delays == []
    assert caught.value.retry_after == pytest.approx(120.0)
    assert caught.value.status_code == 429
    assert caught.value.request_id == "r-1"
    assert caught.value.connector == "test"


async def test_retry_after_equal_to_cap_is_followed(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    router.get("/x").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "60"}), OK])
    await make_client(retry=RetryPolicy(max_retry_after=60)).request("GET", "/x")
    assert sleep.delays == [60.0]


async def test_429_on_every_attempt_raises_rate_limited(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    route = router.get("/v1/sims").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "1"})
    )

    with pytest.raises(RateLimitedError) as caught:
        await make_client(retry=RetryPolicy(max_retries=3)).request("GET", "/v1/sims")

    assert route.call_count == 4
    assert sleep.delays == [1.0, 1.0, 1.0]
    assert caught.value.retry_after == 1.0
    assert caught.value.status_code == 429


async def test_429_without_retry_after_backs_off(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    router.get("/x").mock(return_value=httpx.Response(429))
    policy = RetryPolicy(max_retries=2, initial_wait=1.0, jitter=lambda: 1.0)

    with pytest.raises(RateLimitedError) as caught:
        await make_client(retry=policy).request("GET", "/x")

    assert sleep.delays == [1.0, 2.0]
    assert caught.value.retry_after is None


# --- transient failures ----------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_transient_status_then_success(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep, status: int
) -> None:
    route = router.get("/v1/sims").mock(side_effect=[httpx.Response(status), OK])
    # The default jitter is random: the wait is somewhere in [initial / 2, initial].
    client = make_client(retry=RetryPolicy(initial_wait=0.5))

    response = await client.request("GET", "/v1/sims")

    assert response.status_code == 200
    assert route.call_count == 2
    assert len(sleep.delays) == 1
    assert 0.25 <= sleep.delays[0] <= 0.5


async def test_503_with_retry_after_is_followed(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    router.get("/x").mock(side_effect=[httpx.Response(503, headers={"Retry-After": "7"}), OK])
    await make_client().request("GET", "/x")
    assert sleep.delays == [7.0]


async def test_503_with_retry_after_above_cap_raises_transient_at_once(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    route = router.get("/x").mock(return_value=httpx.Response(503, headers={"Retry-After": "600"}))

    with pytest.raises(TransientError) as caught:
        await make_client().request("GET", "/x")

    assert route.call_count == 1
    assert sleep.delays == []
    assert caught.value.retry_after == 600.0


async def test_503_every_time_gives_up_with_capped_growing_waits(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    route = router.get("/v1/sims").mock(
        return_value=httpx.Response(503, headers={"X-Request-Id": "last"})
    )
    policy = RetryPolicy(max_retries=5, initial_wait=1.0, max_wait=3.0, jitter=lambda: 1.0)

    with pytest.raises(TransientError) as caught:
        await make_client(retry=policy).request("GET", "/v1/sims")

    assert route.call_count == 6
    assert sleep.delays == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert caught.value.status_code == 503
    assert caught.value.request_id == "last"


@pytest.mark.parametrize(("jitter", "expected"), [(0.0, [0.5, 1.0]), (0.5, [0.75, 1.5])])
async def test_jitter_randomises_half_of_the_wait(
    router: respx.MockRouter,
    make_client: MakeClient,
    sleep: RecordingSleep,
    jitter: float,
    expected: list[float],
) -> None:
    router.get("/x").mock(side_effect=[httpx.Response(500), httpx.Response(500), OK])
    policy = RetryPolicy(initial_wait=1.0, jitter=lambda: jitter)
    await make_client(retry=policy).request("GET", "/x")
    assert sleep.delays == expected


@pytest.mark.parametrize("status", [503, 429])
async def test_max_retries_zero_never_retries(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep, status: int
) -> None:
    route = router.get("/x").mock(side_effect=[httpx.Response(status), OK])

    with pytest.raises((TransientError, RateLimitedError)):
        await make_client(retry=RetryPolicy(max_retries=0)).request("GET", "/x")

    assert route.call_count == 1
    assert sleep.delays == []


# --- which methods are retried ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "idempotent", "retried"),
    [
        ("GET", None, True),
        ("HEAD", None, True),
        ("OPTIONS", None, True),
        ("PUT", None, True),
        ("DELETE", None, True),
        ("POST", None, False),
        ("PATCH", None, False),
        ("POST", True, True),
        ("PATCH", True, True),
        ("PUT", False, False),
        ("get", None, True),  # method names are case-insensitive
    ],
)
async def test_which_methods_are_retried_after_a_500(
    router: respx.MockRouter,
    make_client: MakeClient,
    sleep: RecordingSleep,
    method: str,
    idempotent: bool | None,
    retried: bool,
) -> None:
    route = router.route(method=method.upper(), path="/v1/sims/1").mock(
        side_effect=[httpx.Response(500), OK]
    )
    client = make_client()

    if retried:
        response = await client.request(method, "/v1/sims/1", idempotent=idempotent)
        assert response.status_code == 200
        assert route.call_count == 2
        assert len(sleep.delays) == 1
    else:
        with pytest.raises(TransientError) as caught:
            await client.request(method, "/v1/sims/1", json={"a": 1}, idempotent=idempotent)
        assert caught.value.status_code == 500
        assert route.call_count == 1
        assert sleep.delays == []


async def test_post_is_retried_after_a_429(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    # A 429 says the server did not process the call: a write is sent again after the wait.
    route = router.post("/x").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), OK]
    )
    response = await make_client().request("POST", "/x", json={"status": "active"})
    assert response.status_code == 200
    assert route.call_count == 2
    assert sleep.delays == [1.0]
    assert route.calls[1].request.content == route.calls[0].request.content


async def test_post_gives_up_after_429s_with_the_wait(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    route = router.post("/x").respond(429, headers={"Retry-After": "2"})
    with pytest.raises(RateLimitedError) as caught:
        await make_client(retry=RetryPolicy(max_retries=2)).request("POST", "/x", json={})
    assert route.call_count == 3
    assert sleep.delays == [2.0, 2.0]
    assert caught.value.retry_after == 2.0


async def test_post_is_not_retried_after_a_503(
    router: respx.MockRouter, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    # Unlike a 429, a 5xx may come after the server acted: a write is not sent again.
    route = router.post("/x").mock(side_effect=[httpx.Response(503), OK])
    with pytest.raises(TransientError) as caught:
        await make_client().request("POST", "/x", json={})
    assert route.call_count == 1
    assert not isinstance(caught.value, OutcomeUnknownError)


# --- transport errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow handshake")]
)
@pytest.mark.parametrize("method", ["POST", "PATCH", "GET"])
async def test_not_sent_is_retried_for_every_method(
    router: respx.MockRouter,
    make_client: MakeClient,
    sleep: RecordingSleep,
    error: Exception,
    method: str,
) -> None:
    # The connection was never opened, so even a non-idempotent write is safe to repeat.
    route = router.route(method=method, path="/v1/sims").mock(side_effect=[error, OK])

    response = await make_client().request(method, "/v1/sims", json={"name": "x"})

    assert response.status_code == 200
    assert route.call_count == 2
    assert sleep.delays == [0.5]


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("no answer"),
        httpx.ReadError("reset by peer"),
        httpx.RemoteProtocolError("server hung up"),
        httpx.WriteTimeout("stuck"),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("PUT", True), ("POST", False)])
async def test_error_after_sending_is_retried_only_when_idempotent(
    router: respx.MockRouter,
    make_client: MakeClient,
    sleep: RecordingSleep,
    error: Exception,
    method: str,
    retried: bool,
) -> None:
    route = router.route(method=method, path="/v1/sims").mock(side_effect=[error, OK])
    client = make_client()

    if retried:
        assert (await client.request(method, "/v1/sims")).status_code == 200
        assert route.call_count == 2
    else:
        with pytest.raises(OutcomeUnknownError, match="may have been applied") as caught:
            await client.request(method, "/v1/sims", json={"name": "x"})
        assert route.call_count == 1
        assert sleep.delays == []
        assert caught.value.status_code is None
        assert isinstance(caught.value, TransientError)  # still caught as transient
        assert type(caught.value.__cause__) is type(error)  # kept for debugging


async def test_transport_errors_on_every_attempt_raise_transient(
    router: respx.MockRouter, make_client: MakeClient
) -> None:
    route = router.get("/x").mock(side_effect=httpx.ConnectError("no route"))
    with pytest.raises(TransientError, match="could not connect to") as caught:
        await make_client(retry=RetryPolicy(max_retries=2)).request("GET", "/x")
    assert route.call_count == 3
    assert caught.value.connector == "test"
    assert not isinstance(caught.value, OutcomeUnknownError)
    # A copy of the httpx error is chained for --debug, its message redacted.
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert str(caught.value.__cause__) == "no route"


# --- client errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, InvalidRequestError),
        (302, UnexpectedResponseError),
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_client_errors_are_never_retried(
    router: respx.MockRouter,
    make_client: MakeClient,
    sleep: RecordingSleep,
    status: int,
    error: type[CdpError],
    method: str,
) -> None:
    route = router.route(method=method, path="/v1/sims/1").mock(
        side_effect=[httpx.Response(status, json={"message": "nope"}), OK]
    )

    with pytest.raises(error) as caught:
        await make_client().request(method, "/v1/sims/1")

    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert route.call_count == 1
    assert sleep.delays == []


# --- RetryPolicy as a pure function ----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "idempotent", "sent", "expected"),
    [
        (TransientError("x"), True, True, True),
        (RateLimitedError("x"), True, True, True),
        (TransientError("x"), False, True, False),
        (RateLimitedError("x"), False, True, True),  # a 429 was not processed
        (RateLimitedError("x", retry_after=61.0), False, True, False),
        (TransientError("x"), False, False, True),
        (RateLimitedError("x", retry_after=60.0), True, True, True),
        (RateLimitedError("x", retry_after=60.5), True, True, False),
        (TransientError("x", retry_after=61.0), True, True, False),
        (InvalidRequestError("x"), True, True, False),
        (AuthenticationError("x"), True, False, False),
        (NotFoundError("x"), True, True, False),
        (UnexpectedResponseError("x"), True, True, False),
    ],
)
def test_should_retry(error: CdpError, idempotent: bool, sent: bool, expected: bool) -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.should_retry(error, idempotent=idempotent, sent=sent) is expected


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (4, 2.0, 4.0), (5, 2.5, 5.0), (30, 2.5, 5.0)],
)
def test_wait_grows_exponentially_and_is_capped(attempt: int, low: float, high: float) -> None:
    error = TransientError("x")
    assert RetryPolicy(initial_wait=0.5, max_wait=5.0, jitter=lambda: 0.0).wait(
        error, attempt
    ) == pytest.approx(low)
    assert RetryPolicy(initial_wait=0.5, max_wait=5.0, jitter=lambda: 1.0).wait(
        error, attempt
    ) == pytest.approx(high)


def test_wait_follows_the_server() -> None:
    policy = RetryPolicy(jitter=lambda: 1.0)
    assert policy.wait(RateLimitedError("x", retry_after=12.0), 1) == 12.0
    assert policy.wait(TransientError("x", retry_after=0.0), 3) == 0.0
    # Without a server wait, back off.
    assert policy.wait(RateLimitedError("x"), 2) == 1.0


def test_default_wait_stays_within_the_jitter_band() -> None:
    policy = RetryPolicy(initial_wait=0.5)
    waits = [policy.wait(TransientError("x"), 1) for _ in range(200)]
    assert all(0.25 <= wait <= 0.5 for wait in waits)
    assert len(set(waits)) > 1  # it is actually random
