"""The sync store: a full first sync, incremental reruns, isolation, journal, purge."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdp_sdk import ConfigurationError, SimStatus
from cdp_sdk.connectors.sandbox import SandboxConnector, SandboxEmulator
from cdp_sdk.sandbox import Fault, Fleet
from cdp_sdk.sync import (
    Entity,
    EntityFinished,
    EntityStarted,
    PageCommitted,
    Store,
    SyncEvent,
    SyncOptions,
    schema,
)
from cdp_sdk.sync._db import database_url
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from conftest import InstallPlugins
from toy_connector import ToyPlatform

TODAY = date(2024, 6, 15)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
BOOKKEEPING = {"run_id", "synced_at", "updated_at"}
ACCOUNT_TABLES = [table for table in schema.tables.values() if "account" in table.c]


def in_process(size: int, seed: int, **settings: Any) -> Account:
    """A sandbox account on its own in-process fleet (today: 15 June 2024)."""
    return Account(
        "sandbox",
        {"fleet_size": size, "seed": seed, "today": TODAY, "rate_limit": None, **settings},
    )


def vendor(size: int, seed: int = 1, **fleet: Any) -> SandboxEmulator:
    """A sandbox emulator to pass as a transport, without a rate limit of its own."""
    return SandboxEmulator(
        Fleet(size, seed=seed, today=TODAY, **fleet), requests_per_second=1_000_000
    )


def emulator_of(workspace: Workspace, name: str) -> SandboxEmulator:
    """The in-process emulator behind a sandbox account of ``workspace``."""

    async def find(async_workspace: AsyncWorkspace) -> SandboxEmulator:
        plugin = async_workspace.connector(name).plugin
        assert isinstance(plugin, SandboxConnector)
        assert plugin.emulator is not None
        return plugin.emulator

    return workspace.run(find)


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """The platform data and cursors of a store, without bookkeeping columns."""
    tables = [*schema.ENTITY_TABLES, schema.cursors]
    return {
        table.name: sorted(
            ({k: v for k, v in row.items() if k not in BOOKKEEPING} for row in store.rows(table)),
            key=repr,
        )
        for table in tables
    }


def params_of(requests: list[httpx.Request]) -> list[dict[str, str]]:
    return [dict(request.url.params) for request in requests]


# -- a first sync ---------------------------------------------------------------------------


def test_first_sync_mirrors_every_entity(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(40, 1), "us": in_process(25, 2)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW)
        assert report.ok
        assert {(r.account, r.entity) for r in report.results} == {
            (account, entity) for account in ("eu", "us") for entity in Entity
        }
        sims = list(workspace.subscriptions(accounts=["eu"]))
        rows = store.rows("subscriptions", account="eu")
        assert {(r["iccid"], r["status"], r["imsi"]) for r in rows} == {
            (s.iccid, s.status.value, s.imsi) for s in sims
        }
        platform_tags = {(t.iccid, t.key, t.value) for t in store.tags(account="eu")}
        assert platform_tags == {(s.iccid, t.key, t.value) for s in sims for t in s.tags}

        history_start = datetime(2024, 3, 17, tzinfo=UTC)  # NOW - 90 days, at midnight
        usage = list(workspace.usage(start=history_start, accounts=["us"]))
        assert len(store.rows("usage", account="us")) == len(usage)
        assert report.result("us", "usage").records == len(usage)
        assert {r["granularity"] for r in store.rows("usage")} == {"day"}

        invoices = list(workspace.invoices(start=history_start, accounts=["eu"]))
        assert {r["id"] for r in store.rows("invoices", account="eu")} == {i.id for i in invoices}
        lines = store.rows("invoice_lines", account="eu")
        assert len(lines) == sum(len(i.lines) for i in invoices)
        assert sum(r["amount"] for r in lines) == sum(i.total for i in invoices)

        assert store.runs()[0] == report


def test_money_is_exact_and_instants_are_aware_utc(tmp_path: Path) -> None:
    path = tmp_path / "cdp.db"
    workspace = Workspace({"eu": in_process(5, 1)})
    with workspace, Store(path) as store:
        store.sync(workspace, entities=["tariffs", "subscriptions"], now=NOW)
        fees = {r["id"]: r["recurring_fee"] for r in store.rows("tariffs")}
        assert fees == {
            "plan-s": Decimal("1.50"),
            "plan-m": Decimal("4.00"),
            "plan-l": Decimal("12.00"),
        }
        assert str(fees["plan-s"]) == "1.50"  # the scale survives
        for row in store.rows("subscriptions"):
            assert row["created_at"].tzinfo is UTC
    # On disk: text, never a float; instants as fixed-width UTC text that sorts as time.
    with sqlite3.connect(path) as raw:
        assert raw.execute("select typeof(recurring_fee), recurring_fee from tariffs").fetchall()[
            0
        ] in [
            ("text", "1.50"),
            ("text", "4.00"),
            ("text", "12.00"),
        ]
        created = raw.execute("select created_at from subscriptions").fetchone()[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created)


# -- incremental ----------------------------------------------------------------------------


def test_second_run_asks_only_for_changes(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(60, 3)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator = emulator_of(workspace, "eu")
        emulator.max_page_size = 10
        first = store.sync(workspace, now=NOW)
        assert first.ok
        assert len(emulator.requests_to("^/v1/sims$")) == 6  # 60 SIMs, 10 a page
        cursors = {c.entity: c.position for c in store.cursors(account="eu")}
        assert cursors[Entity.SUBSCRIPTIONS] == NOW - timedelta(minutes=5)
        # Today's usage is not final yet: the next run asks from today.
        assert cursors[Entity.USAGE] == datetime(2024, 6, 15, tzinfo=UTC)

        # One SIM changes on the platform between the runs, through the API.
        sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE)

        async def suspend(async_workspace: AsyncWorkspace) -> None:
            await async_workspace.connector("eu").change_status(sim.iccid, "suspended")

        workspace.run(suspend)
        emulator.requests.clear()

        second = store.sync(workspace, now=NOW + timedelta(hours=1))
        assert second.ok
        listing = emulator.requests_to("^/v1/sims$")
        assert params_of(listing) == [
            {
                "modified_since": (NOW - timedelta(minutes=5)).isoformat(),
                "page": "1",
                "page_size": "500",
            }
        ]
        changed = second.result("eu", "subscriptions")
        assert changed.records == 1
        assert changed.detail == "changes only"
        row = next(r for r in store.rows("subscriptions") if r["iccid"] == sim.iccid)
        assert row["status"] == "suspended"
        assert len(store.rows("subscriptions")) == 60
        # Usage: one request, from the first day that was not final.
        assert params_of(emulator.requests_to("^/v1/usage$")) == [
            {"from": "2024-06-15", "to": "2024-06-16"}
        ]
        # Audit events: from the cursor on; the status change is the one new event.
        events = emulator.requests_to("^/v1/events$")
        assert {p["since"] for p in params_of(events)} == {cursors[Entity.AUDIT_EVENTS].isoformat()}
        new_events = [
            r for r in store.rows("audit_events") if r["iccid"] == sim.iccid and r["actor"] == "api"
        ]
        assert [(e["old_value"], e["new_value"]) for e in new_events] == [("live", "paused")]


def test_reruns_are_idempotent(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(30, 4), "us": in_process(10, 5)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, now=NOW)
        before = snapshot(store)
        store.sync(workspace, now=NOW)
        store.sync(workspace, now=NOW)
        assert snapshot(store) == before
        assert [r.status for r in store.runs()] == ["ok", "ok", "ok"]


def test_a_connector_without_incremental_lists_everything(
    tmp_path: Path, install_plugins: InstallPlugins, toy_platform: ToyPlatform
) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    # The toy connector declares `incremental`; a subclass without it lists in full.
    install_plugins(
        {"plain": "plain_toy:PlainToy"},
        modules={
            "plain_toy": (
                "from toy_connector import ToyConnector\n"
                "from cdp_sdk import Capability\n"
                "class PlainToy(ToyConnector):\n"
                "    name = 'plain'\n"
                "    capabilities = ToyConnector.capabilities - {Capability.INCREMENTAL}\n"
            )
        },
        distribution="plain-toy",
    )
    workspace = Workspace(
        {"toy": Account("plain", {"api_key": ToyPlatform.api_key}, toy_platform.transport())}
    )
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        toy_platform.requests.clear()
        again = store.sync(workspace, entities=["subscriptions"], now=NOW)
        assert again.result("toy", "subscriptions").records == 5
        assert again.result("toy", "subscriptions").detail.startswith("full listing")
        assert all(
            "changed_since" not in r.url.params for r in toy_platform.requests_to("/v1/sims")
        )
        # No point to resume from: the cursor says the next run lists from the start.
        [cursor] = store.cursors()
        assert (cursor.entity, cursor.position) == (Entity.SUBSCRIPTIONS, None)
        assert cursor.run_id == again.run_id


# -- isolation: skipped entities and errors -------------------------------------------------


def test_undeclared_entities_are_skipped_and_errors_stay_in_their_account(
    tmp_path: Path, install_plugins: InstallPlugins, toy_platform: ToyPlatform
) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    workspace = Workspace(
        {
            "toy": Account("toy", {"api_key": ToyPlatform.api_key}, toy_platform.transport()),
            "eu": in_process(20, 1),
        }
    )
    events: list[SyncEvent] = []
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator_of(workspace, "eu").faults.append(Fault(status=403, path="/v1/plans"))
        report = store.sync(workspace, now=NOW, progress=events.append)
        assert report.status == "partial"
        toy = {r.entity: r for r in report.results if r.account == "toy"}
        assert {e for e, r in toy.items() if r.status == "skipped"} == {
            Entity.TARIFFS,
            Entity.INVOICES,
            Entity.AUDIT_EVENTS,
        }
        assert toy[Entity.TARIFFS].detail == "connector 'toy' does not declare tariffs"
        # The toy platform has no account totals: usage was read SIM by SIM.
        assert toy[Entity.USAGE].status == "ok"
        assert toy[Entity.USAGE].detail == "usage per SIM"
        assert {r["iccid"] for r in store.rows("usage", account="toy")} == {
            sim.iccid for sim in toy_platform.fleet.sorted_sims()
        }
        # The failing entity is recorded; every other entity of the account went on.
        [error] = report.errors
        assert (error.account, error.entity) == ("eu", Entity.TARIFFS)
        assert error.error is not None
        assert error.error.startswith("PermissionDeniedError:")
        assert all(r.status == "ok" for r in report.results if r.account == "eu" and r is not error)
        stored = store.runs()[0]
        assert stored.status == "partial"
        assert stored.result("eu", "tariffs").error == error.error
    # Progress: each attempted entity starts, commits pages, and finishes.
    finished = [e.result for e in events if isinstance(e, EntityFinished)]
    assert sorted((r.account, r.entity) for r in finished) == sorted(
        (r.account, r.entity) for r in report.results
    )
    pages = Counter((e.account, e.entity) for e in events if isinstance(e, PageCommitted))
    for result in report.results:
        assert pages[result.account, result.entity] == result.pages
    started = [(e.account, e.entity) for e in events if isinstance(e, EntityStarted)]
    assert sorted(started) == sorted(
        (r.account, r.entity) for r in report.results if r.status != "skipped"
    )


def test_a_run_whose_every_attempted_entity_fails_has_failed(
    tmp_path: Path, install_plugins: InstallPlugins, toy_platform: ToyPlatform
) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    account = Account("toy", {"api_key": "not-the-key"}, toy_platform.transport())
    with Workspace({"toy": account}) as workspace, Store(tmp_path / "cdp.db") as store:
        # The toy platform has no tariffs or invoices: skipped; the listing is refused.
        entities = ["subscriptions", "tariffs", "invoices"]
        report = store.sync(workspace, now=NOW, entities=entities)
        stored = store.runs()[0]
    statuses = {r.entity: r.status for r in report.results}
    assert statuses == {
        Entity.SUBSCRIPTIONS: "error",
        Entity.TARIFFS: "skipped",
        Entity.INVOICES: "skipped",
    }
    assert report.status == stored.status == "failed"


def test_bad_account_settings_fail_that_account_only(tmp_path: Path) -> None:
    workspace = Workspace(
        {"eu": in_process(5, 1), "broken": Account("sandbox", {"api_key": "env:CDP_NOT_SET_X"})}
    )
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW)
    assert report.status == "partial"
    assert {r.status for r in report.results if r.account == "broken"} == {"error"}
    assert {r.status for r in report.results if r.account == "eu"} == {"ok"}
    assert "CDP_NOT_SET_X" in report.result("broken", "usage").error  # type: ignore[operator]


# -- the journal ----------------------------------------------------------------------------

CANARY_SECRET = "canary-Secret-7Hq2"


class EchoingEmulator(SandboxEmulator):
    """Echoes the request path (ICCIDs included) in the vendor request id."""

    def response_headers(self, request: httpx.Request) -> dict[str, str]:
        return {"X-Request-Id": f"req{request.url.path}"}


def test_the_journal_records_every_call_without_identifiers_or_secrets(tmp_path: Path) -> None:
    emulator = EchoingEmulator(
        Fleet(12, seed=8, today=TODAY), api_key=CANARY_SECRET, requests_per_second=1_000_000
    )
    workspace = Workspace(
        {
            "eu": Account(
                "sandbox", {"api_key": CANARY_SECRET, "rate_limit": None}, emulator.transport()
            )
        }
    )
    csv_file = tmp_path / "tags.csv"
    canary = emulator.fleet.sorted_sims()[0]
    csv_file.write_text(f"iccid,key,value\n{canary.iccid},site,berlin\n")
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(workspace, now=NOW, options=SyncOptions(usage_per_sim=True))
        store.import_tags(csv_file)
        push = store.push_tags(workspace)
        assert len(push.pushed) == 1
        journal = store.rows("api_calls")

    # Every call is journaled with its run, the login made inside the auth flow included.
    assert len(journal) == len(emulator.requests)
    assert {row["run_id"] for row in journal} == {report.run_id, push.run_id}
    assert {row["path"] for row in journal} == {
        "/v1/auth",
        "/v1/sims",
        "/v1/plans",
        "/v1/sims/{iccid}/usage",
        "/v1/invoices",
        "/v1/events",
        "/v1/sims/{iccid}/tags",
    }
    per_sim = [row for row in journal if row["path"] == "/v1/sims/{iccid}/usage"]
    assert per_sim
    assert all(row["request_id"].startswith("req/v1/sims/<id:") for row in per_sim)
    assert {row["entity"] for row in journal} == {e.value for e in Entity} - {
        "activation_modes"
    } | {"tags"}
    assert all(row["status_code"] == 200 and row["error"] is None for row in journal)
    assert all(row["connector"] == "sandbox" and row["method"] for row in journal)
    # Nothing that identifies a subscriber or authenticates a client.
    text = repr(journal)
    assert CANARY_SECRET not in text
    assert re.search(r"\d{10,}", text) is None
    for sim in emulator.fleet.sorted_sims():
        for identifier in (sim.iccid, sim.imsi, sim.msisdn, sim.iccid[:-1]):
            assert identifier not in text


# -- deletion -------------------------------------------------------------------------------


def test_purge_deletes_one_account_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "cdp.db"
    eu_vendor = vendor(15, 1, iccid_prefix="8949001")
    workspace = Workspace(
        {
            "eu": Account("sandbox", {"rate_limit": None}, eu_vendor.transport()),
            "us": in_process(10, 2),
        }
    )
    eu_iccids = [sim.iccid for sim in eu_vendor.fleet.sorted_sims()]
    with workspace, Store(path) as store:
        store.sync(workspace, now=NOW)
        (tmp_path / "tags.csv").write_text(f"iccid,key,value\n{eu_iccids[0]},site,paris\n")
        store.import_tags(tmp_path / "tags.csv")
        assert all(store.rows(table, account="eu") for table in ("subscriptions", "api_calls"))

        report = store.purge_account("eu")
        assert report.deleted["subscriptions"] == 15
        assert report.deleted["cursors"] == len(Entity)
        assert report.deleted["api_calls"] > 0
        assert report.deleted["sync_runs"] == 0  # the run also synced "us"
        for table in ACCOUNT_TABLES:
            assert store.rows(table, account="eu") == [], table.name
        assert store.rows("subscriptions", account="us")
        assert store.accounts() == ["us"]

        # The last account's purge leaves runs with no results: they go too.
        assert store.purge_account("us").deleted["sync_runs"] == 1
        assert store.runs() == []
        assert store.purge_account("nobody").total == 0
    # Purged identifiers do not linger in the file (secure_delete, WAL truncated).
    data = b"".join(p.read_bytes() for p in tmp_path.glob("cdp.db*"))
    assert all(iccid.encode() not in data for iccid in eu_iccids)


# -- opening stores -------------------------------------------------------------------------


def test_store_urls(tmp_path: Path) -> None:
    assert database_url(tmp_path / "a.db").render_as_string() == f"sqlite:///{tmp_path / 'a.db'}"
    assert database_url("postgresql://cdp@db.example/cdp").drivername == "postgresql+psycopg"
    assert database_url("postgres://cdp@db.example/cdp").drivername == "postgresql+psycopg"
    with Store(f"sqlite:///{tmp_path / 'b.db'}") as store:
        assert store.dialect == "sqlite"
    assert (tmp_path / "b.db").exists()
    with Store("sqlite://") as memory:  # in memory, shared by the sync's worker thread
        workspace = Workspace({"eu": in_process(3, 1)})
        with workspace:
            assert memory.sync(workspace, entities=["subscriptions"], now=NOW).ok
        assert len(memory.rows("subscriptions")) == 3


def test_an_unreachable_server_is_one_clear_error_without_its_password() -> None:
    with pytest.raises(ConfigurationError, match="cannot open the store") as caught:
        Store("postgresql://cdp:hunter2-pass@127.0.0.1:1/cdp")
    assert "hunter2-pass" not in str(caught.value)
    assert "postgresql+psycopg://cdp:***@127.0.0.1:1/cdp" in str(caught.value)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cdp.db"
    Store(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("update store_info set value = '99' where name = 'schema_version'")
    with pytest.raises(ConfigurationError, match="schema version 99"):
        Store(path)


class NoOffset(tzinfo):
    """A zone that cannot say its offset: a naive datetime in disguise."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(3, 1)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        with pytest.raises(ValueError, match="unknown entity 'sims'") as unknown:
            store.sync(workspace, entities=["sims"])
        assert str(unknown.value) == (
            "unknown entity 'sims' (entities: subscriptions, activation_modes, tariffs, "
            "usage, invoices, audit_events)"
        )
        for naive in (datetime(2024, 6, 15), datetime(2024, 6, 15, tzinfo=NoOffset())):
            with pytest.raises(ValueError, match=r"^now must be an aware datetime$"):
                store.sync(workspace, now=naive)
        with pytest.raises(ConfigurationError, match="unknown account 'mars'"):
            store.sync(workspace, accounts=["mars"])
        with pytest.raises(
            ValueError, match=r"^unknown table 'sims' \(tables: activation_modes, api_calls, "
        ):
            store.rows("sims")
        with pytest.raises(
            TypeError,
            match=r"^expected a Workspace; with an AsyncWorkspace, await Store\.sync_async\(\)$",
        ):
            store.sync(AsyncWorkspace({"eu": in_process(3, 1)}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window must be positive"):
        SyncOptions(window=timedelta(0))


@pytest.mark.parametrize("name", ["settle", "lookback", "invoice_refresh"])
def test_an_overlap_may_be_zero_but_not_negative(name: str) -> None:
    assert getattr(SyncOptions(**{name: timedelta(0)}), name) == timedelta(0)
    with pytest.raises(ValueError, match=rf"^{name} must not be negative$"):
        SyncOptions(**{name: -timedelta(seconds=1)})


async def test_sync_async(tmp_path: Path) -> None:
    async with AsyncWorkspace({"eu": in_process(8, 1), "us": in_process(4, 2)}) as workspace:
        with Store(tmp_path / "cdp.db") as store:
            report = await store.sync_async(workspace, entities=[Entity.SUBSCRIPTIONS], now=NOW)
            assert report.ok
            assert Counter(r["account"] for r in store.rows("subscriptions")) == {"eu": 8, "us": 4}
