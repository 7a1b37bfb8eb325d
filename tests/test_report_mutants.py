"""The report's figures and periods as a reader sees them, and where it writes (found by
mutation testing)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cdp_sdk.insights import write_report
from cdp_sdk.insights._report import _period, fmt_quantity
from cdp_sdk.sync import Store


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (2_500_000, "bytes", "2.5 MB"),
        (3_600, "seconds", "60 min"),
        (1_234, "messages", "1,234 SMS"),
        (1_234, "sessions", "1,234"),
    ],
)
def test_quantities_read_in_their_unit(value: float, unit: str, text: str) -> None:
    assert fmt_quantity(value, unit) == text


@pytest.mark.parametrize(
    ("start", "end", "excluded", "text"),
    [
        (date(2024, 5, 1), date(2024, 5, 31), False, "2024-05"),
        (date(2024, 5, 1), date(2024, 6, 1), True, "2024-05"),
        (date(2024, 2, 1), date(2024, 2, 29), False, "2024-02"),
        (date(2024, 5, 2), date(2024, 5, 31), False, "2024-05-02 to 2024-05-31"),
        (date(2024, 5, 1), date(2024, 5, 30), False, "2024-05-01 to 2024-05-30"),
        (date(2024, 5, 1), date(2024, 6, 30), False, "2024-05-01 to 2024-06-30"),
        (date(2024, 5, 1), date(2024, 5, 31), True, "2024-05-01 to 2024-05-30"),
        (None, date(2024, 5, 31), False, ""),
        (date(2024, 5, 1), None, False, ""),
    ],
)
def test_a_whole_month_reads_as_the_month(
    start: date | None, end: date | None, excluded: bool, text: str
) -> None:
    assert _period(start, end, end_excluded=excluded) == text


def test_the_report_is_written_whole_into_a_new_folder(tmp_path: Path) -> None:
    now = datetime(2024, 6, 15, 12, tzinfo=UTC)
    with Store(tmp_path / "cdp.db") as store:
        written = write_report(store, tmp_path / "out" / "monthly" / "report.html", now=now)
    assert written == tmp_path / "out" / "monthly" / "report.html"
    assert [p.name for p in written.parent.iterdir()] == ["report.html"]  # no scratch left
    assert "2024-06-15" in written.read_text(encoding="utf-8")
