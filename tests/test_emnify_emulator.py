"""The emnify emulator's own behaviour: auth, paging, errors, state machine, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import SimStatus
from cdp_sdk.connectors._emnify_family import with_luhn as with_luhn_digit
from cdp_sdk.connectors.emnify import EmnifyEmulator
from cdp_sdk.connectors.emnify.emulator import DEFAULT_APPLICATION_TOKEN
from cdp_sdk.http import jwt_expiry
from cdp_sdk.sandbox import Fleet


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> EmnifyEmulator:
    return EmnifyEmulator(Fleet(30, seed=5), clock=clock)


@pytest.fixture
def http(emulator: EmnifyEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url="https://cdn.emnify.net", transport=emulator.transport()) as client:
        yield client


def login(http: httpx.Client) -> dict[str, str]:
    answer = http.post(
        "/api/v1/authenticate", json={"application_token": DEFAULT_APPLICATION_TOKEN}
    )
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {answer.json()['auth_token']}"}


def test_login_issues_a_jwt_valid_for_seven_days(http: httpx.Client, clock: Clock) -> None:
    token = login(http)["Authorization"].removeprefix("Bearer ")
    assert jwt_expiry(token) == int(clock.now) + 7 * 24 * 3600


def test_login_refuses_a_wrong_application_token(http: httpx.Client) -> None:
    answer = http.post("/api/v1/authenticate", json={"application_token": "wrong"})
    assert answer.status_code == 401
    assert answer.json()["error_token"] == "InvalidCredentials"


def test_login_allows_100_calls_per_5_minutes(http: httpx.Client, emulator: EmnifyEmulator) -> None:
    emulator.logins._clock = lambda: 0.0  # a frozen window
    for _ in range(100):
        login(http)
    answer = http.post(
        "/api/v1/authenticate", json={"application_token": DEFAULT_APPLICATION_TOKEN}
    )
    assert answer.status_code == 429
    assert answer.json()["error_token"] == "TooManyRequests"
    assert "Retry-After" not in answer.headers


def test_requests_need_a_valid_jwt(http: httpx.Client, clock: Clock) -> None:
    answer = http.get("/api/v1/sim", headers={"Authorization": "Bearer None"})
    assert (answer.status_code, answer.json()) == (
        401,
        {"message": "token contains an invalid number of segments"},
    )
    headers = login(http)
    clock.now += 7 * 24 * 3600 + 1
    answer = http.get("/api/v1/sim", headers=headers)
    assert (answer.status_code, answer.json()["error_token"]) == (401, "TokenExpired")


def test_sim_list_pages_with_headers_and_link(http: httpx.Client) -> None:
    headers = login(http)
    answer = http.get("/api/v1/sim", params={"page": 2, "per_page": 10}, headers=headers)
    assert answer.headers["X-Current-Page"] == "2"
    assert answer.headers["X-Count-Per-Page"] == "10"
    assert 'rel="next"' in answer.headers["Link"]
    assert 'rel="prev"' in answer.headers["Link"]
    total_pages = int(answer.headers["X-Total-Pages"])
    last = http.get("/api/v1/sim", params={"page": 99, "per_page": 10}, headers=headers)
    assert last.headers["X-Current-Page"] == str(total_pages), "out of range: the last page"


def test_sim_list_filters_and_refuses_unknown_criteria(
    http: httpx.Client, emulator: EmnifyEmulator
) -> None:
    headers = login(http)
    sim = emulator.fleet.sorted_sims()[0]
    found = http.get("/api/v1/sim", params={"q": f"iccid:{sim.iccid[:-1]}"}, headers=headers).json()
    assert [record["iccid"] for record in found] == [sim.iccid[:-1]]
    by_luhn = {"q": f"iccid_with_luhn:{sim.iccid}"}
    assert http.get("/api/v1/sim", params=by_luhn, headers=headers).json() == found
    by_imsi = {"q": f"imsi:{sim.imsi},status:{found[0]['status']['id']}"}
    assert http.get("/api/v1/sim", params=by_imsi, headers=headers).json() == found
    assert http.get("/api/v1/sim", params={"q": "iccid:1"}, headers=headers).json() == []
    bad = http.get("/api/v1/sim", params={"q": "colour:red"}, headers=headers)
    assert (bad.status_code, bad.json()["error_token"]) == (422, "InvalidQueryCriteria")


def test_status_moves_follow_the_documented_state_machine(
    http: httpx.Client, emulator: EmnifyEmulator
) -> None:
    headers = login(http)
    sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE)
    path = f"/api/v1/sim/{4_100_000 + sim.serial}"
    refused = http.patch(path, json={"status": {"id": 4}}, headers=headers)
    assert refused.status_code == 400, "the PATCH documents 204 and 400 only"
    assert (refused.json()["error_code"], refused.json()["error_token"]) == (1406, "NotAllowed")
    assert http.patch(path, json={"status": {"id": 2}}, headers=headers).status_code == 204
    assert emulator.fleet.sims[sim.iccid].status is SimStatus.SUSPENDED
    invalid = http.patch(path, json={"status": {"id": "two"}}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["error_token"] == "InvalidFormat"


def test_most_sim_records_lack_iccid_with_luhn_as_live_ones_do(
    http: httpx.Client, emulator: EmnifyEmulator
) -> None:
    records = http.get("/api/v1/sim", headers=login(http)).json()
    with_luhn = [record for record in records if "iccid_with_luhn" in record]
    assert 0 < len(with_luhn) < len(records) / 2
    assert {with_luhn_digit(record["iccid"]) for record in records} == {
        iccid for iccid in emulator.fleet.sims if emulator.lists(iccid)
    }
    assert all(record["iccid_with_luhn"][:-1] == record["iccid"] for record in with_luhn)


def test_the_sim_list_renders_only_the_page_it_serves(
    http: httpx.Client, emulator: EmnifyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = login(http)
    rendered: list[int] = []
    render = EmnifyEmulator._sim

    def counting(self: EmnifyEmulator, sim: Any) -> dict[str, Any]:
        rendered.append(sim.serial)
        return render(self, sim)

    monkeypatch.setattr(EmnifyEmulator, "_sim", counting)
    page = http.get("/api/v1/sim", params={"page": 2, "per_page": 5}, headers=headers).json()
    assert len(page) == 5
    assert len(rendered) == 5, "one page rendered, not the fleet"


def test_the_tariff_profile_list_is_one_answer(
    http: httpx.Client, emulator: EmnifyEmulator
) -> None:
    answer = http.get("/api/v1/tariff_profile", headers=login(http))
    assert len(answer.json()) == len(emulator.fleet.tariffs)
    assert "X-Total-Pages" not in answer.headers


def test_issued_sims_have_no_endpoint(http: httpx.Client, emulator: EmnifyEmulator) -> None:
    headers = login(http)
    sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.INVENTORY)
    answer = http.get(f"/api/v1/endpoint/{11_380_000 + sim.serial}", headers=headers)
    assert (answer.status_code, answer.json()["error_token"]) == (404, "InvalidReference")


def test_events_need_from_and_until_together_and_keep_30_days(
    http: httpx.Client, emulator: EmnifyEmulator, clock: Clock
) -> None:
    headers = login(http)
    half = http.get("/api/v1/event", params={"q": "from:2024-06-01T00:00:00Z"}, headers=headers)
    assert half.status_code == 422
    assert emulator.fleet.audit, "the fleet has a history older than 30 days"
    assert http.get("/api/v1/event", headers=headers).json() == []
    sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE)
    clock.now = datetime(2024, 6, 1, tzinfo=UTC).timestamp()  # within the fleet's 30 days
    headers = login(http)
    http.patch(f"/api/v1/sim/{4_100_000 + sim.serial}", json={"status": {"id": 2}}, headers=headers)
    events = http.get("/api/v1/event", headers=headers).json()
    assert [(e["event_type"]["id"], e["timestamp"]) for e in events] == [
        (9, "2024-06-01T00:00:00.000Z")
    ]


def test_organisation_daily_stats_end_with_a_total_row(http: httpx.Client) -> None:
    headers = login(http)
    params = {"start_date": "2024-06-01", "end_date": "2024-06-03"}
    rows = http.get("/api/v1/organisation/my/stats/daily", params=params, headers=headers).json()
    assert [row["date"] for row in rows] == ["2024-06-01", "2024-06-02", "TOTAL"]
    assert isinstance(rows[0]["data"]["volume_tx"], str)


def test_the_emulator_serves_the_connector_over_loopback(emulator: EmnifyEmulator) -> None:
    with (
        emulator.serve() as server,
        cdp_sdk.connect(
            "emnify", application_token=DEFAULT_APPLICATION_TOKEN, base_url=server.url
        ) as client,
    ):
        sims = list(client.subscriptions())
        usage = list(client.usage(sims[0].iccid, start=date(2024, 6, 1), end=date(2024, 6, 8)))
    assert {sim.iccid for sim in sims} == {
        iccid for iccid in emulator.fleet.sims if emulator.lists(iccid)
    }
    assert all(record.iccid == sims[0].iccid for record in usage)
