"""Canary secrets and identifiers through everything: no secret anywhere, identifiers only
in data tables and in data output the user asked for.

Every built-in connector with an emulator (:data:`cdp_sdk.cli._platforms.PLATFORMS`; a new
connector joins by being listed there, which a guard test below requires) gets:

- a distinctive canary value for each of its secret settings, given to the workspace as
  ``env:`` references, and accepted by its emulator;
- a fleet with distinctive ICCID, IMSI and MSISDN ranges, IMEIs and EIDs;
- an emulator served on loopback (so httpx and httpcore do real I/O, and log it) that
  echoes identifiers, in several written forms, and the account's secret in every error
  message and in a response header, the way careless platforms do.

Then a full sync of all accounts (Python API), ``cdp sync`` with and without ``--debug``,
query commands, and every error path that can be provoked (authentication failure, not
found, conflict, a body that is not JSON, 5xx, 429, timeouts, dropped connections, a
database error in a sync and one outside it), with the root logger at DEBUG capturing every
logger. The checks:

- no secret (the canaries, the tokens and header values actually sent) in the log, on
  stdout or stderr, in any exception (str, repr, args, attributes, the whole
  ``__cause__``/``__context__`` chain), in any file written (the store's bytes included),
  or in any row of the store;
- no identifier (digits, or written in groups) in the log, on stderr, on the stdout of
  commands that print no data, in an exception, in a file other than the store and the
  exports asked for, or in the store's journal, run, result, cursor and info tables.
"""

from __future__ import annotations

import base64
import inspect
import logging
import os
import re
import shutil
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import cdp_sdk
from cdp_sdk import CdpError, available_connectors
from cdp_sdk._registry import load_connector
from cdp_sdk.cli._app import main
from cdp_sdk.cli._platforms import PLATFORMS, BuiltinPlatform, serve
from cdp_sdk.sandbox import Emulator, Fault, Fleet
from cdp_sdk.sync import Store, schema
from cdp_sdk.workspace import BaseWorkspace, Workspace

TODAY = datetime.now(UTC).date()
SIMS = 6
DATA_TABLES = {table.name for table in schema.ENTITY_TABLES}
"""Where identifiers belong: the platform data (quarantined records included)."""


# -- the canaries ------------------------------------------------------------------------------


def written_forms(msisdn: str) -> list[str]:
    """An MSISDN as people and platforms write it."""
    cc, rest = msisdn[:2], msisdn[2:]
    return [
        f"+{cc} {rest[:3]} {rest[3:]}",  # +88 234 1000000001
        f"+{cc}-{rest[:3]}-{rest[3:6]}-{rest[6:]}",
        f"({cc}{rest[:1]}) {rest[1:4]}.{rest[4:]}",
        f"00{cc} {rest[:4]} {rest[4:]}",
        f"+{msisdn}",
    ]


@dataclass
class Canary:
    """One platform's canary account: its secrets, its fleet, its served emulator."""

    platform: BuiltinPlatform
    secrets: dict[str, str]
    """Secret setting -> canary value."""
    plain: dict[str, str]
    """Other credential settings (user names) -> a distinctive value."""
    fleet: Fleet
    emulator: Emulator | None = None
    url: str = ""

    @property
    def name(self) -> str:
        return self.platform.connector

    def env(self, setting: str, *, wrong: bool = False) -> str:
        name = re.sub(r"\W", "_", self.name.upper())
        return f"CANARY_{'WRONG_' if wrong else ''}_{name}_{setting.upper()}"

    def settings(self, *, wrong: bool = False) -> dict[str, Any]:
        """Workspace settings: secrets as env: references."""
        return {
            "connector": self.name,
            **self.platform.settings(self.url),
            **self.plain,
            **{key: f"env:{self.env(key, wrong=wrong)}" for key in self.secrets},
            "rate_limit": 1e6,
            "max_retries": 1,
            "timeout": 2.0,
        }

    def identifiers(self) -> set[str]:
        found: set[str] = set()
        for sim in self.fleet.sims.values():
            found |= {sim.iccid, sim.iccid[:-1], sim.imsi, sim.msisdn}
            found |= {value for value in (sim.imei, sim.eid) if value}
        return found


def make_canary(index: int, built_in: BuiltinPlatform) -> Canary:
    model = load_connector(built_in.connector).settings_model
    # The secrets of the credentials the platform's emulator takes: a proxy URL is secret
    # too but not an operator's credential (a canary there would route traffic away), and
    # a platform with two ways to log in (Super SIM) is given one.
    secret_fields = set(model.secret_fields()) & set(built_in.credentials)
    tag = uuid.uuid4().hex[:10]
    secrets = {
        key: f"CanarySecret-{built_in.connector}-{key}-{tag}" for key in sorted(secret_fields)
    }
    plain = {
        key: f"canary-{key}-{built_in.connector}"
        for key in built_in.credentials
        if key not in secret_fields
    }
    digits = built_in.emulator.fleet_options.get("iccid_digits", 19)
    fleet = Fleet(
        SIMS,
        seed=900 + index,
        today=TODAY,
        iccid_digits=digits,  # the platform's ICCID length (ThingSpace: 20)
        iccid_prefix=f"899901{index}",
        imsi_prefix=f"99901{index}",
        msisdn_prefix=f"88299{index}",
    )
    return Canary(built_in, secrets, plain, fleet)


def echoing(canary: Canary, emulator: Emulator) -> None:
    """Make ``emulator`` echo identifiers and the secret in every error and header."""
    sim = canary.fleet.sorted_sims()[0]
    forms = "; ".join(written_forms(sim.msisdn))
    secret = next(iter(canary.secrets.values()), "")
    echo = (
        f" [SIM {sim.iccid}, IMSI {sim.imsi}, IMEI {sim.imei}, EID {sim.eid}, "
        f"MSISDN {forms}; credentials {secret}]"
    )
    original_error, original_headers = emulator.error, emulator.response_headers

    def error(status: int, code: str, message: str) -> httpx.Response:
        return original_error(status, code, message + echo)

    def headers(request: httpx.Request) -> dict[str, str]:
        return {
            **original_headers(request),
            "X-Echo": f"</sims?q=iccid:{sim.iccid}>; msisdn={written_forms(sim.msisdn)[0]}",
        }

    emulator.error = error  # type: ignore[method-assign]
    emulator.response_headers = headers  # type: ignore[method-assign]


# -- what every check looks at ---------------------------------------------------------------------


@dataclass
class Seen:
    """Everything the run produced, by where it appeared."""

    private: list[tuple[str, str]] = field(default_factory=list)
    """(where, text) that must hold neither a secret nor an identifier."""
    data: list[tuple[str, str]] = field(default_factory=list)
    """(where, text) of data output the user asked for: no secret, identifiers allowed."""

    def add(self, where: str, texts: Iterable[str], *, data: bool = False) -> None:
        (self.data if data else self.private).extend((where, text) for text in texts)


class Capture(logging.Handler):
    """Every record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.lines.append(self.format(record))


def exception_texts(error: BaseException) -> Iterator[str]:
    """The traceback, and str, repr, args and attributes of every exception behind
    ``error`` (suppressed contexts and notes included)."""
    yield "".join(traceback.format_exception(error))
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield from getattr(current, "__notes__", [])
        for value in vars(current).values():
            yield from _value_texts(value)
        pending += [current.__cause__, current.__context__]
        pending += list(getattr(current, "exceptions", ()))


def _value_texts(value: Any) -> Iterator[str]:
    if isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, httpx.Request):
        yield str(value.url)
        yield repr(dict(value.headers))
        with_content = getattr(value, "_content", None)
        if with_content is not None:
            yield with_content.decode("utf-8", "replace")
    elif isinstance(value, httpx.Response):
        yield repr(dict(value.headers))
        if getattr(value, "_content", None) is not None:
            yield value.text
        try:
            request = value.request
        except RuntimeError:  # a response built without a request
            return
        yield from _value_texts(request)
    else:
        yield repr(value)


# -- the fixture: serve, sync, run the CLI, provoke every error --------------------------------


@dataclass
class Run:
    canaries: list[Canary]
    seen: Seen
    capture: Capture
    root: Path
    database: Path
    exports: list[Path]
    secrets: set[str]
    identifiers: set[str]
    errors: dict[str, type[BaseException]]
    """Error path -> the error it raised."""


def sent_secrets(emulator: Emulator) -> set[str]:
    """The credentials and tokens the client actually sent (header values)."""
    found: set[str] = set()
    for request in emulator.requests:
        for name, value in request.headers.items():
            if re.search(r"auth|token|key", name, re.IGNORECASE):
                found.add(value)
                scheme, _, credential = value.partition(" ")
                if credential and scheme in {"Bearer", "Basic", "Key", "Token"}:
                    found.add(credential)
    return {secret for secret in found if len(secret) >= 8}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("canary")
    canaries = [make_canary(index, built_in) for index, built_in in enumerate(PLATFORMS)]
    capture = Capture()
    seen = Seen()
    errors: dict[str, type[BaseException]] = {}
    logger = logging.getLogger()
    previous_level = logger.level
    environ = dict(os.environ)
    with ExitStack() as stack:
        logger.addHandler(capture)
        logger.setLevel(logging.DEBUG)
        # Libraries that set their own level (SQLAlchemy: WARNING) log everything too.
        for child in list(logging.root.manager.loggerDict.values()):
            if isinstance(child, logging.Logger):
                stack.callback(child.setLevel, child.level)
                child.setLevel(logging.DEBUG)
        logging.captureWarnings(True)
        stack.callback(logging.captureWarnings, False)
        stack.callback(logger.setLevel, previous_level)
        stack.callback(logger.removeHandler, capture)
        stack.callback(_restore_environ, environ)
        for canary in canaries:
            canary.emulator = canary.platform.emulator(
                canary.fleet, rate_limit=None, **emulator_credentials(canary)
            )
            echoing(canary, canary.emulator)
            canary.url = stack.enter_context(serve(canary.emulator)).url
            for key, value in canary.secrets.items():
                os.environ[canary.env(key)] = value
                os.environ[canary.env(key, wrong=True)] = f"Wrong{value}"
        config = root / "cdp.toml"
        config.write_text(
            BaseWorkspace({c.name: c.settings() for c in canaries}, database="cdp.db").to_toml()
        )
        config.chmod(0o600)
        wrong = root / "wrong.toml"
        wrong.write_text(
            BaseWorkspace({c.name: c.settings(wrong=True) for c in canaries}).to_toml()
        )
        wrong.chmod(0o600)
        database = root / "cdp.db"

        # A full sync of every account through the Python API.
        with Workspace.load(config) as workspace, Store(database) as store:
            report = store.sync(workspace)
            assert report.ok, [r.error for r in report.errors]
            seen.add("sync report", [repr(report), repr(workspace), repr(store)])
            seen.add("accounts", [repr(workspace.account(c.name)) for c in canaries])

        # The command line, quiet and with --debug, then data commands.
        cli = CommandLine(seen)
        cli("sync", "--config", config)
        cli("--debug", "sync", "--config", config)
        cli("connectors")
        cli("sims", "--config", config, "--limit", "0", data=True)
        cli("--debug", "sims", "--config", config, "--limit", "0", data=True)
        first = canaries[0].fleet.sorted_sims()[0]
        cli("sims", "--config", config, "--iccid", first.iccid, data=True)
        cli("events", "--config", config, "--limit", "0", data=True)
        cli("usage", "--config", config, data=True)
        export = root / "export"
        cli("export", "--config", config, "--out", export, "--format", "jsonl")
        cli("sims", "--config", wrong, "--live", expect=1)
        cli("--debug", "sims", "--config", wrong, "--live", expect=1)

        # A database that refuses a write during a sync (its message names a SIM).
        with Store(database) as store, store.engine.begin() as connection:
            refusal = f"refused SIM {first.iccid} of {written_forms(first.msisdn)[0]}"
            connection.execute(
                text(
                    "CREATE TRIGGER canary BEFORE INSERT ON tariffs "
                    f"BEGIN SELECT RAISE(ABORT, '{refusal}'); END"
                )
            )
        cli("sync", "--config", config, "--entity", "tariffs", expect=1)
        cli("--debug", "sync", "--config", config, "--entity", "tariffs", expect=1)
        # ... and one outside a sync: a store that lost a column.
        broken = root / "broken.db"
        shutil.copy(database, broken)
        with Store(broken) as store, store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE subscriptions DROP COLUMN msisdn"))
        for debug in ([], ["--debug"]):
            cli(*debug, "sims", "--db", broken, "--iccid", first.iccid, expect=1)

        # Every error path of every connector, through the Python API.
        for canary in canaries:
            for path, error in provoke(canary, seen):
                errors[f"{canary.name}: {path}"] = error

        secrets = {value for c in canaries for value in c.secrets.values()}
        secrets |= {f"Wrong{value}" for value in secrets}
        for canary in canaries:
            assert canary.emulator is not None
            secrets |= sent_secrets(canary.emulator)
            jasper_pair = ":".join([*canary.plain.values(), *canary.secrets.values()])
            secrets.add(base64.b64encode(jasper_pair.encode()).decode())
        identifiers = {identifier for c in canaries for identifier in c.identifiers()}
        yield Run(
            canaries,
            seen,
            capture,
            root,
            database,
            sorted(export.iterdir()),
            secrets,
            identifiers,
            errors,
        )


def _restore_environ(environ: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(environ)


def emulator_credentials(canary: Canary) -> dict[str, str]:
    """The emulator's credentials: its keyword arguments are named like the settings."""
    accepted = inspect.signature(canary.platform.emulator).parameters
    wanted = {**canary.plain, **canary.secrets}
    missing = sorted(set(canary.platform.credentials) - set(accepted))
    assert not missing, (
        f"{canary.name}: the emulator takes no keyword argument for the settings {missing}; "
        "emulators accept the credentials under the names of the settings"
    )
    return {key: value for key, value in wanted.items() if key in accepted}


class CommandLine:
    """``cdp`` in-process, its output recorded."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def __call__(self, *args: str | Path, data: bool = False, expect: int = 0) -> None:
        import contextlib
        import io

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(arg) for arg in args])
        where = "cdp " + " ".join(str(arg) for arg in args)
        assert code == expect, (where, out.getvalue(), err.getvalue())
        self.seen.add(f"{where} (stdout)", [out.getvalue()], data=data)
        self.seen.add(f"{where} (stderr)", [err.getvalue()])


def provoke(canary: Canary, seen: Seen) -> Iterator[tuple[str, type[BaseException]]]:
    """Each error path of ``canary``'s connector: its name and the error raised."""
    emulator = canary.emulator
    assert emulator is not None
    resolved = {
        **{k: v for k, v in canary.settings().items() if k != "connector"},
        **canary.secrets,
    }
    sim = canary.fleet.sorted_sims()[0]
    unknown = sim.iccid[:-3] + "99" + sim.iccid[-1]

    conflicts = [Fault(status=409, method=method) for method in ("POST", "PUT", "PATCH")]

    def wrong_secret(connector: cdp_sdk.Connector) -> None:
        list(connector.subscriptions())

    paths: list[tuple[str, list[Fault], Callable[[cdp_sdk.Connector], Any], dict[str, str]]] = [
        ("authentication", [], wrong_secret, {k: f"Wrong{v}" for k, v in canary.secrets.items()}),
        ("not found", [], lambda c: c.subscription(unknown), {}),
        ("conflict", conflicts, lambda c: c.change_status(sim.iccid, "suspended"), {}),
        ("not json", [Fault(kind="malformed", times=5)], lambda c: list(c.subscriptions()), {}),
        ("5xx", [Fault(status=503, times=5)], lambda c: list(c.subscriptions()), {}),
        ("429", [Fault(status=429, times=5, retry_after=0)], lambda c: list(c.subscriptions()), {}),
        ("timeout", [Fault(kind="timeout", times=5)], lambda c: list(c.subscriptions()), {}),
        ("dropped", [Fault(kind="drop", times=5)], lambda c: list(c.subscriptions()), {}),
        ("check, dropped", [Fault(kind="drop", times=5)], lambda c: c.check(), {}),
        ("check, timeout", [Fault(kind="timeout", times=5)], lambda c: c.check(), {}),
    ]  # fmt: skip
    for path, faults, call, overrides in paths:
        emulator.faults = list(faults)
        settings = {**resolved, **overrides, "timeout": 0.5 if "timeout" in path else 2.0}
        with cdp_sdk.connect(canary.name, **settings) as connector:
            seen.add(f"{canary.name} {path}: connector", [repr(connector)])

            async def no_wait(seconds: float) -> None:
                return None

            connector.plugin.http.sleep = no_wait
            try:
                call(connector)
            except Exception as error:
                seen.add(f"{canary.name} {path}: exception", exception_texts(error))
                yield path, type(error)
            else:
                yield path, type(None)
        emulator.faults = []


# -- the checks ---------------------------------------------------------------------------------


def test_every_built_in_connector_is_in_the_canary() -> None:
    """A new built-in connector joins the canary (and the crash test) by being listed in
    PLATFORMS with its emulator; this fails until it is."""
    built_in = {info.name for info in available_connectors() if info.distribution == "cdp-iot-sdk"}
    assert built_in == {p.connector for p in PLATFORMS}


def _digits_joined(text: str) -> str:
    return re.sub(r"(?<=\d)[ .\-/()+]+(?=\d)", "", text)


def leaks(text: str, values: Iterable[str]) -> list[str]:
    joined = _digits_joined(text)
    return sorted(v for v in values if v in text or (v.isdigit() and v in joined))


def test_no_secret_anywhere(run: Run) -> None:
    assert len(run.secrets) > 2 * len(run.canaries)  # canaries, and what was sent
    places = [*run.seen.private, *run.seen.data, ("log", "\n".join(run.capture.lines))]
    for where, found in places:
        assert not leaks(found, run.secrets), where
    for path in sorted(run.root.rglob("*")):
        if path.is_file():
            content = path.read_bytes().decode("latin-1")
            assert not [s for s in run.secrets if s in content], path
    with Store(run.database) as store:
        for table in schema.tables.values():
            text_ = repr(store.rows(table))
            assert not [s for s in run.secrets if s in text_], table.name


def test_no_identifier_outside_data_tables_and_data_output(run: Run) -> None:
    for where, found in run.seen.private:
        assert not leaks(found, run.identifiers), where
    log = "\n".join(run.capture.lines)
    assert not leaks(log, run.identifiers), [
        line for line in run.capture.lines if leaks(line, run.identifiers)
    ][:3]
    with Store(run.database) as store:
        for table in schema.tables.values():
            if table.name not in DATA_TABLES:
                assert not leaks(repr(store.rows(table)), run.identifiers), table.name
    store_files = {run.database.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    store_files |= {"broken.db" + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    for path in sorted(run.root.rglob("*")):
        if path.is_file() and path.name not in store_files and path not in run.exports:
            content = path.read_bytes().decode("latin-1")
            assert not leaks(content, run.identifiers), path


def test_the_canaries_did_reach_every_place_checked(run: Run) -> None:
    """The checks above looked at real traffic, logs, errors and data, not at nothing."""
    log = "\n".join(run.capture.lines)
    for name in ("httpx", "httpcore.http11", "httpcore.connection", "cdp_sdk"):
        assert name in run.capture.names, name
    assert any(name.startswith("sqlalchemy.engine") for name in run.capture.names)
    assert "<id:" in log  # identifiers were there, and redacted
    assert "x-echo" in log.lower()  # the echoing header was logged (redacted)
    data = "\n".join(found for _, found in run.seen.data)
    with Store(run.database) as store:
        stored = {row["iccid"] for row in store.rows("subscriptions")}
        kinds = {
            kind: {row[kind] for row in store.rows("subscriptions") if row[kind]}
            for kind in ("imsi", "msisdn", "imei", "eid")
        }
    for canary in run.canaries:
        iccids = {sim.iccid for sim in canary.fleet.sims.values()}
        assert iccids & stored, canary.name
        assert iccids & set(re.findall(r"\d{18,22}", data)), canary.name  # cdp sims shows them
    assert all(kinds.values()), kinds  # every identifier kind went through the sync
    export = "\n".join(path.read_text() for path in run.exports)
    assert stored & set(re.findall(r"\d{18,22}", export))


@pytest.mark.parametrize("canary", [p.connector for p in PLATFORMS])
def test_every_error_path_raised_a_typed_error(run: Run, canary: str) -> None:
    raised = {
        path.split(": ", 1)[1]: error
        for path, error in run.errors.items()
        if path.startswith(f"{canary}: ")
    }
    assert set(raised) == {
        "authentication", "not found", "conflict", "not json", "5xx", "429", "timeout",
        "dropped", "check, dropped", "check, timeout",
    }  # fmt: skip
    for path, error in raised.items():
        assert issubclass(error, CdpError), (path, error)
    assert raised["authentication"].__name__ == "AuthenticationError"
    assert raised["not found"].__name__ == "NotFoundError"
    assert raised["5xx"].__name__ == "TransientError"
