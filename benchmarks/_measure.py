"""How the benchmarks measure and report: interleaved rounds, medians, spreads, lines.

Variants compared with each other run in the same rounds, one after the other, in an
order that rotates from round to round; a ratio is taken within each round (the
variants of one round shared the machine's state), and the median of those ratios is
reported with the range it came from. Absolute times move with the machine; ratios
measured this way move far less.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Line",
    "Section",
    "Timings",
    "interleaved",
    "ratio_text",
    "seconds_text",
    "timed",
]


def timed(run: Callable[[], object]) -> float:
    """Seconds one call of ``run`` takes (garbage collected before, not during)."""
    gc.collect()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


@dataclass
class Timings:
    """The seconds each variant took, one value per round, in round order."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def ratios(self, numerator: str, denominator: str) -> list[float]:
        """``numerator / denominator`` within each round."""
        return [
            top / bottom
            for top, bottom in zip(self.values[numerator], self.values[denominator], strict=True)
        ]


WARMUP = 1
"""Rounds run before those kept (imports, caches, first calls); the smoke run keeps all."""


def interleaved(
    variants: Mapping[str, Callable[[], object]], rounds: int, *, warmup: int | None = None
) -> Timings:
    """Run every variant once per round (the order rotating), after ``warmup`` rounds
    that are not kept (default :data:`WARMUP`)."""
    warmup = WARMUP if warmup is None else warmup
    names = list(variants)
    timings = Timings({name: [] for name in names})
    for number in range(warmup + rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = timed(variants[name])
            if number >= warmup:
                timings.values[name].append(seconds)
    return timings


def ratio_text(values: Sequence[float], *, digits: int = 2) -> str:
    """``"1.23x (1.10-1.31)"``: the median and the range of per-round ratios."""
    if not values:
        return "n/a"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}x"
    return f"{middle:.{digits}f}x ({min(values):.{digits}f}-{max(values):.{digits}f})"


def seconds_text(values: Sequence[float]) -> str:
    """``"0.412 s (0.40-0.45)"``: the median and the range of the rounds."""
    if not values:
        return "n/a"
    middle = statistics.median(values)
    unit, scale = ("ms", 1000.0) if middle < 1 else ("s", 1.0)
    digits = 1 if unit == "ms" else 2
    if len(values) == 1:
        return f"{middle * scale:.{digits}f} {unit}"
    return (
        f"{middle * scale:.{digits}f} {unit} "
        f"({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})"
    )


@dataclass
class Line:
    """One line of a section: a subject (a connector, a variant), its figure, the target
    and whether the figure meets it."""

    subject: str
    figure: str
    target: str = ""
    met: bool | None = None
    """``True``/``False`` against the target; ``None`` where there is no target."""
    note: str = ""
    value: float | None = None
    """The figure as a number (for tests and comparisons)."""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "missed", None: ""}[self.met]

    def markdown(self) -> str:
        """The line as a row of its section's table."""
        return f"| {self.subject} | {self.figure} | {self.target} | {self.verdict} | {self.note} |"


@dataclass
class Section:
    """One row of the issue's table, measured: a title, how it was measured, its lines."""

    key: str
    title: str
    method: str
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, line: Line) -> Line:
        self.lines.append(line)
        return line

    def markdown(self) -> str:
        """The section as it goes into docs/performance.md."""
        parts = [f"### {self.title}", "", self.method, ""]
        if self.lines:
            parts += [
                "| subject | figure | target | verdict | note |",
                "|---|---|---|---|---|",
            ]
            parts += [line.markdown() for line in self.lines]
            parts.append("")
        parts += [f"- {note}" for note in self.notes]
        if self.notes:
            parts.append("")
        return "\n".join(parts)

    def text(self) -> str:
        """The section as the command prints it."""
        width = max([len(line.subject) for line in self.lines] + [7])
        out = [f"== {self.title}"]
        for line in self.lines:
            verdict = f" [{line.verdict}: {line.target}]" if line.met is not None else ""
            note = f"  ({line.note})" if line.note else ""
            out.append(f"  {line.subject:<{width}}  {line.figure}{verdict}{note}")
        out += [f"  - {note}" for note in self.notes]
        return "\n".join(out)
