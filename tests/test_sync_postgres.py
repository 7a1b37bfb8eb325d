"""The same sync against a real PostgreSQL server on loopback (see ``tests/pg.py``).

Fails when PostgreSQL is not installed, unless ``CDP_SDK_SKIP_POSTGRES=1``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import pg
from cdp_sdk import SimStatus
from cdp_sdk.sync import Store, _lease, schema
from cdp_sdk.sync._lease import Claimant, acquire, confirm
from cdp_sdk.workspace import AsyncWorkspace, Workspace
from test_sync import NOW, emulator_of, in_process, snapshot
from test_sync_lease import opened_at_once, race


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Store]:
    store = Store(postgres_url)
    try:
        yield store
    finally:
        with store.engine.begin() as connection:
            schema.metadata.drop_all(connection)
        store.close()


def test_postgres_holds_what_sqlite_holds(postgres: Store, tmp_path: Path) -> None:
    assert postgres.dialect == "postgresql"
    workspace = Workspace({"eu": in_process(40, 1), "us": in_process(15, 2)})
    with workspace, Store(tmp_path / "cdp.db") as sqlite:
        assert postgres.sync(workspace, now=NOW).ok
        assert sqlite.sync(workspace, now=NOW).ok
        assert snapshot(postgres) == snapshot(sqlite)

        # Native types: NUMERIC keeps the scale, timestamps carry their zone.
        with postgres.engine.connect() as connection:
            kinds = dict(
                connection.execute(
                    text(
                        "select column_name, data_type from information_schema.columns "
                        "where table_name = 'tariffs' or table_name = 'usage'"
                    )
                ).all()
            )
        assert kinds["recurring_fee"] == "numeric"
        assert kinds["period_start"] == "timestamp with time zone"
        assert kinds["extra"] == "jsonb"
        fees = {r["id"]: r["recurring_fee"] for r in postgres.rows("tariffs", account="eu")}
        assert str(fees["plan-s"]) == "1.50"
        assert all(r["period_start"].tzinfo is UTC for r in postgres.rows("usage"))

        # Incremental on PostgreSQL too: one change, one record.
        emulator = emulator_of(workspace, "eu")
        sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE)

        async def suspend(async_workspace: AsyncWorkspace) -> None:
            await async_workspace.connector("eu").change_status(sim.iccid, "suspended")

        workspace.run(suspend)
        again = postgres.sync(workspace, entities=["subscriptions"], now=NOW + timedelta(hours=1))
        assert again.result("eu", "subscriptions").records == 1

        # Local tags, frames and purge work the same.
        postgres.import_tags(io.StringIO(f"iccid,key,value\n{sim.iccid},site,paris\n"))
        # Both sandbox fleets number their SIMs alike: the ICCID is in both accounts.
        assert [c.set for c in postgres.plan_tag_push(workspace).changes] == [{"site": "paris"}] * 2
        frame = postgres.to_pandas("invoices")
        assert isinstance(frame["total"].iloc[0], Decimal)
        assert str(frame["period_start"].dtype) == "object"
        report = postgres.purge_account("eu")
        assert report.deleted["subscriptions"] == 40
        for table in schema.tables.values():
            if "account" in table.c:
                assert postgres.rows(table, account="eu") == []
        assert len(postgres.rows("subscriptions")) == 15


def test_leases_on_postgresql_race_safely_on_the_server_clock(postgres: Store) -> None:
    outcomes = race(postgres)
    assert outcomes.count(None) == 1
    [lease] = postgres.leases()
    assert lease.expires_at - lease.acquired_at == timedelta(seconds=30)
    server_now = postgres.read(lambda c: c.scalar(text("select statement_timestamp()")))
    assert abs(lease.acquired_at - server_now) < timedelta(seconds=5)
    # Expired on the server's clock: the next claimant takes it over.
    postgres.transaction(
        lambda c: c.execute(
            text("update sync_leases set expires_at = statement_timestamp() - interval '1 s'")
        )
    )
    late = Claimant("late", scope="another/machine", pid=1)
    assert postgres.transaction(lambda c: acquire(c, late, "eu", timedelta(seconds=5))) is None
    assert postgres.transaction(lambda c: confirm(c, late, "eu", timedelta(seconds=5)))
    assert [lease.holder for lease in postgres.leases()] == ["late"]


def test_a_lease_on_postgresql_is_timed_by_the_server_not_this_machine(
    postgres: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DayBehind(datetime):
        """This machine's clock, a day behind the server's."""

        @classmethod
        def now(cls, tz: tzinfo | None = None) -> DayBehind:
            return cls.fromtimestamp(time.time() - 86400, tz)

    monkeypatch.setattr(_lease, "datetime", DayBehind)
    claimant = Claimant("a worker with a bad clock")
    assert postgres.transaction(lambda c: acquire(c, claimant, "eu", timedelta(seconds=30))) is None
    [lease] = postgres.leases()
    server_now = postgres.read(lambda c: c.scalar(text("select statement_timestamp()")))
    assert abs(lease.acquired_at - server_now) < timedelta(seconds=5)
    assert lease.expires_at - lease.acquired_at == timedelta(seconds=30)


def test_a_quick_transaction_on_postgresql_commits_without_waiting_for_the_flush(
    postgres: Store,
) -> None:
    def setting(connection: Any) -> str:
        return str(connection.exec_driver_sql("SHOW synchronous_commit").scalar())

    # The test server runs with synchronous_commit=off; these sessions start with it on.
    url = postgres.url.update_query_dict({"options": "-c synchronous_commit=on"})
    with Store(url.render_as_string(hide_password=False)) as store:
        assert store.transaction(setting, durable=False) == "off"
        assert store.transaction(setting) == "on"
        assert store.read(setting) == "on"  # SET LOCAL: for that transaction only


@pytest.mark.parametrize("attempt", range(3))
def test_workers_opening_a_new_store_at_once_all_open_it(postgres_url: str, attempt: int) -> None:
    with Store(postgres_url) as first, first.engine.begin() as connection:
        schema.metadata.drop_all(connection)  # a new, empty database
    assert opened_at_once(postgres_url) == [str(schema.SCHEMA_VERSION)] * 6


def test_missing_binaries_fail_unless_skipping_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "find_binaries", lambda: None)
    monkeypatch.delenv(pg.SKIP_VARIABLE, raising=False)
    with pytest.raises(pytest.fail.Exception, match="CDP_SDK_SKIP_POSTGRES=1"):
        pg.require_binaries()
    monkeypatch.setenv(pg.SKIP_VARIABLE, "1")
    with pytest.raises(pytest.skip.Exception, match="install PostgreSQL"):
        pg.require_binaries()
