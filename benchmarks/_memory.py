"""Memory and time of streaming and syncing growing fleets, in a client of their own."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass

from _measure import Line, Section
from _targets import Target, child_python, serve

__all__ = ["Growth", "growth", "memory_section", "scaling_section"]

MEMORY_LIMIT_MIB = 100.0
FLAT = 1.10
""""Flat": the peak at the largest fleet at most 10% above the peak at the smallest."""
LINEAR = 10.5
"""The time for 10x the SIMs at most 10.5x (linear)."""


@dataclass
class Growth:
    """One connector's client, streaming and syncing fleets of each size: peak resident
    memory (MiB) and seconds, or why a size was not measured."""

    target: Target
    sizes: list[int]
    peaks: dict[tuple[str, int], float]
    seconds: dict[tuple[str, int], float]
    skipped: dict[int, str]


def growth(
    targets: list[Target], sizes: list[int], *, budget: float, pilot: bool = True
) -> list[Growth]:
    """Serve each fleet size once for every connector, then measure each connector's
    client in a child interpreter of its own. A size is left out for a connector when the
    smaller sizes (with ``pilot``, a tenth of the smallest first) project a run longer
    than ``budget`` seconds: an emulator whose work per page grows with the fleet shows as
    a steep projection."""
    results = [Growth(target, sizes, {}, {}, {}) for target in targets]
    first = max(1, sizes[0] // 10)
    for size in [first, *sizes] if pilot else sizes:
        live = [result for result in results if size not in result.skipped]
        for result in live:
            projected = _projection(result, size)
            if projected is not None and projected > budget:
                result.skipped[size] = f"projected {projected / 60:.0f} min over the budget"
                for larger in (s for s in sizes if s > size):
                    result.skipped.setdefault(larger, "not measured (a smaller size was not)")
        live = [result for result in results if size not in result.skipped]
        if not live:
            continue
        with serve([result.target.name for result in live], size) as served:
            for result in live:
                url = served.urls[result.target.name][0]
                settings = json.dumps(result.target.served_settings(url, rate_limit=None))
                for mode in ("stream", "sync"):
                    try:
                        answer = child_python(
                            "_child.py",
                            "memory",
                            result.target.name,
                            mode,
                            settings,
                            timeout=budget * 2,
                        )
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        result.skipped[size] = f"failed: {str(exc)[:200]}"
                        break
                    result.peaks[mode, size] = answer["peak_mib"]
                    result.seconds[mode, size] = answer["seconds"]
    return results


def _projection(result: Growth, size: int) -> float | None:
    """Seconds the next size would take (both modes), extrapolated from the two largest
    sizes measured so far (with the growth exponent they show)."""
    measured = sorted({s for (_, s) in result.seconds if s < size})
    if not measured:
        return None
    last = measured[-1]
    total = sum(result.seconds[mode, last] for mode in ("stream", "sync"))
    exponent = 1.0
    if len(measured) > 1:
        before = measured[-2]
        earlier = sum(result.seconds[mode, before] for mode in ("stream", "sync"))
        if earlier > 0 and total > 0:
            exponent = max(1.0, math.log(total / earlier) / math.log(last / before))
    return total * (size / last) ** exponent


def memory_section(results: list[Growth]) -> Section:
    sizes = results[0].sizes if results else []
    span = " -> ".join(f"{size:,}" for size in sizes)
    section = Section(
        "memory",
        f"Memory, streaming and syncing {span} SIMs",
        "Peak resident memory of a client process of its own (the emulators are served "
        "from another process on loopback), streaming every subscription with the sync "
        "facade, and syncing them into a fresh SQLite file. Target: under "
        f"{MEMORY_LIMIT_MIB:.0f} MiB, and flat (the largest fleet at most "
        f"{FLAT - 1:.0%} above the smallest).",
    )
    for result in results:
        parts = []
        peaks = []
        for mode in ("stream", "sync"):
            values = [result.peaks.get((mode, size)) for size in result.sizes]
            shown = " -> ".join("-" if v is None else f"{v:.0f}" for v in values)
            parts.append(f"{mode} {shown} MiB")
            peaks.append([v for v in values if v is not None])
        measured_all = all(len(values) == len(result.sizes) for values in peaks)
        met = None
        if measured_all:
            met = all(
                max(values) < MEMORY_LIMIT_MIB and values[-1] <= values[0] * FLAT
                for values in peaks
            )
        section.add(
            Line(
                result.target.name,
                ", ".join(parts),
                target=f"flat, < {MEMORY_LIMIT_MIB:.0f} MiB",
                met=met,
                note=_skipped(result),
                value=max((max(v) for v in peaks if v), default=None),
            )
        )
    return section


def scaling_section(results: list[Growth]) -> Section:
    sizes = results[0].sizes if results else []
    section = Section(
        "scaling",
        f"Time for {sizes[-1] // sizes[0] if sizes else 0}x the SIMs "
        f"({' -> '.join(f'{size:,}' for size in sizes)}), streaming and syncing",
        "From the same runs as the memory figures: the time of the largest fleet over "
        f"the time of the smallest. Target: linear, at most {LINEAR}x for 10x the SIMs.",
    )
    for result in results:
        first, last = result.sizes[0], result.sizes[-1]
        ratios = {}
        for mode in ("stream", "sync"):
            if (mode, first) in result.seconds and (mode, last) in result.seconds:
                ratios[mode] = result.seconds[mode, last] / result.seconds[mode, first]
        scale = last / first
        bound = LINEAR * scale / 10
        figure = ", ".join(f"{mode} {value:.1f}x" for mode, value in ratios.items()) or "-"
        met = all(value <= bound for value in ratios.values()) if len(ratios) == 2 else None
        section.add(
            Line(
                result.target.name,
                figure,
                target=f"<= {bound:.1f}x",
                met=met,
                note=_skipped(result)
                or ", ".join(
                    f"{mode} {result.seconds[mode, last]:.1f} s at {last:,}"
                    for mode in ("stream", "sync")
                    if (mode, last) in result.seconds
                ),
                value=ratios.get("sync"),
            )
        )
    return section


def _skipped(result: Growth) -> str:
    return "; ".join(f"{size:,}: {why}" for size, why in result.skipped.items())
