"""The ``soracom`` connector: Soracom API v1 (global and Japan coverage)."""

from cdp_sdk.connectors.soracom.connector import SoracomConnector, SoracomSettings
from cdp_sdk.connectors.soracom.emulator import SoracomEmulator

__all__ = ["SoracomConnector", "SoracomEmulator", "SoracomSettings"]
