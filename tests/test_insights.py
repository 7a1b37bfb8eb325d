"""Each insight on small stores built by hand (``insight_store``), whose right answers are
worked out in the comments; every test runs on SQLite and on PostgreSQL (``tests/pg.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from cdp_sdk import insights
from cdp_sdk.insights import (
    CostPeriod,
    DailyUsage,
    FleetCount,
    FleetDay,
    Gap,
    IdleSim,
    PlanRisk,
    TopConsumer,
    UsageSpike,
    UsageStop,
)
from cdp_sdk.sync import Store
from insight_store import NOW, Build, day, iccid


@pytest.fixture
def store(any_store: Store) -> Store:
    """The store of each test: on SQLite, then on PostgreSQL."""
    return any_store


@pytest.fixture
def build(store: Store) -> Build:
    return Build(store)


def reasons(insight: insights.Insight[object]) -> dict[str, list[tuple[str, int | None]]]:
    found: dict[str, list[tuple[str, int | None]]] = {}
    for gap in insight.gaps:
        found.setdefault(gap.account, []).append((gap.reason, gap.sims))
    return found


# -- fleet ---------------------------------------------------------------------------------


def test_fleet_counts_sims_per_platform_account_and_status(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active").sim("eu", 2, "active").sim("eu", 3, "suspended")
    build.sim("us", 4, "retired", connector="other")
    found = insights.fleet(store)
    assert found.rows == (
        FleetCount("other", "us", "retired", 1),
        FleetCount("toy", "eu", "active", 2),
        FleetCount("toy", "eu", "suspended", 1),
    )
    assert insights.fleet(store, accounts=["us"]).rows == (FleetCount("other", "us", "retired", 1),)
    frame = found.to_pandas()
    assert list(frame.columns) == ["connector", "account", "status", "sims"]
    assert frame["sims"].tolist() == [1, 2, 1]
    assert str(frame["sims"].dtype) == "Int64"


def test_fleet_of_an_empty_store_is_empty(store: Store) -> None:
    found = insights.fleet(store)
    assert found.rows == ()
    assert list(found.to_pandas().columns) == ["connector", "account", "status", "sims"]


def test_fleet_history_undoes_status_changes_day_by_day(store: Store, build: Build) -> None:
    build.modes(
        "eu", {"ready": ("ready", False), "live": ("active", True), "paused": ("suspended", True)}
    )
    old = day(-50)
    # 1: ready until the 18th. 2: created on the 19th, paused at once. 3: always live.
    build.sim("eu", 1, "active", "live", created=old).event(
        "eu", 1, day(-2) + timedelta(hours=10), "ready", "live"
    )
    build.sim("eu", 2, "suspended", "paused", created=day(-1) + timedelta(hours=8))
    build.event("eu", 2, day(-1) + timedelta(hours=9), "live", "paused")
    build.sim("eu", 3, "active", "live", created=old)
    # 4: the event names the state in other case. 5: a state the table does not know.
    build.sim("eu", 4, "active", "live").event(
        "eu", 4, day(-3) + timedelta(hours=1), "Ready", "live"
    )
    build.sim("eu", 5, "active", "live").event("eu", 5, day(-1), "mystery", "live")
    # 6: the event speaks in normalized statuses.
    build.sim("eu", 6, "suspended", "paused").event("eu", 6, day(-2), "active", "suspended")
    # 7: changed on the first day of the range: that day already shows the change.
    build.sim("eu", 7, "active", "live").event(
        "eu", 7, day(-4) + timedelta(hours=5), "ready", "live"
    )
    build.event("eu", 99, day(-1), "ready", "live")  # a SIM no longer in the store
    build.event("eu", 3, day(-1), "live", "paused", kind="other")  # not a status change
    build.sim("us", 8, "active", "live")  # no audit events at all

    found = insights.fleet_history(store, days=5, now=NOW)
    counts = {(r.day, r.account, r.status): r.sims for r in found.rows}
    june = {n: date(2026, 6, n) for n in range(16, 21)}
    expected = {
        16: {"active": 4, "ready": 2},  # 3, 5, 6, 7 active; 1, 4 ready; 2 not created yet
        17: {"active": 5, "ready": 1},  # 4 changed on the 17th
        18: {"active": 5, "suspended": 1},  # 1 active, 6 suspended
        19: {"active": 5, "suspended": 2},  # 2 created and paused
        20: {"active": 5, "suspended": 2},
    }
    for n, statuses in expected.items():
        assert {s: c for (d, a, s), c in counts.items() if d == june[n] and a == "eu"} == statuses
        assert counts[(june[n], "us", "active")] == 1
    assert all(isinstance(r, FleetDay) and r.sims > 0 for r in found.rows)
    assert {r.connector for r in found.rows if r.account == "eu"} == {"toy"}
    gaps = reasons(found)
    assert gaps["us"] == [
        (
            "no status change in its audit events: earlier days show today's statuses (only "
            "SIMs created since are taken out)",
            None,
        )
    ]
    assert gaps["eu"] == [
        (
            "1 status change(s) name a state its activation-mode table does not know "
            "('mystery'): not undone",
            None,
        ),
        ("1 status change(s) of SIMs no longer in the store: not undone", None),
    ]


def test_fleet_history_clamps_an_audit_trail_that_disagrees(store: Store, build: Build) -> None:
    build.modes("eu", {"ready": ("ready", False), "live": ("active", True)})
    build.sim("eu", 1, "active", "live")
    build.event("eu", 1, day(-1), "ready", "live").event("eu", 1, day(-2), "ready", "live")
    found = insights.fleet_history(store, days=4, now=NOW)
    first = {r.status: r.sims for r in found.rows if r.day == date(2026, 6, 17)}
    assert first == {"ready": 2}  # active would be -1: shown as none
    assert any("disagree" in gap.reason for gap in found.gaps)


def test_fleet_history_checks_its_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="days"):
        insights.fleet_history(store, days=0)
    with pytest.raises(ValueError, match="aware"):
        insights.fleet_history(store, now=datetime(2026, 6, 20))


# -- idle but billable ---------------------------------------------------------------------


def idle_store(build: Build) -> None:
    build.modes(
        "eu",
        {
            "live": ("active", True),
            "paused": ("suspended", True),
            "stopped": ("deactivated", False),
            "trial": ("test", None),
        },
    )
    build.tariff("eu", "plan-s", fee="1.50").tariff("eu", "plan-free")
    since = NOW - timedelta(days=30)
    build.sim("eu", 1, "active", "live", tariff="plan-s").usage("eu", 1, day(-5), 1000)
    build.sim("eu", 2, "active", "live", tariff="plan-s").usage("eu", 2, day(-45), 2000)
    build.usage("eu", 2, day(-2), 0)  # a record without usage
    build.sim("eu", 3, "suspended", "paused", tariff="plan-x")  # never used, tariff unknown
    build.sim("eu", 4, "deactivated", "stopped", tariff="plan-s")  # not billed
    build.sim("eu", 5, "test", "trial")  # billing not stated
    build.sim("eu", 6, "active", "live", tariff="plan-free")  # no price
    build.sim("eu", 7, "active", "live", tariff="plan-s")  # a cycle overlapping the window
    build.usage("eu", 7, day(-40), 500, end=day(-9), granularity="cycle")
    build.sim("eu", 8, "active", "live", tariff="plan-s")  # usage ending where it starts
    build.usage("eu", 8, since - timedelta(hours=1), 100, end=since, granularity="hour")
    build.usage("eu", 8, NOW, 50, granularity="hour")  # starts now: not in the past
    build.sim("eu", 9, "active", "live", tariff="plan-s")
    build.usage("eu", 9, day(-40), 5).usage("eu", 9, day(-1), 7)
    build.sim("eu", 10, "active", "weird")  # a state the table does not know
    build.sim("eu", 11, "active", "live", tariff="plan-s")  # used in another account only
    build.modes("us", {"live": ("active", True)}).sim("us", 11, "active", "live")
    build.usage("us", 11, day(-35), 1).usage("us", 11, day(-3), 1)
    build.modes("jp", {"live": ("active", True)}).sim("jp", 12, "active", "live")
    build.usage("jp", None, day(-3), 100)  # account totals only
    build.modes("au", {"live": ("active", True)}).sim("au", 13, "active", "live")
    build.usage("au", 13, day(-10), 1)  # history too short
    build.sim("kr", 14, "active", "live")  # no activation modes


def test_idle_billable_lists_billed_sims_without_usage(store: Store, build: Build) -> None:
    idle_store(build)
    found = insights.idle_billable(store, now=NOW)
    assert found.rows == (
        IdleSim(
            "eu", "toy", iccid(2), "active", "live", "plan-s", Decimal("1.50"), "EUR",
            day(-44), 44,
        ),
        IdleSim("eu", "toy", iccid(3), "suspended", "paused", "plan-x", None, None, None, None),
        IdleSim("eu", "toy", iccid(6), "active", "live", "plan-free", None, None, None, None),
        IdleSim(
            "eu", "toy", iccid(8), "active", "live", "plan-s", Decimal("1.50"), "EUR",
            NOW - timedelta(days=30), 30,
        ),
        IdleSim(
            "eu", "toy", iccid(11), "active", "live", "plan-s", Decimal("1.50"), "EUR", None,
            None,
        ),
    )  # fmt: skip
    assert insights.monthly_fees(found.rows) == {"EUR": Decimal("4.50")}
    gaps = reasons(found)
    assert gaps["eu"] == [
        (
            "idle SIMs in states whose billing the platform does not state ('trial', 'weird'): "
            "not counted as billable",
            2,
        ),
        ("idle billable SIMs without a priced tariff in the store", 2),
    ]
    assert gaps["jp"] == [
        (
            "no per-SIM usage in the store (account totals only): sync usage per SIM "
            "(SyncOptions(usage_per_sim=True)) to assess its SIMs",
            1,
        )
    ]
    assert gaps["au"] == [
        (
            "its per-SIM usage history starts 2026-06-10, after the window's start (2026-05-21)",
            1,
        )
    ]
    assert gaps["kr"] == [("its activation modes are not in the store (sync them)", None)]
    assert "us" not in gaps
    frame = found.to_pandas()
    assert frame["iccid"].tolist() == [iccid(n) for n in (2, 3, 6, 8, 11)]
    assert frame["last_usage"].dt.tz is not None
    assert "30 days" in found.definition


def test_idle_billable_window_follows_days(store: Store, build: Build) -> None:
    idle_store(build)
    # Over 4 days, SIM 1 (used 5 days ago) is idle too; the au history now covers it.
    found = insights.idle_billable(store, days=4, now=NOW)
    assert iccid(1) in {row.iccid for row in found.rows if row.account == "eu"}
    assert [row.iccid for row in found.rows if row.account == "au"] == [iccid(13)]
    assert iccid(9) not in {row.iccid for row in found.rows}


def test_idle_billable_without_usage_at_all(store: Store, build: Build) -> None:
    build.modes("eu", {"live": ("active", True)}).sim("eu", 1, "active", "live")
    found = insights.idle_billable(store, now=NOW)
    assert found.rows == ()
    assert found.gaps == (Gap("eu", "toy", "no usage in the store", 1),)
    with pytest.raises(ValueError, match="days"):
        insights.idle_billable(store, days=0)


# -- plan risk -----------------------------------------------------------------------------


def risk_store(build: Build) -> None:
    build.tariff("eu", "plan-s", data=10_000_000, sms=10).tariff("eu", "plan-0", data=0)
    build.tariff("eu", "plan-none", fee="1")
    build.sim("eu", 1, "active", tariff="plan-s")
    build.daily("eu", 1, -19, [400_000] * 19).usage("eu", 1, day(0), 100_000)
    build.usage("eu", 1, day(-20), 50_000_000)  # May: another cycle
    build.sim("eu", 2, "active", tariff="plan-s").daily("eu", 2, -19, [300_000] * 19)
    build.sim("eu", 3, "active", tariff="plan-s")
    build.usage("eu", 3, day(-10), 5_000_000, end=day(20), granularity="cycle")
    build.usage("eu", 3, day(-2), 9_000_000)  # daily too: the cycle decides
    build.sim("eu", 4, "active", tariff="plan-s")
    build.usage("eu", 4, day(-3), 5, bearer="sms").usage("eu", 4, day(-2), 3, bearer="sms")
    build.sim("eu", 5, "active", tariff="plan-0").usage("eu", 5, day(-1), 50_000_000)
    build.sim("eu", 6, "active", tariff="plan-none").usage("eu", 6, day(-1), 50_000_000)
    build.sim("eu", 7, "active").usage("eu", 7, day(-1), 50_000_000)
    build.sim("eu", 8, "active", tariff="ghost")
    build.sim("eu", 9, "active", tariff="plan-s").usage("eu", 9, day(-1), 6_500_000)
    build.sim("us", 10, "active").usage("us", None, day(-1), 1)


def test_plan_risk_extrapolates_the_cycle_to_date(store: Store, build: Build) -> None:
    risk_store(build)
    found = insights.plan_risk(store, now=NOW)
    june, july = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    assert found.rows == (
        # 5,000,000 in 10.5 days of a 30-day cycle: 14,285,714.
        PlanRisk(
            "eu", "toy", iccid(3), "active", "plan-s", "data", "bytes", 10_000_000, 5_000_000,
            14_285_714, 1.4286, day(-10), day(20), "usage records",
        ),
        # 8 messages in 19.5 of 30 days: 12.3.
        PlanRisk(
            "eu", "toy", iccid(4), "active", "plan-s", "sms", "messages", 10, 8, 12, 1.2,
            june, july, "calendar month",
        ),
        # 19 x 400,000 + 100,000 today = 7,700,000 in 19.5 of 30 days: 11,846,153.
        PlanRisk(
            "eu", "toy", iccid(1), "active", "plan-s", "data", "bytes", 10_000_000, 7_700_000,
            11_846_153, 1.1846, june, july, "calendar month",
        ),
    )  # fmt: skip
    gaps = reasons(found)
    assert sorted(gaps["eu"]) == [
        ("SIMs whose tariff is not in the store: not assessed", 1),
        ("SIMs whose tariff states no included volume: not assessed", 1),
        ("SIMs without a tariff: not assessed", 1),
    ]
    assert gaps["us"][0][0].startswith("no per-SIM usage in the store (account totals only)")


def test_plan_risk_projects_at_least_one_day(store: Store, build: Build) -> None:
    build.tariff("eu", "plan-s", data=10_000_000).sim("eu", 1, "active", tariff="plan-s")
    start = datetime(2026, 6, 1, tzinfo=UTC)
    for hour in (1, 2, 7):
        build.usage("eu", 1, start + timedelta(hours=hour), 500_000, granularity="hour")
    # Six hours into June: two hourly records (7:00 is later); projected as if a day passed.
    [risk] = insights.plan_risk(store, now=start + timedelta(hours=6)).rows
    assert (risk.used, risk.projected, risk.projected_share) == (1_000_000, 30_000_000, 3.0)


def test_plan_risk_judges_a_sim_on_its_platform_cycle_first(store: Store, build: Build) -> None:
    build.tariff("eu", "plan-s", data=10_000_000, voice=600)
    build.sim("eu", 1, "active", tariff="plan-s")
    # The platform's cycle (day -10 to day 20): 1,000,000 so far, 2,857,142 projected.
    build.usage("eu", 1, day(-10), 1_000_000, end=day(20), granularity="cycle")
    # Daily records of June would project 13,846,153: the platform's cycle decides.
    build.usage("eu", 1, day(-2), 9_000_000)
    # Voice has no cycle record: the calendar month, 500 s in 19.5 of 30 days: 769 > 600.
    build.usage("eu", 1, day(-1), 500, bearer="voice")
    # A cycle that ended before now, or ends now, is not the current one.
    build.sim("eu", 2, "active", tariff="plan-s")
    build.usage("eu", 2, day(-30), 50_000_000, end=day(0), granularity="cycle")
    build.sim("eu", 3, "active", tariff="plan-s")
    build.usage("eu", 3, NOW - timedelta(days=30), 50_000_000, end=NOW, granularity="cycle")
    found = insights.plan_risk(store, now=NOW)
    assert [(r.iccid, r.bearer, r.unit, r.included, r.used, r.projected) for r in found] == [
        (iccid(1), "voice", "seconds", 600, 500, 769)
    ]


# -- usage anomalies -----------------------------------------------------------------------


def anomaly_store(build: Build) -> None:
    with build.batch():
        _anomaly_rows(build)


def _anomaly_rows(build: Build) -> None:
    history = list(range(-60, 0))
    for offset in history:  # SIM 1: 100 a day
        if offset not in (-10, -5, -3):
            build.usage("eu", 1, day(offset), 100)
    build.usage("eu", 1, day(-10), 600)  # > 5 x 100
    build.usage("eu", 1, day(-5), 500)  # = 5 x 100: not above
    build.usage("eu", 1, day(-3), 400, direction="mo").usage("eu", 1, day(-3), 600, direction="mt")
    build.usage("eu", 1, day(0), 10_000)  # today: not assessed
    build.usage("eu", 1, day(-31), 10_000, granularity="hour")  # before the 30 days
    for offset in history:  # SIM 2: every third day, so a median of 0
        if offset % 3 == 0:
            build.usage("eu", 2, day(offset), 100)
    build.usage("eu", 2, day(-2), 10_000)
    for offset in history:  # SIM 3: 200 a day, 24 hourly records on day -7
        if offset != -7:
            build.usage("eu", 3, day(offset), 200)
    for hour in range(24):
        build.usage("eu", 3, day(-7) + timedelta(hours=hour), 50, granularity="hour")
    for offset in history:  # SIM 4: 100 and 300 in turn: median 200
        if offset != -4:
            build.usage("eu", 4, day(offset), 100 if offset % 2 else 300)
    build.usage("eu", 4, day(-4), 1100)
    build.daily("late", 5, -20, [100] * 18 + [1000, 100])  # 1000 on day -2
    build.usage("late", 5, day(-8), 900)  # 1000 that day: too early to judge
    build.sim("cyc", 6, "active").usage("cyc", 6, day(-10), 5, end=day(20), granularity="cycle")
    build.sim("tot", 7, "active").usage("tot", None, day(-1), 5)


@pytest.mark.parametrize("chunk", [10_000, 3])
def test_usage_spikes_compare_each_day_with_the_trailing_median(
    store: Store, build: Build, chunk: int
) -> None:
    anomaly_store(build)
    found = insights.usage_spikes(store, now=NOW, chunk=chunk)
    assert found.rows == (
        UsageSpike("late", "toy", iccid(5), date(2026, 6, 18), 1000, 100.0, 10.0),
        UsageSpike("eu", "toy", iccid(1), date(2026, 6, 17), 1000, 100.0, 10.0),
        UsageSpike("eu", "toy", iccid(4), date(2026, 6, 16), 1100, 200.0, 5.5),
        UsageSpike("eu", "toy", iccid(3), date(2026, 6, 13), 1200, 200.0, 6.0),
        UsageSpike("eu", "toy", iccid(1), date(2026, 6, 10), 600, 100.0, 6.0),
    )
    gaps = reasons(found)
    assert gaps["late"] == [
        (
            "its per-SIM history starts 2026-05-31: days before 2026-06-14 lack 14 trailing "
            "days and are not assessed",
            None,
        )
    ]
    assert gaps["cyc"] == [
        ("its per-SIM usage is by billing cycle or month only: no daily series", 1)
    ]
    assert gaps["tot"][0][0].startswith("no per-SIM usage in the store")
    assert "5 times the SIM's trailing 14-day median" in found.definition


def test_usage_spikes_threshold_follows_k(store: Store, build: Build) -> None:
    anomaly_store(build)
    found = insights.usage_spikes(store, k=9.5, now=NOW, accounts=["eu"])
    assert [(r.iccid, r.day) for r in found.rows] == [(iccid(1), date(2026, 6, 17))]
    with pytest.raises(ValueError, match="k must be positive"):
        insights.usage_spikes(store, k=0)


def test_usage_stops_find_steady_sims_gone_silent(store: Store, build: Build) -> None:
    # Baseline: days -28 to -8 (21 days, 17 needed); silence: days -7 to -1.
    build.sim("eu", 1, "suspended", "paused").daily("eu", 1, -28, [100] * 21)
    build.usage("eu", 1, day(-3), 4, bearer="sms")  # not data
    build.usage("eu", 1, day(-40), 100)  # before the baseline
    build.sim("eu", 2, "active").daily("eu", 2, -28, [100] * 17 + [None] * 4)
    build.sim("eu", 3, "active").daily("eu", 3, -28, [100] * 16 + [None] * 5)
    build.daily("eu", 3, -45, [100] * 10)  # earlier use does not make it steady
    build.sim("eu", 4, "active").daily("eu", 4, -28, [100] * 21).usage("eu", 4, day(-3), 1)
    build.sim("eu", 5, "active").daily("eu", 5, -28, [100] * 21).usage("eu", 5, day(-3), 0)
    build.daily("eu", 8, -28, [100] * 21)  # no longer in the store
    build.sim("short", 9, "active").daily("short", 9, -20, [100] * 20)
    found = insights.usage_stops(store, now=NOW)
    assert found.rows == (
        UsageStop("eu", "toy", iccid(1), "suspended", "paused", 21, 2100, day(-7)),
        UsageStop("eu", "toy", iccid(2), "active", "active", 17, 1700, day(-11)),
        UsageStop("eu", "toy", iccid(5), "active", "active", 21, 2100, day(-7)),
        UsageStop("eu", "toy", iccid(8), None, None, 21, 2100, day(-7)),
    )
    assert reasons(found)["short"] == [
        (
            "its per-SIM usage history starts 2026-05-31, after the window's start (2026-05-23)",
            1,
        )
    ]
    assert "at least 80% of the 21 days of the baseline (17 days or more)" in found.definition
    # A looser steadiness takes SIM 3 in.
    looser = insights.usage_stops(store, now=NOW, steady=0.75, accounts=["eu"])
    assert iccid(3) in {row.iccid for row in looser.rows}


# -- cost ----------------------------------------------------------------------------------


def unbilled(connector: str, account: str, note: str) -> CostPeriod:
    return CostPeriod(connector, account, None, None, None, None, 0, None, None, note)


def test_cost_totals_invoices_and_divides_by_active_sims(store: Store, build: Build) -> None:
    build.modes("eu", {"inventory": ("inventory", False), "live": ("active", True)})
    for n in (1, 2):
        build.sim("eu", n, "active", "live")
    build.sim("eu", 3, "active", "live").event("eu", 3, day(-17), "inventory", "live")
    build.sim("eu", 4, "suspended")
    may, may_end = date(2026, 5, 1), date(2026, 5, 31)
    june, june_end = date(2026, 6, 1), date(2026, 6, 30)
    build.invoice("eu", "i1", may, may_end, "100.10").invoice("eu", "i2", may, may_end, "0.20")
    build.invoice("eu", "i3", june, june_end, "50").invoice(
        "eu", "i4", may, may_end, "10", currency="USD"
    )
    build.sim("nil", 5, "suspended").invoice("nil", "i5", may, may_end, "7")
    build.sim("a-skip", 6, "active", connector="other").synced("a-skip", "invoices", "skipped")
    build.sim("b-ok", 7, "active").synced("b-ok", "invoices", "error").synced(
        "b-ok", "invoices", "ok"
    )
    build.sim("c-err", 8, "active").synced("c-err", "invoices", "error")
    build.sim("d-new", 9, "active")
    found = insights.cost(store, now=NOW)
    assert found.rows == (
        # End of May: SIM 3 was still in inventory, so 2 active SIMs.
        CostPeriod("toy", "eu", may, may_end, "EUR", Decimal("100.30"), 2, 2, Decimal("50.15")),
        CostPeriod("toy", "eu", may, may_end, "USD", Decimal("10"), 1, 2, Decimal("5.00")),
        # June is not over: today's 3 active SIMs.
        CostPeriod("toy", "eu", june, june_end, "EUR", Decimal("50"), 1, 3, Decimal("16.67")),
        CostPeriod("toy", "nil", may, may_end, "EUR", Decimal("7"), 1, 0, None),
        unbilled("other", "a-skip", "the platform's API offers no invoices"),
        unbilled("toy", "b-ok", "no invoice in the synced history"),
        unbilled("toy", "c-err", "its last invoice sync failed"),
        unbilled("toy", "d-new", "invoices not synced yet"),
    )  # fmt: skip
    assert reasons(found)["a-skip"] == [("no cost: the platform's API offers no invoices", 1)]
    frame = found.to_pandas()
    assert frame["total"].iloc[0] == Decimal("100.30")  # money stays exact
    assert pd.isna(frame["total"].iloc[-1])  # no invoices is not zero


# -- usage for charts ----------------------------------------------------------------------


def test_daily_usage_takes_account_totals_first(store: Store, build: Build) -> None:
    build.daily("eu", None, -3, [1000, 2000, 3000]).usage("eu", 1, day(-2), 5)
    build.usage("us", 1, day(-2), 10).usage("us", 2, day(-2), 20, direction="mo")
    build.usage("us", 2, day(-2), 5, direction="mt")
    build.usage("us", 1, day(-1) + timedelta(hours=1), 7, granularity="hour")
    build.usage("us", 1, day(-1) + timedelta(hours=2), 8, granularity="hour")
    build.usage("us", 1, day(-2), 4, bearer="sms")
    build.usage("us", 1, day(0), 999).usage("us", 1, day(-4), 999)
    build.usage("cyc", 3, day(-10), 5, end=day(20), granularity="cycle")
    found = insights.daily_usage(store, days=3, now=NOW)
    june = {n: date(2026, 6, n) for n in (17, 18, 19)}
    assert found.rows == (
        DailyUsage(june[17], "toy", "eu", "data", "bytes", 1000, "account totals"),
        DailyUsage(june[18], "toy", "eu", "data", "bytes", 2000, "account totals"),
        DailyUsage(june[18], "toy", "us", "data", "bytes", 35, "per SIM"),
        DailyUsage(june[19], "toy", "eu", "data", "bytes", 3000, "account totals"),
        DailyUsage(june[19], "toy", "us", "data", "bytes", 15, "per SIM"),
    )
    assert found.gaps == (
        Gap("cyc", "toy", "it reports usage by billing cycle or month only: no daily figures"),
    )
    sms = insights.daily_usage(store, days=3, bearer="sms", now=NOW)
    assert [(r.account, r.quantity, r.unit) for r in sms.rows] == [("us", 4, "messages")]


def test_top_consumers_rank_sims_by_usage(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active").usage("eu", 1, day(-3), 1000).usage("eu", 1, day(-1), 2000)
    build.sim("eu", 2, "suspended").usage("eu", 2, day(-2), 5000)
    build.usage("us", 3, day(-5), 4000)  # not in subscriptions
    build.sim("eu", 9, "active").usage("eu", 9, day(-31), 10_000)  # before the window
    build.usage("eu", None, day(-1), 1_000_000)  # account totals are not SIMs
    found = insights.top_consumers(store, limit=3, now=NOW)
    assert found.rows == (
        TopConsumer("eu", "toy", iccid(2), "suspended", "data", "bytes", 5000),
        TopConsumer("us", "toy", iccid(3), None, "data", "bytes", 4000),
        TopConsumer("eu", "toy", iccid(1), "active", "data", "bytes", 3000),
    )
    assert [r.iccid for r in insights.top_consumers(store, limit=1, now=NOW)] == [iccid(2)]
    with pytest.raises(ValueError, match="limit"):
        insights.top_consumers(store, limit=0)


# -- access paths --------------------------------------------------------------------------


def test_large_ranges_are_scanned_on_sqlite_and_give_the_same_answer(
    store: Store, build: Build
) -> None:
    from sqlalchemy import func, select

    from cdp_sdk.insights._sql import usage_range

    with build.batch():
        build.daily("big", 1, -30, [10] * 30)
        build.usage("small", 2, day(-3), 10)

    def read(account: str) -> tuple[bool, int]:
        def count(connection: Any) -> tuple[bool, int]:
            window = usage_range(connection, day(-10), day(0), account=account)
            query = select(func.count()).where(*window.terms, window.column("iccid").is_not(None))
            sql = str(query.compile(connection))
            assert ("+usage.account" in sql) is window.scan
            return window.scan, connection.scalar(query)

        return store.read(count)

    sqlite = store.dialect == "sqlite"
    assert read("big") == (sqlite, 10)  # 10 of 31 rows: a scan, on SQLite
    assert read("small") == (False, 1)  # 1 of 31 rows: through the index
