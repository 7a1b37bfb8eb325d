"""Every install line names this project's own distribution (``cdp-sdk`` is someone else's)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OURS = PYPROJECT["project"]["name"]
TAKEN = "cdp-sdk"  # an unrelated SDK holds this name on the package index


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;@ ]", requirement, maxsplit=1)[0].lower()


def _allowed() -> set[str]:
    """Our distributions and the packages our extras already depend on."""
    names = {OURS}
    for example in (ROOT / "examples").glob("*/pyproject.toml"):
        names.add(tomllib.loads(example.read_text())["project"]["name"])
    project = PYPROJECT["project"]
    for requirement in project["dependencies"]:
        names.add(_name(requirement))
    for group in project["optional-dependencies"].values():
        names.update(_name(requirement) for requirement in group)
    return names


def _sources() -> list[Path]:
    files = [ROOT / "README.md", *ROOT.glob("*.md")]
    for folder, patterns in {
        "docs": ("**/*.md",),
        "src": ("**/*.py",),
        "examples": ("**/*.md", "**/*.py", "**/*.ipynb"),
        "benchmarks": ("**/*.py", "**/*.md"),
    }.items():
        for pattern in patterns:
            files.extend(
                path
                for path in (ROOT / folder).glob(pattern)
                if not any(part.startswith(".") or part == "site" for part in path.parts)
            )
    return sorted(set(files))


def _install_lines() -> list[tuple[Path, str, str]]:
    found = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"pip install ([^\n`)]+)", text):
            line = match.group(1).split("#")[0].split("&&")[0]
            line = line.replace("\\n", " ").replace('\\"', '"')
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            for word in words:
                word = word.strip("'\",)")
                if not word or word.startswith(("-", ".", "/")) or "/" in word or "{" in word:
                    continue  # options, paths, placeholders
                found.append((path, match.group(0), word))
    return found


def test_the_distribution_is_not_the_taken_name() -> None:
    assert OURS != TAKEN


def test_the_readme_and_docs_install_our_distribution() -> None:
    named = {_name(word) for _, _, word in _install_lines()}
    assert OURS in named


@pytest.mark.parametrize(
    ("path", "line", "word"),
    [pytest.param(p, line, w, id=f"{p.relative_to(ROOT)}:{w}") for p, line, w in _install_lines()],
)
def test_every_install_line_names_a_known_distribution(path: Path, line: str, word: str) -> None:
    assert _name(word) in _allowed(), f"{path.relative_to(ROOT)}: {line!r} installs {word!r}"


def test_no_file_names_the_taken_distribution() -> None:
    pattern = re.compile(rf"(?<![\w-]){re.escape(TAKEN)}\[|install {re.escape(TAKEN)}(?![\w-])")
    offenders = [
        str(path.relative_to(ROOT))
        for path in [*_sources(), ROOT / "pyproject.toml"]
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
