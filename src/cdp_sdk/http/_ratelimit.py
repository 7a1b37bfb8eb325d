"""A client-side rate limiter shared by every call of one connector instance."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

__all__ = ["RateLimiter"]


class RateLimiter:
    """Spaces calls to at most ``rate`` per second and ``max_concurrency`` in flight.

    Scheduling is virtual (GCRA): each caller atomically reserves the next free start time
    and then sleeps until it, so concurrent callers never race, the order is first come
    first served, and up to ``burst`` calls may start at once after an idle period. The
    clock and the sleep function are injectable, so the limiter is tested without waiting.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: int = 1,
        max_concurrency: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive or None")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1 or None")
        self.rate = rate
        self.burst = burst
        self.max_concurrency = max_concurrency
        self._clock = clock
        self.sleep = sleep
        """The async sleep used to wait for a start time (replaceable in tests)."""
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._theoretical_arrival = float("-inf")
        self._lock = threading.Lock()
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    def reserve(self) -> float:
        """Book the next start time; returns the seconds to wait until it."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = self._clock()
            arrival = max(self._theoretical_arrival, now)
            self._theoretical_arrival = arrival + self._interval
            return max(0.0, arrival - (self.burst - 1) * self._interval - now)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one concurrency slot and wait for a start time for the duration of a call."""
        if self._semaphore is None:
            await self._wait_turn()
            yield
            return
        async with self._semaphore:
            await self._wait_turn()
            yield

    async def _wait_turn(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self.sleep(delay)
