"""The sandbox connector reads back exactly what the sandbox platform holds.

The sandbox is cdp-sdk's own platform: its fleet (``cdp_sdk.sandbox.Fleet``) is the source
of truth, the emulator its documented API. Each test compares what a user reads through
``cdp_sdk.connect("sandbox")`` with the fleet's own records, field by field.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

import cdp_sdk
from cdp_sdk import AuditKind, Bearer, Direction, SimStatus
from cdp_sdk.connectors.sandbox import mapping
from cdp_sdk.sandbox import Fleet

TODAY = date(2024, 6, 15)


@pytest.fixture
def sandbox() -> Iterator[cdp_sdk.Connector]:
    with cdp_sdk.connect("sandbox", fleet_size=12, seed=7, today=TODAY) as connected:
        yield connected


def fleet_of(sandbox: cdp_sdk.Connector) -> Fleet:
    return sandbox.plugin.emulator.fleet  # type: ignore[attr-defined, no-any-return]


def test_every_sim_field_is_the_fleet_s(sandbox: cdp_sdk.Connector) -> None:
    fleet = fleet_of(sandbox)
    read = {sub.iccid: sub for sub in sandbox.subscriptions()}
    assert set(read) == {sim.iccid for sim in fleet.sorted_sims()}
    for sim in fleet.sorted_sims():
        sub = read[sim.iccid]
        assert (sub.id, sub.imsi, sub.msisdn.lstrip("+") if sub.msisdn else None) == (
            sim.iccid,
            sim.imsi,
            sim.msisdn.lstrip("+"),
        )
        assert (sub.imei, sub.eid, sub.ip_address) == (sim.imei, sim.eid, sim.ip_address)
        assert (sub.status, sub.tariff) == (sim.status, sim.tariff_id)
        assert (sub.created_at, sub.activated_at, sub.updated_at) == (
            sim.created_at,
            sim.activated_at,
            sim.updated_at,
        )
        assert {t.key: t.value for t in sub.tags} == sim.tags


def test_a_fleet_with_esims_and_imeis_shows_them(sandbox: cdp_sdk.Connector) -> None:
    subs = list(sandbox.subscriptions())
    assert any(sub.imei for sub in subs)
    assert any(sub.activated_at for sub in subs)


def test_every_tariff_is_the_fleet_s(sandbox: cdp_sdk.Connector) -> None:
    fleet = fleet_of(sandbox)
    read = {t.id: t for t in sandbox.tariffs()}
    assert set(read) == {t.id for t in fleet.tariffs}
    for plan in fleet.tariffs:
        tariff = read[plan.id]
        assert (tariff.connector, tariff.name, tariff.currency) == (
            "sandbox",
            plan.name,
            plan.currency,
        )
        assert tariff.recurring_fee == plan.monthly_fee
        assert tariff.included_data_bytes == plan.included_data_bytes
        assert tariff.included_sms == plan.included_sms
        assert tariff.extra == {"overage_per_mb": str(plan.overage_per_mb)}


def test_included_data_is_counted_in_decimal_megabytes() -> None:
    record = {"id": "p", "name": "P", "included": {"data_mb": 5, "sms": 10}}
    tariff = mapping.to_tariff(record)
    assert (tariff.included_data_bytes, tariff.included_sms) == (5_000_000, 10)
    bare = mapping.to_tariff({"id": "q", "name": "Q"})
    assert (bare.included_data_bytes, bare.included_sms, bare.recurring_fee) == (None, None, None)


def test_every_invoice_is_the_fleet_s(sandbox: cdp_sdk.Connector) -> None:
    fleet = fleet_of(sandbox)
    read = {inv.id: inv for inv in sandbox.invoices()}
    assert set(read) == {inv.id for inv in fleet.invoices()}
    for held in fleet.invoices():
        invoice = read[held.id]
        assert (invoice.connector, invoice.currency, invoice.total) == (
            "sandbox",
            held.currency,
            held.total,
        )
        assert (invoice.period_start, invoice.period_end) == (held.period_start, held.period_end)
        assert (invoice.issued_at, invoice.due_at) == (held.issued_at, held.due_at)
        assert invoice.status == ("closed" if held.closed else "open")
        assert [
            (line.description, line.category, line.quantity, line.unit_price, line.amount)
            for line in invoice.lines
        ] == [
            (line.description, line.category, line.quantity, line.unit_price, line.amount)
            for line in held.lines
        ]
    assert any(inv.lines for inv in read.values())
    assert any(inv.issued_at for inv in read.values())


def test_every_audit_event_is_the_fleet_s(sandbox: cdp_sdk.Connector) -> None:
    fleet = fleet_of(sandbox)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    end = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    read = list(sandbox.audit_events(start=start, end=end))
    held = fleet.audit_events(iccid=None, since=start, until=end)
    assert read
    assert len(read) == len(held)

    def vendor(field: str, value: str | None) -> str | None:
        return mapping.STATE_FOR[SimStatus(value)] if field == "status" and value else value

    assert [
        (e.id, e.iccid, e.occurred_at, e.kind, e.field, e.old_value, e.new_value, e.actor)
        for e in read
    ] == [
        (
            a.id,
            a.iccid,
            a.occurred_at,
            a.kind,
            a.field,
            vendor(a.field, a.old_value),
            vendor(a.field, a.new_value),
            a.actor,
        )
        for a in held
    ]


def test_an_event_of_a_kind_the_sandbox_does_not_name_is_other() -> None:
    event = mapping.to_audit_event({"id": 1, "at": "2024-06-01T00:00:00Z", "type": "odd"})
    assert (event.id, event.kind, event.connector) == ("1", AuditKind.OTHER, "sandbox")
    untyped = mapping.to_audit_event({"id": 2, "at": "2024-06-01T00:00:00Z"})
    assert untyped.kind is AuditKind.OTHER


def test_voice_is_read_in_seconds_each_way() -> None:
    row = {"date": "2024-06-14", "voice_mo_seconds": 90, "voice_mt_seconds": 30, "sms_mt": 1}
    records = mapping.to_usage("8988303000000000010", row, today=datetime(2024, 6, 15, tzinfo=UTC))
    assert [(r.bearer, r.direction, r.quantity, r.unit) for r in records] == [
        (Bearer.SMS, Direction.MT, 1, "messages"),
        (Bearer.VOICE, Direction.MO, 90, "seconds"),
        (Bearer.VOICE, Direction.MT, 30, "seconds"),
    ]
    first = records[0]
    assert (first.start, first.end, first.connector, first.iccid) == (
        datetime(2024, 6, 14, tzinfo=UTC),
        datetime(2024, 6, 15, tzinfo=UTC),
        "sandbox",
        "8988303000000000010",
    )
    assert first.final


def test_usage_read_through_the_api_sums_to_the_fleet_s(sandbox: cdp_sdk.Connector) -> None:
    fleet = fleet_of(sandbox)
    sim = fleet.sorted_sims()[0]
    start, end = date(2024, 5, 1), date(2024, 6, 1)
    read = list(sandbox.usage(sim.iccid, start=start, end=end))
    days = fleet.usage_days(sim.iccid, start, end)
    totals = {
        (Bearer.DATA, Direction.MO): sum(d.data_mo_bytes for d in days),
        (Bearer.DATA, Direction.MT): sum(d.data_mt_bytes for d in days),
        (Bearer.SMS, Direction.MO): sum(d.sms_mo for d in days),
        (Bearer.SMS, Direction.MT): sum(d.sms_mt for d in days),
        (Bearer.VOICE, Direction.MO): sum(d.voice_mo_seconds for d in days),
        (Bearer.VOICE, Direction.MT): sum(d.voice_mt_seconds for d in days),
    }
    for key, total in totals.items():
        assert sum(r.quantity for r in read if (r.bearer, r.direction) == key) == total
    assert all(r.final for r in read)


def test_the_sandbox_states_follow_the_normalized_definitions() -> None:
    # stopped is "Service off, not billed" (deactivated); paused is "Service blocked, fee
    # still due" (suspended); terminated is the end of life.
    flags = {
        mode.name: (mode.status, mode.billable, mode.auto_activates, mode.settable)
        for mode in mapping.ACTIVATION_MODES
    }
    assert flags == {
        "provisioned": (SimStatus.INVENTORY, False, False, False),
        "trial": (SimStatus.TEST, False, True, True),
        "activation_ready": (SimStatus.READY, False, True, True),
        "live": (SimStatus.ACTIVE, True, False, True),
        "paused": (SimStatus.SUSPENDED, True, False, True),
        "stopped": (SimStatus.DEACTIVATED, False, False, True),
        "terminated": (SimStatus.RETIRED, False, False, True),
    }
