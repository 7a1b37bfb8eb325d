"""The ``1nce`` connector: the 1NCE Management API."""

from cdp_sdk.connectors.onence.connector import OneNceConnector, OneNceSettings
from cdp_sdk.connectors.onence.emulator import OneNceEmulator

__all__ = ["OneNceConnector", "OneNceEmulator", "OneNceSettings"]
