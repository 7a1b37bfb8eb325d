"""The ``cdp`` command: what is installed and what each connector can do.

The full command line (sync, export, demo) comes with the workspace; this is its first
command, built on the standard library so the core stays light.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence

from cdp_sdk import Capability, __version__, available_connectors

_COLUMNS = [capability.value for capability in Capability]


def _connectors(as_json: bool) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infos = available_connectors()
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if as_json:
        print(json.dumps([json.loads(info.model_dump_json()) for info in infos], indent=2))
        return 0
    if not infos:
        print("No connectors installed (entry-point group cdp_sdk.connectors).")
        return 0
    width = max(len(info.name) for info in infos)
    print(f"{'connector':<{width}}  " + "  ".join(_COLUMNS))
    for info in infos:
        marks = "  ".join(
            f"{'yes' if Capability(c) in info.capabilities else '-':^{len(c)}}" for c in _COLUMNS
        )
        print(f"{info.name:<{width}}  {marks}")
    print()
    for info in infos:
        origin = f" ({info.distribution} {info.version})" if info.distribution else ""
        print(f"{info.name:<{width}}  {info.title}{origin}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cdp`` command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="cdp", description="One normalized API over IoT SIM connectivity platforms."
    )
    parser.add_argument("--version", action="version", version=f"cdp-sdk {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = commands.add_parser("connectors", help="list installed connectors and capabilities")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.command == "connectors":
        return _connectors(args.json)
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
