"""The ``supersim`` connector: Twilio / KORE Super SIM (supersim v1)."""

from cdp_sdk.connectors.supersim.connector import SuperSimConnector, SuperSimSettings
from cdp_sdk.connectors.supersim.emulator import SuperSimEmulator

__all__ = ["SuperSimConnector", "SuperSimEmulator", "SuperSimSettings"]
