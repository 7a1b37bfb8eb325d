"""A command line that scripts and pipes: --format on every query command (stable keys, ISO
dates, string identifiers, decimals as strings), data on stdout and status on stderr,
--quiet, tables that keep identifiers whole, exit statuses, shell completion."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cdp_sdk import Workspace
from cdp_sdk.cli._app import (
    EVENT_KEYS,
    INVOICE_KEYS,
    SIM_KEYS,
    STATUS_COUNT_KEYS,
    USAGE_KEYS,
    main,
)
from cdp_sdk.cli._export import csv_cell
from cdp_sdk.sync import Store, SyncOptions
from emulated import emulated
from test_cli_store import Served, served  # noqa: F401  (three accounts on loopback)

Capture = pytest.CaptureFixture[str]

QUERIES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "sims": (["sims"], SIM_KEYS),
    "by-status": (["sims", "--by-status"], STATUS_COUNT_KEYS),
    "usage": (["usage", "--since", "2024-04-01"], USAGE_KEYS),
    "invoices": (["invoices"], INVOICE_KEYS),
    "events": (["events"], EVENT_KEYS),
}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three emulated accounts synced on 15 June 2024, four months back."""
    database = tmp_path_factory.mktemp("output") / "cdp.db"
    accounts = {
        "lab": emulated("sandbox", 300)[0],
        "eu": emulated("emnify", 80)[0],
        "us": emulated("jasper", 12)[0],
    }
    with Workspace(accounts) as workspace, Store(database) as store:
        report = store.sync(
            workspace,
            now=datetime(2024, 6, 15, 12, tzinfo=UTC),
            options=SyncOptions(history=timedelta(days=120)),
        )
        assert report.ok
        assert store.rows("audit_events")
    return database


def run(capsys: Capture, *args: str | Path) -> tuple[int, str, str]:
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out, err


def parsed(fmt: str, text: str) -> list[dict[str, Any]]:
    if fmt == "json":
        loaded = json.loads(text)
        assert isinstance(loaded, list)
        return loaded
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_every_format_carries_the_same_records_with_stable_keys(
    synced: Path,
    capsys: Capture,
    query: str,
) -> None:
    args, keys = QUERIES[query]
    found: dict[str, list[dict[str, Any]]] = {}
    for fmt in ("json", "jsonl", "csv"):
        status, out, _ = run(capsys, *args, "--db", synced, "--format", fmt)
        assert status == 0
        found[fmt] = parsed(fmt, out)
        assert found[fmt], f"{query} --format {fmt} printed no record"
        for item in found[fmt]:
            assert tuple(item) == keys  # the documented keys, in the documented order
    assert found["jsonl"] == found["json"]
    # CSV holds the same values as text (a list as compact JSON, null as an empty field)
    assert found["csv"] == [{k: csv_cell(v) for k, v in r.items()} for r in found["json"]]


def test_json_values_are_iso_dates_string_ids_and_exact_decimals(
    synced: Path,
    capsys: Capture,
) -> None:
    _, out, _ = run(capsys, "sims", "--db", synced, "--format", "json")
    sims = json.loads(out)
    with Store(synced) as store:
        stored = store.rows("subscriptions")
    assert len(sims) == len(stored)  # machine formats list every row unless --limit says
    for sim in sims:
        assert isinstance(sim["iccid"], str)
        assert sim["iccid"].isdigit()
        assert sim["msisdn"] is None or isinstance(sim["msisdn"], str)
        if sim["updated_at"] is not None:
            assert datetime.fromisoformat(sim["updated_at"]).utcoffset().total_seconds() == 0
    _, out, _ = run(capsys, "invoices", "--db", synced, "--format", "json")
    invoices = json.loads(out)
    with Store(synced) as store:
        totals = {(r["account"], r["id"]): r["total"] for r in store.rows("invoices")}
    for invoice in invoices:
        assert isinstance(invoice["total"], str)  # exact: never a float
        assert Decimal(invoice["total"]) == totals[invoice["account"], invoice["id"]]
        date.fromisoformat(invoice["period_start"])
    _, out, _ = run(capsys, "events", "--db", synced, "--format", "jsonl", "-n", "5")
    assert len(out.splitlines()) == 5  # --limit still applies when given


def test_events_carry_the_normalized_statuses_beside_the_platforms(
    synced: Path,
    capsys: Capture,
) -> None:
    _, out, _ = run(capsys, "events", "--db", synced, "-k", "status_change", "--format", "json")
    events = json.loads(out)
    with Store(synced) as store:
        modes = {(m["account"], m["name"]): m["status"] for m in store.rows("activation_modes")}
    mapped = [e for e in events if e["old_status"] or e["new_status"]]
    assert mapped, "no status change could be mapped through the activation modes"
    for event in events:
        assert event["old_status"] == modes.get((event["account"], event["old_value"]))
        assert event["new_status"] == modes.get((event["account"], event["new_value"]))
    status, table, _ = run(capsys, "events", "--db", synced, "-k", "status_change")
    assert status == 0
    first = mapped[0]
    shown = (
        f"status: {first['old_status']} -> {first['new_status']} "
        f"({first['old_value']} -> {first['new_value']})"
    )
    assert shown in table.replace("│\n│", "")


def test_data_on_stdout_status_on_stderr_and_quiet(
    synced: Path,
    capsys: Capture,
) -> None:
    status, out, err = run(capsys, "sims", "--db", synced, "--format", "csv")
    assert status == 0
    assert out.splitlines()[0] == ",".join(SIM_KEYS)
    assert re.fullmatch(r"[\d,]+ SIMs in the store\n", err)
    # --quiet (anywhere on the line): the data alone
    status, quiet_out, quiet_err = run(capsys, "sims", "--db", synced, "-f", "csv", "-q")
    assert (status, quiet_out, quiet_err) == (0, out, "")
    status, _, quiet_err = run(capsys, "--quiet", "usage", "--db", synced, "--days", "2")
    assert quiet_err == ""


def test_the_default_table_shows_twenty_rows_and_says_how_many_more(
    synced: Path,
    capsys: Capture,
) -> None:
    _, out, err = run(capsys, "sims", "--db", synced)
    assert sum(1 for line in out.splitlines() if line.startswith("│")) == 20
    assert "(--limit 0 shows all)" in err


def test_an_iccid_is_never_cut_in_a_table_80_columns_wide(
    synced: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with Store(synced) as store:
        iccids = {r["iccid"] for r in store.rows("subscriptions")}
        event_iccids = {r["iccid"] for r in store.rows("audit_events") if r["iccid"]}
    for command in (["sims", "-n", "0"], ["events", "-n", "0"], ["tags", "list", "-n", "0"]):
        _, out, _ = run(capsys, *command, "--db", synced)
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= 80
        shown = {cell for line in lines for cell in re.findall(r"\b\d{18,22}\b", line)}
        assert shown, f"{command[0]}: no ICCID in the table"
        assert shown <= iccids | event_iccids  # whole ICCIDs only: none cut or folded
        assert "…" not in out
        if command[0] == "sims":
            assert shown == iccids  # every SIM's ICCID, each on one line


@pytest.mark.parametrize(
    "command",
    [
        ["usage", "--since", "2024-05-02", "--until", "2024-05-01"],
        ["usage", "--since", "2024-05-01", "--until", "2024-05-01"],
        ["invoices", "--since", "2024-06-01", "--until", "2024-05-01"],
        ["events", "--since", "2024-06-01", "--until", "2024-05-01"],
        ["usage", "--live", "--since", "2024-06-01", "--until", "2024-05-01"],
    ],
)
def test_an_empty_range_is_a_usage_error(
    served: Served,  # noqa: F811
    capsys: Capture,
    command: list[str],
) -> None:
    status, out, err = run(capsys, *command, "--config", served.config)
    assert status == 2
    assert out == ""
    assert err.startswith("error: Invalid value for --since: ")
    assert "is not before --until" in err


@pytest.mark.parametrize(
    "command",
    [
        ["sims"],
        ["sims", "--live"],
        ["sims", "--by-status"],
        ["usage"],
        ["usage", "--live"],
        ["invoices"],
        ["invoices", "--live"],
        ["events"],
        ["events", "--live"],
        ["export", "--out", "-", "-t", "subscriptions"],
        ["tags", "list"],
        ["sync"],
        ["purge", "--yes"],
        ["changes", "plan", "CHANGES"],
    ],
)
def test_an_unknown_account_is_a_usage_error_in_every_command(
    served: Served,  # noqa: F811
    capsys: Capture,
    tmp_path: Path,
    command: list[str],
) -> None:
    changes = tmp_path / "changes.csv"
    changes.write_text("iccid,status\n8988310000000000013,suspended\n")
    args = [str(changes) if arg == "CHANGES" else arg for arg in command]
    before = served.database.stat().st_mtime_ns
    status, out, err = run(capsys, *args, "--account", "nope", "--config", served.config)
    assert status == 2, err
    assert out == ""
    assert "'nope'" in err
    assert err.count("\n") == 1
    assert served.database.stat().st_mtime_ns == before  # nothing was written


def test_exit_statuses_are_documented_in_the_help(capsys: Capture) -> None:
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 done, 1 the run failed, 2 a command line or input file" in out
    assert "130 interrupted" in out


def test_shell_completion(capsys: Capture) -> None:
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "--install-completion" in help_text
    assert "--show-completion" in help_text
    status, out, _ = run(capsys, "--show-completion", "bash")
    assert status == 0
    assert "_CDP_COMPLETE" in out
    assert "complete " in out


def test_connectors_in_every_format(capsys: Capture) -> None:
    _, out, _ = run(capsys, "connectors", "--format", "json")
    listed = {entry["name"]: entry for entry in json.loads(out)}
    assert listed["sandbox"]["capabilities"][:2] == ["subscriptions", "incremental"]
    assert tuple(listed["sandbox"]) == ("name", "title", "distribution", "version", "capabilities")
    _, out, _ = run(capsys, "connectors", "--format", "csv")
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(out))}
    assert json.loads(rows["jasper"]["capabilities"]) == listed["jasper"]["capabilities"]
    _, old, _ = run(capsys, "connectors", "--json")
    assert json.loads(old) == json.loads(run(capsys, "connectors", "-f", "json")[1])
