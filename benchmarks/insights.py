"""Benchmark of the fleet insights, run on demand: ``python benchmarks/insights.py``.

Builds a store of ``--sims`` SIMs (default 100,000) with ``--days`` days (default 30) of
daily per-SIM data usage, one record per SIM and day (3,000,000 rows by default), then
times every insight and the whole report (median of ``--rounds``), and measures the peak
of Python allocations of each (``tracemalloc``, one extra run): the data stays in the
database, so that peak must not grow with the number of usage rows.

    python benchmarks/insights.py                         # SQLite, in a temporary file
    python benchmarks/insights.py --postgres              # a throw-away local PostgreSQL
    python benchmarks/insights.py --db postgresql://...   # an empty database of yours

The fleet is deterministic: 85% live SIMs using about 1 MB a day each (with rare spikes;
2% go silent in the last week), 8% paused and 7% stopped (no usage), tariffs of 10 MB,
100 MB and 1 GB. Rows are loaded with the driver's bulk path (``executemany`` on SQLite,
``COPY`` on PostgreSQL), in the store's own column formats.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from cdp_sdk import insights
from cdp_sdk.models import luhn_check_digit
from cdp_sdk.sync import Store
from cdp_sdk.sync.schema import activation_modes, audit_events, invoices, subscriptions, tariffs

NOW = datetime(2026, 6, 30, 0, 30, tzinfo=UTC)
ACCOUNT = "bench"
TARIFFS = (
    ("plan-s", "1.50", 10_000_000),
    ("plan-m", "4.00", 100_000_000),
    ("plan-l", "12.00", 10**9),
)
SQLITE_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iccid(n: int) -> str:
    body = f"8988399{n:011d}"
    return body + str(luhn_check_digit(body))


def mix(*parts: int) -> int:
    """A cheap deterministic hash in [0, 2**31)."""
    value = 2166136261
    for part in parts:
        value = ((value ^ part) * 16777619) & 0xFFFFFFFF
    return value >> 1


def status_of(n: int) -> tuple[str, str]:
    bucket = mix(n, 1) % 100
    if bucket < 85:
        return "active", "live"
    return ("suspended", "paused") if bucket < 93 else ("deactivated", "stopped")


def usage_rows(sims: int, days: int) -> Iterator[tuple[Any, ...]]:
    """(record_key, iccid, quantity, start, end) per SIM and day, oldest day first."""
    first = NOW.replace(hour=0, minute=0) - timedelta(days=days)
    for n in range(sims):
        status, _ = status_of(n)
        profile = 0.2 + (mix(n, 2) % 1000) / 400  # 0.2 to 2.7
        silent_from = days - 8 if mix(n, 3) % 50 == 0 else days
        for d in range(days):
            start = first + timedelta(days=d)
            quantity = 0
            if status == "active" and d < silent_from:
                quantity = int(1_000_000 * profile * (0.6 + (mix(n, d, 4) % 800) / 1000))
                if mix(n, d, 5) % 300 == 0:
                    quantity *= 9
            yield f"u{n}-{d}", iccid(n), quantity, start, start + timedelta(days=1)


def load(store: Store, sims: int, days: int) -> None:
    """Fill an empty store with the benchmark fleet."""
    base = {"account": ACCOUNT, "connector": "bench", "extra": {}}
    modes = [
        {**base, "name": raw, "status": status, "billable": billable, "auto_activates": False,
         "settable": True, "next": []}
        for raw, status, billable in (
            ("live", "active", True), ("paused", "suspended", True),
            ("stopped", "deactivated", False),
        )
    ]  # fmt: skip
    plans = [
        {**base, "id": id, "name": id, "currency": "EUR", "recurring_fee": Decimal(fee),
         "included_data_bytes": volume}
        for id, fee, volume in TARIFFS
    ]  # fmt: skip
    sims_rows = []
    events = []
    for n in range(sims):
        status, raw = status_of(n)
        sims_rows.append(
            {**base, "id": str(n), "iccid": iccid(n), "status": status, "status_raw": raw,
             "tariff": TARIFFS[mix(n, 6) % 3][0], "created_at": NOW - timedelta(days=400)}
        )  # fmt: skip
        if raw != "live":
            events.append(
                {**base, "record_key": f"e{n}", "iccid": iccid(n), "kind": "status_change",
                 "occurred_at": NOW - timedelta(days=1 + mix(n, 7) % 60), "field": "status",
                 "old_value": "live", "new_value": raw}
            )  # fmt: skip
    months = []
    for m in (1, 2, 3):
        start = (NOW - timedelta(days=31 * m)).date().replace(day=1)
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        months.append(
            {**base, "id": f"inv-{m}", "period_start": start, "period_end": end,
             "currency": "EUR", "total": Decimal("98765.43")}
        )  # fmt: skip

    def small(connection: Any) -> None:
        for table, rows in (
            (activation_modes, modes), (tariffs, plans), (subscriptions, sims_rows),
            (audit_events, events), (invoices, months),
        ):  # fmt: skip
            for part in range(0, len(rows), 10_000):
                connection.execute(insert(table), rows[part : part + 10_000])

    store.transaction(small)
    if store.dialect == "sqlite":
        _load_usage_sqlite(store, sims, days)
    else:
        _load_usage_postgres(store, sims, days)


def _load_usage_sqlite(store: Store, sims: int, days: int) -> None:
    statement = (
        "INSERT INTO usage (account, record_key, connector, iccid, bearer, quantity, unit, "
        "period_start, period_end, granularity, final, extra) "
        "VALUES ('bench', ?, 'bench', ?, 'data', ?, 'bytes', ?, ?, 'day', 1, '{}')"
    )
    rows = (
        (key, sim, quantity, start.strftime(SQLITE_INSTANT), end.strftime(SQLITE_INSTANT))
        for key, sim, quantity, start, end in usage_rows(sims, days)
    )
    raw = store.engine.raw_connection()
    try:
        raw.cursor().executemany(statement, rows)
        raw.commit()
    finally:
        raw.close()


def _load_usage_postgres(store: Store, sims: int, days: int) -> None:
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = (
            "account, record_key, connector, iccid, bearer, quantity, unit, period_start, "
            "period_end, granularity, final, extra"
        )
        with cursor.copy(f"COPY usage ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for key, sim, quantity, start, end in usage_rows(sims, days):
                copy.write_row(
                    ("bench", key, "bench", sim, "data", quantity, "bytes", start, end, "day",
                     True, "{}")
                )  # fmt: skip
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def measure(run: Callable[[], object], rounds: int) -> tuple[float, float, object]:
    """Median seconds over ``rounds``, then the peak of Python allocations (MB) of one more
    run, and its result."""
    times = []
    result: object = None
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return statistics.median(times), peak / 1e6, result


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[str]:
    if args.db:
        yield args.db
    elif args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pg import postgres_server

        with postgres_server() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="cdp-bench-") as folder:
            yield str(Path(folder) / "bench.db")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="a throw-away local server")
    parser.add_argument("--db", help="an empty database (URL or SQLite path)")
    args = parser.parse_args()
    with database(args) as target, Store(target) as store:
        started = time.perf_counter()
        load(store, args.sims, args.days)
        print(
            f"{store.dialect}: {args.sims:,} SIMs, {args.sims * args.days:,} usage rows loaded "
            f"in {time.perf_counter() - started:.0f} s; median of {args.rounds} rounds"
        )
        report = io.StringIO()
        runs: dict[str, Callable[[], object]] = {
            "fleet": lambda: insights.fleet(store),
            "fleet_history (30 days)": lambda: insights.fleet_history(store, now=NOW),
            "idle_billable": lambda: insights.idle_billable(store, now=NOW),
            "plan_risk": lambda: insights.plan_risk(store, now=NOW),
            "usage_spikes": lambda: insights.usage_spikes(store, now=NOW),
            "usage_stops": lambda: insights.usage_stops(store, now=NOW),
            "cost": lambda: insights.cost(store, now=NOW),
            "daily_usage": lambda: insights.daily_usage(store, now=NOW),
            "top_consumers": lambda: insights.top_consumers(store, now=NOW),
            "report (all, HTML)": lambda: report.write(
                insights.render_html(insights.build_report(store, now=NOW))
            ),
        }
        print(f"{'insight':<26}{'seconds':>9}{'peak MB':>9}{'rows':>9}")
        for name, run in runs.items():
            seconds, peak, result = measure(run, args.rounds)
            rows = len(result) if isinstance(result, insights.Insight) else ""
            print(f"{name:<26}{seconds:>9.2f}{peak:>9.1f}{rows:>9}")


if __name__ == "__main__":
    main()
