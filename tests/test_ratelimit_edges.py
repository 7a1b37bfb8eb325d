"""The limiter without a rate, the platform's own count read while other requests are
still in flight, and a sleep that returns a little early."""

from __future__ import annotations

import pytest

from cdp_sdk.http import RateLimiter


class Recorder:
    """A sleep that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_a_count_read_during_other_requests_discounts_those_still_in_flight() -> None:
    sleep = Recorder()
    limiter = RateLimiter(None, clock=lambda: 50.0, sleep=sleep)
    first = await limiter.acquire()
    second = await limiter.acquire()
    await limiter.acquire()
    first()  # one of the three has ended; two are in flight
    first()  # ending it twice changes nothing
    # The answer to the second says 3 remain: the third, still in flight, may not be
    # counted yet, so only 2 more may start before the reset.
    limiter.observe(remaining=3, reset_after=10.0)
    second()
    await limiter.acquire()
    await limiter.acquire()
    assert sleep.waits == []
    await limiter.acquire()
    assert sleep.waits == [10.0]


def test_a_limiter_without_a_rate_spaces_nothing_and_counts_no_window() -> None:
    limiter = RateLimiter(None)
    assert limiter.interval == 0.0
    assert limiter.per_window == 0
    assert limiter.reserve() == 0.0


class ScriptedTime:
    """A clock, and a sleep that moves it to the next scripted wake-up time (or by the
    delay asked once the script is spent)."""

    def __init__(self, wake_ups: list[float]) -> None:
        self.now = 0.0
        self.wake_ups = wake_ups

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now = self.wake_ups.pop(0) if self.wake_ups else self.now + seconds


async def test_a_wake_up_one_millisecond_early_still_counts_as_a_real_wait() -> None:
    # Two requests a second, in a window of one second. The third, booked for 1.0, wakes
    # 0.3 s late and the fourth follows it at once. The fifth is booked for 2.0, a window
    # after the third's booking; its sleep returns 1 ms early, as a real sleep may: that
    # is still a real wait, so the window is counted on the actual starts, and the fifth
    # waits until 2.3, a window after the third's start (not 3 starts in 0.7 s).
    time = ScriptedTime([1.3, 2.0 - 0.001])
    limiter = RateLimiter(2, burst=2, margin=0, clock=time, sleep=time.sleep)
    starts: list[float] = []
    for _ in range(5):
        release = await limiter.acquire()
        starts.append(time.now)
        release()
    assert starts == pytest.approx([0.0, 0.0, 1.3, 1.3, 2.3])
