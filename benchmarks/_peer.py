"""cdp-sdk against the vendors' own SDKs, on our emulators served on loopback.

Each peer is the official Python client of a platform, installed from the package index
into a virtualenv of its own (their pins clash with ours: ``emnify-sdk`` needs pydantic
v1): ``emnify-sdk`` on the emnify emulator, ``twilio`` on the Super SIM emulator.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _measure import Line, Section, ratio_text, seconds_text, timed
from _targets import HERE, Recorder, Target, child_env, serve, targets

import cdp_sdk
from cdp_sdk import Subscription
from cdp_sdk.models import luhn_check_digit

__all__ = ["EMNIFY", "PEERS", "SUPERSIM", "Peer", "emnify_peer", "peer_section", "supersim_peer"]

SMALL_PAGES = 9
"""The page size of the platform in the fault check: smaller than either client asks."""

Row = Sequence[Any]
"""One SIM as a peer script reports it (the script's own column order)."""


@dataclass(frozen=True)
class Peer:
    """A platform's official client, as the benchmarks drive it."""

    connector: str
    requirement: str
    """What pip installs into the peer's virtualenv (pinned)."""
    script: str
    """The script the peer's interpreter runs: ``script BASE_URL *credentials``."""
    credentials: tuple[str, ...]
    """The connector settings passed to the script after the base URL."""
    full_iccid: Callable[[Row], str | None]
    """The full ICCID (with its check digit) of a row, as cdp-sdk normalizes it."""
    differs: Callable[[Row, Subscription], bool]
    """Whether a row says something else about a SIM than cdp-sdk's record of it."""
    what_differs: str
    known: str
    """A known limitation of the peer, noted with its line."""
    settings: str
    """How the peer is called, for the section's text."""


def _emnify_full(row: Row) -> str | None:
    iccid = row[0]
    return str(iccid) + str(luhn_check_digit(str(iccid))) if iccid else None


def _emnify_differs(row: Row, sim: Subscription) -> bool:
    _iccid, imsi, msisdn, _status = row
    return sim.imsi != imsi or sim.msisdn != str(msisdn).lstrip("+")


def _supersim_full(row: Row) -> str | None:
    from cdp_sdk.connectors.supersim.mapping import full_iccid

    return full_iccid(row[0]) if row[0] else None


def _supersim_differs(row: Row, sim: Subscription) -> bool:
    _iccid, status, sid, _unique_name, fleet_sid = row
    return sim.status_raw != status or sim.id != sid or sim.tariff != fleet_sid


EMNIFY = Peer(
    connector="emnify",
    requirement="emnify-sdk==0.5.3",
    script="peer_emnify.py",
    credentials=("application_token",),
    full_iccid=_emnify_full,
    differs=_emnify_differs,
    what_differs="another IMSI or MSISDN",
    known="its SIM model drops `iccid_with_luhn` (the full ICCID)",
    settings="`EMnify(token).sim.get_sim_list()`, its endpoint set by "
    "`EMNIFY_SDK_API_ENDPOINT_URL`",
)
SUPERSIM = Peer(
    connector="supersim",
    requirement="twilio==9.13.0",
    script="peer_supersim.py",
    credentials=("account_sid", "auth_token"),
    full_iccid=_supersim_full,
    differs=_supersim_differs,
    what_differs="another status, SID or Fleet",
    known="its hosts are fixed: it reaches the emulator through its `http_client` hook",
    settings="`Client(sid, token, http_client=...).supersim.v1.sims.stream(page_size=1000)`, "
    "its own `TwilioHttpClient` sending each request to the emulator",
)
PEERS = (EMNIFY, SUPERSIM)


def peer_python(work: Path, requirement: str) -> Path:
    """The interpreter of the peer's own virtualenv, created (and the peer installed from
    the package index with pip) on first use under the work folder."""
    venv = work / ("peer-" + requirement.replace("==", "-"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", requirement],
            check=True,
            capture_output=True,
        )
    return python


def _run_peer(python: Path, peer: Peer, url: str, credentials: list[str]) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), str(HERE / peer.script), url, *credentials],
        capture_output=True,
        text=True,
        check=False,
        env=child_env(),
    )
    if result.returncode != 0:
        return {"seconds": None, "sims": [], "error": result.stderr.strip()[-300:]}
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def emnify_peer(sims: int, rounds: int, work: Path, *, fault_check: bool) -> Section:
    """cdp-sdk against ``emnify-sdk`` on the emnify emulator."""
    return peer_section(EMNIFY, sims, rounds, work, fault_check=fault_check)


def supersim_peer(sims: int, rounds: int, work: Path, *, fault_check: bool) -> Section:
    """cdp-sdk against Twilio's ``twilio`` on the Super SIM emulator."""
    return peer_section(SUPERSIM, sims, rounds, work, fault_check=fault_check)


def peer_section(peer: Peer, sims: int, rounds: int, work: Path, *, fault_check: bool) -> Section:
    name = peer.requirement
    section = Section(
        "peer",
        f"Listing {sims:,} SIMs from the {peer.connector} emulator: cdp-sdk vs `{name}`",
        f"The {peer.connector} emulator over one fleet, served on loopback by a child "
        "process. Each round (interleaved, the order rotating) lists every SIM with: a bare "
        "`httpx.Client` sending the requests cdp-sdk sends (the floor: same login, same "
        "pages, each body decoded); cdp-sdk's sync facade with default settings; its async "
        "facade with `rate_limit=None`; and the official client in a virtualenv of its "
        f"own ({peer.settings}), timed by itself from creating its client to its last SIM "
        "(its interpreter start and imports left out, as cdp-sdk's are). Completeness: "
        "each client's ICCIDs against the SIMs the emulator lists.",
    )
    (target,) = targets([peer.connector]) or [None]
    if target is None:
        section.notes.append(f"no {peer.connector} connector installed")
        return section
    try:
        python = peer_python(work, peer.requirement)
    except subprocess.CalledProcessError as exc:
        section.notes.append(f"the peer could not be installed ({exc}); not measured")
        return section
    settings = target.settings()
    credentials = [str(settings[key]) for key in peer.credentials]
    expected = target.listed(target.emulator(target.fleet(sims)))
    with serve([target.name], sims) as served:
        url = served.urls[target.name][0]
        lines = _compare(peer, target, python, url, credentials, expected, rounds)
    section.lines.extend(lines)
    if fault_check:
        section.notes.append(_small_pages(peer, target, python, credentials, sims))
    return section


def _compare(
    peer: Peer,
    target: Target,
    python: Path,
    url: str,
    credentials: list[str],
    expected: set[str],
    rounds: int,
) -> list[Line]:
    recorder = Recorder()
    default = target.served_settings(url)
    unlimited = target.served_settings(url, rate_limit=None)

    async def record() -> list[Subscription]:
        async with cdp_sdk.connect_async(target.name, **unlimited) as connector:
            connector.plugin.http.add_response_hook(recorder.hook)
            return [sim async for sim in connector.subscriptions()]

    ours = asyncio.run(record())
    found: dict[str, set[str]] = {"cdp-sdk": {sim.iccid for sim in ours}}
    peer_answer: dict[str, Any] = {}

    def floor() -> None:
        with httpx.Client() as client:
            recorder.replay(client)

    def sync_default() -> None:
        with cdp_sdk.connect(target.name, **default) as connector:
            found["cdp-sdk, default"] = {sim.iccid for sim in connector.subscriptions()}

    def async_unlimited() -> None:
        async def run() -> set[str]:
            async with cdp_sdk.connect_async(target.name, **unlimited) as connector:
                return {sim.iccid async for sim in connector.subscriptions()}

        found["cdp-sdk, async"] = asyncio.run(run())

    runs = {"floor": floor, "default": sync_default, "async": async_unlimited}
    variants = ["floor", "default", "async", "peer"]
    rows: list[dict[str, float]] = []
    for number in range(rounds + 1):
        shift = number % len(variants)
        row: dict[str, float] = {}
        for name in variants[shift:] + variants[:shift]:
            if name == "peer":
                peer_answer = _run_peer(python, peer, url, credentials)
                if peer_answer["seconds"] is not None:
                    row[name] = peer_answer["seconds"]
            else:
                row[name] = timed(runs[name])
        if number:  # the first round warms up
            rows.append(row)

    def ratios(top: str, bottom: str) -> list[float]:
        return [row[top] / row[bottom] for row in rows if top in row and bottom in row]

    def values(name: str) -> list[float]:
        return [row[name] for row in rows if name in row]

    peer_sims = peer_answer.get("sims", [])
    by_iccid = {sim.iccid: sim for sim in ours}
    found["peer"] = set()
    wrong = 0
    for peer_row in peer_sims:
        iccid = peer.full_iccid(peer_row)
        if iccid is None:
            continue
        found["peer"].add(iccid)
        sim = by_iccid.get(iccid)
        wrong += sim is not None and peer.differs(peer_row, sim)
    limit = target.default_rate_limit()
    lines = [Line("floor (bare httpx)", seconds_text(values("floor")))]
    for name, label, key in [
        ("default", f"cdp-sdk, default settings (rate_limit {limit})", "cdp-sdk, default"),
        ("async", "cdp-sdk, async, no rate limit", "cdp-sdk, async"),
    ]:
        against_peer = ratios(name, "peer")
        middle = statistics.median(against_peer) if against_peer else None
        complete = found.get(key) == expected
        lines.append(
            Line(
                label,
                f"{ratio_text(against_peer)} the peer's time",
                target="<= 1.0x, complete",
                met=None if middle is None else (middle <= 1.0 and complete),
                note=f"{seconds_text(values(name))}, {ratio_text(ratios(name, 'floor'))} the "
                f"floor; {'complete' if complete else 'INCOMPLETE'}",
                value=middle,
            )
        )
    notes = [
        "complete"
        if found["peer"] == expected
        else f"INCOMPLETE: {len(found['peer']):,} of {len(expected):,} SIMs"
    ]
    if wrong:
        notes.append(f"{wrong} SIMs with {peer.what_differs} than cdp-sdk's")
    if peer_answer.get("error"):
        notes.append(f"error: {peer_answer['error']}")
    notes.append(peer.known)
    lines.append(
        Line(
            peer.requirement,
            f"{seconds_text(values('peer'))}, {ratio_text(ratios('peer', 'floor'))} the floor",
            note="; ".join(notes),
        )
    )
    return lines


def _small_pages(
    peer: Peer, target: Target, python: Path, credentials: list[str], sims: int
) -> str:
    """Both clients against a platform that serves pages smaller than asked."""
    expected = len(target.listed(target.emulator(target.fleet(sims))))
    pages = -(-expected // SMALL_PAGES)
    with serve([target.name], sims, max_page_size=SMALL_PAGES) as served:
        url = served.urls[target.name][0]
        answer = _run_peer(python, peer, url, credentials)

        async def ours() -> tuple[int, str | None]:
            settings = target.served_settings(url, rate_limit=None)
            try:
                async with cdp_sdk.connect_async(target.name, **settings) as connector:
                    return len([sim async for sim in connector.subscriptions()]), None
            except cdp_sdk.CdpError as exc:
                return 0, type(exc).__name__

        count, error = asyncio.run(ours())
    peer_count = len(answer.get("sims", []))
    peer_error = answer.get("error")
    return (
        f"Fault check: a platform serving pages of {SMALL_PAGES} SIMs ({pages:,} pages for "
        f"{expected:,} SIMs): {peer.requirement} returned {peer_count:,} SIMs"
        + (f" and raised {peer_error}" if peer_error else ", without an error")
        + f"; cdp-sdk returned {count:,}"
        + (f" and raised {error}" if error else "")
        + "."
    )
