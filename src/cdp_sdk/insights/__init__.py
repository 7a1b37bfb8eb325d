"""Fleet insights over the sync store: answers across every platform, as typed rows and
DataFrames, and the HTML report behind ``cdp report``.

::

    from cdp_sdk.sync import Store
    from cdp_sdk import insights

    with Store("cdp.db") as store:
        idle = insights.idle_billable(store, days=30)
        print(insights.monthly_fees(idle.rows))     # {'EUR': Decimal('236.50')}
        idle.to_pandas()                            # one row per idle SIM
        for gap in idle.gaps:                       # what could not be assessed, and why
            print(gap.account, gap.reason)
        insights.write_report(store, "report.html")

Every function takes a :class:`~cdp_sdk.sync.Store` (SQLite or PostgreSQL) and returns an
:class:`Insight`: its ``rows`` (frozen dataclasses), ``to_pandas()``, its exact
``definition`` (also on the docs page and in the report), and its ``gaps``: accounts or
SIMs it could not assess for missing data (no per-SIM usage, no tariff, no invoices...),
which are never counted as zero. The work is done in the database with SQLAlchemy Core
(grouped queries; only the answer's rows leave it); the one exception, the trailing
median of :func:`usage_spikes`, streams per-SIM daily sums in bounded chunks.

============================  =============================================================
function                      answers
============================  =============================================================
:func:`fleet`                 SIMs per platform, account and normalized status
:func:`fleet_history`         the same at the end of each day, rebuilt from audit events
:func:`idle_billable`         SIMs in a billable state with no usage in N days, and the
                              monthly fee their tariff implies
:func:`plan_risk`             SIMs whose cycle-to-date usage, extrapolated, passes their
                              plan's included volume
:func:`usage_spikes`          SIM-days above k times the SIM's trailing 14-day median
:func:`usage_stops`           SIMs that went from steady use to none
:func:`cost`                  invoice totals per platform, account and period; per active
                              SIM
:func:`daily_usage`           usage per platform and day (for charts)
:func:`top_consumers`         the SIMs with the most usage
:func:`write_report`          all of them on one self-contained HTML page (``cdp report``)
============================  =============================================================

Needs the ``insights`` extra (SQLAlchemy and pandas): ``pip install 'cdp-iot-sdk[insights]'``.
"""

try:
    import pandas as _pandas  # noqa: F401
    import sqlalchemy as _sqlalchemy  # noqa: F401
except ImportError as _error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"cdp_sdk.insights needs SQLAlchemy and pandas ({_error.name} is missing): "
        "pip install 'cdp-iot-sdk[insights]'"
    ) from _error

from cdp_sdk.insights._anomalies import (
    SPIKE_DEFINITION,
    STOP_DEFINITION,
    UsageSpike,
    UsageStop,
    usage_spikes,
    usage_stops,
)
from cdp_sdk.insights._cost import COST_DEFINITION, CostPeriod, cost
from cdp_sdk.insights._fleet import (
    FLEET_DEFINITION,
    HISTORY_DEFINITION,
    FleetCount,
    FleetDay,
    fleet,
    fleet_history,
)
from cdp_sdk.insights._idle import IDLE_DEFINITION, IdleSim, idle_billable, monthly_fees
from cdp_sdk.insights._report import Report, build_report, render_html, write_report
from cdp_sdk.insights._result import Gap, Insight
from cdp_sdk.insights._risk import RISK_DEFINITION, PlanRisk, plan_risk
from cdp_sdk.insights._usage import (
    DAILY_DEFINITION,
    TOP_DEFINITION,
    DailyUsage,
    TopConsumer,
    daily_usage,
    top_consumers,
)

__all__ = [
    "COST_DEFINITION",
    "DAILY_DEFINITION",
    "FLEET_DEFINITION",
    "HISTORY_DEFINITION",
    "IDLE_DEFINITION",
    "RISK_DEFINITION",
    "SPIKE_DEFINITION",
    "STOP_DEFINITION",
    "TOP_DEFINITION",
    "CostPeriod",
    "DailyUsage",
    "FleetCount",
    "FleetDay",
    "Gap",
    "IdleSim",
    "Insight",
    "PlanRisk",
    "Report",
    "TopConsumer",
    "UsageSpike",
    "UsageStop",
    "build_report",
    "cost",
    "daily_usage",
    "fleet",
    "fleet_history",
    "idle_billable",
    "monthly_fees",
    "plan_risk",
    "render_html",
    "top_consumers",
    "usage_spikes",
    "usage_stops",
    "write_report",
]
