"""``cdp export``: store tables as CSV, JSON Lines or Parquet files.

CSV and JSON Lines are written from the rows as the store gives them back, with exact
values: decimals as their text (``"1.50"``), instants in ISO 8601 UTC, dates ISO, JSON
columns as JSON (a nested value in JSON Lines, compact JSON text in CSV), booleans
``true``/``false`` in CSV, NULL as an empty CSV field or ``null``. Parquet keeps the
store's column types through :meth:`cdp_sdk.sync.Store.to_arrow` (needs the ``frames``
extra).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

__all__ = ["ExportFormat", "Exported", "csv_cell", "export_tables", "json_value", "write_table"]


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


@dataclass(frozen=True)
class Exported:
    table: str
    path: Path | None
    """``None``: written to a stream."""
    rows: int


def json_value(value: Any) -> Any:
    """A store value as JSON: exact decimals as text, instants and dates in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def csv_cell(value: Any) -> str:
    """A store value as a CSV field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(json_value(value), separators=(",", ":"), ensure_ascii=False)
    return str(json_value(value))


def write_rows(
    stream: IO[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]], fmt: ExportFormat
) -> int:
    """Write ``rows`` to a text stream as CSV or JSON Lines; the number written."""
    count = 0
    if fmt is ExportFormat.CSV:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row[name]) for name in columns])
            count += 1
    elif fmt is ExportFormat.JSONL:
        for row in rows:
            record = {name: json_value(row[name]) for name in columns}
            stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    else:
        raise ValueError(f"{fmt.value} cannot be written to a text stream")
    return count


def write_table(
    store: Store,
    table: str,
    target: Path | IO[str],
    fmt: ExportFormat,
    *,
    account: str | None = None,
) -> Exported:
    """Write one store table to ``target`` (a file path, or a text stream for CSV/JSONL)."""
    selected = store.table(table)
    if fmt is ExportFormat.PARQUET:
        if not isinstance(target, Path):
            raise ValueError("Parquet is written to a file, not to standard output")
        arrow = store.to_arrow(selected, account=account)  # says which extra is missing
        import pyarrow.parquet

        pyarrow.parquet.write_table(arrow, target)
        return Exported(table, target, arrow.num_rows)
    columns = [column.name for column in selected.columns]
    rows = store.rows(selected, account=account)
    if isinstance(target, Path):
        with target.open("w", encoding="utf-8", newline="") as stream:
            return Exported(table, target, write_rows(stream, columns, rows, fmt))
    return Exported(table, None, write_rows(target, columns, rows, fmt))


def export_tables(
    store: Store,
    tables: Sequence[str],
    fmt: ExportFormat,
    out: Path,
    *,
    account: str | None = None,
) -> list[Exported]:
    """Write ``tables`` as ``<out>/<table>.<format>``; or, for one table and an ``out``
    ending in ``.<format>``, to that file."""
    for table in tables:
        store.table(table)  # unknown names fail before anything is written
    if len(tables) == 1 and out.suffix == f".{fmt.value}":
        out.parent.mkdir(parents=True, exist_ok=True)
        return [write_table(store, tables[0], out, fmt, account=account)]
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return [
        write_table(store, table, out / f"{table}.{fmt.value}", fmt, account=account)
        for table in tables
    ]
