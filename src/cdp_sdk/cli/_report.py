"""``cdp report``: the fleet insights of the store as one self-contained HTML page.

Registered on the ``cdp`` application by :mod:`cdp_sdk.cli._app` (the last import there);
the page itself is :func:`cdp_sdk.insights.write_report`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from cdp_sdk.cli._app import (
    DEFAULT_CONFIG,
    ConfigOption,
    DbOption,
    _existing_store,
    _handled,
    app,
)
from cdp_sdk.cli._output import status

__all__ = ["REPORT_FILE", "report", "write_store_report"]

REPORT_FILE = "cdp-report.html"


def write_store_report(
    database: str | os.PathLike[str], path: str | os.PathLike[str], *, days: int = 30
) -> Path:
    """Write the report of the store at ``database`` to ``path``; the path written."""
    from cdp_sdk.insights import write_report
    from cdp_sdk.sync import Store

    with Store(database) as store:
        return write_report(store, path, days=days)


@app.command()
@_handled
def report(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="The HTML file to write.", show_default=True),
    ] = Path(REPORT_FILE),
    days: Annotated[
        int,
        typer.Option(
            "--days",
            min=1,
            help="Window of the idle test, the usage charts and the spikes.",
            show_default=True,
        ),
    ] = 30,
    max_rows: Annotated[
        int,
        typer.Option("--max-rows", min=1, help="Rows per SIM list in the page.", show_default=True),
    ] = 100,
    config: ConfigOption = DEFAULT_CONFIG,
    db: DbOption = None,
) -> None:
    """Write the fleet report: one HTML file, no network needed to open it."""
    from cdp_sdk.insights import write_report

    started = time.perf_counter()
    with _existing_store(db, config) as store:
        written = write_report(store, out, days=days, max_rows=max_rows)
    status(  # a status line (standard error): the page itself is the output
        f"Report written to {written} in {time.perf_counter() - started:.1f} s "
        "(one self-contained HTML file: open it in a browser)."
    )
