"""Listings: the client stack against a bare ``httpx`` floor, and requests per listing."""

from __future__ import annotations

import math
from collections import Counter

import httpx
from _measure import Line, Section, interleaved, ratio_text, seconds_text
from _targets import UNDOCUMENTED, Recorder, Target

import cdp_sdk

__all__ = ["listing_vs_floor", "requests_per_listing"]


def listing_vs_floor(targets: list[Target], sims: int, rounds: int) -> Section:
    section = Section(
        "listing",
        f"Listing {sims:,} SIMs in-process: the client stack vs a bare httpx client",
        "Each connector lists a fleet from its emulator over the in-process transport, with "
        "no client-side rate limit: through the async facade and through the sync facade. "
        "The floor is a bare `httpx.Client` sending the very requests the connector sent "
        "(its login, its pages) to the same emulator and decoding each body. Interleaved "
        f"rounds ({rounds}, after a warm-up); the figure is the median of the per-round "
        "ratios to the floor, with their range.",
    )
    for target in targets:
        section.add(_against_floor(target, sims, rounds))
    return section


def _against_floor(target: Target, sims: int, rounds: int) -> Line:
    emulator = target.emulator(target.fleet(sims))
    recorder = Recorder()
    listed = len(target.list_in_process(emulator, recorder=recorder))
    settings = target.settings(rate_limit=None)

    def floor() -> None:
        with httpx.Client(transport=emulator.transport()) as client:
            recorder.replay(client)

    def sync() -> None:
        with cdp_sdk.connect(target.name, transport=emulator.transport(), **settings) as connector:
            assert sum(1 for _ in connector.subscriptions()) == listed

    def asynchronous() -> None:
        assert len(target.list_in_process(emulator)) == listed

    timings = interleaved({"floor": floor, "async": asynchronous, "sync": sync}, rounds)
    ratios = timings.ratios("sync", "floor")
    return Line(
        target.name,
        f"sync {ratio_text(ratios)}, async {ratio_text(timings.ratios('async', 'floor'))} "
        "of the floor",
        note=f"floor {seconds_text(timings.values['floor'])} for {len(recorder.requests)} requests",
        value=sorted(ratios)[len(ratios) // 2],
    )


def requests_per_listing(targets: list[Target], sims: int) -> Section:
    section = Section(
        "requests",
        f"Requests for a full listing of {sims:,} SIMs / the fewest the documented page "
        "sizes allow",
        "Requests the emulator received for one `subscriptions()` listing, against the "
        "fewest possible: for each paged route, the listed SIMs divided by the route's "
        "documented largest page (recorded by the emulator framework from each handler's "
        "`page_limit`), plus each distinct other request once (the login; one details call "
        "per SIM where the platform has no bulk details). The last column is what the "
        "listing costs at the connector's default `rate_limit`.",
    )
    for target in targets:
        emulator = target.emulator(target.fleet(sims))
        listed = target.list_in_process(emulator)
        routes = [emulator.route_of(request) for request in emulator.requests]
        paged = {
            route: emulator.page_maxima[route]
            for route in dict.fromkeys(routes)
            if route in emulator.page_maxima
        }
        others = {
            (request.method, str(request.url))
            for request, route in zip(emulator.requests, routes, strict=True)
            if route not in paged
        }
        undocumented = [route for route, maximum in paged.items() if maximum >= UNDOCUMENTED]
        per_route = Counter(route for route in routes if route in paged)
        fewest = len(others) + sum(
            per_route[route]
            if maximum >= UNDOCUMENTED
            else max(1, math.ceil(len(listed) / maximum))
            for route, maximum in paged.items()
        )
        made = len(emulator.requests)
        rate = target.default_rate_limit()
        cost = "no default limit" if rate is None else _duration(made / rate)
        notes = [f"at the default rate_limit: {cost}"]
        if undocumented:
            notes.append(
                "no documented page maximum for "
                + ", ".join(f"{method} {path}" for method, path in undocumented)
                + " (counted as made)"
            )
        section.add(
            Line(
                target.name,
                f"{made / fewest:.2f} ({made:,}/{fewest:,})",
                target="1.00",
                met=made <= fewest,
                note="; ".join(notes),
                value=made / fewest,
            )
        )
    return section


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
