"""cdp-sdk's benchmarks: every row of the performance table, measured on this machine.

    python3 benchmarks/run.py            # the full run (long: tens of minutes)
    python3 benchmarks/run.py --smoke    # every row at toy sizes, in seconds (CI runs it)
    python3 benchmarks/run.py --only mapping,rate --connectors sandbox,emnify

The full run prints each section as it is measured and rewrites the results block of
docs/performance.md (``--output`` another file, ``--no-write`` none); a run of some rows
(``--only``) or some connectors (``--connectors``) replaces only the sections, or the
rows of the connectors, it measured, and says so at the head of the block. Per-connector
sections cover every installed connector that has an emulator. The peer comparisons
install the official ``emnify-sdk`` and ``twilio`` (Super SIM) each into a virtualenv of
its own under the work folder (``benchmarks/.work`` by default, never committed) with
pip, from the package index.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _measure
import _targets
from _listing import listing_vs_floor, requests_per_listing
from _mapping import mapping_vs_json
from _measure import Section
from _memory import growth, memory_section, scaling_section
from _peer import emnify_peer, supersim_peer
from _ratelimit import rate_limit_at_the_limit
from _startup import cold_start, demo
from _store import accounts_together, incremental_resync, store_vs_stream

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- benchmark results: begin (written by benchmarks/run.py) -->"
END = "<!-- benchmark results: end -->"

ROWS = (
    "peer",
    "requests",
    "incremental",
    "rate",
    "mapping",
    "store",
    "accounts",
    "demo",
    "memory",
    "listing",
    "coldstart",
)
"""The sections, in the order of the issue's table (then the extra ones)."""


@dataclass(frozen=True)
class Plan:
    """Sizes and rounds of each section."""

    sims: int = 10_000
    rounds: int = 5
    warmup: int = 1
    peer_fault_check: bool = True
    mapping_records: int = 10_000
    mapping_sample: int = 2_000
    rate_limits: tuple[int, ...] = (20,)
    rate_seconds: float = 5.0
    accounts: int = 8
    accounts_sims: int = 1_000
    accounts_rounds: int = 3
    accounts_latencies: tuple[float, ...] = (0.0, 0.1)
    accounts_budget: float = 300.0
    demo_rounds: int = 3
    memory_sizes: tuple[int, ...] = (100_000, 1_000_000)
    memory_budget: float = 300.0
    memory_pilot: bool = True
    listing_sims: int = 5_000
    coldstart_rounds: int = 5
    subprocess_connectors: tuple[str, ...] | None = None
    """Connectors of the sections that start child processes (``None``: all)."""
    skip: tuple[str, ...] = ()


FULL = Plan()
SMOKE = Plan(
    sims=200,
    rounds=1,
    warmup=0,
    peer_fault_check=False,
    mapping_records=500,
    mapping_sample=100,
    rate_seconds=0.5,
    accounts=2,
    accounts_sims=50,
    accounts_rounds=1,
    accounts_latencies=(0.0,),
    memory_sizes=(200, 2_000),
    memory_budget=60.0,
    memory_pilot=False,
    listing_sims=100,
    coldstart_rounds=1,
    subprocess_connectors=("sandbox",),
    skip=("peer", "demo"),
)


def sections(
    plan: Plan, rows: list[str], connectors: list[str] | None, work: Path
) -> list[tuple[str, Callable[[], list[Section]]]]:
    """What to measure, in order: each row's key and the function that measures it."""
    chosen = _targets.targets(connectors)
    child = (
        chosen
        if plan.subprocess_connectors is None
        else [t for t in chosen if t.name in plan.subprocess_connectors]
    )
    rate_targets = child if plan.subprocess_connectors is not None else chosen
    table: dict[str, Callable[[], list[Section]]] = {
        "peer": lambda: [
            peer(plan.sims, plan.rounds, work, fault_check=plan.peer_fault_check)
            for peer in (emnify_peer, supersim_peer)
        ],
        "requests": lambda: [requests_per_listing(chosen, plan.sims)],
        "incremental": lambda: [incremental_resync(chosen, plan.sims)],
        "rate": lambda: [
            rate_limit_at_the_limit(rate_targets, list(plan.rate_limits), plan.rate_seconds)
        ],
        "mapping": lambda: [
            mapping_vs_json(chosen, plan.mapping_records, plan.rounds, sample=plan.mapping_sample)
        ],
        "store": lambda: [store_vs_stream(chosen, min(plan.sims, 5_000), plan.rounds)],
        "accounts": lambda: [
            accounts_together(
                child,
                plan.accounts_sims,
                plan.accounts_rounds,
                list(plan.accounts_latencies),
                budget=plan.accounts_budget,
                accounts=plan.accounts,
            )
        ],
        "demo": lambda: [demo(plan.demo_rounds)],
        "memory": lambda: _memory(child, plan),
        "listing": lambda: [listing_vs_floor(chosen, plan.listing_sims, plan.rounds)],
        "coldstart": lambda: [cold_start(child, plan.coldstart_rounds)],
    }
    return [(row, table[row]) for row in rows if row not in plan.skip]


def _memory(targets: list[_targets.Target], plan: Plan) -> list[Section]:
    results = growth(
        targets, list(plan.memory_sizes), budget=plan.memory_budget, pilot=plan.memory_pilot
    )
    return [memory_section(results), scaling_section(results)]


def machine() -> str:
    cores = os.cpu_count() or 0
    return (
        f"{platform.system()} {platform.machine()}, {cores} cores, "
        f"Python {platform.python_version()}"
    )


def results_block(measured: list[Section], *, command: str, seconds: float) -> str:
    """The generated part of docs/performance.md."""
    today = datetime.now(UTC).date().isoformat()
    head = [
        BEGIN,
        "",
        f"Measured on {today} ({machine()}) by `{command}`, in {seconds / 60:.0f} min.",
        "",
    ]
    return "\n".join(head + [section.markdown() for section in measured] + [END]) + "\n"


def write(path: Path, block: str) -> None:
    """Put ``block`` in ``path`` between the markers, keeping the prose around it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def current_block(path: Path) -> str | None:
    """The results block ``path`` holds, markers included; ``None`` if it has none."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN not in text or END not in text:
        return None
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"


def updated_block(
    block: str, measured: list[Section], *, command: str, every_connector: bool
) -> str:
    """``block`` with the ``measured`` sections in it: a section of the same title is
    replaced (with ``every_connector`` false, only the rows of the subjects measured, and
    its notes if the new one has any), another is added at the end; the block's head gains
    a paragraph saying what was measured again, when and by which command."""
    body = block.removeprefix(BEGIN).removesuffix(END + "\n").removesuffix(END)
    head, *chunks = re.split(r"(?m)^(?=### )", body)
    sections = {chunk.split("\n", 1)[0].removeprefix("### "): chunk for chunk in chunks}
    for section in measured:
        old = sections.get(section.title)
        if old is None or every_connector:
            sections[section.title] = section.markdown() + "\n"
        else:
            sections[section.title] = _merged_rows(old, section)
    today = datetime.now(UTC).date().isoformat()
    titles = "; ".join(section.title for section in measured)
    head = head.rstrip("\n") + f"\n\nMeasured again on {today} by `{command}`: {titles}.\n\n"
    return BEGIN + head + "".join(sections.values()).rstrip("\n") + "\n\n" + END + "\n"


def _merged_rows(old: str, section: Section) -> str:
    """The section's markdown ``old`` with the rows of ``section``'s subjects replaced
    (new subjects added after the last row), and its notes if ``section`` has any."""
    rows = {line.subject: line.markdown() for line in section.lines}
    lines = old.rstrip("\n").split("\n")
    table = [n for n, row in enumerate(lines) if row.startswith("| ") and n > 0]
    if len(table) < 2:  # no rows of its own (a header at most): the new section
        return section.markdown() + "\n"
    kept: list[str] = []
    for number, row in enumerate(lines):
        subject = row[2:].split(" | ", 1)[0] if number in table[1:] else None
        if subject in rows:
            kept.append(rows.pop(subject))
        elif not (section.notes and row.startswith("- ")):
            kept.append(row)
        if number == table[-1]:
            kept += rows.values()
    while not kept[-1]:
        kept.pop()
    notes = [f"- {note}" for note in section.notes]
    return "\n".join(kept + (["", *notes] if notes else [])) + "\n\n"


def main(argv: list[str] | None = None) -> list[Section]:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[1:]),
    )
    parser.add_argument("--smoke", action="store_true", help="every row at toy sizes")
    parser.add_argument("--only", help=f"comma-separated rows of: {', '.join(ROWS)}")
    parser.add_argument("--connectors", help="comma-separated connector names")
    parser.add_argument("--sims", type=int, help="SIMs of a listing (default 10,000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
    parser.add_argument("--output", type=Path, help="the page to write (docs/performance.md)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / ".work")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    if args.sims:
        plan = replace(plan, sims=args.sims)
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    rows = args.only.split(",") if args.only else list(ROWS)
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows: {', '.join(unknown)} (rows: {', '.join(ROWS)})")
    connectors = args.connectors.split(",") if args.connectors else None
    if connectors is not None:
        known = {target.name for target in _targets.targets()}
        absent = sorted(set(connectors) - known)
        if absent:
            parser.error(
                f"no emulated connector named {', '.join(absent)} is installed "
                f"(installed: {', '.join(sorted(known))})"
            )
    args.work.mkdir(parents=True, exist_ok=True)
    _targets.PYCACHE = args.work / "pycache"
    _measure.WARMUP = plan.warmup
    started = time.perf_counter()
    measured: list[Section] = []
    for row, measure in sections(plan, rows, connectors, args.work):
        began = time.perf_counter()
        for section in measure():
            print(section.text(), flush=True)
            measured.append(section)
        print(f"  ({row}: {time.perf_counter() - began:.1f} s)", flush=True)
    seconds = time.perf_counter() - started
    write_to = None if args.no_write else (args.output or (None if args.smoke else DOC))
    if write_to is not None:
        arguments = " ".join(argv if argv is not None else sys.argv[1:])
        command = f"python3 benchmarks/run.py {arguments}".strip()
        partial = args.only is not None or connectors is not None
        block = current_block(write_to) if partial else None
        if block is None:
            block = results_block(measured, command=command, seconds=seconds)
        else:
            block = updated_block(
                block, measured, command=command, every_connector=connectors is None
            )
        write(write_to, block)
        print(f"written to {write_to}")
    print(f"done in {seconds:.0f} s")
    return measured


if __name__ == "__main__":
    main()
