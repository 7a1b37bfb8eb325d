"""The Control Center emulator answers the way the reference documents the platform."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import cdp_sdk
from cdp_sdk import ConflictError, RateLimitedError, SimStatus
from cdp_sdk.connectors.jasper import JasperEmulator
from cdp_sdk.connectors.jasper.emulator import DEFAULT_API_KEY, DEFAULT_USERNAME
from cdp_sdk.sandbox import Fleet, FleetSim, RateWindow

API = "/rws/api/v1"


@pytest.fixture
def fleet() -> Fleet:
    return Fleet(30, seed=3)


@pytest.fixture
def emulator(fleet: Fleet) -> JasperEmulator:
    return JasperEmulator(fleet)


@pytest.fixture
def http(emulator: JasperEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url="https://cc.example.test",
        transport=emulator.transport(),
        auth=(DEFAULT_USERNAME, DEFAULT_API_KEY),
    ) as client:
        yield client


def first(fleet: Fleet, status: SimStatus) -> FleetSim:
    return next(sim for sim in fleet.sorted_sims() if sim.status is status)


def test_basic_auth_is_required(emulator: JasperEmulator) -> None:
    with httpx.Client(base_url="https://cc.example.test", transport=emulator.transport()) as raw:
        missing = raw.get(f"{API}/rateplans")
        wrong = raw.get(f"{API}/rateplans", auth=(DEFAULT_USERNAME, "wrong"))
    assert (missing.status_code, "errorCode" in missing.json()) == (401, False)
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"errorMessage": "Invalid credentials", "errorCode": "10000001"},
    )


def test_search_requires_modified_since_and_lists_every_change_since(
    http: httpx.Client, fleet: Fleet
) -> None:
    missing = http.get(f"{API}/devices")
    assert (missing.status_code, missing.json()["errorCode"]) == (400, "10000003")

    # Cisco: "returns any devices that have been modified since this time", oldest first.
    oldest = min(sim.updated_at for sim in fleet.sims.values())
    since = (oldest - timedelta(days=400)).isoformat()
    body = http.get(f"{API}/devices", params={"modifiedSince": since, "pageSize": 200}).json()
    expected = sorted(fleet.sims.values(), key=lambda sim: (sim.updated_at, sim.serial))
    assert [device["iccid"] for device in body["devices"]] == [sim.iccid for sim in expected]
    assert (body["pageNumber"], body["lastPage"]) == (1, True)
    assert set(body["devices"][0]) == {"iccid", "status", "ratePlan", "communicationPlan"}
    later = [sim for sim in expected if sim.updated_at >= oldest + timedelta(days=100)]
    body = http.get(
        f"{API}/devices",
        params={"modifiedSince": (oldest + timedelta(days=100)).isoformat(), "pageSize": 200},
    ).json()
    assert [device["iccid"] for device in body["devices"]] == [sim.iccid for sim in later]


def test_a_window_reaches_modified_till_and_at_most_a_year(
    http: httpx.Client, fleet: Fleet, emulator: JasperEmulator
) -> None:
    oldest = min(sim.updated_at for sim in fleet.sims.values())
    by_change = sorted(fleet.sims.values(), key=lambda sim: (sim.updated_at, sim.serial))

    def search(**params: str) -> list[str]:
        body = http.get(f"{API}/devices", params={**params, "pageSize": 200}).json()
        return [device["iccid"] for device in body["devices"]]

    till = oldest + timedelta(days=30)
    assert search(modifiedSince=oldest.isoformat(), modifiedTill=till.isoformat()) == [
        sim.iccid for sim in by_change if sim.updated_at <= till
    ]
    # Tele2's catalogue: modifiedTill at most a year after modifiedSince; a longer window
    # ends there (both ends included).
    early = oldest - timedelta(days=300)
    year = [sim.iccid for sim in by_change if sim.updated_at <= early + timedelta(days=365)]
    assert year != [sim.iccid for sim in by_change]
    far = (early + timedelta(days=900)).isoformat()
    assert search(modifiedSince=early.isoformat(), modifiedTill=far) == year
    # Only with the switch does a search without modifiedTill stop there too.
    assert search(modifiedSince=early.isoformat()) == [sim.iccid for sim in by_change]
    emulator.cut_open_windows = True
    assert search(modifiedSince=early.isoformat()) == year


def test_device_dates_use_the_documented_format(http: httpx.Client, fleet: Fleet) -> None:
    sim = first(fleet, SimStatus.ACTIVE)
    device = http.get(f"{API}/devices/{sim.iccid}").json()
    assert device["status"] == "ACTIVATED"
    assert device["dateUpdated"] == f"{sim.updated_at:%Y-%m-%d %H:%M:%S}.000+0000"
    unknown = http.get(f"{API}/devices/8988303999999999999")
    assert (unknown.status_code, unknown.json()["errorCode"]) == (404, "20000001")


def test_transition_refusals(http: httpx.Client, fleet: Fleet) -> None:
    active = first(fleet, SimStatus.ACTIVE)
    back = http.put(f"{API}/devices/{active.iccid}", json={"status": "ACTIVATION_READY"})
    again = http.put(f"{API}/devices/{active.iccid}", json={"status": "ACTIVATED"})
    assert (back.status_code, back.json()["errorCode"]) == (400, "10000029")
    assert (again.status_code, again.json()["errorCode"]) == (400, "10030000")

    retired = first(fleet, SimStatus.RETIRED)
    revived = http.put(f"{API}/devices/{retired.iccid}", json={"status": "ACTIVATED"})
    assert (revived.status_code, "errorCode" in revived.json()) == (400, False)
    assert http.put(f"{API}/devices/{active.iccid}", json={"status": "ON"}).status_code == 400
    assert http.put(f"{API}/devices/{active.iccid}", json={"ratePlan": "x"}).status_code == 400
    assert http.put(f"{API}/devices/{active.iccid}", json={}).status_code == 400


def test_changes_reach_the_fleet_and_the_audit_trail(
    http: httpx.Client, fleet: Fleet, emulator: JasperEmulator
) -> None:
    sim = first(fleet, SimStatus.ACTIVE)
    answer = http.put(
        f"{API}/devices/{sim.iccid}", json={"status": "DEACTIVATED", "accountCustom1": ""}
    )
    assert (answer.status_code, answer.json()) == (200, {"iccid": sim.iccid})
    assert sim.status is SimStatus.DEACTIVATED
    assert "fleet" not in sim.tags
    http.put(f"{API}/devices/{sim.iccid}", json={"accountCustom9": "blue"})
    assert http.get(f"{API}/devices/{sim.iccid}").json()["accountCustom9"] == "blue"

    trail = http.get(f"{API}/devices/{sim.iccid}/auditTrails").json()
    newest = trail["deviceAuditTrails"][0]
    assert (newest["field"], newest["userName"]) == ("Custom Fields", DEFAULT_USERNAME)
    recent = [(entry["field"], entry["value"]) for entry in trail["deviceAuditTrails"][:3]]
    assert ("SIM Status", "DEACTIVATED") in recent
    assert http.get(f"{API}/devices/{sim.iccid}/auditTrails?daysOfHistory=366").status_code == 400


def test_a_state_the_fleet_cannot_hold_is_remembered(
    emulator: JasperEmulator, fleet: Fleet
) -> None:
    sim = first(fleet, SimStatus.RETIRED)
    emulator.states[sim.iccid] = "PURGED"
    assert emulator.state(sim) == "PURGED"
    fleet.set_status(sim.iccid, SimStatus.ACTIVE, at=datetime.now(UTC), actor="test")
    assert emulator.state(sim) == "ACTIVATED"


def test_usage_by_zone_serves_three_monthly_cycles(http: httpx.Client, fleet: Fleet) -> None:
    sim = first(fleet, SimStatus.ACTIVE)
    path = f"{API}/devices/{sim.iccid}/usageInZone"
    current = http.get(path).json()
    assert current["cycleStartDate"] == "2024-06-01T00:00:00.000Z"
    assert current["cycleEndDate"] == "2024-06-30T23:59:59.000Z"
    assert http.get(path, params={"cycleStartDate": "2024-04-01Z"}).status_code == 200
    assert http.get(path, params={"cycleStartDate": "2024-04-01+00:00"}).status_code == 200
    assert http.get(path, params={"cycleStartDate": "2024-03-01Z"}).status_code == 400
    assert http.get(path, params={"cycleStartDate": "April"}).status_code == 400

    ctd = http.get(f"{API}/devices/{sim.iccid}/ctdUsages").json()
    (row,) = current["deviceCycleUsageInZones"].values()
    assert ctd["ctdDataUsage"] == row[0]["dataUsage"]
    assert ctd["ctdSMSUsage"] == row[0]["smsMOUsage"] + row[0]["smsMTUsage"]


def test_rate_limit_answers_40000029_without_retry_after(fleet: Fleet) -> None:
    emulator = JasperEmulator(fleet, rate_limit=RateWindow(1, 60.0))
    with httpx.Client(
        base_url="https://cc.example.test",
        transport=emulator.transport(),
        auth=(DEFAULT_USERNAME, DEFAULT_API_KEY),
    ) as http:
        assert http.get(f"{API}/rateplans").status_code == 200
        limited = http.get(f"{API}/rateplans")
    assert (limited.status_code, limited.json()["errorCode"]) == (429, "40000029")
    assert "Retry-After" not in limited.headers


def test_the_connector_reads_202_as_pending_and_refusals_as_conflicts(fleet: Fleet) -> None:
    emulator = JasperEmulator(fleet, edit_status=202)
    settings = {"username": DEFAULT_USERNAME, "api_key": DEFAULT_API_KEY, "rate_limit": None}
    with cdp_sdk.connect(
        "jasper", base_url="https://cc.example.test", transport=emulator.transport(), **settings
    ) as jasper:
        sim = first(fleet, SimStatus.ACTIVE)
        assert jasper.change_status(sim.iccid, "deactivated").state == "pending"
        with pytest.raises(ConflictError):
            jasper.change_status(sim.iccid, "test")
        emulator.rate_limit = RateWindow(1, 60.0)
        jasper.plugin.http.sleep = _no_sleep
        jasper.subscription(sim.iccid)
        with pytest.raises(RateLimitedError):
            jasper.subscription(sim.iccid)


async def _no_sleep(seconds: float) -> None:
    return None


def test_old_windows_are_served_unless_the_switch_refuses_them(
    http: httpx.Client, emulator: JasperEmulator
) -> None:
    params = {
        "modifiedSince": "2010-01-01T00:00:00+00:00",
        "modifiedTill": "2011-01-01T00:00:00+00:00",
    }
    assert http.get(f"{API}/devices", params=params).json()["lastPage"] is True
    emulator.refuse_old_windows = True
    refused = http.get(f"{API}/devices", params=params)
    assert refused.status_code == 400
    assert set(refused.json()) == {"errorMessage", "errorCode"}
    assert refused.json()["errorCode"] == "10000045"
    recent = (datetime.now(UTC) - timedelta(days=300)).isoformat()
    assert http.get(f"{API}/devices", params={"modifiedSince": recent}).status_code == 200


def test_a_full_sync_on_a_platform_refusing_old_windows(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = JasperEmulator(fleet, refuse_old_windows=True)
    changed = first(fleet, SimStatus.ACTIVE)
    fleet.set_status(changed.iccid, SimStatus.DEACTIVATED, at=datetime.now(UTC), actor="test")
    settings = {"username": DEFAULT_USERNAME, "api_key": DEFAULT_API_KEY, "rate_limit": None}
    with (
        caplog.at_level("WARNING", logger="cdp_sdk"),
        cdp_sdk.connect(
            "jasper",
            base_url="https://cc.example.test",
            transport=emulator.transport(),
            **settings,
        ) as jasper,
    ):
        sims = list(jasper.subscriptions())
    # the fleet's other SIMs last changed more than a year ago: this platform cannot list them
    assert [sim.iccid for sim in sims] == [changed.iccid]
    assert sims[0].status is SimStatus.DEACTIVATED
    assert len([r for r in caplog.records if "10000045" in r.getMessage()]) == 1
    refused = [r for r in emulator.requests_to(f"{API}/devices$") if "2000-01-01" in str(r.url)]
    assert len(refused) == 1


def test_rate_plans_carry_last_page(http: httpx.Client, fleet: Fleet) -> None:
    body = http.get(f"{API}/rateplans").json()
    assert (body["pageNumber"], body["lastPage"]) == (1, True)
    assert [plan["name"] for plan in body["ratePlans"]] == [t.name for t in fleet.tariffs]
