"""Traffic recorded from the live emnify API (2022), replayed through the connector.

Each recorded file (``reference/recorded/emnify/``) becomes respx routes: the answers to one
method and path are served in their recorded order, the last one repeating. The recordings
start with the official SDK's unauthenticated call (a 401 from the gateway), so replaying
them also drives the connector's log-in-again-on-401 path.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
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


async def test_recorded_sim_list_maps_to_subscriptions(
    reference: Path, router: respx.MockRouter, emnify: AsyncConnector
) -> None:
    interactions = recorded(reference, "get_sim_list.json")
    replay(router, interactions)
    raw = interactions[-1]["response"]["body"]

    sims = [sim async for sim in emnify.subscriptions()]

    assert [sim.id for sim in sims] == [str(record["id"]) for record in raw]
    assert [sim.iccid for sim in sims] == [record["iccid"] for record in raw]  # no Luhn field
    expected = Counter(
        {0: SimStatus.INVENTORY, 1: SimStatus.ACTIVE, 2: SimStatus.SUSPENDED}[r["status"]["id"]]
        for r in raw
    )
    assert Counter(sim.status for sim in sims) == expected
    first = sims[0]
    assert (first.status, first.status_raw) == (SimStatus.ACTIVE, "Activated")
    assert (first.imsi, first.msisdn) == ("295050999900095", "423663999900095")
    assert (first.ip_address, first.tariff, first.tags) == ("10.191.216.68", "424560", ())
    assert first.activated_at == datetime(2022, 3, 27, 23, 20, 49, tzinfo=UTC)
    assert first.account == "13886"
    assert first.extra["endpoint_id"] == 11380016
    unassigned = [sim for sim in sims if "endpoint_id" not in sim.extra]
    assert unassigned
    assert all((sim.ip_address, sim.tags) == (None, ()) for sim in unassigned)
    logins = [call for call in router.calls if call.request.url.path == "/api/v1/authenticate"]
    assert len(logins) == 2, "logged in, got the recorded 401, logged in again"


async def test_recorded_events_map_to_audit_events(
    reference: Path, router: respx.MockRouter, emnify: AsyncConnector
) -> None:
    interactions = recorded(reference, "device_events.json")
    event_list = next(i for i in interactions if i["request"]["uri"].endswith("/event"))
    # The recording lists an endpoint's events; the account-level list has the same shape.
    event_list["request"]["uri"] = f"{BASE}/api/v1/event"
    replay(router, [i for i in interactions if i["request"]["method"] == "POST"] + [event_list])

    events = [event async for event in emnify.audit_events()]

    assert [event.kind for event in events] == [AuditKind.STATUS_CHANGE, AuditKind.OTHER]
    activation, assigned = events
    assert (activation.old_value, activation.new_value) == ("Issued", "Activated")
    assert activation.iccid == "8988303000000000129"
    assert activation.occurred_at.isoformat() == "2022-03-27T23:20:49.298000+00:00"
    assert activation.actor == "API"
    assert assigned.description == "SIM 250 assigned to endpoint 11380016"
    assert assigned.extra["event_type"] == "SIM Assigned"


async def test_recorded_status_change_and_tags(
    reference: Path, router: respx.MockRouter, emnify: AsyncConnector
) -> None:
    # The SIM list gives SIM 250 (Activated, endpoint 11380016); the device deletion
    # recording holds that endpoint, the PATCH of SIM 250 and endpoint PATCHes (204).
    replay(
        router,
        recorded(reference, "get_sim_list.json") + recorded(reference, "test_delete_device.json"),
    )
    iccid = "8988303000000000129"

    change = await emnify.change_status(iccid, SimStatus.SUSPENDED)
    await emnify.update_tags(iccid, {"replayed": None})

    assert change.state == "done"
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
