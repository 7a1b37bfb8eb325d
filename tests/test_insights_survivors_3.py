"""The last figures of the insights that mutation testing found unchecked: which accounts an
insight covers when asked for some, records without a start, the day after a billing period,
the newest invoice sync, tariffs of other accounts, and ``now`` in any time zone. Stores and
fixtures are those of ``test_insights.py``."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal

import pytest
from sqlalchemy import insert

from cdp_sdk import insights
from cdp_sdk.insights import CostPeriod, FleetDay, Gap, IdleSim
from cdp_sdk.sync import Store
from cdp_sdk.sync.schema import tariffs
from insight_store import NOW, Build, day, iccid
from test_insights import build, store, unbilled
from test_sync import NoOffset

__all__ = ["build", "store"]  # the fixtures, used by name

MAY, MAY_END = date(2026, 5, 1), date(2026, 5, 31)
NOT_SYNCED = "invoices not synced yet"


def undated(build: Build, account: str, n: int) -> Build:
    """A per-SIM usage record without a start (a running total)."""
    return build.usage(account, n, None, 5, granularity="cycle")  # type: ignore[arg-type]


# -- which accounts an insight covers ------------------------------------------------------


def test_cost_covers_the_accounts_asked_for_known_or_not(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active")
    build.usage("tot", None, day(-1), 100)  # account totals only, and no SIM
    build.usage("xx", None, day(-1), 100)  # the same, not asked for
    found = insights.cost(store, now=NOW, accounts=["a-ghost", "eu", "tot"])
    assert found.rows == (unbilled("toy", "eu", NOT_SYNCED), unbilled("toy", "tot", NOT_SYNCED))
    assert found.gaps == (
        Gap("eu", "toy", f"no cost: {NOT_SYNCED}", 1),
        Gap("tot", "toy", f"no cost: {NOT_SYNCED}", None),  # no SIMs: not a count of 0 or 1
    )


def test_idle_billable_keeps_to_the_accounts_asked_for_and_goes_on(
    store: Store, build: Build
) -> None:
    build.sim("a", 1, "active", "live")  # no activation modes: a gap, then the next account
    for account, n in (("b", 2), ("c", 3)):  # c is not asked for
        build.modes(account, {"live": ("active", True)}).sim(account, n, "active", "live")
        build.usage(account, n, day(-40), 1)
    found = insights.idle_billable(store, now=NOW, accounts=["a", "b"])
    assert found.rows == (
        IdleSim("b", "toy", iccid(2), "active", "live", None, None, None, day(-39), 39),
    )
    assert found.gaps == (
        Gap("a", "toy", "its activation modes are not in the store (sync them)"),
        Gap("b", "toy", "idle billable SIMs without a priced tariff in the store", 1),
    )


def test_idle_billable_assesses_history_from_the_windows_first_instant(
    store: Store, build: Build
) -> None:
    build.modes("eu", {"live": ("active", True)}).sim("eu", 1, "active", "live")
    build.usage("eu", 1, NOW - timedelta(days=30), 0, granularity="hour")  # nothing used
    found = insights.idle_billable(store, now=NOW)
    assert [(r.iccid, r.last_usage, r.idle_days) for r in found] == [(iccid(1), None, None)]
    assert [gap.reason for gap in found.gaps] == [
        "idle billable SIMs without a priced tariff in the store"
    ]


def test_an_idle_sims_currency_is_shown_only_with_its_fee(store: Store, build: Build) -> None:
    """A tariff priced in a currency but without a recurring fee (usage only): the idle SIM
    has no monthly fee, and so no currency either."""
    row = {"account": "eu", "id": "usage-only", "connector": "toy", "name": "usage-only"}
    store.transaction(
        lambda connection: connection.execute(
            insert(tariffs), [{**row, "currency": "EUR", "recurring_fee": None, "extra": {}}]
        )
    )
    build.modes("eu", {"live": ("active", True)})
    build.sim("eu", 1, "active", "live", tariff="usage-only")
    build.usage("eu", 1, day(-40), 1)  # last used before the window
    (idle,) = insights.idle_billable(store, now=NOW).rows
    assert (idle.tariff, idle.monthly_fee, idle.currency) == ("usage-only", None, None)


# -- usage records without a start ---------------------------------------------------------


def test_plan_risk_dates_history_by_records_with_a_start(store: Store, build: Build) -> None:
    # eu: a running total besides its daily records, which alone are assessed.
    build.tariff("eu", "plan", data=10_000_000).sim("eu", 1, "active", tariff="plan")
    undated(build, "eu", 1).usage("eu", 1, day(-2), 7_000_000)
    # nd: per-SIM running totals only; ns: the same without SIMs, so not an account here.
    build.sim("nd", 2, "active").sim("nd", 3, "active")
    undated(build, "nd", 2)
    undated(build, "ns", 4)
    found = insights.plan_risk(store, now=NOW)
    assert [(r.account, r.used, r.projected) for r in found] == [("eu", 7_000_000, 10_769_230)]
    assert found.gaps == (Gap("nd", "toy", "no usage in the store", 2),)


def test_plan_risk_reads_a_tariff_only_in_the_sims_own_account(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active", tariff="plan-x").usage("eu", 1, day(-2), 7_000_000)
    build.tariff("us", "plan-x", data=10_000_000)  # the same name, in another account
    found = insights.plan_risk(store, now=NOW)
    assert (found.rows, found.gaps) == (
        (),
        (Gap("eu", "toy", "SIMs whose tariff is not in the store: not assessed", 1),),
    )


# -- cost ----------------------------------------------------------------------------------


def test_cost_counts_active_sims_at_the_end_of_the_period(store: Store, build: Build) -> None:
    table: dict[str, tuple[str, bool | None]] = {
        "inventory": ("inventory", False),
        "live": ("active", True),
    }
    build.modes("eu", table).invoice("eu", "i1", MAY, MAY_END, "10")
    build.sim("eu", 1, "active", "live")
    # Activated on June 1, the day after May: not active at May's end.
    build.sim("eu", 2, "active", "live")
    build.event("eu", 2, day(-19) + timedelta(hours=10), "inventory", "live")
    # An audit trail that disagrees (made live twice): no SIM active at May's end, not None.
    build.modes("cl", table).invoice("cl", "i2", MAY, MAY_END, "20")
    build.sim("cl", 3, "active", "live")
    build.event("cl", 3, day(-15), "inventory", "live")
    build.event("cl", 3, day(-14), "inventory", "live")
    found = insights.cost(store, now=NOW)
    assert found.rows == (
        CostPeriod("toy", "cl", MAY, MAY_END, "EUR", Decimal("20"), 1, 0, None),
        CostPeriod("toy", "eu", MAY, MAY_END, "EUR", Decimal("10"), 1, 1, Decimal("10.00")),
    )


def test_cost_notes_the_newest_invoice_sync_whatever_order_it_was_written_in(
    store: Store, build: Build
) -> None:
    build.sim("eu", 1, "active")
    build.runs = itertools.count(7, -4)  # run 7's results are written before run 3's
    build.synced("eu", "invoices", "ok").synced("eu", "invoices", "error")
    found = insights.cost(store, now=NOW)
    assert found.rows == (unbilled("toy", "eu", "no invoice in the synced history"),)


# -- now -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", [None, NoOffset()], ids=["naive", "no-offset"])
def test_now_must_say_its_offset(store: Store, tz: tzinfo | None) -> None:
    with pytest.raises(ValueError, match=r"^now must be an aware datetime$"):
        insights.fleet_history(store, now=datetime(2026, 6, 20, 12, tzinfo=tz))


def test_now_is_read_in_utc_days_in_any_local_zone(
    store: Store, build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    build.sim("eu", 1, "active")
    evening = datetime(2026, 6, 21, 3, tzinfo=timezone(timedelta(hours=9)))  # 18:00 UTC
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        found = insights.fleet_history(store, days=1, now=evening)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert found.rows == (FleetDay(date(2026, 6, 20), "toy", "eu", "active", 1),)
    assert (found.now, found.now.tzinfo) == (datetime(2026, 6, 20, 18, tzinfo=UTC), UTC)
