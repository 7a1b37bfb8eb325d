"""Traffic recorded from the live emnify API (2022), replayed through the connector.

Each recorded file (``reference/recorded/emnify/``) becomes respx routes: the answers to one
method and path are served in their recorded order, the last one repeating. The recordings
start with the official SDK's unauthenticated call (a 401 from the gateway), so replaying
them also drives the connector's log-in-again-on-401 path.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx

import cdp_sdk
from cdp_sdk import (
    AsyncConnector,
    AuditKind,
    CdpError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    SimStatus,
)
from cdp_sdk.connectors.emnify import mapping

BASE = "https://cdn.emnify.net"


def recorded(reference: Path, name: str) -> list[dict[str, Any]]:
    path = reference / "recorded" / "emnify" / name
    interactions: list[dict[str, Any]] = json.loads(path.read_text())["interactions"]
    return interactions


def replay(router: respx.MockRouter, interactions: list[dict[str, Any]]) -> None:
    """Routes answering each method and path with its recorded responses, in order."""
    answers: dict[tuple[str, str], list[httpx.Response]] = defaultdict(list)
    for interaction in interactions:
        request, response = interaction["request"], interaction["response"]
        body = response["body"]
        content = json.dumps(body).encode() if body not in ("", None) else b""
        key = (request["method"], urlsplit(request["uri"]).path)
        answers[key].append(
            httpx.Response(response["status"], headers=response["headers"], content=content)
        )
    for (method, path), responses in answers.items():
        router.route(method=method, path=path).mock(side_effect=_in_order(responses))


def _in_order(responses: list[httpx.Response]) -> Any:
    queue = list(responses)

    def answer(request: httpx.Request) -> httpx.Response:
        response = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.content
        )

    return answer


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def emnify() -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async(
        "emnify", application_token="recorded-app-token", rate_limit=None
    ) as connector:
        yield connector


STATUS_OF_ID = {0: SimStatus.INVENTORY, 1: SimStatus.ACTIVE, 2: SimStatus.SUSPENDED}


def luhn_digit(payload: str) -> str:
    """The Luhn check digit of ``payload``, computed here independently of cdp_sdk."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str(-total % 10)


def instant(text: str) -> datetime:
    """A recorded time stamp (``...000+0000`` or ``...298Z``) as an aware datetime."""
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


def expected_subscription(raw: dict[str, Any]) -> dict[str, Any]:
    """What the recorded SIM record means, read field by field from the recording."""
    endpoint = raw.get("endpoint") or {}
    extra: dict[str, Any] = {
        "status_id": raw["status"]["id"],
        "customer_org": raw["customer_org"]["name"],
        "model": raw["model"]["description"],
    }
    if endpoint:
        extra |= {
            "endpoint_id": endpoint["id"],
            "endpoint_name": endpoint["name"],
            "endpoint_last_updated": endpoint["last_updated"],
        }
    return {
        "connector": "emnify",
        "account": str(raw["customer_org"]["id"]),
        "id": str(raw["id"]),
        "iccid": raw["iccid"] + luhn_digit(raw["iccid"]),
        "imsi": raw["imsi"],
        "msisdn": raw["msisdn"],
        "imei": endpoint.get("imei"),
        "eid": None,
        "status": STATUS_OF_ID[raw["status"]["id"]],
        "status_raw": raw["status"]["description"],
        "tariff": str(endpoint["tariff_profile_id"]) if endpoint else None,
        "created_at": instant(raw["production_date"]),
        "activated_at": instant(raw["activation_date"]) if "activation_date" in raw else None,
        "updated_at": None,
        "ip_address": endpoint.get("ip_address"),
        "tags": tuple(
            {"key": label.strip(), "value": None}
            for label in (endpoint.get("tags") or "").split(",")
            if label.strip()
        ),
        "extra": extra,
    }


async def test_every_recorded_sim_maps_field_by_field(
    reference: Path, router: respx.MockRouter, emnify: AsyncConnector
) -> None:
    interactions = recorded(reference, "get_sim_list.json")
    replay(router, interactions)
    raw = interactions[-1]["response"]["body"]
    assert len(raw) == 12
    assert all("iccid_with_luhn" not in record for record in raw)

    sims = [sim async for sim in emnify.subscriptions()]

    assert len(sims) == len(raw)
    for sim, record in zip(sims, raw, strict=True):
        assert sim.model_dump() == expected_subscription(record), record["id"]
        assert len(sim.iccid) == 20
        assert sim.iccid.startswith(record["iccid"])
    # 12 recorded 19-digit values, and only one passes Luhn by chance: they lack the digit.
    assert sum(luhn_digit(r["iccid"][:-1]) == r["iccid"][-1] for r in raw) == 1
    logins = [call for call in router.calls if call.request.url.path == "/api/v1/authenticate"]
    assert len(logins) == 2, "logged in, got the recorded 401, logged in again"


def test_every_recorded_iccid_pair_agrees_with_the_computed_check_digit(reference: Path) -> None:
    """Where the live API sent both, ``iccid_with_luhn`` is ``iccid`` and its Luhn digit."""
    pairs: set[tuple[str, str]] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "iccid" in value and "iccid_with_luhn" in value:
                pairs.add((value["iccid"], value["iccid_with_luhn"]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted((reference / "recorded" / "emnify").glob("*.json")):
        walk(json.loads(path.read_text()))
    assert len(pairs) == 2
    for plain, full in pairs:
        assert full == plain + luhn_digit(plain)
        assert mapping.to_subscription({"id": 1, "iccid": plain, "status": {"id": 1}}).iccid == full


async def test_every_recorded_event_maps_field_by_field(
    reference: Path, router: respx.MockRouter, emnify: AsyncConnector
) -> None:
    interactions = recorded(reference, "device_events.json")
    event_list = next(i for i in interactions if i["request"]["uri"].endswith("/event"))
    raw = event_list["response"]["body"]
    # The recording lists an endpoint's events; the account-level list has the same shape.
    event_list["request"]["uri"] = f"{BASE}/api/v1/event"
    replay(router, [i for i in interactions if i["request"]["method"] == "POST"] + [event_list])

    events = [event async for event in emnify.audit_events()]

    assert len(events) == len(raw) == 2
    kinds = {8: AuditKind.STATUS_CHANGE, 51: AuditKind.OTHER}
    for event, record in zip(events, raw, strict=True):
        changed = kinds[record["event_type"]["id"]] is AuditKind.STATUS_CHANGE
        assert event.model_dump() == {
            "connector": "emnify",
            "id": str(record["id"]),
            "iccid": record["sim"]["iccid"] + luhn_digit(record["sim"]["iccid"]),
            "occurred_at": instant(record["timestamp"]),
            "kind": kinds[record["event_type"]["id"]],
            "field": "status" if changed else None,
            "old_value": "Issued" if changed else None,
            "new_value": "Activated" if changed else None,
            "actor": record["event_source"]["description"],
            "description": record["description"],
            "extra": {
                "event_type_id": record["event_type"]["id"],
                "event_type": record["event_type"]["description"],
                "source": record["event_source"]["description"],
                "severity": record["event_severity"]["description"],
                "alert": record["alert"],
            },
        }, record["id"]


@pytest.mark.parametrize("iccid", ["8988303000000000129", "89883030000000001294"])
async def test_recorded_status_change_and_tags(
    reference: Path, router: respx.MockRouter, emnify: AsyncConnector, iccid: str
) -> None:
    # The SIM list gives SIM 250 (Activated, endpoint 11380016); the device deletion
    # recording holds that endpoint, the PATCH of SIM 250 and endpoint PATCHes (204).
    # The SIM is found by its ICCID with or without the check digit.
    replay(
        router,
        recorded(reference, "get_sim_list.json") + recorded(reference, "test_delete_device.json"),
    )

    change = await emnify.change_status(iccid, SimStatus.SUSPENDED)
    await emnify.update_tags(iccid, {"replayed": None})

    assert (change.state, change.iccid) == ("done", "89883030000000001294")
    patches = {
        call.request.url.path: json.loads(call.request.content)
        for call in router.calls
        if call.request.method == "PATCH"
    }
    assert patches == {
        "/api/v1/sim/250": {"status": {"id": 2}},
        "/api/v1/endpoint/11380016": {"tags": "replayed"},
    }


@pytest.mark.parametrize(
    ("name", "status", "error", "code"),
    [
        (
            "test_update_device_error_handling_device_id.json",
            404,
            NotFoundError,
            "InvalidReference",
        ),
        (
            "test_update_device_error_handling_device_id.json",
            400,
            InvalidRequestError,
            "BadRequest",
        ),
        (
            "test_update_device_error_handling_service_profile.json",
            422,
            InvalidRequestError,
            "InputValidationFailed",
        ),
        ("test_add_blacklist_operator_error.json", 409, ConflictError, "Duplicated"),
        ("create_device.json", 404, ConflictError, "Unavailable"),
        ("activate_sim_by_bic_422.json", 422, InvalidRequestError, None),
    ],
)
async def test_recorded_error_bodies_map_to_error_classes(
    reference: Path,
    router: respx.MockRouter,
    emnify: AsyncConnector,
    name: str,
    status: int,
    error: type[CdpError],
    code: str | None,
) -> None:
    interactions = recorded(reference, name)
    failing = next(i for i in interactions if i["response"]["status"] == status)
    replay(
        router,
        [
            i
            for i in interactions
            if i["request"]["method"] == "POST" and "authenticate" in i["request"]["uri"]
        ]
        + [failing],
    )
    request = failing["request"]

    with pytest.raises(error) as caught:
        await emnify.plugin.http.request(
            request["method"], urlsplit(request["uri"]).path, json=request["body"]
        )

    assert caught.value.status_code == status
    assert caught.value.vendor_code == code
    body = failing["response"]["body"]
    if isinstance(body, dict):
        assert body["message"].split("'")[0] in caught.value.message
        for nested in body.get("errors", []):
            assert nested["message"] in caught.value.message
