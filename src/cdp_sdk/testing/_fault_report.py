"""The fault matrix as text or Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence

from cdp_sdk.testing._faults import (
    FAULTS,
    LISTING,
    OPERATIONS,
    WRITE,
    CellResult,
    Outcome,
    plan_for,
)

__all__ = ["format_matrix"]

SHORT = {Outcome.RECOVERED: "R", Outcome.TYPED: "T"}


def _mark(result: CellResult | None) -> str:
    if result is None:
        return ""
    if result.outcome is None:
        return "-"
    mark = SHORT.get(result.outcome, result.outcome.value)
    return mark if result.ok else f"{mark}!"


def format_matrix(results: Sequence[CellResult], *, markdown: bool = False) -> str:
    """The matrix as a table (faults down, connector and operation across), then every
    TYPED cell's error and every cell that does not apply, with the reason."""
    columns = sorted(
        {(r.cell.connector, r.cell.operation) for r in results},
        key=lambda c: (c[0], OPERATIONS.index(c[1])),
    )
    by_cell = {(r.cell.connector, r.cell.operation, r.cell.fault): r for r in results}
    faults = [fault for fault in FAULTS if any(r.cell.fault == fault.name for r in results)]
    header = ["fault", *(f"{name} {'list' if op == LISTING else 'write'}" for name, op in columns)]
    rows = [
        [fault.name, *(_mark(by_cell.get((name, op, fault.name))) for name, op in columns)]
        for fault in faults
    ]
    lines = _table(header, rows, markdown)
    failed = [r for r in results if not r.ok]
    lines.append("")
    lines.append(
        f"{len(results)} cells: "
        f"{sum(r.outcome is Outcome.RECOVERED for r in results)} recovered, "
        f"{sum(r.outcome is Outcome.TYPED for r in results)} typed, "
        f"{sum(r.outcome is None for r in results)} not applicable, {len(failed)} failed"
    )
    lines.append("")
    lines.append("R = RECOVERED, T = TYPED, - = does not apply, ! = not the expected outcome")
    details = [
        [
            f"{r.cell.connector} {r.cell.operation}",
            r.cell.fault,
            _outcome_text(r),
            _expected_text(r),
        ]
        for r in results
        if r.outcome is not None and (r.outcome is not Outcome.RECOVERED or not r.ok)
    ]
    if details:
        lines.append("")
        lines.extend(_table(["cell", "fault", "outcome", "expected"], details, markdown))
    writes = []
    for name in sorted({r.cell.connector for r in results if r.cell.operation == WRITE}):
        write = plan_for(name).write
        if write is not None:
            method, path = write.key
            writes.append([name, write.description, f"{method} {_template(path, write.iccid)}"])
    if writes:
        lines.append("")
        lines.extend(_table(["connector", "write", "request"], writes, markdown))
    skipped = sorted({(r.cell.fault, r.reason or "") for r in results if r.outcome is None})
    if skipped:
        lines.append("")
        reasons: dict[str, list[str]] = {}
        for r in results:
            if r.outcome is None:
                reasons.setdefault(f"{r.cell.fault}: {r.reason}", []).append(
                    f"{r.cell.connector} {r.cell.operation}"
                )
        rows = [[key, ", ".join(cells)] for key, cells in sorted(reasons.items())]
        lines.extend(_table(["does not apply", "cells"], rows, markdown))
    return "\n".join(lines)


def _expected_text(result: CellResult) -> str:
    """What the cell had to end with, where that is not simply what it ended with."""
    if result.expected is None:
        return ""
    described = result.expected.describe()
    return "" if result.ok and described == _outcome_text(result) else described


def _outcome_text(result: CellResult) -> str:
    assert result.outcome is not None
    text = result.outcome.value
    if result.detail:
        text += f" {result.detail}"
    return text if result.ok else f"{text} (FAILED)"


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return out
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            str(value).ljust(width) for value, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *rows]
    ]


def _template(path: str, iccid: str) -> str:
    """``path`` with the SIM's identifiers named, not shown: ``/v1/sims/{iccid}/status``."""
    segments = []
    for segment in path.split("/"):
        if segment in (iccid, iccid[:-1]):
            segment = "{iccid}"
        elif segment.isdigit() and len(segment) >= 4:
            segment = "{id}"
        segments.append(segment)
    return "/".join(segments)
