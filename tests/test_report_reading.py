"""The report as a reader reads it: the page parsed into its header, sections, headings,
tables and charts, and every figure checked against the data put in the store."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from cdp_sdk import __version__
from cdp_sdk.insights import write_report
from cdp_sdk.insights._report import SECTIONS, Report, _store_name, build_report, render_html
from cdp_sdk.sync import Store
from cdp_sdk.sync._db import database_url
from insight_store import NOW, Build, day, iccid, report_store

# -- reading the page ----------------------------------------------------------------------

VOID = {"meta", "link", "br", "img", "hr", "input", "wbr"}
CONTAINERS = {
    "#document", "html", "head", "body", "header", "main", "section", "nav", "table",
    "thead", "tbody", "tr", "dl", "svg", "div.cards", "div.card",
}  # fmt: skip
"""Elements whose own text a reader would see as stray: they only hold other elements."""


@dataclass
class Node:
    """An element of the page and what it holds (elements and text, in order)."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The tag, with its class for a ``div`` (``div.card``)."""
        css = self.attrs.get("class")
        return f"{self.tag}.{css}" if self.tag == "div" and css else self.tag

    @property
    def elements(self) -> list[Node]:
        return [child for child in self.children if isinstance(child, Node)]

    def text(self) -> str:
        """All the text inside, as read."""
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def own_text(self) -> str:
        """The text directly inside, not in a child element."""
        return "".join(c for c in self.children if isinstance(c, str))

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.elements:
            yield from child.walk()

    def all(self, tag: str) -> list[Node]:
        return [node for node in self.walk() if node.tag == tag]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.open[-1].children.append(node)
        if tag not in VOID:
            self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1].tag == tag, f"</{tag}> closes <{self.open[-1].tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


@dataclass(frozen=True)
class Chart:
    """An SVG chart as read: its title, the words drawn on it, and each mark's tooltip."""

    name: str
    title: str
    texts: tuple[str, ...]
    marks: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table as read: headers, rows of cells, and the columns aligned as numbers."""

    headers: list[str]
    rows: list[list[str]]
    numeric: set[int]


@dataclass
class Section:
    """A section: its title, its intro (None: none) and its blocks in page order."""

    title: str
    intro: str | None
    blocks: list[tuple[str, Any]]

    def of(self, kind: str) -> list[Any]:
        return [value for what, value in self.blocks if what == kind]

    @property
    def table(self) -> Table:
        (table,) = self.of("table")
        return cast(Table, table)

    @property
    def charts(self) -> dict[str, Chart]:
        return {chart.name: chart for chart in self.of("chart")}


@dataclass
class Page:
    """The whole page as read."""

    title: str
    heading: str
    byline: str
    nav: list[tuple[str, str]]
    sections: dict[str, Section]
    stray: list[tuple[str, str]]

    def __getitem__(self, name: str) -> Section:
        return self.sections[name]


def _chart(svg: Node) -> Chart:
    (title,) = [child for child in svg.elements if child.tag == "title"]
    assert svg.attrs["aria-label"] == title.text()
    marks = [
        node.elements[0].text()
        for node in svg.walk()
        if node.tag in ("rect", "circle") and node.elements
    ]
    texts = [node.text() for node in svg.all("text")]
    return Chart(svg.attrs["data-chart"], title.text(), tuple(texts), tuple(marks))


def _table(node: Node) -> Table:
    rows = [tr for tr in node.walk() if tr.tag == "tr"]
    aligned = [
        {i for i, c in enumerate(tr.elements) if c.attrs.get("class") == "num"} for tr in rows
    ]
    assert all(a == aligned[0] for a in aligned), aligned  # a column is aligned all the way
    assert all(c.tag == "th" for c in rows[0].elements)
    assert all(c.tag == "td" for tr in rows[1:] for c in tr.elements)
    cells = [[c.text() for c in tr.elements] for tr in rows]
    return Table(cells[0], cells[1:], aligned[0])


def _block(node: Node) -> tuple[str, Any]:
    if node.tag == "svg":
        return "chart", _chart(node)
    if node.tag == "table":
        return "table", _table(node)
    if node.tag == "p" and node.attrs.get("class") in ("empty", "more", "intro"):
        return node.attrs["class"], node.text()
    if node.kind == "div.cards":
        cards = [[div.text() for div in card.elements] for card in node.elements]
        return "cards", cards
    if node.tag == "dl":
        pairs = zip(node.elements[::2], node.elements[1::2], strict=True)
        return "dl", [
            (dt.own_text().strip(), dt.all("code")[0].text(), dd.text()) for dt, dd in pairs
        ]
    return node.kind, node.text()


def read(page: str) -> Page:
    """The page as a reader reads it (and any text standing outside its elements)."""
    parser = _Parser()
    parser.feed(page)
    parser.close()
    root = parser.root
    stray = [
        (node.kind, text)
        for node in root.walk()
        if node.kind in CONTAINERS
        for text in [node.own_text()]
        if text.strip()
    ]
    (html,) = root.all("html")
    assert [c.tag for c in html.elements] == ["head", "body"]
    (header,) = root.all("header")
    (main,) = root.all("main")
    sections: dict[str, Section] = {}
    for node in main.elements:
        assert node.tag == "section"
        assert node.attrs["data-section"] == node.attrs["id"]
        h2, *rest = node.elements
        assert h2.tag == "h2"
        intro = rest.pop(0).text() if rest and rest[0].attrs.get("class") == "intro" else None
        sections[node.attrs["id"]] = Section(h2.text(), intro, [_block(n) for n in rest])
    (nav,) = root.all("nav")
    return Page(
        title=root.all("title")[0].text(),
        heading=header.all("h1")[0].text(),
        byline=header.all("p")[0].text(),
        nav=[(a.attrs["href"], a.text()) for a in nav.elements],
        sections=sections,
        stray=stray,
    )


# -- the stores ----------------------------------------------------------------------------

PAST = datetime(2001, 6, 20, 12, tzinfo=UTC)
"""A moment before any clock the tests run on."""

NAV = [
    ("#summary", "Summary"),
    ("#fleet", "Fleet"),
    ("#usage", "Usage"),
    ("#cost", "Cost"),
    ("#idle", "Idle but billable"),
    ("#risk", "At risk of passing the plan"),
    ("#anomalies", "Usage anomalies"),
    ("#gaps", "Not assessed"),
    ("#definitions", "Definitions"),
]
TABLE_HEADERS = {
    "cost": ["platform", "account", "period", "invoices", "total", "active SIMs", "per active SIM"],
    "idle": ["account", "ICCID", "status", "tariff", "monthly fee", "last usage (UTC)"],
    "risk": [
        "account", "ICCID", "tariff", "bearer", "included", "used", "projected", "of plan", "cycle",
    ],
    "spikes": ["day", "account", "ICCID", "data", "trailing median", "ratio"],
    "stops": [
        "account", "ICCID", "status now", "active days", "baseline data", "last usage (UTC)",
    ],
    "gaps": ["account", "platform", "why", "left out of", "SIMs"],
}  # fmt: skip
FLEET_INTRO = (
    "SIMs per platform account and normalized status; the daily line rebuilds past days from "
    "the status changes of the audit events."
)
RISK_INTRO = "Usage so far this cycle, extrapolated to the cycle's end, above the plan."
GAPS_INTRO = "What the insights could not assess, and why: missing data is never counted as zero."
SPIKES = "Spikes: days above 5x the trailing median"
STOPS = "Stopped: steady use, then none"


def edge_store(build: Build) -> None:
    """What the report store lacks: bytes in every unit, several currencies, a zero invoice,
    an account on two platforms and one named like its platform, an account with usage but
    no SIM, idle SIMs priced in EUR, in USD, in no currency and not at all, two spikes and
    two stops (one of a SIM no longer in the store).

    ``toy`` (connector ``toy``): SIMs 11-14 on plans of 1 kB, 1 MB, 1 GB and 1 TB, each
    using twice its plan on day -10; idle SIMs 15-18 (last usage day -40); SIMs 19 and 20
    at 1 MB a day with a 10 MB spike (days -3 and -5); SIMs 21 (not in the store) and 22
    at 2 MB a day up to day -8. ``multi``: SIM 31 on platform ``a`` (suspended), SIM 32 on
    ``b`` (deactivated). ``ghost`` (``ghostnet``): account totals of 5 kB a day, no SIM.
    Invoices: multi 10.00 EUR (May, on ``a``), 7.00 EUR (April, on ``b``) and 0.00 USD
    (May, on ``b``); toy 15.00, 20.00 and 5.00 EUR (March to May) and 12.50 USD (May).
    """
    plans = {11: ("plan-k", 10**3), 12: ("plan-m", 10**6), 13: ("plan-g", 10**9)}
    plans[14] = ("plan-t", 10**12)
    with build.batch():
        build.modes("toy", {"live": ("active", True), "paused": ("suspended", True)}, "toy")
        build.tariff("toy", "plan-k", fee="1.50", data=10**3, connector="toy")
        build.tariff("toy", "plan-m", fee="2.00", currency="USD", data=10**6, connector="toy")
        build.tariff("toy", "plan-g", fee="2.00", currency=None, data=10**9, connector="toy")
        build.tariff("toy", "plan-t", data=10**12, connector="toy")
        for n, (plan, size) in plans.items():
            build.sim("toy", n, "active", "live", tariff=plan, created=day(-90), connector="toy")
            build.usage("toy", n, day(-10), 2 * size, connector="toy")
        for n, plan in ((15, "plan-k"), (16, "plan-m"), (17, "plan-g"), (18, None)):
            build.sim(
                "toy", n, "suspended", "paused", tariff=plan, created=day(-90), connector="toy"
            )
            build.usage("toy", n, day(-40), 500, connector="toy")
        for n, spike in ((19, -3), (20, -5)):
            build.sim("toy", n, "active", "live", created=day(-90), connector="toy")
            values = [10_000_000 if o == spike else 1_000_000 for o in range(-40, 0)]
            build.daily("toy", n, -40, values, connector="toy")
        build.sim("toy", 22, "active", "live", created=day(-90), connector="toy")
        for n in (21, 22):
            build.daily("toy", n, -40, [2_000_000] * 33, connector="toy")  # days -40 to -8
        build.sim("multi", 31, "suspended", "off", connector="a")
        build.sim("multi", 32, "deactivated", "gone", connector="b")
        build.invoice("multi", "m5", date(2026, 5, 1), date(2026, 5, 31), "10.00", connector="a")
        build.invoice("multi", "m4", date(2026, 4, 1), date(2026, 4, 30), "7.00", connector="b")
        build.invoice(
            "multi",
            "m5u",
            date(2026, 5, 1),
            date(2026, 5, 31),
            "0.00",
            currency="USD",
            connector="b",
        )
        for month, total in ((3, "15.00"), (4, "20.00"), (5, "5.00")):
            end = date(2026, month + 1, 1) - timedelta(days=1)
            build.invoice("toy", f"t{month}", date(2026, month, 1), end, total, connector="toy")
        build.invoice(
            "toy",
            "t5u",
            date(2026, 5, 1),
            date(2026, 5, 31),
            "12.50",
            currency="USD",
            connector="toy",
        )
        build.daily("ghost", None, -40, [5_000] * 40, connector="ghostnet")


def late_store(build: Build) -> None:
    """A store read as of ``PAST``: its one SIM was created three days later, and June's
    invoice (5.00 EUR) is not over yet."""
    with build.batch():
        build.modes("late", {"live": ("active", True)})
        build.sim("late", 51, "active", "live", created=PAST + timedelta(days=3))
        build.invoice("late", "j", date(2001, 6, 1), date(2001, 6, 30), "5.00")


def bulk_store(build: Build) -> None:
    """101 idle billable SIMs without a tariff (SIMs 100-200; SIM 100 used 500 B on day -40,
    so the account's history covers the window)."""
    with build.batch():
        build.modes("bulk", {"paused": ("suspended", True)})
        for n in range(100, 201):
            build.sim("bulk", n, "suspended", "paused", created=day(-90))
        build.usage("bulk", 100, day(-40), 500)


@dataclass
class Built:
    """A store and its report, built once for the module."""

    store: Store
    report: Report

    def page(self, **kw: Any) -> Page:
        return read(render_html(self.report, **kw))


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Built]]:
    folder = tmp_path_factory.mktemp("stores")
    fills: dict[str, Callable[[Build], None] | None] = {
        "main": report_store,
        "edge": edge_store,
        "late": late_store,
        "bulk": bulk_store,
        "empty": None,
    }
    built: dict[str, Built] = {}
    opened: list[Store] = []
    try:
        for name, fill in fills.items():
            store = Store(folder / f"{name}.db")
            opened.append(store)
            if fill:
                fill(Build(store))
            built[name] = Built(store, build_report(store, now=PAST if name == "late" else NOW))
        yield built
    finally:
        for store in opened:
            store.close()


@pytest.fixture(scope="module")
def main(stores: dict[str, Built]) -> Page:
    return stores["main"].page()


@pytest.fixture(scope="module")
def edge(stores: dict[str, Built]) -> Page:
    return stores["edge"].page()


@pytest.fixture(scope="module")
def empty(stores: dict[str, Built]) -> Page:
    return stores["empty"].page()


def label(offset: int) -> str:
    """A day's label on the charts: ``MM-DD``, ``offset`` days from the tests' today."""
    return f"{NOW.date() + timedelta(days=offset):%m-%d}"


def eu_bytes(offset: int) -> int:
    """``eu``'s data on a day of the report store (SIMs 1, 2 and 3; SIM 4 stopped by day
    -31)."""
    sim1 = 3_000_000 + 10_000 * (offset % 7)
    sim2 = 40_000_000 if offset == -4 else 2_000_000
    sim3 = 1_500_000 if offset < -7 else 0
    return sim1 + sim2 + sim3


def us_bytes(offset: int) -> int:
    """``us``'s account total on a day of the report store."""
    return 900_000_000 + 1_000_000 * (offset % 5)


def eu_active(offset: int) -> int:
    """``eu``'s active SIMs at the end of a day: 1-3 always, 4 until paused on day -12, 6
    until stopped on day -20, 5 from its activation on day -1."""
    return 3 + (offset < -12) + (offset < -20) + (offset >= -1)


# -- every page ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["main", "edge", "late", "bulk", "empty"])
def test_every_page_is_its_header_and_sections_in_order(
    stores: dict[str, Built], name: str
) -> None:
    page = stores[name].page()
    assert page.stray == []  # no text stands between the elements
    assert page.nav == NAV  # the navigation links every section, by its title
    assert list(page.sections) == list(SECTIONS)
    assert [(f"#{s}", page[s].title) for s in page.sections] == NAV
    assert page.heading == "Fleet report"


def test_the_header_names_the_store_the_moment_and_the_window(main: Page) -> None:
    assert main.title == "Fleet report 2026-06-20 12:00 UTC"
    assert main.byline == (
        f"Store main.db as of 2026-06-20 12:00 UTC, 30-day windows. Made by cdp-sdk "
        f"{__version__} (cdp report); every figure is defined at the end of the page."
    )


def test_an_in_memory_store_is_named_so() -> None:
    with Store("sqlite://") as memory:
        page = read(render_html(build_report(memory, now=NOW)))
    assert page.byline.startswith("Store :memory: as of ")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("postgresql://cdp:s3cret@db.example:5432/fleet", "postgresql database fleet"),
        ("postgresql://cdp:s3cret@db.example:5432", "postgresql database"),
    ],
)
def test_a_database_store_is_named_by_its_database_only(
    stores: dict[str, Built], url: str, name: str
) -> None:
    server = cast(Store, SimpleNamespace(url=database_url(url)))
    report = replace(stores["empty"].report, store=_store_name(server))
    page = read(render_html(report))
    assert page.byline.startswith(f"Store {name} as of ")
    assert "s3cret" not in page.byline
    assert "db.example" not in page.byline


# -- the report store, section by section -----------------------------------------------


def test_the_summary_reads_the_fleet_at_a_glance(main: Page) -> None:
    data = sum(eu_bytes(o) + us_bytes(o) for o in range(-30, 0))
    assert 27.25e9 <= data < 27.35e9
    assert main["summary"].intro is None
    assert main["summary"].blocks == [
        (
            "cards",
            [
                ["SIMs", "8", "2 accounts, 2 platforms"],
                ["Active SIMs", "5", "normalized status active"],  # eu 1, 2, 3, 5; us 7
                ["Data, last 30 days", "27.3 GB", "platforms with daily figures"],
                ["Idle but billable", "2", "3.00 EUR a month"],  # SIMs 4 and 5 at 1.50
                ["At risk of passing their plan", "3", "this cycle, projected"],
                ["Usage spikes", "1", "SIM-days, last 30 days"],
                ["Stopped SIMs", "1", "steady use, then none"],
                ["Invoiced, latest period", "58.75 EUR", "per currency, all platforms"],
            ],
        )
    ]


def test_the_fleet_charts_read_each_platform_and_status(main: Page) -> None:
    fleet = main["fleet"]
    assert fleet.intro == FLEET_INTRO
    assert fleet.of("h3") == ["SIMs per platform and status, now", "Active SIMs, day by day"]
    assert [what for what, _ in fleet.blocks] == ["h3", "chart", "h3", "chart"]
    status = fleet.charts["status-by-platform"]
    assert status.title == "SIMs per platform and status"
    assert status.texts[:5] == ("active", "suspended", "deactivated", "eu (toy)", "4")
    assert "us (other)" in status.texts
    assert status.marks == (
        "eu (toy), active: 4",
        "eu (toy), suspended: 1",
        "eu (toy), deactivated: 1",
        "us (other), active: 1",
        "us (other), suspended: 1",
    )
    history = fleet.charts["active-history"]
    assert history.title == "Active SIMs per day and platform"
    assert history.texts[:2] == ("eu", "us")
    assert history.texts[-1] == "06-20"  # the last day is the report's day
    assert history.marks == tuple(
        [f"eu, {label(o)}: {eu_active(o)}" for o in range(-29, 1)]
        + [f"us, {label(o)}: 1" for o in range(-29, 1)]
    )


def test_the_usage_charts_read_bytes_per_day_and_the_top_sims(main: Page) -> None:
    usage = main["usage"]
    assert usage.intro is None
    assert usage.of("h3") == [
        "Data per day and platform, last 30 complete days",
        "Top 3 data consumers, last 30 days",
    ]
    daily = usage.charts["daily-usage"]
    assert daily.title == "Data usage per day and platform"
    assert daily.texts[:2] == ("eu", "us")
    assert daily.texts[-1] == "06-19"  # yesterday, the last complete day
    assert len(daily.marks) == 60
    assert daily.marks[0] == "eu, 05-21: 6.55 MB"  # 3.05 + 2 + 1.5 MB
    assert daily.marks[26] == "eu, 06-16: 43 MB"  # the spike: 3.03 + 40 MB
    assert daily.marks[29] == "eu, 06-19: 5.06 MB"
    assert daily.marks[30] == "us, 05-21: 900 MB"
    assert daily.marks[56] == "us, 06-16: 901 MB"
    assert daily.marks[59] == "us, 06-19: 904 MB"
    top = usage.charts["top-consumers"]
    assert top.title == "SIMs with the most data usage"
    # Records starting in [05-21 12:00, 06-20 12:00): days -29 to -1.
    assert top.marks == (
        f"{iccid(2)} · eu: 96 MB",  # 28 x 2 MB + 40 MB
        f"{iccid(1)} · eu: 87.9 MB",  # 29 x 3 MB + 90 x 10 kB
        f"{iccid(3)} · eu: 33 MB",  # days -29 to -8: 22 x 1.5 MB
    )


def test_the_cost_section_reads_the_invoices_in_their_currency(main: Page) -> None:
    cost = main["cost"]
    assert cost.intro is None
    assert cost.of("h3") == [
        "Invoiced per period and platform, in EUR",
        "Invoice totals and cost per active SIM",
    ]
    chart = cost.charts["cost-EUR"]
    assert chart.title == "Invoiced per period and platform, in EUR"
    assert chart.texts == ("eu", "0", "20", "40", "60", "80", "2026-04", "2026-05")
    assert chart.marks == ("eu, 2026-04: 61.20 EUR", "eu, 2026-05: 58.75 EUR")
    assert cost.table == Table(
        TABLE_HEADERS["cost"],
        [
            ["toy", "eu", "2026-04", "1", "61.20 EUR", "5", "12.24 EUR"],  # 61.20 / 5
            ["toy", "eu", "2026-05", "1", "58.75 EUR", "4", "14.69 EUR"],  # SIM 6 stopped
            ["other", "us", "", "0", "no invoices: the platform's API offers no invoices", "", ""],
        ],
        {3, 4, 5, 6},
    )


def test_the_idle_section_reads_each_sim_and_its_fee(main: Page) -> None:
    idle = main["idle"]
    assert idle.intro == (
        "In a billable state, no usage in the last 30 days: 2 SIMs, 3.00 EUR a month."
    )
    assert idle.blocks == [
        (
            "table",
            Table(
                TABLE_HEADERS["idle"],
                [
                    [
                        "eu",
                        iccid(4),
                        "suspended (paused)",
                        "plan-s",
                        "1.50 EUR",
                        "2026-05-21 00:00",
                    ],
                    ["eu", iccid(5), "active (live)", "plan-s", "1.50 EUR", "none synced"],
                ],
                {4},
            ),
        )
    ]


def test_the_risk_section_reads_bytes_and_the_month(main: Page) -> None:
    risk = main["risk"]
    assert risk.intro == RISK_INTRO
    # June so far (days -19 to -1), times 30 / 19.5 days, against the plan's 10 MB.
    rows = [
        [iccid(2), "76 MB", "117 MB", "1169%"],  # 18 x 2 MB + 40 MB
        [iccid(1), "57.6 MB", "88.6 MB", "886%"],  # 19 x 3 MB + 62 x 10 kB
        [iccid(3), "18 MB", "27.7 MB", "277%"],  # days -19 to -8: 12 x 1.5 MB
    ]
    assert risk.blocks == [
        (
            "table",
            Table(
                TABLE_HEADERS["risk"],
                [["eu", sim, "plan-s", "data", "10 MB", *row, "2026-06"] for sim, *row in rows],
                {4, 5, 6, 7},
            ),
        )
    ]


def test_the_anomalies_read_the_spike_and_the_stop(main: Page) -> None:
    anomalies = main["anomalies"]
    assert anomalies.intro is None
    assert anomalies.blocks == [
        ("h3", SPIKES),
        (
            "table",
            Table(
                TABLE_HEADERS["spikes"],
                [["2026-06-16", "eu", iccid(2), "40 MB", "2 MB", "20.0x"]],
                {3, 4, 5},
            ),
        ),
        ("h3", STOPS),
        (
            "table",
            Table(
                TABLE_HEADERS["stops"],
                [["eu", iccid(3), "active (live)", "21", "31.5 MB", "2026-06-13 00:00"]],
                {3, 4},
            ),
        ),
    ]


def test_what_was_not_assessed_is_listed_per_account_and_reason(
    stores: dict[str, Built], main: Page
) -> None:
    report = stores["main"].report
    per_sim = report.top.gaps[0].reason
    gaps = main["gaps"]
    assert gaps.intro == GAPS_INTRO
    assert gaps.table == Table(
        TABLE_HEADERS["gaps"],
        [
            ["eu", "toy", report.spikes.gaps[0].reason, "Usage spikes", ""],
            ["us", "other", report.cost.gaps[0].reason, "Cost per platform and period", "2"],
            [
                "us",
                "other",
                per_sim,
                "Top data consumers; SIMs at risk of passing their plan; Usage spikes; "
                "SIMs that stopped",
                "2",
            ],
            ["us", "other", per_sim, "Idle but billable SIMs", "1"],
            [
                "us",
                "other",
                report.history.gaps[0].reason,
                "SIMs per platform and status, day by day",
                "",
            ],
        ],
        {4},
    )


def test_the_definitions_are_the_insights_own(stores: dict[str, Built], main: Page) -> None:
    report = stores["main"].report
    assert main["definitions"].intro is None
    assert main["definitions"].blocks == [
        ("dl", [(i.title, i.name, i.definition) for i in report.insights])
    ]


# -- a window of 7 days, and the top one ------------------------------------------------


def test_the_window_and_the_top_asked_for_reach_every_section(stores: dict[str, Built]) -> None:
    store = stores["main"].store
    page = read(render_html(build_report(store, now=NOW, days=7, top=1)))
    assert "7-day windows" in page.byline
    cards = page["summary"].of("cards")[0]
    assert cards[2][0] == "Data, last 7 days"
    assert cards[5] == ["Usage spikes", "1", "SIM-days, last 7 days"]
    history = page["fleet"].charts["active-history"]
    assert history.marks[:7] == tuple(f"eu, {label(o)}: {eu_active(o)}" for o in range(-6, 1))
    assert len(history.marks) == 14  # 7 days, 2 accounts
    usage = page["usage"]
    assert usage.of("h3") == [
        "Data per day and platform, last 7 complete days",
        "Top 1 data consumers, last 7 days",
    ]
    daily = usage.charts["daily-usage"]
    assert daily.texts[-1] == "06-19"
    assert len(daily.marks) == 14
    assert daily.marks[0] == f"eu, {label(-7)}: 5 MB"  # 3 + 2 MB; SIM 3 stopped after day -8
    # Days -6 to -1: 5 x 2 MB + 40 MB.
    assert usage.charts["top-consumers"].marks == (f"{iccid(2)} · eu: 50 MB",)
    # SIM 3's last record (day -8) ends before the 7 days: it is idle too.
    idle = page["idle"]
    assert idle.intro == (
        "In a billable state, no usage in the last 7 days: 3 SIMs, 4.50 EUR a month."
    )
    assert [row[1] for row in idle.table.rows] == [iccid(3), iccid(4), iccid(5)]
    # The spike's trailing days lie within eu's history: nothing left out of the spikes.
    assert not any(row[0] == "eu" for row in page["gaps"].table.rows)


def test_long_lists_say_how_many_rows_are_left_out(stores: dict[str, Built]) -> None:
    main = stores["main"].page(max_rows=1)
    assert [row[1] for row in main["risk"].table.rows] == [iccid(2)]
    assert main["risk"].of("more") == [
        "2 more not shown: the whole list is cdp_sdk.insights.plan_risk(store)."
    ]
    assert main["anomalies"].of("more") == []  # one spike, one stop: nothing left out
    edge = stores["edge"].page(max_rows=1)
    assert edge["anomalies"].of("more") == [
        "1 more not shown: the whole list is cdp_sdk.insights.usage_spikes(store).",
        "1 more not shown: the whole list is cdp_sdk.insights.usage_stops(store).",
    ]
    assert [what for what, _ in edge["anomalies"].blocks] == [
        "h3", "table", "more", "h3", "table", "more",
    ]  # fmt: skip


def test_a_hundred_rows_are_shown_by_default(stores: dict[str, Built]) -> None:
    bulk = stores["bulk"]
    page = read(render_html(bulk.report))
    idle = page["idle"]
    assert idle.intro == "In a billable state, no usage in the last 30 days: 101 SIMs."
    assert len(idle.table.rows) == 100
    assert idle.table.rows[0] == [
        "bulk", iccid(100), "suspended (paused)", "", "unknown", "2026-05-12 00:00",
    ]  # fmt: skip
    assert idle.table.rows[1] == [
        "bulk", iccid(101), "suspended (paused)", "", "unknown", "none synced",
    ]  # fmt: skip
    assert idle.of("more") == [
        "1 more not shown: the whole list is cdp_sdk.insights.idle_billable(store)."
    ]
    cards = page["summary"].of("cards")[0]
    assert cards[3] == ["Idle but billable", "101", "monthly fee unknown (no priced tariff)"]


# -- the edge store --------------------------------------------------------------------


def test_several_currencies_read_each_with_its_total(edge: Page) -> None:
    cards = edge["summary"].of("cards")[0]
    assert cards[0] == ["SIMs", "13", "2 accounts, 3 platforms"]  # ghost has no SIM
    assert cards[1] == ["Active SIMs", "7", "normalized status active"]
    # SIMs 11-14 used 2 kB + 2 MB + 2 GB + 2 TB on day -10; the rest is MB.
    assert cards[2] == ["Data, last 30 days", "2 TB", "platforms with daily figures"]
    assert cards[3] == ["Idle but billable", "4", "1.50 EUR, 2.00 USD a month"]
    # Each account's latest period: multi 10.00 EUR (May, on a) and 0.00 USD, toy 5.00 EUR
    # and 12.50 USD (May).
    assert cards[7] == [
        "Invoiced, latest period",
        "15.00 EUR, 12.50 USD",
        "per currency, all platforms",
    ]
    cost = edge["cost"]
    assert cost.of("h3") == [
        "Invoiced per period and platform, in EUR",
        "Invoiced per period and platform, in USD",
        "Invoice totals and cost per active SIM",
    ]
    eur, usd = cost.of("chart")
    assert eur.title == "Invoiced per period and platform, in EUR"
    assert eur.texts == (
        "multi",
        "toy",
        "0",
        "5",
        "10",
        "15",
        "20",
        "2026-03",
        "2026-04",
        "2026-05",
    )
    assert eur.marks == (
        "toy, 2026-03: 15.00 EUR",
        "multi, 2026-04: 7.00 EUR",
        "toy, 2026-04: 20.00 EUR",
        "multi, 2026-05: 10.00 EUR",
        "toy, 2026-05: 5.00 EUR",
    )
    assert usd.title == "Invoiced per period and platform, in USD"
    assert usd.texts == ("multi", "toy", "0", "5", "10", "15", "2026-05")
    assert usd.marks == ("multi, 2026-05: 0.00 USD", "toy, 2026-05: 12.50 USD")
    # toy's 7 active SIMs were all created on day -90 (in March).
    assert cost.table == Table(
        TABLE_HEADERS["cost"],
        [
            ["a", "multi", "2026-05", "1", "10.00 EUR", "0", ""],
            ["b", "multi", "2026-04", "1", "7.00 EUR", "0", ""],
            ["b", "multi", "2026-05", "1", "0.00 USD", "0", ""],
            ["toy", "toy", "2026-03", "1", "15.00 EUR", "7", "2.14 EUR"],
            ["toy", "toy", "2026-04", "1", "20.00 EUR", "7", "2.86 EUR"],
            ["toy", "toy", "2026-05", "1", "5.00 EUR", "7", "0.71 EUR"],
            ["toy", "toy", "2026-05", "1", "12.50 USD", "7", "1.79 USD"],
            ["ghostnet", "ghost", "", "0", "no invoices: invoices not synced yet", "", ""],
        ],
        {3, 4, 5, 6},
    )


def test_idle_fees_read_in_their_currency_or_unknown(edge: Page) -> None:
    idle = edge["idle"]
    assert idle.intro == (
        "In a billable state, no usage in the last 30 days: 4 SIMs, 1.50 EUR, 2.00 USD a month."
    )
    last = "2026-05-12 00:00"  # the end of day -40
    assert idle.table.rows == [
        ["toy", iccid(15), "suspended (paused)", "plan-k", "1.50 EUR", last],
        ["toy", iccid(16), "suspended (paused)", "plan-m", "2.00 USD", last],
        ["toy", iccid(17), "suspended (paused)", "plan-g", "2.00", last],  # priced, no currency
        ["toy", iccid(18), "suspended (paused)", "", "unknown", last],  # no tariff
    ]


def test_bytes_read_in_decimal_units(stores: dict[str, Built], edge: Page) -> None:
    plans = {iccid(11): "k", iccid(12): "M", iccid(13): "G", iccid(14): "T"}
    risk = edge["risk"].table
    assert risk.headers == TABLE_HEADERS["risk"]
    assert risk.numeric == {4, 5, 6, 7}
    # Twice the plan by day 19.5 of 30: projected 2 x 30 / 19.5 = 3.08 plans.
    assert {row[1]: row[2:] for row in risk.rows} == {
        sim: [
            f"plan-{unit.lower()}",
            "data",
            f"1 {unit}B",
            f"2 {unit}B",
            f"3.08 {unit}B",
            "308%",
            "2026-06",
        ]
        for sim, unit in plans.items()
    }
    assert [row[1] for row in risk.rows] == [row.iccid for row in stores["edge"].report.risk.rows]
    top = edge["usage"].charts["top-consumers"]
    assert top.marks[:2] == (f"{iccid(14)} · toy: 2 TB", f"{iccid(13)} · toy: 2 GB")
    assert edge["usage"].of("h3")[1] == "Top 8 data consumers, last 30 days"  # SIMs 11-14 and 19-22
    daily = edge["usage"].charts["daily-usage"]
    assert daily.texts[:2] == ("ghost", "toy")  # an account with usage but no SIM has a line
    assert daily.marks[:2] == ("ghost, 05-21: 5 kB", "ghost, 05-22: 5 kB")


def test_an_account_on_two_platforms_is_labelled_with_both(edge: Page) -> None:
    status = edge["fleet"].charts["status-by-platform"]
    assert status.texts[:3] == ("active", "suspended", "deactivated")
    assert "multi (a, b)" in status.texts
    assert "toy" in status.texts  # an account named like its platform: once
    assert status.marks == (
        "multi (a, b), suspended: 1",
        "multi (a, b), deactivated: 1",
        "toy, active: 7",
        "toy, suspended: 4",
    )
    history = edge["fleet"].charts["active-history"]
    assert history.texts[:2] == ("multi", "toy")
    # multi has no active SIM: its line lies at zero.
    assert history.marks == tuple(
        [f"multi, {label(o)}: 0" for o in range(-29, 1)]
        + [f"toy, {label(o)}: 7" for o in range(-29, 1)]
    )


def test_spikes_and_stops_read_each_sim(stores: dict[str, Built], edge: Page) -> None:
    spikes, stops = edge["anomalies"].of("table")
    report = stores["edge"].report
    assert [row.iccid for row in report.spikes.rows] == [iccid(19), iccid(20)]
    assert spikes == Table(
        TABLE_HEADERS["spikes"],
        [
            ["2026-06-17", "toy", iccid(19), "10 MB", "1 MB", "10.0x"],
            ["2026-06-15", "toy", iccid(20), "10 MB", "1 MB", "10.0x"],
        ],
        {3, 4, 5},
    )
    assert [row.iccid for row in report.stops.rows] == [iccid(21), iccid(22)]
    # 21 days of 2 MB before the last 7; the last record is day -8's.
    assert stops == Table(
        TABLE_HEADERS["stops"],
        [
            ["toy", iccid(21), "not in the store", "21", "42 MB", "2026-06-13 00:00"],
            ["toy", iccid(22), "active (live)", "21", "42 MB", "2026-06-13 00:00"],
        ],
        {3, 4},
    )


# -- a store read as of an earlier moment, and an empty one -------------------------------


def test_a_report_as_of_an_earlier_moment_reads_the_fleet_as_it_was(
    stores: dict[str, Built],
) -> None:
    page = stores["late"].page()
    assert page.title == "Fleet report 2001-06-20 12:00 UTC"
    fleet = page["fleet"]
    # The SIM exists in the store, but not yet on the report's day: no day-by-day line.
    assert [what for what, _ in fleet.blocks] == ["h3", "chart"]
    assert fleet.charts["status-by-platform"].marks == ("late (toy), active: 1",)
    # June is not over on the 20th: its active SIMs are those of that day, none.
    assert page["cost"].table.rows == [["toy", "late", "2001-06", "1", "5.00 EUR", "0", ""]]
    assert page["idle"].of("empty") == [
        "No idle billable SIM among the SIMs assessed. Some accounts could not be assessed: "
        "see Not assessed."
    ]


def test_an_empty_store_says_why_each_section_is_empty(empty: Page) -> None:
    assert empty["summary"].of("cards") == [
        [
            ["SIMs", "0", "0 accounts, 0 platforms"],
            ["Active SIMs", "0", "normalized status active"],
            ["Data, last 30 days", "0 B", "platforms with daily figures"],
            ["Idle but billable", "0", "among the SIMs assessed"],
            ["At risk of passing their plan", "0", "this cycle, projected"],
            ["Usage spikes", "0", "SIM-days, last 30 days"],
            ["Stopped SIMs", "0", "steady use, then none"],
            ["Invoiced, latest period", "no invoices", "per currency, all platforms"],
        ]
    ]
    assert empty["fleet"].intro == FLEET_INTRO
    assert empty["fleet"].blocks == [
        ("h3", "SIMs per platform and status, now"),
        ("empty", "No SIM in the store."),
    ]
    assert empty["usage"].blocks == [
        ("h3", "Data per day and platform, last 30 complete days"),
        ("empty", "No daily usage figures in the store for this window."),
        ("h3", "Top  data consumers, last 30 days"),
        ("empty", "No per-SIM usage in the store for this window."),
    ]
    assert empty["cost"].blocks == [
        ("empty", "No invoice in the store."),
        ("h3", "Invoice totals and cost per active SIM"),
        ("table", Table(TABLE_HEADERS["cost"], [], {3, 4, 5, 6})),
    ]
    assert empty["idle"].intro == "In a billable state, no usage in the last 30 days: 0 SIMs."
    assert empty["idle"].blocks == [("empty", "No idle billable SIM among the SIMs assessed.")]
    assert empty["risk"].intro == RISK_INTRO
    assert empty["risk"].blocks == [
        ("empty", "No SIM on course to pass its plan among the SIMs assessed.")
    ]
    assert empty["anomalies"].blocks == [
        ("h3", SPIKES),
        ("empty", "No spike among the SIMs assessed."),
        ("h3", STOPS),
        ("empty", "No SIM went from steady use to none."),
    ]
    assert empty["gaps"].intro is None
    assert empty["gaps"].blocks == [("empty", "Every account had the data every insight needs.")]


# -- write_report --------------------------------------------------------------------------


def test_write_report_writes_the_page_whole(stores: dict[str, Built], tmp_path: Path) -> None:
    bulk = stores["bulk"]
    target = tmp_path / "out" / "report.html"
    assert write_report(bulk.store, target, now=NOW) == target
    assert target.read_bytes() == render_html(bulk.report).encode("utf-8")
    assert "30-day windows" in read(target.read_text(encoding="utf-8")).byline
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # readable by all, whatever umask
    write_report(bulk.store, target, now=NOW, days=7, max_rows=1)
    page = build_report(bulk.store, now=NOW, days=7)
    assert target.read_text(encoding="utf-8") == render_html(page, max_rows=1)
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_write_report_writes_beside_the_target_under_a_hidden_name(
    stores: dict[str, Built], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    move = os.replace

    def replace_seen(source: str, target: str) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        assert Path(source).parent == tmp_path
        move(source, target)

    monkeypatch.setattr(os, "replace", replace_seen)
    write_report(stores["empty"].store, tmp_path / "report.html", now=NOW)
    (names,) = seen
    (scratch,) = names
    assert scratch.startswith(".report.html.")  # hidden, named after the report
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_write_report_refuses_a_folder_and_leaves_nothing(
    stores: dict[str, Built], tmp_path: Path
) -> None:
    folder = tmp_path / "report.html"
    folder.mkdir()
    (folder / "index.html").write_text("kept", encoding="utf-8")
    with pytest.raises(IsADirectoryError) as refused:
        write_report(stores["empty"].store, folder, now=NOW)
    assert refused.value.filename is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert (folder / "index.html").read_text(encoding="utf-8") == "kept"


def test_write_report_raises_the_first_failure_even_when_the_scratch_is_gone(
    stores: dict[str, Built], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(source: str, target: str) -> None:
        Path(source).unlink()
        raise PermissionError("the disk went away")

    monkeypatch.setattr(os, "replace", lost)
    with pytest.raises(PermissionError, match="the disk went away"):
        write_report(stores["empty"].store, tmp_path / "report.html", now=NOW)
    assert list(tmp_path.iterdir()) == []


def test_write_report_writes_utf8_whatever_the_locale(
    stores: dict[str, Built], tmp_path: Path
) -> None:
    """The page says it is UTF-8 (``<meta charset>``): so is the file, even where the
    locale's encoding is ASCII."""
    main = stores["main"]
    target = tmp_path / "report.html"
    script = (
        "import sys; from datetime import datetime, UTC; from cdp_sdk.sync import Store; "
        "from cdp_sdk.insights import write_report; "
        "store = Store(sys.argv[1], read_only=True); "
        "write_report(store, sys.argv[2], now=datetime(2026, 6, 20, 12, tzinfo=UTC))"
    )
    env = os.environ | {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    database = main.store.url.database or ""
    ran = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", script, database, str(target)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert target.read_bytes() == render_html(main.report).encode("utf-8")
    assert "·".encode() in target.read_bytes()  # the top consumers' labels


# -- found by these tests, fixed ------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "cdp.db") as opened:
        yield opened


def test_a_zero_invoice_costs_zero_per_active_sim(store: Store) -> None:
    """The definition: per active SIM is empty only "when no SIM was active"."""
    build = Build(store)
    build.sim("eu", 1, "active", created=day(-90))
    build.invoice("eu", "i", date(2026, 5, 1), date(2026, 5, 31), "0.00")
    page = read(render_html(build_report(store, now=NOW)))
    assert page["cost"].table.rows == [["toy", "eu", "2026-05", "1", "0.00 EUR", "1", "0.00 EUR"]]


def test_an_account_on_two_platforms_counts_all_its_sims_in_the_fleet_charts(
    store: Store,
) -> None:
    build = Build(store)
    build.sim("multi", 1, "active", connector="a", created=day(-3))
    build.sim("multi", 2, "active", connector="b", created=day(-3))
    page = read(render_html(build_report(store, now=NOW, days=2)))
    assert page["summary"].of("cards")[0][0] == ["SIMs", "2", "1 accounts, 2 platforms"]
    assert page["fleet"].charts["status-by-platform"].marks == ("multi (a, b), active: 2",)
    assert page["fleet"].charts["active-history"].marks == (
        "multi, 06-19: 2",
        "multi, 06-20: 2",
    )


def test_an_account_billed_on_two_platforms_for_one_period_adds_both(store: Store) -> None:
    build = Build(store)
    build.sim("multi", 1, "active", connector="a", created=day(-90))
    build.sim("multi", 2, "active", connector="b", created=day(-90))
    build.invoice("multi", "ia", date(2026, 5, 1), date(2026, 5, 31), "10.00", connector="a")
    build.invoice("multi", "ib", date(2026, 5, 1), date(2026, 5, 31), "4.00", connector="b")
    page = read(render_html(build_report(store, now=NOW)))
    assert page["summary"].of("cards")[0][7][1] == "14.00 EUR"
    assert page["cost"].charts["cost-EUR"].marks == ("multi, 2026-05: 14.00 EUR",)


def test_the_latest_period_is_every_invoice_that_starts_on_its_day(store: Store) -> None:
    """A month's invoice and a shorter one starting the same day: both are that period's."""
    build = Build(store)
    build.sim("eu", 1, "active", created=day(-90))
    build.invoice("eu", "april", date(2026, 4, 1), date(2026, 4, 30), "50.00")
    build.invoice("eu", "may", date(2026, 5, 1), date(2026, 5, 31), "10.00")
    build.invoice("eu", "may-fee", date(2026, 5, 1), date(2026, 5, 15), "2.50")
    page = read(render_html(build_report(store, now=NOW)))
    assert page["summary"].of("cards")[0][7][1] == "12.50 EUR"
