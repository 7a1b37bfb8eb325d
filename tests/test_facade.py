"""The sync and async facades over a connector: behaviour, parity and argument checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

import cdp_sdk
from cdp_sdk import (
    AsyncConnector,
    Capability,
    ClosedError,
    ConflictError,
    Connector,
    Granularity,
    InvalidRequestError,
    NotFoundError,
    SimStatus,
    UnexpectedResponseError,
    UnsupportedCapabilityError,
)
from conftest import InstallPlugins
from toy_connector import ToyPlatform, make_iccid


@pytest.fixture(autouse=True)
def _toy_installed(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})


@pytest.fixture
def toy(toy_platform: ToyPlatform) -> Iterator[Connector]:
    with cdp_sdk.connect(
        "toy", api_key=toy_platform.api_key, transport=toy_platform.transport()
    ) as connector:
        yield connector


def request_log(platform: ToyPlatform) -> list[tuple[str, str]]:
    return [(r.method, str(r.url)) for r in platform.requests]


def run_scenario_sync(platform: ToyPlatform) -> list[object]:
    first = make_iccid(1)
    with cdp_sdk.connect("toy", api_key=platform.api_key, transport=platform.transport()) as toy:
        return [
            list(toy.subscriptions()),
            list(toy.subscriptions(modified_since=date(2024, 5, 4))),
            toy.subscription(first),
            toy.activation_modes(),
            toy.change_status(first, SimStatus.SUSPENDED),
            toy.update_tags(first, {"blue": None}, remove=["fleet-a"]),
            toy.subscription(first),
            list(toy.usage(first, start=date(2024, 5, 1), end=date(2024, 5, 2))),
        ]


async def run_scenario_async(platform: ToyPlatform) -> list[object]:
    first = make_iccid(1)
    async with cdp_sdk.connect_async(
        "toy", api_key=platform.api_key, transport=platform.transport()
    ) as toy:
        return [
            [sim async for sim in toy.subscriptions()],
            [sim async for sim in toy.subscriptions(modified_since=date(2024, 5, 4))],
            await toy.subscription(first),
            await toy.activation_modes(),
            await toy.change_status(first, SimStatus.SUSPENDED),
            await toy.update_tags(first, {"blue": None}, remove=["fleet-a"]),
            await toy.subscription(first),
            [r async for r in toy.usage(first, start=date(2024, 5, 1), end=date(2024, 5, 2))],
        ]


def test_sync_and_async_give_identical_results_and_requests() -> None:
    frozen = datetime(2024, 6, 1, tzinfo=UTC).timestamp
    sync_platform, async_platform = ToyPlatform(clock=frozen), ToyPlatform(clock=frozen)
    sync_result = run_scenario_sync(sync_platform)
    async_result = asyncio.run(run_scenario_async(async_platform))
    assert sync_result == async_result
    assert request_log(sync_platform) == request_log(async_platform)
    listed = sync_result[0]
    assert isinstance(listed, list)
    assert len(listed) == 5
    assert sync_result[6].tags == (cdp_sdk.Tag(key="blue"),)  # type: ignore[attr-defined]


async def test_sync_facade_works_inside_a_running_event_loop(toy_platform: ToyPlatform) -> None:
    asyncio.get_running_loop()  # as in a Jupyter cell
    with cdp_sdk.connect(
        "toy", api_key=toy_platform.api_key, transport=toy_platform.transport()
    ) as toy:
        sims = list(toy.subscriptions())
    assert len(sims) == 5


def test_listing_streams_page_by_page(toy: Connector, toy_platform: ToyPlatform) -> None:
    iterator = toy.subscriptions()
    assert toy_platform.requests == []
    next(iterator)
    pages_fetched = [r for r in toy_platform.requests if r.url.path == "/v1/sims"]
    assert len(pages_fetched) == 1
    rest = list(iterator)
    assert len(rest) == 4
    assert len([r for r in toy_platform.requests if r.url.path == "/v1/sims"]) == 3


def test_incremental_listing_passes_modified_since(
    toy: Connector, toy_platform: ToyPlatform
) -> None:
    since = datetime(2024, 5, 4, 12, tzinfo=timezone(timedelta(hours=2)))
    sims = list(toy.subscriptions(modified_since=since))
    assert [s.iccid for s in sims] == [make_iccid(4), make_iccid(5)]
    sent = toy_platform.requests[-1].url.params["changed_since"]
    assert sent == "2024-05-04T10:00:00+00:00"


def test_connect_makes_no_call_and_check_forces_login(toy_platform: ToyPlatform) -> None:
    toy = cdp_sdk.connect("toy", api_key=toy_platform.api_key, transport=toy_platform.transport())
    try:
        assert toy_platform.requests == []
        toy.check()
        assert toy_platform.logins == 1
        toy.check()
        assert toy_platform.logins == 2
    finally:
        toy.close()


def test_check_with_wrong_key_raises_authentication_error(toy_platform: ToyPlatform) -> None:
    with (
        cdp_sdk.connect("toy", api_key="wrong-key-123", transport=toy_platform.transport()) as toy,
        pytest.raises(cdp_sdk.AuthenticationError) as caught,
    ):
        toy.check()
    assert caught.value.status_code == 401
    assert caught.value.vendor_code == "BAD_KEY"
    assert caught.value.connector == "toy"


def test_unknown_iccid_raises_not_found(toy: Connector) -> None:
    with pytest.raises(NotFoundError) as caught:
        toy.subscription(make_iccid(999))
    assert caught.value.status_code == 404


def test_illegal_transition_raises_conflict(toy: Connector) -> None:
    with pytest.raises(ConflictError) as caught:
        toy.change_status(make_iccid(2), SimStatus.SUSPENDED)  # NEW -> OFF is not allowed
    assert caught.value.vendor_code == "ILLEGAL_TRANSITION"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.subscription("1234"), "18 to 22 digits"),
        (lambda c: c.subscription("8988303000000000x17"), "18 to 22 digits"),
        (lambda c: c.change_status(make_iccid(1), "asleep"), "unknown status 'asleep'"),
        (lambda c: c.change_status(make_iccid(1), SimStatus.UNKNOWN), "'unknown'"),
        (lambda c: c.change_status(make_iccid(1), SimStatus.RETIRED), "confirm_irreversible"),
        (lambda c: c.usage(make_iccid(1), start=datetime(2024, 5, 1)), "timezone-aware"),
        (lambda c: c.usage(make_iccid(1), start=date(2024, 5, 2), end=date(2024, 5, 1)), "before"),
        (lambda c: c.usage(make_iccid(1), granularity="fortnight"), "unknown granularity"),
        (lambda c: c.update_tags(make_iccid(1), {"": "x"}), "non-empty"),
        (lambda c: c.update_tags(make_iccid(1), {"a": 1}), "must be a string"),
        (lambda c: c.update_tags(make_iccid(1), {"a": "x"}, remove=["a"]), "both set and removed"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    toy: Connector, toy_platform: ToyPlatform, call: object, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        call(toy)  # type: ignore[operator]
    assert caught.value.connector == "toy"
    assert toy_platform.requests == []


def test_retiring_with_confirmation_reaches_the_platform(
    toy: Connector, toy_platform: ToyPlatform
) -> None:
    # ON -> DEAD is not a move the toy platform allows; STOPPED -> DEAD is.
    with pytest.raises(ConflictError):
        toy.change_status(make_iccid(1), SimStatus.RETIRED, confirm_irreversible=True)
    toy.change_status(make_iccid(1), SimStatus.DEACTIVATED)
    change = toy.change_status(make_iccid(1), SimStatus.RETIRED, confirm_irreversible=True)
    assert change.requested is SimStatus.RETIRED
    assert toy.subscription(make_iccid(1)).status is SimStatus.RETIRED
    assert [r.method for r in toy_platform.requests].count("PUT") == 3


@pytest.mark.parametrize(
    ("call", "capability"),
    [
        (lambda c: c.tariffs(), "tariffs"),
        (lambda c: c.invoices(), "invoices"),
        (lambda c: c.audit_events(), "audit_events"),
    ],
)
def test_undeclared_capability_raises_unsupported(
    toy: Connector, call: object, capability: str
) -> None:
    with pytest.raises(UnsupportedCapabilityError, match=capability) as caught:
        call(toy)  # type: ignore[operator]
    assert caught.value.connector == "toy"


def test_strict_mode_raises_on_unmappable_record(toy: Connector, toy_platform: ToyPlatform) -> None:
    toy_platform.malformed.add(make_iccid(3))
    with pytest.raises(UnexpectedResponseError) as caught:
        list(toy.subscriptions())
    message = str(caught.value)
    assert "GET /v1/sims" in message
    assert "'iccid'" in message


def test_lenient_mode_skips_and_logs_unmappable_record(
    toy_platform: ToyPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    toy_platform.malformed.add(make_iccid(3))
    caplog.set_level(logging.WARNING, logger="cdp_sdk")
    with cdp_sdk.connect(
        "toy", api_key=toy_platform.api_key, transport=toy_platform.transport(), strict=False
    ) as toy:
        sims = list(toy.subscriptions())
        assert toy.plugin.skipped_records == 1
    assert make_iccid(3) not in [s.iccid for s in sims]
    assert len(sims) == 4
    assert "skipped a record" in caplog.text
    assert make_iccid(3) not in caplog.text


def test_breaking_out_of_a_sync_iteration_closes_it(toy: Connector) -> None:
    iterator = toy.subscriptions()
    next(iterator)
    iterator.close()  # type: ignore[attr-defined]
    assert list(iterator) == []
    assert toy.subscription(make_iccid(1)).iccid == make_iccid(1)


def test_closed_sync_connector_refuses_calls(toy_platform: ToyPlatform) -> None:
    toy = cdp_sdk.connect("toy", api_key=toy_platform.api_key, transport=toy_platform.transport())
    toy.close()
    toy.close()  # idempotent
    with pytest.raises(ClosedError, match="the toy connector is closed"):
        toy.subscription(make_iccid(1))


async def test_async_facade_properties(toy_platform: ToyPlatform) -> None:
    toy = cdp_sdk.connect_async("toy", api_key=toy_platform.api_key)
    assert isinstance(toy, AsyncConnector)
    assert toy.name == "toy"
    assert Capability.SUBSCRIPTIONS in toy.capabilities
    assert toy.info.title == "Toy platform (tests)"
    assert "toy-api-key-secret" not in repr(toy.settings)
    assert "toy-api-key-secret" not in repr(toy)
    await toy.aclose()


def test_non_incremental_connector_filters_modified_since_client_side(
    toy_platform: ToyPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toy_connector import ToyConnector

    monkeypatch.setattr(
        ToyConnector, "capabilities", ToyConnector.capabilities - {Capability.INCREMENTAL}
    )
    with cdp_sdk.connect(
        "toy", api_key=toy_platform.api_key, transport=toy_platform.transport()
    ) as toy:
        sims = list(toy.subscriptions(modified_since=datetime(2024, 5, 4, 10, tzinfo=UTC)))
    assert [s.iccid for s in sims] == [make_iccid(4), make_iccid(5)]
    assert all("changed_since" not in r.url.params for r in toy_platform.requests)


def test_declared_argument_limits_are_refused_before_any_request(
    toy_platform: ToyPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toy_connector import ToyConnector

    monkeypatch.setattr(ToyConnector, "per_sim_only", frozenset({Capability.USAGE}))
    monkeypatch.setattr(ToyConnector, "usage_granularities", frozenset({Granularity.DAY}))
    with cdp_sdk.connect(
        "toy", api_key=toy_platform.api_key, transport=toy_platform.transport()
    ) as toy:
        with pytest.raises(InvalidRequestError, match="per SIM only: pass an iccid"):
            toy.usage()
        with pytest.raises(InvalidRequestError, match="toy reports usage by day, not hour"):
            toy.usage(make_iccid(1), granularity="hour")
        assert list(toy.usage(make_iccid(1), granularity="day"))
    assert [r.url.path for r in toy_platform.requests if "usage" in r.url.path] == [
        f"/v1/sims/{make_iccid(1)}/usage"
    ]
