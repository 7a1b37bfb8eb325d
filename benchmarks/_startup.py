"""Start-up: the first ``connect()`` of a process, and ``cdp demo`` end to end."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import Line, Section, seconds_text
from _targets import Target, child_env, child_python

__all__ = ["cold_start", "demo"]


def cold_start(targets: list[Target], rounds: int) -> Section:
    section = Section(
        "coldstart",
        "Cold start: `import cdp_sdk` and the first `connect()` of a process",
        "A fresh interpreter per round (bytecode cached, as after an install) imports "
        "cdp_sdk, then connects twice to an https base URL (a connection is only opened "
        f"by the first request, so nothing is sent). Median of {rounds} rounds, with the "
        "range.",
    )
    for target in targets:
        settings = json.dumps(target.settings(base_url=f"https://{target.name}.example.test"))
        child_python("_child.py", "coldstart", target.name, settings)  # caches the bytecode
        answers = [
            child_python("_child.py", "coldstart", target.name, settings) for _ in range(rounds)
        ]
        first = [answer["first_connect_s"] for answer in answers]
        second = [answer["second_connect_s"] for answer in answers]
        imported = [answer["import_s"] for answer in answers]
        section.add(
            Line(
                target.name,
                f"first connect() {seconds_text(first)}, second {seconds_text(second)}",
                note=f"import {seconds_text(imported)}",
                value=statistics.median(first),
            )
        )
    return section


def demo(rounds: int) -> Section:
    section = Section(
        "demo",
        "`cdp demo`, end to end",
        f"`cdp demo --dir <fresh folder>` in a child process, {rounds} rounds (after one to "
        "cache the bytecode); the median wall time with the range. Target: under 10 s on a "
        "two-core machine.",
    )
    times = []
    for number in range(rounds + 1):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "cdp_sdk", "demo", "--dir", str(Path(folder) / "demo")],
                check=True,
                capture_output=True,
                env=child_env(),
            )
            if number:
                times.append(time.perf_counter() - started)
    middle = statistics.median(times)
    section.add(
        Line(
            "cdp demo",
            seconds_text(times),
            target="< 10 s",
            met=middle < 10,
            value=middle,
        )
    )
    return section
