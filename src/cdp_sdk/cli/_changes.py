"""``cdp changes``: plan bulk changes from a CSV file (a dry run), then apply the plan.

Exit statuses: 0 when every SIM is (or already was) in its wanted state, 1 when some SIM
is refused, failed or still pending (or, for ``plan``, refused or in error), 2 for a
command line, change file or plan file that cannot be used (nothing is called).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from cdp_sdk.changes import (
    DEFAULT_MAX_CHANGES,
    ApplyOptions,
    ChangeSet,
    ChangeSetError,
    Decision,
    Outcome,
    Plan,
    PlanFileError,
    TooManyChangesError,
)
from cdp_sdk.cli import _render as render
from cdp_sdk.cli._changes_render import (
    ApplyProgress,
    journal_table,
    outcomes_table,
    plan_table,
)
from cdp_sdk.cli._output import FormatOption, OutputFormat, emit, record

# Made before the helpers of the main app are imported: `_app` registers this object at
# its end, whichever of the two modules is imported first.
changes_app = typer.Typer(
    help="Bulk changes across platforms: plan from a CSV file (a dry run), then apply.",
)

from cdp_sdk.cli._app import (  # noqa: E402
    AccountsOption,
    CommandError,
    ConfigOption,
    DbOption,
    LiveOption,
    _database,
    _describe,
    _existing_store,
    _handled,
    _store_accounts,
    _workspace,
    _workspace_accounts,
)

__all__ = ["USAGE_ERROR", "changes_app"]

P = ParamSpec("P")
R = TypeVar("R")

USAGE_ERROR = 2
"""The exit status for a command line, change file or plan file that cannot be used."""
LOG_KEYS = (
    "at",
    "run_id",
    "account",
    "iccid",
    "step",
    "event",
    "outcome",
    "code",
    "request_id",
    "detail",
)
PLAN_ROW_KEYS = (
    "line",
    "account",
    "connector",
    "iccid",
    "current",
    "seen",
    "wanted",
    "calls",
    "decision",
    "why",
)
DEFAULT_CONFIG = Path("cdp.toml")


MaxChangesOption = Annotated[
    int | None,
    typer.Option(
        "--max-changes",
        min=0,
        metavar="N",
        help=f"Refuse a plan changing more SIMs than N (default {DEFAULT_MAX_CHANGES:,}; "
        "apply: the plan's own).",
    ),
]
ConfirmOption = Annotated[
    bool,
    typer.Option(
        "--confirm-irreversible",
        help="Allow retirements (needed when planning and again when applying).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _usage_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A bad change file, plan file or limit: one ``error:`` line and exit status 2."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (ChangeSetError, PlanFileError, TooManyChangesError) as error:
            render.console(stderr=True).print(
                f"error: {_describe(error)}", markup=False, soft_wrap=True
            )
            raise typer.Exit(USAGE_ERROR) from None

    return run


def _plan_path(file: Path) -> Path:
    return file.with_name(f"{file.stem}.plan.json")


@changes_app.command("plan")
@_handled
@_usage_errors
def plan_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file: an iccid column, then status and/or tag:<key> columns "
            "(and optionally account)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to save the plan (default: FILE.plan.json)."),
    ] = None,
    live: LiveOption = False,
    account: AccountsOption = None,
    max_changes: MaxChangesOption = None,
    confirm_irreversible: ConfirmOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """Plan the changes in FILE and save the plan: a dry run, nothing is changed."""
    changes = ChangeSet.from_csv(file)
    limit = DEFAULT_MAX_CHANGES if max_changes is None else max_changes
    if live:
        with _workspace(config) as workspace:
            _workspace_accounts(workspace, account)
            plan = changes.plan(
                workspace,
                accounts=account,
                max_changes=limit,
                confirm_irreversible=confirm_irreversible,
            )
    else:
        from cdp_sdk.workspace import BaseWorkspace

        accounts = BaseWorkspace.load(config) if config.is_file() else None
        with _existing_store(db, config) as store:
            _store_accounts(store, config, account)
            plan = changes.plan(
                accounts,
                store=store,
                accounts=account,
                max_changes=limit,
                confirm_irreversible=confirm_irreversible,
            )
    target = plan.save(out or _plan_path(file))
    out_console = render.console()
    if as_json:
        typer.echo(plan.to_json())
    else:
        out_console.print(plan_table(plan))
        out_console.print(plan.summary(), markup=False)
    err = render.console(stderr=True)
    err.print(
        f"Dry run: nothing was changed. Plan saved to {target}; apply it with: "
        f"cdp changes apply {target}",
        markup=False,
        soft_wrap=True,
    )
    if not plan.ok:
        counts = plan.counts
        bad = counts[Decision.REFUSE] + counts[Decision.ERROR]
        raise CommandError(f"{bad} of {len(plan)} SIMs cannot be changed (see the plan)")


@changes_app.command("apply")
@_handled
@_usage_errors
def apply_command(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="A plan saved by plan.")],
    max_changes: MaxChangesOption = None,
    confirm_irreversible: ConfirmOption = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="SIMs at once per account (default: the account's max_concurrency, else 4).",
        ),
    ] = None,
    pending_timeout: Annotated[
        float,
        typer.Option(
            "--pending-timeout",
            min=0,
            metavar="SECONDS",
            help="How long to follow changes the platform accepted but has not made yet.",
            show_default=True,
        ),
    ] = 60.0,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """Apply a saved plan, journaled in the store; run it again to resume."""
    from cdp_sdk.sync import Store

    plan = Plan.load(plan_file)
    options = ApplyOptions(
        concurrency=concurrency,
        pending_timeout=pending_timeout,
        poll_interval=min(2.0, max(0.1, pending_timeout / 10)),
    )
    err = render.console(stderr=True)
    with (
        _workspace(config) as workspace,
        Store(_database(db, config)) as store,
        ApplyProgress(err, plan) as progress,
    ):
        report = plan.apply(
            workspace,
            store=store,
            max_changes=max_changes,
            confirm_irreversible=confirm_irreversible,
            options=options,
            progress=progress,
        )
    out = render.console()
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        if not report.ok:
            out.print(outcomes_table(report))
        out.print(report.summary(), markup=False)
    if report.run_id is not None:
        err.print(f"Journaled as run {report.run_id} of plan {plan.id}.", markup=False)
    if not report.ok:
        counts = report.counts
        left = [f"{counts[o]} {o.value}" for o in Outcome if not o.ok and counts[o]]
        hint = ""
        if counts[Outcome.PENDING]:
            hint = "; apply the plan again to follow up the pending ones"
        if any(
            step.code == "confirm_irreversible"
            for outcome in report.outcomes
            for step in outcome.steps
        ):
            hint += "; retirements need --confirm-irreversible"
        raise CommandError(f"not every SIM is in its wanted state: {', '.join(left)}{hint}")


@changes_app.command("show")
@_handled
@_usage_errors
def show_command(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="A plan saved by plan.")],
    as_json: JsonOption = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Print a saved plan (json: the plan file itself; jsonl and csv: one row per SIM)."""
    plan = Plan.load(plan_file)
    if as_json or fmt is OutputFormat.JSON:
        typer.echo(plan.to_json())
        return
    if fmt is not OutputFormat.TABLE:
        emit((record(row, PLAN_ROW_KEYS) for row in plan.rows()), PLAN_ROW_KEYS, fmt)
        return
    out = render.console()
    out.print(plan_table(plan))
    out.print(plan.summary(), markup=False)


@changes_app.command("log")
@_handled
@_usage_errors
def log_command(
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="A saved plan, or a plan id.")],
    as_json: JsonOption = False,
    fmt: FormatOption = OutputFormat.TABLE,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """The journal of a plan's applies: each intent and outcome, oldest first."""
    from cdp_sdk.sync._changes import journal_rows

    plan_id = Plan.load(plan).id if Path(plan).is_file() else plan
    with _existing_store(db, config) as store:
        entries = journal_rows(store, plan_id)
    if as_json or fmt is not OutputFormat.TABLE:
        rows = [
            {
                "at": entry.at.isoformat(),
                "run_id": entry.run_id,
                "account": entry.account,
                "iccid": entry.iccid,
                "step": entry.step,
                "event": entry.event,
                "outcome": entry.outcome.value if entry.outcome else None,
                "code": entry.code,
                "request_id": entry.request_id,
                "detail": entry.detail,
            }
            for entry in entries
        ]
        if fmt in (OutputFormat.JSONL, OutputFormat.CSV) and not as_json:
            emit(rows, LOG_KEYS, fmt)
        else:
            typer.echo(json.dumps(rows, indent=2))
        return
    if not entries:
        raise CommandError(f"the store holds no journal for plan {plan_id!r}")
    render.console().print(journal_table(entries))
