"""The Python examples of the bulk changes page run as written (against the emulators)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "changes.md"


def test_the_changes_page_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), {})
    out = capsys.readouterr().out
    assert "2 SIMs: 2 done, 0 skipped, 0 pending, 0 refused, 0 failed" in out
    assert "change_status(suspended): Activated -> Suspended" in out
