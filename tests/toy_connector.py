"""A small connector and an in-memory platform for it, used to test the core end to end.

The toy API: ``POST /auth`` trades ``{"key"}`` for ``{"token", "expires_in"}``;
``GET /v1/sims?page&per_page[&changed_since]`` pages ``{"sims": [...], "last": bool}``;
``GET /v1/sims/{iccid}``; ``PUT /v1/sims/{iccid}`` with ``{"state"}`` (illegal moves answer
409 ``{"code": "ILLEGAL_TRANSITION"}``); ``PATCH /v1/sims/{iccid}/labels``;
``GET /v1/sims/{iccid}/usage``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from cdp_sdk import (
    ActivationMode,
    BaseConnector,
    Bearer,
    Capability,
    ConflictError,
    ConnectorSettings,
    Direction,
    Granularity,
    SimStatus,
    StatusChange,
    Subscription,
    Tag,
    UsageRecord,
)
from cdp_sdk.http import ErrorRule, ErrorTable, JsonLoginAuth, PageNumberPaginator, body_field
from cdp_sdk.models import luhn_check_digit

STATUS = {"NEW": SimStatus.INVENTORY, "ON": SimStatus.ACTIVE, "OFF": SimStatus.SUSPENDED}
STATE_FOR = {status: state for state, status in STATUS.items()}
MOVES = {"NEW": ("ON",), "ON": ("OFF",), "OFF": ("ON",)}


def make_iccid(serial: int) -> str:
    body = f"89883030000{serial:07d}"
    return body + str(luhn_check_digit(body))


class ToySettings(ConnectorSettings):
    base_url: str = "https://toy.example.test"
    api_key: SecretStr
    rate_limit: float | None = None


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    return Subscription(
        connector="toy",
        id=str(record["id"]),
        iccid=record["iccid"],
        imsi=record.get("imsi"),
        status=STATUS.get(record["state"], SimStatus.UNKNOWN),
        status_raw=record["state"],
        updated_at=datetime.fromisoformat(record["updated"]),
        tags=tuple(Tag(key=label) for label in record.get("labels", [])),
    )


def to_usage(iccid: str, record: Mapping[str, Any]) -> list[UsageRecord]:
    start = datetime.fromisoformat(record["day"]).replace(tzinfo=UTC)
    return [
        UsageRecord(
            connector="toy",
            iccid=iccid,
            bearer=Bearer.DATA,
            direction=direction,
            quantity=int(record[field]),
            start=start,
            end=start + timedelta(days=1),
            granularity=Granularity.DAY,
            final=True,
        )
        for direction, field in ((Direction.MO, "up"), (Direction.MT, "down"))
    ]


class ToyConnector(BaseConnector):
    name = "toy"
    title = "Toy platform (tests)"
    capabilities = frozenset(
        {
            Capability.SUBSCRIPTIONS,
            Capability.INCREMENTAL,
            Capability.CHANGE_STATUS,
            Capability.TAGS,
            Capability.UPDATE_TAGS,
            Capability.USAGE,
        }
    )
    settings_model = ToySettings
    error_table = ErrorTable().extend(ErrorRule(ConflictError, vendor_code="ILLEGAL_TRANSITION"))
    settings: ToySettings

    def authentication(self) -> httpx.Auth:
        return JsonLoginAuth(
            "/auth", {"key": self.settings.api_key}, token_field="token", expires_in_field="ttl"
        )

    async def subscriptions(
        self, *, modified_since: datetime | None
    ) -> AsyncIterator[Subscription]:
        paginator = PageNumberPaginator(
            size_param="per_page", page_size=2, last_page=body_field("last")
        )
        params = {"changed_since": modified_since.isoformat() if modified_since else None}
        async for page in self.http.paginate(paginator, "/v1/sims", items="sims", params=params):
            for sim in self.map_records(page.items, to_subscription, endpoint="GET /v1/sims"):
                yield sim

    async def subscription(self, iccid: str) -> Subscription:
        body = await self.http.request_json("GET", "/v1/sims/{iccid}", path_params={"iccid": iccid})
        return self.map_one(body, to_subscription, endpoint="GET /v1/sims/{iccid}")

    async def activation_modes(self) -> list[ActivationMode]:
        return [
            ActivationMode(
                connector="toy", name=state, status=status, settable=True, next=MOVES[state]
            )
            for state, status in STATUS.items()
        ]

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        state = STATE_FOR.get(status)
        if state is None:
            raise self.unsupported(Capability.CHANGE_STATUS)
        await self.http.request(
            "PUT", "/v1/sims/{iccid}", path_params={"iccid": iccid}, json={"state": state}
        )
        return StatusChange(connector="toy", iccid=iccid, requested=status, state="done")

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        await self.http.request(
            "PATCH",
            "/v1/sims/{iccid}/labels",
            path_params={"iccid": iccid},
            json={"add": sorted(tags), "remove": list(remove)},
            idempotent=True,
        )

    async def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        if iccid is None:
            raise self.unsupported(Capability.USAGE)
        body = await self.http.request_json(
            "GET", "/v1/sims/{iccid}/usage", path_params={"iccid": iccid}
        )
        for records in self.map_records(
            body, lambda record: to_usage(iccid, record), endpoint="GET /v1/sims/{iccid}/usage"
        ):
            for record in records:
                if (start is None or record.start >= start) and (end is None or record.end <= end):
                    yield record


class ToyPlatform:
    """The toy API as an ``httpx.MockTransport`` over an in-memory fleet."""

    api_key = "toy-api-key-secret"

    def __init__(self, sims: int = 5) -> None:
        base = datetime(2024, 5, 1, tzinfo=UTC)
        self.sims: dict[str, dict[str, Any]] = {}
        for serial in range(1, sims + 1):
            iccid = make_iccid(serial)
            self.sims[iccid] = {
                "id": serial,
                "iccid": iccid,
                "imsi": f"90143000000{serial:04d}",
                "state": "ON" if serial % 2 else "NEW",
                "updated": (base + timedelta(days=serial)).isoformat(),
                "labels": ["fleet-a"] if serial == 1 else [],
            }
        self.requests: list[httpx.Request] = []
        self.logins = 0
        self.malformed: set[str] = set()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/auth":
            if json.loads(request.content).get("key") != self.api_key:
                return httpx.Response(401, json={"code": "BAD_KEY", "message": "bad key"})
            self.logins += 1
            return httpx.Response(200, json={"token": f"token-{self.logins}", "ttl": 3600})
        if not request.headers.get("Authorization", "").startswith("Bearer token-"):
            return httpx.Response(401, json={"code": "NO_TOKEN"})
        parts = path.strip("/").split("/")
        if parts == ["v1", "sims"]:
            return self._list(request)
        sim = self.sims.get(parts[2]) if len(parts) > 2 else None
        if sim is None:
            return httpx.Response(404, json={"code": "NOT_FOUND", "message": "no such SIM"})
        if len(parts) == 3 and request.method == "GET":
            return httpx.Response(200, json=self._render(sim))
        if len(parts) == 3 and request.method == "PUT":
            target = json.loads(request.content)["state"]
            if target not in MOVES[sim["state"]]:
                return httpx.Response(409, json={"code": "ILLEGAL_TRANSITION"})
            sim["state"] = target
            return httpx.Response(200, json=self._render(sim))
        if parts[3:] == ["labels"]:
            change = json.loads(request.content)
            kept = [label for label in sim["labels"] if label not in change["remove"]]
            sim["labels"] = kept + [label for label in change["add"] if label not in kept]
            return httpx.Response(204)
        if parts[3:] == ["usage"]:
            return httpx.Response(200, json=[{"day": "2024-05-01", "up": 1000, "down": 5000}])
        return httpx.Response(404, json={"code": "NO_ROUTE"})

    def _list(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["per_page"])
        since = request.url.params.get("changed_since")
        rows = [
            sim
            for sim in self.sims.values()
            if since is None
            or datetime.fromisoformat(sim["updated"]) >= datetime.fromisoformat(since)
        ]
        chunk = rows[(page - 1) * size : page * size]
        return httpx.Response(
            200,
            json={"sims": [self._render(sim) for sim in chunk], "last": page * size >= len(rows)},
            headers={"X-Request-Id": f"req-{len(self.requests)}"},
        )

    def _render(self, sim: dict[str, Any]) -> dict[str, Any]:
        if sim["iccid"] in self.malformed:
            return {key: value for key, value in sim.items() if key != "iccid"}
        return dict(sim)
