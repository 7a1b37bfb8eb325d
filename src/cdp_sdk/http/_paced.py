"""The rate limiter in the transport: every request that reaches the server takes a slot.

The HTTP client wraps its transports in :class:`PacedTransport`, so logins made by an
auth flow, the login after a 401 and the resend that follows it are spaced like any call,
and a request holds its concurrency slot until its body is read. Where the error table
names the platform's rate-limit headers, each response's count is handed to the limiter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from cdp_sdk.http._errors import ErrorTable
from cdp_sdk.http._ratelimit import RateLimiter

__all__ = ["PacedTransport"]


class PacedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: each request waits for its turn at ``limiter`` (see
    :class:`~cdp_sdk.http.RateLimiter`) and keeps its slot until the response is closed."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, limiter: RateLimiter, errors: ErrorTable
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.errors = errors

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        release = await self.limiter.acquire()
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException:
            release()
            raise
        budget = self.errors.rate_budget(response)
        if budget is not None:
            self.limiter.observe(*budget)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, release)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Releasing(httpx.AsyncByteStream):
    """A response body that ends its request's slot when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._release()
