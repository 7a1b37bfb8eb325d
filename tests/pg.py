"""A throw-away PostgreSQL server on loopback, for tests.

:func:`postgres_server` creates a cluster in a fresh temporary directory, starts it on
``127.0.0.1`` at a free port with its unix socket inside that directory, yields a
SQLAlchemy URL, and stops the server (``-m immediate``) and deletes the directory at the
end. Exactly::

    initdb -D <dir>/data -U cdp --auth=trust -E UTF8 --no-locale --no-instructions
    pg_ctl -D <dir>/data -l <dir>/server.log -w -t 60 \\
        -o "-h 127.0.0.1 -p <port> -k <dir> -c fsync=off -c synchronous_commit=off \\
            -c full_page_writes=off" start
    ... tests ...
    pg_ctl -D <dir>/data -m immediate -w stop

Trust authentication is safe here: the server listens on loopback only, its socket sits in
a private directory, and it lives for the duration of the tests.

Binaries: ``initdb`` and ``pg_ctl`` on ``PATH`` (``command -v``), else the newest
``/usr/lib/postgresql/<version>/bin`` (Debian and Ubuntu install them there, off ``PATH``).
CI installs them with ``apt-get install postgresql`` (any version >= 12).

Root: ``initdb`` and ``postgres`` refuse to run as root. When the tests run as root (a
container), the server runs as an unprivileged account instead: ``postgres`` if it
exists, else ``nobody``. The temporary directory is made in ``/tmp`` and handed to that
account (``chown``), and the commands run through ``subprocess`` with ``user=`` and
``group=`` (no ``sudo``/``su`` needed; root may switch user). Nothing else changes
owner.

When the binaries are missing the fixture FAILS with a message saying what to install,
unless ``CDP_SDK_SKIP_POSTGRES=1`` is set, which turns the failure into a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["SKIP_VARIABLE", "create_database", "find_binaries", "postgres_server"]

SKIP_VARIABLE = "CDP_SDK_SKIP_POSTGRES"
_ROLE = "cdp"
_DATABASE = "postgres"


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or ``None``."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0)
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def require_binaries() -> Path:
    """The binaries' directory; fails (or skips, with CDP_SDK_SKIP_POSTGRES=1) without."""
    found = find_binaries()
    if found is not None:
        return found
    message = (
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in "
        "/usr/lib/postgresql/*/bin: install PostgreSQL (e.g. apt-get install postgresql) "
        f"or set {SKIP_VARIABLE}=1 to skip the PostgreSQL tests"
    )
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.fail("running as root and neither a 'postgres' nor a 'nobody' account exists")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Run a throw-away server; yields its SQLAlchemy URL (psycopg 3, role ``cdp``)."""
    binaries = require_binaries()
    account = _server_account()
    home = Path(tempfile.mkdtemp(prefix="cdp-sdk-pg-"))
    run_as: dict[str, object] = {}
    if account is not None:
        os.chown(home, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data, log = home / "data", home / "server.log"
    port = _free_port()

    def run(*command: str) -> None:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=home, **run_as
        )  # type: ignore[call-overload]
        if done.returncode != 0:
            details = done.stderr.strip() or done.stdout.strip()
            if log.exists():
                details += "\n" + log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{Path(command[0]).name} failed: {details}")

    started = False
    try:
        run(
            str(binaries / "initdb"),
            "-D", str(data),
            "-U", _ROLE,
            "--auth=trust",
            "-E", "UTF8",
            "--no-locale",
            "--no-instructions",
        )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {port} -k {home} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(
            str(binaries / "pg_ctl"),
            "-D", str(data),
            "-l", str(log),
            "-w",
            "-t", "60",
            "-o", options,
            "start",
        )  # fmt: skip
        started = True
        yield f"postgresql+psycopg://{_ROLE}@127.0.0.1:{port}/{_DATABASE}"
    finally:
        if started:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new, empty database called after ``name`` on the server at ``url``; its URL.

    An existing database of that name is dropped first.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    database = "".join(c if c.isalnum() else "_" for c in name.lower())[:60]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
            connection.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        engine.dispose()
    return make_url(url).set(database=database).render_as_string(hide_password=False)
