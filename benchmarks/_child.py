"""Measurements that need a fresh interpreter of their own (run as a child process).

``_child.py memory CONNECTOR MODE SETTINGS`` lists (``stream``) or syncs into a fresh
SQLite file (``sync``) every subscription of the emulator the JSON ``SETTINGS`` reach,
and answers the count, the seconds and the peak resident memory of this process.
``_child.py coldstart CONNECTOR SETTINGS`` answers how long ``import cdp_sdk``, the first
``connect()`` and a second one take. Each answer is one JSON line on standard output.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def peak_mib() -> float:
    """The peak resident memory of this process's own address space."""
    # On Linux, ru_maxrss survives exec: a child started by a large parent reports the
    # parent's peak (every connector read 300 MiB when the benchmark run had grown to it).
    # VmHWM is the peak of the address space exec gave us.
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        pass
    else:
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    # Elsewhere: ru_maxrss, in KiB on Linux, in bytes on macOS.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def memory(connector: str, mode: str, settings: dict[str, Any]) -> dict[str, Any]:
    import cdp_sdk

    baseline = peak_mib()
    started = time.perf_counter()
    count = 0
    if mode == "stream":
        with cdp_sdk.connect(connector, **settings) as client:
            for _ in client.subscriptions():
                count += 1
    else:
        from cdp_sdk.sync import Entity, Store
        from cdp_sdk.workspace import Account, Workspace

        with (
            tempfile.TemporaryDirectory() as folder,
            Workspace({"bench": Account(connector, settings)}) as workspace,
            Store(Path(folder) / "bench.db") as store,
        ):
            report = store.sync(workspace, entities=[Entity.SUBSCRIPTIONS])
            if not report.ok:
                raise SystemExit(f"sync failed: {report.errors}")
            count = report.records
    return {
        "count": count,
        "seconds": time.perf_counter() - started,
        "peak_mib": peak_mib(),
        "baseline_mib": baseline,
    }


def coldstart(connector: str, settings: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    import cdp_sdk

    imported = time.perf_counter()
    first = cdp_sdk.connect(connector, **settings)
    connected = time.perf_counter()
    second = cdp_sdk.connect(connector, **settings)
    again = time.perf_counter()
    first.close()
    second.close()
    return {
        "import_s": imported - started,
        "first_connect_s": connected - imported,
        "second_connect_s": again - connected,
    }


def main() -> None:
    kind, connector, *rest = sys.argv[1:]
    if kind == "memory":
        mode, settings = rest
        answer = memory(connector, mode, json.loads(settings))
    elif kind == "coldstart":
        (settings,) = rest
        answer = coldstart(connector, json.loads(settings))
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
