"""The Super SIM emulator speaks the vendor's HTTP: auth, paging, parameters, errors,
limits and the SIM lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import SimStatus
from cdp_sdk.connectors.supersim import SuperSimEmulator
from cdp_sdk.connectors.supersim.emulator import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    sim_sid,
)
from cdp_sdk.sandbox import Fleet, FleetSim, RateWindow

BASE = "https://supersim.twilio.com"
ERROR_KEYS = {"code", "message", "more_info", "status"}
META_KEYS = {
    "first_page_url",
    "key",
    "next_page_url",
    "page",
    "page_size",
    "previous_page_url",
    "url",
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 6, 15, 12, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> SuperSimEmulator:
    return SuperSimEmulator(Fleet(40, seed=5), clock=clock)


@pytest.fixture
def http(emulator: SuperSimEmulator) -> Iterator[httpx.Client]:
    auth = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    with httpx.Client(base_url=BASE, transport=emulator.transport(), auth=auth) as client:
        yield client


def a_sim(emulator: SuperSimEmulator, status: SimStatus) -> FleetSim:
    return next(sim for sim in emulator.fleet.sorted_sims() if sim.status is status)


def assert_error(response: httpx.Response, status: int, code: int) -> None:
    body = response.json()
    assert response.status_code == status
    assert set(body) == ERROR_KEYS
    assert (body["code"], body["status"]) == (code, status)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


# -- auth ---------------------------------------------------------------------------------


def test_requests_need_the_account_credentials(emulator: SuperSimEmulator) -> None:
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        anonymous = client.get("/v1/Sims")
        wrong = client.get("/v1/Sims", auth=(DEFAULT_ACCOUNT_SID, "nope"))
        garbled = client.get("/v1/Sims", headers={"Authorization": "Basic ***"})
        right = client.get("/v1/Sims", auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN))
    for refused in (anonymous, wrong, garbled):
        assert_error(refused, 401, 20003)
    assert right.status_code == 200


def test_kore_tokens_are_issued_for_the_client_credentials(
    emulator: SuperSimEmulator, clock: Clock
) -> None:
    grant = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        issued = client.post("/api-services/v1/auth/token", data=grant)
        wrong = client.post("/api-services/v1/auth/token", data={**grant, "client_secret": "x"})
        grant_type = client.post("/api-services/v1/auth/token", data={**grant, "grant_type": "x"})
        as_json = client.post("/api-services/v1/auth/token", json=grant)
        token = issued.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        used = client.get("/v1/Sims", headers=bearer)
        clock.now += 3600
        expired = client.get("/v1/Sims", headers=bearer)
    assert issued.json() == {
        "access_token": token,
        "expires_in": 3600,
        "token_type": "Bearer",
        "scope": "supersim",
    }
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }
    assert grant_type.status_code == 400
    assert as_json.status_code == 400  # KORE's endpoint takes a form
    assert used.status_code == 200
    assert_error(expired, 401, 20003)


# -- paging -------------------------------------------------------------------------------


def test_pages_carry_the_meta_envelope_and_end_on_a_null_next_url(
    http: httpx.Client, emulator: SuperSimEmulator
) -> None:
    first = http.get("/v1/Sims", params={"Status": "active", "PageSize": 5}).json()
    assert set(first) == {"sims", "meta"}
    meta = first["meta"]
    assert set(meta) == META_KEYS
    assert (meta["key"], meta["page"], meta["page_size"]) == ("sims", 0, 5)
    assert meta["previous_page_url"] is None
    assert meta["url"] == f"{BASE}/v1/Sims?Status=active&PageSize=5&Page=0"
    assert meta["first_page_url"] == meta["url"]
    assert meta["next_page_url"].startswith(f"{BASE}/v1/Sims?Status=active&PageSize=5&Page=1&")
    seen, url, pages = [], meta["next_page_url"], 1
    seen += [sim["sid"] for sim in first["sims"]]
    while url:
        body = http.get(url).json()
        assert body["meta"]["page"] == pages
        assert body["meta"]["previous_page_url"] is not None
        seen += [sim["sid"] for sim in body["sims"]]
        url, pages = body["meta"]["next_page_url"], pages + 1
    active = [
        sim_sid(sim) for sim in emulator.fleet.sorted_sims() if sim.status is SimStatus.ACTIVE
    ]
    assert seen == active
    assert len(active) > 5


def test_page_size_defaults_to_50_and_stops_at_1000(http: httpx.Client) -> None:
    assert http.get("/v1/Sims").json()["meta"]["page_size"] == 50
    assert http.get("/v1/Sims", params={"PageSize": 1000}).status_code == 200
    for bad in ("1001", "0", "-1", "ten"):
        assert_error(http.get("/v1/Sims", params={"PageSize": bad}), 400, 20001)
    assert_error(http.get("/v1/Sims", params={"PageToken": "nonsense"}), 400, 20001)
    assert_error(http.get("/v1/Sims", params={"Page": "-1"}), 400, 20001)


def test_max_page_size_makes_small_pages(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    emulator.max_page_size = 3
    body = http.get("/v1/Sims", params={"PageSize": 1000}).json()
    assert len(body["sims"]) == 3
    assert body["meta"]["page_size"] == 3


def test_unknown_parameters_are_ignored_with_a_warning(
    http: httpx.Client, emulator: SuperSimEmulator
) -> None:
    plain = http.get("/v1/Sims").json()
    odd = http.get("/v1/Sims", params={"Imsi": "1", "pagesize": "2"})
    assert odd.status_code == 200
    assert odd.json()["sims"] == plain["sims"]
    assert emulator.warnings == [
        "20001 Unknown parameters (Imsi, pagesize) ignored on GET /v1/Sims"
    ]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/Sims", {"Status": "suspended"}),
        ("/v1/SettingsUpdates", {"Status": "done"}),
        ("/v1/UsageRecords", {"Granularity": "month"}),
        ("/v1/UsageRecords", {"Group": "imsi"}),
        ("/v1/UsageRecords", {"StartTime": "yesterday"}),
        ("/v1/UsageRecords", {"StartTime": "2024-05-01T00:00:00"}),
        (
            "/v1/UsageRecords",
            {"StartTime": "2024-05-02T00:00:00Z", "EndTime": "2024-05-01T00:00:00Z"},
        ),
    ],
)
def test_invalid_parameter_values_are_refused(
    http: httpx.Client, path: str, params: dict[str, str]
) -> None:
    assert_error(http.get(path, params=params), 400, 20001)


def test_unknown_paths_and_methods(http: httpx.Client) -> None:
    assert_error(http.get("/v1/Nothing"), 404, 20404)
    assert_error(http.delete("/v1/Sims"), 405, 20004)


# -- SIMs ---------------------------------------------------------------------------------


def test_a_sim_is_found_by_sid_unique_name_or_iccid(
    http: httpx.Client, emulator: SuperSimEmulator
) -> None:
    sim = a_sim(emulator, SimStatus.ACTIVE)
    record = http.get(f"/v1/Sims/{sim_sid(sim)}").json()
    assert set(record) == {
        "sid",
        "unique_name",
        "account_sid",
        "iccid",
        "status",
        "fleet_sid",
        "date_created",
        "date_updated",
        "url",
        "links",
    }
    assert record["iccid"] == sim.iccid
    assert record["status"] == "active"
    assert record["fleet_sid"].startswith("HF")
    http.post(f"/v1/Sims/{sim_sid(sim)}", data={"UniqueName": "truck-7"})
    assert http.get("/v1/Sims/truck-7").json()["sid"] == sim_sid(sim)
    found = http.get("/v1/Sims", params={"Iccid": sim.iccid}).json()["sims"]
    assert [one["sid"] for one in found] == [sim_sid(sim)]
    assert http.get("/v1/Sims", params={"Iccid": sim.iccid[:-1]}).json()["sims"] == []
    assert_error(http.get("/v1/Sims/HS" + "0" * 32), 404, 20404)


def test_statuses_show_the_super_sim_way(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    fleet = emulator.fleet
    listed = {
        sim["iccid"]: sim for sim in http.get("/v1/Sims", params={"PageSize": 1000}).json()["sims"]
    }
    shown = {
        SimStatus.INVENTORY: "new",
        SimStatus.READY: "ready",
        SimStatus.TEST: "ready",
        SimStatus.ACTIVE: "active",
        SimStatus.SUSPENDED: "inactive",
        SimStatus.DEACTIVATED: "inactive",
    }
    for sim in fleet.sorted_sims():
        if sim.status is SimStatus.RETIRED:
            assert sim.iccid not in listed
        else:
            assert listed[sim.iccid]["status"] == shown[sim.status]
    new = [record for record in listed.values() if record["status"] == "new"]
    assert new
    assert all(record["fleet_sid"] is None for record in new)


@pytest.mark.parametrize(
    ("start", "target", "answer"),
    [
        (SimStatus.INVENTORY, "ready", 200),
        (SimStatus.INVENTORY, "active", 200),
        (SimStatus.INVENTORY, "inactive", 400),
        (SimStatus.READY, "inactive", 200),
        (SimStatus.ACTIVE, "inactive", 200),
        (SimStatus.ACTIVE, "ready", 400),
        (SimStatus.DEACTIVATED, "active", 200),
        (SimStatus.DEACTIVATED, "ready", 400),
        (SimStatus.ACTIVE, "active", 200),
    ],
)
def test_status_moves_follow_the_lifecycle(
    http: httpx.Client, emulator: SuperSimEmulator, start: SimStatus, target: str, answer: int
) -> None:
    sid = sim_sid(a_sim(emulator, start))
    response = http.post(f"/v1/Sims/{sid}", data={"Status": target})
    assert response.status_code == answer
    if answer == 200:
        assert response.json()["status"] == target
        assert http.get(f"/v1/Sims/{sid}").json()["status"] == target
    else:
        assert_error(response, 400, 83010)


@pytest.mark.parametrize("value", ["new", "scheduled", "suspended", ""])
def test_an_update_to_an_unsettable_status_is_invalid(
    http: httpx.Client, emulator: SuperSimEmulator, value: str
) -> None:
    sid = sim_sid(a_sim(emulator, SimStatus.ACTIVE))
    assert_error(http.post(f"/v1/Sims/{sid}", data={"Status": value}), 400, 20001)


def test_a_scheduled_update_answers_202_and_completes_later(
    clock: Clock,
) -> None:
    emulator = SuperSimEmulator(Fleet(20, seed=5), clock=clock, schedule_delay=60)
    sid = sim_sid(a_sim(emulator, SimStatus.ACTIVE))
    with httpx.Client(
        base_url=BASE,
        transport=emulator.transport(),
        auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN),
    ) as http:
        accepted = http.post(f"/v1/Sims/{sid}", data={"Status": "inactive"})
        waiting = http.get(f"/v1/Sims/{sid}").json()["status"]
        moved_again = http.post(f"/v1/Sims/{sid}", data={"Status": "active"})
        clock.now += 60
        done = http.get(f"/v1/Sims/{sid}").json()["status"]
    assert (accepted.status_code, accepted.json()["status"]) == (202, "scheduled")
    assert waiting == "scheduled"
    assert_error(moved_again, 400, 83010)
    assert done == "inactive"


def test_an_update_reads_only_form_fields(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    sid = sim_sid(a_sim(emulator, SimStatus.ACTIVE))
    as_json = http.post(f"/v1/Sims/{sid}", json={"Status": "inactive"})
    assert (as_json.status_code, as_json.json()["status"]) == (200, "active")
    unknown = http.post(f"/v1/Sims/{sid}", data={"Sttus": "inactive"})
    assert unknown.json()["status"] == "active"
    assert emulator.warnings == [f"20001 Unknown parameters (Sttus) ignored on POST /v1/Sims/{sid}"]


def test_fleets_stand_for_the_fleet_tariffs(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    fleets = http.get("/v1/Fleets").json()["fleets"]
    assert [fleet["unique_name"] for fleet in fleets] == [t.name for t in emulator.fleet.tariffs]
    assert [fleet["data_limit"] for fleet in fleets] == [10, 100, 1000]
    assert {fleet["data_metering"] for fleet in fleets} == {"payg"}
    moved = sim_sid(a_sim(emulator, SimStatus.ACTIVE))
    record = http.post(f"/v1/Sims/{moved}", data={"Fleet": "IoT L 1GB"}).json()
    assert record["fleet_sid"] == fleets[2]["sid"]
    listed = http.get("/v1/Sims", params={"Fleet": fleets[2]["sid"], "PageSize": 1000}).json()
    assert moved in [sim["sid"] for sim in listed["sims"]]
    assert_error(http.post(f"/v1/Sims/{moved}", data={"Fleet": "nope"}), 404, 20404)


# -- usage --------------------------------------------------------------------------------


def usage(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    body = http.get("/v1/UsageRecords", params={"PageSize": 1000, **params}).json()
    return list(body["usage_records"])


def test_usage_adds_up_across_granularities(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    sim = a_sim(emulator, SimStatus.ACTIVE)
    window = {
        "Sim": sim_sid(sim),
        "StartTime": "2024-06-01T00:00:00Z",
        "EndTime": "2024-06-04T00:00:00Z",
    }
    days = usage(http, Granularity="day", **window)
    hours = usage(http, Granularity="hour", **window)
    [total] = usage(http, Granularity="all", **window)
    assert [d["period"]["start_time"] for d in days] == [
        "2024-06-03T00:00:00Z",
        "2024-06-02T00:00:00Z",
        "2024-06-01T00:00:00Z",
    ]
    assert len(hours) == 72
    expected = sum(
        emulator.fleet.daily_usage(sim.iccid, day.date()).data_mo_bytes
        for day in (datetime(2024, 6, d, tzinfo=UTC) for d in (1, 2, 3))
    )
    for rows in (days, hours, [total]):
        assert sum(row["data_upload"] for row in rows) == expected
        assert all(row["data_total"] == row["data_upload"] + row["data_download"] for row in rows)
        assert all(row["sim_sid"] == sim_sid(sim) for row in rows)
    assert total["period"] == {
        "start_time": "2024-06-01T00:00:00Z",
        "end_time": "2024-06-04T00:00:00Z",
    }
    assert total["billed_unit"] == "USD"
    assert total["data_total_billed"] > 0


def test_usage_counts_only_inside_the_window(
    http: httpx.Client, emulator: SuperSimEmulator
) -> None:
    sim = sim_sid(a_sim(emulator, SimStatus.ACTIVE))
    whole = usage(
        http,
        Sim=sim,
        Granularity="day",
        StartTime="2024-06-01T00:00:00Z",
        EndTime="2024-06-02T00:00:00Z",
    )
    part = usage(
        http,
        Sim=sim,
        Granularity="day",
        StartTime="2024-06-01T06:00:00Z",
        EndTime="2024-06-01T18:00:00Z",
    )
    hours = usage(
        http,
        Sim=sim,
        Granularity="hour",
        StartTime="2024-06-01T06:00:00Z",
        EndTime="2024-06-01T18:00:00Z",
    )
    assert len(part) == 1
    assert part[0]["period"]["start_time"] == "2024-06-01T00:00:00Z"
    assert 0 < part[0]["data_total"] < whole[0]["data_total"]
    assert part[0]["data_total"] == sum(hour["data_total"] for hour in hours)


def test_the_last_day_is_still_being_billed(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    sim = sim_sid(a_sim(emulator, SimStatus.ACTIVE))
    newest, older = usage(
        http,
        Sim=sim,
        Granularity="day",
        StartTime="2024-06-14T00:00:00Z",
        EndTime="2024-06-16T00:00:00Z",
    )
    assert newest["data_total"] > 0
    assert (newest["data_total_billed"], newest["billed_unit"]) == (0, None)
    assert older["billed_unit"] == "USD"


def test_account_usage_and_groups(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    window = {
        "Granularity": "all",
        "StartTime": "2024-06-01T00:00:00Z",
        "EndTime": "2024-06-02T00:00:00Z",
    }
    [account] = usage(http, **window)
    by_sim = usage(http, Group="sim", **window)
    by_fleet = usage(http, Group="fleet", **window)
    assert account["sim_sid"] is None
    assert {row["sim_sid"] for row in by_sim} == {
        sim_sid(sim) for sim in emulator.fleet.sorted_sims() if emulator.lists(sim.iccid)
    }
    assert sum(row["data_total"] for row in by_sim) == account["data_total"]
    assert sum(row["data_total"] for row in by_fleet) == account["data_total"]
    assert all(row["fleet_sid"] for row in by_fleet)
    [country] = usage(http, IsoCountry="fr", **window)
    assert (country["iso_country"], country["data_total"]) == ("FR", 0)


def test_usage_defaults_to_the_month_before_now(http: httpx.Client, clock: Clock) -> None:
    rows = usage(http, Granularity="day")
    assert rows[0]["period"]["end_time"] == "2024-06-16T00:00:00Z"
    assert rows[-1]["period"]["start_time"] == "2024-05-15T00:00:00Z"


# -- settings updates, limits, parity -----------------------------------------------------


def test_settings_updates_filter_by_sim_and_status(
    http: httpx.Client, emulator: SuperSimEmulator
) -> None:
    sim = next(s for s in emulator.fleet.sorted_sims() if s.activated_at and s.serial % 7 == 0)
    updates = http.get("/v1/SettingsUpdates", params={"Sim": sim_sid(sim)}).json()
    assert [u["status"] for u in updates["settings_updates"]] == ["scheduled", "successful"]
    scheduled = http.get("/v1/SettingsUpdates", params={"Status": "scheduled"}).json()
    assert {u["status"] for u in scheduled["settings_updates"]} == {"scheduled"}
    assert updates["meta"]["key"] == "settings_updates"


def test_rate_limit_answers_twilio_429_without_retry_after(clock: Clock) -> None:
    emulator = SuperSimEmulator(Fleet(5), rate_limit=RateWindow(2, clock=clock))
    with httpx.Client(
        base_url=BASE,
        transport=emulator.transport(),
        auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN),
    ) as http:
        answers = [http.get("/v1/Fleets") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert_error(answers[2], 429, 20429)
    assert "Retry-After" not in answers[2].headers


def test_every_answer_carries_a_request_id(http: httpx.Client) -> None:
    ids = {http.get("/v1/Fleets").headers["Twilio-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(value.startswith("RQ") and len(value) == 34 for value in ids)


def test_the_emulator_serves_on_loopback(emulator: SuperSimEmulator) -> None:
    with (
        emulator.serve() as server,
        cdp_sdk.connect(
            "supersim",
            account_sid=DEFAULT_ACCOUNT_SID,
            auth_token=DEFAULT_AUTH_TOKEN,
            base_url=server.url,
        ) as connector,
    ):
        assert len(list(connector.subscriptions())) == len(
            [s for s in emulator.fleet.sorted_sims() if emulator.lists(s.iccid)]
        )


def test_the_emulator_reaches_the_connector_through_oauth_on_loopback(
    emulator: SuperSimEmulator,
) -> None:
    with (
        emulator.serve() as server,
        cdp_sdk.connect(
            "supersim",
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            base_url=server.url,
        ) as connector,
    ):
        connector.check()
        emulator.expire_tokens()
        assert list(connector.tariffs())
    assert emulator.tokens.issued == 2


def test_usage_day_buckets_are_utc_days(http: httpx.Client, emulator: SuperSimEmulator) -> None:
    sim = sim_sid(a_sim(emulator, SimStatus.ACTIVE))
    rows = usage(
        http,
        Sim=sim,
        Granularity="day",
        StartTime="2024-06-01T00:00:00+02:00",
        EndTime="2024-06-02T00:00:00Z",
    )
    starts = [datetime.fromisoformat(r["period"]["start_time"]) for r in rows]
    assert starts == [datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 5, 31, tzinfo=UTC)]
    assert starts[0] - starts[1] == timedelta(days=1)
