"""The ``sandbox`` connector: a synthetic CDP account that runs offline."""

from cdp_sdk.connectors.sandbox.connector import IN_PROCESS_URL, SandboxConnector, SandboxSettings
from cdp_sdk.connectors.sandbox.emulator import SandboxEmulator

__all__ = ["IN_PROCESS_URL", "SandboxConnector", "SandboxEmulator", "SandboxSettings"]
