"""``rate_limit`` set to the server's own limit: refusals, and the share of it used."""

from __future__ import annotations

import asyncio
import time

import httpx
from _measure import Line, Section
from _targets import Target

import cdp_sdk
from cdp_sdk.http import CallRecord
from cdp_sdk.sandbox import RateWindow

__all__ = ["rate_limit_at_the_limit"]

TARGET_SHARE = 0.90


class _Starts(httpx.AsyncBaseTransport):
    """Notes when each request reaches the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.times: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        return await self.inner.handle_async_request(request)


def rate_limit_at_the_limit(targets: list[Target], limits: list[int], seconds: float) -> Section:
    section = Section(
        "rate",
        "`rate_limit` set to the server's own limit",
        "Each connector lists from its emulator, whose rate limit is replaced by the "
        "emulator framework's sliding window of N requests a second, with `rate_limit=N` "
        "and the connector's own `burst`; pages of one SIM, so the listing is a stream of "
        f"requests, stopped after {seconds:g} s. The figure is the requests the emulator "
        "received a second (from the first to the last, logins included) as a share of N; "
        "the note counts the 429s the emulator answered.",
    )
    for target in targets:
        for limit in limits:
            section.add(_one(target, limit, seconds))
    return section


def _one(target: Target, limit: int, seconds: float) -> Line:
    emulator = target.emulator(target.fleet(int(limit * seconds * 2) + 10))
    emulator.max_page_size = 1
    emulator.rate_limit = RateWindow(limit, 1.0)
    transport = _Starts(emulator.transport())
    refused: list[CallRecord] = []

    def observe(record: CallRecord) -> None:
        if record.status_code == 429:
            refused.append(record)

    async def run() -> None:
        settings = target.settings(rate_limit=float(limit), max_retries=10)
        async with cdp_sdk.connect_async(target.name, transport=transport, **settings) as c:
            c.plugin.http.add_observer(observe)
            stop = time.monotonic() + seconds
            listing = c.subscriptions()
            try:
                async for _ in listing:
                    if time.monotonic() >= stop:
                        break
            finally:
                await listing.aclose()  # type: ignore[attr-defined]

    asyncio.run(run())
    times = transport.times
    share = (len(times) - 1) / (times[-1] - times[0]) / limit if len(times) > 1 else 0.0
    burst = target.entry.connector.burst
    return Line(
        f"{target.name} at {limit}/s",
        f"{share:.2f} of the limit, {len(refused)} 429s",
        target=f">= {TARGET_SHARE:.2f}, 0 429s",
        met=share >= TARGET_SHARE and not refused,
        note=f"{len(times)} requests, burst {burst}",
        value=share,
    )
