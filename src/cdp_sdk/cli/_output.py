"""How the query commands print: data on standard output as a table, JSON, JSON Lines or
CSV; status lines on standard error, unless ``--quiet``.

The machine formats are stable: one object per record with the same keys in the same
order every time (documented per command in ``docs/workspace.md``), dates and instants
in ISO 8601 (UTC), identifiers (ICCIDs, MSISDNs) as strings, money as exact decimal
strings (``"1234.50"``), absent values as ``null`` (an empty CSV field). ``json`` is one
array; ``jsonl`` one object per line; ``csv`` a header, then one line per record.
"""

from __future__ import annotations

import contextvars
import csv
import dataclasses
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer

from cdp_sdk.cli import _render as render
from cdp_sdk.cli._export import csv_cell, json_value

__all__ = [
    "DEFAULT_TABLE_ROWS",
    "QUIET",
    "SHOW_PROGRESS",
    "FormatOption",
    "OutputFormat",
    "emit",
    "record",
    "status",
    "table_limit",
]

DEFAULT_TABLE_ROWS = 20
"""Rows a table shows when ``--limit`` is not given (machine formats show all)."""

QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("cdp_quiet", default=False)
"""``--quiet``: no status lines (errors and warnings still show)."""
SHOW_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("cdp_progress", default=True)
"""``--no-progress`` (or ``--quiet``) turns the progress bars off."""


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        help="table for people; json, jsonl or csv for scripts (stable keys, ISO dates, "
        "decimals as strings; all rows unless --limit is given).",
        show_default=True,
    ),
]


def table_limit(limit: int | None, fmt: OutputFormat) -> int | None:
    """The rows to show: ``--limit`` as given (0: all), else 20 in a table and all
    otherwise; ``None`` means all."""
    if limit is None:
        return DEFAULT_TABLE_ROWS if fmt is OutputFormat.TABLE else None
    return limit or None


def record(row: Any, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """A row (a dataclass or a mapping) as a JSON-ready record: ``keys`` in that order."""
    is_instance = dataclasses.is_dataclass(row) and not isinstance(row, type)
    data = dataclasses.asdict(row) if is_instance else dict(row)
    chosen = keys if keys is not None else list(data)
    return {key: json_value(data[key]) for key in chosen}


def emit(records: Iterable[Mapping[str, Any]], keys: Sequence[str], fmt: OutputFormat) -> None:
    """Write ``records`` (each with ``keys``) to standard output in a machine format."""
    out = sys.stdout
    if fmt is OutputFormat.JSON:
        out.write(json.dumps([dict(r) for r in records], indent=2, ensure_ascii=False) + "\n")
    elif fmt is OutputFormat.JSONL:
        for item in records:
            out.write(json.dumps(dict(item), ensure_ascii=False, separators=(",", ":")) + "\n")
    elif fmt is OutputFormat.CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        for item in records:
            writer.writerow([csv_cell(item.get(key)) for key in keys])
    else:  # pragma: no cover - tables are printed by their command
        raise ValueError("a table is printed by its command")
    out.flush()


def status(message: str, *, style: str | None = None) -> None:
    """A status line on standard error (nothing with ``--quiet``)."""
    if not QUIET.get():
        render.console(stderr=True).print(message, markup=False, style=style, soft_wrap=True)
