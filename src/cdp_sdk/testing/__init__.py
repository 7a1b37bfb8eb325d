"""The plugin author's kit: the conformance suite, the fault matrix and fixture recording.

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

from cdp_sdk.testing._emulated import emulated_connectors
from cdp_sdk.testing._fault_transport import FaultTransport
from cdp_sdk.testing._faults import Cell, CellResult, matrix_cells, run_cell, run_matrix
from cdp_sdk.testing._openapi import (
    CheckingTransport,
    OpenApiRequestChecker,
    SpecOperation,
    SpecViolation,
)
from cdp_sdk.testing._record import Recorder, Redactor, ScenarioEmulator, load_scenario
from cdp_sdk.testing._suite import ConformanceSuite, FakeSleep

__all__ = [
    "Cell",
    "CellResult",
    "CheckingTransport",
    "ConformanceSuite",
    "FakeSleep",
    "FaultTransport",
    "OpenApiRequestChecker",
    "Recorder",
    "Redactor",
    "ScenarioEmulator",
    "SpecOperation",
    "SpecViolation",
    "emulated_connectors",
    "load_scenario",
    "matrix_cells",
    "run_cell",
    "run_matrix",
]
