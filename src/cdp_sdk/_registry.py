"""Discovery and loading of connector plugins through the ``cdp_sdk.connectors`` entry points."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

import httpx
from stevedore import DriverManager, ExtensionManager
from stevedore.exception import NoMatches

from cdp_sdk._connector import BaseConnector
from cdp_sdk._facade import AsyncConnector, Connector
from cdp_sdk._settings import validate_settings
from cdp_sdk._warnings import warn
from cdp_sdk.errors import ConfigurationError, ConnectorNotFoundError
from cdp_sdk.models import ConnectorInfo

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConnectorLoadWarning",
    "available_connectors",
    "connect",
    "connect_async",
    "load_connector",
]

ENTRY_POINT_GROUP = "cdp_sdk.connectors"


class ConnectorLoadWarning(UserWarning):
    """An installed connector plugin could not be loaded and was left out of the listing."""


def _fresh(manager_class: type[Any], **kwargs: Any) -> Any:
    # stevedore memoizes entry points per process; read them anew so that a plugin
    # installed after the first listing (a notebook's pip install) is seen.
    ExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)
    return manager_class(ENTRY_POINT_GROUP, **kwargs)


def _installed() -> dict[str, list[importlib.metadata.EntryPoint]]:
    """The registered entry points by name, read from metadata without importing plugins."""
    found: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, []).append(entry_point)
    return found


def available_connectors() -> list[ConnectorInfo]:
    """The installed connectors, sorted by name.

    A plugin that fails to import, or whose entry point is not a connector class, is left
    out with a :class:`ConnectorLoadWarning` naming it and the cause.
    """

    # Failures are warned once the listing is done, from here: stevedore calls back from
    # a depth of its own, and the warning names the line that asked for the listing.
    failures: list[str] = []

    def on_failure(manager: Any, entry_point: Any, error: BaseException) -> None:
        failures.append(
            f"connector plugin {entry_point.name!r} ({entry_point.value}) could not be "
            f"loaded: {type(error).__name__}: {error}"
        )

    installed = _installed()
    manager = _fresh(ExtensionManager, invoke_on_load=False, on_load_failure_callback=on_failure)
    found: dict[str, ConnectorInfo] = {}
    for extension in manager:
        try:
            connector_class = _as_connector_class(extension.name, extension.plugin)
        except ConfigurationError as error:
            on_failure(manager, extension.entry_point, error)
            continue
        dist = next((ep.dist for ep in installed.get(extension.name, []) if ep.dist), None)
        found.setdefault(
            extension.name,
            connector_class.info().model_copy(
                update={
                    "distribution": dist.metadata["Name"] if dist else None,
                    "version": dist.version if dist else None,
                }
            ),
        )
    for failure in failures:
        warn(failure, ConnectorLoadWarning)
    return [found[name] for name in sorted(found)]


def load_connector(name: str) -> type[BaseConnector]:
    """The connector class registered as ``name``.

    Raises:
        ConnectorNotFoundError: no installed connector has that name.
        ConfigurationError: the plugin failed to load (the cause is attached), is not a
            connector class, or two installed distributions claim the name.
    """
    installed = _installed()
    if name not in installed:
        raise ConnectorNotFoundError(name, list(installed))
    if len(installed[name]) > 1:
        owners = sorted(ep.dist.metadata["Name"] for ep in installed[name] if ep.dist)
        raise ConfigurationError(
            f"more than one installed distribution registers a connector named {name!r}: "
            + ", ".join(owners),
            connector=name,
        )

    def on_failure(manager: Any, entry_point: Any, error: BaseException) -> None:
        raise ConfigurationError(
            f"connector {name!r} is installed but could not be loaded: "
            f"{type(error).__name__}: {error}",
            connector=name,
        ) from error

    try:
        manager = _fresh(
            DriverManager,
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
            on_missing_entrypoints_callback=None,
        )
    except NoMatches:
        raise ConnectorNotFoundError(name, list(installed)) from None
    return _as_connector_class(name, manager.driver)


def _as_connector_class(name: str, plugin: Any) -> type[BaseConnector]:
    if not (isinstance(plugin, type) and issubclass(plugin, BaseConnector)):
        raise ConfigurationError(
            f"entry point {name!r} does not name a cdp_sdk.BaseConnector subclass",
            connector=name,
        )
    if getattr(plugin, "name", None) != name:
        raise ConfigurationError(
            f"entry point {name!r} names a connector whose name is "
            f"{getattr(plugin, 'name', None)!r}",
            connector=name,
        )
    return plugin


def _build(
    name: str, settings: Mapping[str, Any], transport: httpx.AsyncBaseTransport | None
) -> AsyncConnector:
    connector_class = load_connector(name)
    validated = validate_settings(connector_class.settings_model, settings, connector=name)
    return AsyncConnector(connector_class(validated, transport=transport))


def connect(
    name: str, /, *, transport: httpx.AsyncBaseTransport | None = None, **settings: Any
) -> Connector:
    """A synchronous connection to a CDP account. Makes no network call.

    Args:
        name: the connector's name, e.g. ``"emnify"`` (see :func:`available_connectors`).
        transport: an ``httpx`` transport to send through instead of the network, e.g. an
            emulator's or ``httpx.MockTransport``; for tests and demos.
        **settings: the connector's settings (credentials, ``base_url``, ``timeout``,
            ``max_retries``, ``rate_limit``, ...).

    Raises:
        ConnectorNotFoundError: no connector of that name is installed.
        ConfigurationError: a setting is missing, unknown or invalid, or the plugin is broken.
    """
    return Connector(_build(name, settings, transport))


def connect_async(
    name: str, /, *, transport: httpx.AsyncBaseTransport | None = None, **settings: Any
) -> AsyncConnector:
    """The ``async`` twin of :func:`connect`: same arguments, an :class:`AsyncConnector`."""
    return _build(name, settings, transport)
