"""cdp-sdk against the vendor's own SDK: emnify's ``emnify-sdk``, on our emnify emulator."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from _measure import Line, Section, ratio_text, seconds_text, timed
from _targets import HERE, Recorder, Target, child_env, serve, targets

import cdp_sdk
from cdp_sdk.models import luhn_check_digit

__all__ = ["PEER", "emnify_peer"]

PEER = "emnify-sdk==0.5.3"
SMALL_PAGES = 9
"""The page size of the platform in the fault check: smaller than either client asks."""


def peer_python(work: Path) -> Path:
    """The interpreter of the peer's own virtualenv, created (and the peer installed from
    the package index with pip) on first use under the work folder."""
    venv = work / ("peer-" + PEER.replace("==", "-"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", PEER],
            check=True,
            capture_output=True,
        )
    return python


def _run_peer(python: Path, url: str, token: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), str(HERE / "peer_emnify.py"), url, token],
        capture_output=True,
        text=True,
        check=False,
        env=child_env(),
    )
    if result.returncode != 0:
        return {"seconds": None, "sims": [], "error": result.stderr.strip()[-300:]}
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _full(iccid: str) -> str:
    return iccid + str(luhn_check_digit(iccid))


def emnify_peer(sims: int, rounds: int, work: Path, *, fault_check: bool) -> Section:
    section = Section(
        "peer",
        f"Listing {sims:,} SIMs from the emnify emulator: cdp-sdk vs `{PEER}`",
        "The emnify emulator over one fleet, served on loopback by a child process. Each "
        "round (interleaved, the order rotating) lists every SIM with: a bare "
        "`httpx.Client` sending the requests cdp-sdk sends (the floor: same login, same "
        "pages, each body decoded); cdp-sdk's sync facade with default settings "
        "(`rate_limit` 6/s, burst 5); its async facade with `rate_limit=None`; and the "
        "official SDK in a virtualenv of its own, timed by itself from creating its client "
        "to its last SIM (its interpreter start and imports left out, as cdp-sdk's are). "
        "Completeness: each client's ICCIDs against the SIMs the emulator lists.",
    )
    (target,) = targets(["emnify"]) or [None]
    if target is None:
        section.notes.append("no emnify connector installed")
        return section
    try:
        python = peer_python(work)
    except subprocess.CalledProcessError as exc:
        section.notes.append(f"the peer could not be installed ({exc}); not measured")
        return section
    token = str(target.settings()["application_token"])
    expected = target.listed(target.emulator(target.fleet(sims)))
    with serve([target.name], sims) as served:
        url = served.urls[target.name][0]
        lines = _compare(target, python, url, token, expected, rounds)
    section.lines.extend(lines)
    if fault_check:
        section.notes.append(_small_pages(target, python, token, sims))
    return section


def _compare(
    target: Target, python: Path, url: str, token: str, expected: set[str], rounds: int
) -> list[Line]:
    recorder = Recorder()
    default = target.served_settings(url)
    unlimited = target.served_settings(url, rate_limit=None)

    async def record() -> list[Any]:
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
                peer_answer = _run_peer(python, url, token)
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
    found["peer"] = {_full(str(row[0])) for row in peer_sims if row[0]}
    by_iccid = {sim.iccid: sim for sim in ours}
    wrong = sum(
        1
        for iccid, imsi, msisdn, _status in peer_sims
        if (sim := by_iccid.get(_full(str(iccid)))) is not None
        and (sim.imsi != imsi or sim.msisdn != str(msisdn).lstrip("+"))
    )
    lines = [Line("floor (bare httpx)", seconds_text(values("floor")))]
    for name, label, key in [
        ("default", "cdp-sdk, default settings", "cdp-sdk, default"),
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
        notes.append(f"{wrong} SIMs with another IMSI or MSISDN than cdp-sdk's")
    if peer_answer.get("error"):
        notes.append(f"error: {peer_answer['error']}")
    notes.append("its SIM model drops `iccid_with_luhn` (the full ICCID)")
    lines.append(
        Line(
            PEER,
            f"{seconds_text(values('peer'))}, {ratio_text(ratios('peer', 'floor'))} the floor",
            note="; ".join(notes),
        )
    )
    return lines


def _small_pages(target: Target, python: Path, token: str, sims: int) -> str:
    """Both clients against a platform that serves pages smaller than asked."""
    expected = len(target.listed(target.emulator(target.fleet(sims))))
    pages = -(-expected // SMALL_PAGES)
    with serve([target.name], sims, max_page_size=SMALL_PAGES) as served:
        url = served.urls[target.name][0]
        peer = _run_peer(python, url, token)

        async def ours() -> tuple[int, str | None]:
            settings = target.served_settings(url, rate_limit=None)
            try:
                async with cdp_sdk.connect_async(target.name, **settings) as connector:
                    return len([sim async for sim in connector.subscriptions()]), None
            except cdp_sdk.CdpError as exc:
                return 0, type(exc).__name__

        count, error = asyncio.run(ours())
    peer_count = len(peer.get("sims", []))
    peer_error = peer.get("error")
    return (
        f"Fault check: a platform serving pages of {SMALL_PAGES} SIMs ({pages:,} pages for "
        f"{expected:,} SIMs): {PEER} returned {peer_count:,} SIMs"
        + (f" and raised {peer_error}" if peer_error else ", without an error")
        + f"; cdp-sdk returned {count:,}"
        + (f" and raised {error}" if error else "")
        + "."
    )
