"""The report in a real browser: headless Chromium (``tests/chromium.py``) opens it, takes a
screenshot and reports console errors, requests, sections and charts.

Fails when Chromium is not installed, unless ``CDP_SDK_SKIP_CHROMIUM=1``.
"""

from __future__ import annotations

import io
import struct
from collections import Counter
from pathlib import Path

import pytest

import chromium
from cdp_sdk import insights
from cdp_sdk.insights._report import SECTIONS, STATUS_COLORS
from cdp_sdk.sync import Store
from insight_store import NOW, Build, report_store
from test_cli import cdp
from test_report import CHARTS

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(image: bytes) -> tuple[int, int]:
    assert image.startswith(PNG)
    width, height = struct.unpack(">II", image[16:24])
    return width, height


def painted(image: bytes) -> Counter[str]:
    """Pixels per colour (``#rrggbb``) of a PNG."""
    from PIL import Image  # Pillow comes with matplotlib, in the test extra

    with Image.open(io.BytesIO(image)) as picture:
        colors = picture.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return Counter({"#{:02x}{:02x}{:02x}".format(*rgb): count for count, rgb in colors})


def test_the_report_opens_cleanly_in_chromium(tmp_path: Path) -> None:
    with Store(tmp_path / "cdp.db") as store:
        report_store(Build(store))
        page = insights.write_report(store, tmp_path / "report.html", now=NOW)
    seen = chromium.visit(page)
    (tmp_path / "report.png").write_bytes(seen.screenshot)
    assert seen.errors == []
    assert seen.requests == [page.resolve().as_uri()]  # nothing else fetched
    assert seen.probe["scripts"] == 0
    assert seen.probe["references"] == []
    assert seen.probe["title"] == "Fleet report 2026-06-20 12:00 UTC"
    sections = {section["id"]: section for section in seen.probe["sections"]}
    assert list(sections) == list(SECTIONS)
    for section in sections.values():
        assert section["text"] > 40, section
        assert section["height"] > 50, section
    charts = {chart["name"]: chart for chart in seen.probe["charts"]}
    assert set(charts) == CHARTS
    for chart in charts.values():
        assert chart["shapes"] > 0, chart
        assert chart["width"] > 600, chart
        assert chart["height"] > 100, chart
    width, height = png_size(seen.screenshot)
    assert width == 1200
    assert height > 3000  # the whole page, not the first screen
    # The screenshot shows the page as drawn: the header, and bars in the status colours.
    pixels = painted(seen.screenshot)
    assert pixels["#0f172a"] > 1200 * 80
    assert pixels[STATUS_COLORS["active"]] > 5000
    assert pixels[STATUS_COLORS["suspended"]] > 500


def test_the_browser_check_sees_errors_and_fetches(tmp_path: Path) -> None:
    """The checks above can fail: a broken page is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        '<script>console.error("boom"); undefinedCall();</script>'
        '<img src="http://127.0.0.1:9/missing.png"></body></html>',
        encoding="utf-8",
    )
    seen = chromium.visit(page)
    assert "boom" in seen.errors
    assert any("undefinedCall" in error for error in seen.errors)
    assert "http://127.0.0.1:9/missing.png" in seen.requests
    assert seen.probe["references"] == ["http://127.0.0.1:9/missing.png"]
    assert seen.probe["sections"] == []
    assert seen.probe["charts"] == []


def test_cdp_demo_ends_with_a_report_that_opens_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = cdp("demo", "--dir", directory, "--size", "6")
    assert result.exit_code == 0, result.output
    page = directory / "cdp-report.html"
    assert f"Fleet report (HTML, open it in a browser): {page.as_posix()}\n" in result.stdout
    seen = chromium.visit(page)
    assert seen.errors == []
    assert seen.requests == [page.resolve().as_uri()]
    assert [section["id"] for section in seen.probe["sections"]] == list(SECTIONS)
    assert all(section["text"] > 40 for section in seen.probe["sections"])
    charts = {chart["name"] for chart in seen.probe["charts"]}
    assert {"status-by-platform", "active-history", "daily-usage", "cost-EUR"} <= charts


def test_a_missing_chromium_fails_unless_told_to_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv(chromium.SKIP_VARIABLE, raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        chromium.require_chromium()
    monkeypatch.setenv(chromium.SKIP_VARIABLE, "1")
    with pytest.raises(pytest.skip.Exception):
        chromium.require_chromium()
