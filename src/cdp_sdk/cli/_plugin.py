"""``cdp plugin new NAME``: scaffold a connector package (see :mod:`cdp_sdk.cli._scaffold`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cdp_sdk.cli._output import status
from cdp_sdk.cli._scaffold import Scaffold, scaffold

__all__ = ["plugin_app"]

plugin_app = typer.Typer(help="For plugin authors: a new connector package to start from.")


def new_command(
    name: Annotated[str, typer.Argument(help="The connector's name, e.g. acme.")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", "-d", help="Where to write it (default: ./cdp-sdk-NAME)."),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="The platform's name as people write it.")
    ] = None,
) -> None:
    """Write a connector package that installs and passes its own tests out of the box:
    settings, connector, mapping, an emulator with one listing route, the conformance
    suite and respx tests, a docs page and the entry point."""
    try:
        plan = Scaffold.of(name, title)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="NAME") from None
    target = directory or Path(plan.distribution)
    try:
        written = scaffold(name, target, title=title)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--dir") from None
    for path in written:
        typer.echo(path.as_posix())
    status(f"Wrote the {plan.name} connector package ({plan.distribution}) in {target}. Next:")
    status(f"  cd {target} && python3 -m pip install -e '.[test]' && python3 -m pytest")
    status("then replace each TODO with the platform's documented behaviour (docs/plugins).")
