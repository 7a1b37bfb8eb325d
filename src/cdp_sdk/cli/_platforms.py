"""The built-in connectors that ship an emulator: what ``cdp demo`` and ``cdp sandbox serve``
start, and the settings (test credentials included) each emulator accepts by default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cdp_sdk.connectors.emnify import EmnifyEmulator
from cdp_sdk.connectors.emnify.emulator import DEFAULT_APPLICATION_TOKEN
from cdp_sdk.connectors.hologram import HologramEmulator
from cdp_sdk.connectors.hologram.emulator import DEFAULT_API_KEY as HOLOGRAM_API_KEY
from cdp_sdk.connectors.jasper import JasperEmulator
from cdp_sdk.connectors.jasper.emulator import DEFAULT_API_KEY as JASPER_API_KEY
from cdp_sdk.connectors.jasper.emulator import DEFAULT_USERNAME as JASPER_USERNAME
from cdp_sdk.connectors.onence import OneNceEmulator
from cdp_sdk.connectors.onence.emulator import DEFAULT_PASSWORD as ONENCE_PASSWORD
from cdp_sdk.connectors.onence.emulator import DEFAULT_USERNAME as ONENCE_USERNAME
from cdp_sdk.connectors.onence.emulator import PREFIX as ONENCE_PREFIX
from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.connectors.sandbox.emulator import DEFAULT_API_KEY as SANDBOX_API_KEY
from cdp_sdk.connectors.soracom import SoracomEmulator
from cdp_sdk.connectors.soracom.emulator import DEFAULT_AUTH_KEY, DEFAULT_AUTH_KEY_ID
from cdp_sdk.connectors.supersim import SuperSimEmulator
from cdp_sdk.connectors.supersim.emulator import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from cdp_sdk.connectors.thingspace import ThingSpaceEmulator
from cdp_sdk.connectors.thingspace import emulator as thingspace
from cdp_sdk.sandbox import Emulator, EmulatorServer, Fleet

__all__ = ["PLATFORMS", "BuiltinPlatform", "platform", "serve"]


@dataclass(frozen=True)
class BuiltinPlatform:
    """A built-in connector with its emulator, and the synthetic fleet the demo gives it.

    Each platform gets its own seed and its own ICCID, IMSI and MSISDN ranges, so that the
    fleets of a demo never share a SIM.
    """

    connector: str
    emulator: type[Emulator]
    credentials: Mapping[str, str]
    """The settings holding the credentials (and account) the emulator accepts by default."""
    path: str = ""
    """The deployment prefix the connector expects at the end of its ``base_url``."""
    demo_size: int = 500
    """SIMs in the demo fleet. Platforms whose usage and audit events are read SIM by SIM
    (one request per SIM and window) get fewer, so that ``cdp demo`` stays under 10 s."""
    seed: int = 42
    iccid_prefix: str = "8988303"
    iccid_digits: int = 19
    imsi_prefix: str = "90143"
    msisdn_prefix: str = "88234"
    client_settings: Mapping[str, Any] = field(default_factory=dict)
    """Settings for a client of an emulator on this machine (no fair-use throttling)."""

    def fleet(self, size: int | None = None, *, seed: int | None = None, today: date) -> Fleet:
        """The platform's synthetic fleet (``size`` SIMs, default :attr:`demo_size`)."""
        return Fleet(
            self.demo_size if size is None else size,
            seed=self.seed if seed is None else seed,
            today=today,
            iccid_prefix=self.iccid_prefix,
            iccid_digits=self.iccid_digits,
            imsi_prefix=self.imsi_prefix,
            msisdn_prefix=self.msisdn_prefix,
        )

    def start(self, fleet: Fleet, *, unlimited: bool = False) -> Emulator:
        """The emulator over ``fleet``; ``unlimited`` lifts its server-side rate limit."""
        if unlimited:
            return self.emulator(fleet, rate_limit=None)
        return self.emulator(fleet)

    def settings(self, base_url: str) -> dict[str, Any]:
        """Connector settings that reach the emulator at ``base_url`` (scheme and host)."""
        return {"base_url": base_url.rstrip("/") + self.path, **self.credentials}


_LOCAL = {"rate_limit": 1000.0}

PLATFORMS: tuple[BuiltinPlatform, ...] = (
    BuiltinPlatform(
        "sandbox",
        SandboxEmulator,
        {"api_key": SANDBOX_API_KEY},
        demo_size=1000,
        seed=101,
        iccid_prefix="8988310",
        imsi_prefix="901431",
        msisdn_prefix="882341",
        client_settings=_LOCAL,
    ),
    BuiltinPlatform(
        "jasper",
        JasperEmulator,
        {"username": JASPER_USERNAME, "api_key": JASPER_API_KEY},
        demo_size=100,
        seed=102,
        iccid_prefix="8988320",
        imsi_prefix="901432",
        msisdn_prefix="882342",
        client_settings=_LOCAL,
    ),
    BuiltinPlatform(
        "emnify",
        EmnifyEmulator,
        {"application_token": DEFAULT_APPLICATION_TOKEN},
        demo_size=800,
        seed=103,
        iccid_prefix="8988330",
        imsi_prefix="901433",
        msisdn_prefix="882343",
        client_settings=_LOCAL,
    ),
    BuiltinPlatform(
        "1nce",
        OneNceEmulator,
        {"username": ONENCE_USERNAME, "password": ONENCE_PASSWORD},
        path=ONENCE_PREFIX,
        demo_size=100,
        seed=104,
        iccid_prefix="8988340",
        imsi_prefix="901434",
        msisdn_prefix="882344",
        client_settings=_LOCAL,
    ),
    BuiltinPlatform(
        "soracom",
        SoracomEmulator,
        {"auth_key_id": DEFAULT_AUTH_KEY_ID, "auth_key": DEFAULT_AUTH_KEY},
        demo_size=800,
        seed=105,
        iccid_prefix="8988350",
        imsi_prefix="901435",
        msisdn_prefix="882345",
        client_settings=_LOCAL,
    ),
    BuiltinPlatform(
        "supersim",
        SuperSimEmulator,
        {"account_sid": DEFAULT_ACCOUNT_SID, "auth_token": DEFAULT_AUTH_TOKEN},
        demo_size=500,
        seed=106,
        iccid_prefix="8988360",
        imsi_prefix="901436",
        msisdn_prefix="882346",
        client_settings=_LOCAL,
    ),
    BuiltinPlatform(
        "hologram",
        HologramEmulator,
        {"api_key": HOLOGRAM_API_KEY},
        demo_size=150,
        seed=107,
        iccid_prefix="8988370",
        imsi_prefix="901437",
        msisdn_prefix="882347",
        client_settings=_LOCAL,
    ),
    BuiltinPlatform(
        "thingspace",
        ThingSpaceEmulator,
        {
            "app_key": thingspace.DEFAULT_APP_KEY,
            "app_secret": thingspace.DEFAULT_APP_SECRET,
            "username": thingspace.DEFAULT_USERNAME,
            "password": thingspace.DEFAULT_PASSWORD,
            "account_name": thingspace.ACCOUNT_NAME,
        },
        demo_size=100,
        seed=108,
        iccid_prefix="891480",
        iccid_digits=20,  # Verizon's ICCIDs have 20 digits
        imsi_prefix="901438",
        msisdn_prefix="882348",
        client_settings=_LOCAL,
    ),
)
"""Every built-in connector with an emulator, in the order the demo lists them."""


def platform(name: str) -> BuiltinPlatform:
    """The built-in platform ``name``; ``ValueError`` naming the valid ones."""
    for candidate in PLATFORMS:
        if candidate.connector == name:
            return candidate
    valid = ", ".join(p.connector for p in PLATFORMS)
    raise ValueError(f"no built-in emulator for {name!r} (emulators: {valid})")


@contextmanager
def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[EmulatorServer]:
    """:meth:`Emulator.serve`, answering without Nagle's delay.

    The emulator's HTTP handler writes a response's headers and body in two segments, so
    with Nagle's algorithm on, every answer waits for the client's delayed ACK (about 40 ms
    a request on Linux). Until the handler sets ``disable_nagle_algorithm`` itself, it is
    set here on the server's own handler class (one per served emulator).
    """
    with emulator.serve(host, port) as server:
        handler = getattr(getattr(server, "_server", None), "RequestHandlerClass", None)
        if handler is not None:
            handler.disable_nagle_algorithm = True
        yield server
