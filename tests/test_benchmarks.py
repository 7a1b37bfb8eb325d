"""The benchmarks' smoke run: every section at toy sizes, so the harness cannot rot.

Figures are not checked here (performance is measured on demand, never in timed tests):
only that each section measures every connector it should and what a reader relies on
(request counts, completeness, the page the command writes).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cdp_sdk.testing._emulated import emulated_connectors

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def run() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-work")


def _smoke(run: ModuleType, work: Path, rows: str, *extra: str) -> dict[str, Any]:
    sections = run.main(["--smoke", "--only", rows, "--no-write", "--work", str(work), *extra])
    return {section.key: section for section in sections}


@pytest.mark.timeout(900)
def test_in_process_sections_cover_every_connector_with_an_emulator(
    run: ModuleType, work: Path
) -> None:
    names = sorted(entry.name for entry in emulated_connectors()[0])
    sections = _smoke(run, work, "requests,incremental,mapping,store,listing")
    assert list(sections) == ["requests", "incremental", "mapping", "store", "listing"]
    for section in sections.values():
        subjects = sorted(line.subject for line in section.lines)
        assert subjects == names, section.key
        assert all(line.figure for line in section.lines)
        assert "INCOMPLETE" not in section.markdown()
    requests = {line.subject: line for line in sections["requests"].lines}
    # The sandbox asks for its largest page: 200 SIMs in one page, after its login.
    assert requests["sandbox"].figure == "1.00 (2/2)"
    assert requests["sandbox"].met is True
    incremental = {line.subject: line for line in sections["incremental"].lines}
    assert incremental["sandbox"].met is True
    assert "changes only" in incremental["sandbox"].note
    mapping = {line.subject: line for line in sections["mapping"].lines}
    assert all(line.value is not None and line.value > 0 for line in mapping.values())


@pytest.mark.timeout(600)
def test_rate_section_counts_refusals_and_the_share_of_the_limit(
    run: ModuleType, work: Path
) -> None:
    (section,) = _smoke(run, work, "rate").values()
    (line,) = section.lines
    assert line.subject == "sandbox at 20/s"
    assert "of the limit" in line.figure
    assert "429s" in line.figure


@pytest.mark.timeout(900)
def test_sections_in_child_processes(run: ModuleType, work: Path) -> None:
    sections = _smoke(run, work, "accounts,memory,coldstart")
    assert list(sections) == ["accounts", "memory", "scaling", "coldstart"]
    for section in sections.values():
        (line,) = section.lines
        assert line.subject.startswith("sandbox")
        assert line.value is not None, (section.key, line)


def test_unknown_rows_are_refused(run: ModuleType) -> None:
    with pytest.raises(SystemExit):
        run.main(["--smoke", "--only", "nonsense", "--no-write"])


def test_connectors_not_installed_are_refused(
    run: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """A connector that is not installed (or has no emulator) is named, not measured as
    an empty run."""
    with pytest.raises(SystemExit):
        run.main(["--smoke", "--only", "mapping", "--connectors", "sandbox,nowhere"])
    error = capsys.readouterr().err
    assert "no emulated connector named nowhere is installed" in error
    assert "sandbox" in error.partition("installed:")[2]


def test_results_replace_the_block_between_the_markers(run: ModuleType, tmp_path: Path) -> None:
    from _measure import Line, Section

    page = tmp_path / "performance.md"
    section = Section("requests", "Requests", "How.", [Line("sandbox", "1.00", "1.00", True)])
    run.write(page, run.results_block([section], command="python3 benchmarks/run.py", seconds=60))
    first = page.read_text()
    assert first.startswith("# Performance\n")
    assert "| sandbox | 1.00 | 1.00 | met |  |" in first
    page.write_text("# Performance\n\nProse before.\n\n" + first.split("\n", 2)[2] + "\nAfter.\n")
    section.lines[0] = Line("sandbox", "2.00", "1.00", False)
    run.write(page, run.results_block([section], command="python3 benchmarks/run.py", seconds=60))
    second = page.read_text()
    assert "Prose before." in second
    assert second.rstrip().endswith("After.")
    assert "| sandbox | 2.00 | 1.00 | missed |  |" in second
    assert "| sandbox | 1.00 |" not in second
    assert second.count(run.BEGIN) == second.count(run.END) == 1


def test_a_partial_run_replaces_only_what_it_measured(run: ModuleType, tmp_path: Path) -> None:
    from _measure import Line, Section

    def section(title: str, *lines: Line, notes: tuple[str, ...] = ()) -> Section:
        return Section(title.lower(), title, f"How {title} is measured.", list(lines), list(notes))

    page = tmp_path / "performance.md"
    first = [
        section(
            "Requests",
            Line("emnify", "1.00", "1.00", True),
            Line("sandbox", "1.00", "1.00", True),
            notes=("Both platforms asked.",),
        ),
        section("Mapping", Line("sandbox", "2.00x", "<= 3x", True)),
    ]
    run.write(page, run.results_block(first, command="python3 benchmarks/run.py", seconds=60))
    page.write_text(page.read_text() + "\nProse after the block.\n")

    # Some connectors: their rows replaced, a new one added after the last row, the
    # other rows and the notes (the new section has none) kept.
    some = section(
        "Requests", Line("sandbox", "1.50", "1.00", False), Line("soracom", "1.00", "1.00", True)
    )
    block = run.updated_block(
        run.current_block(page),
        [some],
        command="run.py --connectors sandbox,soracom",
        every_connector=False,
    )
    run.write(page, block)
    text = page.read_text()
    requests = text.split("### Requests", 1)[1].split("### Mapping", 1)[0]
    assert requests.split("\n")[5:11] == [
        "|---|---|---|---|---|",
        "| emnify | 1.00 | 1.00 | met |  |",
        "| sandbox | 1.50 | 1.00 | missed |  |",
        "| soracom | 1.00 | 1.00 | met |  |",
        "",
        "- Both platforms asked.",
    ]
    assert "| sandbox | 2.00x | <= 3x | met |  |" in text  # Mapping untouched
    assert "by `run.py --connectors sandbox,soracom`: Requests." in text
    assert text.rstrip().endswith("Prose after the block.")

    # Some rows for every connector: the section whole, and a new section at the end.
    again = [
        section("Mapping", Line("emnify", "1.10x", "<= 3x", True)),
        section("Memory", Line("sandbox", "60 MiB", "< 100 MiB", True)),
    ]
    block = run.updated_block(
        run.current_block(page),
        again,
        command="run.py --only mapping,memory",
        every_connector=True,
    )
    run.write(page, block)
    text = page.read_text()
    mapping = text.split("### Mapping", 1)[1].split("### Memory", 1)[0]
    assert "| emnify | 1.10x |" in mapping
    assert "| sandbox |" not in mapping
    assert text.index("### Requests") < text.index("### Mapping") < text.index("### Memory")
    assert "`run.py --only mapping,memory`: Mapping; Memory." in text
    assert text.count(run.BEGIN) == text.count(run.END) == 1
    assert text.split(run.END, 1)[0].endswith("\n\n")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM")
def test_a_child_reports_its_own_peak_not_its_large_parents(tmp_path: Path) -> None:
    # On Linux ru_maxrss survives exec: a child of a 300 MiB benchmark run read 300 MiB.
    script = tmp_path / "child.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
        "import _child\n"
        "print(_child.peak_mib())\n"
    )
    ballast = bytearray(200 * 1024 * 1024)  # resident: bytearray zero-fills its pages
    answer = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True
    )
    del ballast
    assert float(answer.stdout) < 100
