"""The fault matrix: every connector with an emulator, under every fault, recovers or fails typed.

The cells are generated from the installed connectors, so a new connector with an emulator
joins without a change here. The tests after the matrix prove that it catches real
regressions: each breaks one safeguard of the HTTP layer and shows a cell failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from cdp_sdk.http import HttpClient, ListingGuard, PageNumberPaginator, PageRequest, RetryPolicy
from cdp_sdk.testing import Cell, emulated_connectors, faults, matrix_cells, run_cell
from cdp_sdk.testing._fault_plans import _page_number_param, plan_for
from cdp_sdk.testing._fault_transport import items_of
from cdp_sdk.testing._faults import FAULTS, Outcome
from conftest import InstallPlugins

CELLS = matrix_cells()
BUILT_IN = {"sandbox", "jasper", "emnify", "1nce", "soracom", "hologram", "supersim", "thingspace"}


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_cell(cell: Cell) -> None:
    result = run_cell(cell)
    expected = result.expected.describe() if result.expected else "n/a"
    assert result.ok, f"{cell.id}: {result.outcome} {result.detail}; expected {expected}"


def test_every_installed_connector_joins() -> None:
    entries, missing = emulated_connectors()
    names = {entry.name for entry in entries}
    assert names >= BUILT_IN
    assert missing == []
    assert {cell.connector for cell in CELLS} == names


def test_the_faults_the_matrix_must_cover() -> None:
    required = {
        "connect-timeout", "read-timeout", "reset-mid-body", "500-burst", "502-burst",
        "503-burst", "429-vendor", "429-no-wait", "malformed-body", "truncated-body",
        "html-body", "token-expiry", "redirect-elsewhere", "repeated-page", "stuck-cursor",
        "empty-page", "wrong-types", "unknown-status", "oversized-body", "deep-nesting",
    }  # fmt: skip
    assert required <= {fault.name for fault in FAULTS}
    for fault in FAULTS:  # every fault is tried on the listing, most on a write too
        assert fault.listing is not None


def test_each_operation_has_cells_for_every_connector() -> None:
    for name in {cell.connector for cell in CELLS}:
        operations = {cell.operation for cell in CELLS if cell.connector == name}
        assert operations == {"subscriptions", "write"}


def test_every_built_in_connector_has_a_write_and_pages_enough() -> None:
    for name in BUILT_IN:
        plan = plan_for(name)
        assert plan.write is not None, f"{name}: no write in the matrix"
        assert plan.listing is not None
        assert len(plan.listing.pages) >= 3, f"{name}: the listing has too few pages"
        assert len(plan.listing.result) == 12


def test_thingspace_joins_every_cell_with_its_own_fleet_and_write() -> None:
    # 20-digit ICCIDs from the emulator's fleet_options; the listing pages by a value of
    # its JSON body; the write is the state change, not the POST look-up made before it.
    plan = plan_for("thingspace")
    assert plan.listing is not None
    assert plan.write is not None
    assert {len(sim.iccid) for sim in plan.listing.result} == {20}
    assert len(plan.listing.pages) >= 3
    assert plan.listing.page_statuses[:-1] == [202] * (len(plan.listing.pages) - 1)
    assert plan.listing.target is not None
    assert plan.listing.target_has_status
    assert plan.write.key == ("POST", "/api/m2m/v1/devices/actions/deactivate")
    cells = [cell for cell in CELLS if cell.connector == "thingspace"]
    outcomes = {run_cell(cell).outcome for cell in cells}
    assert outcomes <= {Outcome.RECOVERED, Outcome.TYPED}


def test_emulator_settings_come_from_the_constructor_defaults() -> None:
    from cdp_sdk.connectors.jasper import JasperConnector, JasperEmulator
    from cdp_sdk.connectors.soracom import SoracomConnector, SoracomEmulator

    assert JasperEmulator.connector_settings(JasperConnector.settings_model) == {
        "username": "jasper-user",
        "api_key": "jasper-test-api-key",
    }
    # Only keyword arguments named like a setting: operator_id is the emulator's own.
    assert set(SoracomEmulator.connector_settings(SoracomConnector.settings_model)) == {
        "auth_key_id",
        "auth_key",
    }


def test_a_connector_without_a_default_base_url_gets_a_reserved_host() -> None:
    entries, _ = emulated_connectors(["jasper", "soracom"])
    settings = {entry.name: entry.settings() for entry in entries}
    assert settings["jasper"]["base_url"] == "https://jasper.emulator.invalid"
    assert "base_url" not in settings["soracom"]  # its default is kept


# -- a connector joins by having an emulator ---------------------------------------------

TOY_PLUGIN = '''
import toy_connector as toy


class ToyMatrixConnector(toy.ToyConnector):
    """The toy connector, shipped with an emulator beside it."""


class ToyMatrixEmulator(toy.ToyPlatform):
    @classmethod
    def connector_settings(cls, model):
        return {"api_key": toy.ToyPlatform.api_key, "base_url": "https://toy.example.test"}
'''


def test_a_plugin_with_an_emulator_joins_the_matrix(install_plugins: InstallPlugins) -> None:
    install_plugins(
        {"toy": "toy_matrix_plugin:ToyMatrixConnector"},
        modules={"toy_matrix_plugin": TOY_PLUGIN},
    )
    cells = [cell for cell in matrix_cells() if cell.connector == "toy"]
    assert len(cells) == sum((f.listing is not None) + (f.write is not None) for f in FAULTS)
    results = [run_cell(cell) for cell in cells]
    failed = [f"{r.cell.id}: {r.outcome} {r.detail}" for r in results if not r.ok]
    assert not failed, "\n".join(failed)
    assert {r.outcome for r in results} >= {Outcome.RECOVERED, Outcome.TYPED}


def test_a_plugin_without_an_emulator_is_named_not_run(install_plugins: InstallPlugins) -> None:
    install_plugins(
        {"bare": "bare_plugin:BareConnector"},
        modules={
            "bare_plugin": "import toy_connector\n\n"
            "class BareConnector(toy_connector.ToyConnector):\n    name = 'bare'\n"
        },
    )
    entries, missing = emulated_connectors()
    assert "bare" in missing
    assert "bare" not in {entry.name for entry in entries}


# -- the matrix catches regressions ------------------------------------------------------


def _run(connector: str, fault: str, operation: str = "subscriptions") -> Any:
    return run_cell(Cell(connector, operation, fault))


@pytest.fixture(autouse=True)
def _plans_before_patching() -> None:
    # The fault-free runs are cached per process: take them before a test breaks the code.
    for name in ("emnify", "sandbox", "soracom"):
        plan_for(name)


def test_stopping_on_an_empty_page_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = PageNumberPaginator.next

    def stop_on_empty(
        self: PageNumberPaginator, request: PageRequest, response: Any, body: Any, items: Any
    ) -> PageRequest | None:
        return original(self, request, response, body, items) if items else None

    monkeypatch.setattr(PageNumberPaginator, "next", stop_on_empty)
    result = _run("emnify", "empty-page")
    assert not result.ok
    assert result.outcome is Outcome.WRONG
    assert "short" in result.detail


def test_a_guard_that_only_looks_back_one_page_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ListingGuard, "check_page", lambda self, items: None)
    result = _run("emnify", "repeated-page")
    assert not result.ok
    assert result.outcome is Outcome.WRONG


def test_a_listing_without_natural_keys_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ListingGuard, "_check_keys", lambda self, items: None)
    result = _run("soracom", "record-twice")
    assert not result.ok
    assert result.detail == "a SIM was listed twice"


def test_a_raw_exception_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HttpClient, "decode", lambda self, response, path: response.json())
    result = _run("sandbox", "deep-nesting")
    assert not result.ok
    assert result.outcome is Outcome.RAW
    assert "RecursionError" in result.detail


def test_a_client_that_does_not_retry_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetryPolicy, "should_retry", lambda self, error, **_: False)
    result = _run("emnify", "503-burst")
    assert not result.ok
    assert result.outcome is Outcome.TYPED


def test_a_post_sent_again_after_a_lost_answer_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(RetryPolicy, "should_retry", lambda self, error, **_: True)
    result = _run("sandbox", "read-timeout", "write")
    assert not result.ok


def test_an_error_without_its_connector_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = HttpClient._unexpected

    def anonymous(self: HttpClient, response: httpx.Response, message: str) -> Any:
        error = original(self, response, message)
        error.connector = None
        return error

    monkeypatch.setattr(HttpClient, "_unexpected", anonymous)
    result = _run("sandbox", "malformed-body")
    assert not result.ok
    assert "connector is None" in result.detail


# -- the pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([{"id": 1}], [{"id": 1}]),
        ({"sims": [{"id": 1}], "meta": {"page": 1}}, [{"id": 1}]),
        ({"a": [{"x": 1}], "b": [{"y": 1}, {"y": 2}]}, [{"y": 1}, {"y": 2}]),
        ({"total": 3, "ids": [1, 2]}, None),
        ("text", None),
    ],
)
def test_items_are_found_where_vendors_put_them(body: Any, expected: Any) -> None:
    assert items_of(body) == expected


@pytest.mark.parametrize(
    ("queries", "expected"),
    [
        (["page=1&per_page=2", "page=2&per_page=2", "page=3&per_page=2"], "page"),
        (["limit=2", "limit=2&cursor=a", "limit=2&cursor=b"], None),
        (
            ["s=1&pageNumber=1", "s=1&pageNumber=2", "s=2&pageNumber=1", "s=2&pageNumber=2"],
            "pageNumber",
        ),
        (["PageSize=2", "PageSize=2&Page=1&PageToken=x", "PageSize=2&Page=2&PageToken=y"], None),
        (["page=1", "page=1"], None),
    ],
    ids=["page-number", "cursor", "windows", "next-url", "no-progress"],
)
def test_page_numbers_are_recognised(queries: Sequence[str], expected: str | None) -> None:
    requests = [httpx.Request("GET", f"https://x.test/v1/sims?{query}") for query in queries]
    assert _page_number_param(requests) == expected


def test_the_command_prints_the_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    assert faults.main(["sandbox"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["fault", "sandbox", "list", "sandbox", "write"]
    assert "0 failed" in out
    assert "sandbox write          read-timeout        TYPED OutcomeUnknownError" in out


def test_the_command_as_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert faults.main(["soracom", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| fault | soracom list | soracom write |\n|---|---|---|")


def test_the_command_refuses_an_unknown_connector() -> None:
    with pytest.raises(SystemExit):
        faults.main(["no-such-platform"])


def test_the_command_fails_when_a_cell_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(RetryPolicy, "should_retry", lambda self, error, **_: False)
    assert faults.main(["emnify"]) == 1
    out = capsys.readouterr().out
    assert "connect-timeout     T!" in out  # RECOVERED was expected
    assert "(FAILED)" in out
