"""The sandbox: the synthetic fleet, the emulator framework, and serving on loopback.

Nothing here sleeps for real or times anything: clocks are injected, sleeps are recorded,
and the only network traffic is to servers this module starts on loopback addresses.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk.http import is_loopback
from cdp_sdk.models import (
    AuditKind,
    SimStatus,
    luhn_valid,
    normalize_eid,
    normalize_iccid,
    normalize_imei,
    normalize_imsi,
    normalize_msisdn,
)
from cdp_sdk.sandbox import (
    Emulator,
    EmulatorRequest,
    Fault,
    Fleet,
    RateWindow,
    TokenStore,
    _emulator,
    json_response,
    route,
)
from cdp_sdk.sandbox._fleet import STATUS_WEIGHTS
from conftest import InstallPlugins
from toy_connector import ToyPlatform

# -- the fleet --------------------------------------------------------------------------


def fingerprint(fleet: Fleet) -> tuple[Any, ...]:
    sims = fleet.sorted_sims()
    days = (date(2024, 1, 6), date(2024, 3, 4), fleet.today)
    return (
        [sim.iccid for sim in sims],
        [sim.status for sim in sims],
        [sim.tags for sim in sims],
        [(sim.imei, sim.eid, sim.tariff_id, sim.created_at, sim.activated_at) for sim in sims],
        [fleet.daily_usage(sim.iccid, day) for sim in sims for day in days],
        fleet.invoices(),
        fleet.audit,
    )


def test_same_seed_gives_an_identical_fleet() -> None:
    assert fingerprint(Fleet(80, seed=7)) == fingerprint(Fleet(80, seed=7))


def test_modified_between_lists_by_modification_time_with_both_ends_included() -> None:
    fleet = Fleet(60, seed=5)
    by_change = sorted(fleet.sims.values(), key=lambda sim: (sim.updated_at, sim.serial))
    assert list(fleet.modified_between(by_change[0].updated_at)) == by_change
    since, until = by_change[10].updated_at, by_change[40].updated_at
    inside = [sim for sim in by_change if since <= sim.updated_at <= until]
    assert list(fleet.modified_between(since, until)) == inside
    assert inside[0].updated_at == since
    assert inside[-1].updated_at == until
    # A change moves the SIM to the end of the order.
    moved = by_change[0]
    later = by_change[-1].updated_at + timedelta(seconds=1)
    fleet.set_status(moved.iccid, SimStatus.SUSPENDED, at=later, actor="test")
    assert fleet.modified_between(by_change[0].updated_at)[-1] is moved
    assert list(fleet.modified_between(later + timedelta(seconds=1))) == []


def test_different_seeds_give_different_fleets() -> None:
    first, second = Fleet(80, seed=7), Fleet(80, seed=8)
    assert fingerprint(first) != fingerprint(second)
    # ICCIDs come from the serial number, everything random comes from the seed.
    assert list(first.sims) == list(second.sims)
    assert [s.status for s in first.sorted_sims()] != [s.status for s in second.sorted_sims()]
    assert [s.tags for s in first.sorted_sims()] != [s.tags for s in second.sorted_sims()]


def test_usage_is_a_pure_function_of_the_seed() -> None:
    fleet = Fleet(20, seed=3)
    active = next(s for s in fleet.sorted_sims() if s.status is SimStatus.ACTIVE)
    day = fleet.today - timedelta(days=3)
    assert fleet.daily_usage(active.iccid, day) == fleet.daily_usage(active.iccid, day)
    assert Fleet(20, seed=3).daily_usage(active.iccid, day) == fleet.daily_usage(active.iccid, day)
    assert Fleet(20, seed=4).daily_usage(active.iccid, day) != fleet.daily_usage(active.iccid, day)


def test_identifiers_are_valid_and_unique() -> None:
    fleet = Fleet(300, seed=11)
    sims = fleet.sorted_sims()
    for sim in sims:
        assert normalize_iccid(sim.iccid, luhn=True) == sim.iccid
        assert len(sim.iccid) == 19
        assert sim.iccid.startswith("8988303")
        assert normalize_imsi(sim.imsi) == sim.imsi
        assert len(sim.imsi) == 15
        assert normalize_msisdn(sim.msisdn) == sim.msisdn
        if sim.imei is not None:
            assert normalize_imei(sim.imei) == sim.imei
            assert len(sim.imei) == 15
            assert luhn_valid(sim.imei)
        if sim.eid is not None:
            assert normalize_eid(sim.eid) == sim.eid
        # a device (IMEI) is seen exactly on the SIMs that were ever activated
        assert (sim.imei is not None) == (sim.activated_at is not None)
    for identifier in ("iccid", "imsi", "msisdn", "ip_address"):
        assert len({getattr(sim, identifier) for sim in sims}) == len(sims), identifier
    assert any(sim.eid for sim in sims)
    assert any(sim.eid is None for sim in sims)
    assert [sim.serial for sim in sims] == list(range(1, 301))


def test_identifier_prefixes_are_configurable() -> None:
    fleet = Fleet(12, iccid_prefix="894400", imsi_prefix="23415", msisdn_prefix="4477")
    for sim in fleet.sorted_sims():
        assert sim.iccid.startswith("894400")
        assert normalize_iccid(sim.iccid, luhn=True) == sim.iccid
        assert sim.imsi.startswith("23415")
        assert normalize_imsi(sim.imsi) == sim.imsi
        assert sim.msisdn.startswith("4477")
        assert normalize_msisdn(sim.msisdn) == sim.msisdn


@pytest.mark.parametrize("digits", [18, 20, 22])
def test_iccid_length_is_configurable(digits: int) -> None:
    fleet = Fleet(12, iccid_prefix="891480", iccid_digits=digits)
    for sim in fleet.sorted_sims():
        assert len(sim.iccid) == digits
        assert sim.iccid.startswith("891480")
        assert normalize_iccid(sim.iccid, luhn=True) == sim.iccid
    assert fleet.sorted_sims()[2].iccid[:-1].endswith("3")  # serial 3, zero-padded


@pytest.mark.parametrize(
    ("digits", "prefix", "size"), [(17, "89", 5), (23, "89", 5), (19, "8988303000", 10**8)]
)
def test_iccid_length_out_of_range_is_refused(digits: int, prefix: str, size: int) -> None:
    with pytest.raises(ValueError, match="iccid_digits"):
        Fleet(size, iccid_prefix=prefix, iccid_digits=digits)


def test_status_shares_follow_the_weights() -> None:
    assert sum(STATUS_WEIGHTS.values()) == pytest.approx(1.0)
    fleet = Fleet(2000, seed=2024)
    counts = Counter(sim.status for sim in fleet.sims.values())
    assert set(counts) == set(STATUS_WEIGHTS)
    shares = {status: count / 2000 for status, count in counts.items()}
    assert 0.6 <= shares[SimStatus.ACTIVE] <= 0.8
    for status, weight in STATUS_WEIGHTS.items():
        assert weight * 0.5 <= shares[status] <= weight * 1.5, status


def test_tags_and_tariffs_come_from_the_catalogue() -> None:
    fleet = Fleet(200, seed=5, currency="USD")
    tariff_ids = {tariff.id for tariff in fleet.tariffs}
    assert all(tariff.currency == "USD" for tariff in fleet.tariffs)
    assert all(isinstance(tariff.monthly_fee, Decimal) for tariff in fleet.tariffs)
    used = Counter(sim.tariff_id for sim in fleet.sims.values())
    assert set(used) == tariff_ids
    assert fleet.tariff("plan-s").name == "IoT S 10MB"
    assert all(set(sim.tags) <= {"fleet", "region", "customer"} for sim in fleet.sims.values())
    assert any(sim.tags for sim in fleet.sims.values())
    assert any(not sim.tags for sim in fleet.sims.values())


@pytest.mark.parametrize("history_days", [365, 120, 30, 1])
def test_every_timestamp_lies_within_the_history(history_days: int) -> None:
    fleet = Fleet(300, seed=9, history_days=history_days)
    start = datetime.combine(fleet.history_start, datetime.min.time(), tzinfo=UTC)
    now = datetime.combine(fleet.today, datetime.min.time(), tzinfo=UTC)
    for sim in fleet.sims.values():
        assert start <= sim.created_at <= now
        if sim.activated_at is not None:
            assert sim.created_at <= sim.activated_at <= now
        assert max(sim.created_at, sim.activated_at or sim.created_at) <= sim.updated_at <= now
    assert all(start <= event.occurred_at <= now for event in fleet.audit)
    # spread over the history, not piled up at its end
    assert len({sim.created_at for sim in fleet.sims.values()}) > 250


def test_audit_history_tells_each_sims_story() -> None:
    fleet = Fleet(200, seed=6)
    assert fleet.audit == sorted(fleet.audit, key=lambda event: (event.occurred_at, event.id))
    by_sim: dict[str, list[Any]] = {}
    for event in fleet.audit:
        by_sim.setdefault(event.iccid, []).append(event)
    assert set(by_sim) == set(fleet.sims)
    for iccid, events in by_sim.items():
        sim = fleet.sims[iccid]
        assert events[0].kind is AuditKind.TARIFF_CHANGE
        assert events[0].new_value == sim.tariff_id
        assert events[0].occurred_at == sim.created_at
        statuses = [e for e in events if e.kind is AuditKind.STATUS_CHANGE]
        if sim.activated_at is None:
            assert statuses == []
        else:
            assert statuses[0].new_value == SimStatus.ACTIVE.value
            assert statuses[0].occurred_at == sim.activated_at
            assert statuses[-1].new_value == sim.status.value


def test_usage_is_zero_outside_a_sims_active_life() -> None:
    fleet = Fleet(200, seed=12)
    sims = fleet.sorted_sims()
    activated = [sim for sim in sims if sim.activated_at is not None]
    never = [sim for sim in sims if sim.activated_at is None]
    assert activated
    assert never
    for sim in activated:
        assert sim.activated_at is not None
        before = sim.activated_at.date() - timedelta(days=1)
        assert _total(fleet.daily_usage(sim.iccid, before)) == 0
        assert _total(fleet.daily_usage(sim.iccid, fleet.today + timedelta(days=1))) == 0
    for sim in never:
        assert _total(fleet.daily_usage(sim.iccid, fleet.today)) == 0
    stopped = [sim for sim in activated if sim.status is not SimStatus.ACTIVE]
    assert stopped
    for sim in stopped:
        assert _total(fleet.daily_usage(sim.iccid, sim.updated_at.date())) == 0
    active = [sim for sim in activated if sim.status is SimStatus.ACTIVE]
    week = [fleet.today - timedelta(days=n) for n in range(7)]
    for sim in active:
        assert sum(fleet.daily_usage(sim.iccid, day).data_mo_bytes for day in week) > 0


def test_usage_is_non_negative_and_voice_only_on_voice_sims() -> None:
    fleet = Fleet(60, seed=13)
    for sim in fleet.sorted_sims():
        for record in fleet.usage_days(sim.iccid, fleet.today - timedelta(days=20), fleet.today):
            counters = _counters(record)
            assert all(isinstance(value, int) and value >= 0 for value in counters)
            if sim.serial % 10:
                assert record.voice_mo_seconds == record.voice_mt_seconds == 0
    voice = [sim for sim in fleet.sorted_sims() if sim.serial % 10 == 0]
    assert any(
        record.voice_mo_seconds > 0
        for sim in voice
        for record in fleet.usage_days(sim.iccid, fleet.today - timedelta(days=60), fleet.today)
    )


def test_weekends_carry_less_traffic_than_weekdays() -> None:
    fleet = Fleet(300, seed=21)
    active = [sim for sim in fleet.sorted_sims() if sim.status is SimStatus.ACTIVE]
    weekday: list[int] = []
    weekend: list[int] = []
    for sim in active:
        for record in fleet.usage_days(sim.iccid, fleet.today - timedelta(days=56), fleet.today):
            data = record.data_mo_bytes + record.data_mt_bytes
            (weekend if record.day.weekday() >= 5 else weekday).append(data)
    assert len(weekend) > 3000
    assert sum(weekend) / len(weekend) < 0.85 * (sum(weekday) / len(weekday))


def test_usage_days_is_half_open_and_clipped_to_the_history() -> None:
    fleet = Fleet(10, seed=4)
    iccid = next(s.iccid for s in fleet.sorted_sims() if s.status is SimStatus.ACTIVE)
    start = fleet.today - timedelta(days=5)
    days = fleet.usage_days(iccid, start, start + timedelta(days=3))
    assert [record.day for record in days] == [start + timedelta(days=n) for n in range(3)]
    assert days == [fleet.daily_usage(iccid, record.day) for record in days]
    assert fleet.usage_days(iccid, start, start) == []
    assert fleet.usage_days(iccid, start, start - timedelta(days=2)) == []
    everything = fleet.usage_days(iccid, date(2000, 1, 1), date(2100, 1, 1))
    assert everything[0].day == fleet.history_start
    assert everything[-1].day == fleet.today
    assert len(everything) == (fleet.today - fleet.history_start).days + 1
    assert fleet.usage_days(iccid, fleet.today + timedelta(days=1), date(2100, 1, 1)) == []


def test_invoices_one_per_month_with_the_current_month_open() -> None:
    fleet = Fleet(150, seed=8)
    invoices = fleet.invoices()
    assert len(invoices) == 13  # June 2023 .. June 2024
    assert invoices[0].period_start == date(2023, 6, 1)
    for invoice, following in pairwise(invoices):
        assert following.period_start == invoice.period_end + timedelta(days=1)
    assert len({invoice.id for invoice in invoices}) == len(invoices)
    current = invoices[-1]
    assert current.period_start <= fleet.today <= current.period_end
    assert current.closed is False
    assert current.issued_at is None
    assert current.due_at is None
    for invoice in invoices[:-1]:
        assert invoice.closed is True
        assert invoice.period_start.day == 1
        assert (invoice.period_end + timedelta(days=1)).day == 1
        assert invoice.issued_at == invoice.period_end + timedelta(days=1)
        assert invoice.due_at is not None
        assert invoice.due_at > invoice.issued_at
    for invoice in invoices:
        assert invoice.id == f"INV-{invoice.period_start:%Y%m}"
        assert invoice.currency == "EUR"
        assert isinstance(invoice.total, Decimal)
        assert invoice.total == sum((line.amount for line in invoice.lines), Decimal(0))
        for line in invoice.lines:
            assert isinstance(line.amount, Decimal)
            assert isinstance(line.unit_price, Decimal)
            assert line.amount == line.quantity * line.unit_price
    assert invoices[-1].total > invoices[0].total > 0  # activations accumulate


def test_a_month_closes_only_once_it_is_over() -> None:
    last_day = Fleet(10, today=date(2024, 6, 30)).invoices()
    assert last_day[-1].period_start == date(2024, 6, 1)
    assert last_day[-1].closed is False
    next_day = Fleet(10, today=date(2024, 7, 1)).invoices()
    assert next_day[-2].period_start == date(2024, 6, 1)
    assert next_day[-2].closed is True
    assert next_day[-2].issued_at == date(2024, 7, 1)
    assert next_day[-1].period_start == date(2024, 7, 1)
    assert next_day[-1].closed is False


def test_set_status_records_an_audit_event_and_the_first_activation() -> None:
    fleet = Fleet(100, seed=10)
    sim = next(s for s in fleet.sorted_sims() if s.status is SimStatus.INVENTORY)
    first = datetime.combine(fleet.today - timedelta(days=10), datetime.min.time(), tzinfo=UTC)
    count = len(fleet.audit)
    fleet.set_status(sim.iccid, SimStatus.ACTIVE, at=first, actor="tester")
    assert len(fleet.audit) == count + 1
    event = fleet.audit[-1]
    assert event.kind is AuditKind.STATUS_CHANGE
    assert (event.iccid, event.field, event.actor) == (sim.iccid, "status", "tester")
    assert (event.old_value, event.new_value) == ("inventory", "active")
    assert event.occurred_at == first
    assert sim.status is SimStatus.ACTIVE
    assert sim.activated_at == first
    assert sim.updated_at == first
    assert _total(fleet.daily_usage(sim.iccid, fleet.today - timedelta(days=5))) > 0

    later = first + timedelta(days=2)
    fleet.set_status(sim.iccid, SimStatus.SUSPENDED, at=later, actor="tester")
    fleet.set_status(sim.iccid, SimStatus.ACTIVE, at=later + timedelta(days=1), actor="tester")
    assert sim.activated_at == first  # only the first activation counts
    assert sim.updated_at == later + timedelta(days=1)
    assert len(fleet.audit) == count + 3
    assert len({event.id for event in fleet.audit}) == len(fleet.audit)

    fleet.set_status(sim.iccid, SimStatus.ACTIVE, at=later + timedelta(days=5), actor="tester")
    assert len(fleet.audit) == count + 3  # no change, no event


def test_set_tags_records_a_field_change() -> None:
    fleet = Fleet(5, seed=1)
    sim = fleet.sorted_sims()[0]
    at = datetime(2024, 6, 1, tzinfo=UTC)
    old = ",".join(sorted(sim.tags)) or None
    tags: dict[str, str | None] = {"zone": "z1", "alpha": None}
    count = len(fleet.audit)
    fleet.set_tags(sim.iccid, tags, at=at, actor="api")
    tags["mutated"] = "afterwards"
    assert sim.tags == {"zone": "z1", "alpha": None}
    assert sim.updated_at == at
    event = fleet.audit[-1]
    assert len(fleet.audit) == count + 1
    assert event.kind is AuditKind.FIELD_CHANGE
    assert (event.field, event.old_value, event.new_value) == ("tags", old, "alpha,zone")
    fleet.set_tags(sim.iccid, {"zone": "z1", "alpha": None}, at=at, actor="api")
    assert len(fleet.audit) == count + 1
    fleet.set_tags(sim.iccid, {}, at=at, actor="api")
    assert (fleet.audit[-1].old_value, fleet.audit[-1].new_value) == ("alpha,zone", None)


def test_an_empty_fleet_works_and_a_negative_size_is_refused() -> None:
    empty = Fleet(0)
    assert empty.sims == {}
    assert empty.sorted_sims() == []
    assert empty.audit == []
    assert empty.sim("8988303000000000018") is None
    invoices = empty.invoices()
    assert len(invoices) == 13
    assert all(invoice.lines == () and invoice.total == Decimal(0) for invoice in invoices)
    with pytest.raises(ValueError, match="size"):
        Fleet(-1)


def test_ordered_is_the_serial_order_and_follows_membership_changes() -> None:
    fleet = Fleet(30, seed=5)
    ordered = fleet.ordered()
    assert [sim.serial for sim in ordered] == list(range(1, 31))
    assert fleet.ordered() is ordered, "kept between pages while the fleet is unchanged"
    assert fleet.sorted_sims() == list(ordered)
    assert fleet.sorted_sims() is not fleet.sorted_sims(), "callers get a list of their own"

    gone = ordered[4]
    del fleet.sims[gone.iccid]
    assert gone not in fleet.ordered()
    assert len(fleet.ordered()) == 29
    fleet.sims[gone.iccid] = gone  # back, at the end of the dict: still listed by serial
    assert [sim.serial for sim in fleet.ordered()] == list(range(1, 31))
    fleet.sims.pop(gone.iccid)
    assert len(fleet.ordered()) == 29
    fleet.sims.update({gone.iccid: gone})
    assert len(fleet.ordered()) == 30


def test_changed_since_matches_a_scan_and_follows_every_change() -> None:
    fleet = Fleet(60, seed=9)
    moments = sorted({sim.updated_at for sim in fleet.sims.values()})

    def scanned(moment: datetime) -> list[str]:
        return [sim.iccid for sim in fleet.sorted_sims() if sim.updated_at >= moment]

    for moment in (moments[0], moments[len(moments) // 2], moments[-1], moments[-1] + _SECOND):
        assert [sim.iccid for sim in fleet.changed_since(moment)] == scanned(moment)
    cutoff = moments[-1] + _SECOND
    assert fleet.changed_since(cutoff) == ()
    # changed through the fleet, and directly on the SIM (as some emulators do)
    first, second = fleet.sorted_sims()[:2]
    fleet.set_status(first.iccid, SimStatus.RETIRED, at=cutoff + _SECOND, actor="t")
    assert [sim.iccid for sim in fleet.changed_since(cutoff)] == [first.iccid]
    second.updated_at = cutoff + 2 * _SECOND
    assert [sim.iccid for sim in fleet.changed_since(cutoff)] == [first.iccid, second.iccid]
    del fleet.sims[first.iccid]
    assert [sim.iccid for sim in fleet.changed_since(cutoff)] == [second.iccid]


_SECOND = timedelta(seconds=1)


def test_audit_events_match_a_filter_of_the_sorted_history() -> None:
    fleet = Fleet(40, seed=4)
    history = sorted(fleet.audit, key=lambda event: (event.occurred_at, event.id))
    since, until = history[10].occurred_at, history[60].occurred_at
    iccid = history[20].iccid
    assert list(fleet.audit_events()) == history
    assert list(fleet.audit_events(since=since, until=until)) == [
        e for e in history if since <= e.occurred_at < until
    ]
    assert list(fleet.audit_events(iccid=iccid, since=since)) == [
        e for e in history if e.iccid == iccid and e.occurred_at >= since
    ]
    assert fleet.audit_events(iccid="89000000000000000000") == []
    # a change appends to the history and is seen at once
    later = history[-1].occurred_at + _SECOND
    fleet.set_status(iccid, SimStatus.RETIRED, at=later, actor="t")
    assert fleet.audit_events(since=later)[-1].new_value == "retired"


def _counters(record: Any) -> list[int]:
    return [
        record.data_mo_bytes,
        record.data_mt_bytes,
        record.sms_mo,
        record.sms_mt,
        record.voice_mo_seconds,
        record.voice_mt_seconds,
    ]


def _total(record: Any) -> int:
    return sum(_counters(record))


# -- the emulator framework --------------------------------------------------------------

BASE = "https://vendor.test"


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Vendor(Emulator):
    """A tiny vendor: a login, an item by id, a SIM listing; its own error shape."""

    name = "vendor"

    def __init__(self, *, token_clock: Callable[[], float] = time.time, **options: Any) -> None:
        super().__init__(Fleet(4, seed=3), **options)
        self.tokens = TokenStore(ttl=60, clock=token_clock)

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        if self.tokens.valid(request.headers.get("X-Token")):
            return None
        return self.error(401, "bad_token", "token missing or expired")

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        return json_response({"fault": {"status": status, "code": code, "text": message}}, status)

    def rate_limited(self, retry_after: float) -> httpx.Response:
        response = super().rate_limited(retry_after)
        response.headers["X-Vendor-Wait"] = f"{retry_after:.1f}"
        return response

    @route("POST", "/login", auth=False)
    def login(self, request: EmulatorRequest) -> httpx.Response:
        if (request.json() or {}).get("user") != "demo":
            return self.error(401, "bad_login", "unknown user")
        return json_response({"token": self.tokens.issue()}, 201)

    @route("GET", "/items/{item_id}")
    def get_item(self, request: EmulatorRequest) -> httpx.Response:
        return json_response(
            {"item": request.path_params["item_id"], "query": dict(request.params)}
        )

    @route("GET", "/sims")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        size = self.page_limit(request.params.get("limit"), default=2, maximum=3)
        sims = self.fleet.sorted_sims()[:size]
        return json_response({"limit": size, "iccids": [sim.iccid for sim in sims]})


Send = Callable[..., httpx.Response]


@pytest.fixture
def vendor() -> Vendor:
    return Vendor()


@pytest.fixture(params=["sync", "async"])
def send(request: pytest.FixtureRequest, vendor: Vendor) -> Iterator[Send]:
    """``send(method, path, **kwargs)`` through the in-process transport, logged in.

    The same tests run with an ``httpx.Client`` and with an ``httpx.AsyncClient``.
    """
    headers = {"X-Token": vendor.tokens.issue()}
    if request.param == "sync":
        with httpx.Client(base_url=BASE, transport=vendor.transport(), headers=headers) as client:
            yield client.request
        return
    with asyncio.Runner() as runner:
        async_client = httpx.AsyncClient(
            base_url=BASE, transport=vendor.transport(), headers=headers
        )

        def send_async(method: str, url: str, **kwargs: Any) -> httpx.Response:
            return runner.run(async_client.request(method, url, **kwargs))

        yield send_async
        runner.run(async_client.aclose())


def fault_body(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"fault"}
    assert body["fault"]["status"] == response.status_code
    return dict(body["fault"])


def test_routes_decode_percent_encoded_path_parameters(send: Send) -> None:
    response = send("GET", "/items/a%2Fb", params={"x": "1"})
    assert response.status_code == 200
    assert response.json() == {"item": "a/b", "query": {"x": "1"}}
    assert send("GET", "/items/caf%C3%A9%20au%20lait").json()["item"] == "café au lait"
    # a placeholder is one segment: an unencoded slash does not match it
    assert send("GET", "/items/a/b").status_code == 404


def test_unknown_path_is_404_and_wrong_method_405_in_the_vendor_shape(send: Send) -> None:
    missing = send("GET", "/nope")
    assert missing.status_code == 404
    assert fault_body(missing)["code"] == "not_found"
    for method, path in (("DELETE", "/items/1"), ("POST", "/sims"), ("GET", "/login")):
        wrong = send(method, path)
        assert wrong.status_code == 405, (method, path)
        assert fault_body(wrong)["code"] == "method_not_allowed"
    assert send("GET", "/sims/").status_code == 404  # templates match the whole path


def test_authenticate_hook_refuses_and_public_routes_skip_it(send: Send, vendor: Vendor) -> None:
    for headers in ({"X-Token": ""}, {"X-Token": "forged"}):
        refused = send("GET", "/items/1", headers=headers)
        assert refused.status_code == 401
        assert fault_body(refused)["code"] == "bad_token"
    bad_login = send("POST", "/login", json={"user": "mallory"}, headers={"X-Token": ""})
    assert fault_body(bad_login)["code"] == "bad_login"
    login = send("POST", "/login", json={"user": "demo"}, headers={"X-Token": ""})
    assert login.status_code == 201
    token = login.json()["token"]
    assert vendor.tokens.valid(token)
    assert send("GET", "/items/1", headers={"X-Token": token}).status_code == 200
    assert len(vendor.requests) == 5  # refused requests are logged too


def test_token_store_expiry_with_an_injected_clock() -> None:
    clock = FakeClock(100.0)
    store = TokenStore(ttl=60, clock=clock)
    token = store.issue()
    other = store.issue()
    assert token != other
    assert store.issued == 2
    assert store.valid(token)
    clock.now = 159.9
    assert store.valid(token)
    clock.now = 160.0
    assert not store.valid(token)
    fresh = store.issue()
    assert store.valid(fresh)
    store.expire_all()
    assert not store.valid(fresh)
    assert not store.valid(None)
    assert not store.valid("")
    assert store.issued == 3


def test_expired_token_is_refused_by_the_emulator() -> None:
    clock = FakeClock(0.0)
    vendor = Vendor(token_clock=clock)
    token = vendor.tokens.issue()
    with httpx.Client(base_url=BASE, transport=vendor.transport()) as client:
        assert client.get("/items/1", headers={"X-Token": token}).status_code == 200
        clock.now = 60.0
        expired = client.get("/items/1", headers={"X-Token": token})
        assert expired.status_code == 401
        assert fault_body(expired)["code"] == "bad_token"
        renewed = vendor.tokens.issue()
        assert client.get("/items/1", headers={"X-Token": renewed}).status_code == 200
        vendor.tokens.expire_all()
        assert client.get("/items/1", headers={"X-Token": renewed}).status_code == 401


def test_rate_window_slides() -> None:
    clock = FakeClock(0.0)
    window = RateWindow(2, per=10.0, clock=clock)
    assert window.hit() is None
    clock.now = 5.0
    assert window.hit() is None
    clock.now = 7.0
    assert window.hit() == pytest.approx(3.0)  # until the hit at 0 leaves the window
    assert window.hit() == pytest.approx(3.0)  # refused hits are not counted
    clock.now = 10.0
    assert window.hit() is None  # the hit at 0 left; the one at 5 is still in
    clock.now = 12.0
    assert window.hit() == pytest.approx(3.0)  # until the hit at 5 leaves
    clock.now = 15.0
    assert window.hit() is None


def test_rate_limit_answers_through_the_rate_limited_hook() -> None:
    clock = FakeClock(0.0)
    vendor = Vendor(rate_limit=RateWindow(2, per=10.0, clock=clock))
    headers = {"X-Token": vendor.tokens.issue()}
    with httpx.Client(base_url=BASE, transport=vendor.transport(), headers=headers) as client:
        assert client.get("/items/1").status_code == 200
        clock.now = 2.4
        assert client.get("/sims").status_code == 200
        clock.now = 2.5
        limited = client.get("/items/2")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "8"  # 7.5 s, rounded
        assert limited.headers["X-Vendor-Wait"] == "7.5"
        assert fault_body(limited)["code"] == "rate_limited"
        clock.now = 9.9
        assert client.get("/items/3").status_code == 429
        clock.now = 10.0
        assert client.get("/items/4").status_code == 200
        assert client.get("/items/5").status_code == 429
    assert len(vendor.requests) == 6


def test_status_fault_answers_the_vendor_error_once(send: Send, vendor: Vendor) -> None:
    vendor.faults.append(Fault(status=502, retry_after=7))
    failed = send("GET", "/items/1")
    assert failed.status_code == 502
    assert fault_body(failed) == {"status": 502, "code": "emulated_502", "text": "Emulated failure"}
    assert failed.headers["Retry-After"] == "7"
    assert vendor.faults == []
    assert send("GET", "/items/1").status_code == 200
    vendor.faults.append(Fault())
    default = send("GET", "/items/1")
    assert default.status_code == 503
    assert "Retry-After" not in default.headers


def test_429_fault_goes_through_the_rate_limited_hook(send: Send, vendor: Vendor) -> None:
    vendor.faults += [Fault(status=429, retry_after=3), Fault(status=429)]
    first = send("GET", "/sims")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "3"
    assert first.headers["X-Vendor-Wait"] == "3.0"
    assert fault_body(first)["code"] == "rate_limited"
    second = send("GET", "/sims")
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1"
    assert second.headers["X-Vendor-Wait"] == "1.0"
    assert send("GET", "/sims").status_code == 200


def test_timeout_and_drop_faults_fail_the_transport(send: Send, vendor: Vendor) -> None:
    vendor.faults.append(Fault(kind="timeout"))
    with pytest.raises(httpx.ReadTimeout):
        send("GET", "/items/1")
    vendor.faults.append(Fault(kind="drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        send("GET", "/items/1")
    assert send("GET", "/items/1").status_code == 200
    assert len(vendor.requests_to("^/items/1$")) == 3


def test_malformed_fault_keeps_the_status_and_truncates_the_body(
    send: Send, vendor: Vendor
) -> None:
    vendor.faults.append(Fault(kind="malformed"))
    broken = send("GET", "/sims")
    whole = send("GET", "/sims")
    assert broken.status_code == whole.status_code == 200
    assert broken.headers["Content-Type"] == "application/json"
    assert 0 < len(broken.content) < len(whole.content)
    assert whole.content.startswith(broken.content)
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    assert whole.json()["limit"] == 2

    vendor.faults.append(Fault(kind="malformed"))
    broken_error = send("GET", "/nope")
    assert broken_error.status_code == 404
    with pytest.raises(json.JSONDecodeError):
        broken_error.json()


def test_replay_fault_answers_the_previous_response_to_the_path(send: Send, vendor: Vendor) -> None:
    vendor.faults.append(Fault(kind="replay", path="^/items/fresh$"))
    # nothing to replay yet: the real answer
    assert send("GET", "/items/fresh", params={"n": "1"}).json()["query"] == {"n": "1"}

    first = send("GET", "/sims", params={"limit": "1"})
    vendor.faults.append(Fault(kind="replay", path="^/sims$"))
    replayed = send("GET", "/sims", params={"limit": "3"})
    assert replayed.status_code == 200
    assert replayed.json() == first.json() == {"limit": 1, "iccids": [_first_iccid(vendor)]}
    assert send("GET", "/sims", params={"limit": "3"}).json()["limit"] == 3


def test_after_lets_matching_requests_through_first(send: Send, vendor: Vendor) -> None:
    vendor.faults.append(Fault(status=500, after=2))
    statuses = [send("GET", f"/items/{n}").status_code for n in range(4)]
    assert statuses == [200, 200, 500, 200]


def test_times_counts_down_then_the_fault_is_gone(send: Send, vendor: Vendor) -> None:
    fault = Fault(status=500, times=2)
    vendor.faults.append(fault)
    assert send("GET", "/sims").status_code == 500
    assert fault.times == 1
    assert vendor.faults == [fault]
    assert send("GET", "/sims").status_code == 500
    assert vendor.faults == []
    assert send("GET", "/sims").status_code == 200


def test_path_and_method_filters(send: Send, vendor: Vendor) -> None:
    vendor.faults.append(Fault(status=500, path="^/sims$", after=1))
    assert send("GET", "/items/1").status_code == 200  # no match: does not count for after
    assert send("GET", "/sims").status_code == 200
    assert send("GET", "/items/2").status_code == 200
    assert send("GET", "/sims").status_code == 500

    vendor.faults.append(Fault(status=500, method="post"))
    assert send("GET", "/sims").status_code == 200
    assert send("POST", "/login", json={"user": "demo"}).status_code == 500
    assert send("POST", "/login", json={"user": "demo"}).status_code == 201


@pytest.mark.parametrize(
    ("requested", "max_page_size", "expected"),
    [
        (None, None, 20),
        ("", None, 20),
        ("7", None, 7),
        (7, None, 7),
        ("100", None, 100),
        ("1000", None, 100),
        ("0", None, 20),
        ("-5", None, 20),
        ("abc", None, 20),
        ("2.5", None, 20),
        ([3], None, 20),
        ("50", 3, 3),
        (None, 3, 3),
        ("2", 3, 2),
        ("garbage", 5, 5),
    ],
)
def test_page_limit_clamps(requested: Any, max_page_size: int | None, expected: int) -> None:
    vendor = Vendor()
    vendor.max_page_size = max_page_size
    assert vendor.page_limit(requested, default=20, maximum=100) == expected


def test_page_limit_through_a_route(send: Send, vendor: Vendor) -> None:
    assert send("GET", "/sims").json()["limit"] == 2
    assert send("GET", "/sims", params={"limit": "9"}).json()["limit"] == 3
    assert len(send("GET", "/sims", params={"limit": "x"}).json()["iccids"]) == 2
    vendor.max_page_size = 1
    assert send("GET", "/sims", params={"limit": "3"}).json()["iccids"] == [_first_iccid(vendor)]


def test_page_limit_records_the_documented_maximum_of_the_route(send: Send, vendor: Vendor) -> None:
    assert vendor.page_maxima == {}
    vendor.max_page_size = 1  # a test's cap is not the vendor's maximum
    send("GET", "/sims", params={"limit": "2"})
    send("GET", "/items/1")
    assert vendor.page_maxima == {("GET", "/sims"): 3}
    assert vendor.page_limit(5, default=1, maximum=9) == 1  # outside a route: not recorded
    assert vendor.page_maxima == {("GET", "/sims"): 3}


def test_route_of_names_the_template_that_answers(vendor: Vendor) -> None:
    assert vendor.route_of(httpx.Request("GET", f"{BASE}/items/a%2Fb?x=1")) == (
        "GET",
        "/items/{item_id}",
    )
    assert vendor.route_of(httpx.Request("POST", f"{BASE}/login")) == ("POST", "/login")
    assert vendor.route_of(httpx.Request("POST", f"{BASE}/items/1")) is None
    assert vendor.route_of(httpx.Request("GET", f"{BASE}/nope")) is None


def test_replay_keeps_the_latest_answers_of_a_bounded_number_of_paths(
    send: Send, vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_emulator, "_REPLAY_PATHS", 3)
    for n in range(5):
        send("GET", f"/items/{n}")
    send("GET", "/items/2", params={"again": "1"})
    vendor.faults.append(Fault(kind="replay", path="^/items/2$"))
    assert send("GET", "/items/2").json()["query"] == {"again": "1"}
    vendor.faults.append(Fault(kind="replay", path="^/items/0$"))
    # forgotten (the oldest of more than three paths): the real answer
    assert send("GET", "/items/0", params={"fresh": "1"}).json()["query"] == {"fresh": "1"}


def test_requests_to_filters_by_path_and_method(send: Send, vendor: Vendor) -> None:
    send("GET", "/items/1")
    send("GET", "/items/2", params={"q": "x"})
    send("POST", "/login", json={"user": "demo"})
    send("GET", "/sims")
    assert [r.url.path for r in vendor.requests_to("^/items/")] == ["/items/1", "/items/2"]
    assert [r.method for r in vendor.requests_to("/login")] == ["POST"]
    assert vendor.requests_to("/login", "GET") == []
    assert len(vendor.requests_to("/login", "post")) == 1
    assert len(vendor.requests_to("")) == 4
    assert vendor.requests_to("^/nothing$") == []


class SleepLog:
    """Stands in for ``time`` and ``asyncio`` in the emulator module: records, never waits."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sync: list[float] = []
        self.async_: list[float] = []
        monkeypatch.setattr(_emulator, "time", SimpleNamespace(sleep=self.sync.append))
        monkeypatch.setattr(_emulator, "asyncio", SimpleNamespace(sleep=self._async_sleep))

    async def _async_sleep(self, delay: float) -> None:
        self.async_.append(delay)


def test_latency_with_a_sync_client(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = SleepLog(monkeypatch)
    vendor = Vendor(latency=0.25)
    with httpx.Client(base_url=BASE, transport=vendor.transport()) as client:
        assert client.get("/nope").status_code == 404
        assert client.post("/login", json={"user": "demo"}).status_code == 201
    assert sleeps.sync == [0.25, 0.25]
    assert sleeps.async_ == []


async def test_latency_with_an_async_client_does_not_block_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps = SleepLog(monkeypatch)
    vendor = Vendor(latency=0.4)
    async with httpx.AsyncClient(base_url=BASE, transport=vendor.transport()) as client:
        assert (await client.get("/nope")).status_code == 404
    assert sleeps.async_ == [0.4]
    assert sleeps.sync == []


def test_no_latency_means_no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = SleepLog(monkeypatch)
    vendor = Vendor()
    with httpx.Client(base_url=BASE, transport=vendor.transport()) as client:
        client.get("/nope")
    assert sleeps.sync == []


def test_base_class_hooks_have_defaults() -> None:
    class Plain(Emulator):
        @route("GET", "/ping")
        def ping(self, request: EmulatorRequest) -> httpx.Response:
            return json_response({"pong": True})

    clock = FakeClock(0.0)
    plain = Plain(Fleet(0), rate_limit=RateWindow(1, per=0.3, clock=clock))
    with httpx.Client(base_url=BASE, transport=plain.transport()) as client:
        assert client.get("/ping").json() == {"pong": True}  # no authentication by default
        limited = client.get("/ping")
        assert limited.status_code == 429
        assert limited.json() == {"code": "rate_limited", "message": "Too many requests"}
        assert limited.headers["Retry-After"] == "1"  # never less than a second
        clock.now = 1.0
        missing = client.get("/pong")
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"


def _first_iccid(emulator: Emulator) -> str:
    return emulator.fleet.sorted_sims()[0].iccid


# -- serving on loopback -----------------------------------------------------------------


def test_served_emulator_answers_a_real_client() -> None:
    vendor = Vendor()
    with vendor.serve() as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert int(server.url.rsplit(":", 1)[1]) > 0
        with httpx.Client(base_url=server.url) as client:
            login = client.post("/login", json={"user": "demo"})
            assert login.status_code == 201
            token = login.json()["token"]
            item = client.get("/items/a%2Fb", params={"q": "x y"}, headers={"X-Token": token})
            assert item.status_code == 200
            assert item.json() == {"item": "a/b", "query": {"q": "x y"}}
            assert client.get("/items/1").status_code == 401
            missing = client.get("/nope", headers={"X-Token": token})
            assert missing.status_code == 404
            assert fault_body(missing)["code"] == "not_found"
            assert missing.headers["Content-Type"] == "application/json"
            assert int(missing.headers["Content-Length"]) == len(missing.content)
    assert [r.method for r in vendor.requests] == ["POST", "GET", "GET", "GET"]
    assert json.loads(vendor.requests[0].content) == {"user": "demo"}
    assert server._server.RequestHandlerClass.disable_nagle_algorithm is True


def test_served_emulator_stops_listening_when_the_block_ends() -> None:
    with Vendor().serve() as server:
        url = server.url
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.get(url + "/nope")


def test_toy_connector_lists_the_fleet_over_a_served_emulator(
    install_plugins: InstallPlugins,
) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    platform = ToyPlatform()
    with (
        platform.serve() as server,
        cdp_sdk.connect("toy", api_key=ToyPlatform.api_key, base_url=server.url) as toy,
    ):
        sims = list(toy.subscriptions())
        one = toy.subscription(sims[-1].iccid)
    assert [sim.iccid for sim in sims] == list(platform.fleet.sims)
    assert one == sims[-1]
    assert [r.url.path for r in platform.requests] == [
        "/auth",
        "/v1/sims",
        "/v1/sims",
        "/v1/sims",
        f"/v1/sims/{sims[-1].iccid}",
    ]


def test_served_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = SleepLog(monkeypatch)
    vendor = Vendor(latency=0.3)
    headers = {"X-Token": vendor.tokens.issue()}
    with vendor.serve() as server, httpx.Client(base_url=server.url, headers=headers) as client:
        vendor.faults.append(Fault(kind="drop"))
        with pytest.raises(httpx.TransportError):
            client.get("/sims")
        vendor.faults.append(Fault(kind="timeout"))
        with pytest.raises(httpx.TransportError):
            client.get("/sims")  # held (a recorded sleep here), then closed unanswered
        vendor.faults.append(Fault(kind="malformed"))
        broken = client.get("/sims")
        assert broken.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            broken.json()
        vendor.faults.append(Fault(status=429, retry_after=4))
        limited = client.get("/sims")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "4"
        assert client.get("/sims").json()["limit"] == 2
    assert sleeps.sync == [0.3, 0.3, 5.0, 0.3, 0.3, 0.3]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "[2001:db8::1]", "example.com"])
def test_serving_on_a_non_loopback_host_is_refused_before_binding(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_bind(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("tried to bind")

    monkeypatch.setattr(_emulator, "ThreadingHTTPServer", no_bind)
    monkeypatch.setattr(_emulator, "_IPv6Server", no_bind)
    with pytest.raises(ValueError, match="loopback"), Vendor().serve(host):
        pytest.fail("served on a non-loopback host")


def test_serving_on_localhost_binds_a_loopback_address() -> None:
    with Vendor().serve("localhost") as server:
        host = httpx.URL(server.url).host
        assert is_loopback(host)
        assert host != "localhost"
        with httpx.Client() as client:
            assert client.get(server.url + "/nope").status_code == 404


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_serving_on_ipv6_loopback(host: str) -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"this machine cannot bind ::1: {exc}")
    vendor = Vendor()
    token = vendor.tokens.issue()
    with vendor.serve(host) as server:
        assert re.fullmatch(r"http://\[::1\]:\d+", server.url)
        with httpx.Client(base_url=server.url) as client:
            answer = client.get("/items/v6", headers={"X-Token": token})
    assert answer.json()["item"] == "v6"


def test_listed_is_kept_until_the_fleet_changes() -> None:
    class Active(Vendor):
        def lists(self, iccid: str) -> bool:
            return self.fleet.sims[iccid].status is SimStatus.ACTIVE

    vendor = Active()
    fleet = vendor.fleet
    listed = vendor.listed()
    assert [sim.iccid for sim in listed] == [
        sim.iccid for sim in fleet.sorted_sims() if sim.status is SimStatus.ACTIVE
    ]
    assert vendor.listed() is listed
    revision = fleet.revision
    sim = next(sim for sim in fleet.sorted_sims() if sim.status is not SimStatus.ACTIVE)
    fleet.set_status(sim.iccid, SimStatus.ACTIVE, at=datetime(2024, 6, 15, tzinfo=UTC), actor="t")
    assert fleet.revision != revision
    assert sim in vendor.listed()
    assert [s.serial for s in vendor.listed()] == sorted(s.serial for s in vendor.listed())
