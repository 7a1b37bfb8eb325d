"""cdp-sdk connector for Onomondo: a third-party plugin, found through its entry point.

>>> import cdp_sdk
>>> with cdp_sdk.connect("onomondo", api_key="...") as onomondo:  # doctest: +SKIP
...     for sim in onomondo.subscriptions():
...         print(sim.iccid, sim.status)
"""

from cdp_sdk_onomondo.connector import OnomondoConnector, OnomondoSettings
from cdp_sdk_onomondo.emulator import OnomondoEmulator

__all__ = ["OnomondoConnector", "OnomondoEmulator", "OnomondoSettings"]
