"""The client-side rate limiter, driven by a fake clock and a fake sleep (no real waiting).

Two kinds of fake time: a frozen clock with a sleep that records the delays it is asked
for (the limiter's bookings), and a virtual time in which sleepers wake in order and the
clock jumps to each wake-up (whole runs, checked against the limiter's guarantees).
"""

from __future__ import annotations

import asyncio
import heapq
import random
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_sdk.http import (
    ErrorTable,
    HttpClient,
    JsonLoginAuth,
    RateLimiter,
    RateLimitHeaders,
)


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeSleep:
    """Records every requested delay, by task name, and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.by_task: dict[str, float] = {}

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        task = asyncio.current_task()
        assert task is not None
        self.by_task[task.get_name()] = delay
        await asyncio.sleep(0)  # yield to the loop like a real sleep would; no waiting


class VirtualTime:
    """A clock and a sleep: sleepers wake in order of their wake-up time, and the clock
    jumps to each wake-up once every task that can run has run."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = 0
        self.oversleep: Callable[[str], float] = lambda task: 0.0
        """Extra seconds a sleep of the named task lasts beyond what was asked (a busy
        event loop)."""

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        name = task.get_name() if task is not None else ""
        wake = self.now + max(0.0, delay) + self.oversleep(name)
        heapq.heappush(self._sleepers, (wake, self._order, future))
        self._order += 1
        await future

    async def run(self, *work: Coroutine[Any, Any, Any]) -> list[Any]:
        tasks = [asyncio.create_task(job, name=f"job-{n}") for n, job in enumerate(work)]
        while True:
            for _ in range(50):
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                return [task.result() for task in tasks]
            assert self._sleepers, "every task waits and none sleeps: a deadlock"
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


async def settle() -> None:
    """Let every ready task run until it blocks (zero-delay yields only)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def start_slots(limiter: RateLimiter, sleep: FakeSleep, callers: int) -> list[float]:
    """Start ``callers`` concurrent calls; the start time each one was given, in call order."""

    async def call() -> None:
        async with limiter.slot():
            pass

    tasks = [asyncio.create_task(call(), name=f"caller-{i}") for i in range(callers)]
    await asyncio.gather(*tasks)
    # A caller that never slept started at once (the clock stands still at 0).
    return [sleep.by_task.get(f"caller-{i}", 0.0) for i in range(callers)]


# -- bookings on a frozen clock --------------------------------------------------------------


async def test_concurrent_callers_get_distinct_slots_spaced_by_the_rate(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(5, margin=0, clock=clock, sleep=sleep)

    slots = await start_slots(limiter, sleep, 20)

    # First come, first served, exactly one start every 1/rate seconds.
    assert slots == pytest.approx([0.2 * i for i in range(20)], abs=1e-9)
    assert len(set(slots)) == 20
    assert len(sleep.delays) == 19  # the first caller does not sleep at all
    assert limiter.started == 20


async def test_the_margin_keeps_one_percent_of_the_rate_in_reserve(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(5, clock=clock, sleep=sleep)
    assert limiter.interval == pytest.approx(1.01 / 5)
    assert limiter.window == pytest.approx(1.01)

    slots = await start_slots(limiter, sleep, 12)

    assert slots == pytest.approx([0.202 * i for i in range(12)], abs=1e-9)


async def test_burst_lets_the_first_callers_start_at_once_within_the_second(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(5, burst=3, margin=0, clock=clock, sleep=sleep)

    slots = await start_slots(limiter, sleep, 8)

    # Three at once, then one every 0.2 s, but never a sixth start within one second:
    # the burst is taken out of the second's five, not added to them.
    assert slots == pytest.approx([0.0, 0.0, 0.0, 0.2, 0.4, 1.0, 1.0, 1.0], abs=1e-9)


def test_emnify_burst_in_a_20_per_second_window(clock: FakeClock) -> None:
    # The case that went wrong: 20/s with a burst of 5 let 24 calls into the first second.
    limiter = RateLimiter(20, burst=5, clock=clock)
    starts = [limiter.reserve() for _ in range(100)]
    assert sum(1 for at in starts if at < 1.0) == 20
    assert starts[:5] == [0.0] * 5
    for i in range(len(starts) - 20):
        assert starts[i + 20] >= starts[i] + 1.0


@pytest.mark.parametrize(
    ("burst", "idle_until", "expected"),
    [
        # A long idle period refills the whole burst, and no more than the burst.
        (3, 10.0, [0.0, 0.0, 0.0, 0.2, 0.4]),
        (1, 10.0, [0.0, 0.2, 0.4]),
        # 0.2 s of idle time (one interval at 5/s) gives back exactly one slot.
        (3, 0.2, [0.0, 0.2, 0.8]),
        # 0.1 s into a 0.2 s interval: wait for the rest of it.
        (1, 0.1, [0.1, 0.3]),
    ],
)
def test_idle_time_refills_the_burst(
    clock: FakeClock, burst: int, idle_until: float, expected: list[float]
) -> None:
    limiter = RateLimiter(5, burst=burst, margin=0, clock=clock)
    # Use up the burst at t=0.
    assert [limiter.reserve() for _ in range(burst)] == [0.0] * burst

    clock.now = idle_until
    delays = [limiter.reserve() for _ in expected]

    assert delays == pytest.approx(expected, abs=1e-9)


def test_reserve_measures_from_the_current_time(clock: FakeClock) -> None:
    limiter = RateLimiter(2, margin=0, clock=clock)
    clock.now = 100.0
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.5)
    clock.now = 100.25
    assert limiter.reserve() == pytest.approx(0.75)  # booked at 101.0


@pytest.mark.parametrize(("rate", "per_window"), [(0.2, 1), (1, 1), (6, 6), (6.7, 7), (20, 20)])
def test_the_window_holds_the_rate_rounded_up(rate: float, per_window: int) -> None:
    assert RateLimiter(rate).per_window == per_window


async def test_no_rate_never_sleeps(clock: FakeClock, sleep: FakeSleep) -> None:
    limiter = RateLimiter(None, clock=clock, sleep=sleep)

    await start_slots(limiter, sleep, 50)

    assert sleep.delays == []
    assert limiter.reserve() == 0.0


# -- the guarantees over whole runs, in virtual time -----------------------------------------


def _check_guarantees(limiter: RateLimiter, starts: list[float]) -> None:
    """Both bounds of the limiter's docstring hold for these start times."""
    assert starts == sorted(starts)
    rate = limiter.rate
    assert rate is not None
    sustained = rate / (1 + limiter.margin)
    for i, first in enumerate(starts):
        for j in range(i, len(starts)):
            allowed = limiter.burst + 0.5 + (starts[j] - first) * sustained
            assert j - i + 1 <= allowed + 1e-6, ("token bucket", i, j, starts[i : j + 1])
        later = starts[i + limiter.per_window : i + limiter.per_window + 1]
        assert not later or later[0] >= first + limiter.window - 1e-9, ("window", i)


async def _requests(
    limiter: RateLimiter,
    time: VirtualTime,
    count: int,
    starts: list[float],
    latency: Callable[[], float],
) -> None:
    """One caller sending ``count`` requests one after the other."""
    for _ in range(count):
        release = await limiter.acquire()
        starts.append(time.now)
        if (seconds := latency()) > 0:
            await time.sleep(seconds)
        release()


@pytest.mark.parametrize("seed", range(12))
async def test_random_runs_keep_both_bounds(seed: int) -> None:
    rng = random.Random(seed)
    time = VirtualTime()
    rate = rng.choice([0.5, 2.0, 6.0, 6.7, 10.0, 20.0, 100.0])
    burst = rng.choice([1, 2, 5, 50])
    callers = rng.choice([1, 1, 3, 8])
    limiter = RateLimiter(
        rate,
        burst=burst,
        max_concurrency=rng.choice([None, 2]),
        clock=time,
        sleep=time.sleep,
    )
    time.oversleep = lambda task: rng.choice([0.0, 0.0, 0.0, rng.uniform(0, 0.05)])
    starts: list[float] = []
    per_caller = max(3, int(rate * 4) // callers)
    await time.run(
        *(
            _requests(limiter, time, per_caller, starts, lambda: rng.uniform(0, 0.3))
            for _ in range(callers)
        )
    )
    assert len(starts) == per_caller * callers == limiter.started
    _check_guarantees(limiter, starts)


@pytest.mark.parametrize(("rate", "burst"), [(20, 5), (6, 5), (10, 1), (100, 50)])
async def test_a_listing_reaches_nine_tenths_of_the_rate(rate: float, burst: int) -> None:
    time = VirtualTime()
    limiter = RateLimiter(rate, burst=burst, clock=time, sleep=time.sleep)
    starts: list[float] = []
    seconds = 20
    await time.run(_requests(limiter, time, int(rate * seconds), starts, lambda: 0.001))
    _check_guarantees(limiter, starts)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved >= 0.9 * rate


async def test_a_late_start_shifts_the_schedule_after_it() -> None:
    time = VirtualTime()
    limiter = RateLimiter(4, margin=0, clock=time, sleep=time.sleep)
    late = [0.3]  # the first sleep lasts 0.3 s longer than asked, as on a busy loop
    time.oversleep = lambda task: late.pop() if late else 0.0
    starts: list[float] = []
    await time.run(_requests(limiter, time, 6, starts, lambda: 0.0))
    # The second request starts 0.3 s late (more than half the 0.25 s interval): the
    # third follows it by half an interval, then the schedule goes on from there, and the
    # window of the late one holds back the sixth.
    assert starts == pytest.approx([0.0, 0.55, 0.675, 0.925, 1.175, 1.55])
    _check_guarantees(limiter, starts)


async def test_a_little_lateness_costs_no_throughput() -> None:
    time = VirtualTime()
    limiter = RateLimiter(4, margin=0, clock=time, sleep=time.sleep)
    time.oversleep = lambda task: 0.1  # every wake-up 0.1 s late: under half an interval
    starts: list[float] = []
    await time.run(_requests(limiter, time, 9, starts, lambda: 0.0))
    assert starts == pytest.approx([0.0] + [0.35 + 0.25 * k for k in range(8)])
    _check_guarantees(limiter, starts)


async def test_a_late_start_pushes_back_the_request_a_window_later() -> None:
    time = VirtualTime()
    limiter = RateLimiter(2, burst=2, margin=0, clock=time, sleep=time.sleep)
    late = {"job-2": 0.3}
    time.oversleep = lambda task: late.pop(task, 0.0)
    starts: dict[int, float] = {}

    async def request(number: int) -> None:
        release = await limiter.acquire()
        starts[number] = time.now
        release()

    await time.run(*(request(n) for n in range(6)))
    # Booked: 0, 0, 1, 1, 2, 2. The third wakes 0.3 s late; the sixth, a window after
    # it, waits as long: two starts in one second, counted on the actual starts.
    assert [starts[n] for n in range(6)] == pytest.approx([0.0, 0.0, 1.3, 1.0, 2.0, 2.3])
    _check_guarantees(limiter, sorted(starts.values()))


# -- the platform's own count ----------------------------------------------------------------


async def test_no_request_starts_past_the_platforms_count_until_it_resets(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(None, clock=clock, sleep=sleep)
    limiter.observe(remaining=2, reset_after=30.0)

    slots = await start_slots(limiter, sleep, 4)

    assert slots == [0.0, 0.0, 30.0, 30.0]
    clock.now = 30.0  # the period is over: the count is unknown again, until told
    assert limiter.reserve() == 0.0


async def test_requests_in_flight_count_against_the_platforms_number(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(None, clock=clock, sleep=sleep)
    releases = [await limiter.acquire() for _ in range(3)]
    # The answer to the first request says 2 remain: the two others in flight may not
    # have been counted yet, so none is left for sure.
    limiter.observe(remaining=2, reset_after=5.0)
    for release in releases:
        release()
    assert limiter.reserve() == pytest.approx(5.0)


async def test_the_count_and_the_rate_apply_together(clock: FakeClock, sleep: FakeSleep) -> None:
    limiter = RateLimiter(10, margin=0, clock=clock, sleep=sleep)
    limiter.observe(remaining=3, reset_after=2.0)
    slots = await start_slots(limiter, sleep, 5)
    # The fourth waits for the reset; the fifth follows it at the rate.
    assert slots == pytest.approx([0.0, 0.1, 0.2, 2.0, 2.1])


# -- concurrency ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [None, 1000.0])
async def test_max_concurrency_bounds_bodies_in_flight(
    clock: FakeClock, sleep: FakeSleep, rate: float | None
) -> None:
    limiter = RateLimiter(rate, burst=10, max_concurrency=2, clock=clock, sleep=sleep)
    gates = [asyncio.Event() for _ in range(5)]
    entered: list[int] = []
    running = 0
    peak = 0

    async def call(i: int) -> None:
        nonlocal running, peak
        async with limiter.slot():
            running += 1
            peak = max(peak, running)
            entered.append(i)
            await gates[i].wait()
            running -= 1

    tasks = [asyncio.create_task(call(i)) for i in range(5)]
    await settle()
    assert entered == [0, 1]

    gates[1].set()
    await settle()
    assert entered == [0, 1, 2]
    assert running == 2

    gates[0].set()
    await settle()
    assert entered == [0, 1, 2, 3]

    for gate in gates:
        gate.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1, 2, 3, 4]
    assert peak == 2
    assert running == 0


async def test_slot_is_released_when_the_call_fails(clock: FakeClock, sleep: FakeSleep) -> None:
    limiter = RateLimiter(None, max_concurrency=1, clock=clock, sleep=sleep)

    with pytest.raises(RuntimeError, match="boom"):
        async with limiter.slot():
            raise RuntimeError("boom")

    # The only slot is free again; otherwise the next caller would block forever.
    async def enter() -> None:
        async with limiter.slot():
            pass

    next_call = asyncio.create_task(enter())
    await settle()
    assert next_call.done()
    await next_call


async def test_release_frees_the_slot_once(clock: FakeClock, sleep: FakeSleep) -> None:
    limiter = RateLimiter(None, max_concurrency=2, clock=clock, sleep=sleep)
    first = await limiter.acquire()
    second = await limiter.acquire()
    first()
    first()  # a second call changes nothing
    third = await limiter.acquire()
    blocked = asyncio.create_task(limiter.acquire())
    await settle()
    assert not blocked.done(), "two slots: the first's double release freed only one"
    second()
    third()
    (await blocked)()


async def test_a_cancelled_wait_gives_the_concurrency_slot_back(clock: FakeClock) -> None:
    never = asyncio.Event()

    async def hang(delay: float) -> None:
        await never.wait()

    limiter = RateLimiter(1, max_concurrency=1, clock=clock, sleep=hang)
    (await limiter.acquire())()
    waiting = asyncio.create_task(limiter.acquire())  # must wait one second: hangs
    await settle()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter._semaphore is not None
    assert not limiter._semaphore.locked()


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0,), {}, "rate must be positive or None"),
        ((-1.5,), {}, "rate must be positive or None"),
        ((5,), {"burst": 0}, "burst must be at least 1"),
        ((5,), {"burst": -2}, "burst must be at least 1"),
        ((5,), {"max_concurrency": 0}, "max_concurrency must be at least 1 or None"),
        ((None,), {"max_concurrency": -1}, "max_concurrency must be at least 1 or None"),
        ((5,), {"margin": -0.1}, "margin must be at least 0 and below 1"),
        ((5,), {"margin": 1.0}, "margin must be at least 0 and below 1"),
    ],
)
def test_invalid_arguments(args: tuple[float | None], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        RateLimiter(*args, **kwargs)


def test_the_settings_read_back() -> None:
    limiter = RateLimiter(4.0, burst=3, max_concurrency=2)
    assert (limiter.rate, limiter.burst, limiter.max_concurrency) == (4.0, 3, 2)


@pytest.fixture
def busy_thread_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, to provoke races."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


class SlowTime(float):
    """A time whose comparison runs a little Python code.

    ``reserve`` compares the clock with the booked time between reading and writing it; a
    slow comparison there gives other threads the chance to interleave, so a missing lock
    shows up as duplicate slots. It does not wait on anything.
    """

    def __gt__(self, other: object) -> bool:
        for _ in range(3000):
            pass
        return float(self) > float(other)  # type: ignore[arg-type]

    def __lt__(self, other: object) -> bool:
        for _ in range(3000):
            pass
        return float(self) < float(other)  # type: ignore[arg-type]


@pytest.mark.usefixtures("busy_thread_switching")
def test_reserve_is_thread_safe() -> None:
    # A clock frozen at 0; 4 per second keeps every slot an exact binary fraction (k * 0.25).
    limiter = RateLimiter(4, margin=0, clock=lambda: SlowTime(0.0))
    threads_count, per_thread = 8, 50
    barrier = threading.Barrier(threads_count)
    results: list[list[float]] = [[] for _ in range(threads_count)]

    def reserve_many(out: list[float]) -> None:
        barrier.wait()
        out.extend(limiter.reserve() for _ in range(per_thread))

    threads = [threading.Thread(target=reserve_many, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    delays = sorted(delay for out in results for delay in out)
    assert len(set(delays)) == threads_count * per_thread
    assert delays == [0.25 * k for k in range(threads_count * per_thread)]
    # Each thread saw its own reservations in increasing order.
    assert all(out == sorted(out) for out in results)


# -- in the HTTP client: every request that reaches the server -------------------------------


async def test_one_limiter_is_shared_by_every_call_of_a_client(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(5, margin=0, clock=clock, sleep=sleep)
    client = HttpClient(
        connector="test",
        base_url="https://api.example.test",
        limiter=limiter,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
    )
    try:
        await asyncio.gather(*(client.request("GET", f"/v1/sims/{i}") for i in range(4)))
        await client.request_json("GET", "/v1/sims")
    finally:
        await client.aclose()

    assert sleep.delays == pytest.approx([0.2, 0.4, 0.6, 0.8], abs=1e-9)


class LoginVendor:
    """A login endpoint and one resource; the first token it issues is refused once."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.logins = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.url.path == "/login":
            self.logins += 1
            return httpx.Response(200, json={"token": f"t{self.logins}", "expires_in": 3600})
        if request.headers.get("Authorization") == "Bearer t1":
            return httpx.Response(401, json={"message": "expired"})
        return httpx.Response(200, json={"ok": True})


async def test_logins_the_relogin_and_the_resend_each_take_a_slot(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    vendor = LoginVendor()
    limiter = RateLimiter(2, margin=0, clock=clock, sleep=sleep)
    client = HttpClient(
        connector="test",
        base_url="https://api.example.test",
        auth=JsonLoginAuth("/login", {"key": SecretStr("k")}, token_field="token"),
        limiter=limiter,
        transport=httpx.MockTransport(vendor),
    )
    try:
        assert await client.request_json("GET", "/v1/thing") == {"ok": True}
    finally:
        await client.aclose()

    assert vendor.requests == ["POST /login", "GET /v1/thing", "POST /login", "GET /v1/thing"]
    assert limiter.started == 4
    # Four starts at 2/s: 0, 0.5, 1.0 and 1.5 s.
    assert sleep.delays == pytest.approx([0.5, 1.0, 1.5], abs=1e-9)


async def test_authenticate_takes_a_slot(clock: FakeClock, sleep: FakeSleep) -> None:
    vendor = LoginVendor()
    limiter = RateLimiter(1, margin=0, clock=clock, sleep=sleep)
    client = HttpClient(
        connector="test",
        base_url="https://api.example.test",
        auth=JsonLoginAuth("/login", {"key": SecretStr("k")}, token_field="token"),
        limiter=limiter,
        transport=httpx.MockTransport(vendor),
    )
    try:
        assert await client.authenticate() is True
        assert await client.authenticate() is True
    finally:
        await client.aclose()
    assert limiter.started == 2
    assert sleep.delays == pytest.approx([1.0])


class HeldBody(httpx.AsyncByteStream):
    """A response body that is only complete once the test opens its gate."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await self.gate.wait()
        yield b"{}"


class GatedTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.gates: list[asyncio.Event] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gate = asyncio.Event()
        self.gates.append(gate)
        return httpx.Response(200, stream=HeldBody(gate))


async def test_a_request_holds_its_slot_until_its_body_is_read() -> None:
    transport = GatedTransport()
    client = HttpClient(
        connector="test",
        base_url="https://api.example.test",
        limiter=RateLimiter(None, max_concurrency=1),
        transport=transport,
    )
    try:
        first = asyncio.create_task(client.request("GET", "/a"))
        second = asyncio.create_task(client.request("GET", "/b"))
        await settle()
        assert len(transport.gates) == 1, "the second request waits for the first's body"
        transport.gates[0].set()
        await first
        await settle()
        assert len(transport.gates) == 2
        transport.gates[1].set()
        await second
    finally:
        await client.aclose()


async def test_a_failed_send_frees_its_slot() -> None:
    calls = 0

    def failing(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={})

    client = HttpClient(
        connector="test",
        base_url="https://api.example.test",
        limiter=RateLimiter(None, max_concurrency=1),
        transport=httpx.MockTransport(failing),
        sleep=_no_wait,
    )
    try:
        await asyncio.wait_for(client.request("GET", "/a"), timeout=5)
    finally:
        await client.aclose()
    assert calls == 2


async def _no_wait(delay: float) -> None:
    return None


# -- the platform's count, read from its headers ----------------------------------------------


WALL = 1_700_000_000.0


@pytest.mark.parametrize(
    ("names", "headers", "expected"),
    [
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Left": "7", "X-Reset": "42"}, (7, 42.0)),
        (RateLimitHeaders("x-left", "x-reset"), {"X-LEFT": " 0 ", "X-Reset": "1.5"}, (0, 1.5)),
        (
            RateLimitHeaders("X-Left", "X-Reset", unit="epoch_seconds"),
            {"X-Left": "3", "X-Reset": str(int(WALL) + 20)},
            (3, 20.0),
        ),
        (
            RateLimitHeaders("X-Left", "X-Reset", unit="epoch_millis"),
            {"X-Left": "3", "X-Reset": str(int(WALL * 1000) + 2500)},
            (3, 2.5),
        ),
        # A reset in the past means now.
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Left": "3", "X-Reset": "-4"}, (3, 0.0)),
        # Missing or unreadable: no count.
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Left": "3"}, None),
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Reset": "3"}, None),
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Left": "many", "X-Reset": "3"}, None),
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Left": "-1", "X-Reset": "3"}, None),
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Left": "1", "X-Reset": "soon"}, None),
        (RateLimitHeaders("X-Left", "X-Reset"), {"X-Left": "1", "X-Reset": "nan"}, None),
        (None, {"X-Left": "1", "X-Reset": "3"}, None),
    ],
)
def test_rate_budget_reads_the_declared_headers(
    names: RateLimitHeaders | None, headers: dict[str, str], expected: tuple[int, float] | None
) -> None:
    table = ErrorTable(wall_clock=lambda: WALL).extend(rate_limit_headers=names)
    response = httpx.Response(200, headers=headers)
    assert table.rate_budget(response) == expected


def test_extend_keeps_the_headers_unless_given() -> None:
    names = RateLimitHeaders("A", "B")
    table = ErrorTable().extend(rate_limit_headers=names)
    assert table.extend().rate_limit_headers is names
    other = RateLimitHeaders("C", "D", unit="epoch_millis")
    assert table.extend(rate_limit_headers=other).rate_limit_headers is other


async def test_the_client_paces_by_the_platforms_headers(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    left = iter(["2", "1", "0", "9"])

    def vendor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"X-Left": next(left), "X-Reset": "12"})

    client = HttpClient(
        connector="test",
        base_url="https://api.example.test",
        limiter=RateLimiter(None, clock=clock, sleep=sleep),
        errors=ErrorTable().extend(rate_limit_headers=RateLimitHeaders("X-Left", "X-Reset")),
        transport=httpx.MockTransport(vendor),
    )
    try:
        for _ in range(3):
            await client.request("GET", "/v1/sims")
        assert sleep.delays == []
        await client.request("GET", "/v1/sims")  # the third answer said 0 remain
    finally:
        await client.aclose()
    assert sleep.delays == pytest.approx([12.0])


def test_the_default_table_names_no_rate_headers() -> None:
    assert ErrorTable().rate_limit_headers is None
