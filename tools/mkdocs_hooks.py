"""mkdocs hooks: publish the repository's CHANGELOG.md as the docs' changelog page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]


def on_files(files: Files, config: Any) -> Files:
    """Add ``CHANGELOG.md`` from the repository root as ``changelog.md``."""
    files.append(
        File.generated(config, "changelog.md", content=(ROOT / "CHANGELOG.md").read_text())
    )
    return files
