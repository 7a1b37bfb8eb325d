"""Figures of the insights that mutation testing found unchecked: ties in a ranking, the
windows' edges and defaults, the accounts filter, records that do not count, and what an
insight says about itself. Stores and fixtures are those of ``test_insights.py``."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cdp_sdk import insights
from cdp_sdk.insights import DailyUsage, FleetCount, Gap, IdleSim, TopConsumer
from cdp_sdk.sync import Store
from insight_store import NOW, Build, day, iccid
from test_insights import build, store

__all__ = ["build", "store"]  # the fixtures, used by name

NO_USAGE = "no usage in the store"


# -- what an insight says about itself ------------------------------------------------------


def test_fleet_names_itself_and_its_parameters(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active").sim("us", 2, "active")
    before = datetime.now(UTC)
    found = insights.fleet(store, accounts=["eu"])
    after = datetime.now(UTC)
    assert (found.name, found.title) == ("fleet", "SIMs per platform and status")
    assert found.parameters == {"accounts": ["eu"]}
    assert isinstance(found.now, datetime)
    assert before <= found.now <= after
    assert insights.fleet(store).parameters == {"accounts": None}


def test_usage_insights_name_themselves_and_their_parameters(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active").usage("eu", 1, day(-2), 10)
    daily = insights.daily_usage(store, days=3, bearer="data", now=NOW)
    assert (daily.name, daily.row_type, daily.now) == ("daily_usage", DailyUsage, NOW)
    assert daily.parameters == {"days": 3, "bearer": "data"}
    assert list(daily.to_pandas().columns) == [
        "day", "connector", "account", "bearer", "unit", "quantity", "source",
    ]  # fmt: skip
    top = insights.top_consumers(store, days=4, limit=2, bearer="data", now=NOW)
    assert (top.name, top.row_type, top.now) == ("top_consumers", TopConsumer, NOW)
    assert top.parameters == {"days": 4, "limit": 2, "bearer": "data"}
    assert list(top.to_pandas().columns) == [
        "account", "connector", "iccid", "status", "bearer", "unit", "quantity",
    ]  # fmt: skip


# -- fleet -----------------------------------------------------------------------------------


def test_fleet_lists_an_account_whole_before_the_next(store: Store, build: Build) -> None:
    build.sim("b", 1, "active").sim("a", 2, "suspended").sim("a", 3, "active")
    assert insights.fleet(store).rows == (
        FleetCount("toy", "a", "active", 1),
        FleetCount("toy", "a", "suspended", 1),
        FleetCount("toy", "b", "active", 1),
    )


# -- top consumers ---------------------------------------------------------------------------


def top_store(build: Build) -> None:
    # Three SIMs tie at 100 bytes: ranked by account, then ICCID.
    build.sim("a", 7, "active").usage("a", 7, day(-2), 100)
    build.sim("b", 1, "suspended").usage("b", 1, day(-2), 100)
    build.sim("a", 5, "active").usage("a", 5, day(-2), 100)
    build.usage("b", 1, day(-2), 1000, bearer="sms")  # another bearer: not data
    build.sim("b", 5, "retired")  # the same ICCID in another account: not SIM a/5
    build.sim("d", 8, "active")  # no usage at all: a gap of one SIM


def test_top_consumers_break_ties_by_account_then_iccid(store: Store, build: Build) -> None:
    top_store(build)
    found = insights.top_consumers(store, now=NOW)
    assert found.rows == (
        TopConsumer("a", "toy", iccid(5), "active", "data", "bytes", 100),
        TopConsumer("a", "toy", iccid(7), "active", "data", "bytes", 100),
        TopConsumer("b", "toy", iccid(1), "suspended", "data", "bytes", 100),
    )
    assert found.gaps == (Gap("d", "toy", NO_USAGE, 1),)
    two = insights.top_consumers(store, limit=2, now=NOW)
    assert [(r.account, r.iccid) for r in two.rows] == [("a", iccid(5)), ("a", iccid(7))]
    sms = insights.top_consumers(store, bearer="sms", now=NOW)
    assert [(r.account, r.iccid, r.quantity, r.unit) for r in sms.rows] == [
        ("b", iccid(1), 1000, "messages")
    ]


def test_top_consumers_of_some_accounts(store: Store, build: Build) -> None:
    top_store(build)
    found = insights.top_consumers(store, now=NOW, accounts=["b"])
    assert [(r.account, r.iccid, r.quantity) for r in found.rows] == [("b", iccid(1), 100)]
    assert found.gaps == ()
    assert insights.top_consumers(store, now=NOW, accounts=["d"]).gaps == (
        Gap("d", "toy", NO_USAGE, 1),
    )


def test_top_consumers_default_to_ten_sims_over_thirty_days(store: Store, build: Build) -> None:
    with build.batch():
        for n in range(1, 12):
            build.sim("eu", n, "active").usage("eu", n, day(-1), 200 - n)
        # May 21 00:00: before NOW - 30 days (May 21 noon), inside 31 days.
        build.sim("eu", 12, "active").usage("eu", 12, day(-30), 10_000)
    found = insights.top_consumers(store, now=NOW)
    assert [r.iccid for r in found.rows] == [iccid(n) for n in range(1, 11)]


def test_top_consumers_over_one_day(store: Store, build: Build) -> None:
    build.sim("eu", 1, "active").usage("eu", 1, NOW - timedelta(hours=23), 5, granularity="hour")
    build.sim("eu", 2, "active").usage("eu", 2, NOW - timedelta(hours=25), 9, granularity="hour")
    found = insights.top_consumers(store, days=1, now=NOW)
    assert [(r.iccid, r.quantity) for r in found.rows] == [(iccid(1), 5)]
    for days, limit in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match=r"^days and limit must be at least 1$"):
            insights.top_consumers(store, days=days, limit=limit, now=NOW)


# -- daily usage -----------------------------------------------------------------------------


def test_daily_usage_counts_only_records_within_a_day(store: Store, build: Build) -> None:
    build.usage("us", 1, day(-2), 10)
    build.usage("us", 1, day(-2), 500, end=day(10), granularity="month")  # not within a day
    build.usage("us", 1, day(-2), 70, end=day(5), granularity="cycle")
    found = insights.daily_usage(store, days=3, now=NOW)
    assert [(r.day, r.quantity) for r in found.rows] == [(date(2026, 6, 18), 10)]


def test_daily_usage_names_accounts_without_any_usage(store: Store, build: Build) -> None:
    build.usage("us", 1, day(-2), 10).sim("idle", 2, "active")
    build.usage("cyc", 3, day(-2), 5, end=day(5), granularity="cycle")
    found = insights.daily_usage(store, days=3, now=NOW)
    assert found.gaps == (
        Gap("cyc", "toy", "it reports usage by billing cycle or month only: no daily figures"),
        Gap("idle", "toy", NO_USAGE),
    )
    only = insights.daily_usage(store, days=3, now=NOW, accounts=["us", "idle"])
    assert only.gaps == (Gap("idle", "toy", NO_USAGE),)
    assert [(r.account, r.quantity) for r in only.rows] == [("us", 10)]


def test_daily_usage_defaults_to_thirty_complete_days(store: Store, build: Build) -> None:
    build.usage("eu", 1, day(-31), 1000).usage("eu", 1, day(-30), 7).usage("eu", 1, day(-1), 3)
    found = insights.daily_usage(store, now=NOW)
    assert [(r.day, r.quantity) for r in found.rows] == [
        (date(2026, 5, 21), 7),
        (date(2026, 6, 19), 3),
    ]
    assert found.parameters["days"] == 30
    one = insights.daily_usage(store, days=1, now=NOW)
    assert [(r.day, r.quantity) for r in one.rows] == [(date(2026, 6, 19), 3)]
    with pytest.raises(ValueError, match=r"^days must be at least 1$"):
        insights.daily_usage(store, days=0, now=NOW)


# -- idle but billable: which records count as use -------------------------------------------


def test_idle_billable_judges_open_records_by_their_start(store: Store, build: Build) -> None:
    since = NOW - timedelta(days=30)
    build.modes("eu", {"live": ("active", True)})
    # 1: an open session started before the window: idle. 2: one started as it opens: used.
    build.sim("eu", 1, "active", "live").usage(
        "eu", 1, since - timedelta(hours=1), 1, granularity="session"
    )
    build.sim("eu", 2, "active", "live").usage("eu", 2, since, 5, granularity="session")
    build.usage("eu", None, day(-3), 40)  # account totals say nothing of a SIM
    found = insights.idle_billable(store, now=NOW)
    assert [r.iccid for r in found.rows] == [iccid(1)]
    # Its last use: the start of that open session, one byte.
    assert [(r.last_usage, r.idle_days) for r in found.rows] == [(since - timedelta(hours=1), 30)]


# -- usage spikes: the trailing median, day by day -------------------------------------------

# One SIM's daily data by day offset (0 records a zero day), the trailing days and k; the
# spikes found over the last `days` complete days: (day offset, quantity, median, ratio).
SPIKES = {
    "first trailing day counts": (
        {-3: 100, -2: 100, -1: 300}, 2, 2.0, 1, [(-1, 300, 100.0, 3.0)],
    ),
    "odd trailing: the middle day": (
        {-4: 100, -3: 300, -2: 200, -1: 1000}, 3, 2.0, 1, [(-1, 1000, 200.0, 5.0)],
    ),
    "even trailing: the two middle days": (
        {-5: 100, -4: 400, -3: 200, -2: 300, -1: 1000}, 4, 2.0, 1, [(-1, 1000, 250.0, 4.0)],
    ),
    "a median of one byte": ({-3: 1, -2: 1, -1: 100}, 2, 5.0, 1, [(-1, 100, 1.0, 100.0)]),
    "a spike of one byte": ({-3: 0, -2: 1, -1: 1}, 2, 1.5, 1, [(-1, 1, 0.5, 2.0)]),
    "the ratio to two decimals": (
        {-3: 300, -2: 300, -1: 1000}, 2, 3.0, 1, [(-1, 1000, 300.0, 3.33)],
    ),
    "a silent day before a spike": (
        {-4: 100, -3: 100, -2: 0, -1: 1000}, 2, 5.0, 2, [(-1, 1000, 50.0, 20.0)],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SPIKES))
def test_usage_spikes_judge_each_day_on_its_trailing_median(
    store: Store, build: Build, case: str
) -> None:
    values, trailing, k, days, expected = SPIKES[case]
    with build.batch():
        build.usage("eu", 2, day(-20), 5)  # another SIM: the account's history starts early
        for offset, quantity in values.items():
            build.usage("eu", 1, day(offset), quantity)
    found = insights.usage_spikes(store, k=k, days=days, trailing=trailing, now=NOW)
    assert [(r.iccid, r.day, r.bytes, r.median_bytes, r.ratio) for r in found.rows] == [
        (iccid(1), day(offset).date(), quantity, median, ratio)
        for offset, quantity, median, ratio in expected
    ]


def test_idle_billable_prices_each_sim_from_its_own_account(store: Store, build: Build) -> None:
    build.modes("eu", {"live": ("active", True)}).modes("us", {"live": ("active", True)})
    build.tariff("eu", "plan", fee="1.50").tariff("us", "plan", fee="9.00", currency="USD")
    build.tariff("eu", "bare", fee="2.00", currency=None)  # a fee in no stated currency
    build.usage("eu", 1, day(-40), 1).usage("us", 5, day(-40), 1)  # history covers 30 days
    build.sim("eu", 9, "active", "live", tariff="plan").sim(
        "eu", 3, "active", "live", tariff="plan"
    )
    build.sim("eu", 4, "active", "live", tariff="bare")
    found = insights.idle_billable(store, now=NOW, accounts=["eu"])
    assert [(r.iccid, r.monthly_fee, r.currency) for r in found.rows] == [
        (iccid(3), Decimal("1.50"), "EUR"),
        (iccid(4), Decimal("2.00"), None),
        (iccid(9), Decimal("1.50"), "EUR"),
    ]
    assert insights.monthly_fees(found.rows) == {"EUR": Decimal("3.00")}
    assert all(isinstance(r, IdleSim) for r in found.rows)


# -- fleet history: what its gaps say --------------------------------------------------------


def test_fleet_history_gaps_name_the_platform_and_count_every_change(
    store: Store, build: Build
) -> None:
    build.modes("eu", {"live": ("active", True)}, connector="acme")
    build.sim("eu", 1, "active", "live", connector="acme")
    build.event("eu", 1, day(-1), "mystery", "live", connector="acme")
    build.event("eu", 1, day(-2), "weird", "mystery", connector="acme")
    build.event("eu", 1, day(-3), "weird", "weird", connector="acme")
    build.sim("us", 2, "active", connector="other")  # no audit events
    found = insights.fleet_history(store, days=5, now=NOW)
    assert found.gaps_to_pandas().to_dict("records") == [
        {
            "account": "us",
            "connector": "other",
            "reason": "no status change in its audit events: earlier days show today's "
            "statuses (only SIMs created since are taken out)",
            "sims": None,
        },
        {
            "account": "eu",
            "connector": "acme",
            "reason": "3 status change(s) name a state its activation-mode table does not "
            "know ('mystery', 'weird'): not undone",
            "sims": None,
        },
    ]
    assert list(insights.fleet(store).gaps_to_pandas().columns) == [
        "account", "connector", "reason", "sims",
    ]  # fmt: skip


# -- frames ----------------------------------------------------------------------------------


def test_frames_keep_their_column_types_even_empty(store: Store, build: Build) -> None:
    empty = insights.usage_spikes(store, now=NOW).to_pandas()
    assert str(empty["median_bytes"].dtype) == "float64"
    assert str(empty["bytes"].dtype) == "Int64"
    idle = insights.idle_billable(store, now=NOW).to_pandas()
    assert str(idle["last_usage"].dtype).endswith(", UTC]")
    assert str(idle["idle_days"].dtype) == "Int64"
    build.modes("eu", {"live": ("active", True)}).sim("eu", 1, "active", "live")
    build.sim("eu", 2, "active", "live").usage("eu", 1, day(-40), 1).usage("eu", 2, day(-45), 1)
    frame = insights.idle_billable(store, now=NOW).to_pandas()
    assert str(frame["idle_days"].dtype) == "Int64"
    assert frame["idle_days"].tolist() == [39, 44]  # from the end of their last record


# -- plan risk: cycles in UTC, wherever the caller is ----------------------------------------


def test_plan_risk_gives_cycles_in_utc_in_any_local_zone(
    store: Store, build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    build.tariff("eu", "plan-s", data=10_000_000).sim("eu", 1, "active", tariff="plan-s")
    build.usage("eu", 1, day(-10), 5_000_000, end=day(20), granularity="cycle")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        found = insights.plan_risk(store, now=NOW)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert [(r.cycle_start, r.cycle_end) for r in found.rows] == [(day(-10), day(20))]
    assert [(str(r.cycle_start), str(r.cycle_end)) for r in found.rows] == [
        ("2026-06-10 00:00:00+00:00", "2026-07-10 00:00:00+00:00")
    ]
