"""The built-in sandbox connector: mapping, windows, filters and the in-process default."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import cdp_sdk
from cdp_sdk import Bearer, Granularity, InvalidRequestError, SimStatus, UnexpectedResponseError
from cdp_sdk.connectors.sandbox import SandboxEmulator, mapping
from cdp_sdk.sandbox import Fault, Fleet, FleetSim

RECORD = {
    "iccid": "8988303000000000010",
    "imsi": "901430000000001",
    "msisdn": "+8823400000001",
    "status": "live",
    "plan_id": "plan-s",
    "created_at": "2023-06-19T10:00:48Z",
    "updated_at": "2023-08-31T10:00:48Z",
    "tags": {"fleet": "trucks", "blue": None},
}


def test_subscription_mapping() -> None:
    sim = mapping.to_subscription(RECORD)
    assert sim.status is SimStatus.ACTIVE
    assert sim.status_raw == "live"
    assert sim.msisdn == "8823400000001"
    assert sim.tags == (cdp_sdk.Tag(key="blue"), cdp_sdk.Tag(key="fleet", value="trucks"))
    assert sim.updated_at == datetime(2023, 8, 31, 10, 0, 48, tzinfo=UTC)


def test_drifted_payloads() -> None:
    unknown = mapping.to_subscription({**RECORD, "status": "hibernating", "new_field": 1})
    assert unknown.status is SimStatus.UNKNOWN
    assert unknown.status_raw == "hibernating"
    minimal = mapping.to_subscription({"iccid": RECORD["iccid"], "status": "paused"})
    assert minimal.tags == ()
    with pytest.raises(KeyError):
        mapping.to_subscription({"status": "live"})
    with pytest.raises(ValueError, match="missing status"):
        mapping.to_subscription({**RECORD, "status": None})


def test_activation_modes_table_is_consistent() -> None:
    names = {mode.name for mode in mapping.ACTIVATION_MODES}
    assert names == set(mapping.STATUS)
    for mode in mapping.ACTIVATION_MODES:
        assert set(mode.next) <= names
    live = next(mode for mode in mapping.ACTIVATION_MODES if mode.name == "live")
    assert live.billable is True
    assert live.status is SimStatus.ACTIVE


def test_usage_rows_are_tidy_and_skip_zeros() -> None:
    today = datetime(2024, 6, 15, tzinfo=UTC)
    row = {"date": "2024-06-14", "data_up_bytes": 10, "data_down_bytes": 0, "sms_mo": 2}
    records = mapping.to_usage("8988303000000000010", row, today=today)
    assert [(r.bearer, r.direction, r.quantity) for r in records] == [
        (Bearer.DATA, cdp_sdk.Direction.MO, 10),
        (Bearer.SMS, cdp_sdk.Direction.MO, 2),
    ]
    assert all(r.final and r.granularity is Granularity.DAY for r in records)
    assert not mapping.to_usage(None, {**row, "date": "2024-06-15"}, today=today)[0].final


def test_invoice_mapping_keeps_decimals() -> None:
    invoice = mapping.to_invoice(
        {
            "number": "INV-1",
            "period": {"from": "2024-04-01", "to": "2024-04-30"},
            "currency": "EUR",
            "total": "12.50",
            "state": "closed",
            "lines": [{"text": "fee", "amount": "12.50", "quantity": "5", "unit_price": "2.50"}],
        }
    )
    assert invoice.total == Decimal("12.50")
    assert invoice.lines[0].unit_price == Decimal("2.50")
    assert invoice.period_end == date(2024, 4, 30)


def test_default_connects_in_process_without_network() -> None:
    with cdp_sdk.connect("sandbox", fleet_size=5, seed=1) as sandbox:
        assert len(list(sandbox.subscriptions())) == 5
        emulator = sandbox.plugin.emulator  # type: ignore[attr-defined]
        assert isinstance(emulator, SandboxEmulator)
        assert {r.url.host for r in emulator.requests} == {"sandbox.cdp-sdk.invalid"}


def test_usage_longer_than_the_vendor_window_is_split() -> None:
    emulator = SandboxEmulator(Fleet(3, seed=2))
    with cdp_sdk.connect(
        "sandbox", base_url="https://sandbox.example.test", transport=emulator.transport()
    ) as sandbox:
        iccid = next(iter(sandbox.subscriptions())).iccid
        records = list(sandbox.usage(iccid, start=date(2023, 1, 1), end=date(2024, 6, 1)))
    calls = emulator.requests_to("/usage$")
    assert len(calls) == 2
    assert calls[0].url.params["from"] == "2023-01-01"
    assert calls[1].url.params["to"] == "2024-06-01"
    assert all(date(2023, 1, 1) <= r.start.date() < date(2024, 6, 1) for r in records if r.start)


def test_invoices_filter_by_period_overlap() -> None:
    with cdp_sdk.connect("sandbox", fleet_size=5, today=date(2024, 6, 15)) as sandbox:
        invoices = list(sandbox.invoices(start=date(2024, 4, 15), end=date(2024, 5, 2)))
    assert [i.id for i in invoices] == ["INV-202404", "INV-202405"]


def test_the_default_today_is_the_current_date() -> None:
    # So that a default `cdp sync` of `cdp sandbox serve` finds recent usage and invoices.
    today = datetime.now(UTC).date()
    with cdp_sdk.connect("sandbox", fleet_size=5) as sandbox:
        assert sandbox.settings.today in (today, today + timedelta(days=1))  # type: ignore[attr-defined]
        invoices = list(sandbox.invoices())
        usage = list(sandbox.usage(start=today - timedelta(days=7)))
    assert max(i.period_end for i in invoices) >= today
    assert usage
    assert all(r.start and r.start.date() >= today - timedelta(days=7) for r in usage)


def test_hourly_usage_is_refused() -> None:
    with cdp_sdk.connect("sandbox", fleet_size=1) as sandbox, pytest.raises(InvalidRequestError):
        list(sandbox.usage(granularity="hour"))


class DriftedEmulator(SandboxEmulator):
    """Answers SIM records whose ``tags`` drifted from a map to a list."""

    def _sim(self, sim: FleetSim) -> dict[str, Any]:
        return {**super()._sim(sim), "tags": ["blue"]}


@pytest.mark.parametrize(("strict", "listed"), [(True, None), (False, 0)])
def test_malformed_vendor_record_names_the_endpoint(strict: bool, listed: int | None) -> None:
    emulator = DriftedEmulator(Fleet(4, seed=3))
    with cdp_sdk.connect(
        "sandbox",
        base_url="https://sandbox.example.test",
        transport=emulator.transport(),
        strict=strict,
    ) as sandbox:
        if strict:
            with pytest.raises(UnexpectedResponseError, match="GET /v1/sims"):
                list(sandbox.subscriptions())
        else:
            assert len(list(sandbox.subscriptions())) == listed
            assert sandbox.plugin.skipped_records == 4


def test_a_truncated_body_is_an_unexpected_response() -> None:
    emulator = SandboxEmulator(Fleet(4, seed=3))
    emulator.faults.append(Fault(kind="malformed", path="/v1/sims$"))
    with (
        cdp_sdk.connect(
            "sandbox", base_url="https://sandbox.example.test", transport=emulator.transport()
        ) as sandbox,
        pytest.raises(UnexpectedResponseError, match="not JSON"),
    ):
        list(sandbox.subscriptions())


class OneBadRecordEmulator(SandboxEmulator):
    """Answers the third SIM of the fleet without its ICCID."""

    def _sim(self, sim: FleetSim) -> dict[str, Any]:
        record = super()._sim(sim)
        if sim.serial == 3:
            del record["iccid"]
        return record


def test_sync_listing_hands_over_records_before_the_bad_one_then_raises() -> None:
    emulator = OneBadRecordEmulator(Fleet(6, seed=3))
    with cdp_sdk.connect(
        "sandbox", base_url="https://sandbox.example.test", transport=emulator.transport()
    ) as sandbox:
        iterator = sandbox.subscriptions()
        first, second = next(iterator), next(iterator)
        assert [first.iccid, second.iccid] == [s.iccid for s in emulator.fleet.sorted_sims()[:2]]
        with pytest.raises(UnexpectedResponseError, match="'iccid'"):
            next(iterator)
        assert list(iterator) == []


async def test_async_listing_gives_whole_pages_and_records_alike() -> None:
    emulator = SandboxEmulator(Fleet(7, seed=3))
    emulator.max_page_size = 3
    async with cdp_sdk.connect_async(
        "sandbox", base_url="https://sandbox.example.test", transport=emulator.transport()
    ) as sandbox:
        listing = sandbox.subscriptions()
        first = await anext(listing)
        rest_of_page = await listing.next_batch()  # type: ignore[attr-defined]
        next_page = await listing.next_batch()  # type: ignore[attr-defined]
        last = [sim async for sim in listing]
    iccids = [s.iccid for s in emulator.fleet.sorted_sims()]
    assert [first.iccid] + [s.iccid for s in rest_of_page] == iccids[:3]
    assert [s.iccid for s in next_page] == iccids[3:6]
    assert [s.iccid for s in last] == iccids[6:]


def test_listings_ask_for_the_largest_pages_the_api_serves() -> None:
    emulator = SandboxEmulator(Fleet(1201, seed=3))
    with cdp_sdk.connect(
        "sandbox", base_url="https://sandbox.example.test", transport=emulator.transport()
    ) as sandbox:
        assert len(list(sandbox.subscriptions())) == 1201
        list(sandbox.audit_events())
    pages = emulator.requests_to("/v1/sims$")
    assert [dict(r.url.params) for r in pages] == [
        {"page": str(n), "page_size": "500"} for n in (1, 2, 3)
    ]
    assert {r.url.params["limit"] for r in emulator.requests_to("/v1/events$")} == {"1000"}
    assert emulator.page_maxima == {("GET", "/v1/sims"): 500, ("GET", "/v1/events"): 1000}


def test_incremental_pages_list_exactly_the_changed_sims_in_serial_order() -> None:
    emulator = SandboxEmulator(Fleet(40, seed=3))
    emulator.max_page_size = 4
    sims = emulator.fleet.sorted_sims()
    since = max(sim.updated_at for sim in sims)
    changed = [sims[30], sims[2], sims[17]]
    for n, sim in enumerate(changed, start=1):
        emulator.fleet.set_tags(sim.iccid, {"n": str(n)}, at=since.replace(year=2030), actor="t")
    with cdp_sdk.connect(
        "sandbox", base_url="https://sandbox.example.test", transport=emulator.transport()
    ) as sandbox:
        changes = sandbox.subscriptions(modified_since=datetime(2029, 1, 1, tzinfo=UTC))
        listed = [s.iccid for s in changes]
    assert listed == [sims[2].iccid, sims[17].iccid, sims[30].iccid]
