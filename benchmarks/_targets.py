"""The connectors the benchmarks run: every installed connector that has an emulator.

Nothing here names a connector: the list comes from :func:`emulated_connectors`, so a
connector added or changed (a larger page size, an incremental listing, a faster mapping)
shows up in the per-connector figures without an edit here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

import cdp_sdk
from cdp_sdk import Subscription
from cdp_sdk.sandbox import Emulator, Fleet, RateWindow
from cdp_sdk.testing._emulated import EmulatedConnector, emulated_connectors

__all__ = [
    "HERE",
    "SEED",
    "Recorder",
    "Served",
    "Target",
    "run_async",
    "serve",
    "targets",
    "unlimited",
]

HERE = Path(__file__).resolve().parent
SEED = 1
UNDOCUMENTED = 10**6
"""A page maximum at least this large is an emulator's "not documented" (no cap)."""


@dataclass(frozen=True)
class Target:
    """One connector and its emulator, as the benchmarks drive them."""

    entry: EmulatedConnector

    @property
    def name(self) -> str:
        return self.entry.name

    def fleet(self, sims: int, *, seed: int = SEED) -> Fleet:
        return Fleet(sims, seed=seed)

    def emulator(self, fleet: Fleet, *, rate_limited: bool = False) -> Emulator:
        """The emulator over ``fleet`` with its documented page sizes, and without its
        server-side rate limits unless asked."""
        emulator = self.entry.emulator(fleet)
        return emulator if rate_limited else unlimited(emulator)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings that reach an emulator built with its defaults (in-process)."""
        return {**self.entry.settings(), **overrides}

    def served_settings(self, url: str, **overrides: Any) -> dict[str, Any]:
        """Settings that reach the emulator served at ``url`` (the default base URL's
        deployment prefix kept)."""
        default = self.entry.connector.settings_model.model_fields["base_url"].default
        prefix = urlsplit(default).path.rstrip("/") if isinstance(default, str) else ""
        return self.settings(base_url=url + prefix, **overrides)

    def default_rate_limit(self) -> float | None:
        value = self.entry.connector.settings_model.model_fields["rate_limit"].default
        return value if isinstance(value, int | float) else None

    def listed(self, emulator: Emulator) -> set[str]:
        """The ICCIDs the platform's listing shows (with their check digit)."""
        return {iccid for iccid in emulator.fleet.sims if emulator.lists(iccid)}

    def list_in_process(
        self, emulator: Emulator, *, recorder: Recorder | None = None, **settings: Any
    ) -> list[Subscription]:
        """Every subscription, through the async facade over the in-process transport."""

        async def run() -> list[Subscription]:
            async with cdp_sdk.connect_async(
                self.name,
                transport=emulator.transport(),
                **self.settings(**({"rate_limit": None} | settings)),
            ) as connector:
                if recorder is not None:
                    connector.plugin.http.add_response_hook(recorder.hook)
                return [sim async for sim in connector.subscriptions()]

        return run_async(run())


def unlimited(emulator: Emulator) -> Emulator:
    """``emulator`` without server-side rate limits: its ``rate_limit`` and any other
    :class:`RateWindow` it keeps (a login limit, say) lifted, so benchmark rounds are
    never refused."""
    emulator.rate_limit = None
    for name, value in vars(emulator).items():
        if isinstance(value, RateWindow):
            setattr(emulator, name, RateWindow(10**9, 1.0))
    return emulator


def targets(names: list[str] | None = None) -> list[Target]:
    """The installed connectors with an emulator (all, or only ``names``)."""
    found, _missing = emulated_connectors(names)
    return [Target(entry) for entry in found]


def run_async(work: Any) -> Any:
    return asyncio.run(work)


@dataclass
class Recorder:
    """Records the requests a connector sends (logins included), to replay them with a
    bare ``httpx`` client: the floor of a listing, with the same login and pages."""

    requests: list[tuple[str, str, list[tuple[str, str]], bytes]] = field(default_factory=list)

    async def hook(self, response: httpx.Response) -> None:
        request = response.request
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in {"content-length", "host"}
        ]
        self.requests.append((request.method, str(request.url), headers, request.content))

    def replay(self, client: httpx.Client) -> int:
        """Send every recorded request again and decode each JSON body; the count."""
        for method, url, headers, content in self.requests:
            response = client.request(method, url, headers=headers, content=content or None)
            if response.content:
                response.json()
        return len(self.requests)

    def rebased(self, base_url: str) -> Recorder:
        """The same requests sent to another origin (scheme and host) than recorded."""
        target = urlsplit(base_url)
        moved = Recorder()
        for method, url, headers, content in self.requests:
            parts = urlsplit(url)._replace(scheme=target.scheme, netloc=target.netloc)
            moved.requests.append((method, parts.geturl(), headers, content))
        return moved


@dataclass
class Served:
    """Emulators served by a child process on loopback: their URLs by connector, and how
    to stop them."""

    urls: dict[str, list[str]]
    process: subprocess.Popen[str]
    fleet_seconds: float

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def serve(
    connectors: list[str],
    sims: int,
    *,
    accounts: int = 1,
    seed: int = SEED,
    max_page_size: int | None = None,
    rate_window: tuple[int, float] | None = None,
    latency: float = 0.0,
) -> Iterator[Served]:
    """Serve, from one child process on 127.0.0.1, ``accounts`` emulators of each of
    ``connectors``, over fleets of ``sims`` SIMs (seeds ``seed``, ``seed + 1``...)."""
    command = [
        sys.executable,
        str(HERE / "_serve.py"),
        ",".join(connectors),
        str(sims),
        "--accounts",
        str(accounts),
        "--seed",
        str(seed),
    ]
    if max_page_size:
        command += ["--max-page-size", str(max_page_size)]
    if rate_window:
        command += ["--rate-window", f"{rate_window[0]}/{rate_window[1]}"]
    if latency:
        command += ["--latency", str(latency)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env()
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError(f"the emulator server of {', '.join(connectors)} did not start")
    info = json.loads(line)
    served = Served(info["urls"], process, info["fleet_seconds"])
    try:
        yield served
    finally:
        served.stop()


PYCACHE: Path | None = None
"""Where child interpreters keep compiled modules (set by the command to its work dir),
so their start-up is measured as a user's would be: with bytecode cached."""


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def child_python(
    script: str, *args: str, env: Mapping[str, str] | None = None, timeout: float | None = None
) -> Any:
    """Run a benchmark child script in a fresh interpreter; its JSON answer."""
    result = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        env=child_env(**(env or {})),
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def checked(expected: set[str], got: Callable[[], set[str]]) -> str:
    """Completeness note: ``""`` when ``got`` equals ``expected``."""
    found = got()
    if found == expected:
        return ""
    missing, extra = len(expected - found), len(found - expected)
    return f"INCOMPLETE: {missing} missing, {extra} unexpected"
