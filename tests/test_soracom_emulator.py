"""The Soracom emulator speaks the vendor's HTTP: auth, paging, errors, limits, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest

import cdp_sdk
from cdp_sdk import ConflictError, SimStatus
from cdp_sdk.connectors.soracom import SoracomEmulator
from cdp_sdk.connectors.soracom.emulator import (
    DEFAULT_AUTH_KEY,
    DEFAULT_AUTH_KEY_ID,
    MinuteWindow,
    sim_id_of,
)
from cdp_sdk.sandbox import Fault, Fleet

BASE = "https://g.api.soracom.io"
LOGIN = {"authKeyId": DEFAULT_AUTH_KEY_ID, "authKey": DEFAULT_AUTH_KEY}


@pytest.fixture
def emulator() -> SoracomEmulator:
    return SoracomEmulator(Fleet(30, seed=3))


@pytest.fixture
def http(emulator: SoracomEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        answer = client.post("/v1/auth", json=LOGIN).json()
        client.headers["X-Soracom-API-Key"] = answer["apiKey"]
        client.headers["X-Soracom-Token"] = answer["token"]
        yield client


def a_sim(emulator: SoracomEmulator, status: SimStatus) -> str:
    """The simId of the first listed SIM in ``status``."""
    return next(
        sim_id_of(sim)
        for sim in emulator.fleet.sorted_sims()
        if sim.status is status and emulator.lists(sim.iccid)
    )


def test_login_answers_an_api_key_and_a_token(emulator: SoracomEmulator) -> None:
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        answer = client.post("/v1/auth", json={**LOGIN, "tokenTimeoutSeconds": 600})
        wrong = client.post("/v1/auth", json={**LOGIN, "authKey": "nope"})
        too_long = client.post("/v1/auth", json={**LOGIN, "tokenTimeoutSeconds": 172_801})
    assert answer.status_code == 200
    assert set(answer.json()) == {"apiKey", "operatorId", "token"}
    assert (wrong.status_code, wrong.json()["code"]) == (401, "AUM0002")
    assert too_long.status_code == 400


def test_requests_need_both_headers_of_a_live_token(
    emulator: SoracomEmulator, http: httpx.Client
) -> None:
    assert http.get("/v1/sims").status_code == 200
    without_key = http.get("/v1/sims", headers={"X-Soracom-API-Key": "api-other"})
    assert (without_key.status_code, without_key.json()["code"]) == (401, "AUM0001")
    emulator.expire_tokens()
    assert http.get("/v1/sims").status_code == 401


def test_the_token_expires_after_its_timeout(emulator: SoracomEmulator) -> None:
    now = [1_000.0]
    emulator.clock = lambda: now[0]
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        answer = client.post("/v1/auth", json={**LOGIN, "tokenTimeoutSeconds": 60}).json()
        headers = {"X-Soracom-API-Key": answer["apiKey"], "X-Soracom-Token": answer["token"]}
        assert client.get("/v1/sims", headers=headers).status_code == 200
        now[0] += 60
        assert client.get("/v1/sims", headers=headers).status_code == 401


def test_the_connector_logs_in_again_after_the_platform_drops_its_token(
    emulator: SoracomEmulator,
) -> None:
    with cdp_sdk.connect(
        "soracom",
        auth_key_id=DEFAULT_AUTH_KEY_ID,
        auth_key=DEFAULT_AUTH_KEY,
        transport=emulator.transport(),
    ) as soracom:
        first = len(list(soracom.subscriptions()))
        emulator.expire_tokens()
        assert len(list(soracom.subscriptions())) == first
    assert emulator.logins == 2


def test_sims_are_paged_by_sim_id(emulator: SoracomEmulator, http: httpx.Client) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 7}
    while True:
        page = http.get("/v1/sims", params=params)
        seen += [sim["simId"] for sim in page.json()]
        key = page.headers.get("x-soracom-next-key")
        if key is None:
            break
        params["last_evaluated_key"] = key
    assert seen == sorted(seen)
    assert len(seen) == sum(emulator.lists(iccid) for iccid in emulator.fleet.sims)


def test_unregistered_sims_are_not_listed() -> None:
    fleet = Fleet(60, seed=5)
    emulator = SoracomEmulator(fleet)
    inventory = [sim for sim in fleet.sims.values() if sim.status is SimStatus.INVENTORY]
    assert inventory
    assert not any(emulator.lists(sim.iccid) for sim in inventory)


def test_every_answer_carries_the_rate_limit_headers(http: httpx.Client) -> None:
    response = http.get("/v1/sims")
    assert response.headers["X-Soracom-Ratelimit-Limit"] == "1200"
    assert int(response.headers["X-Soracom-Ratelimit-Remaining"]) < 1200
    assert 1 <= int(response.headers["X-Soracom-Ratelimit-Seconds-Before-Refresh"]) <= 60


def test_over_the_limit_answers_429_until_the_minute_turns() -> None:
    now = [0.0]
    emulator = SoracomEmulator(Fleet(5, seed=1), rate_limit=MinuteWindow(2, clock=lambda: now[0]))
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        assert client.post("/v1/auth", json=LOGIN).status_code == 200
        assert client.post("/v1/auth", json=LOGIN).status_code == 200
        now[0] = 45.0
        limited = client.post("/v1/auth", json=LOGIN)
        now[0] = 60.0
        again = client.post("/v1/auth", json=LOGIN)
    assert limited.status_code == 429
    assert limited.headers["X-Soracom-Ratelimit-Remaining"] == "0"
    assert limited.headers["X-Soracom-Ratelimit-Seconds-Before-Refresh"] == "15"
    assert again.status_code == 200


def test_search_matches_parts_of_identifiers(emulator: SoracomEmulator, http: httpx.Client) -> None:
    sim = emulator.fleet.sorted_sims()[0]
    exact = http.get("/v1/query/sims", params={"iccid": sim.iccid}).json()
    partial = http.get("/v1/query/sims", params={"iccid": sim.iccid[:12], "limit": 100}).json()
    too_short = http.get("/v1/query/sims", params={"iccid": "8"})
    assert [found["simId"] for found in exact] == [sim_id_of(sim)]
    assert len(partial) > 1
    assert too_short.status_code == 400


def test_status_actions_follow_the_lifecycle(emulator: SoracomEmulator, http: httpx.Client) -> None:
    sim_id = a_sim(emulator, SimStatus.ACTIVE)
    assert http.post(f"/v1/sims/{sim_id}/set_to_standby").json()["status"] == "standby"
    assert http.get(f"/v1/sims/{sim_id}").json()["status"] == "standby"
    # The actions document 200 and 404 only: a refusal is the SIM answered as it is.
    refused = http.post(f"/v1/sims/{sim_id}/terminate")
    assert (refused.status_code, refused.json()["status"]) == (200, "standby")
    assert http.post(f"/v1/sims/{sim_id}/enable_termination").json()["terminationEnabled"]
    assert http.post(f"/v1/sims/{sim_id}/terminate").json()["status"] == "terminated"
    again = http.post(f"/v1/sims/{sim_id}/activate")
    assert (again.status_code, again.json()["status"]) == (200, "terminated")
    history = http.get(f"/v1/sims/{sim_id}/statuses/history", params={"sort": "asc"}).json()
    assert [entry["status"] for entry in history][-2:] == ["standby", "terminated"]
    assert http.post(f"/v1/sims/{sim_id}/reboot").status_code == 404
    assert http.post(f"/v1/sims/{sim_id}/activate", json={"x": 1}).status_code == 400


def test_refusals_can_be_answered_with_400_instead(
    emulator: SoracomEmulator, http: httpx.Client
) -> None:
    emulator.refusals = "400"
    refused = http.post(f"/v1/sims/{a_sim(emulator, SimStatus.ACTIVE)}/terminate")
    assert (refused.status_code, refused.json()["code"]) == (400, "EMU0409")


def test_standby_unsupported_is_the_documented_400(
    emulator: SoracomEmulator, http: httpx.Client
) -> None:
    sim_id = a_sim(emulator, SimStatus.ACTIVE)
    emulator.no_standby.add(emulator._by_sim_id[sim_id].iccid)
    refused = http.post(f"/v1/sims/{sim_id}/set_to_standby")
    assert refused.status_code == 400
    assert "standby" in refused.json()["message"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/sims", {"limit": "100", "status": "active"}),
        ("/v1/sims", {"limit": "0"}),
        ("/v1/sims", {"limit": "many"}),
        ("/v1/query/sims", {"limit": "101"}),
        ("/v1/query/sims", {"search_type": "xor"}),
        ("/v1/audit_logs/api", {"limit": "1001"}),
        ("/v1/bills", {"page": "1"}),
    ],
)
def test_undocumented_or_out_of_range_parameters_are_refused(
    http: httpx.Client, path: str, params: dict[str, str]
) -> None:
    answer = http.get(path, params=params)
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "message"}


def test_repeated_search_values_are_documented_and_accepted(
    emulator: SoracomEmulator, http: httpx.Client
) -> None:
    sims = emulator.fleet.sorted_sims()
    found = http.get("/v1/query/sims", params=[("iccid", sims[1].iccid), ("iccid", sims[2].iccid)])
    assert found.status_code == 200


@pytest.mark.parametrize("refusals", ["unchanged", "400"])
def test_an_illegal_move_is_a_conflict_for_the_connector(
    emulator: SoracomEmulator, refusals: Literal["unchanged", "400"]
) -> None:
    emulator.refusals = refusals
    retired = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.RETIRED)
    with (
        cdp_sdk.connect(
            "soracom",
            auth_key_id=DEFAULT_AUTH_KEY_ID,
            auth_key=DEFAULT_AUTH_KEY,
            transport=emulator.transport(),
        ) as soracom,
        pytest.raises(ConflictError),
    ):
        soracom.change_status(retired.iccid, "active")


def test_tags_are_put_and_deleted(emulator: SoracomEmulator, http: httpx.Client) -> None:
    sim_id = a_sim(emulator, SimStatus.ACTIVE)
    body = [{"tagName": "a/b", "tagValue": "1"}]
    assert http.put(f"/v1/sims/{sim_id}/tags", json=body).json()["tags"]["a/b"] == "1"
    assert http.delete(f"/v1/sims/{sim_id}/tags/a%2Fb").status_code == 204
    assert http.delete(f"/v1/sims/{sim_id}/tags/a%2Fb").status_code == 404
    assert http.put(f"/v1/sims/{sim_id}/tags", json={"tagName": "x"}).status_code == 400


def test_unknown_sims_and_bad_parameters_answer_vendor_errors(http: httpx.Client) -> None:
    missing = http.get("/v1/sims/8942310000000099999")
    assert missing.status_code == 404
    assert set(missing.json()) == {"code", "message"}
    window = {"from": "1717200000", "to": "1717286400", "period": "day"}
    assert http.get("/v1/stats/air/sims/x", params=window).status_code == 404
    assert http.get("/v1/stats/air/sims/x", params={"period": "day"}).status_code == 400
    sims = http.get("/v1/sims").json()
    bad = http.get(f"/v1/stats/air/sims/{sims[0]['simId']}", params={**window, "period": "week"})
    assert bad.status_code == 400
    assert http.get("/v1/audit_logs/api", params={"from_epoch_ms": "soon"}).status_code == 400


def test_current_bill_is_temporary_and_not_in_the_history(
    emulator: SoracomEmulator, http: httpx.Client
) -> None:
    listed = {bill["yearMonth"] for bill in http.get("/v1/bills").json()["billList"]}
    current = f"{emulator.fleet.today:%Y%m}"
    assert current not in listed
    assert http.get(f"/v1/bills/{current}").json()["state"] == "temporary"
    summaries = http.get("/v1/bills/summaries/bill_items").json()
    assert summaries[0]["yearMonth"] == current
    assert len(summaries) == 4
    assert http.get("/v1/bills/199001").status_code == 404


def test_a_fault_before_any_call_still_carries_rate_headers() -> None:
    emulator = SoracomEmulator(Fleet(5, seed=1))
    emulator.faults.append(Fault(status=503))
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        response = client.post("/v1/auth", json=LOGIN)
    assert response.status_code == 503
    assert response.headers["X-Soracom-Ratelimit-Seconds-Before-Refresh"] == "1"
