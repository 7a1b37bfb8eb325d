"""A deterministic synthetic SIM fleet for emulators, demos, tests and benchmarks.

The same ``seed`` always gives the same fleet. Identifiers are valid (ICCIDs carry their
Luhn check digit; IMSI, MSISDN and IMEI have the right shapes) but belong to test ranges.
Usage is not stored: :meth:`Fleet.daily_usage` derives each SIM-day from the seed, so a
fleet of thousands of SIMs over a year costs no memory.

Emulators page through a fleet in O(page): :meth:`Fleet.ordered`,
:meth:`Fleet.changed_since`, :meth:`Fleet.modified_between` and :meth:`Fleet.audit_events`
return sequences kept from one call to the next until the fleet changes, so serving a page
is a slice, never a sort or a scan of the fleet.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from operator import attrgetter
from typing import Any, ClassVar

from cdp_sdk.models import AuditKind, SimStatus, luhn_check_digit

__all__ = [
    "DailyUsage",
    "Fleet",
    "FleetAudit",
    "FleetInvoice",
    "FleetInvoiceLine",
    "FleetSim",
    "FleetTariff",
]

# Share of each status in a typical production fleet.
STATUS_WEIGHTS: dict[SimStatus, float] = {
    SimStatus.ACTIVE: 0.70,
    SimStatus.READY: 0.06,
    SimStatus.INVENTORY: 0.05,
    SimStatus.TEST: 0.03,
    SimStatus.SUSPENDED: 0.08,
    SimStatus.DEACTIVATED: 0.05,
    SimStatus.RETIRED: 0.03,
}

TAG_CHOICES = {
    "fleet": ("trucks", "meters", "trackers", "kiosks"),
    "region": ("north", "south", "east", "west"),
    "customer": ("acme", "globex", "initech"),
}


@dataclass(frozen=True)
class FleetTariff:
    """A price plan: a monthly fee and what it includes."""

    id: str
    name: str
    currency: str
    monthly_fee: Decimal
    included_data_bytes: int
    included_sms: int
    overage_per_mb: Decimal


@dataclass
class FleetSim:
    """One SIM of the fleet; emulators change ``status``, ``tags`` and ``updated_at``.

    Every change of ``updated_at`` is counted (:attr:`edits`), so a fleet knows when the
    index behind :meth:`Fleet.changed_since` must be rebuilt, whoever made the change.
    """

    edits: ClassVar[int] = 0
    """Changes of ``updated_at`` on any SIM since the process started."""

    serial: int
    iccid: str
    imsi: str
    msisdn: str
    imei: str | None
    eid: str | None
    status: SimStatus
    tariff_id: str
    created_at: datetime
    activated_at: datetime | None
    updated_at: datetime
    ip_address: str
    tags: dict[str, str | None] = field(default_factory=dict)
    profile: float = 1.0
    """Relative traffic intensity of this SIM (lognormal across the fleet)."""

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "updated_at":
            FleetSim.edits += 1


class _SimTable(dict[str, FleetSim]):
    """The fleet's SIMs by ICCID: a dict that counts the changes of its membership."""

    version = 0

    def _changed(self) -> None:
        self.version += 1

    def __setitem__(self, key: str, value: FleetSim) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, key: str, *default: Any) -> Any:
        self._changed()
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, FleetSim]:
        self._changed()
        return super().popitem()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> Any:  # type: ignore[misc]
        self._changed()
        return super().__ior__(other)


@dataclass(frozen=True)
class DailyUsage:
    """One SIM's usage on one UTC day, per bearer and direction, in base units."""

    iccid: str
    day: date
    data_mo_bytes: int
    data_mt_bytes: int
    sms_mo: int
    sms_mt: int
    voice_mo_seconds: int
    voice_mt_seconds: int


@dataclass(frozen=True)
class FleetAudit:
    """A change to one SIM: status, tariff or another field."""

    id: str
    iccid: str
    occurred_at: datetime
    kind: AuditKind
    field: str
    old_value: str | None
    new_value: str | None
    actor: str


@dataclass(frozen=True)
class FleetInvoiceLine:
    """One line of an invoice."""

    description: str
    category: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class FleetInvoice:
    """A monthly invoice for the fleet (inclusive period dates)."""

    id: str
    period_start: date
    period_end: date
    issued_at: date | None
    due_at: date | None
    currency: str
    total: Decimal
    closed: bool
    lines: tuple[FleetInvoiceLine, ...]


class Fleet:
    """A seeded synthetic fleet: SIMs, tariffs, usage, invoices and audit history.

    Args:
        size: number of SIMs.
        seed: the fleet is a pure function of the seed and the arguments.
        today: the fleet's "now"; history runs back ``history_days`` from it.
        iccid_prefix: issuer prefix of the ICCIDs (``89`` + country + issuer digits).
        iccid_digits: length of the ICCIDs, Luhn check digit included (19 by default;
            20 for platforms whose ICCIDs have 20 digits, such as Verizon's).
        currency: currency of tariffs and invoices.
    """

    def __init__(
        self,
        size: int = 100,
        *,
        seed: int = 42,
        today: date = date(2024, 6, 15),
        history_days: int = 365,
        iccid_prefix: str = "8988303",
        iccid_digits: int = 19,
        imsi_prefix: str = "90143",
        msisdn_prefix: str = "88234",
        currency: str = "EUR",
    ) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        if not 18 <= iccid_digits <= 22 or iccid_digits - 1 - len(iccid_prefix) < len(str(size)):
            raise ValueError("iccid_digits must be 18 to 22 and leave room for the serial")
        self.iccid_digits = iccid_digits
        self.size = size
        self.seed = seed
        self.today = today
        self.history_start = today - timedelta(days=history_days)
        self.currency = currency
        rng = random.Random(seed)
        self.tariffs = _tariffs(currency)
        self.sims: dict[str, FleetSim] = _SimTable()
        for serial in range(1, size + 1):
            sim = self._sim(rng, serial, iccid_prefix, imsi_prefix, msisdn_prefix)
            self.sims[sim.iccid] = sim
        self._ordered: tuple[object, tuple[FleetSim, ...]] = (None, ())
        self._by_update: tuple[object, list[datetime], list[FleetSim]] = (None, [], [])
        self._changed: tuple[object, tuple[FleetSim, ...]] = (None, ())
        self._audit: tuple[object, list[FleetAudit], dict[str, list[FleetAudit]]] = (
            None,
            [],
            {},
        )
        self.audit: list[FleetAudit] = []
        for sim in self.sims.values():
            self.audit.extend(self._history(rng, sim))
        self.audit.sort(key=lambda event: (event.occurred_at, event.id))

    # -- lookups ----------------------------------------------------------------------

    def sim(self, iccid: str) -> FleetSim | None:
        """The SIM with this ICCID, or ``None``."""
        return self.sims.get(iccid)

    def tariff(self, tariff_id: str) -> FleetTariff:
        """The tariff with this id."""
        return next(t for t in self.tariffs if t.id == tariff_id)

    def sorted_sims(self) -> list[FleetSim]:
        """The SIMs in serial order (the stable order emulators list them in), as a new list
        (:meth:`ordered` shares one, for paging)."""
        return list(self.ordered())

    def ordered(self) -> Sequence[FleetSim]:
        """The SIMs in serial order, as one tuple kept until the fleet's membership changes:
        an emulator serves a page by slicing it, in O(page)."""
        key = self._membership()
        if self._ordered[0] != key:
            self._ordered = (key, tuple(sorted(self.sims.values(), key=_SERIAL)))
        return self._ordered[1]

    @property
    def revision(self) -> object:
        """A value that changes whenever a SIM joins or leaves the fleet or a SIM's
        ``updated_at`` changes (as every change through :meth:`set_status` and
        :meth:`set_tags` does): what an emulator keys a per-listing cache on."""
        return (self._membership(), FleetSim.edits)

    def changed_since(self, moment: datetime) -> Sequence[FleetSim]:
        """The SIMs whose ``updated_at`` is at or after ``moment``, in serial order.

        Kept for the last ``moment`` asked until a SIM changes, so the pages of one listing
        are slices; building it costs O(log N + k log k) for k SIMs, not a scan.
        """
        key = (self.revision, moment)
        if self._changed[0] != key:
            moments, sims = self._update_index()
            since = sims[bisect.bisect_left(moments, moment) :]
            self._changed = (key, tuple(sorted(since, key=_SERIAL)))
        return self._changed[1]

    def modified_between(
        self, since: datetime, until: datetime | None = None
    ) -> Sequence[FleetSim]:
        """The SIMs whose ``updated_at`` lies in ``[since, until]`` (``until`` included;
        ``None``: no end), oldest change first (then by serial): the order of a listing
        sorted by modification time. Found by bisection in the index of
        :meth:`changed_since`, kept until a SIM changes."""
        moments, sims = self._update_index()
        start = bisect.bisect_left(moments, since)
        end = len(moments) if until is None else bisect.bisect_right(moments, until)
        return sims[start:end]

    def audit_events(
        self,
        *,
        iccid: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Sequence[FleetAudit]:
        """The audit history in ``[since, until)``, of one SIM or all, oldest first (then by
        id): found by bisection in an index kept until the history changes."""
        ordered, by_iccid = self._audit_index()
        events = ordered if iccid is None else by_iccid.get(iccid, [])
        start = 0 if since is None else bisect.bisect_left(events, since, key=_OCCURRED)
        end = len(events) if until is None else bisect.bisect_left(events, until, key=_OCCURRED)
        return events[start:end]

    def _membership(self) -> object:
        table = self.sims
        return (id(table), getattr(table, "version", None), len(table))

    def _update_index(self) -> tuple[list[datetime], list[FleetSim]]:
        key = self.revision
        if self._by_update[0] != key:
            sims = sorted(self.ordered(), key=_UPDATED)
            self._by_update = (key, [sim.updated_at for sim in sims], sims)
        return self._by_update[1], self._by_update[2]

    def _audit_index(self) -> tuple[list[FleetAudit], dict[str, list[FleetAudit]]]:
        audit = self.audit
        key = (id(audit), len(audit), id(audit[-1]) if audit else None)
        if self._audit[0] != key:
            ordered = sorted(audit, key=_AUDIT_ORDER)
            by_iccid: dict[str, list[FleetAudit]] = {}
            for event in ordered:
                by_iccid.setdefault(event.iccid, []).append(event)
            self._audit = (key, ordered, by_iccid)
        return self._audit[1], self._audit[2]

    # -- changes (used by emulators) --------------------------------------------------

    def set_status(self, iccid: str, status: SimStatus, *, at: datetime, actor: str) -> None:
        """Change a SIM's status and record it in the audit history."""
        sim = self.sims[iccid]
        if status is sim.status:
            return
        self.audit.append(
            FleetAudit(
                id=f"a-{len(self.audit) + 1}",
                iccid=iccid,
                occurred_at=at,
                kind=AuditKind.STATUS_CHANGE,
                field="status",
                old_value=sim.status.value,
                new_value=status.value,
                actor=actor,
            )
        )
        if status is SimStatus.ACTIVE and sim.activated_at is None:
            sim.activated_at = at
        sim.status = status
        sim.updated_at = at

    def set_tags(
        self, iccid: str, tags: dict[str, str | None], *, at: datetime, actor: str
    ) -> None:
        """Replace a SIM's tags and record the change."""
        sim = self.sims[iccid]
        if tags == sim.tags:
            return
        old = ",".join(sorted(sim.tags)) or None
        sim.tags = dict(tags)
        sim.updated_at = at
        self.audit.append(
            FleetAudit(
                id=f"a-{len(self.audit) + 1}",
                iccid=iccid,
                occurred_at=at,
                kind=AuditKind.FIELD_CHANGE,
                field="tags",
                old_value=old,
                new_value=",".join(sorted(tags)) or None,
                actor=actor,
            )
        )

    # -- usage and invoices -----------------------------------------------------------

    def daily_usage(self, iccid: str, day: date) -> DailyUsage:
        """The SIM's usage on ``day`` (zero outside its active life)."""
        sim = self.sims[iccid]
        if not self._in_service(sim, day):
            return DailyUsage(iccid, day, 0, 0, 0, 0, 0, 0)
        rng = random.Random(_digest(self.seed, iccid, day.isoformat()))
        weekday_factor = 0.7 if day.weekday() >= 5 else 1.0
        mean_bytes = 2_500_000 * sim.profile * weekday_factor
        uplink = int(rng.lognormvariate(math.log(mean_bytes * 0.3), 0.6))
        downlink = int(rng.lognormvariate(math.log(mean_bytes * 0.7), 0.6))
        sms_mo = _poisson(rng, 0.8 * sim.profile)
        sms_mt = _poisson(rng, 0.4)
        voice = sim.serial % 10 == 0
        return DailyUsage(
            iccid=iccid,
            day=day,
            data_mo_bytes=uplink,
            data_mt_bytes=downlink,
            sms_mo=sms_mo,
            sms_mt=sms_mt,
            voice_mo_seconds=_poisson(rng, 1.5) * 60 if voice else 0,
            voice_mt_seconds=_poisson(rng, 0.5) * 60 if voice else 0,
        )

    def usage_days(self, iccid: str, start: date, end: date) -> list[DailyUsage]:
        """Daily usage for ``[start, end)``, clipped to the fleet's history."""
        first = max(start, self.history_start)
        last = min(end, self.today + timedelta(days=1))
        return [
            self.daily_usage(iccid, first + timedelta(days=offset))
            for offset in range(max(0, (last - first).days))
        ]

    def invoices(self) -> list[FleetInvoice]:
        """One invoice per calendar month of the history; the current month is open."""
        invoices = []
        month = date(self.history_start.year, self.history_start.month, 1)
        while month <= self.today:
            invoices.append(self._invoice(month))
            month = _next_month(month)
        return invoices

    # -- generation -------------------------------------------------------------------

    def _sim(
        self, rng: random.Random, serial: int, iccid_prefix: str, imsi_prefix: str, msisdn: str
    ) -> FleetSim:
        body = f"{iccid_prefix}{serial:0{self.iccid_digits - 1 - len(iccid_prefix)}d}"
        iccid = body + str(luhn_check_digit(body))
        status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        # Nothing happens after the start of ``today``, even with a short history.
        now = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC)
        span = max(1, min(120, (self.today - self.history_start).days))
        created = min(_at(self.history_start, rng.randrange(0, span), rng), now)
        used = status not in {SimStatus.INVENTORY, SimStatus.READY, SimStatus.TEST}
        activated = min(created + timedelta(days=rng.randrange(1, 60)), now) if used else None
        updated = max(created, activated or created) + timedelta(days=rng.randrange(0, 200))
        updated = min(updated, now)
        tags: dict[str, str | None] = {}
        for key, choices in TAG_CHOICES.items():
            if rng.random() < 0.6:
                tags[key] = rng.choice(choices)
        imei_body = f"35{rng.randrange(10**11, 10**12):012d}"
        return FleetSim(
            serial=serial,
            iccid=iccid,
            imsi=f"{imsi_prefix}{serial:0{15 - len(imsi_prefix)}d}",
            msisdn=f"{msisdn}{serial:0{13 - len(msisdn)}d}",
            imei=imei_body + str(luhn_check_digit(imei_body)) if used else None,
            eid=f"89049032{rng.randrange(10**23, 10**24):024d}" if rng.random() < 0.3 else None,
            status=status,
            tariff_id=rng.choices([t.id for t in self.tariffs], weights=[5, 3, 1])[0],
            created_at=created,
            activated_at=activated,
            updated_at=updated,
            ip_address=f"10.{(serial >> 16) & 255}.{(serial >> 8) & 255}.{serial & 255}",
            tags=tags,
            profile=rng.lognormvariate(0, 0.8),
        )

    def _history(self, rng: random.Random, sim: FleetSim) -> list[FleetAudit]:
        events = [
            FleetAudit(
                id=f"h-{sim.serial}-1",
                iccid=sim.iccid,
                occurred_at=sim.created_at,
                kind=AuditKind.TARIFF_CHANGE,
                field="tariff",
                old_value=None,
                new_value=sim.tariff_id,
                actor="provisioning",
            )
        ]
        if sim.activated_at is not None:
            events.append(
                FleetAudit(
                    id=f"h-{sim.serial}-2",
                    iccid=sim.iccid,
                    occurred_at=sim.activated_at,
                    kind=AuditKind.STATUS_CHANGE,
                    field="status",
                    old_value=SimStatus.READY.value,
                    new_value=SimStatus.ACTIVE.value,
                    actor="auto-activation",
                )
            )
        if sim.status not in {SimStatus.ACTIVE, SimStatus.INVENTORY} and sim.activated_at:
            # A retired SIM was deactivated first: no platform retires a live SIM directly.
            path = [SimStatus.ACTIVE, SimStatus.DEACTIVATED, SimStatus.RETIRED]
            if sim.status is not SimStatus.RETIRED:
                path = [SimStatus.ACTIVE, sim.status]
            actor = rng.choice(("ops@example.com", "api-user"))
            for step, (old, new) in enumerate(pairwise(path), start=3):
                events.append(
                    FleetAudit(
                        id=f"h-{sim.serial}-{step}",
                        iccid=sim.iccid,
                        occurred_at=sim.updated_at - timedelta(days=len(path) - step + 1),
                        kind=AuditKind.STATUS_CHANGE,
                        field="status",
                        old_value=old.value,
                        new_value=new.value,
                        actor=actor,
                    )
                )
        return events

    def _in_service(self, sim: FleetSim, day: date) -> bool:
        if sim.activated_at is None or day < sim.activated_at.date() or day > self.today:
            return False
        if sim.status in {SimStatus.ACTIVE}:
            return True
        return day < sim.updated_at.date()

    def _invoice(self, month: date) -> FleetInvoice:
        end = _next_month(month) - timedelta(days=1)
        closed = end < self.today
        lines = []
        for tariff in self.tariffs:
            sims = [
                s
                for s in self.sims.values()
                if s.tariff_id == tariff.id and s.activated_at and s.activated_at.date() <= end
            ]
            if not sims:
                continue
            count = Decimal(len(sims))
            lines.append(
                FleetInvoiceLine(
                    description=f"{tariff.name} monthly fee",
                    category="recurring",
                    quantity=count,
                    unit_price=tariff.monthly_fee,
                    amount=count * tariff.monthly_fee,
                )
            )
        total = sum((line.amount for line in lines), Decimal("0.00"))
        return FleetInvoice(
            id=f"INV-{month:%Y%m}",
            period_start=month,
            period_end=end,
            issued_at=end + timedelta(days=1) if closed else None,
            due_at=end + timedelta(days=31) if closed else None,
            currency=self.currency,
            total=total,
            closed=closed,
            lines=tuple(lines),
        )


_SERIAL = attrgetter("serial")
_UPDATED = attrgetter("updated_at")
_OCCURRED = attrgetter("occurred_at")
_AUDIT_ORDER = attrgetter("occurred_at", "id")


def _tariffs(currency: str) -> list[FleetTariff]:
    return [
        FleetTariff(
            "plan-s", "IoT S 10MB", currency, Decimal("1.50"), 10_000_000, 10, Decimal("0.10")
        ),
        FleetTariff(
            "plan-m", "IoT M 100MB", currency, Decimal("4.00"), 100_000_000, 50, Decimal("0.05")
        ),
        FleetTariff(
            "plan-l", "IoT L 1GB", currency, Decimal("12.00"), 1_000_000_000, 100, Decimal("0.02")
        ),
    ]


def _digest(*parts: object) -> int:
    text = "|".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _poisson(rng: random.Random, mean: float) -> int:
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _at(start: date, days: int, rng: random.Random) -> datetime:
    moment = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    return moment + timedelta(days=days, seconds=rng.randrange(0, 86_400))


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)
