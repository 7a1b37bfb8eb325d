"""The plugin author's kit: the conformance suite and fixture recording.

Needs the ``test`` extra (pytest, respx). A connector's test module subclasses
:class:`ConformanceSuite`::

    from cdp_sdk.testing import ConformanceSuite
    from cdp_sdk_acme.emulator import AcmeEmulator

    class TestAcmeConformance(ConformanceSuite):
        connector = "acme"
        settings = {"api_key": "test-key"}
        emulator = AcmeEmulator

Where the vendor publishes an OpenAPI spec, :class:`OpenApiRequestChecker` checks every
request the connector sends against it, strictly (a parameter or body field the spec does
not name is a problem).
"""

from cdp_sdk.testing._openapi import (
    CheckingTransport,
    OpenApiRequestChecker,
    SpecOperation,
    SpecViolation,
)
from cdp_sdk.testing._record import Recorder, Redactor, ScenarioEmulator, load_scenario
from cdp_sdk.testing._suite import ConformanceSuite, FakeSleep

__all__ = [
    "CheckingTransport",
    "ConformanceSuite",
    "FakeSleep",
    "OpenApiRequestChecker",
    "Recorder",
    "Redactor",
    "ScenarioEmulator",
    "SpecOperation",
    "SpecViolation",
    "load_scenario",
]
