"""Mutation testing of one part of cdp_sdk at a time, with mutmut.

    python tools/mutation.py --list              # the targets
    python tools/mutation.py sync                # src/cdp_sdk/sync/, the sync tests
    python tools/mutation.py http jasper         # several targets, one after the other
    python tools/mutation.py mappings            # every connector's mapping.py
    python tools/mutation.py src/cdp_sdk/changes --tests "tests/test_changes*.py"
    python tools/mutation.py http --only "cdp_sdk.http._retry.*"   # some mutants only
    python tools/mutation.py sync --survivors    # after new tests: the survivors again

A target is the source files it mutates and the test files that may kill them. mutmut
runs those tests once on the unchanged code to learn which test reaches which function,
then runs, for every mutant, only the tests that reach the function it changed.

Each target works in its own folder, ``.mutation/<target>/`` (ignored by git): a copy of
``pyproject.toml`` with a ``[tool.mutmut]`` table for the target, links to the sources and
tests, and mutmut's ``mutants/`` tree with its results. A rerun reuses them, so only the
functions changed since are tested again; ``--fresh`` starts over. At the end the score
of each file is printed and the surviving mutants (their diffs) are written to
``.mutation/<target>/survivors.txt``.

The score is ``killed / (mutants - skipped)``: a mutant that times out counts as killed
(the tests noticed), one that no selected test reaches counts as surviving.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
PACKAGE = "src/cdp_sdk"
LINKED = ("src", "tests", "docs", "examples", "README.md", "CHANGELOG.md", "mkdocs.yml")
"""What a target's folder links to: the code, and what the tests read beside it."""

HTTP_TESTS = (
    "tests/test_http*.py",
    "tests/test_paginate*.py",
    "tests/test_auth*.py",
    "tests/test_retry*.py",
    "tests/test_ratelimit*.py",
    "tests/test_transport*.py",
    "tests/test_network*.py",
    "tests/test_redaction*.py",
    "tests/test_tls*.py",
    "tests/test_error_table.py",
    "tests/test_fault_matrix.py",
)

SYNC_TESTS = (
    "tests/test_sync*.py",
    "tests/test_changes_*.py",
    "tests/test_cli_store.py",
    "tests/test_frames.py",
    "tests/test_incremental.py",
    "tests/test_store_access.py",
)
"""The sync store's tests, those of the bulk changes (``sync/_changes.py`` is their store
side), the store as the CLI and the DataFrames read it, the re-syncs of every emulated
platform, and a store opened read-only."""

SYNC_EXCLUDED = (
    "tests/test_sync_crash.py",
    "tests/test_changes_crash.py",
    "tests/test_sync_postgres.py",
    "tests/test_changes_docs.py",
    "tests/test_sync_celery_workers.py",
)
"""Left out of the sync target: the crash tests and the Celery workers test run their sync
in child processes, which import the unchanged package (``tests/test_sync_resume.py``
crashes in process instead),
the PostgreSQL tests repeat the SQLite scenarios on a server (run them with ``--tests``),
and the docs examples are read from ``docs/``, which mutmut's copy of the tests lacks."""

KILLED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class Target:
    """Files to mutate (globs from the repository root) and the tests that may kill them."""

    name: str
    mutate: tuple[str, ...]
    tests: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def test_files(self) -> list[str]:
        found = {str(p.relative_to(ROOT)) for pattern in self.tests for p in ROOT.glob(pattern)}
        return sorted(found - set(self.exclude))


LATER = (
    Target(
        "changes",
        (f"{PACKAGE}/changes/*",),
        ("tests/test_changes_*.py", "tests/test_cli_changes.py"),
        ("tests/test_changes_crash.py", "tests/test_changes_docs.py"),
    ),
    Target(
        "insights",
        (f"{PACKAGE}/insights/*",),
        ("tests/test_insights*.py", "tests/test_report*.py", "tests/test_svg_charts.py"),
        ("tests/test_report_browser.py",),
    ),
    Target(
        "celery",
        (f"{PACKAGE}/sync/celery/*", f"{PACKAGE}/sync/_lease.py"),
        ("tests/test_sync_celery*.py", "tests/test_sync_lease.py"),
        ("tests/test_sync_celery_workers.py",),
    ),
)
"""Targets of the modules later issues added: the bulk changes (their crash test runs in a
child process, their docs examples read ``docs/``), the fleet insights and their report
(the browser test needs a browser), and the Celery tasks with the sync lease (the workers
test starts ``celery worker`` processes, which import the unchanged package)."""


def connector_targets() -> list[Target]:
    """One target per connector folder with a ``mapping.py``: its tests are
    ``tests/test_<folder>_*.py`` and ``tests/test_<entry point name>_*.py``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entry_points = project.get("entry-points", {}).get("cdp_sdk.connectors", {})
    aliases: dict[str, set[str]] = {}
    for name, target in entry_points.items():
        folder = target.split(":")[0].rsplit(".", 1)[-1]
        aliases.setdefault(folder, set()).add(name)
    targets = []
    for mapping in sorted((ROOT / PACKAGE / "connectors").glob("*/mapping.py")):
        folder = mapping.parent.name
        names = sorted({folder, *aliases.get(folder, ())})
        tests = (*(f"tests/test_{n}_*.py" for n in names), "tests/test_mapping.py")
        targets.append(Target(folder, (str(mapping.relative_to(ROOT)),), tests))
    return targets


def targets() -> dict[str, Target]:
    """The named targets: ``sync``, ``http`` and one per connector mapping."""
    named = [
        Target("sync", (f"{PACKAGE}/sync/*",), SYNC_TESTS, SYNC_EXCLUDED),
        Target("http", (f"{PACKAGE}/http/*",), HTTP_TESTS),
        *LATER,
        *connector_targets(),
    ]
    return {t.name: t for t in named}


def resolve(names: Sequence[str], tests: Sequence[str]) -> list[Target]:
    known = targets()
    chosen: list[Target] = []
    for name in names:
        if name == "mappings":
            chosen += [t for t in known.values() if t.mutate[0].endswith("/mapping.py")]
        elif name in known:
            target = known[name]
            if tests:
                target = Target(target.name, target.mutate, tuple(tests))
            chosen.append(target)
        elif (ROOT / name).exists():
            if not tests:
                raise SystemExit(f"{name}: a path needs --tests")
            path = name.rstrip("/")
            pattern = f"{path}/*" if (ROOT / path).is_dir() else path
            label = path.removeprefix(f"{PACKAGE}/").replace("/", ".").removesuffix(".py")
            chosen.append(Target(label, (pattern,), tuple(tests)))
        else:
            raise SystemExit(f"unknown target {name!r}; see --list")
    return chosen


def reference() -> Path | None:
    """The vendor reference folder the tests read (as ``tests/conftest.py`` finds it)."""
    configured = os.environ.get("CDP_SDK_REFERENCE")
    path = Path(configured) if configured else ROOT.parent / "shared" / "reference"
    return path.resolve() if path.is_dir() else None


def toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(target: Target, *, fresh: bool, timeout: int) -> Path:
    """The target's folder: links to the checkout and a pyproject with ``[tool.mutmut]``."""
    folder = WORK / target.name
    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = folder / name
        if not link.is_symlink() and (ROOT / name).exists():
            link.symlink_to(ROOT / name)
    if not target.test_files():
        raise SystemExit(f"{target.name}: no test file matches {list(target.tests)}")
    # The selection names patterns, not files: a test file added later joins the next run
    # (mutmut collects stats for new tests) instead of changing the configuration, which
    # would make mutmut forget every result.
    files = " ".join(sorted({pattern.removeprefix("tests/") for pattern in target.tests}))
    selection = ["tests", "-o", f"python_files={files}"]
    selection += [f"--ignore={path}" for path in target.exclude]
    config = (
        "\n\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {toml_list(target.mutate)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(selection)}\n"
        # mutmut calls each function of a mutated module through a trampoline of its own:
        # a frame outside cdp_sdk, which names the line of a warning, and for a generator a
        # loop that holds the item it last handed on. Tests of either cannot hold there.
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not frames", '
        f'"--timeout={timeout}"]\n'
        "use_git_change_detection = false\n"
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    if "[tool.mutmut]" in pyproject:
        raise SystemExit("pyproject.toml has a [tool.mutmut] table; the tool writes its own")
    generated = folder / "pyproject.toml"
    text = pyproject + config
    if not generated.exists() or generated.read_text() != text:
        generated.write_text(text)
    return folder


def run(
    target: Target,
    folder: Path,
    *,
    children: int,
    only: Sequence[str],
    seconds: float | None = None,
) -> int:
    """Run mutmut on ``target``; stop it (as Ctrl-C would) after ``seconds``: every result
    in so far is kept, and the next run goes on with the mutants not tested yet."""
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut if mutmut.exists() else "mutmut"), "run", "--max-children"]
    command += [str(children), *only]
    env = dict(os.environ)
    found = reference()
    if found is not None:
        env["CDP_SDK_REFERENCE"] = str(found)
    print(f"== {target.name}: mutating {', '.join(target.mutate)}", flush=True)
    print(f"   tests: {' '.join(target.test_files())}", flush=True)
    # A background shell starts us with SIGINT ignored, which mutmut would inherit: give it
    # the default back, so that the stop below is the Ctrl-C that mutmut handles.
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"\n== {target.name}: stopped at the time limit; run again to go on", flush=True)
        return 0
    except BaseException:
        process.send_signal(signal.SIGINT)
        process.wait()
        raise


def statuses(folder: Path) -> dict[str, dict[str, str]]:
    """Every mutant's status, per source file, from mutmut's ``.meta`` files."""
    from mutmut.stats import status_by_exit_code

    result: dict[str, dict[str, str]] = {}
    for meta in sorted((folder / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if codes:
            source = str(meta.relative_to(folder / "mutants")).removesuffix(".meta")
            result[source] = {key: status_by_exit_code[code] for key, code in codes.items()}
    return result


def unchecked(folder: Path, patterns: Sequence[str]) -> list[str]:
    """The mutants matching ``patterns`` that have no result yet: mutmut tests again every
    mutant named on its command line, so a run that was stopped resumes this way."""
    known = {key: status for by_key in statuses(folder).values() for key, status in by_key.items()}
    if not patterns or not known:
        return list(patterns)
    return [
        key
        for key, status in known.items()
        if status == "not checked" and any(fnmatch(key, pattern) for pattern in patterns)
    ]


def score(counts: Counter[str]) -> tuple[int, int, float]:
    """Killed, tested and the score in percent (0 when nothing was tested)."""
    total = sum(counts.values()) - counts["skipped"] - counts["not checked"]
    killed = sum(counts[s] for s in KILLED)
    return killed, total, 100.0 * killed / total if total else 0.0


def report(target: Target, folder: Path) -> float:
    """Print the score per file, write the surviving mutants' diffs; the total score."""
    per_file = statuses(folder)
    overall: Counter[str] = Counter()
    survivors: list[str] = []
    print(f"\n{target.name}: killed / mutants (score)")
    for source, by_key in per_file.items():
        counts = Counter(by_key.values())
        overall += counts
        killed, total, percent = score(counts)
        others = {s: n for s, n in counts.items() if s not in KILLED and s != "survived"}
        extra = f"  {others}" if others else ""
        if total:
            print(f"  {source}: {killed}/{total} ({percent:.1f}%){extra}")
        survivors += [k for k, s in sorted(by_key.items()) if s in {"survived", "no tests"}]
    killed, total, percent = score(overall)
    print(f"  total: {killed}/{total} ({percent:.1f}%)" if total else "  no mutant was tested")
    mutmut = Path(sys.executable).with_name("mutmut")
    with (folder / "survivors.txt").open("w") as out:
        for key in survivors:
            diff = subprocess.run(
                [str(mutmut if mutmut.exists() else "mutmut"), "show", key],
                cwd=folder,
                capture_output=True,
                text=True,
            ).stdout
            out.write(f"# {key}\n{diff}\n")
    print(f"  {len(survivors)} surviving: {folder / 'survivors.txt'}")
    return percent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="sync, http, a connector, mappings, a path")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--tests", action="append", default=[], help="test file glob")
    parser.add_argument("--only", action="append", default=[], help="mutant name glob")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=int, default=300, help="pytest-timeout per test (s)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument(
        "--survivors", action="store_true", help="test again only the last run's survivors"
    )
    parser.add_argument("--report", action="store_true", help="only print the last scores")
    parser.add_argument("--fail-under", type=float, help="exit 1 below this score (%%)")
    parser.add_argument(
        "--max-minutes", type=float, help="stop after this long; a rerun goes on from there"
    )
    args = parser.parse_args(argv)
    deadline = None if args.max_minutes is None else time.monotonic() + 60 * args.max_minutes
    if args.list or not args.targets:
        for target in targets().values():
            print(f"{target.name:10} {' '.join(target.mutate)}")
            print(f"{'':10} tests: {' '.join(target.test_files())}")
        return 0
    failed = 0
    for target in resolve(args.targets, args.tests):
        folder = prepare(target, fresh=args.fresh, timeout=args.timeout)
        only = unchecked(folder, args.only)
        nothing = bool(args.only) and not only
        if args.survivors:
            only += [
                key
                for by_key in statuses(folder).values()
                for key, status in by_key.items()
                if status in {"survived", "no tests"}
            ]
            nothing = not only
        if nothing:
            print(f"== {target.name}: nothing left to test (--fresh starts over)")
        elif deadline is not None and time.monotonic() >= deadline:
            print(f"== {target.name}: no time left (--max-minutes)")
        elif not args.report:
            seconds = None if deadline is None else deadline - time.monotonic()
            failed |= run(target, folder, children=args.max_children, only=only, seconds=seconds)
        percent = report(target, folder)
        if args.fail_under is not None and percent < args.fail_under:
            print(f"  {target.name}: {percent:.1f}% is under {args.fail_under}%")
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
