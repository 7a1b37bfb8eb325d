"""``cdp demo``: the emulated platforms synced into a local store, then summarized; and the
example notebook that reads the same store."""

from __future__ import annotations

import json
import re
import stat
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import nbformat
import pytest

from cdp_sdk.cli import Demo, run_demo
from cdp_sdk.cli._demo import MARKER
from cdp_sdk.cli._platforms import PLATFORMS
from cdp_sdk.sync import Entity, Store, schema
from cdp_sdk.workspace import Workspace
from test_cli import cdp, table_rows

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebooks" / "usage.ipynb"
BOOKKEEPING = {"run_id", "synced_at"}


def snapshot(database: Path) -> dict[str, list[str]]:
    """The platform data of a store, without bookkeeping columns, comparable across runs."""
    with Store(database) as store:
        return {
            table.name: sorted(
                json.dumps({k: str(v) for k, v in row.items() if k not in BOOKKEEPING})
                for row in store.rows(table)
            )
            for table in schema.ENTITY_TABLES
        }


def section(output: str, title: str) -> str:
    """The part of the demo's output from ``title`` to the next blank line."""
    start = output.index(title)
    end = output.find("\n\n", start)
    return output[start : end if end != -1 else None]


def test_demo_syncs_every_built_in_platform_and_summarizes(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = cdp("demo", "--dir", directory, "--size", "40")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bars: standard error is not a terminal here
    out = result.stdout
    count = len(PLATFORMS)
    assert out.startswith(f"cdp demo: {count} emulated platforms over synthetic fleets, no network")
    assert "First run: a full sync." in out
    names = [p.connector for p in PLATFORMS]

    # The workspace file: every built-in connector, readable by its owner only.
    workspace_file = directory / "cdp.toml"
    assert stat.S_IMODE(workspace_file.stat().st_mode) == 0o600
    assert workspace_file.read_text().startswith(MARKER)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no InsecureConfigWarning
        workspace = Workspace.load(workspace_file)
    assert sorted(workspace.names) == sorted(names)
    assert {workspace.account(n).connector for n in names} == set(names)
    assert workspace.database == "cdp.db"
    for name in names:
        assert ".invalid" in workspace.account(name).settings["base_url"]

    with Store(directory / "cdp.db") as store:
        # One row per account with the entities it synced.
        synced = {row[0]: row for row in table_rows(out.split("SIMs per platform")[0])}
        assert set(synced) == set(names)
        assert (
            synced["jasper"][4] == "subscriptions, activation_modes, tariffs, usage, audit_events"
        )
        statuses = {row[0]: row for row in table_rows(section(out, "SIMs per platform"))}
        for name in names:
            stored = store.rows("subscriptions", account=name)
            assert 0 < len(stored) <= 40
            assert statuses[name][1] == name
            assert statuses[name][-1] == str(len(stored))
        assert statuses["all"][-1] == str(len(store.rows("subscriptions")))
        # What the header counts is what the totals count: the SIMs synced.
        assert f"{len(store.rows('subscriptions'))} SIMs synced: all the platforms list" in out

        usage = {row[0]: row for row in table_rows(section(out, "Usage in the last 30 days"))}
        assert set(usage) == set(names)
        assert usage["jasper"][6] == "by billing cycle, per SIM"
        assert usage["1nce"][6] == "daily, per SIM"
        assert usage["thingspace"][6] == "daily, per SIM"
        assert usage["sandbox"][6] == "daily, account totals"
        assert all(row[2].endswith("B") for row in usage.values())  # data, in bytes units

        invoices = {row[0]: row for row in table_rows(section(out, "Invoice totals"))}
        assert set(invoices) == {"sandbox", "soracom"}
        for name, row in invoices.items():
            stored = store.rows("invoices", account=name)
            total = sum((r["total"] for r in stored), Decimal(0))
            assert row[1] == str(len(stored))
            assert row[3] == f"{total.quantize(Decimal('0.01')):,} EUR"

        order = ("occurred_at", "account", "iccid")
        stored_events = store.rows("audit_events")
        newest = sorted(stored_events, key=lambda r: [r[k] or "" for k in order], reverse=True)
        if newest:  # a small fleet may have had no change in the synced history
            events = table_rows(section(out, "Latest audit events"))
            assert [(row[0], row[1]) for row in events] == [
                (f"{r['occurred_at']:%Y-%m-%d %H:%M}", r["account"]) for r in newest[:8]
            ]
            modes = {(m["account"], m["name"]): m["status"] for m in store.rows("activation_modes")}
            for row, event in zip(events, newest[:8], strict=False):
                old, new = (
                    modes.get((event["account"], event[k])) for k in ("old_value", "new_value")
                )
                if event["kind"] == "status_change" and old and new:
                    expected = (
                        f"status: {old} -> {new} ({event['old_value']} -> {event['new_value']})"
                    )
                    assert row[4] == expected
        else:
            assert "Latest audit events: none in the synced history." in out

    assert (
        "invoices: not offered by the API of 1nce, emnify, hologram, jasper, supersim, thingspace"
        in out
    )
    assert "audit_events of jasper" not in out  # read SIM by SIM, not left out
    assert f'sims = Store("{directory.as_posix()}/cdp.db").to_pandas("subscriptions")' in out
    assert "run it again for an incremental sync" in out


def test_a_second_demo_syncs_incrementally_into_the_same_file(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    first = cdp("demo", "--dir", directory, "--size", "15")
    assert first.exit_code == 0, first.output
    before = snapshot(directory / "cdp.db")
    with Store(directory / "cdp.db") as store:
        runs = len(store.runs())
        cursors = store.cursors()
    second = cdp("demo", "--dir", directory, "--size", "15")
    assert second.exit_code == 0, second.output
    assert "an incremental sync, asking only for changes" in second.stdout
    assert snapshot(directory / "cdp.db") == before  # same data: no duplicate, no loss
    with Store(directory / "cdp.db") as store:
        assert len(store.runs()) == 2 * runs
        assert {(c.account, c.entity) for c in store.cursors()} == {
            (c.account, c.entity) for c in cursors
        }
        [sandbox] = [
            r for r in store.runs(limit=None)[0].results  # the latest run: the second demo
            if r.account == "sandbox" and r.entity == "subscriptions"
        ]  # fmt: skip
    assert sandbox.detail == "changes only"


@pytest.mark.parametrize("existing", ["cdp.toml", "cdp.db"])
def test_demo_refuses_a_directory_it_did_not_write(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("[accounts.prod]\nconnector = 'emnify'\n")
    result = cdp("demo", "--dir", tmp_path, "--size", "3")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {tmp_path} holds a workspace or store that cdp demo did not write; choose "
        "another directory with --dir\n"
    )
    assert (tmp_path / existing).read_text() == "[accounts.prod]\nconnector = 'emnify'\n"


def test_run_demo_needs_no_command_line(tmp_path: Path) -> None:
    database = run_demo(tmp_path / "demo", size=8)
    assert database == tmp_path / "demo" / "cdp.db"
    with Store(database) as store:
        assert sorted(store.accounts()) == sorted(p.connector for p in PLATFORMS)
    with Demo(tmp_path / "demo", size=8) as demo:
        assert not demo.first_run
        assert demo.sims == 8 * len(PLATFORMS)
        assert set(demo.plan.accounts["jasper"]) == set(Entity)  # per-SIM data included
        assert len(demo.plan.groups) == 1


# -- the example notebook -------------------------------------------------------------------------


def _code(notebook: Any) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def test_the_notebook_is_valid_and_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


def test_the_notebook_runs_on_a_demo_store_it_makes_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's code, run here (CI also runs it in a real kernel: run.py)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDP_STORE", raising=False)
    monkeypatch.setenv("CDP_DEMO_SIZE", "10")
    namespace: dict[str, Any] = {}
    plotted: dict[str, list[int]] = {}  # the insights a cell calls -> artists of its plots
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "FigureCanvasAgg is non-interactive")
        notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
        for source in _code(notebook):
            before = set(plt.get_fignums())
            exec(compile(source, str(NOTEBOOK), "exec"), namespace)
            called = re.findall(r"insights\.([a-z_]+)\(store", source)
            if called:
                figures = [plt.figure(n) for n in sorted(set(plt.get_fignums()) - before)]
                plotted[" ".join(called)] = [
                    len(axis.lines) + len(axis.patches) + len(axis.collections)
                    for figure in figures
                    for axis in figure.axes
                ]
    plt.close("all")
    # Each insight is shown with a plot, and every plot has something drawn.
    assert set(plotted) == {
        "fleet fleet_history",
        "daily_usage top_consumers",
        "idle_billable",
        "plan_risk",
        "usage_spikes",
        "usage_stops",
        "cost",
        "write_report",
    }
    for cell, artists in plotted.items():
        if cell != "write_report":
            assert artists, cell
            assert all(artists), (cell, artists)
    per_platform = namespace["per_platform"]
    assert set(per_platform.index) == {p.connector for p in PLATFORMS}
    assert (per_platform["data_gb"] > 0).all()
    assert Path(namespace["store_path"]).name == "cdp.db"
    assert not (tmp_path / "cdp-demo").exists()  # built in a temporary directory
    # The plan built from a DataFrame filter: three active SIMs of every platform, from the
    # store; Control Center, 1NCE and Super SIM have no "suspended"; the others (ThingSpace
    # included) can.
    plan = namespace["plan"]
    assert plan.source == "store"
    decisions = {(row["account"], row["decision"]) for row in plan.rows()}
    assert decisions == {
        ("sandbox", "apply"),
        ("emnify", "apply"),
        ("1nce", "refuse"),
        ("soracom", "apply"),
        ("supersim", "refuse"),
        ("hologram", "apply"),
        ("jasper", "refuse"),
        ("thingspace", "apply"),
    }
    # Each insight ran on the store; usage was read per SIM, so none lacks it.
    assert set(namespace["fleet"]["account"]) == {p.connector for p in PLATFORMS}
    assert not any("per-SIM usage" in gap.reason for gap in namespace["idle"].gaps)
    assert namespace["report"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
