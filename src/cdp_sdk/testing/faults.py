"""Print the fault matrix: ``python -m cdp_sdk.testing.faults [CONNECTOR ...] [--markdown]``.

Runs every fault against every installed connector that has an emulator (or the ones
named), offline, and prints one line per fault with the outcome per connector and
operation, then the error of every TYPED cell and the reason of every cell that does not
apply. Exits with status 1 when a cell did not end as expected. Needs the ``test`` extra.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from cdp_sdk.testing._emulated import emulated_connectors
from cdp_sdk.testing._fault_report import format_matrix
from cdp_sdk.testing._faults import run_matrix

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the matrix and print it; the exit status is 1 if a cell failed."""
    parser = argparse.ArgumentParser(
        prog="python -m cdp_sdk.testing.faults",
        description="Run every fault against every connector that has an emulator.",
    )
    parser.add_argument("connectors", nargs="*", help="connector names (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)

    names = args.connectors or None
    entries, missing = emulated_connectors(names)
    unknown = sorted(set(names or ()) - {entry.name for entry in entries} - set(missing))
    if unknown:
        parser.error(f"no installed connector named {', '.join(unknown)}")
    started = time.monotonic()
    logger = logging.getLogger("cdp_sdk")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # retries under faults log warnings by design
    try:
        results = run_matrix([entry.name for entry in entries])
    finally:
        logger.setLevel(level)
    print(format_matrix(results, markdown=args.markdown))
    if missing:
        print(f"\nNot in the matrix (no emulator): {', '.join(missing)}")
    failed = [result for result in results if not result.ok]
    print(f"\n{len(results)} cells in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
