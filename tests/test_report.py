"""The HTML report: every section and chart, self-contained, escaped; and ``cdp report``."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp_sdk import insights
from cdp_sdk.insights._report import SECTIONS, build_report, render_html
from cdp_sdk.sync import Store
from insight_store import NOW, Build, iccid, report_store
from test_cli import cdp

CHARTS = {"status-by-platform", "active-history", "daily-usage", "top-consumers", "cost-EUR"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "cdp.db") as opened:
        yield opened


@pytest.fixture
def full(store: Store) -> Store:
    report_store(Build(store))
    return store


def sections(page: str) -> dict[str, str]:
    """Each section's HTML, by id."""
    found = re.findall(r'<section id="([a-z]+)" data-section="\1">(.*?)</section>', page, re.S)
    return dict(found)


def test_the_report_shows_every_section_and_chart(full: Store) -> None:
    report = build_report(full, now=NOW)
    page = render_html(report)
    found = sections(page)
    assert list(found) == list(SECTIONS)
    assert set(re.findall(r'data-chart="([^"]+)"', page)) == CHARTS
    # The summary's figures are the insights' answers.
    assert re.search(r">SIMs</div><div class=\"figure\">8<", page)
    assert '>Idle but billable</div><div class="figure">2<' in page
    assert "3.00 EUR a month" in page  # SIMs 4 and 5 at 1.50
    assert 'Invoiced, latest period</div><div class="figure">58.75 EUR<' in page
    # SIM lists show ICCIDs whole.
    assert [row.iccid for row in report.idle.rows] == [iccid(4), iccid(5)]
    for n in (4, 5):
        assert iccid(n) in found["idle"]
    assert iccid(2) in found["anomalies"]
    assert iccid(3) in found["anomalies"]
    assert {row.iccid for row in report.risk.rows} == {iccid(n) for n in (1, 2, 3)}
    assert iccid(1) in found["risk"]
    # What could not be assessed says so; definitions are the insights' own.
    assert "no per-SIM usage in the store (account totals only)" in found["gaps"]
    assert "no invoices: the platform&#x27;s API offers no invoices" in found["cost"]
    for insight in report.insights:
        assert html.escape(insight.definition, quote=True) in found["definitions"]


def test_the_report_needs_nothing_but_itself(full: Store) -> None:
    page = render_html(build_report(full, now=NOW))
    for needle in ("<script", "src=", "<link", "url(", "@import", "<img", "<iframe"):
        assert needle not in page
    assert re.findall(r"https?://[^\s\"'<>]+", page) == ["http://www.w3.org/2000/svg"] * 5
    assert page.startswith("<!DOCTYPE html>")
    assert page.endswith("</html>\n")


def test_an_empty_store_still_reports(store: Store) -> None:
    page = render_html(build_report(store, now=NOW))
    found = sections(page)
    assert list(found) == list(SECTIONS)
    assert "No SIM in the store." in found["fleet"]
    assert "No daily usage figures in the store for this window." in found["usage"]
    assert "No invoice in the store." in found["cost"]
    assert "Every account had the data every insight needs." in found["gaps"]
    assert "data-chart" not in page


def test_text_from_the_store_is_escaped(store: Store) -> None:
    Build(store).sim("<b>x</b>", 1, "active", "<i>on</i>").modes(
        "<b>x</b>", {"<i>on</i>": ("active", True)}
    )
    page = render_html(build_report(store, now=NOW))
    assert "<b>x</b>" not in page
    assert "<i>on</i>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_long_lists_are_cut_at_max_rows(full: Store) -> None:
    found = sections(render_html(build_report(full, now=NOW), max_rows=1))
    assert iccid(4) in found["idle"]
    assert iccid(5) not in found["idle"]
    assert (
        "1 more not shown: the whole list is <code>cdp_sdk.insights.idle_billable(store)"
        in (found["idle"])
    )


def test_write_report_replaces_the_file_whole(full: Store, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    assert insights.write_report(full, target, now=NOW) == target
    first = target.read_text(encoding="utf-8")
    assert "Fleet report" in first
    target.write_text("old", encoding="utf-8")
    insights.write_report(full, target, now=NOW, days=7)
    assert "7-day windows" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]  # no leftovers


def test_the_store_is_named_by_its_file_only(full: Store) -> None:
    page = render_html(build_report(full, now=NOW))
    assert "Store <b>cdp.db</b>" in page
    assert str(Path(full.url.database or "").parent) not in page


# -- cdp report ----------------------------------------------------------------------------


def test_cdp_report_writes_the_page(full: Store, tmp_path: Path) -> None:
    out = tmp_path / "fleet.html"
    result = cdp("report", "--db", full.url.database or "", "--out", out, "--days", "14")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the page is the output; the line saying so is a status
    assert " ".join(result.stderr.split()).startswith(f"Report written to {out} in ")
    assert "14-day windows" in out.read_text(encoding="utf-8")


def test_cdp_report_needs_a_store(tmp_path: Path) -> None:
    result = cdp("report", "--db", tmp_path / "none.db", "--out", tmp_path / "r.html")
    assert result.exit_code == 2  # an input that cannot be used: nothing was written
    assert "no store at" in result.stderr
    assert "none.db" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_the_docs_page_gives_every_definition(store: Store) -> None:
    # The first docs/ above this file: the checkout's (a mutation run copies the tests one
    # level down, beside a link to the checkout's docs).
    here = Path(__file__).resolve()
    docs = next(p / "docs" / "insights.md" for p in here.parents if (p / "docs").is_dir())
    text = " ".join(docs.read_text(encoding="utf-8").split())
    for insight in build_report(store, now=NOW).insights:
        assert " ".join(insight.definition.split()) in text, insight.name
