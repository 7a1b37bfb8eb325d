"""More figures of the insights that mutation testing found unchecked: plan risk across
accounts sharing ICCIDs and tariff names, the cycle's edges, and what the insight says about
itself. Stores and fixtures are those of ``test_insights.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cdp_sdk import insights
from cdp_sdk.insights import Gap, PlanRisk
from cdp_sdk.sync import Store
from insight_store import NOW, Build, day, iccid
from test_insights import build, postgres_url, store

__all__ = ["build", "postgres_url", "store"]  # the fixtures, used by name

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
