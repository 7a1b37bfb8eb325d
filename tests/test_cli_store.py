"""``cdp sync`` from a workspace file, and the commands that read or change the store.

Three emulators are served on loopback for the whole module (sandbox, emnify and jasper,
whose usage and audit events are per SIM only), named by a ``cdp.toml`` the way a user
would write it; one ``cdp sync`` fills the store the read-only tests share, and the tests
that change the store work on a copy.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from cdp_sdk.cli._app import main
from cdp_sdk.cli._export import csv_cell, json_value
from cdp_sdk.cli._platforms import platform, serve
from cdp_sdk.cli._render import number, quantity
from cdp_sdk.sandbox import Emulator
from cdp_sdk.sync import Store, schema
from cdp_sdk.workspace import BaseWorkspace, Workspace
from pg import postgres_server
from test_cli import cdp, table_header, table_rows

TODAY = datetime.now(UTC).date()
ACCOUNTS = {"lab": ("sandbox", 40), "eu": ("emnify", 30), "us": ("jasper", 12)}
"""Account -> (connector, SIMs)."""


@dataclass(frozen=True)
class Served:
    emulators: dict[str, Emulator]
    """By account."""
    urls: dict[str, str]
    """Where each account's emulator is served."""
    config: Path
    database: Path
    sync: Result
    """The first ``cdp sync``."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("cli-store")
    with ExitStack() as stack:
        emulators: dict[str, Emulator] = {}
        urls: dict[str, str] = {}
        accounts = {}
        for account, (connector, size) in ACCOUNTS.items():
            built_in = platform(connector)
            emulators[account] = built_in.start(built_in.fleet(size, today=TODAY), unlimited=True)
            server = stack.enter_context(serve(emulators[account]))
            urls[account] = server.url
            accounts[account] = {
                "connector": connector,
                **built_in.settings(server.url),
                **built_in.client_settings,
            }
        config = root / "cdp.toml"
        config.write_text(BaseWorkspace(accounts, database="cdp.db").to_toml())
        config.chmod(0o600)
        result = cdp("sync", "--config", config)
        yield Served(emulators, urls, config, root / "cdp.db", result)


@pytest.fixture
def store_copy(served: Served, tmp_path: Path) -> Path:
    """A copy of the synced store, for a test that changes it."""
    copy = tmp_path / "copy.db"
    shutil.copy(served.database, copy)
    return copy


def rows_by_key(output: str) -> dict[tuple[str, str], list[str]]:
    return {(row[0], row[1]): row for row in table_rows(output)}


# -- sync -------------------------------------------------------------------------------------


def test_sync_mirrors_every_account_of_the_workspace_file(served: Served) -> None:
    result = served.sync
    assert result.exit_code == 0, result.output
    # status on standard error (no progress bars: it is not a terminal), data on standard out
    syncing, written = result.stderr.splitlines()
    assert syncing == f"Syncing 3 account(s) of {served.config} into {served.database}"
    assert re.fullmatch(r"[\d,]+ records written in [\d.]+ s \(run 1\)", written)
    assert "Syncing" not in result.stdout
    assert table_header(result.stdout)[:4] == ["account", "entity", "status", "records"]
    results = rows_by_key(result.stdout)
    assert results["lab", "subscriptions"][2] == "ok"
    assert results["lab", "subscriptions"][6] == "full listing (first run)"
    assert results["eu", "invoices"][2] == "skipped"  # emnify has no invoices
    # jasper offers usage and audit events per SIM only: the store reads them SIM by SIM.
    assert results["us", "usage"][2:3] == ["ok"]
    assert results["us", "usage"][6] == "usage per SIM"
    assert results["us", "audit_events"][2] == "ok"
    assert results["us", "audit_events"][6] == "events per SIM"
    assert not [row for row in results.values() if row[2] == "error"]

    with Workspace.load(served.config) as workspace, Store(served.database) as store:
        for account in ACCOUNTS:
            stored = {row["iccid"] for row in store.rows("subscriptions", account=account)}
            listed = {sim.iccid for sim in workspace.subscriptions(accounts=[account])}
            assert stored == listed
            assert results[account, "subscriptions"][3] == number(len(listed))
        assert {row["iccid"] for row in store.rows("usage", account="us")} <= stored
        assert store.rows("usage", account="us")
        [first, *_] = store.runs()
        total = sum(result.records for report in store.runs() for result in report.results)
    assert f"{number(total)} records written in" in result.stderr
    assert first.ok


def test_a_second_sync_asks_only_for_changes(served: Served, store_copy: Path) -> None:
    sandbox = served.emulators["lab"]
    before = len(sandbox.requests)
    result = cdp(
        "sync", "--config", served.config, "--db", store_copy, "-a", "lab", "-e", "subscriptions"
    )
    assert result.exit_code == 0, result.output
    assert list(rows_by_key(result.stdout)) == [("lab", "subscriptions")]
    assert rows_by_key(result.stdout)["lab", "subscriptions"][6] == "changes only"
    listings = [r for r in sandbox.requests[before:] if r.url.path == "/v1/sims"]
    assert listings
    assert all(r.url.params.get("modified_since") for r in listings)


def test_a_failing_account_fails_the_sync_with_one_line(served: Served, tmp_path: Path) -> None:
    settings = platform("sandbox").settings(served.urls["lab"])
    text = BaseWorkspace(
        {"lab": {"connector": "sandbox", **settings, "api_key": "wrong"}}, database="cdp.db"
    ).to_toml()
    config = tmp_path / "cdp.toml"
    config.write_text(text)
    config.chmod(0o600)
    result = cdp("sync", "--config", config, "--entity", "subscriptions", "-e", "tariffs")
    assert result.exit_code == 1
    assert result.stderr.endswith("error: 2 of 2 entities failed to sync (see the table above)\n")
    for row in table_rows(result.stdout):
        assert row[2] == "error"
        assert row[6].startswith("AuthenticationError")


def test_sync_without_a_workspace_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--config", str(tmp_path / "cdp.toml")]) == 2
    assert capsys.readouterr().err == (
        f"error: Invalid value for --config: no workspace file {tmp_path / 'cdp.toml'}: pass "
        "--config, write one with `cdp init`, or run `cdp demo` to see one (see 'cdp sync "
        "--help')\n"
    )
    assert not (tmp_path / "cdp.db").exists()
    (tmp_path / "cdp.toml").write_text("[accounts.eu\n")
    assert main(["sync", "--config", str(tmp_path / "cdp.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    result = cdp("sync", "--config", tmp_path, "--entity", "sims")
    assert result.exit_code == 2  # a usage error: nothing was read or written
    assert "unknown entity 'sims' (entities: subscriptions," in result.stderr


# -- sims -------------------------------------------------------------------------------------


def test_sims_lists_the_most_recently_changed_first(served: Served) -> None:
    with Store(served.database) as store:
        stored = store.rows("subscriptions")
    result = cdp("sims", "--config", served.config, "--limit", "5")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert len(rows) == 5
    newest = sorted(
        (r for r in stored if r["updated_at"] is not None),
        key=lambda r: r["updated_at"],
        reverse=True,
    )[:5]
    assert [row[6] for row in rows] == [f"{r['updated_at']:%Y-%m-%d %H:%M}" for r in newest]
    assert result.stderr == f"5 of {number(len(stored))} SIMs in the store (--limit 0 shows all)\n"


def test_sims_filters_by_status_account_and_iccid(served: Served) -> None:
    with Store(served.database) as store:
        stored = store.rows("subscriptions", account="lab")
    active = [r for r in stored if r["status"] == "active"]
    result = cdp("sims", "--db", served.database, "-a", "lab", "-s", "active", "-n", "0")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert {row[1] for row in rows} == {r["iccid"] for r in active}
    assert {(row[0], row[2]) for row in rows} == {("lab", "active")}
    one = stored[3]
    [row] = table_rows(cdp("sims", "--db", served.database, "--iccid", one["iccid"]).stdout)
    assert row[:4] == ["lab", one["iccid"], one["status"], one["status_raw"]]


def test_sims_by_status_counts_every_account(served: Served) -> None:
    result = cdp("sims", "--config", served.config, "--by-status")
    assert result.exit_code == 0, result.output
    header = table_header(result.stdout)
    with Store(served.database) as store:
        for account in ACCOUNTS:
            stored = store.rows("subscriptions", account=account)
            [row] = [row for row in table_rows(result.stdout) if row[0] == account]
            counts = dict(zip(header, row, strict=True))
            assert counts["total"] == number(len(stored))
            for status in header[2:-1]:
                expected = sum(1 for r in stored if r["status"] == status)
                assert counts[status] == (number(expected) if expected else "-")
        [everything] = [row for row in table_rows(result.stdout) if row[0] == "all"]
        assert everything[-1] == number(len(store.rows("subscriptions")))


def test_sims_live_reads_the_platforms(served: Served) -> None:
    result = cdp("sims", "--config", served.config, "--live", "-n", "0", "-a", "lab", "-a", "eu")
    assert result.exit_code == 0, result.output
    with Store(served.database) as store:
        stored = [r for r in store.rows("subscriptions") if r["account"] in ("lab", "eu")]
    shown = {(row[0], row[1], row[2]) for row in table_rows(result.stdout)}
    assert shown == {(r["account"], r["iccid"], r["status"]) for r in stored}
    assert result.stderr == f"{number(len(stored))} SIMs on the platforms\n"
    counts = cdp("sims", "--config", served.config, "--live", "--by-status")
    from_store = cdp("sims", "--config", served.config, "--by-status")
    assert table_rows(counts.stdout) == table_rows(from_store.stdout)


# -- usage ------------------------------------------------------------------------------------


def _since(days: int) -> datetime:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=days)


def test_usage_sums_each_account_in_the_period(served: Served) -> None:
    result = cdp("usage", "--config", served.config, "--days", "20")
    assert result.exit_code == 0, result.output
    since = _since(20)
    assert f"Usage from {since:%Y-%m-%d} (UTC)" in result.stdout
    header = table_header(result.stdout)
    shown = {row[0]: dict(zip(header, row, strict=True)) for row in table_rows(result.stdout)}
    with Store(served.database) as store:
        for account, level in (("lab", "account totals"), ("eu", "account totals")):
            rows = [
                r
                for r in store.rows("usage", account=account)
                if r["period_start"] >= since and r["iccid"] is None
            ]
            data = sum(r["quantity"] for r in rows if r["bearer"] == "data")
            sms = sum(r["quantity"] for r in rows if r["bearer"] == "sms")
            assert shown[account]["data"] == quantity(data, "bytes")
            assert shown[account]["sms"] == number(sms)
            assert shown[account]["reported"] == f"daily, {level}"
            assert shown[account]["records"] == number(len(rows))
    # jasper reports by billing cycle: only cycles that start in the period count
    if "us" in shown:
        assert shown["us"]["reported"] == "by billing cycle, per SIM"
        assert shown["us"]["from"] >= f"{since:%Y-%m-%d}"


def test_usage_of_one_sim(served: Served) -> None:
    with Store(served.database) as store:
        rows = [r for r in store.rows("usage", account="us") if r["bearer"] == "data"]
    iccid = max(rows, key=lambda r: r["quantity"])["iccid"]
    since = min(r["period_start"] for r in rows)
    expected = sum(r["quantity"] for r in rows if r["iccid"] == iccid)
    result = cdp("usage", "--db", served.database, "--iccid", iccid, "--since", f"{since:%Y-%m-%d}")
    assert result.exit_code == 0, result.output
    [row] = table_rows(result.stdout)
    assert row[0] == "us"
    assert row[2] == quantity(expected, "bytes")
    empty = cdp("usage", "--db", served.database, "--since", "2001-01-01", "--until", "2001-02-01")
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert empty.stderr == "No usage in the store from 2001-01-01 to 2001-02-01.\n"


def test_usage_live_matches_the_store_and_names_per_sim_accounts(served: Served) -> None:
    live = cdp("usage", "--config", served.config, "--live", "--days", "20")
    stored = cdp("usage", "--config", served.config, "--days", "20", "-a", "lab", "-a", "eu")
    assert live.exit_code == 0, live.output
    assert table_rows(live.stdout) == table_rows(stored.stdout)
    assert live.stderr.splitlines()[0] == (
        "warning: account 'us' left out: usage per SIM only: pass --iccid, or read the store"
    )
    with Store(served.database) as store:
        iccid = store.rows("subscriptions", account="us")[0]["iccid"]
    since = f"{_since(20):%Y-%m-%d}"
    one_live = cdp("usage", "--config", served.config, "--live", "--iccid", iccid, "--since", since)
    one_stored = cdp("usage", "--config", served.config, "--iccid", iccid, "--since", since)
    assert "warning" not in one_live.stderr
    assert table_rows(one_live.stdout) == table_rows(one_stored.stdout)
    assert [row[0] for row in table_rows(one_live.stdout)] in (["us"], [])


# -- invoices and events ----------------------------------------------------------------------


def test_invoices_latest_first_with_exact_totals(served: Served) -> None:
    with Store(served.database) as store:
        stored = store.rows("invoices")
    assert {r["account"] for r in stored} == {"lab"}  # the only connector with invoices
    result = cdp("invoices", "--config", served.config, "--limit", "2")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    latest = sorted(stored, key=lambda r: r["period_start"], reverse=True)
    assert [row[1] for row in rows[:2]] == [r["id"] for r in latest[:2]]
    assert f"2 of {len(stored)} invoices" in result.stderr
    [totals] = rows[2:]
    total = sum((r["total"] for r in stored), Decimal(0))
    assert totals == [
        "lab",
        str(len(stored)),
        f"{min(r['period_start'] for r in stored)} to {max(r['period_end'] for r in stored)}",
        f"{total:,} {stored[0]['currency']}",
    ]


def test_events_newest_first_and_filtered(served: Served) -> None:
    with Store(served.database) as store:
        stored = store.rows("audit_events")
    order = ("occurred_at", "account", "iccid")
    newest = sorted(stored, key=lambda r: [r[k] or "" for k in order], reverse=True)[:3]
    result = cdp("events", "--config", served.config, "-n", "3")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert [(row[0], row[1]) for row in rows] == [
        (f"{r['occurred_at']:%Y-%m-%d %H:%M}", r["account"]) for r in newest
    ]
    eu = [r for r in stored if r["account"] == "eu" and r["kind"] == "status_change"]
    result = cdp("events", "--db", served.database, "-a", "eu", "-k", "status_change", "-n", "0")
    rows = table_rows(result.stdout)
    assert len(rows) == len(eu)
    assert {(row[1], row[3]) for row in rows} <= {("eu", "status_change")}


def test_invoices_and_events_live_match_the_store(served: Served) -> None:
    with Store(served.database) as store:
        since = f"{min(r['period_start'] for r in store.rows('invoices')):%Y-%m-%d}"
    live = cdp("invoices", "--config", served.config, "--live", "-n", "0", "--since", since)
    stored = cdp("invoices", "--config", served.config, "-n", "0", "--since", since)
    assert live.exit_code == 0, live.output
    assert table_rows(live.stdout) == table_rows(stored.stdout)
    assert "invoices on the platforms" in live.stderr
    live = cdp(
        "events", "--config", served.config, "--live", "-k", "status_change", "-n", "0",
        "-a", "lab", "-a", "eu", "-a", "us",
    )  # fmt: skip
    assert live.exit_code == 0, live.output
    with Workspace.load(served.config) as workspace:
        listed = sorted(
            (
                (event.occurred_at, account, event.iccid)
                for account, event in workspace.audit_events(accounts=["lab", "eu"])
                if event.kind == "status_change"
            ),
            reverse=True,
        )
    assert listed
    assert [(row[0], row[1], row[2]) for row in table_rows(live.stdout)] == [
        (f"{when:%Y-%m-%d %H:%M}", account, iccid) for when, account, iccid in listed
    ]
    assert live.stderr == (
        "warning: account 'us' left out: audit events per SIM only: pass --iccid, or read "
        f"the store\n{len(listed)} events on the platforms\n"
    )


def test_the_same_commands_on_postgresql(served: Served) -> None:
    """``--db`` takes a database URL: the sync and the reading commands work the same on
    PostgreSQL (a throw-away server on loopback, see tests/pg.py)."""
    with postgres_server() as url:
        result = cdp("sync", "--config", served.config, "--db", url, "-a", "lab", "-a", "eu")
        assert result.exit_code == 0, result.output
        assert "into postgresql+psycopg://cdp@127.0.0.1:" in result.stderr
        for command in (
            ("sims", "--by-status"),
            ("usage", "--days", "20"),
            ("invoices", "-n", "0"),
            ("events", "-k", "status_change", "-n", "0"),
        ):
            on_postgres = cdp(*command, "--db", url)
            on_sqlite = cdp(*command, "--db", served.database, "-a", "lab", "-a", "eu")
            assert on_postgres.exit_code == 0, on_postgres.output
            assert table_rows(on_postgres.stdout) == table_rows(on_sqlite.stdout), command
        piped = cdp("export", "--db", url, "-f", "jsonl", "-t", "invoices", "-o", "-")
        with Store(served.database) as store:
            expected = [json_value(r["total"]) for r in store.rows("invoices")]
        assert [json.loads(line)["total"] for line in piped.stdout.splitlines()] == expected


# -- export -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_every_table_and_reads_back_equal(
    served: Served, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "export"
    result = cdp("export", "--config", served.config, "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"{table}.{fmt}" for table in schema.tables
    )
    with Store(served.database) as store:
        for table in ("subscriptions", "usage", "invoices", "invoice_lines", "api_calls"):
            rows = store.rows(table)
            path = out / f"{table}.{fmt}"
            assert f"{number(len(rows)):>9} rows  {path}" in result.stdout
            if fmt == "parquet":
                import pyarrow.parquet

                assert pyarrow.parquet.read_table(path).equals(store.to_arrow(table))
            elif fmt == "csv":
                with path.open(newline="") as stream:
                    written = list(csv.DictReader(stream))
                assert written == [{k: csv_cell(v) for k, v in row.items()} for row in rows]
            else:
                written = [json.loads(line) for line in path.read_text().splitlines()]
                assert written == [{k: json_value(v) for k, v in row.items()} for row in rows]


def test_export_one_table_to_a_file_or_standard_output(served: Served, tmp_path: Path) -> None:
    target = tmp_path / "lab-invoices.csv"
    result = cdp("export", "--db", served.database, "-t", "invoices", "-a", "lab", "-o", target)
    assert result.exit_code == 0, result.output
    with Store(served.database) as store:
        invoices = store.rows("invoices", account="lab")
        usage = store.rows("usage", account="eu")
    assert len(target.read_text().splitlines()) == 1 + len(invoices)
    assert "Decimal" not in target.read_text()
    piped = cdp(
        "export", "--db", served.database, "-f", "jsonl", "-t", "usage", "-a", "eu", "-o", "-"
    )
    assert piped.exit_code == 0
    assert [json.loads(line)["record_key"] for line in io.StringIO(piped.stdout)] == [
        row["record_key"] for row in usage
    ]
    unknown = cdp("export", "--db", served.database, "-t", "sims")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: unknown table 'sims' (tables: ")
    many = cdp("export", "--db", served.database, "-o", "-")
    assert many.stderr == "error: --out - writes one table: pass --table\n"


# -- tags -------------------------------------------------------------------------------------


def test_tags_import_dry_run_then_push(served: Served, store_copy: Path, tmp_path: Path) -> None:
    with Store(store_copy) as store:
        lab = [r["iccid"] for r in store.rows("subscriptions", account="lab")][:2]
        eu = [r["iccid"] for r in store.rows("subscriptions", account="eu")][:1]
    source = tmp_path / "tags.csv"
    # emnify keeps labels (keys without values): the eu SIM gets one.
    source.write_text(
        "iccid,key,value\n"
        + "".join(f"{iccid},cdp-test-site,berlin-{n}\n" for n, iccid in enumerate(lab))
        + f"{eu[0]},cdp-test-site,\n"
    )
    patches = {account: len(e.requests) for account, e in served.emulators.items()}
    dry = cdp("tags", "import", source, "--config", served.config, "--db", store_copy, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Imported 3 row(s) from" in dry.stdout
    assert "3 added, 0 updated, 0 unchanged, 0 removed" in dry.stdout
    plan = {(row[0], row[1]): row[2] for row in table_rows(dry.stdout)}
    assert plan == {
        **{("lab", iccid): f"cdp-test-site=berlin-{n}" for n, iccid in enumerate(lab)},
        ("eu", eu[0]): "cdp-test-site",
    }
    assert "Dry run: 3 SIM(s) would change; no platform was called." in dry.stdout
    for account, emulator in served.emulators.items():
        assert all(r.method == "GET" for r in emulator.requests[patches[account] :])

    pushed = cdp("tags", "import", source, "--config", served.config, "--db", store_copy, "--push")
    assert pushed.exit_code == 0, pushed.output
    assert "0 added, 0 updated, 3 unchanged" in pushed.stdout
    assert "Pushed the tags of 3 SIM(s)." in pushed.stdout
    for n, iccid in enumerate(lab):
        assert served.emulators["lab"].fleet.sims[iccid].tags["cdp-test-site"] == f"berlin-{n}"
    with Store(store_copy) as store:
        platform_tags = {
            (t.account, t.iccid): t.value
            for t in store.tags()
            if t.key == "cdp-test-site" and t.source == "platform"
        }
    assert platform_tags == {
        ("lab", lab[0]): "berlin-0",
        ("lab", lab[1]): "berlin-1",
        ("eu", eu[0]): None,
    }
    listed = cdp("tags", "list", "--db", store_copy, "--source", "local")
    assert {(row[0], row[1], row[2]) for row in table_rows(listed.stdout)} == {
        (account, iccid, "cdp-test-site") for account, iccid in platform_tags
    }


def test_tags_dry_run_foresees_what_the_platform_refuses(
    served: Served, store_copy: Path, tmp_path: Path
) -> None:
    with Store(store_copy) as store:
        [lab] = [r["iccid"] for r in store.rows("subscriptions", account="lab")][:1]
        [eu] = [r["iccid"] for r in store.rows("subscriptions", account="eu")][:1]
    source = tmp_path / "tags.csv"
    # emnify keeps labels only: a tag with a value cannot be stored there.
    source.write_text(f"iccid,key,value\n{lab},site,paris\n{eu},site,berlin\n")
    before = {account: len(e.requests) for account, e in served.emulators.items()}

    dry = cdp("tags", "import", source, "--config", served.config, "--db", store_copy, "--dry-run")
    assert dry.exit_code == 1, dry.output
    assert {(row[0], row[1]) for row in table_rows(dry.stdout)} == {("lab", lab)}
    assert (
        f"refused: eu {eu}: 'site' cannot hold a value: the platform keeps labels only"
        in dry.stdout
    )
    assert "Dry run: 1 SIM(s) would change, 1 would be refused; no platform was called." in (
        dry.stdout
    )
    assert dry.stderr == "error: the platforms would refuse the tags of 1 SIM(s)\n"

    pushed = cdp("tags", "import", source, "--config", served.config, "--db", store_copy, "--push")
    assert pushed.exit_code == 1
    assert "Pushed the tags of 1 SIM(s)." in pushed.stdout
    assert pushed.stderr == "error: the tags of 1 SIM(s) could not be pushed\n"
    # the refused change was never sent: emnify saw no write
    assert all(r.method == "GET" for r in served.emulators["eu"].requests[before["eu"] :])
    assert served.emulators["lab"].fleet.sims[lab].tags["site"] == "paris"


def test_tags_import_refuses_a_bad_file_whole(
    served: Served, store_copy: Path, tmp_path: Path
) -> None:
    source = tmp_path / "tags.csv"
    source.write_text("iccid,key,value\n123,site,x\n")
    result = cdp("tags", "import", source, "--db", store_copy)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {source}: 1 bad row(s), nothing imported: line 2: not a valid ICCID\n"
    )


# -- purge ------------------------------------------------------------------------------------


def test_purge_asks_then_deletes_one_account(
    served: Served, store_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from typer.testing import CliRunner

    from cdp_sdk.cli._app import app

    declined = CliRunner().invoke(app, ["purge", "--db", str(store_copy), "-a", "eu"], input="n\n")
    assert declined.exit_code == 1
    assert declined.stderr == "error: nothing deleted\n"
    with Store(store_copy) as store:
        assert "eu" in store.accounts()
        rows = sum(len(store.rows(t, account="eu")) for t in schema.ENTITY_TABLES)
    result = cdp("purge", "--db", store_copy, "--account", "eu", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Deleted ")
    assert "of account 'eu': subscriptions " in result.stdout
    with Store(store_copy) as store:
        assert store.accounts() == ["lab", "us"]
        assert not store.rows("api_calls", account="eu")
        assert store.rows("subscriptions", account="lab")
    assert rows > 0
    assert main(["purge", "--db", str(store_copy), "--account", "eu", "--yes"]) == 2
    assert capsys.readouterr().err == (
        "error: Invalid value for --account: the store holds nothing for account 'eu' "
        "(accounts: lab, us) (see 'cdp purge --help')\n"
    )
