"""Make the report screenshot of the docs: ``python tools/report_screenshot.py``.

Runs ``cdp demo`` in a temporary directory (offline emulators, as a user would), opens
its ``cdp-report.html`` in headless Chromium with the same driver as the browser test
(``tests/chromium.py``) and saves the top of the page to ``docs/img/report.png``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import chromium  # noqa: E402
from cdp_sdk.cli import main  # noqa: E402


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "report.png")
    parser.add_argument("--height", type=int, default=2300, help="pixels from the top")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdp-report-shot-") as folder:
        directory = Path(folder) / "cdp-demo"
        status = main(["demo", "--dir", str(directory)])
        if status != 0:
            return status
        seen = chromium.visit(directory / "cdp-report.html", width=1100, height=args.height)
    if seen.errors:
        print("the page has errors:", *seen.errors, sep="\n  ", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(seen.screenshot)
    shown = args.out.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    print(f"wrote {shown} ({len(seen.screenshot):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
