"""A small connector and an in-memory platform for it, used to test the core end to end.

The toy API: ``POST /auth`` trades ``{"key"}`` for ``{"token", "ttl"}``;
``GET /v1/sims?page&per_page[&changed_since]`` pages ``{"sims": [...], "last": bool}``;
``GET /v1/sims/{iccid}``; ``PUT /v1/sims/{iccid}`` with ``{"state"}`` (illegal moves answer
409 ``{"code": "ILLEGAL_TRANSITION"}``); ``PATCH /v1/sims/{iccid}/labels``;
``GET /v1/sims/{iccid}/usage``. :class:`ToyPlatform` emulates it on the sandbox framework.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from operator import itemgetter
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
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fleet,
    FleetSim,
    TokenStore,
    json_response,
    route,
)

STATUS = {
    "NEW": SimStatus.INVENTORY,
    "TEST": SimStatus.TEST,
    "READY": SimStatus.READY,
    "ON": SimStatus.ACTIVE,
    "OFF": SimStatus.SUSPENDED,
    "STOPPED": SimStatus.DEACTIVATED,
    "DEAD": SimStatus.RETIRED,
}
STATE_FOR = {status: state for state, status in STATUS.items()}
MOVES = {
    "NEW": ("ON",),
    "TEST": ("ON",),
    "READY": ("ON",),
    "ON": ("OFF", "STOPPED"),
    "OFF": ("ON", "STOPPED"),
    "STOPPED": ("ON", "DEAD"),
    "DEAD": (),
}
SETTABLE = {"ON", "OFF", "STOPPED", "DEAD"}


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

    def subscriptions(self, *, modified_since: datetime | None) -> AsyncIterator[Subscription]:
        paginator = PageNumberPaginator(
            size_param="per_page", page_size=2, last_page=body_field("last")
        )
        params = {"changed_since": modified_since.isoformat() if modified_since else None}
        return self.listing(
            paginator,
            "/v1/sims",
            to_subscription,
            items="sims",
            params=params,
            key=itemgetter("iccid"),
        )

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


class ToyPlatform(Emulator):
    """The toy API on the sandbox framework, over a fleet.

    With no fleet given, a five-SIM scenario the core tests rely on: SIMs 1..5 with
    ``updated`` on 2 to 6 May 2024, odd serials ON and even ones NEW, SIM 1 labelled
    ``fleet-a``.
    """

    name = "toy"
    api_key = "toy-api-key-secret"

    def __init__(self, fleet: Fleet | None = None, **options: Any) -> None:
        super().__init__(fleet if fleet is not None else _five_sims(), **options)
        self.tokens = TokenStore(ttl=3600)
        self.malformed: set[str] = set()

    @property
    def logins(self) -> int:
        return self.tokens.issued

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return None if self.tokens.valid(token) else self.error(401, "NO_TOKEN", "log in")

    @route("POST", "/auth", auth=False)
    def login(self, request: EmulatorRequest) -> httpx.Response:
        if (request.json() or {}).get("key") != self.api_key:
            return self.error(401, "BAD_KEY", "bad key")
        return json_response({"token": self.tokens.issue(), "ttl": self.tokens.ttl})

    @route("GET", "/v1/sims")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        page = int(request.params.get("page", 1))
        size = self.page_limit(request.params.get("per_page"), default=50, maximum=100)
        since = request.params.get("changed_since")
        rows = [
            sim
            for sim in self.fleet.sorted_sims()
            if since is None or sim.updated_at >= datetime.fromisoformat(since)
        ]
        chunk = rows[(page - 1) * size : page * size]
        return json_response(
            {"sims": [self._render(sim) for sim in chunk], "last": page * size >= len(rows)},
            headers={"X-Request-Id": f"req-{len(self.requests)}"},
        )

    @route("GET", "/v1/sims/{iccid}")
    def get_sim(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self.error(404, "NOT_FOUND", "no such SIM")
        return json_response(self._render(sim))

    @route("PUT", "/v1/sims/{iccid}")
    def set_state(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self.error(404, "NOT_FOUND", "no such SIM")
        target = (request.json() or {}).get("state")
        if target == STATE_FOR[sim.status]:  # PUT sets a value: setting it again is no move
            return json_response(self._render(sim))
        if target not in MOVES[STATE_FOR[sim.status]]:
            return self.error(409, "ILLEGAL_TRANSITION", "not allowed from this state")
        self.fleet.set_status(sim.iccid, STATUS[target], at=self._now(), actor="api")
        return json_response(self._render(sim))

    @route("PATCH", "/v1/sims/{iccid}/labels")
    def set_labels(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self.error(404, "NOT_FOUND", "no such SIM")
        change = request.json() or {}
        labels = {k: None for k in sim.tags if k not in change.get("remove", [])}
        labels |= dict.fromkeys(change.get("add", []))
        self.fleet.set_tags(sim.iccid, labels, at=self._now(), actor="api")
        return httpx.Response(204)

    @route("GET", "/v1/sims/{iccid}/usage")
    def usage(self, request: EmulatorRequest) -> httpx.Response:
        sim = self.fleet.sim(request.path_params["iccid"])
        if sim is None:
            return self.error(404, "NOT_FOUND", "no such SIM")
        days = self.fleet.usage_days(
            sim.iccid, self.fleet.today - timedelta(days=30), self.fleet.today
        )
        return json_response(
            [
                {"day": d.day.isoformat(), "up": d.data_mo_bytes, "down": d.data_mt_bytes}
                for d in days
            ]
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)

    def _render(self, sim: FleetSim) -> dict[str, Any]:
        record = {
            "id": sim.serial,
            "iccid": sim.iccid,
            "imsi": sim.imsi,
            "state": STATE_FOR[sim.status],
            "updated": sim.updated_at.isoformat(),
            "labels": sorted(sim.tags),
        }
        if sim.iccid in self.malformed:
            del record["iccid"]
        return record


def _five_sims() -> Fleet:
    fleet = Fleet(5, seed=1)
    for sim in fleet.sorted_sims():
        sim.status = SimStatus.ACTIVE if sim.serial % 2 else SimStatus.INVENTORY
        sim.updated_at = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(days=sim.serial)
        sim.tags = {"fleet-a": None} if sim.serial == 1 else {}
    return fleet
