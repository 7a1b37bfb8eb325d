"""The ``jasper`` connector: Cisco IoT Control Center (formerly Jasper)."""

from cdp_sdk.connectors.jasper.connector import JasperConnector, JasperSettings
from cdp_sdk.connectors.jasper.emulator import JasperEmulator

__all__ = ["JasperConnector", "JasperEmulator", "JasperSettings"]
