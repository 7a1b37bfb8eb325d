"""``cdp init`` writes a workspace file for a connector; ``cdp check`` finds every problem
of one before anything is synced.

``cdp init`` writes each required setting as an ``env:`` reference (secrets always; other
settings unless a value is given), so no secret is ever typed into the file, and creates
the file readable by its owner only. On a terminal it asks; otherwise it takes flags.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer

from cdp_sdk import CdpError, available_connectors, load_connector
from cdp_sdk.cli import _render as render
from cdp_sdk.cli._output import status
from cdp_sdk.errors import ConfigurationError

__all__ = ["INTERACTIVE", "check_command", "env_name", "init_command", "init_text"]

DEFAULT_CONFIG = Path("cdp.toml")
USAGE_ERROR = 2
_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")


def _on_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


INTERACTIVE: Callable[[], bool] = _on_a_terminal
"""Whether ``cdp init`` may ask its questions (tests replace it)."""


def env_name(account: str, setting: str) -> str:
    """The environment variable ``cdp init`` proposes: ``CDP_<ACCOUNT>_<SETTING>``."""
    return f"CDP_{_NOT_NAME.sub('_', account).strip('_')}_{setting}".upper()


def init_text(
    account: str,
    connector: str,
    settings: dict[str, str],
    *,
    database: str | None = None,
    header: bool = True,
) -> str:
    """The TOML of one account (after a header and ``database`` for a new file)."""
    from cdp_sdk.workspace import BaseWorkspace

    model = load_connector(connector).settings_model
    written = BaseWorkspace({account: {"connector": connector, **settings}}, database=database)
    optional = sorted(
        name
        for name, field in model.model_fields.items()
        if not field.is_required() and name not in settings
    )
    lines = []
    if header:
        lines += [
            "# A cdp-sdk workspace (written by `cdp init`). A value env:NAME is read from the",
            "# environment variable NAME when the account connects; keep secrets there.",
            "",
        ]
    body = written.to_toml().rstrip("\n")
    if not header:  # an account added to a file: no second `database` key
        body = body[body.index("[accounts.") :]
    lines.append(body)
    lines.append(f"# optional settings of {connector}: {', '.join(optional)}")
    return "\n".join(lines) + "\n"


def _pairs(values: Sequence[str] | None, option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        found[key.strip()] = value.strip()
    return found


def init_command(
    connector: Annotated[
        str | None,
        typer.Option("--connector", help="The connector of the account (asked on a terminal)."),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option("--account", "-a", help="The account's name (default: the connector's)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="A value for a setting that is not a secret (repeatable).",
        ),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            metavar="KEY=VARIABLE",
            help="The environment variable a setting is read from (repeatable; default "
            "CDP_<ACCOUNT>_<SETTING>).",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", metavar="PATH|URL", help="Where `cdp sync` mirrors it."),
    ] = None,
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="CDP_CONFIG", help="The workspace file.")
    ] = DEFAULT_CONFIG,
) -> None:
    """Write a workspace file (cdp.toml) for a connector: its settings as env: references,
    readable by you only. Asks on a terminal; takes flags otherwise. An existing file gets
    the account added."""
    names = [info.name for info in available_connectors()]
    values = _pairs(set_, "--set")
    variables = _pairs(env, "--env")
    ask = connector is None and INTERACTIVE()
    if connector is None and not ask:
        raise typer.BadParameter(
            f"pass --connector (no terminal to ask on); connectors: {', '.join(names)}",
            param_hint="--connector",
        )
    if ask:
        connector = typer.prompt(f"Connector ({', '.join(names)})", default=names[0])
    assert connector is not None
    if connector not in names:
        raise typer.BadParameter(
            f"no connector named {connector!r} (connectors: {', '.join(names)})",
            param_hint="--connector",
        )
    model = load_connector(connector).settings_model
    if ask:
        account = typer.prompt("Account name", default=account or connector)
    name = account or connector
    secrets = set(model.secret_fields())
    required = [key for key, field in model.model_fields.items() if field.is_required()]
    known = set(model.model_fields)
    for key in [*values, *variables]:
        if key not in known:
            raise typer.BadParameter(
                f"{connector} has no setting {key!r} (settings: {', '.join(sorted(known))})",
                param_hint="--set" if key in values else "--env",
            )
    if plain := sorted(secrets & set(values)):
        raise typer.BadParameter(
            f"{', '.join(plain)} is a secret: it stays in the environment (--env "
            f"{plain[0]}=VARIABLE), never in the file",
            param_hint="--set",
        )
    settings: dict[str, str] = {}
    for key in dict.fromkeys([*required, *values, *variables]):
        variable = variables.get(key, env_name(name, key))
        if key in values:
            settings[key] = values[key]
        elif ask and key in secrets:
            settings[key] = "env:" + typer.prompt(
                f"{key} is a secret: the environment variable to read it from", default=variable
            )
        elif ask:
            settings[key] = typer.prompt(f"{key} (a value, or env:NAME)", default=f"env:{variable}")
        else:
            settings[key] = f"env:{variable}"
    if ask and database is None and not config.exists():
        database = typer.prompt("Database (a SQLite file or a URL)", default="cdp.db")
    _write(config, name, connector, settings, database)
    status(f"Wrote account {name!r} ({connector}) to {config}.")
    needed = sorted({v[4:] for v in settings.values() if v.startswith("env:")})
    if needed:
        status("Set these environment variables, then run `cdp check`:")
        for variable in needed:
            status(f"  export {variable}=...")
    else:
        status("Run `cdp check`, then `cdp sync`.")


def _write(
    config: Path, name: str, connector: str, settings: dict[str, str], database: str | None
) -> None:
    from cdp_sdk.workspace import BaseWorkspace

    try:
        if config.exists():
            existing = BaseWorkspace.load(config)
            if name in existing.accounts:
                raise typer.BadParameter(
                    f"{config} already has an account {name!r}; choose another name",
                    param_hint="--account",
                )
            if database is not None:
                raise typer.BadParameter(
                    f"{config} exists: edit its database setting there", param_hint="--database"
                )
            added = init_text(name, connector, settings, header=False)
            current = config.read_text(encoding="utf-8")
            BaseWorkspace.from_toml(current.rstrip("\n") + "\n\n" + added, source=str(config))
            with config.open("a", encoding="utf-8") as stream:
                stream.write(("\n" if current.endswith("\n") else "\n\n") + added)
            return
        text = init_text(name, connector, settings, database=database)
        BaseWorkspace.from_toml(text, source=str(config))  # never write a file it cannot read
    except ConfigurationError as error:
        raise typer.BadParameter(error.message, param_hint="--account") from None
    config.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


def check_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="CDP_CONFIG", help="The workspace file.")
    ] = DEFAULT_CONFIG,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", "-a", metavar="NAME", help="Only this account (repeatable)."),
    ] = None,
) -> None:
    """Check the workspace before a sync: connector names, env: variables, settings and
    the store's location, without any request. Each problem is one error line; exit
    status 2 when there is any."""
    from cdp_sdk.workspace import BaseWorkspace

    err = render.console(stderr=True)

    def refuse(problems: list[str]) -> None:
        for problem in problems:
            err.print(f"error: {config}: {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(USAGE_ERROR)

    if not config.exists():
        refuse(["no such workspace file: pass --config, or write one with `cdp init`"])
    try:
        workspace = BaseWorkspace.load(config)
        chosen = workspace.select(account)
    except CdpError as error:
        message = error.message.removeprefix(f"{config}: ")
        refuse([message])
        return
    problems = workspace.problems(chosen)
    problems += _database_problems(workspace.database, config)
    if problems:
        refuse(problems)
    listed = ", ".join(f"{name} ({workspace.account(name).connector})" for name in chosen)
    render.console().print(
        f"{config}: {len(chosen)} account(s) ready to sync: {listed}", markup=False
    )


def _database_problems(database: str | None, config: Path) -> list[str]:
    """Whether the store the workspace names can be opened where it says (SQLite files)."""
    if database is None or "://" in database:
        return []
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = config.parent / path
    if not path.parent.is_dir():
        return [f"database: the directory of {path} does not exist"]
    if not path.exists() and not os.access(path.parent, os.W_OK):
        return [f"database: {path} cannot be created (its directory is not writable)"]
    return []
