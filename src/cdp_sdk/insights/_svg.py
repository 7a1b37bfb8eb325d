"""Small inline SVG charts for the HTML report: no script, no font, no external file.

Each function returns one ``<svg>`` element (``role="img"`` with a title) that scales to
its container; every bar and point carries a ``<title>``, which browsers show on hover.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

__all__ = ["PALETTE", "grouped_bars", "horizontal_bars", "line_chart", "nice_ticks", "stacked_bars"]

PALETTE = (
    "#2563eb",
    "#16a34a",
    "#ea580c",
    "#9333ea",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#ca8a04",
    "#475569",
    "#dc2626",
)
"""Series colours, in order (distinct in colour and lightness)."""

WIDTH = 760
_FONT = 'font-family="system-ui, sans-serif"'
Format = Callable[[float], str]


def _text(value: object) -> str:
    return escape(str(value), quote=True)


_ROUND = (1, 2, 2.5, 5)
"""Round steps, times a power of ten."""


def nice_ticks(top: float, count: int = 5, *, label: Format | None = None) -> list[float]:
    """Round tick values from 0 to at least ``top`` (about ``count`` of them), evenly
    spaced; with ``label``, spaced widely enough that no two labels read the same where
    a wider round step can (an axis of whole numbers up to 2 reads 0, 1, 2, not 0, 0, 1,
    2, 2)."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / max(1, count - 1) or top  # (``or``: the smallest floats divide to 0)
    power = math.floor(math.log10(raw))
    powers = range(power, min(max(power, 0) + 16, 308))  # up to steps of 10^15 at least
    spacings = (_ticks(top, m * 10.0**p) for p in powers for m in _ROUND if m * 10.0**p >= raw)
    plain = next(spacings)
    if label is None:
        return plain
    for ticks in itertools.chain([plain], spacings):  # the wider ones only as needed
        if len({label(tick) for tick in ticks}) == len(ticks):
            return ticks
    return plain


def _ticks(top: float, step: float) -> list[float]:
    """0 and multiples of ``step`` up to the first at or past ``top`` (at least one)."""
    last = max(1, math.ceil(top / step - 1e-9))  # float noise: a step ending on the top
    return [float(f"{i * step:.12g}") for i in range(last + 1)]


def _svg(height: int, title: str, body: list[str], chart: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-label="{_text(title)}" data-chart="{_text(chart)}" '
        f'{_FONT} font-size="12"><title>{_text(title)}</title>' + "".join(body) + "</svg>"
    )


def _legend(names: Sequence[str], colors: Mapping[str, str], y: int, x: int = 0) -> list[str]:
    parts = []
    for name in names:
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" rx="2" fill="{colors[name]}"/>'
            f'<text x="{x + 14}" y="{y}" fill="#334155">{_text(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return parts


def stacked_bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    colors: Mapping[str, str],
    fmt: Format,
    *,
    chart: str,
) -> str:
    """Horizontal bars, one per category, split into the series (stacked)."""
    label_width, top, row = 150, 34, 30
    height = top + row * len(categories) + 10
    body = _legend(list(series), colors, 14)
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    scale = (WIDTH - label_width - 70) / (max(totals) or 1)
    for i, category in enumerate(categories):
        y = top + i * row
        body.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" fill="#0f172a">'
            f"{_text(category)}</text>"
        )
        x = float(label_width)
        for name, values in series.items():
            value = values[i]
            if value <= 0:
                continue
            width = value * scale
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{max(width, 1):.1f}" height="20" '
                f'fill="{colors[name]}"><title>{_text(category)}, {_text(name)}: '
                f"{_text(fmt(value))}</title></rect>"
            )
            if width > 34:
                body.append(
                    f'<text x="{x + width / 2:.1f}" y="{y + 14}" text-anchor="middle" '
                    f'fill="#fff" font-size="11">{_text(fmt(value))}</text>'
                )
            x += width
        body.append(
            f'<text x="{x + 6:.1f}" y="{y + 15}" fill="#334155">{_text(fmt(totals[i]))}</text>'
        )
    return _svg(height, title, body, chart)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    colors: Mapping[str, str],
    fmt: Format,
    *,
    chart: str,
    ticks_fmt: Format | None = None,
) -> str:
    """One line per series over the labelled points (a gap where a value is None)."""
    left, right, top, bottom, height = 70, 16, 30, 28, 280
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for points in series.values() for v in points if v is not None]
    ticks = nice_ticks(max(values, default=0), label=ticks_fmt or fmt)
    scale = plot_h / (ticks[-1] or 1)
    step = plot_w / max(1, len(labels) - 1)
    body = _legend(list(series), colors, 14, left)
    for tick in ticks:
        y = top + plot_h - tick * scale
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#64748b">'
            f"{_text((ticks_fmt or fmt)(tick))}</text>"
        )
    every = max(1, math.ceil(len(labels) / 8))
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % every == 0:  # the last point is always labelled
            body.append(
                f'<text x="{left + i * step:.1f}" y="{height - 8}" text-anchor="middle" '
                f'fill="#64748b">{_text(label)}</text>'
            )
    lines: list[str] = []
    dots: list[str] = []
    for name, points in series.items():
        segments: list[list[str]] = [[]]
        for i, value in enumerate(points):
            if value is None:
                segments.append([])
                continue
            x, y = left + i * step, top + plot_h - value * scale
            segments[-1].append(f"{x:.1f},{y:.1f}")
            dots.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colors[name]}">'
                f"<title>{_text(name)}, {_text(labels[i])}: {_text(fmt(value))}</title></circle>"
            )
        lines.extend(
            f'<polyline points="{" ".join(part)}" fill="none" stroke="{colors[name]}" '
            'stroke-width="2"/>'
            for part in segments
            if len(part) > 1
        )
    body.extend(lines + dots)
    return _svg(height, title, body, chart)


def grouped_bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    colors: Mapping[str, str],
    fmt: Format,
    *,
    chart: str,
    ticks_fmt: Format | None = None,
) -> str:
    """Vertical bars per category, one per series side by side (None: no bar)."""
    left, right, top, bottom, height = 80, 16, 30, 28, 280
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for points in series.values() for v in points if v is not None]
    ticks = nice_ticks(max(values, default=0), label=ticks_fmt or fmt)
    scale = plot_h / (ticks[-1] or 1)
    body = _legend(list(series), colors, 14, left)
    for tick in ticks:
        y = top + plot_h - tick * scale
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#64748b">'
            f"{_text((ticks_fmt or fmt)(tick))}</text>"
        )
    group = plot_w / max(1, len(categories))
    bar = min(40.0, group * 0.8 / max(1, len(series)))
    for i, category in enumerate(categories):
        x0 = left + i * group + (group - bar * len(series)) / 2
        body.append(
            f'<text x="{left + (i + 0.5) * group:.1f}" y="{height - 8}" text-anchor="middle" '
            f'fill="#64748b">{_text(category)}</text>'
        )
        for j, (name, points) in enumerate(series.items()):
            value = points[i]
            if value is None:
                continue
            h = value * scale
            body.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                f'height="{max(h, 1):.1f}" fill="{colors[name]}"><title>{_text(name)}, '
                f"{_text(category)}: {_text(fmt(value))}</title></rect>"
            )
    return _svg(height, title, body, chart)


def horizontal_bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    colors: Sequence[str],
    fmt: Format,
    *,
    chart: str,
) -> str:
    """One horizontal bar per label, longest first as given."""
    label_width, row = 250, 24
    height = row * len(labels) + 12
    scale = (WIDTH - label_width - 90) / (max(values, default=0) or 1)
    body: list[str] = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 6 + i * row
        width = max(value * scale, 1)
        body.append(
            f'<text x="{label_width - 8}" y="{y + 13}" text-anchor="end" fill="#0f172a" '
            f'font-family="ui-monospace, monospace">{_text(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="17" '
            f'fill="{colors[i]}"><title>{_text(label)}: {_text(fmt(value))}</title></rect>'
            f'<text x="{label_width + width + 6:.1f}" y="{y + 13}" fill="#334155">'
            f"{_text(fmt(value))}</text>"
        )
    return _svg(height, title, body, chart)
