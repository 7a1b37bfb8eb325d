"""The library's warnings name the user's line: the line of the caller's code that caused
them, whatever path through cdp-sdk (and through stevedore) led there."""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cdp_sdk
from cdp_sdk import ConnectorLoadWarning, InsecureTLSWarning
from cdp_sdk.connectors.sandbox import SandboxConnector
from cdp_sdk.connectors.sandbox.connector import SandboxSettings
from cdp_sdk.sync import InsecureStoreWarning, Store
from cdp_sdk.workspace import AsyncWorkspace, InsecureConfigWarning, Workspace
from conftest import InstallPlugins
from toy_connector import ToyConnector, ToySettings

pytestmark = pytest.mark.frames

Caught = Callable[[type[Warning]], list[tuple[str, int]]]

INSECURE = {"eu": {"connector": "sandbox", "verify": False}}

OWN_INIT_MODULE = """
from toy_connector import ToyConnector


class OwnInit(ToyConnector):
    name = "own"

    def __init__(self, settings, *, transport=None):
        super().__init__(settings, transport=transport)
"""


class MyConnector(ToyConnector):
    """A user's connector class with an ``__init__`` of its own."""

    def __init__(
        self, settings: ToySettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings, transport=transport)


def here() -> int:
    """The line of the caller: ``result, line = call(...), here()`` names the call's line."""
    frame = inspect.currentframe()
    assert frame is not None
    assert frame.f_back is not None
    return frame.f_back.f_lineno


@pytest.fixture
def origins() -> Iterator[Caught]:
    """Where each caught warning of a category was attributed: (filename, lineno)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def of(category: type[Warning]) -> list[tuple[str, int]]:
            return [(w.filename, w.lineno) for w in caught if issubclass(w.category, category)]

        yield of


# -- InsecureTLSWarning: verify=False ---------------------------------------------------------


def test_connect(origins: Caught) -> None:
    client, line = cdp_sdk.connect("sandbox", verify=False), here()
    client.close()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


async def test_connect_async(origins: Caught) -> None:
    client, line = cdp_sdk.connect_async("sandbox", verify=False), here()
    await client.aclose()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


async def test_a_connector_class_made_directly(origins: Caught) -> None:
    settings = SandboxSettings(verify=False)
    connector, line = SandboxConnector(settings), here()
    await connector.aclose()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


async def test_a_connector_class_without_an_init_of_its_own(origins: Caught) -> None:
    settings = ToySettings(api_key="key", verify=False)  # type: ignore[arg-type]
    connector, line = ToyConnector(settings), here()
    await connector.aclose()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


async def test_a_users_subclass_with_its_own_init(origins: Caught) -> None:
    settings = ToySettings(api_key="key", verify=False)  # type: ignore[arg-type]
    connector, line = MyConnector(settings), here()
    await connector.aclose()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


def test_a_plugin_with_its_own_init(install_plugins: InstallPlugins, origins: Caught) -> None:
    install_plugins({"own": "own_plugin:OwnInit"}, modules={"own_plugin": OWN_INIT_MODULE})
    client, line = cdp_sdk.connect("own", api_key="key", verify=False), here()
    client.close()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


def test_a_workspace_connecting_an_account(origins: Caught) -> None:
    with Workspace(INSECURE) as workspace:
        client, line = workspace.connect("eu"), here()
        client.close()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


async def test_an_async_workspace_opening_a_connector(origins: Caught) -> None:
    async with AsyncWorkspace(INSECURE) as workspace:
        _, line = workspace.connector("eu"), here()
    assert origins(InsecureTLSWarning) == [(__file__, line)]


def test_a_workspace_listing(origins: Caught) -> None:
    """The listing opens its connectors on the workspace's loop thread, on behalf of the
    line that reads it."""
    with Workspace(INSECURE) as workspace:
        listing = workspace.subscriptions()
        sims, line = [next(listing)], here()  # the workspace closes the listing
    assert sims
    assert origins(InsecureTLSWarning) == [(__file__, line)]


async def test_an_async_workspace_listing(origins: Caught) -> None:
    async with AsyncWorkspace(INSECURE) as workspace:
        listing = workspace.subscriptions()
        sim, line = await anext(listing), here()
        await listing.aclose()  # type: ignore[attr-defined]
    assert sim.account == "eu"
    assert origins(InsecureTLSWarning) == [(__file__, line)]


def test_user_code_on_the_loop_thread_names_its_own_line(origins: Caught) -> None:
    """A call listener runs on the workspace's loop thread: what it does is its line."""
    made: list[SandboxConnector] = []
    lines: list[int] = []

    def listener(account: str, record: object) -> None:
        if not made:
            made.append(SandboxConnector(SandboxSettings(verify=False)))
            lines.append(here())

    with Workspace({"eu": {"connector": "sandbox"}}) as workspace:
        workspace.add_call_listener(listener)
        assert next(workspace.subscriptions())
        workspace.run(lambda _: made[0].aclose())
    assert origins(InsecureTLSWarning) == [(__file__, lines[0] - 1)]


def test_a_store_syncing_a_workspace(tmp_path: Path, origins: Caught) -> None:
    with Workspace(INSECURE) as workspace, Store(tmp_path / "cdp.db") as store:
        report, line = store.sync(workspace), here()
    assert report.ok
    assert origins(InsecureTLSWarning) == [(__file__, line)]


# -- ConnectorLoadWarning: a plugin that does not load ----------------------------------------


def test_available_connectors_with_broken_plugins(
    install_plugins: InstallPlugins, origins: Caught
) -> None:
    install_plugins(
        {"broken": "broken_plugin:BrokenConnector", "odd": "odd_plugin:Something"},
        modules={
            "broken_plugin": "raise ImportError('vendor SDK missing')\n",
            "odd_plugin": "class Something:\n    name = 'odd'\n",
        },
    )
    _, line = cdp_sdk.available_connectors(), here()
    # one fails to import (stevedore's callback), one is not a connector class (ours)
    assert origins(ConnectorLoadWarning) == [(__file__, line), (__file__, line)]


# -- InsecureStoreWarning and InsecureConfigWarning: files other users can read ---------------

posix_modes = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


class MyStore(Store):
    """A user's own kind of store."""


@posix_modes
@pytest.mark.parametrize("store_class", [Store, MyStore])
@pytest.mark.parametrize("chmod", ["allowed", "refused"])
def test_a_store_opened(
    tmp_path: Path,
    origins: Caught,
    monkeypatch: pytest.MonkeyPatch,
    store_class: type[Store],
    chmod: str,
) -> None:
    """Its mode made private, or not (the warning then says it could not be changed)."""
    database = tmp_path / "cdp.db"
    Store(database).close()
    database.chmod(0o644)
    if chmod == "refused":

        def refuse(path: object, mode: int) -> None:
            raise PermissionError("not the owner")

        monkeypatch.setattr(os, "chmod", refuse)
    store, line = store_class(database), here()
    store.close()
    assert origins(InsecureStoreWarning) == [(__file__, line)]


@posix_modes
@pytest.mark.parametrize("workspace_class", [Workspace, AsyncWorkspace])
def test_a_workspace_file_loaded(
    tmp_path: Path, origins: Caught, workspace_class: type[Any]
) -> None:
    path = tmp_path / "cdp.toml"
    path.write_text('[accounts.eu]\nconnector = "sandbox"\napi_key = "plain"\n')
    path.chmod(0o644)
    _, line = workspace_class.load(path), here()
    assert origins(InsecureConfigWarning) == [(__file__, line)]
