"""What every call of the facades promises, whatever the connector: a SIM not found is
named by the last four digits of its ICCID only, any call after ``close()`` raises
``ClosedError``, tags the platform cannot store are refused before any request, and
``timeout=`` reaches the HTTP client for the requests of that call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import cdp_sdk
from cdp_sdk import (
    AsyncConnector,
    Capability,
    ClosedError,
    Connector,
    InvalidRequestError,
    NotFoundError,
    SimStatus,
    TransientError,
    Workspace,
)
from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.sandbox import Fleet
from cdp_sdk.sync import Store
from cdp_sdk.testing import emulated_connectors
from cdp_sdk.testing._emulated import EmulatedConnector
from cdp_sdk.workspace import AsyncWorkspace
from emulated import emulated, pick

UNKNOWN_ICCID = "8988399999999994973"
"""A valid ICCID that no emulated fleet holds (every fleet has its own prefix)."""

EMULATED = {entry.name: entry for entry in emulated_connectors()[0]}


def _connect(entry: EmulatedConnector, fleet: Fleet) -> Connector:
    emulator = entry.start(fleet)
    return cdp_sdk.connect(
        entry.name, transport=emulator.transport(), max_retries=0, **entry.settings()
    )


# -- NotFoundError names the SIM by its last four digits --------------------------------------


@pytest.mark.parametrize("name", sorted(EMULATED))
def test_not_found_names_the_iccid_by_its_last_four_digits_on_every_connector(
    name: str,
) -> None:
    entry = EMULATED[name]
    if Capability.SUBSCRIPTIONS not in entry.connector.capabilities:
        pytest.skip(f"{name} does not look SIMs up")
    with (
        _connect(entry, Fleet(6, seed=3, today=date(2024, 6, 15))) as client,
        pytest.raises(NotFoundError) as caught,
    ):
        client.subscription(UNKNOWN_ICCID)
    error = caught.value
    assert error.message.startswith("ICCID …4973: ")
    for text in (str(error), repr(error), *map(str, error.args)):
        assert "…4973" in text
        assert UNKNOWN_ICCID not in text
        assert UNKNOWN_ICCID[:-4] not in text


def test_not_found_inside_a_listing_names_the_sim_too() -> None:
    account, _ = emulated("jasper", 4)  # per-SIM usage: the SIM is asked for by ICCID
    with (
        Workspace({"us": account}) as workspace,
        workspace.connect("us") as jasper,
        pytest.raises(NotFoundError, match=r"^ICCID …4973: ") as caught,
    ):
        list(jasper.usage(UNKNOWN_ICCID))
    assert UNKNOWN_ICCID not in str(caught.value)


def test_not_found_of_a_write_names_the_sim() -> None:
    account, _ = emulated("sandbox", 4)
    with (
        Workspace({"lab": account}) as workspace,
        workspace.connect("lab") as sandbox,
        pytest.raises(NotFoundError, match=r"^ICCID …4973: "),
    ):
        sandbox.change_status(UNKNOWN_ICCID, "suspended")


# -- any call after close() raises ClosedError -------------------------------------------------


def _sandbox(fleet_size: int = 30) -> Connector:
    return cdp_sdk.connect("sandbox", fleet_size=fleet_size, today=date(2024, 6, 15))


def _sync_calls(client: Connector, iccid: str) -> list[Any]:
    return [
        lambda: client.check(),
        lambda: client.subscriptions(),
        lambda: client.subscription(iccid),
        lambda: client.activation_modes(),
        lambda: client.change_status(iccid, "suspended"),
        lambda: client.tariffs(),
        lambda: client.usage(iccid),
        lambda: client.invoices(),
        lambda: client.audit_events(),
        lambda: client.update_tags(iccid, {"a": "b"}),
    ]


def test_every_call_after_close_raises_closed_error_sync() -> None:
    client = _sandbox()
    iccid = next(iter(client.subscriptions())).iccid
    client.close()
    assert client.closed
    for call in _sync_calls(client, iccid):
        with pytest.raises(ClosedError, match="the sandbox connector is closed") as caught:
            call()
        assert caught.value.connector == "sandbox"


def test_a_listing_read_when_its_connector_closes_raises_instead_of_ending() -> None:
    client = _sandbox(fleet_size=250)  # three pages of 100
    sims = client.subscriptions()
    next(sims)
    client.close()
    with pytest.raises(ClosedError):
        next(sims)


async def test_every_call_after_aclose_raises_closed_error_async() -> None:
    client: AsyncConnector = cdp_sdk.connect_async("sandbox", fleet_size=10)
    iccid = (await anext(client.subscriptions())).iccid
    listing = client.subscriptions()
    await anext(listing)
    await client.aclose()
    assert client.closed
    with pytest.raises(ClosedError):
        await anext(listing)
    calls = [
        client.check(),
        client.subscription(iccid),
        client.activation_modes(),
        client.change_status(iccid, "suspended"),
        client.update_tags(iccid, {"a": "b"}),
    ]
    for call in calls:
        with pytest.raises(ClosedError):
            await call
    for listing_call in (
        client.subscriptions,
        client.tariffs,
        client.invoices,
        client.audit_events,
        lambda: client.usage(iccid),
    ):
        with pytest.raises(ClosedError):
            listing_call()


def test_a_closed_workspace_raises_closed_error() -> None:
    account, _ = emulated("sandbox", 5)
    workspace = Workspace({"lab": account})
    assert len(list(workspace.subscriptions())) == 5
    workspace.close()
    assert workspace.closed
    calls = [
        lambda: workspace.subscriptions(),
        lambda: workspace.tariffs(),
        lambda: workspace.usage(),
        lambda: workspace.invoices(),
        lambda: workspace.audit_events(),
        lambda: workspace.activation_modes(),
        lambda: workspace.connect("lab"),
        lambda: workspace.add_call_listener(lambda account, record: None),
    ]
    for call in calls:
        with pytest.raises(ClosedError, match="the workspace is closed"):
            call()

    async def nothing(_: AsyncWorkspace) -> None:
        return None

    with pytest.raises(ClosedError):
        workspace.run(nothing)


def test_a_workspace_listing_read_while_it_closes_raises() -> None:
    account, _ = emulated("sandbox", 250)  # three pages of 100
    workspace = Workspace({"lab": account})
    sims = workspace.subscriptions()
    next(sims)
    workspace.close()
    with pytest.raises(ClosedError):
        next(sims)


async def test_a_closed_async_workspace_raises_closed_error() -> None:
    account, _ = emulated("sandbox", 5)
    workspace = AsyncWorkspace({"lab": account})
    await workspace.aclose()
    with pytest.raises(ClosedError):
        workspace.connector("lab")
    with pytest.raises(ClosedError):
        workspace.subscriptions()
    with pytest.raises(ClosedError):
        workspace.audit_events()


def test_a_closed_store_raises_closed_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "cdp.db")
    store.close()
    assert store.closed
    for call in (
        lambda: store.rows("subscriptions"),
        lambda: store.accounts(),
        lambda: store.runs(),
        lambda: store.cursors(),
        lambda: store.purge_account("eu"),
        lambda: store.transaction(lambda connection: None),
    ):
        with pytest.raises(ClosedError, match="is closed"):
            call()


# -- tags the platform cannot store are refused before any request ------------------------------


@pytest.mark.parametrize(
    ("connector", "tags", "remove", "why"),
    [
        ("emnify", {"fleet": "trucks"}, (), "'fleet' cannot hold a value"),
        ("emnify", {"a,b": None}, (), "'a,b' contains ','"),
        ("1nce", {"fleet": "trucks"}, (), "'fleet' is not a tag of this platform"),
        ("jasper", {"accountCustom1": None}, (), "'accountCustom1' needs a value"),
        ("jasper", {}, ("site",), "'site' is not a tag of this platform"),
    ],
)
def test_update_tags_refuses_what_the_platform_cannot_store_before_any_request(
    connector: str, tags: dict[str, str | None], remove: tuple[str, ...], why: str
) -> None:
    account, emulator = emulated(connector, 4)
    [sim] = pick(emulator, SimStatus.ACTIVE)
    with Workspace({"a": account}) as workspace, workspace.connect("a") as client:
        client.check()  # logged in: a refusal leaves the emulator unasked
        before = len(emulator.requests)
        with pytest.raises(InvalidRequestError) as caught:
            client.update_tags(sim.iccid, tags, remove=remove)
        assert caught.value.message.startswith(f"{connector} cannot store these tags: ")
        assert why in caught.value.message
        assert len(emulator.requests) == before


def test_emnify_takes_a_label_it_can_store() -> None:
    account, emulator = emulated("emnify", 6)
    [sim] = pick(emulator, SimStatus.ACTIVE)  # an active SIM has an endpoint
    with Workspace({"eu": account}) as workspace, workspace.connect("eu") as emnify:
        emnify.update_tags(sim.iccid, {"north": None})
        assert "north" in {tag.key for tag in emnify.subscription(sim.iccid).tags}


# -- timeout= per call ------------------------------------------------------------------------


@pytest.fixture
def slow_sandbox() -> Iterator[tuple[str, SandboxEmulator]]:
    """The sandbox emulator on loopback, answering each request after 0.6 s."""
    emulator = SandboxEmulator(Fleet(5, seed=1, today=date(2024, 6, 15)), latency=0.6)
    with emulator.serve() as server:
        yield server.url, emulator


def test_a_per_call_timeout_times_out_where_the_setting_does_not(
    slow_sandbox: tuple[str, SandboxEmulator],
) -> None:
    url, emulator = slow_sandbox
    iccid = emulator.fleet.sorted_sims()[0].iccid
    with cdp_sdk.connect("sandbox", base_url=url, timeout=10, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(TransientError, match="sent no answer within the timeout"):
            client.subscription(iccid, timeout=0.2)  # the login already waits 0.6 s
        assert time.monotonic() - started < 0.6
        assert client.subscription(iccid).iccid == iccid  # the setting's 10 s suffice
        with pytest.raises(TransientError, match="within the timeout"):
            list(client.subscriptions(timeout=0.2))
        assert len(list(client.subscriptions())) == 5
        # the override ended with its call: the next call has the setting's timeout again
        assert [mode.name for mode in client.activation_modes()]


async def test_a_per_call_timeout_on_the_async_facade(
    slow_sandbox: tuple[str, SandboxEmulator],
) -> None:
    url, emulator = slow_sandbox
    iccid = emulator.fleet.sorted_sims()[0].iccid
    async with cdp_sdk.connect_async("sandbox", base_url=url, max_retries=0) as client:
        await client.check()  # logged in: what follows is one request each
        with pytest.raises(TransientError, match="within the timeout"):
            await client.change_status(iccid, "suspended", timeout=0.2)
        with pytest.raises(TransientError, match="within the timeout"):
            async for _ in client.usage(iccid, timeout=0.2):
                pass
        # a call running at the same time keeps its own timeout
        slow, fast = await asyncio.gather(
            client.subscription(iccid),
            client.subscription(iccid, timeout=0.2),
            return_exceptions=True,
        )
        assert not isinstance(slow, BaseException)
        assert slow.iccid == iccid
        assert isinstance(fast, TransientError)


@pytest.mark.parametrize("timeout", [0, -1, True, "5"])
def test_a_per_call_timeout_must_be_positive_seconds(timeout: Any) -> None:
    with _sandbox() as client, pytest.raises(InvalidRequestError, match="timeout must be"):
        client.subscription("8988310000000000013", timeout=timeout)
