"""The plain values the sync store takes and gives back: options, reports, events, plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from cdp_sdk.models import Capability, Granularity

__all__ = [
    "Cursor",
    "Entity",
    "EntityFinished",
    "EntityResult",
    "EntityStarted",
    "PageCommitted",
    "PurgeReport",
    "StoredTag",
    "SyncEvent",
    "SyncOptions",
    "SyncReport",
    "TagChange",
    "TagImport",
    "TagPlan",
    "TagPushReport",
]


class Entity(StrEnum):
    """What the store mirrors from each account, in the order a sync reads them."""

    SUBSCRIPTIONS = "subscriptions"  # with their platform tags
    ACTIVATION_MODES = "activation_modes"
    TARIFFS = "tariffs"
    USAGE = "usage"
    INVOICES = "invoices"
    AUDIT_EVENTS = "audit_events"

    @property
    def capability(self) -> Capability:
        """The connector capability this entity needs."""
        if self is Entity.ACTIVATION_MODES:
            return Capability.SUBSCRIPTIONS
        return Capability(self.value)


@dataclass(frozen=True)
class SyncOptions:
    """How far back a first sync reaches and how incremental syncs overlap.

    Attributes:
        history: how far back the first sync of usage, invoices and audit events reads.
        window: usage and audit events are read in windows of this length; the cursor
            moves after each closed window, so an interrupted first sync resumes there.
        settle: windows ending less than this before now are not closed: usage and audit
            records of the recent past may still arrive late, so they are read again.
        lookback: subtracted from the start of the previous run to give the
            ``modified_since`` of an incremental subscription listing (clock skew between
            here and the platform, late writes).
        invoice_refresh: invoices are read again from this long before the start of the
            latest invoice period already stored (their status changes after issue).
        usage_per_sim: read usage SIM by SIM instead of as account totals (one request
            per SIM and window). Used anyway when the connector has no account totals.
        usage_granularity: the granularity to ask usage in (``None``: the connector's).
        lease: how long a sync holds an account without renewing its lease (renewed with
            every committed page and by a heartbeat every third of this). Another sync
            that finds the lease held skips the account ("running elsewhere"); a sync
            that died keeps it at most this long (on its own machine, only until its
            process is gone).
    """

    history: timedelta = timedelta(days=90)
    window: timedelta = timedelta(days=30)
    settle: timedelta = timedelta(days=2)
    lookback: timedelta = timedelta(minutes=5)
    invoice_refresh: timedelta = timedelta(days=62)
    usage_per_sim: bool = False
    usage_granularity: Granularity | None = None
    lease: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        for name in ("history", "window", "lease"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        for name in ("settle", "lookback", "invoice_refresh"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} must not be negative")


ResultStatus = Literal["ok", "skipped", "error"]


@dataclass(frozen=True)
class EntityResult:
    """What a run did for one entity of one account."""

    account: str
    entity: Entity
    status: ResultStatus
    records: int = 0
    """Records written (upserted) to the store."""
    pages: int = 0
    """Transactions committed (one per page of the listing)."""
    requests: int = 0
    """HTTP attempts made, retries included."""
    duration: float = 0.0
    """Seconds spent."""
    error: str | None = None
    """``"ErrorClass: message"`` (redacted) when ``status`` is ``error``."""
    detail: str | None = None
    """Why the entity was skipped, or how it was read (``"usage per SIM"``)."""
    cleaned: int = 0
    """Records stored with characters the database refuses removed (a NUL, say)."""
    quarantined: int = 0
    """Records the store could not hold: kept in the ``quarantine`` table, with why."""


@dataclass(frozen=True)
class SyncReport:
    """The summary of one run, as stored in ``sync_runs`` and ``sync_results``."""

    run_id: int
    kind: str
    status: str
    """``running``, ``ok``, ``partial``, ``failed`` or ``interrupted`` (stopped by Ctrl-C,
    a signal or a crash before it finished; the next run resumes where it stopped)."""
    started_at: datetime
    finished_at: datetime | None
    duration: float | None
    results: tuple[EntityResult, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the run finished with no error."""
        return self.status == "ok"

    @property
    def errors(self) -> tuple[EntityResult, ...]:
        """The results that failed."""
        return tuple(r for r in self.results if r.status == "error")

    @property
    def records(self) -> int:
        """Records written in all."""
        return sum(r.records for r in self.results)

    @property
    def quarantined(self) -> int:
        """Records the store could not hold, in all (see the ``quarantine`` table)."""
        return sum(r.quarantined for r in self.results)

    def result(self, account: str, entity: Entity | str) -> EntityResult:
        """The result for one account and entity (``KeyError`` if the run had none)."""
        for result in self.results:
            if result.account == account and result.entity == entity:
                return result
        raise KeyError((account, str(entity)))


@dataclass(frozen=True)
class EntityStarted:
    """A run started reading one entity of one account."""

    account: str
    entity: Entity


@dataclass(frozen=True)
class PageCommitted:
    """A page of records was committed to the store, with the entity's cursor."""

    account: str
    entity: Entity
    records: int
    """Records in this page."""
    total: int
    """Records of this entity and account committed so far in the run."""
    requests_left: int | None = None
    """Requests the account's sync still needs, as far as the run can count them
    (``None``: not known yet, e.g. during a first listing of unknown size)."""
    eta: float | None = None
    """Seconds the account's sync still needs: ``requests_left`` over the rate its
    requests go at (the rate limit, or the rate achieved when lower); ``None``: not known."""


@dataclass(frozen=True)
class EntityFinished:
    """A run finished one entity of one account (successfully, skipped or failed)."""

    result: EntityResult


SyncEvent = EntityStarted | PageCommitted | EntityFinished
"""What a sync reports to its ``progress`` callback (e.g. to drive progress bars)."""


@dataclass(frozen=True)
class Cursor:
    """Where the next sync of one entity of one account starts."""

    account: str
    entity: Entity
    position: datetime | None
    """The instant the next run asks from (``None``: from the start of the history)."""
    run_id: int | None
    updated_at: datetime


@dataclass(frozen=True)
class StoredTag:
    """A tag in the store: from the platform (``platform``) or uploaded (``local``)."""

    account: str
    iccid: str
    key: str
    value: str | None
    source: Literal["platform", "local"]


@dataclass(frozen=True)
class TagImport:
    """What a CSV import changed."""

    rows: int
    """Data rows read from the file."""
    added: int
    updated: int
    unchanged: int
    removed: int
    """Local tags dropped (``replace=True`` only)."""


@dataclass(frozen=True)
class TagChange:
    """The tag changes one SIM needs on its platform."""

    account: str
    iccid: str
    set: Mapping[str, str | None] = field(default_factory=dict)
    """Tags to add or overwrite."""
    remove: tuple[str, ...] = ()
    """Tag keys to delete (local tags that were pushed once and since dropped)."""


@dataclass(frozen=True)
class TagPlan:
    """The changes a push of local tags would make, per SIM; nothing was called."""

    changes: tuple[TagChange, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Account -> why its local tags cannot be pushed (e.g. no ``update_tags``)."""
    refused: tuple[tuple[TagChange, str], ...] = ()
    """Changes the platform would refuse, with why (its connector's tag rules, e.g. a
    value on a platform of labels): never pushed."""

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __len__(self) -> int:
        return len(self.changes)


@dataclass(frozen=True)
class TagPushReport:
    """What a push of local tags did."""

    plan: TagPlan
    pushed: tuple[TagChange, ...] = ()
    failed: tuple[tuple[TagChange, str], ...] = ()
    """Changes that failed, with ``"ErrorClass: message"`` (redacted)."""
    dry_run: bool = False
    run_id: int | None = None


@dataclass(frozen=True)
class PurgeReport:
    """Rows an account's purge deleted, per table."""

    account: str
    deleted: Mapping[str, int]

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return sum(self.deleted.values())
