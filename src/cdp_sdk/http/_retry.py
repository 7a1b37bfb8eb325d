"""The one retry policy: what is retried, and how long to wait in between."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cdp_sdk.errors import CdpError, RateLimitedError, TransientError

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed call and how long to wait before the next attempt.

    Retried: rate limiting (429) and transient failures (5xx, timeouts, network errors),
    for reads and idempotent writes. A non-idempotent write is retried after a 429 (the
    server refused it unprocessed) or when the request never left the machine (the
    connection could not be opened), and never after it was sent. The server's own wait
    (``Retry-After`` or a vendor reset header) is followed when it is at most
    ``max_retry_after`` seconds; a longer one ends the retries at once with the error and
    its ``retry_after``. Without a server wait, the wait grows exponentially from
    ``initial_wait`` up to ``max_wait``, with half of it random (jitter).
    """

    max_retries: int = 3
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_retry_after: float = 60.0
    jitter: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def should_retry(self, error: CdpError, *, idempotent: bool, sent: bool) -> bool:
        """Whether ``error`` after one attempt deserves another."""
        if not isinstance(error, RateLimitedError | TransientError):
            return False
        # A 429 says the server did not process the request: safe to send again, writes too.
        if sent and not idempotent and not isinstance(error, RateLimitedError):
            return False
        return error.retry_after is None or error.retry_after <= self.max_retry_after

    def wait(self, error: CdpError, attempt: int) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if isinstance(error, RateLimitedError | TransientError) and error.retry_after is not None:
            return error.retry_after
        ceiling = min(self.max_wait, self.initial_wait * 2.0 ** min(attempt - 1, 64))
        return ceiling / 2 + self.jitter() * ceiling / 2
