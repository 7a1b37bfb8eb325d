"""More figures of the insights that mutation testing found unchecked: plan risk across
accounts sharing ICCIDs and tariff names, the cycle's edges, and what the insight says about
itself. Stores and fixtures are those of ``test_insights.py``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cdp_sdk import insights
from cdp_sdk.insights import CostPeriod, FleetDay, Gap, PlanRisk, UsageSpike, UsageStop
from cdp_sdk.sync import Store
from insight_store import NOW, Build, day, iccid
from test_insights import build, store, unbilled

__all__ = ["build", "store"]  # the fixtures, used by name

JUNE, JULY = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)


# -- plan risk -------------------------------------------------------------------------------


def twin_accounts(build: Build) -> None:
    # The same ICCID and tariff name in two accounts; each is judged on its own records.
    build.tariff("eu", "plan", data=10_000_000).sim("eu", 1, "active", tariff="plan")
    build.usage("eu", 1, day(-2), 7_000_000)  # June so far: 7,000,000 in 19.5 of 30 days
    build.tariff("us", "plan", data=100_000_000).sim("us", 1, "suspended", tariff="plan")
    build.usage("us", 1, day(-10), 40_000_000, end=day(20), granularity="cycle")
    build.usage("us", 1, day(-1), 1_000)  # daily too: the cycle decides


def test_plan_risk_keeps_each_account_to_its_own_records(store: Store, build: Build) -> None:
    twin_accounts(build)
    found = insights.plan_risk(store, now=NOW)
    assert found.rows == (
        # 40,000,000 in 10.5 of 30 days: 114,285,714 of 100,000,000.
        PlanRisk(
            "us", "toy", iccid(1), "suspended", "plan", "data", "bytes", 100_000_000,
            40_000_000, 114_285_714, 1.1429, day(-10), day(20), "usage records",
        ),
        # 7,000,000 in 19.5 of 30 days: 10,769,230 of 10,000,000.
        PlanRisk(
            "eu", "toy", iccid(1), "active", "plan", "data", "bytes", 10_000_000,
            7_000_000, 10_769_230, 1.0769, JUNE, JULY, "calendar month",
        ),
    )  # fmt: skip
    assert found.gaps == ()
    only = insights.plan_risk(store, now=NOW, accounts=["eu"])
    assert [(r.account, r.used) for r in only] == [("eu", 7_000_000)]


def test_plan_risk_names_itself_and_its_parameters(store: Store, build: Build) -> None:
    found = insights.plan_risk(store, now=NOW, accounts=["eu"])
    assert (found.name, found.title) == ("plan_risk", "SIMs at risk of passing their plan")
    assert (found.row_type, found.now) == (PlanRisk, NOW)
    assert found.parameters == {"accounts": ["eu"]}
    assert insights.plan_risk(store, now=NOW).parameters == {"accounts": None}


def test_plan_risk_reports_an_account_without_per_sim_usage_and_goes_on(
    store: Store, build: Build
) -> None:
    build.sim("a", 2, "active").sim("a", 3, "active").usage("a", None, day(-1), 1)
    twin_accounts(build)
    found = insights.plan_risk(store, now=NOW)
    assert [r.account for r in found] == ["us", "eu"]
    [gap] = found.gaps
    assert (gap.account, gap.connector, gap.sims) == ("a", "toy", 2)
    assert gap.reason.startswith("no per-SIM usage in the store (account totals only)")


def test_plan_risk_month_starts_at_midnight_on_the_first(store: Store, build: Build) -> None:
    build.tariff("eu", "plan", data=10_000_000).sim("eu", 1, "active", tariff="plan")
    build.usage("eu", 1, day(-2), 7_000_000)
    build.usage("eu", 1, datetime(2026, 12, 18, tzinfo=UTC), 7_000_000)
    now = datetime(2026, 6, 20, 12, 30, 15, 123456, tzinfo=UTC)
    [risk] = insights.plan_risk(store, now=now).rows
    assert (risk.cycle_start, risk.cycle_end) == (JUNE, JULY)
    december = datetime(2026, 12, 20, 12, tzinfo=UTC)
    [risk] = insights.plan_risk(store, now=december).rows
    assert (risk.cycle_start, risk.cycle_end) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_plan_risk_cycle_edges(store: Store, build: Build) -> None:
    build.tariff("eu", "plan", data=10_000_000, sms=1)
    # A cycle that begins right now is the current one (projected over at least a day).
    build.sim("eu", 1, "active", tariff="plan")
    build.usage("eu", 1, NOW, 1_000_000, end=NOW + timedelta(days=30), granularity="cycle")
    # One that begins a microsecond later is not yet.
    build.sim("eu", 2, "active", tariff="plan")
    start = NOW + timedelta(microseconds=1)
    build.usage("eu", 2, start, 1_000_000, end=start + timedelta(days=30), granularity="cycle")
    # A month record covering now is the platform's cycle too.
    build.sim("eu", 3, "active", tariff="plan")
    build.usage("eu", 3, day(-19), 9_000_000, end=day(11), granularity="month")
    # A cycle record that ended within June is not daily usage of June.
    build.sim("eu", 4, "active", tariff="plan")
    build.usage("eu", 4, day(-15), 50_000_000, end=day(-1), granularity="cycle")
    # An inclusion of one message is assessed: 2 in 19.5 of 30 days.
    build.sim("eu", 5, "active", tariff="plan").usage("eu", 5, day(-1), 2, bearer="sms")
    found = insights.plan_risk(store, now=NOW)
    assert [(r.iccid, r.bearer, r.used, r.projected, r.cycle_source) for r in found] == [
        (iccid(1), "data", 1_000_000, 30_000_000, "usage records"),
        (iccid(5), "sms", 2, 3, "calendar month"),
        (iccid(3), "data", 9_000_000, 13_846_153, "usage records"),
    ]


def test_plan_risk_counts_any_stated_inclusion(store: Store, build: Build) -> None:
    build.tariff("eu", "sms", sms=5).tariff("eu", "voice", voice=60).tariff("eu", "zero", data=0)
    build.sim("eu", 1, "active", tariff="sms").sim("eu", 2, "active", tariff="voice")
    build.sim("eu", 3, "active", tariff="zero").sim("eu", 4, "active")
    build.usage("eu", 1, day(-1), 1, bearer="sms")
    found = insights.plan_risk(store, now=NOW)
    assert (found.rows, found.gaps) == (
        (),
        (Gap("eu", "toy", "SIMs without a tariff: not assessed", 1),),
    )


# -- usage anomalies: what they say about themselves ------------------------------------------

ANOMALIES = {
    "usage_stops": (
        insights.usage_stops,
        "usage_stops",
        {"baseline": 1, "silent": 1, "steady": 1},
        "SIMs that stopped",
        UsageStop,
        [{"baseline": 0}, {"silent": 0}, {"steady": 0}, {"steady": 1.5}],
        "baseline and silent must be at least 1, steady in (0, 1]",
    ),
    "usage_spikes": (
        insights.usage_spikes,
        "usage_spikes",
        {"k": 0.5, "days": 1, "trailing": 1},
        "Usage spikes",
        UsageSpike,
        [{"k": 0}, {"days": 0}, {"trailing": 0}],
        "k must be positive, days and trailing at least 1",
    ),
}


@pytest.mark.parametrize(
    ("insight", "name", "arguments", "title", "row_type", "wrongs", "message"),
    ANOMALIES.values(),
    ids=ANOMALIES.keys(),
)
def test_usage_anomalies_name_themselves_and_check_their_arguments(
    store: Store,
    insight: Any,
    name: str,
    arguments: dict[str, float],
    title: str,
    row_type: type,
    wrongs: list[dict[str, float]],
    message: str,
) -> None:
    found = insight(store, now=NOW, **arguments)
    assert (found.name, found.title) == (name, title)
    assert (found.row_type, found.now) == (row_type, NOW)
    assert found.parameters == arguments
    for wrong in wrongs:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            insight(store, now=NOW, **wrong)


# -- usage stops -----------------------------------------------------------------------------


def test_usage_stops_count_every_day_with_data_and_no_other(store: Store, build: Build) -> None:
    # baseline=3, silent=2: the baseline is days -5 to -3, the silence days -2 and -1.
    build.sim("eu", 1, "active").daily("eu", 1, -5, [1, 1, 1])  # one byte a day is use
    build.sim("eu", 2, "active").daily("eu", 2, -5, [100, 0, 100])  # a day of 0 is none
    build.sim("eu", 3, "active").daily("eu", 3, -5, [100, 100, 100, 5])  # day -2 is silence
    build.sim("eu", 4, "active").daily("eu", 4, -5, [100, 100])  # a session ends its use
    build.usage("eu", 4, day(-3) + timedelta(hours=5), 7, granularity="session")
    build.sim("us", 1, "retired")  # the same ICCID in another account
    found = insights.usage_stops(store, baseline=3, silent=2, steady=1, now=NOW)
    assert [(r.iccid, r.status, r.active_days, r.baseline_bytes, r.last_usage) for r in found] == [
        (iccid(1), "active", 3, 3, day(-2)),
        (iccid(4), "active", 3, 207, day(-3) + timedelta(hours=5)),
    ]


def test_usage_stops_per_account_and_after_a_gap(store: Store, build: Build) -> None:
    build.sim("a", 2, "active").usage("a", None, day(-1), 1)  # totals only: a gap
    build.sim("eu", 1, "active").daily("eu", 1, -5, [100, 100, 100])
    build.sim("us", 3, "active").daily("us", 3, -5, [100, 100, 100])
    found = insights.usage_stops(store, baseline=3, silent=2, steady=1, now=NOW)
    assert [(r.account, r.iccid) for r in found] == [("eu", iccid(1)), ("us", iccid(3))]
    [gap] = found.gaps
    assert (gap.account, gap.connector, gap.sims) == ("a", "toy", 1)
    only = insights.usage_stops(store, baseline=3, silent=2, steady=1, now=NOW, accounts=["eu"])
    assert [(r.account, r.iccid) for r in only] == [("eu", iccid(1))]


# -- usage spikes ----------------------------------------------------------------------------


def test_usage_spikes_wait_for_a_full_trailing_window(store: Store, build: Build) -> None:
    with build.batch():
        build.sim("a", 1, "active").daily("a", 1, -3, [100, 100, 100])  # too short to judge
        # History from 06:00 on day -20: that day is partial, so days from -5 on are judged.
        build.sim("b", 2, "active").usage(
            "b", 2, day(-20) + timedelta(hours=6), 100, granularity="hour"
        )
        build.daily("b", 2, -19, [100] * 18 + [1000])
        # History from midnight 44 days ago: the 30 days are judged whole, without a gap.
        build.sim("c", 3, "active").daily("c", 3, -44, [100] * 43 + [900])
        build.sim("d", 4, "active").usage("d", None, day(-1), 1)  # totals only
    found = insights.usage_spikes(store, now=NOW)
    assert [(r.account, r.day, r.bytes) for r in found] == [
        ("c", date(2026, 6, 19), 900),
        ("b", date(2026, 6, 19), 1000),
    ]
    assert {gap.connector for gap in found.gaps} == {"toy"}
    assert [(g.account, g.reason) for g in found.gaps if g.account in "abc"] == [
        ("a", "its per-SIM history starts 2026-06-17: days before 2026-07-01 lack 14 trailing "
         "days and are not assessed"),
        ("b", "its per-SIM history starts 2026-05-31: days before 2026-06-15 lack 14 trailing "
         "days and are not assessed"),
    ]  # fmt: skip


# -- cost ------------------------------------------------------------------------------------


def test_cost_of_some_accounts_and_what_it_says_about_itself(store: Store, build: Build) -> None:
    may, may_end = date(2026, 5, 1), date(2026, 5, 31)
    build.sim("eu", 1, "active").invoice("eu", "i1", may, may_end, "10")
    build.invoice("gone", "i2", may, may_end, "30")  # an account without SIMs any more
    # The last invoice sync failed; a later sync of SIMs says nothing about invoices.
    build.sim("err", 2, "active").synced("err", "invoices", "error").synced("err", "sims", "ok")
    build.sim("new", 3, "active")  # not billed, and left out when not asked for
    eu = CostPeriod("toy", "eu", may, may_end, "EUR", Decimal("10"), 1, 1, Decimal("10.00"))
    failed = "its last invoice sync failed"
    found = insights.cost(store, now=NOW)
    assert found.rows == (
        eu,
        CostPeriod("toy", "gone", may, may_end, "EUR", Decimal("30"), 1, 0, None),
        unbilled("toy", "err", failed),
        unbilled("toy", "new", "invoices not synced yet"),
    )
    assert found.gaps == (
        Gap("err", "toy", f"no cost: {failed}", 1),
        Gap("new", "toy", "no cost: invoices not synced yet", 1),
    )
    assert (found.name, found.title) == ("cost", "Cost per platform and period")
    assert (found.row_type, found.now) == (CostPeriod, NOW)
    assert found.parameters == {"accounts": None}
    some = insights.cost(store, now=NOW, accounts=["eu", "err"])
    assert some.rows == (eu, unbilled("toy", "err", failed))
    assert some.parameters == {"accounts": ["eu", "err"]}


def fleet_history_store(build: Build) -> None:
    # days=3 at NOW: the days are June 18 to 20; changes from June 19 (day -1) on are undone.
    since = day(-1)
    build.modes("eu", {"ready": ("ready", False), "live": ("active", True)})
    with build.batch():
        build.sim("eu", 1, "active", "live", created=day(-50))
        # 2: created exactly at the start of June 19, so not there on June 18.
        build.sim("eu", 2, "active", "live", created=since)
        build.event("eu", 2, since, "ready", "live")
        # 3: created on June 19; its unknown state is counted once; another kind of event.
        build.sim("eu", 3, "active", "live", created=since + timedelta(hours=8))
        build.event("eu", 3, since + timedelta(hours=9), "mystery", "live")
        build.event("eu", 3, since + timedelta(hours=10), "ready", "live", kind="other")
        build.event("eu", 3, since - timedelta(hours=2), "ready", "live")  # before: not undone
        # 4: an unknown new state, on two days.
        build.sim("eu", 4, "active", "live", created=day(-50))
        build.event("eu", 4, since + timedelta(hours=2), "live", "gone")
        build.event("eu", 4, day(0) + timedelta(hours=2), "live", "gone")
        # Before the changes undone: neither undone nor reported.
        build.event("eu", 4, since - timedelta(hours=1), "weird", "live")
        build.event("eu", 98, since - timedelta(hours=1), "ready", "live")
        # SIMs no longer in the store (7 is a SIM of another account).
        build.event("eu", 99, since, "ready", "live")
        build.event("eu", 7, since + timedelta(hours=5), "ready", "live")
        build.event("eu", 97, since, "ready", "live", kind="other")
        # An account without an activation-mode table, speaking in normalized statuses.
        build.sim("us", 7, "active", created=day(-50))
        build.event("us", 7, since + timedelta(hours=1), "suspended", "active")
        build.sim("us", 9, "active", created=since + timedelta(hours=3))
        build.event("zz", 5, since, "ready", "live")  # an account known by its events only
        # An audit trail that disagrees: twice made live today.
        build.sim("cl", 8, "active", "live", created=day(-50))
        build.event("cl", 8, day(0) + timedelta(hours=1), "ready", "live")
        build.event("cl", 8, day(0) + timedelta(hours=2), "ready", "live")
    build.modes("cl", {"ready": ("ready", False), "live": ("active", True)})


def test_fleet_history_day_by_day_and_its_gaps_in_full(store: Store, build: Build) -> None:
    fleet_history_store(build)
    june = {n: date(2026, 6, n) for n in (18, 19, 20)}
    eu = (
        FleetDay(june[18], "toy", "eu", "active", 2),  # 2 and 3 not created yet
        FleetDay(june[19], "toy", "eu", "active", 4),
        FleetDay(june[20], "toy", "eu", "active", 4),
    )
    eu_gaps = (
        Gap(
            "eu", "toy", "3 status change(s) name a state its activation-mode table does not "
            "know ('gone', 'mystery'): not undone",
        ),
        Gap("eu", "toy", "2 status change(s) of SIMs no longer in the store: not undone"),
    )  # fmt: skip
    found = insights.fleet_history(store, days=3, now=NOW)
    assert found.rows == (
        FleetDay(june[18], "toy", "cl", "ready", 2),  # active would be -1: shown as none
        eu[0],
        FleetDay(june[18], "toy", "us", "suspended", 1),
        FleetDay(june[19], "toy", "cl", "ready", 2),
        eu[1],
        FleetDay(june[19], "toy", "us", "active", 2),
        FleetDay(june[20], "toy", "cl", "active", 1),
        eu[2],
        FleetDay(june[20], "toy", "us", "active", 2),
    )
    assert found.gaps == (
        *eu_gaps,
        Gap("zz", "", "1 status change(s) of SIMs no longer in the store: not undone"),
        Gap(
            "cl", "toy", "the audit events disagree with today's statuses (2 negative day "
            "count(s) shown as 0)",
        ),
    )  # fmt: skip
    some = insights.fleet_history(store, days=3, now=NOW, accounts=["eu"])
    assert (some.rows, some.gaps) == (eu, eu_gaps)


def test_fleet_history_names_itself_and_checks_its_days(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active")
    found = insights.fleet_history(store, days=1, now=NOW, accounts=["eu"])
    assert (found.name, found.title) == (
        "fleet_history",
        "SIMs per platform and status, day by day",
    )
    assert (found.row_type, found.now) == (FleetDay, NOW)
    assert found.parameters == {"days": 1, "accounts": ["eu"]}
    assert found.rows == (FleetDay(date(2026, 6, 20), "toy", "eu", "active", 1),)
    assert insights.fleet_history(store, now=NOW).parameters == {"days": 30, "accounts": None}
    with pytest.raises(ValueError, match=r"^days must be at least 1$"):
        insights.fleet_history(store, days=0, now=NOW)


# -- idle but billable -----------------------------------------------------------------------


def test_idle_billable_names_itself_and_checks_its_days(store: Store) -> None:
    found = insights.idle_billable(store, days=1, now=NOW, accounts=["eu"])
    assert (found.name, found.title, found.now) == ("idle_billable", "Idle but billable SIMs", NOW)
    assert found.parameters == {"days": 1, "accounts": ["eu"]}
    assert insights.idle_billable(store, now=NOW).parameters == {"days": 30, "accounts": None}
    with pytest.raises(ValueError, match=r"^days must be at least 1$"):
        insights.idle_billable(store, days=0, now=NOW)
