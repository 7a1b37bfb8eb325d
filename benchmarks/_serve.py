"""Serve emulators on loopback for the benchmarks (run as a child process).

``_serve.py CONNECTORS SIMS [--accounts N] [--seed S] [--max-page-size K]
[--rate-window LIMIT/SECONDS] [--latency SECONDS]`` builds N fleets of SIMS SIMs (seeds
S, S+1, ...) and serves, for each connector of the comma-separated CONNECTORS, one
emulator over each fleet on 127.0.0.1 (the emulators of several connectors share the
fleets: listings only read them). It prints one JSON line
``{"urls": {connector: [url, ...]}, "fleet_seconds": ...}`` and serves until its standard
input closes. The emulators answer without a server-side rate limit unless
``--rate-window`` gives one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

from _targets import targets, unlimited

from cdp_sdk.sandbox import Emulator, Fleet, RateWindow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("connectors")
    parser.add_argument("sims", type=int)
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-page-size", type=int, default=None)
    parser.add_argument("--rate-window", default=None)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    chosen = targets(args.connectors.split(","))
    started = time.perf_counter()
    fleets = [Fleet(args.sims, seed=args.seed + n) for n in range(args.accounts)]
    fleet_seconds = time.perf_counter() - started
    emulators: dict[str, list[Emulator]] = {}
    for target in chosen:
        emulators[target.name] = []
        for fleet in fleets:
            emulator = unlimited(target.entry.emulator(fleet))
            emulator.max_page_size = args.max_page_size
            emulator.latency = args.latency
            if args.rate_window:
                limit, seconds = args.rate_window.split("/")
                emulator.rate_limit = RateWindow(int(limit), float(seconds))
            emulators[target.name].append(emulator)
    with contextlib.ExitStack() as stack:
        urls = {
            name: [stack.enter_context(emulator.serve()).url for emulator in group]
            for name, group in emulators.items()
        }
        print(json.dumps({"urls": urls, "fleet_seconds": fleet_seconds}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
