"""The Hologram emulator speaks the vendor's HTTP: auth, envelopes, paging, errors, limits,
state changes, tags, history and usage."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import SimStatus
from cdp_sdk.connectors.hologram import HologramEmulator
from cdp_sdk.connectors.hologram.emulator import (
    DEFAULT_API_KEY,
    ORG_ID,
    device_id_of,
    link_id_of,
)
from cdp_sdk.sandbox import Fleet, FleetSim, RateWindow

BASE = "https://dashboard.hologram.io"
LINKS = "/api/1/links/cellular"
DAY = 86_400


def basic(key: str, user: str = "apikey") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def now() -> list[float]:
    return [datetime(2024, 6, 15, 12, tzinfo=UTC).timestamp()]


@pytest.fixture
def emulator(now: list[float]) -> HologramEmulator:
    return HologramEmulator(Fleet(30, seed=3), clock=lambda: now[0])


@pytest.fixture
def http(emulator: HologramEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=BASE, transport=emulator.transport(), headers=basic(DEFAULT_API_KEY)
    ) as client:
        yield client


def walk(http: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every record of a listing, following ``startafter`` until it stops continuing."""
    records: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        body = http.get(path, params=query).json()
        records += body["data"]
        if not body.get("continues"):
            return records
        key = "record_id" if "record_id" in body["data"][-1] else "id"
        query["startafter"] = body["data"][-1][key]


def sim_in(
    emulator: HologramEmulator, status: SimStatus, *, paused_by_system: bool = False
) -> FleetSim:
    """The first SIM of the fleet in ``status`` (every fourth paused one: by the system)."""
    return next(
        sim
        for sim in emulator.fleet.sorted_sims()
        if sim.status is status and (sim.serial % 4 == 0) is paused_by_system
    )


def state_of(http: httpx.Client, sim: FleetSim) -> str:
    [link] = http.get(LINKS, params={"id": link_id_of(sim)}).json()["data"]
    return str(link["state"])


# -- auth and envelopes -------------------------------------------------------------------


def test_basic_auth_with_the_user_apikey(emulator: HologramEmulator) -> None:
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        good = client.get(LINKS, headers=basic(DEFAULT_API_KEY))
        wrong = client.get(LINKS, headers=basic("nope"))
        other_user = client.get(LINKS, headers=basic(DEFAULT_API_KEY, user="admin"))
        legacy = client.get(LINKS, params={"apikey": DEFAULT_API_KEY})
        none = client.get(LINKS)
    assert good.status_code == 200
    assert legacy.status_code == 200  # the legacy query parameter still works
    for refused in (wrong, other_user, none):
        assert refused.status_code == 401
        assert refused.json() == {"success": False, "error": "Invalid API key"}


def test_a_listing_carries_the_documented_envelope(http: httpx.Client) -> None:
    body = http.get(LINKS, params={"limit": 4}).json()
    assert body["success"] is True
    assert (body["limit"], body["size"], body["continues"]) == (4, 4, True)
    last = body["data"][-1]["id"]
    assert body["links"] == {
        "path": LINKS,
        "base": "dashboard.hologram.io",
        "next": f"{LINKS}?limit=4&startafter={last}",
    }
    following = http.get(body["links"]["next"]).json()
    assert following["data"][0]["id"] > last


def test_the_last_page_does_not_continue(http: httpx.Client) -> None:
    body = http.get(LINKS, params={"limit": 1000}).json()
    assert "continues" not in body
    assert "next" not in body["links"]


def test_links_page_by_ascending_id_and_leave_out_unclaimed_sims(
    emulator: HologramEmulator, http: httpx.Client
) -> None:
    links = walk(http, LINKS, {"limit": 4})
    ids = [link["id"] for link in links]
    assert ids == sorted(ids)
    listed = {sim.iccid for sim in emulator.fleet.sims.values() if emulator.lists(sim.iccid)}
    assert {link["sim"] for link in links} == listed
    inventory = [s for s in emulator.fleet.sims.values() if s.status is SimStatus.INVENTORY]
    assert inventory
    assert not listed & {sim.iccid for sim in inventory}


def test_devices_are_listed_newest_first(emulator: HologramEmulator, http: httpx.Client) -> None:
    devices = walk(http, "/api/1/devices", {"limit": 4})
    ids = [device["id"] for device in devices]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == len(set(ids)) == sum(map(emulator.lists, emulator.fleet.sims))


def test_a_page_is_rendered_in_o_page(emulator: HologramEmulator, http: httpx.Client) -> None:
    rendered: list[int] = []
    original = emulator._link

    def counting(sim: Any) -> dict[str, Any]:
        rendered.append(sim.serial)
        return original(sim)

    emulator._link = counting  # type: ignore[method-assign]
    http.get(LINKS, params={"limit": 3, "startafter": link_id_of(emulator.fleet.sorted_sims()[9])})
    assert len(rendered) == 4  # the page and one more to know it continues


def test_filters_by_id_sim_and_device(emulator: HologramEmulator, http: httpx.Client) -> None:
    first, second = emulator.fleet.sorted_sims()[:2]
    by_ids = http.get(LINKS, params={"ids": f"{link_id_of(first)},{link_id_of(second)}"})
    by_sims = http.get(LINKS, params={"sims": f"{second.iccid},8988303999999999999"})
    by_device = http.get("/api/1/devices", params={"ids": str(device_id_of(first))})
    assert [link["id"] for link in by_ids.json()["data"]] == [link_id_of(first), link_id_of(second)]
    assert [link["sim"] for link in by_sims.json()["data"]] == [second.iccid]
    [device] = by_device.json()["data"]
    assert device["links"]["cellular"][0]["id"] == link_id_of(first)


def test_sim_values_without_check_digits(now: list[float]) -> None:
    emulator = HologramEmulator(Fleet(5, seed=3), iccid_check_digit=False)
    with httpx.Client(
        base_url=BASE, transport=emulator.transport(), headers=basic(DEFAULT_API_KEY)
    ) as http:
        sims = {link["sim"] for link in http.get(LINKS).json()["data"]}
    assert sims == {
        sim.iccid[:-1] for sim in emulator.fleet.sims.values() if emulator.lists(sim.iccid)
    }


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (LINKS, {"page": "2"}, 400),  # not a documented parameter
        (LINKS, {"limit": "ten"}, 400),
        (LINKS, {"orgid": "1"}, 403),  # an organization this key is not in
        ("/api/1/usage/data/daily", {"limit": "5001"}, 400),  # over the documented maximum
        ("/api/1/usage/data", {"limit": "5001"}, 400),
        ("/api/1/usage/data/monthly", {"mintime": "2024-01-01"}, 400),
        ("/api/1/devices/999", {}, 404),
        (f"{LINKS}/1/history", {}, 404),
        ("/api/1/nothing", {}, 404),
    ],
)
def test_refusals_use_the_vendor_error_body(
    http: httpx.Client, path: str, params: dict[str, str], status: int
) -> None:
    response = http.get(path, params=params)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert isinstance(response.json()["error"], str)


def test_the_own_organization_is_accepted(http: httpx.Client) -> None:
    assert http.get(LINKS, params={"orgid": ORG_ID}).status_code == 200


def test_over_the_rate_limit_answers_429_without_a_wait_header(now: list[float]) -> None:
    emulator = HologramEmulator(
        Fleet(3, seed=1), rate_limit=RateWindow(2, 60.0, clock=lambda: now[0])
    )
    with httpx.Client(
        base_url=BASE, transport=emulator.transport(), headers=basic(DEFAULT_API_KEY)
    ) as http:
        assert http.get(LINKS).status_code == 200
        assert http.get(LINKS).status_code == 200
        limited = http.get(LINKS)
    assert limited.status_code == 429
    assert limited.json() == {"success": False, "error": "API rate limit exceeded"}
    assert "Retry-After" not in limited.headers


# -- state changes ------------------------------------------------------------------------


def post_state(http: httpx.Client, sim: FleetSim, state: str) -> httpx.Response:
    return http.post(f"/api/1/devices/{device_id_of(sim)}/state", json={"state": state})


def test_a_pause_is_pending_until_it_reaches_the_network(
    emulator: HologramEmulator, http: httpx.Client, now: list[float]
) -> None:
    sim = sim_in(emulator, SimStatus.ACTIVE)
    response = post_state(http, sim, "pause")
    assert response.json() == {"success": True}
    assert state_of(http, sim) == "PAUSED-PENDING-USER"
    locked = post_state(http, sim, "live")
    assert locked.status_code == 400
    assert locked.json()["error"] == "SIM state is locked (PAUSED-PENDING-USER)"
    now[0] += 30
    assert state_of(http, sim) == "PAUSED-USER"
    assert emulator.fleet.sims[sim.iccid].status is SimStatus.SUSPENDED
    post_state(http, sim, "live")
    assert state_of(http, sim) == "LIVE-PENDING"
    now[0] += 30
    assert state_of(http, sim) == "LIVE"


def test_deactivation_is_final(emulator: HologramEmulator, http: httpx.Client) -> None:
    sim = sim_in(emulator, SimStatus.SUSPENDED)
    assert post_state(http, sim, "deactivate").status_code == 200
    assert state_of(http, sim) == "DEAD"
    for state in ("live", "pause", "deactivate"):
        assert post_state(http, sim, state).status_code == 400


def test_a_sim_paused_by_the_system_cannot_be_resumed_by_a_user() -> None:
    emulator = HologramEmulator(Fleet(80, seed=5))
    sim = sim_in(emulator, SimStatus.SUSPENDED, paused_by_system=True)
    with httpx.Client(
        base_url=BASE, transport=emulator.transport(), headers=basic(DEFAULT_API_KEY)
    ) as http:
        assert state_of(http, sim) == "PAUSED-SYS"
        assert post_state(http, sim, "live").status_code == 400
        assert post_state(http, sim, "deactivate").status_code == 200
        history = http.get(f"{LINKS}/{link_id_of(sim)}/history").json()["data"]
    assert ("LIVE", "PAUSED-SYS", "SYS") in {
        (entry["oldstate"], entry["newstate"], entry["reason"]) for entry in history
    }


def test_state_changes_accept_form_bodies_and_refuse_unknown_states(
    emulator: HologramEmulator, http: httpx.Client
) -> None:
    sim = sim_in(emulator, SimStatus.ACTIVE)
    unknown = post_state(http, sim, "suspend")
    form = http.post(
        f"/api/1/devices/{device_id_of(sim)}/state",
        content=b"state=pause",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unknown.status_code == 400
    assert form.status_code == 200
    assert state_of(http, sim) == "PAUSED-PENDING-USER"


def test_the_history_tells_the_claim_and_the_changes(
    emulator: HologramEmulator, http: httpx.Client, now: list[float]
) -> None:
    sim = sim_in(emulator, SimStatus.ACTIVE)
    post_state(http, sim, "pause")
    now[0] += 60
    history = http.get(f"{LINKS}/{link_id_of(sim)}/history").json()["data"]
    moves = [(entry["oldstate"], entry["newstate"]) for entry in history]
    assert moves[:2] == [("INACTIVE", "LIVE-PENDING"), ("LIVE-PENDING", "LIVE")]
    assert moves[-2:] == [("LIVE", "PAUSED-PENDING-USER"), ("PAUSED-PENDING-USER", "PAUSED-USER")]
    assert {entry["reason"] for entry in history} == {"USER"}
    assert set(history[0]) == {"id", "timestamp", "linkid", "oldstate", "newstate", "reason"}


def test_a_retired_sims_history_ends_dead(emulator: HologramEmulator, http: httpx.Client) -> None:
    sim = sim_in(emulator, SimStatus.RETIRED)
    history = http.get(f"{LINKS}/{link_id_of(sim)}/history").json()["data"]
    assert history[-1]["newstate"] == "DEAD"


# -- tags ---------------------------------------------------------------------------------


def test_tags_are_created_linked_unlinked_and_deleted(
    emulator: HologramEmulator, http: httpx.Client
) -> None:
    first, second = (device_id_of(sim) for sim in emulator.fleet.sorted_sims()[:2])
    created = http.post("/api/1/devices/tags", json={"name": "pumps", "deviceids": [first]})
    tag = created.json()["data"]
    assert (tag["name"], tag["deviceids"]) == ("pumps", [first])
    linked = http.post(f"/api/1/devices/tags/{tag['id']}/link", json={"deviceids": [second]})
    assert linked.json()["data"]["deviceids"] == sorted([first, second])
    device = http.get(f"/api/1/devices/{second}").json()["data"]
    assert {"id": tag["id"], "name": "pumps"} in device["tags"]
    http.post(f"/api/1/devices/tags/{tag['id']}/unlink", json={"deviceids": [first]})
    of_first = http.get("/api/1/devices/tags", params={"deviceids": str(first)}).json()["data"]
    assert tag["id"] not in {t["id"] for t in of_first}
    assert http.delete(f"/api/1/devices/tags/{tag['id']}").json() == {"success": True}
    assert (
        http.post(f"/api/1/devices/tags/{tag['id']}/link", json={"deviceids": [first]}).status_code
        == 404
    )


@pytest.mark.parametrize(
    "body", [{}, {"name": " "}, {"name": "x", "deviceids": [1]}, {"name": "x", "deviceids": "1"}]
)
def test_bad_tag_bodies_are_refused(http: httpx.Client, body: dict[str, Any]) -> None:
    assert http.post("/api/1/devices/tags", json=body).status_code == 400


# -- plans and usage ----------------------------------------------------------------------


def test_plans_have_tiers_and_zones(http: httpx.Client) -> None:
    plans = walk(http, "/api/1/plans", {"limit": 2})
    assert [plan["id"] for plan in plans] == [101, 102, 103]
    base = plans[0]["tiers"]["BASE"]
    assert base["devicecount"] == 0
    assert base["zones"]["global"]["amount"] == "1.5000"


def test_daily_usage_pages_newest_first_without_gaps(
    emulator: HologramEmulator, http: httpx.Client
) -> None:
    window = {"timestart": int(datetime(2024, 6, 1, tzinfo=UTC).timestamp())}
    small = walk(http, "/api/1/usage/data/daily", {**window, "limit": 7})
    whole = http.get("/api/1/usage/data/daily", params={**window, "limit": 5000}).json()["data"]
    assert small == whole
    ids = [row["record_id"] for row in whole]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids)
    sim = emulator._by_link[whole[0]["linkid"]]
    usage = emulator.fleet.daily_usage(sim.iccid, date.fromisoformat(whole[0]["date"]))
    assert whole[0]["bytes"] == usage.data_mo_bytes + usage.data_mt_bytes


def test_sessions_and_sms_page_without_gaps(emulator: HologramEmulator, http: httpx.Client) -> None:
    window = {"timestart": int(datetime(2024, 6, 10, tzinfo=UTC).timestamp())}
    for path in ("/api/1/usage/data", "/api/1/usage/sms"):
        small = walk(http, path, {**window, "limit": 5})
        whole = http.get(path, params={**window, "limit": 5000}).json()["data"]
        assert small == whole
        assert small, path
        ids = [row["record_id"] for row in whole]
        assert ids == sorted(ids, reverse=True)


def test_sms_are_the_fleets_device_originated_messages(
    emulator: HologramEmulator, http: httpx.Client
) -> None:
    sim = sim_in(emulator, SimStatus.ACTIVE)
    start = datetime(2024, 6, 14, tzinfo=UTC)
    rows = walk(
        http,
        "/api/1/usage/sms",
        {
            "linkid": link_id_of(sim),
            "timestart": int(start.timestamp()),
            "timeend": int(start.timestamp()) + DAY,
            "limit": 3,
        },
    )
    assert len(rows) == emulator.fleet.daily_usage(sim.iccid, start.date()).sms_mo
    assert {row["direction"] for row in rows} <= {"DO"}


def test_monthly_usage_sums_the_days(emulator: HologramEmulator, http: httpx.Client) -> None:
    sim = sim_in(emulator, SimStatus.ACTIVE)
    rows = http.get(
        "/api/1/usage/data/monthly",
        params={"linkid": link_id_of(sim), "mintime": "05/01/2024", "maxtime": "05/31/2024"},
    ).json()["data"]
    [may] = rows
    days = emulator.fleet.usage_days(sim.iccid, date(2024, 5, 1), date(2024, 6, 1))
    assert may["bytes"] == sum(d.data_mo_bytes + d.data_mt_bytes for d in days)
    assert (may["month"], may["year"], may["record_id"]) == (5, 2024, f"{link_id_of(sim)}202405")
    assert isinstance(may["session_count"], str)


# -- with the connector -------------------------------------------------------------------


def test_the_connector_joins_each_page_with_one_devices_call(emulator: HologramEmulator) -> None:
    emulator.max_page_size = 5
    with cdp_sdk.connect(
        "hologram", api_key=DEFAULT_API_KEY, rate_limit=None, transport=emulator.transport()
    ) as hologram:
        sims = list(hologram.subscriptions())
    links = emulator.requests_to(f"^{LINKS}$")
    devices = emulator.requests_to("^/api/1/devices$")
    assert len(sims) == sum(map(emulator.lists, emulator.fleet.sims))
    assert len(links) == len(devices) == -(-len(sims) // 5)
    assert all(sim.imei or sim.status_raw for sim in sims)
