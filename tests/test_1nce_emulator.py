"""The 1NCE emulator's own behaviour: token errors, limits, validation, the 6-month window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import SimStatus
from cdp_sdk.connectors.onence import OneNceEmulator
from cdp_sdk.connectors.onence.emulator import DEFAULT_PASSWORD, DEFAULT_USERNAME
from cdp_sdk.sandbox import Fleet

BASE = "https://api.1nce.com/management-api"
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def emulator() -> OneNceEmulator:
    return OneNceEmulator(Fleet(20, seed=9))


@pytest.fixture
def http(emulator: OneNceEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE, transport=emulator.transport()) as client:
        yield client


def bearer(http: httpx.Client) -> dict[str, str]:
    answer = http.post("/oauth/token", json=GRANT, auth=(DEFAULT_USERNAME, DEFAULT_PASSWORD))
    assert answer.json()["expires_in"] == 3600
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"json": GRANT, "auth": ("someone", "wrong")}, "BadCredentials"),
        ({"json": GRANT}, "AuthValidationError"),
        ({"json": {}, "auth": (DEFAULT_USERNAME, DEFAULT_PASSWORD)}, "BodyValidationError"),
        (
            {"data": GRANT, "auth": (DEFAULT_USERNAME, DEFAULT_PASSWORD)},
            "UnsupportedContentTypeError",
        ),
    ],
)
def test_token_errors_are_documented_400s(
    http: httpx.Client, kwargs: dict[str, Any], code: str
) -> None:
    answer = http.post("/oauth/token", **kwargs)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == code


def test_requests_need_a_bearer_token(http: httpx.Client) -> None:
    answer = http.get("/v1/sims")
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})


def test_paths_live_under_the_deployment_prefix(emulator: OneNceEmulator) -> None:
    with httpx.Client(base_url="https://api.1nce.com", transport=emulator.transport()) as client:
        assert client.post("/oauth/token", json=GRANT).status_code == 404


def test_put_validates_the_update(http: httpx.Client, emulator: OneNceEmulator) -> None:
    headers = bearer(http)
    sim = emulator.fleet.sorted_sims()[0]
    path = f"/v1/sims/{sim.iccid[:-1]}"
    for body in (
        {"iccid": sim.iccid[:-1]},
        {"iccid": "1", "status": "Enabled"},
        {"iccid": sim.iccid[:-1], "status": "Active"},
        {"iccid": sim.iccid[:-1], "status": "Enabled", "imei": "356938035643809"},
    ):
        answer = http.put(path, json=body, headers=headers)
        assert (answer.status_code, answer.json()["error_token"]) == (400, "BadRequest")
    ok = http.put(
        path, json={"iccid": sim.iccid[:-1], "status": "Disabled", "label": "x"}, headers=headers
    )
    assert ok.status_code == 200
    assert emulator.fleet.sims[sim.iccid].status is SimStatus.DEACTIVATED
    assert http.get(path, headers=headers).json()["label"] == "x"


def test_usage_is_limited_to_the_last_six_months(
    http: httpx.Client, emulator: OneNceEmulator
) -> None:
    headers = bearer(http)
    sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE)
    params = {"start_dt": "2023-07-01", "end_dt": "2024-06-15"}
    stats = http.get(f"/v1/sims/{sim.iccid[:-1]}/usage", params=params, headers=headers).json()[
        "stats"
    ]
    first = min(day["date"] for day in stats)
    assert first >= "2023-12-15"
    assert isinstance(stats[0]["data"]["volume_tx"], str)


def test_products_allow_100_calls_per_5_minutes(
    http: httpx.Client, emulator: OneNceEmulator
) -> None:
    headers = bearer(http)
    emulator.product_calls._clock = lambda: 0.0  # a frozen window
    for _ in range(100):
        assert http.get("/v1/products", headers=headers).status_code == 200
    answer = http.get("/v1/products", headers=headers)
    assert (answer.status_code, answer.json()) == (429, {"message": "Too Many Requests"})


def test_the_emulator_serves_the_connector_over_loopback(emulator: OneNceEmulator) -> None:
    with (
        emulator.serve() as server,
        cdp_sdk.connect(
            "1nce",
            username=DEFAULT_USERNAME,
            password=DEFAULT_PASSWORD,
            base_url=server.url + "/management-api",
        ) as client,
    ):
        sims = list(client.subscriptions())
        usage = list(client.usage(sims[0].iccid, start=date(2024, 6, 1), end=date(2024, 6, 8)))
    assert {sim.iccid for sim in sims} == {
        iccid for iccid in emulator.fleet.sims if emulator.lists(iccid)
    }
    assert all(record.iccid == sims[0].iccid for record in usage)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/v1/sims", {"per_page": "10"}, "Unknown query parameter per_page"),
        ("/v1/sims", {"pageSize": "101"}, "Parameter pageSize must be >= 1 and <= 100"),
        ("/v1/sims", {"pageSize": "0"}, "Parameter pageSize must be >= 1 and <= 100"),
        ("/v1/sims", {"page": "0"}, "Parameter page must be >= 1"),
        (
            "/v1/sims",
            {"pageSize": "abc"},
            'Cannot parse parameter pageSize as Int: For Input String "abc"',
        ),
        ("/v1/products", {"page": "1"}, "Unknown query parameter page"),
    ],
)
def test_undocumented_and_out_of_range_parameters_are_refused(
    http: httpx.Client, path: str, params: dict[str, str], message: str
) -> None:
    answer = http.get(path, params=params, headers=bearer(http))
    assert answer.status_code == 400
    assert answer.json() == {"error_code": 1000, "error_token": "BadRequest", "message": message}


def test_event_pages_take_up_to_1000(http: httpx.Client, emulator: OneNceEmulator) -> None:
    headers = bearer(http)
    sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE)
    path = f"/v1/sims/{sim.iccid[:-1]}/events"
    assert http.get(path, params={"pageSize": "1000"}, headers=headers).status_code == 200
    assert http.get(path, params={"pageSize": "1001"}, headers=headers).status_code == 400


def test_a_put_with_a_field_the_schema_does_not_name_is_refused(
    http: httpx.Client, emulator: OneNceEmulator
) -> None:
    headers = bearer(http)
    sim = emulator.fleet.sorted_sims()[0]
    body = {"iccid": sim.iccid[:-1], "status": "Enabled", "quota": 5}
    answer = http.put(f"/v1/sims/{sim.iccid[:-1]}", json=body, headers=headers)
    assert (answer.status_code, answer.json()["message"]) == (
        400,
        "Unknown field quota in the SIM update",
    )


def test_sms_usage_is_written_the_way_the_spec_reads_it(
    http: httpx.Client, emulator: OneNceEmulator
) -> None:
    headers = bearer(http)
    sim = next(s for s in emulator.fleet.sorted_sims() if s.status is SimStatus.ACTIVE)
    params = {"start_dt": "2024-06-01", "end_dt": "2024-06-14"}
    stats = http.get(f"/v1/sims/{sim.iccid[:-1]}/usage", params=params, headers=headers).json()
    for row in stats["stats"]:
        usage = emulator.fleet.daily_usage(sim.iccid, date.fromisoformat(row["date"][:10]))
        assert (int(row["sms"]["volume_rx"]), int(row["sms"]["volume_tx"])) == (
            usage.sms_mo,
            usage.sms_mt,
        )


def test_the_sim_list_renders_only_the_page_it_serves(
    http: httpx.Client, emulator: OneNceEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = bearer(http)
    rendered: list[int] = []
    render = OneNceEmulator._sim

    def counting(self: OneNceEmulator, sim: Any) -> dict[str, Any]:
        rendered.append(sim.serial)
        return render(self, sim)

    monkeypatch.setattr(OneNceEmulator, "_sim", counting)
    page = http.get("/v1/sims", params={"page": 2, "pageSize": 5}, headers=headers)
    assert len(page.json()) == 5
    assert len(rendered) == 5
    # a SIM retired since the last page leaves the listing
    retired = emulator.fleet.sorted_sims()[0]
    emulator.fleet.set_status(retired.iccid, SimStatus.RETIRED, at=datetime.now(UTC), actor="test")
    listed = http.get("/v1/sims", params={"pageSize": 100}, headers=headers).json()
    assert retired.iccid[:-1] not in {record["iccid"] for record in listed}
    assert int(page.headers["X-Total-Count"]) == len(listed) + 1
