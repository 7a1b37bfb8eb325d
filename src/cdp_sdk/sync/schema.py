"""The store's tables (SQLAlchemy Core) and the natural key of each entity.

Every entity table starts with ``account`` (the workspace account name) and ends with two
bookkeeping columns: ``run_id`` (the sync run that last wrote the row) and ``synced_at``
(when). Money columns are :class:`~cdp_sdk.sync.ExactDecimal`, instants
:class:`~cdp_sdk.sync.UtcDateTime`, enums their string values, ``extra`` and other
structured values JSON.

Natural keys (the primary keys; upserts on them make reruns idempotent):

============================  ============================================================
table                         key
============================  ============================================================
``subscriptions``             ``(account, id)``
``tags``                      ``(account, iccid, source, key)``; ``source`` is
                              ``platform`` or ``local``
``activation_modes``          ``(account, name)``
``tariffs``                   ``(account, id)``
``usage``                     ``(account, record_key)``: a digest of (iccid, bearer,
                              direction, period_start, granularity, zone), since SQL
                              unique keys never match on NULLs
``invoices``                  ``(account, id)``
``invoice_lines``             ``(account, invoice_id, line_no)``
``audit_events``              ``(account, record_key)``: the platform's event id, or a
                              digest of the event's fields when it has none
``cursors``                   ``(account, entity)``
``quarantine``                ``(account, entity, record_key)``: a digest of the record's
                              natural key
``sync_runs``                 ``id`` (an integer)
``sync_results``              ``(run_id, account, entity)``
``api_calls``                 ``id`` (an integer)
``change_plans``              ``id`` (the plan's id)
``change_journal``            ``id`` (an integer): the intents and outcomes of applied
                              plans (:mod:`cdp_sdk.changes`)
``sync_leases``               ``account``: at most one sync of an account at a time
============================  ============================================================

Schema versions (``store_info.schema_version``): opening a store written by an older
cdp-sdk creates the tables its version lacks, runs :func:`migrate` (the columns added to
existing tables), then records :data:`SCHEMA_VERSION`; a store of a newer version is
refused.

- 1: the first release.
- 2: ``change_plans`` and ``change_journal`` (new tables only).
- 3: ``sync_leases`` (a store opened by this version is marked 3, so that an older
  cdp-sdk, which would sync without taking leases, refuses it).
- 4: ``sync_runs.host``, ``.pid`` and ``.heartbeat_at`` (which runs are still alive),
  ``sync_results.cleaned`` and ``.quarantined``, and the ``quarantine`` table.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn

from cdp_sdk.models import AuditEvent, UsageRecord
from cdp_sdk.sync._types import ExactDecimal, JsonDocument, UtcDateTime

__all__ = [
    "ENTITY_TABLES",
    "SCHEMA_VERSION",
    "activation_modes",
    "api_calls",
    "audit_events",
    "audit_key",
    "change_journal",
    "change_plans",
    "cursors",
    "invoice_lines",
    "invoices",
    "metadata",
    "migrate",
    "quarantine",
    "quarantine_key",
    "store_info",
    "subscriptions",
    "sync_leases",
    "sync_results",
    "sync_runs",
    "tables",
    "tags",
    "tariffs",
    "usage",
    "usage_key",
]

SCHEMA_VERSION = 4

metadata = MetaData()

Json = JsonDocument()


def _bookkeeping() -> list[Column[Any]]:
    return [Column("run_id", Integer), Column("synced_at", UtcDateTime)]


store_info = Table(
    "store_info",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
    comment="Facts about the store itself, such as its schema version.",
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("account", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("connector", Text, nullable=False),
    Column("iccid", Text, nullable=False),
    Column("imsi", Text),
    Column("msisdn", Text),
    Column("imei", Text),
    Column("eid", Text),
    Column("status", Text, nullable=False),
    Column("status_raw", Text, nullable=False),
    Column("tariff", Text),
    Column("created_at", UtcDateTime),
    Column("activated_at", UtcDateTime),
    Column("updated_at", UtcDateTime),
    Column("ip_address", Text),
    Column("platform_account", Text, comment="The platform's own account field, if any."),
    Column("extra", Json, nullable=False),
    *_bookkeeping(),
    Index("ix_subscriptions_iccid", "iccid"),
)

tags = Table(
    "tags",
    metadata,
    Column("account", Text, primary_key=True),
    Column("iccid", Text, primary_key=True),
    Column("source", Text, primary_key=True, comment="platform or local"),
    Column("key", Text, primary_key=True),
    Column("value", Text),
    Column("pushed_at", UtcDateTime, comment="local tags: when last pushed to the platform"),
    Column(
        "removed",
        Boolean,
        nullable=False,
        default=False,
        comment="local tags: dropped locally after a push; to be removed from the platform",
    ),
    *_bookkeeping(),
    Index("ix_tags_iccid", "iccid"),
)

activation_modes = Table(
    "activation_modes",
    metadata,
    Column("account", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("connector", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("description", Text),
    Column("billable", Boolean),
    Column("auto_activates", Boolean, nullable=False),
    Column("settable", Boolean, nullable=False),
    Column("next", Json, nullable=False),
    Column("extra", Json, nullable=False),
    *_bookkeeping(),
)

tariffs = Table(
    "tariffs",
    metadata,
    Column("account", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("connector", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("currency", Text),
    Column("recurring_fee", ExactDecimal),
    Column("included_data_bytes", BigInteger),
    Column("included_sms", BigInteger),
    Column("included_voice_seconds", BigInteger),
    Column("extra", Json, nullable=False),
    *_bookkeeping(),
)

usage = Table(
    "usage",
    metadata,
    Column("account", Text, primary_key=True),
    Column("record_key", Text, primary_key=True),
    Column("connector", Text, nullable=False),
    Column("iccid", Text, comment="NULL: an account-level total"),
    Column("bearer", Text, nullable=False),
    Column("direction", Text),
    Column("quantity", BigInteger, nullable=False),
    Column("unit", Text, nullable=False),
    Column("period_start", UtcDateTime, comment="UsageRecord.start (included)"),
    Column("period_end", UtcDateTime, comment="UsageRecord.end (excluded)"),
    Column("granularity", Text, nullable=False),
    Column("final", Boolean, nullable=False),
    Column("cost", ExactDecimal),
    Column("currency", Text),
    Column("zone", Text),
    Column("extra", Json, nullable=False),
    *_bookkeeping(),
    Index("ix_usage_account_start", "account", "period_start"),
    Index("ix_usage_iccid", "iccid"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("account", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("connector", Text, nullable=False),
    Column("platform_account", Text),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("issued_at", Date),
    Column("due_at", Date),
    Column("currency", Text, nullable=False),
    Column("total", ExactDecimal, nullable=False),
    Column("status", Text),
    Column("extra", Json, nullable=False),
    *_bookkeeping(),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("account", Text, primary_key=True),
    Column("invoice_id", Text, primary_key=True),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("quantity", ExactDecimal),
    Column("unit_price", ExactDecimal),
    Column("iccid", Text),
    Column("category", Text),
    *_bookkeeping(),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("account", Text, primary_key=True),
    Column("record_key", Text, primary_key=True),
    Column("connector", Text, nullable=False),
    Column("id", Text),
    Column("iccid", Text),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("kind", Text, nullable=False),
    Column("field", Text),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("actor", Text),
    Column("description", Text),
    Column("extra", Json, nullable=False),
    *_bookkeeping(),
    Index("ix_audit_events_account_time", "account", "occurred_at"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("account", Text, primary_key=True),
    Column("entity", Text, primary_key=True),
    Column("record_key", Text, primary_key=True, comment="a digest of the natural key"),
    Column("connector", Text, nullable=False),
    Column("reason", Text, nullable=False, comment="why the store cannot hold the record"),
    Column(
        "record",
        Text,
        nullable=False,
        comment="the record as JSON text, characters the database refuses escaped (\\u0000)",
    ),
    Column("first_seen_at", UtcDateTime, nullable=False),
    *_bookkeeping(),
    comment="Records a sync could not store, with the reason; the sync went on without them.",
)

cursors = Table(
    "cursors",
    metadata,
    Column("account", Text, primary_key=True),
    Column("entity", Text, primary_key=True),
    Column("position", UtcDateTime, comment="where the next run resumes; NULL: from scratch"),
    Column("run_id", Integer),
    Column("updated_at", UtcDateTime, nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False, comment="sync or tag_push"),
    Column("status", Text, nullable=False, comment="running, ok, partial, failed or interrupted"),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("duration", Float),
    Column("records", BigInteger, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("host", Text, comment="the host name of the process running it"),
    Column("pid", Integer, comment="the id of the process running it"),
    Column("heartbeat_at", UtcDateTime, comment="last sign of life of a running run"),
)

sync_results = Table(
    "sync_results",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("account", Text, primary_key=True),
    Column("entity", Text, primary_key=True),
    Column("status", Text, nullable=False, comment="ok, skipped or error"),
    Column("records", BigInteger, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("duration", Float, nullable=False),
    Column("error", Text),
    Column("detail", Text),
    Column(
        "cleaned",
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="records stored with characters the database refuses removed",
    ),
    Column(
        "quarantined",
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="records the store could not hold, kept in the quarantine table",
    ),
)

api_calls = Table(
    "api_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer),
    Column("account", Text, nullable=False),
    Column("connector", Text, nullable=False),
    Column("entity", Text),
    Column("at", UtcDateTime, nullable=False, comment="when the attempt ended"),
    Column("method", Text, nullable=False),
    Column("path", Text, nullable=False, comment="the path template, never a concrete path"),
    Column("status_code", Integer),
    Column("duration_ms", Float, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("request_id", Text, comment="the vendor's request id, redacted"),
    Column("error", Text, comment="the error class of a failed attempt"),
    Index("ix_api_calls_account", "account"),
    Index("ix_api_calls_run", "run_id"),
)

change_plans = Table(
    "change_plans",
    metadata,
    Column("id", Text, primary_key=True),
    Column("digest", Text, nullable=False, comment="SHA-256 of the planned changes"),
    Column("created_at", UtcDateTime, nullable=False, comment="when the plan was made"),
    Column("source", Text, nullable=False, comment="live or store: where states were read"),
    Column("changes", Integer, nullable=False, comment="SIMs with calls to make"),
    Column("first_applied_at", UtcDateTime, nullable=False),
    comment="Plans of changes that were applied (cdp_sdk.changes).",
)

change_journal = Table(
    "change_journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plan_id", Text, nullable=False),
    Column("run_id", Integer, comment="the apply's run (sync_runs, kind changes)"),
    Column("account", Text, nullable=False),
    Column("iccid", Text, nullable=False),
    Column("step", Text, nullable=False, comment="status, tags, or sim (the whole SIM)"),
    Column("event", Text, nullable=False, comment="intent (before a call) or outcome"),
    Column("outcome", Text, comment="done, skipped, pending, refused or failed"),
    Column("code", Text, comment="the vendor's error code, or a local one"),
    Column("request_id", Text, comment="the platform's request id, redacted"),
    Column("detail", Text, comment="what happened, redacted"),
    Column("request", Json, comment="what the call asks for"),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_change_journal_plan", "plan_id"),
    Index("ix_change_journal_account", "account"),
    comment="Each intent and outcome of an apply, written as it happens.",
)

sync_leases = Table(
    "sync_leases",
    metadata,
    Column("account", Text, primary_key=True),
    Column("token", Text, nullable=False, comment="unique to the sync holding the lease"),
    Column("holder", Text, nullable=False, comment="who holds it, for people: label, host, pid"),
    Column("scope", Text, nullable=False, comment="the holder's machine and process namespace"),
    Column("pid", Integer, nullable=False, comment="the holder's process id within its scope"),
    Column("run_id", Integer),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, comment="free after this unless renewed"),
    comment="One row per account being synced: the lease that keeps other syncs off it.",
)

tables: dict[str, Table] = {
    table.name: table
    for table in (
        subscriptions,
        tags,
        activation_modes,
        tariffs,
        usage,
        invoices,
        invoice_lines,
        audit_events,
        cursors,
        quarantine,
        sync_runs,
        sync_results,
        api_calls,
        change_plans,
        change_journal,
    )
}
"""The store's tables by name (``store_info`` and ``sync_leases`` left out: they describe
the store and the syncs under way, not the accounts)."""

ENTITY_TABLES = (
    subscriptions,
    tags,
    activation_modes,
    tariffs,
    usage,
    invoices,
    invoice_lines,
    audit_events,
    quarantine,
)
"""The tables that hold platform data (an account's purge empties them)."""


def _digest(parts: list[Any]) -> str:
    text = json.dumps(parts, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def usage_key(record: UsageRecord) -> str:
    """The natural key of a usage record within its account, as a digest."""
    return _digest(
        [
            record.iccid,
            record.bearer.value,
            record.direction.value if record.direction else None,
            record.start.isoformat() if record.start else None,
            record.granularity.value,
            record.zone,
        ]
    )


def audit_key(event: AuditEvent) -> str:
    """The platform's id of the event, or a digest of its fields when it has none."""
    if event.id:
        return f"id:{event.id}"
    return "h:" + _digest(
        [
            event.iccid,
            event.occurred_at.isoformat(),
            event.kind.value,
            event.field,
            event.old_value,
            event.new_value,
            event.actor,
        ]
    )


_NEW_COLUMNS: dict[int, tuple[tuple[Table, tuple[str, ...]], ...]] = {
    4: (
        (sync_runs, ("host", "pid", "heartbeat_at")),
        (sync_results, ("cleaned", "quarantined")),
    ),
}
"""Columns each schema version added to tables that existed before it."""


def migrate(connection: Connection, found: int) -> None:
    """Bring a store of schema version ``found`` up to :data:`SCHEMA_VERSION` (in the
    caller's transaction).

    New tables are made by ``metadata.create_all``; this adds the new columns of existing
    tables (with their defaults), skipping any already there.
    """
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for table, names in _NEW_COLUMNS.get(version, ()):
            present = {column["name"] for column in inspect(connection).get_columns(table.name)}
            for name in names:
                if name in present:
                    continue
                column = CreateColumn(table.c[name]).compile(dialect=connection.dialect)
                preparer = connection.dialect.identifier_preparer
                connection.execute(
                    text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {column}")
                )


def quarantine_key(parts: list[Any]) -> str:
    """The key of a quarantined record: a digest of its natural key's parts (any text,
    characters the database refuses included)."""
    return _digest(parts)
