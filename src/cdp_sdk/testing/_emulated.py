"""Who joins the generic tools (the fault matrix): installed connectors with an emulator.

A connector has an emulator when its package (the package of its connector class, or that
package's ``emulator`` module) exports an :class:`~cdp_sdk.sandbox.Emulator` subclass
whose ``name`` is the connector's; :meth:`Emulator.connector_settings` gives the settings
that reach it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import cdp_sdk
from cdp_sdk._connector import BaseConnector
from cdp_sdk.sandbox import Emulator, Fleet

__all__ = ["EmulatedConnector", "emulated_connectors", "find_emulator"]

PAGE_SIZE = 2
"""Records an emulator serves a page in generic runs: a small fleet gives a listing of
several pages (also within each window of a listing walked in windows)."""


@dataclass(frozen=True)
class EmulatedConnector:
    """An installed connector with an emulator: what the matrix (and any generic tool)
    needs to run it offline."""

    name: str
    connector: type[BaseConnector]
    emulator: type[Emulator]

    def settings(self) -> dict[str, Any]:
        """Settings that reach an emulator built with its defaults."""
        model = self.connector.settings_model
        settings = self.emulator.connector_settings(model)
        if "base_url" not in settings and model.model_fields["base_url"].is_required():
            settings["base_url"] = f"https://{self.name}.emulator.invalid"
        return settings

    def start(self, fleet: Fleet) -> Emulator:
        """The emulator over ``fleet``, paging small and with no server-side rate limit."""
        emulator = self.emulator(fleet)
        emulator.max_page_size = PAGE_SIZE
        emulator.rate_limit = None
        return emulator


def find_emulator(connector: type[BaseConnector]) -> type[Emulator] | None:
    """The emulator of ``connector``: an :class:`Emulator` subclass named like it, in the
    connector's package or that package's ``emulator`` module."""
    package = connector.__module__.rpartition(".")[0] or connector.__module__
    modules = [import_module(package)]
    with contextlib.suppress(ImportError):
        modules.append(import_module(f"{package}.emulator"))
    for module in modules:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Emulator)
                and value is not Emulator
                and getattr(value, "name", None) == connector.name
            ):
                return value
    return None


def emulated_connectors(
    names: Iterable[str] | None = None,
) -> tuple[list[EmulatedConnector], list[str]]:
    """The installed connectors that have an emulator, and the names of those that do
    not (all of :func:`cdp_sdk.available_connectors`, or only ``names``)."""
    wanted = set(names) if names is not None else None
    found: list[EmulatedConnector] = []
    missing: list[str] = []
    for info in cdp_sdk.available_connectors():
        if wanted is not None and info.name not in wanted:
            continue
        connector = cdp_sdk.load_connector(info.name)
        emulator = find_emulator(connector)
        if emulator is None:
            missing.append(info.name)
        else:
            found.append(EmulatedConnector(info.name, connector, emulator))
    return found, missing
