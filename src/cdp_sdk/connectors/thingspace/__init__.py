"""The ``thingspace`` connector: Verizon ThingSpace Connectivity Management."""

from cdp_sdk.connectors.thingspace.connector import ThingSpaceConnector, ThingSpaceSettings
from cdp_sdk.connectors.thingspace.emulator import ThingSpaceEmulator

__all__ = ["ThingSpaceConnector", "ThingSpaceEmulator", "ThingSpaceSettings"]
