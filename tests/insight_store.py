"""Small stores built by hand for the insight tests: every row is written here, so every
right answer is known.

Rows go straight into the store's tables (the sync's own row shapes, minus the columns an
insight never reads), in one transaction per call.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from cdp_sdk.models import luhn_check_digit
from cdp_sdk.sync import Store
from cdp_sdk.sync.schema import (
    activation_modes,
    audit_events,
    invoices,
    subscriptions,
    sync_results,
    sync_runs,
    tariffs,
    usage,
)

__all__ = ["NOW", "Build", "day", "iccid"]

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
"""The tests' now: a Saturday noon, 19.5 days into a 30-day June."""

TODAY = NOW.replace(hour=0)


def iccid(n: int) -> str:
    """A valid 19-digit ICCID, numbered."""
    body = f"898830{n:012d}"
    return body + str(luhn_check_digit(body))


def day(offset: int) -> datetime:
    """Midnight UTC, ``offset`` days from today (negative: in the past)."""
    return TODAY + timedelta(days=offset)


class Build:
    """Writes rows into ``store``; each method writes at once and returns ``self``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.keys = itertools.count(1)
        self.runs = itertools.count(1)
        self.pending: list[tuple[Any, list[dict[str, Any]]]] | None = None

    def _insert(self, table: Any, rows: list[dict[str, Any]]) -> Build:
        if self.pending is not None:
            self.pending.append((table, rows))
        else:
            self.store.transaction(lambda connection: connection.execute(insert(table), rows))
        return self

    @contextlib.contextmanager
    def batch(self) -> Iterator[Build]:
        """Write everything done in the block in one transaction, at its end."""
        self.pending = []
        try:
            yield self
            pending, self.pending = self.pending, None

            def write(connection: Any) -> None:
                for table, rows in pending:
                    connection.execute(insert(table), rows)

            self.store.transaction(write)
        finally:
            self.pending = None

    def modes(
        self, account: str, table: dict[str, tuple[str, bool | None]], connector: str = "toy"
    ) -> Build:
        """An activation-mode table: vendor state -> (normalized status, billable)."""
        return self._insert(
            activation_modes,
            [
                {
                    "account": account,
                    "name": name,
                    "connector": connector,
                    "status": status,
                    "billable": billable,
                    "auto_activates": False,
                    "settable": True,
                    "next": [],
                    "extra": {},
                }
                for name, (status, billable) in table.items()
            ],
        )

    def sim(
        self,
        account: str,
        n: int,
        status: str,
        raw: str | None = None,
        *,
        tariff: str | None = None,
        created: datetime | None = None,
        connector: str = "toy",
    ) -> Build:
        return self._insert(
            subscriptions,
            [
                {
                    "account": account,
                    "id": f"sim-{n}",
                    "connector": connector,
                    "iccid": iccid(n),
                    "status": status,
                    "status_raw": raw or status,
                    "tariff": tariff,
                    "created_at": created,
                    "extra": {},
                }
            ],
        )

    def tariff(
        self,
        account: str,
        id: str,
        *,
        fee: str | None = None,
        currency: str | None = "EUR",
        data: int | None = None,
        sms: int | None = None,
        voice: int | None = None,
        connector: str = "toy",
    ) -> Build:
        return self._insert(
            tariffs,
            [
                {
                    "account": account,
                    "id": id,
                    "connector": connector,
                    "name": id,
                    "currency": currency if fee is not None else None,
                    "recurring_fee": Decimal(fee) if fee is not None else None,
                    "included_data_bytes": data,
                    "included_sms": sms,
                    "included_voice_seconds": voice,
                    "extra": {},
                }
            ],
        )

    def usage(
        self,
        account: str,
        n: int | None,
        start: datetime,
        quantity: int,
        *,
        end: datetime | None = None,
        granularity: str = "day",
        bearer: str = "data",
        direction: str | None = None,
        connector: str = "toy",
    ) -> Build:
        """One usage record (``n`` None: an account-level total); a day long by default."""
        length = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
        if end is None and granularity in length:
            end = start + length[granularity]
        unit = {"data": "bytes", "sms": "messages"}.get(bearer, "seconds")
        return self._insert(
            usage,
            [
                {
                    "account": account,
                    "record_key": f"k{next(self.keys)}",
                    "connector": connector,
                    "iccid": iccid(n) if n is not None else None,
                    "bearer": bearer,
                    "direction": direction,
                    "quantity": quantity,
                    "unit": unit,
                    "period_start": start,
                    "period_end": end,
                    "granularity": granularity,
                    "final": True,
                    "extra": {},
                }
            ],
        )

    def daily(self, account: str, n: int | None, first: int, values: list[int], **kw: Any) -> Build:
        """Daily data records from ``day(first)`` on, one per value (None values skipped)."""
        for offset, value in enumerate(values):
            if value is not None:
                self.usage(account, n, day(first + offset), value, **kw)
        return self

    def invoice(
        self,
        account: str,
        id: str,
        start: date,
        end: date,
        total: str,
        *,
        currency: str = "EUR",
        connector: str = "toy",
    ) -> Build:
        return self._insert(
            invoices,
            [
                {
                    "account": account,
                    "id": id,
                    "connector": connector,
                    "period_start": start,
                    "period_end": end,
                    "currency": currency,
                    "total": Decimal(total),
                    "extra": {},
                }
            ],
        )

    def event(
        self,
        account: str,
        n: int,
        at: datetime,
        old: str | None,
        new: str | None,
        *,
        kind: str = "status_change",
        connector: str = "toy",
    ) -> Build:
        return self._insert(
            audit_events,
            [
                {
                    "account": account,
                    "record_key": f"e{next(self.keys)}",
                    "connector": connector,
                    "iccid": iccid(n),
                    "occurred_at": at,
                    "kind": kind,
                    "field": "status",
                    "old_value": old,
                    "new_value": new,
                    "extra": {},
                }
            ],
        )

    def synced(self, account: str, entity: str, status: str) -> Build:
        """A sync run whose result for ``account`` and ``entity`` is ``status``."""
        run = next(self.runs)
        self._insert(
            sync_runs,
            [{"id": run, "kind": "sync", "status": "ok", "started_at": NOW, "records": 0}],
        )
        return self._insert(
            sync_results,
            [
                {
                    "run_id": run,
                    "account": account,
                    "entity": entity,
                    "status": status,
                    "records": 0,
                    "pages": 0,
                    "requests": 0,
                    "duration": 0.0,
                }
            ],
        )


def report_store(build: Build) -> None:
    """A store with something for every section and chart of the report.

    ``eu`` (connector ``toy``): six SIMs with daily per-SIM usage over 40 days, a spike
    (SIM 2, day -4), a SIM that stopped a week ago (3), two idle billable SIMs (4, 5),
    everyone over a 10 MB plan, status changes and two months of invoices. ``us``
    (connector ``other``): account totals only, so every per-SIM insight lists it as a gap.
    """
    with build.batch():
        build.modes(
            "eu",
            {
                "ready": ("ready", False),
                "live": ("active", True),
                "paused": ("suspended", True),
                "stopped": ("deactivated", False),
            },
        )
        build.tariff("eu", "plan-s", fee="1.50", data=10_000_000, sms=10)
        for n in (1, 2, 3):
            build.sim("eu", n, "active", "live", tariff="plan-s", created=day(-90))
        build.sim("eu", 4, "suspended", "paused", tariff="plan-s", created=day(-90))
        build.sim("eu", 5, "active", "live", tariff="plan-s", created=day(-2))
        build.sim("eu", 6, "deactivated", "stopped", tariff="plan-s", created=day(-90))
        build.event("eu", 4, day(-12), "live", "paused")
        build.event("eu", 5, day(-1), "ready", "live")
        build.event("eu", 6, day(-20), "live", "stopped")
        for offset in range(-40, 0):
            build.usage("eu", 1, day(offset), 3_000_000 + 10_000 * (offset % 7))
            build.usage("eu", 2, day(offset), 40_000_000 if offset == -4 else 2_000_000)
            if offset < -7:
                build.usage("eu", 3, day(offset), 1_500_000)
            if offset < -30:
                build.usage("eu", 4, day(offset), 100_000)
            build.usage("us", None, day(offset), 900_000_000 + 1_000_000 * (offset % 5))
        for month, total in ((date(2026, 4, 1), "61.20"), (date(2026, 5, 1), "58.75")):
            end = (month.replace(month=month.month + 1) - timedelta(days=1)).isoformat()
            build.invoice("eu", f"inv-{month:%Y%m}", month, date.fromisoformat(end), total)
        build.sim("us", 7, "active", "on", connector="other")
        build.sim("us", 8, "suspended", "off", connector="other")
        build.modes("us", {"on": ("active", True), "off": ("suspended", None)}, connector="other")
        build.synced("us", "invoices", "skipped")
