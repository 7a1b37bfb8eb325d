"""A client-side rate limiter shared by every request of one connector instance."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

__all__ = ["RateLimiter"]

DEFAULT_MARGIN = 0.01
"""The share of the rate kept in reserve for timing jitter (1%)."""


class RateLimiter:
    """Spaces the requests of one connector instance so the platform never refuses them.

    Every HTTP request that reaches the server takes one slot: logins, the login after a
    401 and the resend that follows it included (the HTTP client takes the slot in its
    transport). With ``rate`` r requests per second, ``burst`` b and ``margin`` m, the
    starts of requests obey, exactly:

    1. **Token bucket.** Over any interval of L seconds, at most ``b + L * r / (1 + m)``
       requests are booked to start: a GCRA that lets ``b`` requests go together after an
       idle period, then one every ``(1 + m) / r`` seconds. This is the vendors' "rate,
       burst" (emnify's "10 req/s, burst 5"). On the actual start times the bound is
       ``b + 1/2 + L * r / (1 + m)``: half an interval of slack lets a request that woke
       a little late be followed on schedule.
    2. **Per-second window.** Over any interval of ``1 + m`` seconds, at most ``ceil(r)``
       requests start, counted on the actual start times (when each request is handed to
       the transport). So ``rate_limit`` set
       to a platform's own per-second limit never exceeds it, whatever the burst, and a
       window of W seconds holding R requests (``r = R / W``) sees at most
       ``b + R / (1 + m)``, under R for any burst below 1% of R.
    3. **The platform's own count.** Where the connector's error table names the headers
       in which the platform reports its remaining requests and when they reset
       (:class:`~cdp_sdk.http.RateLimitHeaders`), :meth:`observe` records them; once none
       remain (less those in flight), no request starts before the reset.

    ``max_concurrency`` bounds the requests in flight (each until its body is read). The
    order is first come, first served. The clock and the sleep are injectable, so the
    limiter is tested without waiting.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: int = 1,
        max_concurrency: int | None = None,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive or None")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1 or None")
        if not 0 <= margin < 1:
            raise ValueError("margin must be at least 0 and below 1")
        self.rate = rate
        self.burst = burst
        self.max_concurrency = max_concurrency
        self.margin = margin
        self._clock = clock
        self.sleep = sleep
        """The async sleep used to wait for a start time (replaceable in tests)."""
        self.interval = 0.0 if rate is None else (1.0 + margin) / rate
        """Seconds between two starts at the sustained rate."""
        self.window = 1.0 + margin
        """The length of the per-second window, in seconds."""
        self.per_window = 0 if rate is None else max(1, math.ceil(rate))
        """The most starts in any one window."""
        self._theoretical_arrival = float("-inf")
        self._bookings: deque[_Booking] = deque(maxlen=self.per_window or 1)
        # The same two bounds on the requests actually started (see _begin).
        self._actual_arrival = float("-inf")
        self._starts: deque[float] = deque(maxlen=self.per_window or 1)
        self._lock = threading.Lock()
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._in_flight = 0
        self._remaining: int | None = None
        self._reset_at = float("-inf")
        self.started = 0
        """Requests started so far."""

    def reserve(self) -> float:
        """Book the next start; returns the seconds to wait for it."""
        return self._book()[1]

    def observe(self, remaining: int, reset_after: float) -> None:
        """Record the platform's own count: ``remaining`` requests allowed until it resets
        in ``reset_after`` seconds (read from the response to a request still in flight)."""
        with self._lock:
            # Requests sent after this one may not be counted in ``remaining`` yet.
            self._remaining = max(0, remaining - max(0, self._in_flight - 1))
            self._reset_at = self._clock() + max(0.0, reset_after)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Start one request: wait for its turn, and hold a concurrency slot meanwhile."""
        release = await self.acquire()
        try:
            yield
        finally:
            release()

    async def acquire(self) -> Callable[[], None]:
        """Wait for the next request's turn; returns the function that ends the request
        (idempotent: the concurrency slot is freed once)."""
        if self._semaphore is not None:
            await self._semaphore.acquire()
        try:
            booking, delay = self._book()
            if delay > 0:
                await self.sleep(delay)
            while (wait := self._begin(booking)) > 0:
                await self.sleep(wait)
        except BaseException:
            if self._semaphore is not None:
                self._semaphore.release()
            raise
        done = False

        def release() -> None:
            nonlocal done
            if done:
                return
            done = True
            with self._lock:
                self._in_flight -= 1
            if self._semaphore is not None:
                self._semaphore.release()

        return release

    def _book(self) -> tuple[_Booking, float]:
        """Book the earliest start the token bucket, the window and the platform's count
        allow (first come, first served); the booking and the seconds until it."""
        with self._lock:
            now = self._clock()
            start = now
            if self.rate is not None:
                start = max(start, self._theoretical_arrival - (self.burst - 1) * self.interval)
                if len(self._bookings) == self.per_window:
                    start = max(start, self._bookings[0].at + self.window)
            if self._remaining is not None and now >= self._reset_at:
                self._remaining = None  # a new period: the platform's count is unknown
            if self._remaining is not None:
                if self._remaining > 0:
                    self._remaining -= 1
                else:
                    start = max(start, self._reset_at)
            booking = _Booking(start)
            if self.rate is not None:
                self._theoretical_arrival = max(self._theoretical_arrival, start) + self.interval
                self._bookings.append(booking)
            return booking, start - now

    def _begin(self, booking: _Booking) -> float:
        """Start the booked request now (``0.0``), or the seconds still to wait.

        The bounds are checked again on the actual start times, the token bucket with half
        an interval of slack: a request that woke a little late (a busy event loop) costs
        no throughput, one that woke later pushes back those after it. A sleep that
        returned before the booked time is trusted (a test's sleep that does not wait):
        the booking stands.
        """
        with self._lock:
            now = self._clock()
            if self.rate is not None:
                at = max(now, booking.at)
                slack = (self.burst - 0.5) * self.interval
                if now + _EARLY >= booking.at:
                    earliest = self._actual_arrival - slack
                    if len(self._starts) == self.per_window:
                        earliest = max(earliest, self._starts[0] + self.window)
                    if earliest - at > 1e-9:
                        return earliest - at
                self._starts.append(at)
                self._actual_arrival = max(self._actual_arrival, at) + self.interval
                # A start later than half an interval moves the bookings still to come.
                self._theoretical_arrival = max(
                    self._theoretical_arrival,
                    self._actual_arrival - slack + (self.burst - 1) * self.interval,
                )
            self._in_flight += 1
            self.started += 1
            return 0.0


_EARLY = 1e-3
"""Seconds before its booked time a sleep may return and still count as a real wait."""


class _Booking:
    """The booked start of one request."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at
