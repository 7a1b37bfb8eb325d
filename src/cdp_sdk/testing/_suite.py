"""The conformance suite: generated checks of a connector against its emulator or fixtures."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

import cdp_sdk
from cdp_sdk import (
    AsyncConnector,
    AuthenticationError,
    Capability,
    CdpError,
    ConflictError,
    Connector,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SimStatus,
    Subscription,
    TransientError,
    UnexpectedResponseError,
    UnsupportedCapabilityError,
)
from cdp_sdk.models import luhn_check_digit
from cdp_sdk.sandbox import Emulator, Fault, Fleet
from cdp_sdk.testing._record import ScenarioEmulator

__all__ = ["ConformanceSuite", "FakeSleep"]

SECRET_NAME = re.compile(r"key|secret|token|password|credential", re.IGNORECASE)

_ERROR_CASES = [
    pytest.param(401, AuthenticationError, id="401-authentication"),
    pytest.param(403, PermissionDeniedError, id="403-permission"),
    pytest.param(429, RateLimitedError, id="429-rate-limited"),
    pytest.param(500, TransientError, id="500-transient"),
    pytest.param(503, TransientError, id="503-transient"),
]


async def _no_wait(seconds: float) -> None:
    """Skips the client-side rate limiter's waits (the limiter is tested in the core)."""
    await asyncio.sleep(0)


class FakeSleep:
    """An async sleep that returns at once and remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


class ConformanceSuite:
    """The checks every connector must pass, driven by its declared capabilities.

    Subclass it in a module pytest collects, under a name starting with ``Test``, and set:

    - ``connector``: the entry-point name;
    - ``settings``: settings for :func:`cdp_sdk.connect` (credentials the emulator accepts);
    - the scenario source, one of:

      - ``emulator``: a callable taking a :class:`~cdp_sdk.sandbox.Fleet` and returning the
        vendor emulator; it must keep its SIMs in ``fleet`` and honour
        ``Emulator.max_page_size``. This runs every check.
      - ``scenario``: the path of a recorded scenario file (see
        :class:`~cdp_sdk.testing.Recorder`) holding a full ``subscriptions()`` listing and
        one ``subscription(iccid)``. This runs the checks that need no platform state
        (discovery, models of the listing, paging, error mapping, retries, parity,
        redaction) and skips the others with the reason.
    - optionally ``fleet_size``, ``fleet_seed``, ``fleet_options`` (more arguments of
      :class:`~cdp_sdk.sandbox.Fleet`, e.g. ``{"iccid_digits": 20}``), ``page_size``,
      ``tag_key`` and ``read_method``.

    Checks of an undeclared capability are skipped with the reason; a declared capability
    that raises :class:`~cdp_sdk.UnsupportedCapabilityError` fails.
    """

    connector: ClassVar[str]
    settings: ClassVar[Mapping[str, Any]] = {}
    emulator: ClassVar[Callable[[Fleet], Emulator] | None] = None
    scenario: ClassVar[str | Path | None] = None
    tag_key: ClassVar[str] = "conformance"
    """The tag written by the round-trip check (a custom-field slot on slot platforms)."""
    fleet_size: ClassVar[int] = 40
    fleet_seed: ClassVar[int] = 7
    fleet_options: ClassVar[Mapping[str, Any]] = {}
    """More arguments of :class:`~cdp_sdk.sandbox.Fleet` (ICCID prefix and length ...), over
    the emulator's own :attr:`~cdp_sdk.sandbox.Emulator.fleet_options`."""
    page_size: ClassVar[int] = 7
    read_method: ClassVar[str] = "GET"
    """The HTTP method of the platform's reads, which the error and retry checks make fail
    (``POST`` where look-ups are POSTs, as on Verizon ThingSpace)."""

    # -- fixtures -----------------------------------------------------------------------

    @pytest.fixture
    def fleet(self) -> Fleet:
        return self._fleet()

    @pytest.fixture
    def vendor(self, fleet: Fleet) -> Emulator:
        return self.make_vendor(fleet)

    def make_vendor(self, fleet: Fleet) -> Emulator:
        """The platform the checks run against: the emulator, or the recorded scenario."""
        if self.scenario is not None:
            return ScenarioEmulator(self.scenario)
        make = type(self).emulator
        if make is None:
            raise TypeError(f"{type(self).__name__} sets neither emulator nor scenario")
        emulator = make(fleet)
        emulator.max_page_size = self.page_size
        return emulator

    def needs_emulator(self) -> None:
        """Skip the current check when it runs on a recorded scenario."""
        if self.scenario is not None:
            pytest.skip("needs an emulator: a recorded scenario holds no fleet or state machine")

    @pytest.fixture
    def sleep(self) -> FakeSleep:
        return FakeSleep()

    @pytest.fixture
    def client(self, vendor: Emulator, sleep: FakeSleep) -> Iterator[Connector]:
        with self.connect(vendor, sleep) as connector:
            yield connector

    def connect(self, vendor: Emulator, sleep: FakeSleep, **overrides: Any) -> Connector:
        """A synchronous connector to ``vendor`` whose retries do not really sleep."""
        connector = cdp_sdk.connect(
            self.connector, transport=vendor.transport(), **{**self.settings, **overrides}
        )
        connector.plugin.http.sleep = sleep
        connector.plugin.http.limiter.sleep = _no_wait
        return connector

    def require(self, *capabilities: Capability) -> None:
        """Skip the current check unless the connector declares ``capabilities``."""
        declared = cdp_sdk.load_connector(self.connector).capabilities
        missing = [c.value for c in capabilities if c not in declared]
        if missing:
            pytest.skip(f"{self.connector} does not declare {', '.join(missing)}")

    # -- discovery ----------------------------------------------------------------------

    def test_discovery_entry_point_resolves(self) -> None:
        connector_class = cdp_sdk.load_connector(self.connector)
        assert connector_class.name == self.connector
        listed = {info.name: info for info in cdp_sdk.available_connectors()}
        assert self.connector in listed, "the connector is missing from available_connectors()"

    def test_discovery_info_is_complete(self) -> None:
        info = cdp_sdk.load_connector(self.connector).info()
        assert info.title.strip(), "title is empty"
        assert info.capabilities, "no capabilities declared"
        assert Capability.INCREMENTAL not in info.capabilities or (
            Capability.SUBSCRIPTIONS in info.capabilities
        ), "incremental without subscriptions"
        assert Capability.UPDATE_TAGS not in info.capabilities or (
            Capability.TAGS in info.capabilities
        ), "update_tags without tags"

    def test_discovery_secrets_are_secret_str(self) -> None:
        model = cdp_sdk.load_connector(self.connector).settings_model
        for name, field in model.model_fields.items():
            if SECRET_NAME.search(name) and name not in {"max_retries"}:
                assert field.annotation in (SecretStr, SecretStr | None), (
                    f"setting {name!r} looks secret but is not SecretStr"
                )

    def test_declared_capabilities_are_implemented(self, client: Connector, fleet: Fleet) -> None:
        self.needs_emulator()
        calls: dict[Capability, Callable[[], object]] = {
            Capability.SUBSCRIPTIONS: lambda: next(iter(client.subscriptions()), None),
            Capability.TARIFFS: lambda: list(client.tariffs()),
            Capability.USAGE: lambda: list(client.usage(self.sample_iccid(fleet))),
            Capability.INVOICES: lambda: list(client.invoices()),
            Capability.AUDIT_EVENTS: lambda: list(client.audit_events(self.sample_iccid(fleet))),
        }
        for capability, call in calls.items():
            if capability in client.capabilities:
                try:
                    call()
                except UnsupportedCapabilityError:
                    pytest.fail(f"{capability.value} is declared but raises unsupported")

    def test_undeclared_capabilities_raise_unsupported(self, client: Connector) -> None:
        calls: dict[Capability, Callable[[], object]] = {
            Capability.SUBSCRIPTIONS: lambda: client.subscriptions(),
            Capability.TARIFFS: lambda: client.tariffs(),
            Capability.USAGE: lambda: client.usage(),
            Capability.INVOICES: lambda: client.invoices(),
            Capability.AUDIT_EVENTS: lambda: client.audit_events(),
        }
        undeclared = [c for c in calls if c not in client.capabilities]
        if not undeclared:
            pytest.skip("every listing capability is declared")
        for capability in undeclared:
            with pytest.raises(UnsupportedCapabilityError):
                calls[capability]()

    # -- models -------------------------------------------------------------------------

    def test_models_subscriptions_are_valid(self, client: Connector, fleet: Fleet) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        sims = list(client.subscriptions())
        assert sims, "the platform listed no subscriptions"
        for sim in sims:
            assert sim.connector == self.connector
            assert self.scenario or sim.iccid in fleet.sims, "an ICCID that is not in the fleet"
            assert sim.status_raw, "status_raw must keep the vendor's value"
            for moment in (sim.created_at, sim.activated_at, sim.updated_at):
                assert moment is None or moment.utcoffset() == timedelta(0)
        one = client.subscription(sims[0].iccid)
        assert one.iccid == sims[0].iccid

    def test_models_activation_modes_are_consistent(self, client: Connector) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        modes = client.activation_modes()
        assert modes, "activation_modes() is empty"
        names = {mode.name for mode in modes}
        for mode in modes:
            assert mode.connector == self.connector
            assert set(mode.next) <= names, f"{mode.name} names an unknown next state"

    def test_models_tariffs_are_valid(self, client: Connector) -> None:
        self.require(Capability.TARIFFS)
        self.needs_emulator()
        for tariff in client.tariffs():
            assert tariff.connector == self.connector
            assert tariff.recurring_fee is None or isinstance(tariff.recurring_fee, Decimal)

    def test_models_usage_is_valid(self, client: Connector, fleet: Fleet) -> None:
        self.require(Capability.USAGE)
        self.needs_emulator()
        iccid = self.sample_iccid(fleet)
        end = datetime.combine(fleet.today, datetime.min.time(), tzinfo=UTC)
        records = list(client.usage(iccid, start=end - timedelta(days=7), end=end))
        for record in records:
            assert record.connector == self.connector
            assert record.quantity >= 0
            if record.start and record.end:
                assert record.start < record.end
            assert record.cost is None or isinstance(record.cost, Decimal)

    def test_models_invoices_are_valid(self, client: Connector) -> None:
        self.require(Capability.INVOICES)
        self.needs_emulator()
        for invoice in client.invoices():
            assert invoice.connector == self.connector
            assert isinstance(invoice.total, Decimal)
            assert invoice.period_start <= invoice.period_end

    def test_models_audit_events_are_valid(self, client: Connector, fleet: Fleet) -> None:
        self.require(Capability.AUDIT_EVENTS)
        self.needs_emulator()
        for event in client.audit_events(self.sample_iccid(fleet)):
            assert event.connector == self.connector
            assert event.occurred_at.utcoffset() == timedelta(0)

    # -- pagination ---------------------------------------------------------------------

    def test_pagination_consumes_every_page(
        self, client: Connector, vendor: Emulator, fleet: Fleet
    ) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        sims = list(client.subscriptions())
        ids = [sim.id for sim in sims]
        assert len(ids) == len(set(ids)), "a subscription was listed twice"
        if self.scenario is not None:
            return
        expected = {iccid for iccid in fleet.sims if vendor.lists(iccid)}
        assert {sim.iccid for sim in sims} == expected
        assert len(expected) > self.page_size, "fleet_size must exceed page_size"

    def test_pagination_loop_raises(self, client: Connector, vendor: Emulator) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        client.check()
        vendor.requests.clear()
        vendor.requests.clear()
        iterator = client.subscriptions()
        next(iterator)
        list_path = vendor.requests[0].url.path  # the listing's first call is its first page
        if self.scenario is not None:
            pages = len(vendor.requests_to(f"^{re.escape(list_path)}$")) + len(
                [r for r in _drain(iterator, vendor) if r.url.path == list_path]
            )
            if pages <= 1:
                pytest.skip("the recorded listing has a single page")
            iterator = client.subscriptions()
            next(iterator)
        vendor.faults.append(Fault(kind="replay", path=f"^{re.escape(list_path)}$"))
        with pytest.raises(UnexpectedResponseError, match="repeated"):
            list(iterator)

    # -- incremental --------------------------------------------------------------------

    def test_incremental_lists_only_changes(self, client: Connector, fleet: Fleet) -> None:
        self.require(Capability.SUBSCRIPTIONS, Capability.INCREMENTAL)
        self.needs_emulator()
        moments = sorted(sim.updated_at for sim in fleet.sims.values())
        since = moments[len(moments) // 2]
        changed = {sim.iccid for sim in client.subscriptions(modified_since=since)}
        expected = {sim.iccid for sim in fleet.sims.values() if sim.updated_at >= since}
        assert expected <= changed, "changed subscriptions are missing"
        assert len(changed) < len(fleet.sims), "modified_since was ignored"

    # -- status change ------------------------------------------------------------------

    def test_status_change_legal_transition(self, client: Connector, fleet: Fleet) -> None:
        self.require(Capability.CHANGE_STATUS)
        self.needs_emulator()
        iccid, target = self.transition(client, fleet, legal=True)
        change = client.change_status(iccid, target)
        assert change.iccid == iccid
        assert change.requested == target
        if change.state == "done" and Capability.SUBSCRIPTIONS in client.capabilities:
            assert client.subscription(iccid).status == target

    def test_status_change_illegal_transition_raises_conflict(
        self, client: Connector, fleet: Fleet
    ) -> None:
        self.require(Capability.CHANGE_STATUS)
        self.needs_emulator()
        iccid, target = self.transition(client, fleet, legal=False)
        with pytest.raises(ConflictError):
            client.change_status(iccid, target)

    # -- tags ---------------------------------------------------------------------------

    def test_tags_round_trip(self, client: Connector, fleet: Fleet) -> None:
        self.require(Capability.TAGS, Capability.UPDATE_TAGS, Capability.SUBSCRIPTIONS)
        self.needs_emulator()
        iccid, key = self.sample_iccid(fleet), self.tag_key
        labels_only = type(client.plugin).tag_rules.values == "none"
        client.update_tags(iccid, {key: None if labels_only else "conformance"})
        keys = {tag.key for tag in client.subscription(iccid).tags}
        assert key in keys
        client.update_tags(iccid, {}, remove=[key])
        assert key not in {tag.key for tag in client.subscription(iccid).tags}

    # -- errors and retries -------------------------------------------------------------

    @pytest.mark.parametrize(("status", "error"), _ERROR_CASES)
    def test_error_mapping(
        self,
        vendor: Emulator,
        sleep: FakeSleep,
        fleet: Fleet,
        status: int,
        error: type[CdpError],
    ) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        with self.connect(vendor, sleep, max_retries=0) as client:
            client.check()
            vendor.faults.append(Fault(status=status, method=self.read_method, times=2))
            with pytest.raises(error) as caught:
                self.probe(client, fleet)
        assert caught.value.connector == self.connector
        assert caught.value.status_code == status

    def test_error_unknown_iccid_is_not_found(self, client: Connector) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        self.needs_emulator()
        body = "8988303999999999" + "99"
        with pytest.raises(NotFoundError):
            client.subscription(body + str(luhn_check_digit(body)))

    def test_retry_429_then_success(
        self, client: Connector, vendor: Emulator, sleep: FakeSleep, fleet: Fleet
    ) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        client.check()
        vendor.faults.append(Fault(status=429, method=self.read_method, retry_after=2))
        assert self.probe(client, fleet)
        assert sleep.calls, "the 429 was not retried"

    def test_retry_503_then_success(
        self, client: Connector, vendor: Emulator, sleep: FakeSleep, fleet: Fleet
    ) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        client.check()
        vendor.faults.append(Fault(status=503, method=self.read_method))
        assert self.probe(client, fleet)
        assert len(sleep.calls) == 1

    def test_no_retry_of_a_non_idempotent_write(
        self, client: Connector, vendor: Emulator, fleet: Fleet, sleep: FakeSleep
    ) -> None:
        self.require(Capability.CHANGE_STATUS)
        self.needs_emulator()
        iccid, target = self.transition(client, fleet, legal=True)
        method, path = self.write_of(iccid, target, sleep)
        if method != "POST":
            # A PUT may be retried, and a connector may declare a PATCH that sets a value
            # idempotent: only a POST is never sent twice.
            pytest.skip(f"the status change is a {method}, not a POST")
        client.check()
        vendor.requests.clear()
        vendor.faults.append(
            Fault(status=500, method=method, path=f"^{re.escape(path)}$", times=10)
        )
        try:
            client.change_status(iccid, target)
        except TransientError:
            writes = [r for r in vendor.requests if (r.method, r.url.path) == (method, path)]
            assert len(writes) == 1, "the write was retried after the server received it"
        else:
            assert not [r for r in vendor.requests if (r.method, r.url.path) == (method, path)], (
                "the change went through a failing write"
            )

    # -- parity and privacy ---------------------------------------------------------------

    def test_sync_and_async_facades_agree(self, sleep: FakeSleep) -> None:
        self.require(Capability.SUBSCRIPTIONS)
        with self.connect(self.make_vendor(self._fleet()), sleep) as client:
            sync_result = self._read(client)

        async def run() -> list[Any]:
            vendor = self.make_vendor(self._fleet())
            async with cdp_sdk.connect_async(
                self.connector, transport=vendor.transport(), **self.settings
            ) as connector:
                connector.plugin.http.sleep = sleep
                connector.plugin.http.limiter.sleep = _no_wait
                return await self._aread(connector)

        assert asyncio.run(run()) == sync_result

    def test_redaction_keeps_secrets_and_identifiers_out_of_logs(
        self,
        vendor: Emulator,
        sleep: FakeSleep,
        fleet: Fleet,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        texts: list[str] = []
        with self.connect(vendor, sleep, max_retries=1) as client:
            seen = []
            for capability, call in self._reads(client, fleet).items():
                if capability in client.capabilities:
                    seen.append(call())
            vendor.faults.append(Fault(status=500, method=self.read_method, times=5))
            if Capability.SUBSCRIPTIONS in client.capabilities:
                with pytest.raises(CdpError) as caught:
                    self.probe(client, fleet)
                texts += [str(caught.value), repr(caught.value)]
        texts.append(caplog.text)
        model = cdp_sdk.load_connector(self.connector).settings_model
        secret_values = [
            str(self.settings[name])
            for name in model.secret_fields()
            if name in self.settings and len(str(self.settings[name])) >= 6
        ]
        blob = "\n".join(texts)
        for secret in secret_values:
            assert secret not in blob, "a secret reached a log line or an error"
        iccids = {sim.iccid for result in seen for sim in _subscriptions_in(result)}
        for iccid in sorted(iccids | set(list(fleet.sims)[:10])):
            assert iccid not in blob, "an ICCID reached a log line or an error"

    # -- helpers ------------------------------------------------------------------------

    def probe(self, client: Connector, fleet: Fleet) -> Any:
        """One read that the error and retry checks make fail: a SIM by ICCID, or on a
        recorded scenario the listing."""
        if self.scenario is not None:
            return list(client.subscriptions())
        return client.subscription(self.sample_iccid(fleet))

    def write_of(self, iccid: str, target: SimStatus, sleep: FakeSleep) -> tuple[str, str]:
        """The method and path of the call that makes a status change: the last request
        of the same change on a twin of the platform (reads made before it, which may
        be POSTs, are not the write)."""
        twin = self.make_vendor(self._fleet())
        with self.connect(twin, sleep) as twin_client:
            twin_client.check()
            twin.requests.clear()
            twin_client.change_status(iccid, target)
        if not twin.requests:
            pytest.fail("change_status made no request")
        last = twin.requests[-1]
        return last.method, last.url.path

    def sample_iccid(self, fleet: Fleet) -> str:
        """A SIM of the fleet that is in service (active where possible)."""
        sims = fleet.sorted_sims()
        active = [sim for sim in sims if sim.status is SimStatus.ACTIVE]
        return (active or sims)[0].iccid

    def transition(self, client: Connector, fleet: Fleet, *, legal: bool) -> tuple[str, SimStatus]:
        """A SIM (as the platform shows it) and a target status that the vendor's state
        machine allows (or refuses)."""
        modes = client.activation_modes()
        status_of = {mode.name: mode.status for mode in modes}
        reachable: dict[SimStatus, set[SimStatus]] = {}
        for mode in modes:
            targets = {
                status_of[name]
                for name in mode.next
                if any(m.name == name and m.settable for m in modes)
            }
            reachable.setdefault(mode.status, set()).update(targets)
        settable = {mode.status for mode in modes if mode.settable}
        if Capability.SUBSCRIPTIONS in client.capabilities:
            seen = [(sim.iccid, sim.status) for sim in client.subscriptions()]
        else:
            seen = [(sim.iccid, sim.status) for sim in fleet.sorted_sims()]
        for iccid, status in seen:
            allowed = reachable.get(status, set()) - {status, SimStatus.RETIRED}
            if legal and allowed:
                return iccid, sorted(allowed)[0]
            refused = settable - reachable.get(status, set())
            refused -= {status, SimStatus.RETIRED, SimStatus.UNKNOWN}
            if not legal and refused:
                return iccid, sorted(refused)[0]
        pytest.skip(f"no {'legal' if legal else 'illegal'} transition found in the fleet")

    def _fleet(self) -> Fleet:
        platform = getattr(type(self).emulator, "fleet_options", {})  # a class, or a factory
        options = {**platform, **self.fleet_options}
        return Fleet(self.fleet_size, seed=self.fleet_seed, **options)

    def _reads(self, client: Connector, fleet: Fleet) -> dict[Capability, Callable[[], Any]]:
        if self.scenario is not None:
            return {Capability.SUBSCRIPTIONS: lambda: list(client.subscriptions())}
        iccid = self.sample_iccid(fleet)
        return {
            Capability.SUBSCRIPTIONS: lambda: (
                list(client.subscriptions()),
                client.subscription(iccid),
            ),
            Capability.TARIFFS: lambda: list(client.tariffs()),
            Capability.USAGE: lambda: list(client.usage(iccid)),
            Capability.INVOICES: lambda: list(client.invoices()),
            Capability.AUDIT_EVENTS: lambda: list(client.audit_events(iccid)),
        }

    def _read(self, client: Connector) -> list[Any]:
        fleet = self._fleet()
        return [
            call()
            for capability, call in self._reads(client, fleet).items()
            if capability in client.capabilities
        ]

    async def _aread(self, connector: AsyncConnector) -> list[Any]:
        if self.scenario is not None:
            return [[s async for s in connector.subscriptions()]]
        iccid = self.sample_iccid(self._fleet())
        results: list[Any] = []
        capabilities = connector.capabilities
        if Capability.SUBSCRIPTIONS in capabilities:
            results.append(
                ([s async for s in connector.subscriptions()], await connector.subscription(iccid))
            )
        if Capability.TARIFFS in capabilities:
            results.append([t async for t in connector.tariffs()])
        if Capability.USAGE in capabilities:
            results.append([u async for u in connector.usage(iccid)])
        if Capability.INVOICES in capabilities:
            results.append([i async for i in connector.invoices()])
        if Capability.AUDIT_EVENTS in capabilities:
            results.append([e async for e in connector.audit_events(iccid)])
        return results


def _subscriptions_in(result: Any) -> list[Subscription]:
    items = result if isinstance(result, list | tuple) else [result]
    found: list[Subscription] = []
    for item in items:
        if isinstance(item, Subscription):
            found.append(item)
        elif isinstance(item, list | tuple):
            found.extend(_subscriptions_in(item))
    return found


def _drain(iterator: Iterator[Any], vendor: Emulator) -> list[Any]:
    """Consume ``iterator`` and return the requests it made."""
    before = len(vendor.requests)
    for _ in iterator:
        pass
    return vendor.requests[before:]
