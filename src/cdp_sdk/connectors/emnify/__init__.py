"""The ``emnify`` connector: the emnify REST API of an enterprise workspace."""

from cdp_sdk.connectors.emnify.connector import EmnifyConnector, EmnifySettings
from cdp_sdk.connectors.emnify.emulator import EmnifyEmulator

__all__ = ["EmnifyConnector", "EmnifyEmulator", "EmnifySettings"]
