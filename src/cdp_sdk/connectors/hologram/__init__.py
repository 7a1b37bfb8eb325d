"""The ``hologram`` connector: the Hologram REST API (``/api/1``)."""

from cdp_sdk.connectors.hologram.connector import HologramConnector, HologramSettings
from cdp_sdk.connectors.hologram.emulator import HologramEmulator

__all__ = ["HologramConnector", "HologramEmulator", "HologramSettings"]
