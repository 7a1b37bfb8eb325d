"""The ``cdp`` command: connectors, an offline demo, and a sandbox server.

The full command line (sync, export, tags) comes with the workspace; these commands are
built on the standard library so the core stays light.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta

from cdp_sdk import Bearer, Capability, CdpError, __version__, available_connectors, connect

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


def _demo(size: int, seed: int) -> int:
    started = time.perf_counter()
    print(f"Connecting to the offline sandbox platform ({size} synthetic SIMs, seed {seed})...")
    with connect("sandbox", fleet_size=size, seed=seed) as sandbox:
        sims = list(sandbox.subscriptions())
        today = sandbox.settings.today  # type: ignore[attr-defined]
        usage = list(sandbox.usage(start=today - timedelta(days=30), end=today))
        invoices = list(sandbox.invoices())
        events = sorted(sandbox.audit_events(), key=lambda event: event.occurred_at)[-5:]
    print(f"\nSIMs by status ({len(sims)} in all)")
    for status, count in Counter(sim.status.value for sim in sims).most_common():
        print(f"  {status:<12} {count:>6}")
    print(f"\nUsage in the 30 days to {today}")
    data = sum(r.quantity for r in usage if r.bearer is Bearer.DATA)
    sms = sum(r.quantity for r in usage if r.bearer is Bearer.SMS)
    print(f"  data  {data / 1e9:>10.2f} GB")
    print(f"  sms   {sms:>10} messages")
    print("\nLatest invoices")
    for invoice in invoices[-3:]:
        print(
            f"  {invoice.id}  {invoice.period_start} to {invoice.period_end}  "
            f"{invoice.total:>10} {invoice.currency}  {invoice.status}"
        )
    print("\nLatest audit events")
    for event in events:
        change = f"{event.old_value} -> {event.new_value}"
        print(f"  {event.occurred_at:%Y-%m-%d %H:%M}  {event.iccid}  {event.field}: {change}")
    elapsed = time.perf_counter() - started
    print(f"\nDone in {elapsed:.1f} s. The same in Python:")
    print('  import cdp_sdk\n  with cdp_sdk.connect("sandbox") as sandbox:')
    print("      sims = list(sandbox.subscriptions())")
    return 0


def _until_interrupted(url: str) -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped")


def _serve(
    size: int, seed: int, port: int, wait: Callable[[str], None] = _until_interrupted
) -> int:
    from cdp_sdk.connectors.sandbox import SandboxEmulator
    from cdp_sdk.connectors.sandbox.emulator import DEFAULT_API_KEY
    from cdp_sdk.sandbox import Fleet

    emulator = SandboxEmulator(Fleet(size, seed=seed))
    with emulator.serve(port=port) as server:
        print(f"Sandbox API on {server.url} (API key {DEFAULT_API_KEY!r}); Ctrl-C stops it.")
        print(f'  cdp_sdk.connect("sandbox", base_url="{server.url}")', flush=True)
        wait(server.url)
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
    demo = commands.add_parser("demo", help="read a synthetic fleet offline and summarize it")
    serve = commands.add_parser("sandbox", help="serve the sandbox platform on loopback")
    serve.add_argument("action", choices=["serve"])
    serve.add_argument("--port", type=int, default=8080, help="loopback port (0: any free one)")
    for command in (demo, serve):
        command.add_argument("--size", type=int, default=500, help="number of SIMs")
        command.add_argument("--seed", type=int, default=42, help="seed of the fleet")
    args = parser.parse_args(argv)
    try:
        if args.command == "connectors":
            return _connectors(args.json)
        if args.command == "demo":
            return _demo(args.size, args.seed)
        if args.command == "sandbox":
            return _serve(args.size, args.seed, args.port)
    except CdpError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
