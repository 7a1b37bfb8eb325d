"""The fault matrix: every connector that has an emulator, under every fault we know of.

A connector joins by shipping an emulator (an :class:`~cdp_sdk.sandbox.Emulator` subclass
whose ``name`` is the connector's, exported by the connector's package or its ``emulator``
module); the credentials come from :meth:`Emulator.connector_settings`. Nothing here knows
a vendor: faults are injected by :class:`FaultTransport`, which wraps the emulator's own
transport, and every fault that needs to know the vendor's shapes gets them from the
emulator (its error and rate-limit answers, its token store) or by replaying an earlier
answer of the same listing.

Each cell runs one operation (the subscriptions listing, or one write: a status change
or a tag update) against a fresh emulator with one fault injected, and ends:

- ``RECOVERED``: the operation completed, duplicate-free and equal to the fault-free run;
- ``TYPED``: it raised a :class:`~cdp_sdk.errors.CdpError` naming the connector, with the
  HTTP status and vendor code where the fault has them;
- anything else (a short or changed result, duplicates, a raw exception, a hang) fails.

Every cell declares the outcome it must have; :func:`run_matrix` checks it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from cdp_sdk._facade import AsyncConnector
from cdp_sdk.errors import (
    CdpError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseTooLargeError,
    TransientError,
    UnexpectedResponseError,
)
from cdp_sdk.models import SimStatus, Subscription
from cdp_sdk.sandbox import Emulator
from cdp_sdk.testing._emulated import EmulatedConnector, emulated_connectors
from cdp_sdk.testing._fault_plans import Plan, connect, fresh_fleet, iccid_forms, plan_for
from cdp_sdk.testing._fault_transport import (
    DEEP,
    DEEP_ERROR,
    FAULT_CODE,
    HTML_PAGE,
    MALFORMED,
    Action,
    AtRequest,
    FaultTransport,
    Injection,
    OnRecord,
    bare_rate_limit,
    connect_timeout,
    emptied,
    empty_after,
    fixed,
    garbled,
    lost_answer,
    oversized,
    redirect_elsewhere,
    replay,
    reset_mid_body,
    tokens_expire_first,
    truncated,
    unknown_status,
    vendor_error,
    vendor_rate_limit,
    with_record_of,
    wrong_types,
)

__all__ = [
    "FAULTS",
    "Cell",
    "CellResult",
    "Expected",
    "FaultCase",
    "Outcome",
    "matrix_cells",
    "plan_for",
    "run_cell",
    "run_matrix",
]

CELL_TIMEOUT = 30.0
"""Seconds a cell may run (retries do not really sleep, so none comes close)."""

LISTING = "subscriptions"
WRITE = "write"
OPERATIONS = (LISTING, WRITE)


# -- what each cell must end with -------------------------------------------------------


class Outcome(StrEnum):
    """How a cell ended."""

    RECOVERED = "RECOVERED"
    TYPED = "TYPED"
    WRONG = "WRONG"
    """Completed, but short, with duplicates, or different from the fault-free result."""
    RAW = "RAW"
    """Raised something that is not a :class:`~cdp_sdk.errors.CdpError`."""
    HUNG = "HUNG"


ANY: Any = object()


@dataclass(frozen=True)
class Expected:
    """The outcomes a cell may end with; for ``TYPED``, the error class and, where the
    fault has them, the HTTP status and the vendor code."""

    outcomes: frozenset[Outcome]
    error: type[CdpError] = CdpError
    status: Any = ANY
    vendor_code: Any = ANY

    def describe(self) -> str:
        parts = []
        if Outcome.RECOVERED in self.outcomes:
            parts.append("RECOVERED")
        if Outcome.TYPED in self.outcomes:
            parts.append(f"TYPED {_typed_detail(self.error, self.status, self.vendor_code)}")
        return " or ".join(parts)


def recovered() -> Expected:
    return Expected(frozenset({Outcome.RECOVERED}))


def typed(error: type[CdpError], status: Any = ANY, vendor_code: Any = ANY) -> Expected:
    return Expected(frozenset({Outcome.TYPED}), error, status, vendor_code)


def either(error: type[CdpError], status: Any = ANY) -> Expected:
    return Expected(frozenset({Outcome.RECOVERED, Outcome.TYPED}), error, status)


def _typed_detail(error: type[CdpError], status: Any, vendor_code: Any) -> str:
    detail = error.__name__
    if status is not ANY and status is not None:
        detail += f" {status}"
    if vendor_code is not ANY and vendor_code is not None:
        detail += f" ({vendor_code})"
    return detail


# -- the faults ------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """How one cell injects its fault, and what it must end with."""

    injection: Injection
    expected: Expected
    compare: Callable[[Any, Any], str | None] | None = None
    """For a listing that must be RECOVERED with a known change: the check."""


@dataclass(frozen=True)
class NotApplicable:
    reason: str


Builder = Callable[[Plan], "Setup | NotApplicable"]


@dataclass(frozen=True)
class FaultCase:
    """One fault: how it is set up for the listing and for the write (``None``: that
    operation is not exposed to it)."""

    name: str
    title: str
    listing: Builder | None = None
    write: Builder | None = None


def _page(plan: Plan, number: int) -> int | NotApplicable:
    """The request index of the listing's page ``number`` (1-based) that held records."""
    assert plan.listing is not None
    if len(plan.listing.pages) < number:
        return NotApplicable(f"the fault-free listing has fewer than {number} pages")
    return plan.listing.pages[number - 1]


def _on_page(
    number: int,
    action: Callable[[Plan], Action],
    expected: Expected | Callable[[Plan, int], Expected],
    times: int = 1,
) -> Builder:
    """The fault ``action`` on the listing's page ``number``; ``expected`` may depend on
    the plan and that page's number."""

    def build(plan: Plan) -> Setup | NotApplicable:
        index = _page(plan, number)
        if isinstance(index, NotApplicable):
            return index
        assert plan.listing is not None
        wanted = expected if isinstance(expected, Expected) else expected(plan, number)
        return Setup(AtRequest(plan.listing.key, index, action(plan), times), wanted)

    return build


def _typed_with_page_status(error: type[CdpError]) -> Callable[[Plan, int], Expected]:
    """TYPED ``error`` with the HTTP status the page had (a fault that keeps it)."""

    def expect(plan: Plan, number: int) -> Expected:
        assert plan.listing is not None
        return typed(error, plan.listing.page_statuses[number - 1])

    return expect


def _on_write(
    action: Callable[[Plan], Action], expected: Callable[[Plan], Expected], times: int = 1
) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        assert plan.write is not None
        return Setup(AtRequest(plan.write.key, 0, action(plan), times), expected(plan))

    return build


def _fixed_expect(expected: Expected) -> Callable[[Plan], Expected]:
    return lambda plan: expected


def _by_method(if_sent_and_unsafe: Expected) -> Callable[[Plan], Expected]:
    """A write safe to repeat (PUT, DELETE) must recover; a POST, which is not, must end
    typed; a PATCH is either, as the connector declares it idempotent or not."""

    def expect(plan: Plan) -> Expected:
        assert plan.write is not None
        method = plan.write.method
        if method in ("PUT", "DELETE"):
            return recovered()
        if method == "PATCH":
            return Expected(
                frozenset({Outcome.RECOVERED, Outcome.TYPED}),
                if_sent_and_unsafe.error,
                if_sent_and_unsafe.status,
                if_sent_and_unsafe.vendor_code,
            )
        return if_sent_and_unsafe

    return expect


def _vendor_expect(
    status: int, error: type[CdpError], rate_limit: bool = False
) -> Callable[[Plan], Expected]:
    """TYPED ``error`` with ``status`` and the vendor code the connector's own error table
    reads from the emulator's answer."""

    def expect(plan: Plan) -> Expected:
        emulator = plan.entry.start(fresh_fleet(plan.entry))
        answer = (
            emulator.rate_limited(2.0) if rate_limit else emulator.error(status, FAULT_CODE, "x")
        )
        answer.request = httpx.Request("GET", "https://emulator.invalid/")
        classified = plan.entry.connector.error_table.classify(answer, connector=plan.entry.name)
        code = classified.vendor_code if classified is not None else None
        return typed(error, status, code)

    return expect


def _wait_headers(plan: Plan) -> list[str]:
    return [header.name for header in plan.entry.connector.error_table.retry_after_headers]


def _token_fault(inner: Callable[[Plan], Action] | None) -> Callable[[Plan], Action]:
    return lambda plan: tokens_expire_first(inner(plan) if inner else None)


def _needs_tokens(builder: Builder) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        tokens = plan.listing.tokens if plan.listing else False
        if not tokens:
            return NotApplicable("static credentials: no token to expire")
        return builder(plan)

    return build


def _first_login(action: Action, expected: Expected) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        logins = plan.listing.logins if plan.listing else 0
        if not logins:
            return NotApplicable("static credentials: no login call")
        return Setup(AtRequest(None, 0, action), expected)

    return build


def _empty_page(plan: Plan) -> Setup | NotApplicable:
    assert plan.listing is not None
    listing = plan.listing
    index = _page(plan, 2)
    if isinstance(index, NotApplicable):
        return index
    if listing.numbered is not None:
        # Paged by number: page 2 comes back empty, its end signal saying more is to come.
        # The listing must go on to the announced end: everything but page 2's records.
        return Setup(
            AtRequest(listing.key, index, emptied()),
            recovered(),
            compare=_without_page(listing.result, withheld=listing.page_records[1]),
        )
    # A cursor that comes back unchanged from an empty page cannot advance: typed.
    action = empty_after(listing.key, listing.pages[0])
    return Setup(AtRequest(listing.key, index, action), typed(UnexpectedResponseError))


def _without_page(
    result: Sequence[Subscription], withheld: frozenset[str]
) -> Callable[[Any, Any], str | None]:
    """The check of a listing that had to go on past a page whose records were withheld."""
    expected = [sim for sim in result if sim.iccid not in withheld]

    def compare(_: Any, actual: Any) -> str | None:
        if actual == expected:
            return None
        if len(actual) < len(expected):
            return f"short: {len(actual)} of the {len(expected)} SIMs served"
        return "the listing differs from what the platform served"

    return compare


def _replayed(source: int, at: int) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        assert plan.listing is not None
        index = _page(plan, at)
        if isinstance(index, NotApplicable):
            return index
        action = replay(plan.listing.key, plan.listing.pages[source - 1])
        return Setup(AtRequest(plan.listing.key, index, action), typed(UnexpectedResponseError))

    return build


def _twice(plan: Plan) -> Setup | NotApplicable:
    assert plan.listing is not None
    index = _page(plan, 3)
    if isinstance(index, NotApplicable):
        return index
    action = with_record_of(plan.listing.key, plan.listing.pages[0])
    return Setup(AtRequest(plan.listing.key, index, action), typed(UnexpectedResponseError))


def _on_target(
    rewrite: Callable[[dict[str, Any]], bool],
    once: bool,
    expected: Expected,
    compare: Callable[[Any, Any], str | None] | None = None,
    needs_status: bool = False,
) -> Builder:
    def build(plan: Plan) -> Setup | NotApplicable:
        assert plan.listing is not None
        target = plan.listing.target
        if target is None:
            return NotApplicable("no SIM record found on the second page")
        if needs_status and not plan.listing.target_has_status:
            return NotApplicable("the SIM records carry no status or state field")
        return Setup(OnRecord(iccid_forms(target), rewrite, once), expected, compare)

    return build


def _unknown_status_compare(plan: Plan) -> Callable[[Any, Any], str | None]:
    assert plan.listing is not None
    target = plan.listing.target
    assert target is not None

    def compare(expected: Any, actual: Any) -> str | None:
        if len(actual) != len(expected):
            return f"{len(actual)} SIMs listed instead of {len(expected)}"
        for before, after in zip(expected, actual, strict=True):
            if before.iccid != after.iccid:
                return "the SIMs came in another order or changed"
            if after.iccid != target.iccid:
                if after != before:
                    return "a SIM other than the changed one differs"
                continue
            if after.status is not SimStatus.UNKNOWN:
                return f"the unknown vendor status became {after.status.value!r}, not 'unknown'"
            if after.status_raw == before.status_raw:
                return "status_raw does not keep the vendor's new value"
            same = after.model_copy(
                update={
                    "status": before.status,
                    "status_raw": before.status_raw,
                    "extra": before.extra,
                }
            )
            if same != before:
                return "the SIM with the unknown status differs in other fields"
        return None

    return compare


def _unknown_status(plan: Plan) -> Setup | NotApplicable:
    setup = _on_target(unknown_status, False, recovered(), needs_status=True)(plan)
    if isinstance(setup, NotApplicable):
        return setup
    return dataclasses.replace(setup, compare=_unknown_status_compare(plan))


UNEXPECTED_200 = typed(UnexpectedResponseError, 200)


FAULTS: tuple[FaultCase, ...] = (
    FaultCase(
        "connect-timeout",
        "connect timeout (the request never left)",
        _on_page(2, lambda p: connect_timeout(), recovered()),
        _on_write(lambda p: connect_timeout(), _fixed_expect(recovered())),
    ),
    FaultCase(
        "read-timeout",
        "read timeout (handled by the platform, answer lost)",
        _on_page(2, lambda p: lost_answer(httpx.ReadTimeout), recovered()),
        _on_write(lambda p: lost_answer(httpx.ReadTimeout), _by_method(typed(OutcomeUnknownError))),
    ),
    FaultCase(
        "reset-mid-body",
        "connection reset halfway through the answer",
        _on_page(2, lambda p: reset_mid_body(), recovered()),
        _on_write(lambda p: reset_mid_body(), _by_method(typed(OutcomeUnknownError))),
    ),
    FaultCase(
        "500-burst",
        "two 500s in a row, in the vendor's error shape",
        _on_page(2, lambda p: vendor_error(500), recovered(), times=2),
        _on_write(lambda p: vendor_error(500), _by_method(typed(TransientError, 500)), times=2),
    ),
    FaultCase(
        "502-burst",
        "two 502s in a row, as a gateway's HTML page",
        _on_page(2, lambda p: fixed(502, HTML_PAGE, "text/html"), recovered(), times=2),
        _on_write(
            lambda p: fixed(502, HTML_PAGE, "text/html"),
            _by_method(typed(TransientError, 502)),
            times=2,
        ),
    ),
    FaultCase(
        "503-burst",
        "two 503s in a row, in the vendor's error shape",
        _on_page(2, lambda p: vendor_error(503), recovered(), times=2),
        _on_write(lambda p: vendor_error(503), _by_method(typed(TransientError, 503)), times=2),
    ),
    FaultCase(
        "503-persistent",
        "503 on every attempt",
        lambda plan: _on_page(
            2, lambda p: vendor_error(503), _vendor_expect(503, TransientError)(plan), times=99
        )(plan),
        _on_write(lambda p: vendor_error(503), _vendor_expect(503, TransientError), times=99),
    ),
    FaultCase(
        "429-vendor",
        "429 as the vendor sends it, with its own rate headers",
        _on_page(2, lambda p: vendor_rate_limit(), recovered()),
        _on_write(lambda p: vendor_rate_limit(), _fixed_expect(recovered())),
    ),
    FaultCase(
        "429-no-wait",
        "429 with no header saying how long to wait",
        _on_page(2, lambda p: bare_rate_limit(_wait_headers(p)), recovered()),
        _on_write(lambda p: bare_rate_limit(_wait_headers(p)), _fixed_expect(recovered())),
    ),
    FaultCase(
        "429-persistent",
        "the vendor's 429 on every attempt",
        lambda plan: _on_page(
            2,
            lambda p: vendor_rate_limit(),
            _vendor_expect(429, RateLimitedError, rate_limit=True)(plan),
            times=99,
        )(plan),
        _on_write(
            lambda p: vendor_rate_limit(),
            _vendor_expect(429, RateLimitedError, rate_limit=True),
            times=99,
        ),
    ),
    FaultCase(
        "malformed-body",
        "200 with a body that is not JSON (a write: handled, then its answer garbled)",
        _on_page(2, lambda p: fixed(200, MALFORMED), UNEXPECTED_200),
        _on_write(
            lambda p: garbled(MALFORMED), _fixed_expect(either(UnexpectedResponseError, 200))
        ),
    ),
    FaultCase(
        "truncated-body",
        "the real answer cut in half (its status kept)",
        _on_page(2, lambda p: truncated(), _typed_with_page_status(UnexpectedResponseError)),
        _on_write(lambda p: truncated(), _fixed_expect(either(UnexpectedResponseError, 200))),
    ),
    FaultCase(
        "html-body",
        "200 with an HTML page: a proxy or maintenance page answered, not the platform",
        _on_page(2, lambda p: fixed(200, HTML_PAGE, "text/html"), UNEXPECTED_200),
        _on_write(lambda p: fixed(200, HTML_PAGE, "text/html"), _fixed_expect(UNEXPECTED_200)),
    ),
    FaultCase(
        "deep-nesting",
        "200 with JSON nested 100,000 deep (a write: handled, then its answer garbled)",
        _on_page(2, lambda p: fixed(200, DEEP), UNEXPECTED_200),
        _on_write(lambda p: garbled(DEEP), _fixed_expect(either(UnexpectedResponseError, 200))),
    ),
    FaultCase(
        "deep-error-body",
        "two 503s whose JSON error body is nested 100,000 deep",
        _on_page(2, lambda p: fixed(503, DEEP_ERROR), recovered(), times=2),
        _on_write(
            lambda p: fixed(503, DEEP_ERROR), _by_method(typed(TransientError, 503)), times=2
        ),
    ),
    FaultCase(
        "deep-login-answer",
        "a login answer nested 100,000 deep",
        _first_login(fixed(200, DEEP), UNEXPECTED_200),
        _first_login(fixed(200, DEEP), UNEXPECTED_200),
    ),
    FaultCase(
        "oversized-body",
        "a gzip body that expands past max_response_bytes",
        _on_page(2, lambda p: oversized(), typed(ResponseTooLargeError, 200)),
        _on_write(lambda p: oversized(), _fixed_expect(typed(ResponseTooLargeError, 200))),
    ),
    FaultCase(
        "token-expiry",
        "the platform expires its tokens mid-run",
        _needs_tokens(_on_page(2, _token_fault(None), recovered())),
        _needs_tokens(_on_write(_token_fault(None), _fixed_expect(recovered()))),
    ),
    FaultCase(
        "redirect-elsewhere",
        "307 to another origin",
        _on_page(2, lambda p: redirect_elsewhere(), typed(UnexpectedResponseError, 307)),
        _on_write(
            lambda p: redirect_elsewhere(), _fixed_expect(typed(UnexpectedResponseError, 307))
        ),
    ),
    FaultCase(
        "repeated-page",
        "page 1 served again as page 3",
        _replayed(1, 3),
    ),
    FaultCase(
        "stuck-cursor",
        "page 2 served again as page 3",
        _replayed(2, 3),
    ),
    FaultCase(
        "record-twice",
        "a record of page 1 listed again on page 3",
        _twice,
    ),
    FaultCase(
        "empty-page",
        "an empty page in the middle that claims more data",
        _empty_page,
    ),
    FaultCase(
        "wrong-types",
        "a SIM record whose text fields are objects",
        _on_target(wrong_types, True, typed(UnexpectedResponseError)),
    ),
    FaultCase(
        "unknown-status",
        "a SIM in a state the vendor never documented",
        _unknown_status,
    ),
)
"""Every fault, in the order the matrix shows them."""


# -- running cells -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One connector, one operation, one fault."""

    connector: str
    operation: str
    fault: str

    @property
    def id(self) -> str:
        return f"{self.connector}-{self.operation}-{self.fault}"


@dataclass
class CellResult:
    cell: Cell
    expected: Expected | None
    outcome: Outcome | None
    detail: str
    ok: bool
    reason: str | None = None
    """Why the cell does not apply (``outcome`` is then ``None``)."""


def matrix_cells(names: Iterable[str] | None = None) -> list[Cell]:
    """Every cell of the matrix for the emulated connectors (all, or ``names``)."""
    entries, _ = emulated_connectors(names)
    cells = []
    for entry in entries:
        for operation in OPERATIONS:
            for fault in FAULTS:
                if (fault.listing if operation == LISTING else fault.write) is not None:
                    cells.append(Cell(entry.name, operation, fault.name))
    return cells


def run_cell(cell: Cell) -> CellResult:
    """Run one cell on a fresh emulator and judge its outcome."""
    plan = plan_for(cell.connector)
    fault = next(f for f in FAULTS if f.name == cell.fault)
    if plan.problem is not None:
        return CellResult(cell, None, None, "", True, plan.problem)
    if cell.operation == WRITE and plan.write is None:
        return CellResult(cell, None, None, "", True, "the connector offers no write to test")
    builder = fault.listing if cell.operation == LISTING else fault.write
    assert builder is not None
    setup = builder(plan)
    if isinstance(setup, NotApplicable):
        return CellResult(cell, None, None, "", True, setup.reason)
    return asyncio.run(_run(plan, cell, setup))


async def _run(plan: Plan, cell: Cell, setup: Setup) -> CellResult:
    entry = plan.entry
    emulator = entry.start(fresh_fleet(entry))
    transport = FaultTransport(emulator, setup.injection)
    result: Any = None
    error: BaseException | None = None
    try:
        async with connect(entry, transport) as connector:
            if cell.operation == LISTING:
                result = await asyncio.wait_for(_list(connector), CELL_TIMEOUT)
            else:
                assert plan.write is not None
                result = await asyncio.wait_for(plan.write.call(connector), CELL_TIMEOUT)
    except TimeoutError:
        return _judge(
            cell, setup.expected, Outcome.HUNG, f"still running after {CELL_TIMEOUT:.0f} s"
        )
    except Exception as exc:
        error = exc
    elsewhere = transport.hosts - {_host(entry)}
    if elsewhere:
        return _judge(cell, setup.expected, Outcome.WRONG, "a request went to another host")
    if error is not None:
        return _typed(cell, setup.expected, error)
    problem = (
        _compare_listing(plan, setup, result)
        if cell.operation == LISTING
        else await _compare_write(plan, emulator, result)
    )
    if problem is not None:
        return _judge(cell, setup.expected, Outcome.WRONG, problem)
    return _judge(cell, setup.expected, Outcome.RECOVERED, "")


async def _list(connector: AsyncConnector) -> list[Subscription]:
    return [sim async for sim in connector.subscriptions()]


def _host(entry: EmulatedConnector) -> str:
    settings = entry.settings()
    url = (
        settings.get("base_url") or entry.connector.settings_model.model_fields["base_url"].default
    )
    return httpx.URL(str(url)).host


def _compare_listing(plan: Plan, setup: Setup, result: list[Subscription]) -> str | None:
    assert plan.listing is not None
    expected = plan.listing.result
    ids = [sim.id for sim in result]
    if len(ids) != len(set(ids)):
        return "a SIM was listed twice"
    if setup.compare is not None:
        return setup.compare(expected, result)
    if len(result) < len(expected):
        return f"short: {len(result)} of {len(expected)} SIMs"
    if result != expected:
        return "the listing differs from the fault-free one"
    return None


async def _compare_write(plan: Plan, emulator: Emulator, result: Any) -> str | None:
    assert plan.write is not None
    if result != plan.write.result:
        return "the write returned something else than without the fault"
    async with connect(plan.entry, emulator.transport()) as reader:
        after = await plan.write.effect(reader)
    if after != plan.write.after:
        return "the platform does not show the change the fault-free write made"
    return None


def _typed(cell: Cell, expected: Expected, error: BaseException) -> CellResult:
    if not isinstance(error, CdpError):
        return _judge(cell, expected, Outcome.RAW, f"{type(error).__name__}: {error}")
    detail = _typed_detail(type(error), error.status_code, error.vendor_code)
    result = _judge(cell, expected, Outcome.TYPED, detail)
    problems = []
    if error.connector != cell.connector:
        problems.append(f"connector is {error.connector!r}")
    if not isinstance(error, expected.error):
        problems.append(f"expected {expected.error.__name__}")
    if expected.status is not ANY and error.status_code != expected.status:
        problems.append(f"status {error.status_code}, expected {expected.status}")
    if expected.vendor_code is not ANY and error.vendor_code != expected.vendor_code:
        problems.append(f"vendor code {error.vendor_code!r}, expected {expected.vendor_code!r}")
    if problems and result.ok:
        result.ok = False
        result.detail += " [" + "; ".join(problems) + "]"
    return result


def _judge(cell: Cell, expected: Expected, outcome: Outcome, detail: str) -> CellResult:
    return CellResult(cell, expected, outcome, detail, outcome in expected.outcomes)


def run_matrix(
    names: Iterable[str] | None = None, *, progress: Callable[[CellResult], None] | None = None
) -> list[CellResult]:
    """Every cell of the matrix (all emulated connectors, or ``names``), judged."""
    results = []
    for cell in matrix_cells(names):
        result = run_cell(cell)
        if progress is not None:
            progress(result)
        results.append(result)
    return results
