"""The ``cdp`` commands (typer): each one reads its options, calls the library, prints.

Errors are one line on standard error, ``error: <what went wrong>``, with exit status 1
(2 for a command line that cannot be parsed, 130 when interrupted by Ctrl-C, 143 by
SIGTERM); ``cdp --debug <command>`` also prints the traceback and turns on the library's
debug log. Everything written to standard error is redacted, traceback included: no
secret and no identifier; an unexpected error (a database's, say) is one line naming its
kind and first line, with a hint to rerun with ``--debug``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import signal
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar, cast

import typer

from cdp_sdk import Capability, CdpError, __version__, available_connectors
from cdp_sdk._redact import RedactingFilter, redact_text
from cdp_sdk.cli import _render as render
from cdp_sdk.cli._export import ExportFormat
from cdp_sdk.cli._output import (
    QUIET,
    SHOW_PROGRESS,
    FormatOption,
    OutputFormat,
    emit,
    record,
    status,
    table_limit,
)
from cdp_sdk.errors import ConfigurationError
from cdp_sdk.models import AuditKind, SimStatus, normalize_iccid

if TYPE_CHECKING:
    from cdp_sdk.cli._sync import SyncPlan
    from cdp_sdk.sync import Store, SyncEvent
    from cdp_sdk.workspace import BaseWorkspace, Workspace

__all__ = ["CommandError", "app", "main"]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_CONFIG = Path("cdp.toml")
DEFAULT_DATABASE = "cdp.db"

# Exit statuses (docs/workspace.md): 0 done; 1 the run failed (an error, a failed entity,
# a refused change); 2 the command line or an input file (workspace, CSV, plan) cannot be
# used, and nothing was called; 130 interrupted (Ctrl-C).
OK, FAILED, USAGE_ERROR, INTERRUPTED = 0, 1, 2, 130


class CommandError(Exception):
    """A command failed for a reason already explained: printed as ``error: <message>``."""


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM: unwound like Ctrl-C (runs marked interrupted), status 143."""


TERMINATED = 143  # SIGTERM, unwound like Ctrl-C


class Emulated(StrEnum):
    """The built-in connectors with an emulator (:data:`cdp_sdk.cli._platforms.PLATFORMS`)."""

    SANDBOX = "sandbox"
    JASPER = "jasper"
    EMNIFY = "emnify"
    ONENCE = "1nce"
    SORACOM = "soracom"
    SUPERSIM = "supersim"
    HOLOGRAM = "hologram"
    THINGSPACE = "thingspace"


class SyncOn(StrEnum):
    """Where ``cdp sync`` runs the sync."""

    LOCAL = "local"
    CELERY = "celery"


class TagSource(StrEnum):
    PLATFORM = "platform"
    LOCAL = "local"


def _typer_error(name: str) -> type[Exception]:
    """An exception class of the command-line framework, found by name: older typer
    raises click's exceptions, newer typer those of its own vendored copy of click."""
    for klass in typer.BadParameter.__mro__:
        if klass.__name__ == name and issubclass(klass, Exception):
            return klass
    raise ImportError(f"typer has no {name}")  # pragma: no cover


_USAGE_ERROR = _typer_error("ClickException")
_DEBUG: contextvars.ContextVar[bool] = contextvars.ContextVar("cdp_debug", default=False)


app = typer.Typer(
    name="cdp",
    help="One normalized API over IoT SIM connectivity platforms: sync, query, export.",
    epilog="Data goes to standard output, status and progress to standard error. Exit "
    "status: 0 done, 1 the run failed, 2 a command line or input file that cannot be used "
    "(nothing was called), 130 interrupted.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
tags_app = typer.Typer(help="Local tags: import from CSV, push to the platforms, list.")
sandbox_app = typer.Typer(help="Emulated platforms for trying things out.")
app.add_typer(tags_app, name="tags", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox", no_args_is_help=True)


# -- errors, warnings and --debug ------------------------------------------------------------


_EXPLAINED = (CdpError, CommandError, ValueError, OSError, ImportError)
"""Errors whose message explains itself; any other is unexpected (see :func:`_describe`)."""


def _describe(error: BaseException) -> str:
    """One redacted line: the message of an error that explains itself, else the kind of
    the unexpected error, its first line (of a database error: what the database said,
    never the statement or its values) and a hint to rerun with ``--debug``."""
    if isinstance(error, _EXPLAINED):
        message = str(error) or type(error).__name__
    else:
        origin = getattr(error, "orig", None) or error
        first = next(iter(str(origin).strip().splitlines()), "")
        message = f"unexpected {type(error).__name__}: {first}".rstrip(": ")
        if not _DEBUG.get():
            message += " (rerun with --debug for the traceback)"
    return redact_text(" ".join(message.split()))  # one line, whatever the message holds


def _print_traceback(error: BaseException) -> None:
    """The traceback of ``error`` on standard error, redacted like the debug log."""
    text = "".join(traceback.format_exception(error))
    sys.stderr.write(redact_text(text))
    sys.stderr.flush()


def _interrupted(error: KeyboardInterrupt, hint: str = "") -> typer.Exit:
    """Say that the command was interrupted; the exit to raise (130, or 143 on SIGTERM)."""
    terminated = isinstance(error, Terminated)
    render.console(stderr=True).print(
        f"{'terminated' if terminated else 'interrupted'}{hint}", markup=False
    )
    return typer.Exit(TERMINATED if terminated else INTERRUPTED)


@contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGTERM unwinds the command as Ctrl-C does (so a sync marks
    its run interrupted) instead of killing the process outright."""

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave the signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warn(caught: Sequence[warnings.WarningMessage]) -> None:
    err = render.console(stderr=True)
    for warning in caught:
        err.print(f"warning: {warning.message}", markup=False, soft_wrap=True)


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _handled(command: Callable[P, R]) -> Callable[P, R]:
    """Turn any error of ``command`` into one ``error:`` line and exit status 1, and show
    the warnings it raised as ``warning:`` lines (before the error, if any)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                return command(*args, **kwargs)
            except (typer.Exit, typer.Abort, _USAGE_ERROR):
                raise
            except BrokenPipeError:  # `cdp ... | head`: the reader has gone, stop quietly
                _silence_stdout()
                raise typer.Exit(1) from None
            except KeyboardInterrupt as error:
                _warn(caught)
                caught.clear()
                raise _interrupted(error) from None
            except Exception as error:
                if _DEBUG.get():
                    _print_traceback(error)
                _warn(caught)
                caught.clear()
                render.console(stderr=True).print(
                    f"error: {_describe(error)}", markup=False, soft_wrap=True
                )
                raise typer.Exit(1) from None
            finally:
                _warn(caught)

    return run


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cdp-sdk {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    context: typer.Context,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="On errors, print the traceback; log the library's calls."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No status lines or progress bars (errors still show)."),
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
) -> None:
    """One normalized API over IoT SIM connectivity platforms: sync, query, export."""
    _DEBUG.set(debug)
    QUIET.set(quiet)
    SHOW_PROGRESS.set(not (quiet or no_progress))
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RedactingFilter())  # identifiers and secrets stay out of logs
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("cdp_sdk")
        previous = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)

        def restore() -> None:
            logger.removeHandler(handler)
            logger.setLevel(previous)

        context.call_on_close(restore)


# -- shared options ----------------------------------------------------------------------------

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="CDP_CONFIG",
        metavar="FILE",
        help="The workspace file.",
        show_default=True,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="CDP_DB",
        metavar="PATH|URL",
        help="The store: a SQLite file or a database URL (default: the workspace file's "
        "'database', else cdp.db).",
    ),
]
AccountsOption = Annotated[
    list[str] | None,
    typer.Option("--account", "-a", metavar="NAME", help="Only this account (repeatable)."),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        "-n",
        min=0,
        metavar="N",
        help="Rows to show (0: all; default: 20 in a table, all in json, jsonl and csv).",
    ),
]
SinceOption = Annotated[
    datetime | None,
    typer.Option(
        "--since", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="From this day (UTC)."
    ),
]
UntilOption = Annotated[
    datetime | None,
    typer.Option(
        "--until",
        formats=["%Y-%m-%d"],
        metavar="YYYY-MM-DD",
        help="Up to this day, excluded (UTC).",
    ),
]
LiveOption = Annotated[
    bool,
    typer.Option(
        "--live", help="Read the platforms of the workspace file (--config), not the store."
    ),
]


def _utc(day: datetime | None) -> datetime | None:
    return day.replace(tzinfo=UTC) if day is not None else None


def _iccid(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_iccid(value)
    except (TypeError, ValueError):
        raise typer.BadParameter(
            "not a valid ICCID (18 to 22 digits)", param_hint="--iccid"
        ) from None


IccidOption = Annotated[
    str | None, typer.Option("--iccid", metavar="ICCID", help="Only this SIM.", callback=_iccid)
]


def _database(db: str | None, config: Path) -> str:
    """``--db``, else the workspace file's ``database`` (a relative path is read from the
    file's directory), else ``cdp.db``."""
    if db:
        return db
    if config.is_file():
        from cdp_sdk.workspace import BaseWorkspace

        database = BaseWorkspace.load(config).database
        if database is not None:
            if "://" in database or Path(database).expanduser().is_absolute():
                return database
            return str(config.parent / database)
    return DEFAULT_DATABASE


def _shown(store: Store) -> str:
    url = store.url
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


@contextmanager
def _existing_store(db: str | None, config: Path) -> Iterator[Store]:
    """The store to read; an error when a SQLite file does not exist yet."""
    target = _database(db, config)
    if "://" not in target and not Path(target).expanduser().exists():
        raise typer.BadParameter(
            f"no store at {target}: run `cdp sync` (or `cdp demo`) first, or pass --db",
            param_hint="--db",
        )
    from cdp_sdk.sync import Store

    with Store(target) as store:
        yield store


def _workspace(config: Path) -> Workspace:
    from cdp_sdk.workspace import Workspace

    if not config.exists():
        raise typer.BadParameter(
            f"no workspace file {config}: pass --config, write one with `cdp init`, or run "
            "`cdp demo` to see one",
            param_hint="--config",
        )
    try:
        return Workspace.load(config)
    except ConfigurationError as error:  # the file cannot be used: nothing was called
        raise typer.BadParameter(error.message, param_hint="--config") from None


def _footer(shown: int, total: int, what: str, *, live: bool = False) -> str:
    source = "on the platforms" if live else "in the store"
    if shown >= total:
        return f"{render.number(total)} {what} {source}"
    return f"{render.number(shown)} of {render.number(total)} {what} {source} (--limit 0 shows all)"


def _range(since: datetime | None, until: datetime | None) -> None:
    """``--since`` after (or on) ``--until`` is a usage error: the range ``[since, until)``
    would be empty."""
    if since is not None and until is not None and since >= until:
        raise typer.BadParameter(
            f"{since:%Y-%m-%d} is not before --until {until:%Y-%m-%d} "
            "(the range is [--since, --until))",
            param_hint="--since",
        )


def _unknown_account(name: str, known: Iterable[str], where: str) -> typer.BadParameter:
    listed = ", ".join(sorted(set(known))) or "none"
    return typer.BadParameter(
        f"unknown account {name!r} ({where}: {listed})", param_hint="--account"
    )


def _workspace_accounts(workspace: BaseWorkspace, accounts: Iterable[str] | None) -> None:
    """Every ``--account`` names an account of the workspace (else a usage error)."""
    for name in accounts or ():
        if name not in workspace.accounts:
            raise _unknown_account(name, workspace.accounts, "accounts of the workspace")


def _store_accounts(store: Store, config: Path, accounts: Iterable[str] | None) -> None:
    """Every ``--account`` names an account of the store or of the workspace file (else a
    usage error): an unknown name would match nothing and look like no data."""
    wanted = [name for name in accounts or () if name]
    if not wanted:
        return
    known = set(store.accounts())
    if config.is_file():
        from cdp_sdk.workspace import BaseWorkspace

        with contextlib.suppress(CdpError):
            known |= set(BaseWorkspace.load(config).accounts)
    for name in wanted:
        if name not in known:
            raise _unknown_account(name, known, "accounts of the store and workspace")


# -- connectors -------------------------------------------------------------------------------

CONNECTOR_KEYS = ("name", "title", "distribution", "version", "capabilities")


@app.command()
@_handled
def connectors(
    fmt: FormatOption = OutputFormat.TABLE,
    as_json: Annotated[
        bool, typer.Option("--json", hidden=True, help="Same as --format json.")
    ] = False,
) -> None:
    """List the installed connectors and what each can do."""
    infos = available_connectors()  # load failures are warnings, shown on stderr
    fmt = OutputFormat.JSON if as_json else fmt
    if fmt is not OutputFormat.TABLE:
        order = [c.value for c in Capability]
        emit(
            (
                {
                    **record(json.loads(info.model_dump_json()), CONNECTOR_KEYS[:-1]),
                    "capabilities": sorted((c.value for c in info.capabilities), key=order.index),
                }
                for info in infos
            ),
            CONNECTOR_KEYS,
            fmt,
        )
        return
    out = render.console()
    if not infos:
        status("No connectors installed (entry-point group cdp_sdk.connectors).")
        return
    with out:  # one write: `cdp connectors | grep -q ...` never meets a closed pipe midway
        out.print(render.connectors_table(infos, [c.value for c in Capability]))
        out.print()
        width = max(len(info.name) for info in infos)
        for info in infos:
            origin = f" ({info.distribution} {info.version})" if info.distribution else ""
            out.print(f"{info.name:<{width}}  {info.title}{origin}", markup=False)


# -- sync -------------------------------------------------------------------------------------


def _refuse_problems(
    workspace: BaseWorkspace, config: Path, accounts: Iterable[str] | None = None
) -> None:
    """Print every problem of the workspace once (``error: ...``) and exit with status 2,
    before anything is called or written; nothing when there is none."""
    problems = workspace.problems(accounts)
    if not problems:
        return
    err = render.console(stderr=True)
    for problem in problems:
        err.print(f"error: {config}: {problem}", markup=False, soft_wrap=True)
    raise typer.Exit(USAGE_ERROR)


@contextmanager
def _progress(plan: SyncPlan) -> Iterator[Callable[[SyncEvent], None] | None]:
    """Progress bars of a sync on standard error when it is a terminal, unless
    --no-progress or --quiet."""
    err = render.console(stderr=True)
    if not SHOW_PROGRESS.get() or QUIET.get() or not err.is_terminal:
        yield None
        return
    with render.SyncProgress(err, plan) as progress:
        yield progress


@app.command()
@_handled
def sync(
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
    account: AccountsOption = None,
    entity: Annotated[
        list[str] | None,
        typer.Option(
            "--entity",
            "-e",
            metavar="ENTITY",
            help="Only this entity (repeatable): subscriptions, activation_modes, tariffs, "
            "usage, invoices, audit_events.",
        ),
    ] = None,
    history_days: Annotated[
        int | None,
        typer.Option("--history-days", min=1, help="How far back a first sync reads (default 90)."),
    ] = None,
    on: Annotated[
        SyncOn,
        typer.Option(
            "--on",
            help="Where the sync runs: here, or on the Celery workers of the workspace "
            "file's [celery] table (the celery extra), one task per account.",
        ),
    ] = SyncOn.LOCAL,
) -> None:
    """Mirror the workspace's accounts into the store; incremental after the first run.

    The workspace is checked first (as `cdp check` does): with a problem, nothing is
    synced and no store is created.
    """
    from cdp_sdk.cli._sync import celery_app, entities_of, plan_sync, run_on_celery, run_sync
    from cdp_sdk.sync import Store, SyncOptions

    try:
        entities = entities_of(entity)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--entity") from None
    options = SyncOptions(history=timedelta(days=history_days)) if history_days else None
    out = render.console()
    started = time.perf_counter()
    failed: dict[str, str] = {}
    try:
        with _terminate_like_ctrl_c(), _workspace(config) as workspace:
            _workspace_accounts(workspace, account)
            _refuse_problems(workspace, config, account)
            app = celery_app(config) if on is SyncOn.CELERY else None
            with Store(_database(db, config)) as store:
                plan = plan_sync(workspace, accounts=account, entities=entities, options=options)
                for run in store.mark_interrupted():
                    status(
                        f"Run {run.run_id}, started {run.started_at:%Y-%m-%d %H:%M} UTC, did "
                        "not finish: marked interrupted; this sync resumes where it stopped."
                    )
                where = " on Celery workers" if on is SyncOn.CELERY else ""
                status(
                    f"Syncing {len(plan.accounts)} account(s) of {config}{where} "
                    f"into {_shown(store)}"
                )
                if app is not None:
                    reports, failed = run_on_celery(
                        app, store, plan, history_days=history_days, notify=status
                    )
                else:
                    with _progress(plan) as progress:
                        reports = run_sync(store, workspace, plan, progress=progress)
            out.print(render.sync_table(reports, plan.left_out))
    except KeyboardInterrupt as error:  # the store, closing, marked the run interrupted
        raise _interrupted(error, "; rerun to resume") from None
    for name, why in sorted(failed.items()):
        render.console(stderr=True).print(
            f"{name}: the task failed on the worker: {why}", markup=False
        )
    results = [result for report in reports for result in report.results]
    errors = [result for result in results if result.status == "error"]
    runs = ", ".join(str(report.run_id) for report in reports)
    status(
        f"{render.number(sum(r.records for r in results))} records written in "
        f"{time.perf_counter() - started:.1f} s (run {runs})"
    )
    if failed:
        raise CommandError(f"the tasks of {len(failed)} account(s) failed on the workers")
    if errors:
        attempted = sum(1 for r in results if r.status != "skipped")
        raise CommandError(
            f"{len(errors)} of {attempted} entities failed to sync (see the table above)"
        )


# -- reading the store --------------------------------------------------------------------------

SIM_KEYS = ("account", "iccid", "status", "status_raw", "tariff", "msisdn", "updated_at")
STATUS_COUNT_KEYS = ("account", "connector", "status", "count")
USAGE_KEYS = (
    "account",
    "connector",
    "bearer",
    "unit",
    "quantity",
    "records",
    "first_start",
    "granularities",
    "level",
)
INVOICE_KEYS = (
    "account",
    "id",
    "period_start",
    "period_end",
    "issued_at",
    "due_at",
    "currency",
    "total",
    "status",
)
EVENT_KEYS = (
    "account",
    "occurred_at",
    "iccid",
    "kind",
    "field",
    "old_value",
    "new_value",
    "old_status",
    "new_status",
    "actor",
    "description",
)


def _skipped(skipped: dict[str, str]) -> None:
    err = render.console(stderr=True)
    for name, why in sorted(skipped.items()):
        err.print(f"warning: account {name!r} left out: {why}", markup=False)


@app.command()
@_handled
def sims(
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
    account: AccountsOption = None,
    status_: Annotated[
        list[SimStatus] | None,
        typer.Option("--status", "-s", help="Only SIMs in this status (repeatable)."),
    ] = None,
    iccid: IccidOption = None,
    by_status: Annotated[
        bool, typer.Option("--by-status", help="Count SIMs per account and status instead.")
    ] = False,
    limit: LimitOption = None,
    live: LiveOption = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """SIMs, most recently changed first (from the store, or --live)."""
    from cdp_sdk.cli._rows import StatusCount

    statuses = [s.value for s in status_] if status_ and not by_status else None
    shown = table_limit(limit, fmt)
    if live:
        from cdp_sdk.cli._live import live_sims

        with _workspace(config) as workspace:
            _workspace_accounts(workspace, account)
            found = live_sims(
                workspace,
                accounts=account,
                statuses=statuses,
                iccid=iccid,
                limit=None if by_status else shown,
            )
            connectors = {name: workspace.account(name).connector for name in workspace.names}
        if by_status:
            counted = Counter((row.account, row.status) for row in found.rows)
            counts = [StatusCount(a, connectors[a], s, n) for (a, s), n in counted.items()]
            counts.sort(key=lambda c: (c.account, c.status))
            _print_status_counts(counts, fmt)
            return
        rows, total = found.rows, found.total
    else:
        from cdp_sdk.cli._queries import list_sims, sims_by_status

        with _existing_store(db, config) as store:
            _store_accounts(store, config, account)
            if by_status:
                _print_status_counts(sims_by_status(store, accounts=account), fmt)
                return
            page = list_sims(store, accounts=account, statuses=statuses, iccid=iccid, limit=shown)
        rows, total = page.rows, page.total
    if fmt is OutputFormat.TABLE:
        render.console().print(render.sims_table(rows))
    else:
        emit((record(row, SIM_KEYS) for row in rows), SIM_KEYS, fmt)
    status(_footer(len(rows), total, "SIMs", live=live))


def _print_status_counts(counts: Sequence[Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.TABLE:
        render.console().print(render.status_table(counts))
    else:
        emit((record(count, STATUS_COUNT_KEYS) for count in counts), STATUS_COUNT_KEYS, fmt)


@app.command()
@_handled
def usage(
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
    account: AccountsOption = None,
    iccid: IccidOption = None,
    days: Annotated[
        int, typer.Option("--days", min=1, help="The last N days (UTC).", show_default=True)
    ] = 30,
    since: SinceOption = None,
    until: UntilOption = None,
    live: LiveOption = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Data, SMS and voice usage per account (from the store, or --live)."""
    _range(since, until)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = _utc(since) or midnight - timedelta(days=days)
    end = _utc(until)
    if end is not None and start >= end:  # --until alone, before the default --days range
        raise typer.BadParameter(
            f"{end:%Y-%m-%d} is not after the start {start:%Y-%m-%d} (--days {days}); pass --since",
            param_hint="--until",
        )
    if live:
        from cdp_sdk.cli._live import live_usage

        with _workspace(config) as workspace:
            _workspace_accounts(workspace, account)
            found = live_usage(workspace, start=start, end=end, accounts=account, iccid=iccid)
        totals = found.rows
        _skipped(found.skipped)
    else:
        from cdp_sdk.cli._queries import usage_totals

        with _existing_store(db, config) as store:
            _store_accounts(store, config, account)
            totals = usage_totals(store, start=start, end=end, accounts=account, iccid=iccid)
    if fmt is not OutputFormat.TABLE:
        emit((record(total, USAGE_KEYS) for total in totals), USAGE_KEYS, fmt)
        return
    period = f"from {start:%Y-%m-%d}" + (f" to {end:%Y-%m-%d}" if end else "")
    where = "on the platforms" if live else "in the store"
    if not totals:
        status(f"No usage {where} {period}.")
        return
    render.console().print(render.usage_table(totals, title=f"Usage {period} (UTC)"))
    status(
        "Records are counted whole: a platform reporting by billing cycle contributes the "
        "cycles that start in the period ('from' says since when).",
        style="dim",
    )


@app.command()
@_handled
def invoices(
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
    account: AccountsOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = None,
    live: LiveOption = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Invoices, latest period first, with totals per account (from the store, or --live)."""
    from cdp_sdk.cli._rows import total_invoices

    _range(since, until)
    start = since.date() if since else None
    end = until.date() if until else None
    shown = table_limit(limit, fmt)
    if live:
        from cdp_sdk.cli._live import live_invoices

        with _workspace(config) as workspace:
            _workspace_accounts(workspace, account)
            found = live_invoices(workspace, accounts=account, start=start, end=end)
        rows, total = found.rows[:shown] if shown else found.rows, found.total
        totals = total_invoices(found.rows)
    else:
        from cdp_sdk.cli._queries import invoice_totals, list_invoices

        with _existing_store(db, config) as store:
            _store_accounts(store, config, account)
            page = list_invoices(store, accounts=account, start=start, end=end, limit=shown)
            totals = invoice_totals(store, accounts=account, start=start, end=end)
        rows, total = page.rows, page.total
    if fmt is not OutputFormat.TABLE:
        emit((record(row, INVOICE_KEYS) for row in rows), INVOICE_KEYS, fmt)
        status(_footer(len(rows), total, "invoices", live=live))
        return
    out = render.console()
    out.print(render.invoices_table(rows))
    status(_footer(len(rows), total, "invoices", live=live))
    if totals:
        out.print(render.invoice_totals_table(totals, title="Totals"))


@app.command()
@_handled
def events(
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
    account: AccountsOption = None,
    iccid: IccidOption = None,
    kind: Annotated[
        list[AuditKind] | None,
        typer.Option("--kind", "-k", help="Only events of this kind (repeatable)."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = None,
    live: LiveOption = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Audit events, newest first (from the store, or --live); a status change shows the
    normalized statuses, with the platform's own names beside them."""
    _range(since, until)
    kinds = [k.value for k in kind] if kind else None
    shown = table_limit(limit, fmt)
    if live:
        from cdp_sdk.cli._live import live_events

        with _workspace(config) as workspace:
            _workspace_accounts(workspace, account)
            found = live_events(
                workspace,
                accounts=account,
                iccid=iccid,
                kinds=kinds,
                start=_utc(since),
                end=_utc(until),
                limit=shown,
            )
        rows, total = found.rows, found.total
        _skipped(found.skipped)
    else:
        from cdp_sdk.cli._queries import latest_events

        with _existing_store(db, config) as store:
            _store_accounts(store, config, account)
            page = latest_events(
                store,
                accounts=account,
                iccid=iccid,
                kinds=kinds,
                start=_utc(since),
                end=_utc(until),
                limit=shown,
            )
        rows, total = page.rows, page.total
    if fmt is OutputFormat.TABLE:
        render.console().print(render.events_table(rows))
    else:
        emit((record(row, EVENT_KEYS) for row in rows), EVENT_KEYS, fmt)
    status(_footer(len(rows), total, "events", live=live))


# -- export -------------------------------------------------------------------------------------


@app.command()
@_handled
def export(
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="File format (parquet needs the frames extra).",
            show_default=True,
        ),
    ] = ExportFormat.CSV,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", "-t", help="Only this table (repeatable; default: all)."),
    ] = None,
    out_path: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="A directory (one <table>.<format> file per table); for one table, a file "
            "name ending in .<format>, or - for standard output (csv, jsonl).",
            show_default=True,
        ),
    ] = "cdp-export",
    account: Annotated[
        str | None,
        typer.Option("--account", "-a", help="Only this account's rows (where a table has them)."),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """Export store tables as CSV, JSON Lines or Parquet."""
    from cdp_sdk.cli._export import export_tables, write_table
    from cdp_sdk.sync import schema

    form = ExportFormat(fmt)
    tables = list(table) if table else list(schema.tables)
    with _existing_store(db, config) as store:
        _store_accounts(store, config, [account] if account else None)
        if out_path == "-":
            if len(tables) != 1:
                raise CommandError("--out - writes one table: pass --table")
            write_table(store, tables[0], sys.stdout, form, account=account)
            return
        written = export_tables(store, tables, form, Path(out_path), account=account)
    out = render.console()
    for item in written:
        out.print(f"{render.number(item.rows):>9} rows  {item.path}", markup=False)


# -- tags ---------------------------------------------------------------------------------------


@tags_app.command("import")
@_handled
def tags_import(
    file: Annotated[Path, typer.Argument(help="A CSV file with the header iccid,key,value.")],
    push: Annotated[
        bool, typer.Option("--push", help="Then push local tags to the platforms.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show what a push would change on the platforms; call none."
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="The file is the complete set of local tags (drop the others)."
        ),
    ] = False,
    account: AccountsOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """Import local tags from CSV into the store; optionally push them to the platforms."""
    out = render.console()
    with _existing_store(db, config) as store:
        imported = store.import_tags(file, replace=replace)
        out.print(
            f"Imported {render.number(imported.rows)} row(s) from {file}: "
            f"{imported.added} added, {imported.updated} updated, "
            f"{imported.unchanged} unchanged, {imported.removed} removed",
            markup=False,
        )
        if not (push or dry_run):
            return
        with _workspace(config) as workspace:
            _workspace_accounts(workspace, account)
            plan = store.plan_tag_push(workspace, accounts=account)
            out.print(render.tag_plan_table(plan))
            for name, why in sorted(plan.skipped.items()):
                out.print(f"not pushed to {name}: {why}", markup=False)
            for change, why in plan.refused:
                out.print(f"refused: {change.account} {change.iccid}: {why}", markup=False)
            if dry_run:
                refused = f", {len(plan.refused)} would be refused" if plan.refused else ""
                out.print(
                    f"Dry run: {len(plan)} SIM(s) would change{refused}; no platform was called.",
                    markup=False,
                )
                if plan.refused:
                    raise CommandError(
                        f"the platforms would refuse the tags of {len(plan.refused)} SIM(s)"
                    )
                return
            report = store.push_tags(workspace, plan)
    out.print(f"Pushed the tags of {len(report.pushed)} SIM(s).", markup=False)
    for change, error in report.failed:
        out.print(f"failed: {change.account} {change.iccid}: {error}", markup=False)
    if report.failed or plan.refused:
        not_pushed = len(report.failed) + len(plan.refused)
        raise CommandError(f"the tags of {not_pushed} SIM(s) could not be pushed")


@tags_app.command("list")
@_handled
def tags_list(
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Only this account.")
    ] = None,
    iccid: IccidOption = None,
    source: Annotated[
        TagSource | None, typer.Option("--source", help="Only the tags of this source.")
    ] = None,
    limit: LimitOption = 20,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """Platform and local tags side by side."""
    with _existing_store(db, config) as store:
        _store_accounts(store, config, [account] if account else None)
        found = [
            tag
            for tag in store.tags(account=account, iccid=iccid)
            if source is None or tag.source == source
        ]
    shown = found[:limit] if limit else found
    render.console().print(render.tags_table(shown))
    status(_footer(len(shown), len(found), "tags"))


# -- purge --------------------------------------------------------------------------------------


@app.command()
@_handled
def purge(
    account: Annotated[str, typer.Option("--account", "-a", help="The account to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """Delete everything the store holds about one account, in one transaction."""
    out = render.console()
    with _existing_store(db, config) as store:
        known = store.accounts()
        if account not in known:
            listed = ", ".join(known) or "none"
            raise typer.BadParameter(
                f"the store holds nothing for account {account!r} (accounts: {listed})",
                param_hint="--account",
            )
        if not yes and not typer.confirm(
            f"Delete every row of account {account!r} from {_shown(store)}?"
        ):
            raise CommandError("nothing deleted")
        report = store.purge_account(account)
    out.print(
        f"Deleted {render.number(report.total)} row(s) of account {account!r}: "
        + ", ".join(f"{table} {count}" for table, count in report.deleted.items() if count),
        markup=False,
    )


# -- sandbox serve ------------------------------------------------------------------------------


def _until_interrupted(url: str) -> None:
    """Block until Ctrl-C."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


WAIT: Callable[[str], None] = _until_interrupted
"""What ``cdp sandbox serve`` does while the emulator serves (tests replace it)."""


@sandbox_app.command("serve")
@_handled
def sandbox_serve(
    name: Annotated[Emulated, typer.Argument(help="The platform to emulate.")] = Emulated.SANDBOX,
    port: Annotated[
        int,
        typer.Option("--port", "-p", min=0, max=65535, help="Loopback port (0: any free one)."),
    ] = 8080,
    size: Annotated[int, typer.Option("--size", min=0, help="SIMs in the fleet.")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fleet.")] = 42,
    today: Annotated[
        datetime | None,
        typer.Option("--today", formats=["%Y-%m-%d"], help="The fleet's today (default: today)."),
    ] = None,
) -> None:
    """Serve a built-in platform's emulator on 127.0.0.1 until Ctrl-C."""
    from cdp_sdk.cli._platforms import platform, serve

    chosen = platform(name.value)
    day = today.date() if today else datetime.now(UTC).date()
    emulator = chosen.start(chosen.fleet(size, seed=seed, today=day))
    out = render.console()
    with serve(emulator, "127.0.0.1", port) as server:
        settings = chosen.settings(server.url)
        out.print(
            f"{name} emulator on {server.url} ({size} synthetic SIMs, seed {seed}, today "
            f"{day}); Ctrl-C stops it.",
            markup=False,
        )
        out.print("A cdp.toml account that reaches it (with the emulator's test credentials):")
        out.print(f"  [accounts.local-{name.value}]", markup=False)
        out.print(f"  connector = {json.dumps(name.value)}", markup=False)
        for key, value in settings.items():
            out.print(f"  {key} = {json.dumps(value)}", markup=False)
        arguments = ", ".join(f"{key}={json.dumps(value)}" for key, value in settings.items())
        out.print(f'In Python: cdp_sdk.connect("{name.value}", {arguments})', markup=False)
        sys.stdout.flush()
        WAIT(server.url)
    out.print("stopped")


# -- demo ---------------------------------------------------------------------------------------


@app.command()
@_handled
def demo(
    directory: Annotated[
        Path,
        typer.Option("--dir", "-d", help="Where to write cdp.toml and cdp.db.", show_default=True),
    ] = Path("cdp-demo"),
    size: Annotated[
        int | None,
        typer.Option(
            "--size",
            min=1,
            help="SIMs in each platform's fleet (default: 1,000 sandbox, 800 emnify and "
            "soracom, 500 supersim, and fewer where usage is read SIM by SIM: 150 hologram, "
            "100 jasper, 1nce and thingspace).",
        ),
    ] = None,
) -> None:
    """Sync every emulated platform into a local store and summarize it (offline)."""
    from cdp_sdk.cli._demo import Demo
    from cdp_sdk.cli._queries import (
        invoice_totals,
        latest_events,
        sims_by_status,
        usage_totals,
    )

    started = time.perf_counter()
    out = render.console()
    with Demo(directory, size=size) as session:
        out.print(
            f"[bold]cdp demo[/bold]: {len(session.fleets)} emulated platforms over synthetic "
            "fleets, no network, no credentials"
        )
        out.print(f"  workspace  {session.workspace_file}", markup=False)
        out.print(f"  store      {session.database}", markup=False)
        out.print(
            "First run: a full sync."
            if session.first_run
            else "The store exists: an incremental sync, asking only for changes."
        )
        with _progress(session.plan) as progress:
            reports = session.sync(progress)
        out.print(render.sync_table(reports, session.plan.left_out, per_entity=False))
        synced = session.synced_sims()
        out.print(
            f"{render.number(synced)} SIMs synced: all the platforms list (of fleets of "
            f"{render.number(session.sims)}; some platforms do not list retired or "
            "unregistered SIMs)",
            markup=False,
        )
        errors = [result for report in reports for result in report.errors]
        if errors:
            out.print(render.sync_table(reports, session.plan.left_out))
            raise CommandError(f"{len(errors)} entities failed to sync (see the table above)")
        store = session.store
        now = datetime.now(UTC)
        since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
        out.print()
        out.print(render.status_table(sims_by_status(store), title="SIMs per platform and status"))
        out.print()
        out.print(
            render.usage_table(
                usage_totals(store, start=since),
                title=f"Usage in the last 30 days (from {since:%Y-%m-%d}, UTC)",
            )
        )
        out.print()
        out.print(render.invoice_totals_table(invoice_totals(store), title="Invoice totals"))
        out.print()
        events = latest_events(store, limit=8).rows
        if events:
            out.print(render.events_table(events, title="Latest audit events"))
        else:
            out.print("Latest audit events: none in the synced history.", markup=False)
        for line in render.not_synced(reports, session.plan.left_out):
            out.print(line, style="dim", markup=False)
    database = session.database.as_posix()
    from cdp_sdk.cli._report import REPORT_FILE, write_store_report

    report = write_store_report(session.database, session.directory / REPORT_FILE)
    out.print()
    out.print(f"Fleet report (HTML, open it in a browser): {report.as_posix()}", markup=False)
    out.print("Open the store in pandas (pip install 'cdp-iot-sdk[frames]'):", markup=False)
    out.print("  from cdp_sdk.sync import Store", markup=False)
    out.print(f'  sims = Store("{database}").to_pandas("subscriptions")', markup=False)
    out.print(
        f"Or query it here: cdp sims --db {database}, cdp usage --db {database}, "
        f"cdp export --db {database} --format parquet",
        markup=False,
    )
    out.print(
        f"Done in {time.perf_counter() - started:.1f} s; run it again for an incremental sync.",
        markup=False,
    )


# -- entry point ----------------------------------------------------------------------------------

_GLOBAL_FLAGS = {"--debug": "--debug", "--quiet": "--quiet", "-q": "--quiet"}
_GLOBAL_FLAGS["--no-progress"] = "--no-progress"


def _hoisted(args: list[str]) -> list[str]:
    """``args`` with the global flags moved before the command, wherever they were given
    (before a ``--``), so that ``cdp sims --quiet`` means ``cdp --quiet sims``."""
    end = args.index("--") if "--" in args else len(args)
    found = [_GLOBAL_FLAGS[a] for a in args[:end] if a in _GLOBAL_FLAGS]
    if not found:
        return args
    rest = [a for i, a in enumerate(args) if i >= end or a not in _GLOBAL_FLAGS]
    return [*dict.fromkeys(found), *rest]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cdp`` with ``argv`` (default: the process arguments); the exit status.

    ``--debug``, ``--quiet`` (``-q``) and ``--no-progress`` are accepted anywhere before
    ``--``.
    """
    args = _hoisted(list(sys.argv[1:] if argv is None else argv))
    try:
        result: Any = app(args=args, prog_name="cdp", standalone_mode=False)
    except _USAGE_ERROR as error:
        message = str(cast(Any, error).format_message())
        code = int(getattr(error, "exit_code", 2))
        if type(error).__name__ == "NoArgsIsHelpError":  # `cdp`, `cdp tags`: the help
            typer.echo(message)
            return code
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        typer.echo(f"error: {' '.join(message.split())}{hint}", err=True)
        return code
    except typer.Abort as error:
        if isinstance(error.__context__, KeyboardInterrupt):  # Ctrl-C outside a command
            typer.echo("interrupted", err=True)
            return INTERRUPTED
        typer.echo("error: aborted", err=True)
        return 1
    except SystemExit as leaving:  # --show-completion and --install-completion end so
        return leaving.code if isinstance(leaving.code, int) else 0
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return INTERRUPTED
    except Exception as error:  # the command line itself failed (not a command)
        if _DEBUG.get() or "--debug" in args[:1]:
            _print_traceback(error)
        typer.echo(f"error: {_describe(error)}", err=True)
        return 1
    return result if isinstance(result, int) else 0


# `cdp changes` lives in its own module, which builds on the helpers above.
from cdp_sdk.cli._changes import changes_app  # noqa: E402

app.add_typer(changes_app, name="changes", no_args_is_help=True)

# `cdp init`, `cdp check` (setting a workspace up) and `cdp plugin` have their own modules.
from cdp_sdk.cli._setup import check_command, init_command  # noqa: E402

app.command("init")(_handled(init_command))
app.command("check")(_handled(check_command))

from cdp_sdk.cli._plugin import new_command, plugin_app  # noqa: E402

plugin_app.command("new")(_handled(new_command))
app.add_typer(plugin_app, name="plugin", no_args_is_help=True)

# -- commands in their own modules (they import the names above) ---------------------------------

import cdp_sdk.cli._report  # noqa: E402, F401  (cdp report)
