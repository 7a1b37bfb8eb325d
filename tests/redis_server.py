"""A throw-away Redis server on loopback, for tests (the Celery broker).

:func:`redis_server` starts ``redis-server`` in a fresh temporary directory, on
``127.0.0.1`` at a free port, without persistence, yields its URL, and stops it (and
deletes the directory) at the end. Exactly::

    redis-server --bind 127.0.0.1 --port <port> --dir <dir> --save "" --appendonly no \\
        --protected-mode yes --daemonize no --logfile <dir>/redis.log

The binary is ``redis-server`` on ``PATH`` (Debian's ``redis-server`` package puts it in
``/usr/bin``); CI installs it with ``apt-get install redis-server`` when it is missing.
When the binary is missing the fixture FAILS with a message saying what to install, unless
``CDP_SDK_SKIP_REDIS=1`` is set, which turns the failure into a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["SKIP_VARIABLE", "find_binary", "redis_server", "require_binary"]

SKIP_VARIABLE = "CDP_SDK_SKIP_REDIS"


def find_binary() -> Path | None:
    """``redis-server``, or ``None``."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def require_binary() -> Path:
    """The binary; fails (or skips, with CDP_SDK_SKIP_REDIS=1) without."""
    found = find_binary()
    if found is not None:
        return found
    message = (
        "redis-server was not found on PATH: install Redis (e.g. apt-get install "
        f"redis-server) or set {SKIP_VARIABLE}=1 to skip the Celery tests"
    )
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Run a throw-away server; yields its URL (``redis://127.0.0.1:<port>/0``)."""
    binary = require_binary()
    home = Path(tempfile.mkdtemp(prefix="cdp-sdk-redis-"))
    port = _free_port()
    log = home / "redis.log"
    command = [
        str(binary),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(home),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--logfile", str(log),
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                details = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not start: {details}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
        shutil.rmtree(home, ignore_errors=True)
