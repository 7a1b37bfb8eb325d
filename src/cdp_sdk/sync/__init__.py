"""The sync store: every entity of every account of a workspace, mirrored into a database.

SQLite (a file, zero set-up) by default, PostgreSQL by URL, through SQLAlchemy Core::

    from cdp_sdk import Workspace
    from cdp_sdk.sync import Store

    with Workspace.load("cdp.toml") as workspace, Store("cdp.db") as store:
        report = store.sync(workspace)          # incremental after the first run
        print(report.status, report.records)
        sims = store.to_pandas("subscriptions")  # with the `frames` extra

Syncs are incremental (a cursor per account and entity), idempotent (upserts on natural
keys), resumable (each page is committed with its cursor) and exclusive (a lease per
account keeps two syncs, in any processes or machines, off one account at once; see
:meth:`Store.leases`). Every HTTP call is journaled without identifiers or secrets; local
tags can be imported from CSV and pushed to the platforms; :meth:`Store.purge_account`
deletes an account's data. The tables are in :mod:`cdp_sdk.sync.schema`.

Needs the ``sync`` extra (SQLAlchemy), plus ``postgres`` for PostgreSQL.
"""

try:
    import sqlalchemy as _sqlalchemy  # noqa: F401
except ImportError as _error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "cdp_sdk.sync needs SQLAlchemy: pip install 'cdp-iot-sdk[sync]' "
        "(and 'cdp-iot-sdk[postgres]' for PostgreSQL)"
    ) from _error

from cdp_sdk.sync import schema
from cdp_sdk.sync._errors import InsecureStoreWarning, StoreError, StorePermissionError
from cdp_sdk.sync._lease import Lease, LeaseLostError
from cdp_sdk.sync._models import (
    Cursor,
    Entity,
    EntityFinished,
    EntityResult,
    EntityStarted,
    PageCommitted,
    PurgeReport,
    StoredTag,
    SyncEvent,
    SyncOptions,
    SyncReport,
    TagChange,
    TagImport,
    TagPlan,
    TagPushReport,
)
from cdp_sdk.sync._store import DEFAULT_DATABASE, Store
from cdp_sdk.sync._tags import TagImportError
from cdp_sdk.sync._types import ExactDecimal, UtcDateTime

__all__ = [
    "DEFAULT_DATABASE",
    "Cursor",
    "Entity",
    "EntityFinished",
    "EntityResult",
    "EntityStarted",
    "ExactDecimal",
    "InsecureStoreWarning",
    "Lease",
    "LeaseLostError",
    "PageCommitted",
    "PurgeReport",
    "Store",
    "StoreError",
    "StorePermissionError",
    "StoredTag",
    "SyncEvent",
    "SyncOptions",
    "SyncReport",
    "TagChange",
    "TagImport",
    "TagImportError",
    "TagPlan",
    "TagPushReport",
    "UtcDateTime",
    "schema",
]
