"""Fleet insights over the sync store (placeholder while building)."""
from cdp_sdk.insights._fleet import FleetCount, FleetDay, fleet, fleet_history
from cdp_sdk.insights._idle import IdleSim, idle_billable, monthly_fees
from cdp_sdk.insights._result import Gap, Insight
