"""``subscriptions(status=...)``: the same SIMs as filtering the whole listing, on every
connector with an emulator; asked of the platform where its API can filter."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

import cdp_sdk
from cdp_sdk import InvalidRequestError, SimStatus, Workspace
from cdp_sdk.mapping import vendor_states
from cdp_sdk.sandbox import Fleet
from cdp_sdk.testing import emulated_connectors
from emulated import emulated

EMULATED = {entry.name: entry for entry in emulated_connectors()[0]}


@pytest.mark.parametrize("name", sorted(EMULATED))
def test_a_status_filter_keeps_exactly_the_sims_in_those_statuses(name: str) -> None:
    entry = EMULATED[name]
    fleet = Fleet(40, seed=11, today=date(2024, 6, 15), **entry.emulator.fleet_options)
    emulator = entry.start(fleet)
    settings = {**entry.settings(), "rate_limit": None, "max_concurrency": None}
    with cdp_sdk.connect(name, transport=emulator.transport(), **settings) as client:
        every = list(client.subscriptions())
        counted = Counter(sim.status for sim in every)
        assert len(counted) >= 2, "the fleet should hold SIMs in several statuses"
        for status in counted:
            found = list(client.subscriptions(status=status))
            assert sorted(s.iccid for s in found) == sorted(
                s.iccid for s in every if s.status is status
            )
        two = set(list(counted)[:2])
        found = list(client.subscriptions(status=two))
        assert sorted(s.iccid for s in found) == sorted(s.iccid for s in every if s.status in two)
        missing = [status for status in SimStatus if status not in counted]
        for status in missing:
            assert list(client.subscriptions(status=status)) == []


def test_a_filter_the_platform_understands_is_sent_to_it() -> None:
    account, emulator = emulated("sandbox", 60)
    with Workspace({"lab": account}) as workspace, workspace.connect("lab") as sandbox:
        paused = list(sandbox.subscriptions(status=["suspended", "deactivated"]))
    [listing] = [r for r in emulator.requests if r.url.path == "/v1/sims"]
    assert listing.url.params["status"] == "paused,stopped"
    assert {sim.status for sim in paused} == {SimStatus.SUSPENDED, SimStatus.DEACTIVATED}


def test_jasper_asks_only_the_matching_devices_for_their_details() -> None:
    account, emulator = emulated("jasper", 30)
    with Workspace({"us": account}) as workspace, workspace.connect("us") as jasper:
        active = list(jasper.subscriptions(status="active"))
    details = [r for r in emulator.requests if r.url.path.count("/") == 5]
    assert len(details) == len(active) < 30
    searches = [r for r in emulator.requests if r.url.path.endswith("/devices")]
    assert {r.url.params["status"] for r in searches} == {"ACTIVATED"}


@pytest.mark.parametrize("name", ["1nce", "soracom"])
def test_platforms_without_a_status_filter_are_filtered_here(name: str) -> None:
    account, emulator = emulated(name, 20)
    with Workspace({"a": account}) as workspace, workspace.connect("a") as client:
        every = list(client.subscriptions())
        asked = len(emulator.requests)
        active = list(client.subscriptions(status="active"))
    assert active == [sim for sim in every if sim.status is SimStatus.ACTIVE]
    assert all("status" not in str(r.url.params) for r in emulator.requests[asked:])


def test_the_workspace_passes_the_filter_to_every_account() -> None:
    lab, _ = emulated("sandbox", 60)
    eu, _ = emulated("emnify", 60)
    with Workspace({"lab": lab, "eu": eu}) as workspace:
        found = list(workspace.subscriptions(status="suspended"))
    assert {sim.account for sim in found} == {"lab", "eu"}
    assert {sim.status for sim in found} == {SimStatus.SUSPENDED}


def test_unknown_is_a_status_to_filter_on_too() -> None:
    with cdp_sdk.connect("sandbox", fleet_size=20) as sandbox:
        assert list(sandbox.subscriptions(status="unknown")) == []


@pytest.mark.parametrize(
    ("status", "why"), [("asleep", "unknown status 'asleep'"), ([], "at least")]
)
def test_a_bad_status_filter_is_refused_before_any_request(status: object, why: str) -> None:
    with (
        cdp_sdk.connect("sandbox", fleet_size=5) as sandbox,
        pytest.raises(InvalidRequestError, match=why),
    ):
        sandbox.subscriptions(status=status)  # type: ignore[arg-type]


def test_vendor_states_are_the_states_mapping_to_the_wanted_statuses() -> None:
    table = {
        "RETIRED": SimStatus.RETIRED,
        "ACTIVATED": SimStatus.ACTIVE,
        "PURGED": SimStatus.RETIRED,
    }
    assert vendor_states(table, {SimStatus.RETIRED}) == ["RETIRED", "PURGED"]
    assert vendor_states(table, {SimStatus.ACTIVE, SimStatus.RETIRED}) == list(table)
    assert vendor_states(table, {SimStatus.SUSPENDED}) == []
    assert vendor_states(table, {SimStatus.UNKNOWN, SimStatus.ACTIVE}) is None


async def test_the_sandbox_api_refuses_an_unknown_state() -> None:
    async with cdp_sdk.connect_async("sandbox", fleet_size=5) as sandbox:
        with pytest.raises(InvalidRequestError) as caught:
            await sandbox.plugin.http.request("GET", "/v1/sims", params={"status": "live,asleep"})
    assert (caught.value.status_code, caught.value.vendor_code) == (400, "invalid_parameter")
    assert "unknown status 'asleep'" in caught.value.message
