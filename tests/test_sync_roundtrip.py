"""What a sync stores is what the platform gave: every field of each record, read back
from the store, equals the connector's model of it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from cdp_sdk.models import ActivationMode, Invoice, Subscription, Tariff
from cdp_sdk.sync import Store, SyncOptions
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from conftest import InstallPlugins
from pg import create_database
from test_sync import NOW, TODAY, in_process

OPTIONS = SyncOptions(history=timedelta(days=400))

RICH = (
    "from cdp_sdk.connectors.sandbox import SandboxConnector\n"
    "class RichSandbox(SandboxConnector):\n"
    "    name = 'rich'\n"
    "    def tariffs(self):\n"
    "        return self._described(super().tariffs())\n"
    "    async def _described(self, tariffs):\n"
    "        async for tariff in tariffs:\n"
    "            extra = {'description': tariff.name + ' plan', 'included_voice_seconds': 600}\n"
    "            yield tariff.model_copy(update=extra)\n"
    "    def invoices(self, *, start, end):\n"
    "        return self._per_sim(super().invoices(start=start, end=end))\n"
    "    async def _per_sim(self, invoices):\n"
    "        async for invoice in invoices:\n"
    "            lines = [line.model_copy(update={'iccid': SIM}) for line in invoice.lines]\n"
    "            yield invoice.model_copy(update={'lines': tuple(lines)})\n"
    "SIM = '8988303000000000010'\n"
)
"""The sandbox, with the fields it leaves empty filled: a tariff's description and
included voice (which no built-in platform fills), an invoice line's SIM."""


@pytest.fixture
def rich(install_plugins: InstallPlugins) -> Account:
    install_plugins({"rich": "rich_sandbox:RichSandbox"}, modules={"rich_sandbox": RICH})
    return Account("rich", {"fleet_size": 6, "seed": 11, "today": TODAY, "rate_limit": None})


def synced(
    tmp_path: Path, account: Account
) -> tuple[Store, list[ActivationMode], list[Tariff], list[Invoice]]:
    """A store synced from ``account``, and the account's records as models."""
    workspace = Workspace({"eu": account})
    with workspace:
        store = Store(tmp_path / "cdp.db")
        report = store.sync(workspace, now=NOW, options=OPTIONS)
        assert report.ok, report.errors

        async def read(async_workspace: AsyncWorkspace) -> Any:
            connector = async_workspace.connector("eu")
            modes = list(await connector.activation_modes())
            tariffs = [tariff async for tariff in connector.tariffs()]
            invoices = [i async for i in connector.invoices(start=NOW - OPTIONS.history)]
            return modes, tariffs, invoices

        modes, tariffs, invoices = workspace.run(read)
    return store, modes, tariffs, invoices


def test_activation_modes_and_tariffs_are_stored_field_by_field(
    tmp_path: Path, rich: Account
) -> None:
    store, modes, tariffs, _ = synced(tmp_path, rich)
    with store:
        stored_modes = {row.pop("name"): row for row in store.rows("activation_modes")}
        stored_tariffs = {row.pop("id"): row for row in store.rows("tariffs")}

    assert modes
    assert any(mode.description for mode in modes)
    for mode in modes:
        row = stored_modes[mode.name]
        assert row["connector"] == mode.connector
        assert row["status"] == mode.status.value
        assert row["description"] == mode.description
        assert (row["billable"], row["auto_activates"], row["settable"]) == (
            mode.billable,
            mode.auto_activates,
            mode.settable,
        )
        assert row["next"] == list(mode.next)
        assert row["extra"] == mode.extra
    assert tariffs
    assert all(tariff.description and tariff.included_voice_seconds for tariff in tariffs)
    for tariff in tariffs:
        row = stored_tariffs[tariff.id]
        assert (row["connector"], row["name"], row["description"]) == (
            tariff.connector,
            tariff.name,
            tariff.description,
        )
        assert (row["currency"], row["recurring_fee"]) == (tariff.currency, tariff.recurring_fee)
        assert (
            row["included_data_bytes"],
            row["included_sms"],
            row["included_voice_seconds"],
        ) == (tariff.included_data_bytes, tariff.included_sms, tariff.included_voice_seconds)
        assert row["extra"] == tariff.extra


def test_invoices_and_their_lines_are_stored_field_by_field(tmp_path: Path, rich: Account) -> None:
    store, _, _, invoices = synced(tmp_path, rich)
    with store:
        stored = {row["id"]: row for row in store.rows("invoices")}
        lines = {(row["invoice_id"], row["line_no"]): row for row in store.rows("invoice_lines")}

    assert any(invoice.lines for invoice in invoices)
    assert all(line.iccid for invoice in invoices for line in invoice.lines)
    assert len(lines) == sum(len(invoice.lines) for invoice in invoices)
    for invoice in invoices:
        row = stored[invoice.id]
        assert (row["connector"], row["platform_account"]) == (invoice.connector, invoice.account)
        assert (row["period_start"], row["period_end"]) == (
            invoice.period_start,
            invoice.period_end,
        )
        assert (row["issued_at"], row["due_at"]) == (invoice.issued_at, invoice.due_at)
        assert (row["currency"], row["total"], row["status"]) == (
            invoice.currency,
            invoice.total,
            invoice.status,
        )
        assert row["extra"] == invoice.extra
        for number, line in enumerate(invoice.lines, start=1):
            kept = lines[invoice.id, number]
            assert (kept["description"], kept["category"], kept["iccid"]) == (
                line.description,
                line.category,
                line.iccid,
            )
            assert (kept["amount"], kept["quantity"], kept["unit_price"]) == (
                line.amount,
                line.quantity,
                line.unit_price,
            )


def test_a_postgresql_server_in_another_time_zone_keeps_every_instant(
    tmp_path: Path, postgres_url: str
) -> None:
    """The server's own zone (here New York) never shifts what the store holds."""
    target = create_database(postgres_url, "new_york")
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("ALTER DATABASE new_york SET timezone TO 'America/New_York'"))
    finally:
        engine.dispose()
    workspace = Workspace({"eu": in_process(6, 11)})
    with workspace, Store(target) as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        stored = {row["iccid"]: row for row in store.rows("subscriptions")}
        with store.engine.connect() as connection:
            assert connection.execute(text("SHOW timezone")).scalar() == "America/New_York"

        async def listed(async_workspace: AsyncWorkspace) -> list[Subscription]:
            return [sim async for sim in async_workspace.connector("eu").subscriptions()]

        sims = workspace.run(listed)

    assert len(sims) == len(stored) == 6
    for sim in sims:
        row = stored[sim.iccid]
        assert (row["created_at"], row["updated_at"]) == (sim.created_at, sim.updated_at)
        assert row["created_at"] is not None
        assert row["created_at"].utcoffset() == timedelta(0)
