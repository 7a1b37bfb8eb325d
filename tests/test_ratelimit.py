"""The client-side rate limiter, driven by a fake clock and a fake sleep (no real waiting)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from cdp_sdk.http import HttpClient, RateLimiter


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


async def test_concurrent_callers_get_distinct_slots_spaced_by_the_rate(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(5, clock=clock, sleep=sleep)

    slots = await start_slots(limiter, sleep, 20)

    # First come, first served, exactly one start every 1/rate seconds.
    assert slots == pytest.approx([0.2 * i for i in range(20)], abs=1e-9)
    assert len(set(slots)) == 20
    assert len(sleep.delays) == 19  # the first caller does not sleep at all


async def test_burst_lets_the_first_callers_start_at_once(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(5, burst=3, clock=clock, sleep=sleep)

    slots = await start_slots(limiter, sleep, 6)

    assert slots == pytest.approx([0.0, 0.0, 0.0, 0.2, 0.4, 0.6], abs=1e-9)


@pytest.mark.parametrize(
    ("burst", "idle_until", "expected"),
    [
        # A long idle period refills the whole burst, and no more than the burst.
        (3, 10.0, [0.0, 0.0, 0.0, 0.2, 0.4]),
        (1, 10.0, [0.0, 0.2, 0.4]),
        # 0.2 s of idle time (one interval at 5/s) gives back exactly one slot.
        (3, 0.2, [0.0, 0.2, 0.4]),
        # 0.1 s into a 0.2 s interval: wait for the rest of it.
        (1, 0.1, [0.1, 0.3]),
    ],
)
def test_idle_time_refills_the_burst(
    clock: FakeClock, burst: int, idle_until: float, expected: list[float]
) -> None:
    limiter = RateLimiter(5, burst=burst, clock=clock)
    # Use up the burst at t=0.
    assert [limiter.reserve() for _ in range(burst)] == [0.0] * burst

    clock.now = idle_until
    delays = [limiter.reserve() for _ in expected]

    assert delays == pytest.approx(expected, abs=1e-9)


def test_reserve_measures_from_the_current_time(clock: FakeClock) -> None:
    limiter = RateLimiter(2, clock=clock)
    clock.now = 100.0
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.5)
    clock.now = 100.25
    assert limiter.reserve() == pytest.approx(0.75)  # booked at 101.0


async def test_no_rate_never_sleeps(clock: FakeClock, sleep: FakeSleep) -> None:
    limiter = RateLimiter(None, clock=clock, sleep=sleep)

    await start_slots(limiter, sleep, 50)

    assert sleep.delays == []
    assert limiter.reserve() == 0.0


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


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0,), {}, "rate must be positive or None"),
        ((-1.5,), {}, "rate must be positive or None"),
        ((5,), {"burst": 0}, "burst must be at least 1"),
        ((5,), {"burst": -2}, "burst must be at least 1"),
        ((5,), {"max_concurrency": 0}, "max_concurrency must be at least 1 or None"),
        ((None,), {"max_concurrency": -1}, "max_concurrency must be at least 1 or None"),
    ],
)
def test_invalid_arguments(args: tuple[float | None], kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        RateLimiter(*args, **kwargs)  # type: ignore[arg-type]


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
    limiter = RateLimiter(4, clock=lambda: SlowTime(0.0))
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


async def test_one_limiter_is_shared_by_every_call_of_a_client(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    limiter = RateLimiter(5, clock=clock, sleep=sleep)
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
