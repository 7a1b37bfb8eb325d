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


@pytest.mark.parametrize("top", [0.05, 1, 3, 7, 12, 99, 101, 1234, 20.04, 5e6, 1e-9, 4e-11, 1e-300])
def test_ticks_are_a_round_step_apart_and_end_at_or_past_the_top(top: float) -> None:
    """Equal steps of 1, 2, 2.5 or 5 times a power of ten; only the last reaches the top
    (tiny tops too: too small for a fixed number of decimals)."""
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


def test_the_smallest_float_still_gets_an_axis() -> None:
    """Divided into steps it rounds to 0: one step of the next float up."""
    assert nice_ticks(5e-324) == [0.0, 1e-323]


@pytest.mark.parametrize("top", [math.inf, math.nan])
def test_a_top_that_is_not_a_number_gives_an_axis_from_0_to_1(top: float) -> None:
    assert nice_ticks(top) == [0.0, 1.0]


def whole(value: float) -> str:
    """A tick labelled as a whole number, as the report labels counts."""
    return f"{value:,.0f}"


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(1, [0, 1]), (2, [0, 1, 2]), (0.3, [0, 1]), (3, [0, 1, 2, 3]), (8, [0, 2, 4, 6, 8])],
)
def test_labelled_ticks_never_read_the_same_twice(top: float, ticks: list[float]) -> None:
    """Whole-number labels up to 2 would read 0, 0, 1, 2, 2: the step widens instead."""
    assert nice_ticks(top, label=whole) == ticks


def test_labels_that_cannot_differ_keep_the_round_ticks() -> None:
    assert nice_ticks(1, label=lambda value: "same") == [0, 0.25, 0.5, 0.75, 1]


@pytest.mark.parametrize("chart", ["line", "grouped"])
def test_an_axis_of_a_few_whole_things_reads_0_1_2(chart: str) -> None:
    """Two active SIMs, or invoices of a few units with whole-number ticks."""
    names = ["eu"]
    draw = line_chart if chart == "line" else grouped_bars
    root = parse(
        draw("t", ["a", "b"], {"eu": [1.0, 2.0]}, colours(names), units, chart="c", ticks_fmt=whole)
    )
    assert_axis(root, [0, 1, 2], whole)


# ---------------------------------------------------------------- every chart


def build_stacked(title: str, names: Sequence[str]) -> str:
    """A stacked bar chart of one value, its name and title as given."""
    return stacked_bars(title, names, {names[0]: [1.0]}, colours(names), units, chart=title)


def build_line(title: str, names: Sequence[str]) -> str:
    """A line chart of one value, its name and title as given."""
    return line_chart(title, names, {names[0]: [1.0]}, colours(names), units, chart=title)


def build_grouped(title: str, names: Sequence[str]) -> str:
    """A grouped bar chart of one value, its name and title as given."""
    return grouped_bars(title, names, {names[0]: [1.0]}, colours(names), units, chart=title)


def build_horizontal(title: str, names: Sequence[str]) -> str:
    """A horizontal bar chart of one value, its name and title as given."""
    return horizontal_bars(title, names, [1.0], [PALETTE[0]], units, chart=title)


BUILDERS = [build_stacked, build_line, build_grouped, build_horizontal]


@pytest.mark.parametrize("build", BUILDERS)
def test_a_chart_is_titled_and_its_text_escaped(
    build: Callable[[str, Sequence[str]], str],
) -> None:
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


# ---------------------------------------------------------------- plots over an axis


def assert_axis(
    root: ET.Element, ticks: Sequence[float], fmt: Callable[[float], str]
) -> tuple[Callable[[float], float], float, float]:
    """One evenly spaced gridline per tick from the bottom up, each labelled with its tick
    left of the plot and level with the line; returns value → height, and the plot's ends."""
    lines = children(root, "line")
    heights = [num(line, "y1") for line in lines]
    assert len(lines) == len(ticks)
    gaps = [upper - lower for upper, lower in itertools.pairwise(heights)]
    assert all(gap > 0 and abs(gap - gaps[0]) <= TOL for gap in gaps)
    assert len({(line.get("x1"), line.get("x2")) for line in lines}) == 1
    left, right = num(lines[0], "x1"), num(lines[0], "x2")
    labels = texts(root, "end")
    assert [label.text for label in labels] == [fmt(tick) for tick in ticks]
    for label, y in zip(labels, heights, strict=True):
        assert num(label, "x") < left
        assert y < num(label, "y") < y + FONT
    zero, top = heights[0], heights[-1]
    return (lambda value: zero + (top - zero) * value / ticks[-1]), left, right


def polyline_points(line: ET.Element) -> list[tuple[float, float]]:
    """A line's vertices."""
    pairs = [point.split(",") for point in line.attrib["points"].split(" ")]
    return [(float(x), float(y)) for x, y in pairs]


def close(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> bool:
    """Two lists of points equal to the written precision."""
    return len(a) == len(b) and all(
        abs(p - q) <= TOL for u, v in zip(a, b, strict=True) for p, q in zip(u, v, strict=True)
    )


def spacing(points: int) -> int:
    """The smallest label spacing that writes at most 8 labels under the points."""
    return next(e for e in itertools.count(1) if math.ceil(points / e) <= 8)


DAYS = [f"05-{d:02d}" for d in range(1, 21)]

LINE_CASES = {
    "two series with a gap": (
        DAYS[:4],
        {"a": [10.0, 40.0, None, 30.0], "b": [0.0, 5.0, 20.0, 35.0]},
        [0, 10, 20, 30, 40],
        plain,
    ),
    "two points": (DAYS[:2], {"a": [3.0, 4.0]}, [0, 1, 2, 3, 4], None),
    "one point": (DAYS[:1], {"a": [7.0]}, [0, 2, 4, 6, 8], None),
    "nine points": (DAYS[:9], {"a": [float(i) for i in range(9)]}, [0, 2, 4, 6, 8], None),
    "twenty points": (DAYS, {"a": [float(i % 5) for i in range(20)]}, [0, 1, 2, 3, 4], None),
    "no value yet": (DAYS[:2], {"a": [None, None]}, [0, 1], None),
    "no series": (DAYS[:3], {}, [0, 1], None),
}


@pytest.mark.parametrize(
    ("labels", "series", "ticks", "ticks_fmt"), LINE_CASES.values(), ids=LINE_CASES.keys()
)
def test_line_chart_puts_each_point_at_its_value_against_the_ticks(
    labels: list[str],
    series: dict[str, list[float | None]],
    ticks: list[float],
    ticks_fmt: Callable[[float], str] | None,
) -> None:
    """Points spread evenly from the first gridline end to the last, each at its value on the
    axis and titled; a line joins each run of two or more values; dates under the points."""
    colors = colours(list(series))
    root = parse(line_chart("Use", labels, series, colors, units, chart="d", ticks_fmt=ticks_fmt))
    assert_inside(root)
    y_of, left, right = assert_axis(root, ticks, ticks_fmt or units)
    assert_legend(root, list(series), colors)
    if series:
        assert num(legend(root)[0][0], "x") == left
    xs = [left + (right - left) * i / max(1, len(labels) - 1) for i in range(len(labels))]
    points = [
        (name, i, value)
        for name, values in series.items()
        for i, value in enumerate(values)
        if value is not None
    ]
    circles = children(root, "circle")
    assert len(circles) == len(points)
    for circle, (name, i, value) in zip(circles, points, strict=True):
        assert title(circle) == f"{name}, {labels[i]}: {units(value)}"
        assert circle.get("fill") == colors[name]
        assert abs(num(circle, "cx") - xs[i]) <= TOL
        assert abs(num(circle, "cy") - y_of(value)) <= TOL
    runs: list[tuple[str, list[tuple[float, float]]]] = []
    for name, values in series.items():
        run: list[tuple[float, float]] = []
        ended: list[float | None] = [*values, None]
        for i, point in enumerate(ended):
            if point is None:
                if len(run) > 1:
                    runs.append((colors[name], run))
                run = []
            else:
                run.append((xs[i], y_of(point)))
    drawn = [line for line in children(root, "polyline") if len(polyline_points(line)) > 1]
    assert len(drawn) == len(runs)
    for line, (color, run) in zip(drawn, runs, strict=True):
        assert line.get("stroke") == color
        assert close(polyline_points(line), run)
        assert float(line.get("stroke-width", 1)) > 1
    dates = texts(root, "middle")
    shown = [
        round((num(text, "x") - left) / ((right - left) / max(1, len(labels) - 1)))
        for text in dates
    ]
    every = spacing(len(labels))
    assert shown == list(range(len(labels) - 1, -1, -every))[::-1]
    for text, i in zip(dates, shown, strict=True):
        assert text.text == labels[i]
        assert abs(num(text, "x") - xs[i]) <= TOL
        assert num(text, "y") - FONT > y_of(0)


# ---------------------------------------------------------------- grouped_bars


def money(value: float) -> str:
    """An invoiced amount."""
    return f"{value:,.2f} EUR"


MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]

GROUPED_CASES = {
    "gaps": (
        MONTHS[3:6],
        {"a": [120.0, None, 80.0], "b": [None, 45.0, 150.0]},
        [0, 50, 100, 150],
        plain,
    ),
    "one period": (MONTHS[5:6], {"a": [30.0], "b": [12.0]}, [0, 10, 20, 30], None),
    "crowded": (
        MONTHS,
        {name: [float(k * (i + 1)) for i in range(12)] for k, name in enumerate("abc", 1)},
        [0, 10, 20, 30, 40],
        plain,
    ),
    "one series": (MONTHS[:2], {"a": [5.0, 2.0]}, [0, 2, 4, 6], None),
    "nothing invoiced": (MONTHS[:1], {"a": [None]}, [0, 1], None),
    "no series": (MONTHS[:2], {}, [0, 1], None),
}


@pytest.mark.parametrize(
    ("categories", "series", "ticks", "ticks_fmt"),
    GROUPED_CASES.values(),
    ids=GROUPED_CASES.keys(),
)
def test_grouped_bars_stand_on_the_axis_side_by_side_under_their_period(
    categories: list[str],
    series: dict[str, list[float | None]],
    ticks: list[float],
    ticks_fmt: Callable[[float], str] | None,
) -> None:
    """Each period gets an equal slot under its label; its bars stand on the zero line in
    series order, as tall as their value on the axis, centred in the slot and titled."""
    colors = colours(list(series))
    root = parse(
        grouped_bars("Cost", categories, series, colors, money, chart="c", ticks_fmt=ticks_fmt)
    )
    assert_inside(root)
    y_of, left, right = assert_axis(root, ticks, ticks_fmt or money)
    assert_legend(root, list(series), colors)
    if series:
        assert num(legend(root)[0][0], "x") == left
    slot = (right - left) / len(categories)
    labels = texts(root, "middle")
    assert [label.text for label in labels] == categories
    for i, label in enumerate(labels):
        assert abs(num(label, "x") - (left + (i + 0.5) * slot)) <= TOL
        assert num(label, "y") - FONT > y_of(0)
    bars = [rect for rect in children(root, "rect") if title(rect) is not None]
    expected = [
        (i, j, name, value)
        for i in range(len(categories))
        for j, (name, values) in enumerate(series.items())
        if (value := values[i]) is not None
    ]
    assert len(bars) == len(expected)
    width = num(bars[0], "width") if bars else 0
    placed = {(i, j): num(bar, "x") for bar, (i, j, _, _) in zip(bars, expected, strict=True)}
    pairs = [(placed[i, j], placed[i, j + 1]) for i, j in placed if (i, j + 1) in placed]
    pitch = pairs[0][1] - pairs[0][0] if pairs else None
    for bar, (i, j, name, value) in zip(bars, expected, strict=True):
        assert title(bar) == f"{name}, {categories[i]}: {money(value)}"
        assert bar.get("fill") == colors[name]
        assert num(bar, "width") == width
        assert num(bar, "x") >= left + i * slot
        assert num(bar, "x") + width <= left + (i + 1) * slot
        assert abs(num(bar, "y") + num(bar, "height") - y_of(0)) <= TOL
        assert abs(num(bar, "height") - (y_of(0) - y_of(value))) <= 2 * TOL
        centre = num(labels[i], "x")
        if pitch is None:
            assert abs(num(bar, "x") + width / 2 - centre) <= 1 + TOL
        else:
            start = centre - len(series) * pitch / 2
            assert abs(num(bar, "x") - (start + j * pitch)) <= 2 * TOL
    if pitch is not None:
        assert pitch > width > 0
    if len(series) > 1:
        assert pitch is not None


# ---------------------------------------------------------------- horizontal_bars

TOP = [f"8988300000000000{n:02d} · acme" for n in range(1, 4)]


@pytest.mark.parametrize(
    "values", [[300.0, 120.0, 0.0], [5.0], [0.0, 0.0], []], ids=["three", "one", "zeros", "none"]
)
def test_horizontal_bars_run_from_one_edge_as_long_as_their_value(values: list[float]) -> None:
    """One bar per label, top to bottom, from a common start, its length in proportion to its
    value (a zero a hairline); its label before it and its figure after it, on its row."""
    labels = TOP[: len(values)]
    colors = list(PALETTE[: len(values)])
    root = parse(horizontal_bars("Top", labels, values, colors, units, chart="top"))
    assert_inside(root)
    bars = children(root, "rect")
    assert [title(bar) for bar in bars] == [
        f"{la}: {units(v)}" for la, v in zip(labels, values, strict=True)
    ]
    assert [bar.get("fill") for bar in bars] == colors
    assert len({bar.get("x") for bar in bars}) <= 1
    widths = [num(bar, "width") for bar in bars]
    if any(values):
        per_unit = max(widths) / max(values)
        assert max(widths) >= size(root)[0] / 2
        for width, value in zip(widths, values, strict=True):
            assert abs(width - value * per_unit) <= TOL or (value == 0 and width <= 2)
    else:
        assert all(0 < width <= 2 for width in widths)
    for upper, lower in itertools.pairwise(bars):
        assert num(lower, "y") >= num(upper, "y") + num(upper, "height")
    if bars:
        assert size(root)[1] > num(bars[-1], "y") + num(bars[-1], "height")
    names = texts(root, "end")
    figures = texts(root, None)
    assert [name.text for name in names] == labels
    assert [figure.text for figure in figures] == [units(value) for value in values]
    for bar, name, figure in zip(bars, names, figures, strict=True):
        assert row_of(name, bars) is bar
        assert row_of(figure, bars) is bar
        assert num(name, "x") < num(bar, "x")
        assert num(figure, "x") > num(bar, "x") + num(bar, "width")


def test_horizontal_bars_add_height_row_by_row() -> None:
    """Each label adds one row's pitch to the picture."""
    heights = []
    for n in (1, 2, 3):
        root = parse(
            horizontal_bars("Top", TOP[:n], [1.0] * n, list(PALETTE[:n]), units, chart="t")
        )
        heights.append(size(root)[1])
        bars = children(root, "rect")
    pitch = num(bars[1], "y") - num(bars[0], "y")
    assert pitch > 0
    assert heights[1] - heights[0] == heights[2] - heights[1] == pitch


def test_horizontal_bars_refuse_labels_and_values_that_do_not_pair_up() -> None:
    """A label without a value (or the reverse) is an error, not a silently shorter chart."""
    with pytest.raises(ValueError, match="zip"):
        horizontal_bars("Top", TOP[:2], [1.0], [PALETTE[0]] * 2, units, chart="t")
