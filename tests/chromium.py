"""Open a local HTML file in headless Chromium, watch it, and take a screenshot.

:func:`visit` starts Chromium (the Debian ``chromium`` package) with a fresh profile in a
temporary directory and speaks the Chrome DevTools Protocol over a pipe
(``--remote-debugging-pipe``: JSON messages ended by a NUL byte, read by the browser on
file descriptor 3 and written on 4), so no port is opened and no client library or
downloaded browser is needed. Exactly::

    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \\
        --disable-background-networking --disable-component-update --disable-sync \\
        --hide-scrollbars \\
        --user-data-dir=<fresh temporary directory> --remote-debugging-pipe about:blank

then, on a new page: ``Runtime``, ``Log``, ``Network`` and ``Page`` enabled,
``Page.navigate`` to the file, wait for ``Page.loadEventFired``, evaluate a DOM probe,
resize the viewport to the page's full height and ``Page.captureScreenshot``.

What it returns (:class:`Visit`): the console messages and uncaught exceptions, the log
entries, every URL the page asked for, the probe's answer and the PNG.

``--no-sandbox``: the tests may run as root (a container), where Chromium's sandbox
refuses to start; the page is our own file and the network is not used.

When Chromium is missing, :func:`require_chromium` FAILS with a message saying what to
install, unless ``CDP_SDK_SKIP_CHROMIUM=1`` is set, which turns the failure into a skip
(for local runs only; CI installs the package, see ``.ci/run``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["FLAGS", "SKIP_VARIABLE", "Visit", "find_chromium", "require_chromium", "visit"]

SKIP_VARIABLE = "CDP_SDK_SKIP_CHROMIUM"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
NAMES = ("chromium", "chromium-browser")
TIMEOUT = 60.0

PROBE = """JSON.stringify({
  title: document.title,
  sections: [...document.querySelectorAll('section[data-section]')].map(s => ({
    id: s.id,
    text: s.innerText.trim().length,
    height: s.getBoundingClientRect().height,
  })),
  charts: [...document.querySelectorAll('svg[data-chart]')].map(svg => ({
    name: svg.dataset.chart,
    shapes: svg.querySelectorAll('rect, polyline, circle').length,
    width: svg.getBoundingClientRect().width,
    height: svg.getBoundingClientRect().height,
  })),
  references: [...document.querySelectorAll('[src], link[href], object, embed, iframe')]
    .map(e => e.getAttribute('src') || e.getAttribute('href') || e.tagName),
  scripts: document.scripts.length,
})"""


def find_chromium() -> str | None:
    """The Chromium executable on ``PATH``, or ``None``."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium executable; fails (or skips, with CDP_SDK_SKIP_CHROMIUM=1) without."""
    found = find_chromium()
    if found is not None:
        return found
    message = (
        "Chromium was not found on PATH (chromium, chromium-browser): install it, e.g. "
        f"apt-get install chromium, or set {SKIP_VARIABLE}=1 to skip the browser tests"
    )
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@dataclass
class Visit:
    """What Chromium saw while loading one page."""

    console: list[tuple[str, str]] = field(default_factory=list)
    """(type, text) of every ``console.*`` call."""
    exceptions: list[str] = field(default_factory=list)
    """Uncaught exceptions."""
    log: list[tuple[str, str]] = field(default_factory=list)
    """(level, text) of the browser's log entries (failed loads, violations...)."""
    requests: list[str] = field(default_factory=list)
    """Every URL the page requested, the page itself included."""
    probe: dict[str, Any] = field(default_factory=dict)
    """The DOM probe's answer: title, sections, charts, external references, scripts."""
    screenshot: bytes = b""
    """The whole page as PNG."""

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries."""
        return (
            [text for kind, text in self.console if kind in ("error", "assert")]
            + self.exceptions
            + [text for level, text in self.log if level == "error"]
        )


class _Pipe:
    """The DevTools protocol over the browser's pipe: send a command, await its answer."""

    def __init__(self, process: subprocess.Popen[bytes], to_browser: int, from_browser: int):
        self.process = process
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}, **kw}
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self.receive()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self.receive()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited (status {self.process.poll()})")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        answer: dict[str, Any] = json.loads(message)
        return answer


@contextlib.contextmanager
def _browser(executable: str) -> Iterator[_Pipe]:
    profile = tempfile.mkdtemp(prefix="cdp-sdk-chromium-")
    browser_reads, we_write = os.pipe()
    we_read, browser_writes = os.pipe()

    def pipes_on_3_and_4() -> None:  # in the child, before exec
        read_end = fcntl.fcntl(browser_reads, fcntl.F_DUPFD, 10)
        write_end = fcntl.fcntl(browser_writes, fcntl.F_DUPFD, 10)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    process = subprocess.Popen(
        [
            executable,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(3, 4),
        preexec_fn=pipes_on_3_and_4,
    )
    os.close(browser_reads)
    os.close(browser_writes)
    pipe = _Pipe(process, we_write, we_read)
    try:
        yield pipe
    finally:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            pipe.send("Browser.close")
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(we_write)
        os.close(we_read)
        shutil.rmtree(profile, ignore_errors=True)


def visit(page: Path, *, width: int = 1200, height: int | None = None) -> Visit:
    """Load ``page`` in headless Chromium; what it saw, and a screenshot of the whole
    page (or of its top ``height`` pixels)."""
    executable = require_chromium()
    found = Visit()
    with _browser(executable) as browser:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.send(f"{domain}.enable", sessionId=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            sessionId=session,
        )
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, sessionId=session)
        browser.wait_for("Page.loadEventFired")
        answer = browser.send(
            "Runtime.evaluate",
            {"expression": PROBE, "returnByValue": True},
            sessionId=session,
        )
        found.probe = json.loads(answer["result"]["value"])
        size = browser.send("Page.getLayoutMetrics", sessionId=session)["cssContentSize"]
        shown = int(size["height"]) + 1 if height is None else min(height, int(size["height"]))
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": shown,
                "deviceScaleFactor": 1,
                "mobile": False,
            },
            sessionId=session,
        )
        shot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": height is None},
            sessionId=session,
        )
        found.screenshot = base64.b64decode(shot["data"])
        for event in browser.events:
            params = event.get("params", {})
            method = event.get("method")
            if method == "Runtime.consoleAPICalled":
                args = params["args"]
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
                found.console.append((params["type"], text))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.exceptions.append(
                    details.get("exception", {}).get("description") or details.get("text", "")
                )
            elif method == "Log.entryAdded":
                entry = params["entry"]
                found.log.append((entry["level"], f"{entry.get('url', '')} {entry['text']}"))
            elif method == "Network.requestWillBeSent":
                found.requests.append(params["request"]["url"])
    return found
