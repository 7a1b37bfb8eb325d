"""Mapping vendor records vs ``json.loads`` of the same records, per connector."""

from __future__ import annotations

import cProfile
import itertools
import json
import pstats
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from _measure import Line, Section, interleaved, ratio_text
from _targets import Target, run_async

import cdp_sdk

__all__ = ["mapping_vs_json"]

TARGET_RATIO = 3.0
CONNECTORS_DIR = Path(cdp_sdk.__file__).parent / "connectors"


def capture(target: Target, sims: int) -> list[tuple[Any, Callable[[Any], Any]]]:
    """The vendor records a subscriptions listing maps, each with its mapping function:
    every record that went through the connector's ``map_records`` or ``map_one``."""
    emulator = target.emulator(target.fleet(sims))
    pairs: list[tuple[Any, Callable[[Any], Any]]] = []

    async def run() -> None:
        async with cdp_sdk.connect_async(
            target.name, transport=emulator.transport(), **target.settings(rate_limit=None)
        ) as connector:
            plugin = connector.plugin
            map_records, map_one = plugin.map_records, plugin.map_one

            def records(items: Iterable[Any], mapper: Any, *, endpoint: str) -> Any:
                items = list(items)
                pairs.extend((item, mapper) for item in items)
                return map_records(items, mapper, endpoint=endpoint)

            def one(item: Any, mapper: Any, *, endpoint: str) -> Any:
                pairs.append((item, mapper))
                return map_one(item, mapper, endpoint=endpoint)

            plugin.map_records = records  # type: ignore[method-assign]
            plugin.map_one = one  # type: ignore[method-assign]
            async for _ in connector.subscriptions():
                pass

    run_async(run())
    return pairs


def mapping_vs_json(targets: list[Target], records: int, rounds: int, *, sample: int) -> Section:
    section = Section(
        "mapping",
        f"Mapping {records:,} vendor records vs `json.loads` of the same records",
        "The records a `subscriptions()` listing maps (captured from a listing of "
        f"{sample:,} SIMs, each with the connector's own mapping function, repeated to "
        f"{records:,}), mapped one by one, against `json.loads` of those records as one "
        "compact JSON array in UTF-8 bytes, as the emulators send them. Interleaved "
        f"rounds ({rounds}); the median per-round ratio and its range. The note splits "
        "the mapping time (cProfile, own time) between the connector's own code (its "
        "package and private helper modules) and the core (models, validation, helpers).",
    )
    for target in targets:
        pairs = capture(target, sample)
        if not pairs:
            section.add(Line(target.name, "n/a", note="no record went through map_records"))
            continue
        batch = list(itertools.islice(itertools.cycle(pairs), records))
        # As the emulators send it (and most platforms): compact UTF-8 JSON, as bytes.
        payload = json.dumps(
            [record for record, _ in batch], default=list, separators=(",", ":"), ensure_ascii=False
        ).encode()

        def loads(payload: bytes = payload) -> None:
            json.loads(payload)

        def mapping(batch: list[tuple[Any, Callable[[Any], Any]]] = batch) -> None:
            for record, mapper in batch:
                mapper(record)

        timings = interleaved({"json.loads": loads, "mapping": mapping}, rounds)
        ratios = timings.ratios("mapping", "json.loads")
        middle = sorted(ratios)[len(ratios) // 2]
        per_record = timings.median("mapping") / records * 1e6
        own = _own_share(target, batch)
        note = f"{per_record:.1f} µs a record; connector's own code {own:.0%} of it"
        if middle > TARGET_RATIO and own >= 0.3:
            note += " (its own mapping code is a large part: second pass)"
        section.add(
            Line(
                target.name,
                ratio_text(ratios),
                target=f"<= {TARGET_RATIO:.0f}x",
                met=middle <= TARGET_RATIO,
                note=note,
                value=middle,
            )
        )
    return section


def _own_share(target: Target, batch: list[tuple[Any, Callable[[Any], Any]]]) -> float:
    """The share of the mapping's own time spent in the connector's code."""
    package = Path(_module_file(target)).parent
    profile = cProfile.Profile()
    profile.enable()
    for record, mapper in batch:
        mapper(record)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = own = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        total += tottime
        path = Path(filename)
        if path.is_relative_to(package) or (
            path.is_relative_to(CONNECTORS_DIR) and path.name.startswith("_")
        ):
            own += tottime
    return own / total if total else 0.0


def _module_file(target: Target) -> str:
    import sys

    module = sys.modules[target.entry.connector.__module__]
    return str(module.__file__)
