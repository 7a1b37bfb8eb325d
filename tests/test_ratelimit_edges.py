"""The limiter without a rate, and the platform's own count read while other requests are
still in flight."""

from __future__ import annotations

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
