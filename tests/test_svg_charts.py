"""The report's inline SVG charts as a reader sees them: each value drawn to scale against
the axis, labels beside what they name, every bar and point titled, nothing off the picture.

The charts are parsed with ``xml.etree.ElementTree``; the expected numbers come from the
small inputs below (found by mutation testing of ``cdp_sdk.insights._svg``).
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence

import pytest

from cdp_sdk.insights._svg import (
    PALETTE,
    grouped_bars,
    horizontal_bars,
    line_chart,
    nice_ticks,
    stacked_bars,
)

NS = "{http://www.w3.org/2000/svg}"
TOL = 0.15
"""Coordinates are written with one decimal: two of them may differ by this much."""
FONT = 12.0
"""The charts' font size: a tick label's baseline sits within this of its gridline."""
GLYPH = 6.0
"""A fair average glyph width at that size, to tell whether two texts overlap."""


def units(value: float) -> str:
    """A value as the charts' reader sees it."""
    return f"{value:g} u"


def plain(value: float) -> str:
    """A tick value without its unit."""
    return f"{value:g}"


def colours(names: Sequence[str]) -> dict[str, str]:
    """One palette colour per name, in order."""
    return dict(zip(names, PALETTE, strict=False))


def parse(svg: str) -> ET.Element:
    """The chart's root element, after checking it holds nothing but elements and texts."""
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    for element in root.iter():
        assert not (element.tail or "").strip(), element.tail
        if element.tag not in (f"{NS}text", f"{NS}title"):
            assert not (element.text or "").strip(), element.text
    return root


def num(element: ET.Element, name: str) -> float:
    """A numeric attribute."""
    return float(element.attrib[name])


def size(root: ET.Element) -> tuple[float, float]:
    """The picture's width and height, from its viewBox (which starts at the origin)."""
    x, y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0)
    return width, height


def title(element: ET.Element) -> str | None:
    """The hover text of a bar or point."""
    found = element.find(f"{NS}title")
    return None if found is None else found.text


def children(root: ET.Element, tag: str) -> list[ET.Element]:
    """The chart's direct children of one kind, in drawing order."""
    return [child for child in root if child.tag == f"{NS}{tag}"]


def legend(root: ET.Element) -> list[tuple[ET.Element, ET.Element]]:
    """The legend's (swatch, name) pairs: each untitled square and the text after it."""
    items = list(root)
    return [
        (item, items[i + 1])
        for i, item in enumerate(items)
        if item.tag == f"{NS}rect" and title(item) is None
    ]


def texts(root: ET.Element, anchor: str | None) -> list[ET.Element]:
    """The texts anchored one way (None: at their start), legend names left out."""
    names = {id(text) for _, text in legend(root)}
    return [
        text
        for text in children(root, "text")
        if text.get("text-anchor") == anchor and id(text) not in names
    ]


def assert_inside(root: ET.Element) -> None:
    """Nothing is drawn or anchored outside the picture."""
    width, height = size(root)
    for rect in children(root, "rect"):
        assert num(rect, "x") >= 0
        assert num(rect, "x") + num(rect, "width") <= width + TOL
        assert num(rect, "y") >= 0
        assert num(rect, "y") + num(rect, "height") <= height + TOL
    for element in children(root, "text") + children(root, "circle"):
        x, y = ("cx", "cy") if element.tag == f"{NS}circle" else ("x", "y")
        assert 0 <= num(element, x) <= width
        assert 0 <= num(element, y) <= height
    for line in children(root, "line"):
        assert 0 <= num(line, "x1") <= num(line, "x2") <= width
        assert 0 <= num(line, "y1") == num(line, "y2") <= height


def assert_legend(root: ET.Element, names: Sequence[str], colors: Mapping[str, str]) -> None:
    """One entry per series in order: its colour's swatch, then its name, left to right
    without overlapping, above everything else."""
    entries = legend(root)
    assert [text.text for _, text in entries] == list(names)
    end = -math.inf
    for (swatch, text), name in zip(entries, names, strict=True):
        assert swatch.get("fill") == colors[name]
        x, y, w, h = (num(swatch, a) for a in ("x", "y", "width", "height"))
        assert x >= end
        assert num(text, "x") > x + w
        assert y < num(text, "y") <= y + h
        end = num(text, "x") + GLYPH * len(name)
    bottom = max((num(s, "y") + num(s, "height") for s, _ in entries), default=0)
    swatches = [swatch for swatch, _ in entries]
    for element in root:
        if element.tag == f"{NS}line":
            assert num(element, "y1") >= bottom
        elif element.tag == f"{NS}rect" and all(element is not s for s in swatches):
            assert num(element, "y") >= bottom


def centre(rect: ET.Element) -> float:
    """The middle of a bar, across."""
    return num(rect, "x") + num(rect, "width") / 2


def row_of(element: ET.Element, rows: Sequence[ET.Element]) -> ET.Element:
    """The bar whose height a text's baseline falls within."""
    baseline = num(element, "y")
    found = [r for r in rows if num(r, "y") < baseline <= num(r, "y") + num(r, "height")]
    assert len(found) == 1, f"{element.text!r} is not beside exactly one bar"
    return found[0]


# ---------------------------------------------------------------- nice_ticks


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (4, [0, 1, 2, 3, 4]),
        (8, [0, 2, 4, 6, 8]),
        (100, [0, 25, 50, 75, 100]),
        (200, [0, 50, 100, 150, 200]),
        (28, [0, 10, 20, 30]),
        (130, [0, 50, 100, 150]),
        (0.8, [0, 0.2, 0.4, 0.6, 0.8]),
        (3_000_000, [0, 1_000_000, 2_000_000, 3_000_000]),
    ],
)
def test_ticks_climb_in_round_steps_to_just_past_the_top(top: float, ticks: list[float]) -> None:
    """About five ticks from 0, the smallest round step that reaches the top in four."""
    assert nice_ticks(top) == ticks


@pytest.mark.parametrize("top", [0.05, 1, 3, 7, 12, 99, 101, 1234, 20.04, 5e6])
def test_ticks_are_a_round_step_apart_and_end_at_or_past_the_top(top: float) -> None:
    """Equal steps of 1, 2, 2.5 or 5 times a power of ten; only the last reaches the top."""
    ticks = nice_ticks(top)
    assert ticks[0] == 0
    assert ticks[-2] < top <= ticks[-1]
    assert 4 <= len(ticks) <= 5
    step = ticks[1]
    assert all(math.isclose(b - a, step) for a, b in itertools.pairwise(ticks))
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


@pytest.mark.parametrize("top", [0, -3])
def test_nothing_to_show_gives_an_axis_from_0_to_1(top: float) -> None:
    """No positive value: the axis still reads 0 to 1."""
    assert nice_ticks(top) == [0.0, 1.0]


def test_two_ticks_asked_for_gives_0_and_one_round_step() -> None:
    """``count`` is honoured: two ticks are 0 and the top itself when it is round."""
    assert nice_ticks(10, count=2) == [0, 10]


# ---------------------------------------------------------------- every chart


def build_stacked(title: str, names: Sequence[str]) -> str:
    return stacked_bars(title, names, {names[0]: [1.0]}, colours(names), units, chart=title)


def build_line(title: str, names: Sequence[str]) -> str:
    return line_chart(title, names, {names[0]: [1.0]}, colours(names), units, chart=title)


def build_grouped(title: str, names: Sequence[str]) -> str:
    return grouped_bars(title, names, {names[0]: [1.0]}, colours(names), units, chart=title)


def build_horizontal(title: str, names: Sequence[str]) -> str:
    return horizontal_bars(title, names, [1.0], [PALETTE[0]], units, chart=title)


BUILDERS = [build_stacked, build_line, build_grouped, build_horizontal]


@pytest.mark.parametrize("build", BUILDERS)
def test_a_chart_is_titled_and_its_text_escaped(build: Callable[..., str]) -> None:
    """Quotes and markup in a title or a name come out as written, never as markup."""
    odd = "Use \"in\" <GB> & 'more'"
    root = parse(build(odd, [odd]))
    assert root.get("aria-label") == odd
    assert root.get("data-chart") == odd
    assert root.get("role") == "img"
    assert title(root) == odd
    assert odd in {text.text for text in root.iter(f"{NS}text")}
    assert_inside(root)


# ---------------------------------------------------------------- stacked_bars

STATUS = {
    "active": [30.0, 0.0, 1.0],
    "suspended": [10.0, 5.0, 0.0],
    "deactivated": [60.0, 0.0, 2.0],
}
PLATFORMS = ["Alpha", "Beta", "Gamma"]


def test_stacked_bars_draw_each_series_end_to_end_to_one_scale() -> None:
    """Per category, a segment per positive value in series order, end to end from a common
    start, each as long as its value on one scale; titles name category, series and value."""
    colors = colours(list(STATUS))
    root = parse(stacked_bars("SIMs", PLATFORMS, STATUS, colors, units, chart="status"))
    assert_inside(root)
    assert_legend(root, list(STATUS), colors)
    segments = [rect for rect in children(root, "rect") if title(rect) is not None]
    start = num(segments[0], "x")
    longest = max(sum(values) for values in zip(*STATUS.values(), strict=True))
    per_unit = None
    rows: list[ET.Element] = []
    ends: list[float] = []
    for i, category in enumerate(PLATFORMS):
        shown = [(name, values[i]) for name, values in STATUS.items() if values[i] > 0]
        drawn, segments = segments[: len(shown)], segments[len(shown) :]
        x = start
        for rect, (name, value) in zip(drawn, shown, strict=True):
            assert title(rect) == f"{category}, {name}: {units(value)}"
            assert rect.get("fill") == colors[name]
            assert abs(num(rect, "x") - x) <= TOL
            per_unit = per_unit or num(rect, "width") / value
            assert abs(num(rect, "width") - value * per_unit) <= 2 * TOL
            assert num(rect, "y") == num(drawn[0], "y")
            x = num(rect, "x") + num(rect, "width")
        rows.append(drawn[0])
        ends.append(x)
    assert segments == []
    assert per_unit is not None
    assert longest * per_unit >= size(root)[0] / 2
    for upper, lower in itertools.pairwise(rows):
        assert num(lower, "y") >= num(upper, "y") + num(upper, "height")
    labels = texts(root, "end")
    assert [label.text for label in labels] == PLATFORMS
    for label, row in zip(labels, rows, strict=True):
        assert row_of(label, rows) is row
        assert num(label, "x") < start
    totals = texts(root, None)
    assert [t.text for t in totals] == [units(sum(v)) for v in zip(*STATUS.values(), strict=True)]
    for total, row, end in zip(totals, rows, ends, strict=True):
        assert row_of(total, rows) is row
        assert num(total, "x") > end


def test_stacked_bars_write_a_figure_inside_each_segment_wide_enough() -> None:
    """A wide segment shows its value centred within it; a narrow one shows none."""
    root = parse(stacked_bars("SIMs", PLATFORMS, STATUS, colours(list(STATUS)), units, chart="s"))
    segments = [rect for rect in children(root, "rect") if title(rect) is not None]
    inside = texts(root, "middle")
    labelled = []
    for text in inside:
        centred = [r for r in segments if abs(centre(r) - num(text, "x")) <= TOL]
        rect = row_of(text, centred)
        assert text.text == str(title(rect)).rsplit(": ", 1)[1]
        labelled.append(rect)
    for rect in segments:
        if num(rect, "width") >= 50:
            assert rect in labelled
        if num(rect, "width") < 30:
            assert rect not in labelled
    assert len(inside) == 3


def test_stacked_rows_add_height_row_by_row() -> None:
    """Each category adds one row's pitch to the picture, which ends below the last bar."""
    heights = []
    pitch = None
    for n in (1, 2, 3):
        series = {"active": [float(i + 1) for i in range(n)]}
        root = parse(
            stacked_bars("SIMs", PLATFORMS[:n], series, colours(["active"]), units, chart="s")
        )
        assert_inside(root)
        bars = children(root, "rect")[1:]
        last = bars[-1]
        assert size(root)[1] > num(last, "y") + num(last, "height")
        if n > 1:
            pitch = num(bars[1], "y") - num(bars[0], "y")
        heights.append(size(root)[1])
    assert pitch is not None
    assert pitch > 0
    assert heights[1] - heights[0] == heights[2] - heights[1] == pitch


def test_stacked_bars_of_zeros_draw_no_segment_but_the_total() -> None:
    """All values zero: no bar, and the total 0 written after the bar's start."""
    root = parse(
        stacked_bars("SIMs", ["Alpha"], {"active": [0.0]}, colours(["active"]), units, chart="s")
    )
    assert [rect for rect in children(root, "rect") if title(rect)] == []
    assert [t.text for t in texts(root, None)] == [units(0)]
    assert num(texts(root, None)[0], "x") > num(texts(root, "end")[0], "x")
