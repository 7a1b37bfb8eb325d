"""The sync that ``test_sync_crash.py`` kills: a workspace of every built-in connector's
emulator, in-process, and a sync that sends itself SIGKILL before its Nth SQL statement.

Kept apart from the test module (no pytest import) so that the child process the test
starts, ``python crash_sync.py TARGET statement|listing N``, loads quickly.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event

from cdp_sdk.cli._platforms import PLATFORMS
from cdp_sdk.sync import PageCommitted, Store, SyncEvent, SyncOptions, schema
from cdp_sdk.workspace import Account, Workspace

__all__ = ["NOW", "OPTIONS", "Counts", "Rows", "rows", "sync", "workspace"]

TODAY = date(2024, 6, 15)
NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)
OPTIONS = SyncOptions(
    history=timedelta(days=40), window=timedelta(days=10), invoice_refresh=timedelta(days=20)
)
"""Short windows over a short history: many commits, each a point to be killed at. The
invoice refresh stays within the history, so that a resumed sync reads no invoice older
than a first sync does (which would be right, but not what a clean sync holds)."""
SIMS, PAGE = 8, 3
BOOKKEEPING = {
    **{table.name: {"run_id", "synced_at"} for table in schema.ENTITY_TABLES},
    schema.quarantine.name: {"run_id", "synced_at", "first_seen_at"},
    schema.cursors.name: {"run_id", "updated_at"},
}
"""Per table, the columns that say when and by which run a row was written."""


def workspace() -> Workspace:
    """One account per built-in connector with an emulator, in this process."""
    accounts = {}
    for built_in in PLATFORMS:
        emulator = built_in.start(built_in.fleet(SIMS, today=TODAY), unlimited=True)
        emulator.max_page_size = PAGE
        settings = {
            **built_in.settings(f"https://{built_in.connector}.crash.invalid"),
            "rate_limit": None,
        }
        accounts[built_in.connector] = Account(built_in.connector, settings, emulator.transport())
    return Workspace(accounts)


@dataclass
class Counts:
    """What a sync did: SQL statements executed, and listings of two pages or more ended
    (their last page committed together with the entity's cursor)."""

    statements: int = 0
    listing_ends: int = 0


def sync(target: str, *, kill: tuple[str, int] | None = None) -> Counts:
    """Sync everything into ``target``; with ``kill``, send SIGKILL to this process:

    - ``("statement", n)``: just before the nth SQL statement (inside a transaction, or
      right after a commit);
    - ``("listing", n)``: just after the transaction that ended the nth listing (or
      time window) of two pages or more committed: a cursor saved a page too early
      would lose the rest of that listing here.
    """
    counts = Counts()
    armed = False
    counting = threading.Lock()
    """Transactions of several accounts run at once (PostgreSQL): one count at a time."""
    pages: dict[tuple[str, str], int] = defaultdict(int)
    """Pages committed per account and entity since its cursor last moved."""

    def before_statement(
        connection: Any, cursor: Any, statement: str, parameters: Any, *args: Any
    ) -> None:
        nonlocal armed
        with counting:
            counts.statements += 1
            if armed or kill == ("statement", counts.statements):
                os.kill(os.getpid(), signal.SIGKILL)
            # Whether the transaction under way on this connection wrote page rows.
            if not _CURSOR_WRITE.match(statement):
                if _PAGE_ROWS.match(statement) is not None:
                    connection.info["wrote_rows"] = True
                return
            # The cursor is the last statement of its transaction.
            wrote_rows = connection.info.pop("wrote_rows", False)
            key = _account_entity(parameters)
            if wrote_rows and pages[key] >= 1:
                counts.listing_ends += 1
                armed = kill == ("listing", counts.listing_ends)
            pages[key] = -1 if wrote_rows else 0  # this page's PageCommitted comes next

    def progress(event: SyncEvent) -> None:
        if isinstance(event, PageCommitted):
            pages[event.account, event.entity.value] += 1

    with Store(target) as store, workspace() as accounts:
        event.listen(store.engine, "before_cursor_execute", before_statement)
        event.listen(store.engine, "begin", lambda connection: connection.info.pop("wrote_rows", 0))
        report = store.sync(accounts, now=NOW, options=OPTIONS, progress=progress)
    assert report.ok, [r.error for r in report.errors]
    return counts


_PAGE_ROWS = re.compile(r"\s*INSERT INTO (subscriptions|usage|audit_events|invoices)\b", re.I)
_CURSOR_WRITE = re.compile(r"\s*INSERT INTO cursors\b", re.IGNORECASE)


def _account_entity(parameters: Any) -> tuple[str, str]:
    """The account and entity of a cursor upsert's parameters (a mapping with psycopg,
    a sequence in column order with SQLite)."""
    if isinstance(parameters, Mapping):
        return str(parameters["account"]), str(parameters["entity"])
    row = parameters[0] if isinstance(parameters[0], list | tuple) else parameters
    return str(row[0]), str(row[1])


Rows = dict[str, list[dict[str, Any]]]


def rows(target: str) -> Rows:
    """Every platform row, quarantined record and cursor, in primary-key order, without
    the columns that say when and by which run it was written."""
    with Store(target) as store:
        return {
            table.name: [
                {k: v for k, v in row.items() if k not in BOOKKEEPING[table.name]}
                for row in store.rows(table)
            ]
            for table in (*schema.ENTITY_TABLES, schema.cursors)
        }


if __name__ == "__main__":
    sync(sys.argv[1], kill=(sys.argv[2], int(sys.argv[3])))
