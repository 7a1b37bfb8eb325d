"""The core's fault matrix, run on this plugin's cells only (the core's suite runs them too)."""

from __future__ import annotations

import pytest
from cdp_sdk.testing import Cell, matrix_cells, run_cell

CELLS = matrix_cells(["onomondo"])


def test_the_plugin_joins_the_matrix() -> None:
    assert CELLS, "the emulator was not found beside the connector"


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_cell(cell: Cell) -> None:
    result = run_cell(cell)
    assert result.ok, f"{result.outcome} {result.detail}"
