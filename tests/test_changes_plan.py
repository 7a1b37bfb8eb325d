"""Plans: each SIM resolved to one account, its state read, its calls and refusals decided
before any call; saved and read back as JSON."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cdp_sdk import ActivationMode, SimStatus, Subscription, Tag
from cdp_sdk.changes import (
    Change,
    ChangeSet,
    Decision,
    Plan,
    PlanFileError,
    PlannedCall,
    SimState,
    Step,
    TooManyChangesError,
)
from cdp_sdk.changes._rules import call_changed, call_reached, decide, wanted_reached
from cdp_sdk.connectors.jasper import JasperConnector
from cdp_sdk.connectors.jasper import mapping as jasper_mapping
from cdp_sdk.connectors.sandbox import SandboxConnector
from cdp_sdk.sandbox import Fault
from cdp_sdk.sync import Store
from cdp_sdk.workspace import Workspace
from conftest import InstallPlugins
from emulated import emulated, pick


def writes(*emulators: object) -> int:
    """Requests that could change something (anything but GET and logins)."""
    return sum(
        1
        for emulator in emulators
        for request in emulator.requests  # type: ignore[attr-defined]
        if request.method != "GET" and "auth" not in request.url.path
    )


# -- resolving SIMs ---------------------------------------------------------------------------


def test_each_sim_is_found_in_its_account_with_or_without_its_check_digit() -> None:
    eu, emnify = emulated("emnify")
    jp, soracom = emulated("soracom")
    first, second = pick(emnify, SimStatus.ACTIVE, count=2)
    [third] = pick(soracom, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(first.iccid, status="suspended")
    changes.add(second.iccid[:-1], status="suspended")  # without the check digit
    changes.add(third.iccid[:-1], tags={"campaign": "q3"})
    with Workspace({"eu": eu, "jp": jp}) as workspace:
        plan = changes.plan(workspace)
    assert [(c.account, c.iccid, c.connector, c.decision) for c in plan.changes] == [
        ("eu", first.iccid, "emnify", Decision.APPLY),
        ("eu", second.iccid, "emnify", Decision.APPLY),
        ("jp", third.iccid, "soracom", Decision.APPLY),
    ]
    assert plan.changes[1].change.iccid == second.iccid[:-1]  # as given, kept
    assert writes(emnify, soracom) == 0
    assert plan.source == "live"
    assert all(c.current is not None and c.current.source == "live" for c in plan.changes)


def test_an_iccid_in_no_account_or_in_two_is_an_error_line_not_a_guess() -> None:
    one, first = emulated("sandbox", seed=7)
    two, _ = emulated("sandbox", seed=7)  # the same fleet: the same ICCIDs
    three, other = emulated("emnify")
    [shared] = pick(first, SimStatus.ACTIVE)
    [alone] = pick(other, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(shared.iccid, status="suspended")
    changes.add("8988399000000000011", status="suspended")
    changes.add(alone.iccid, status="suspended", account="one")  # pinned elsewhere
    changes.add("8988399000000000029", status="suspended", account="nine")
    with Workspace({"one": one, "two": two, "three": three}) as workspace:
        plan = changes.plan(workspace)
        pinned = ChangeSet.for_subscriptions(
            [{"iccid": shared.iccid, "account": "two"}], status="suspended"
        ).plan(workspace)
    in_two, nowhere, elsewhere, unknown = plan.changes
    assert unknown.reasons[0].message == (
        "pinned to 'nine', which is not an account here (one, three, two)"
    )
    assert unknown.account == "nine"
    assert in_two.decision is Decision.ERROR
    assert in_two.reasons[0].code == "in_two_accounts"
    assert in_two.reasons[0].message.startswith("found in one and two: pin one account")
    assert nowhere.reasons[0].code == "not_found"
    assert nowhere.reasons[0].message == "in none of the accounts searched (one, three, two)"
    assert elsewhere.reasons[0].message == "in none of the accounts searched (one)"
    assert plan.counts[Decision.ERROR] == 4
    assert not plan.ok
    [resolved] = pinned.changes
    assert (resolved.account, resolved.decision) == ("two", Decision.APPLY)


def test_the_same_sim_twice_is_an_error_on_its_second_line() -> None:
    account, emulator = emulated("sandbox")
    [sim] = pick(emulator, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    changes.add(sim.iccid[:-1], tags={"site": "x"})  # the same SIM, without check digit
    with Workspace({"lab": account}) as workspace:
        plan = changes.plan(workspace)
    assert [c.decision for c in plan.changes] == [Decision.APPLY, Decision.ERROR]
    assert plan.changes[1].reasons[0].message == "the same SIM as line 1"
    assert plan.changes[1].iccid == sim.iccid


def test_an_account_that_cannot_be_searched_makes_the_line_an_error() -> None:
    good, emnify = emulated("emnify")
    bad, sandbox = emulated("sandbox")
    sandbox.faults.append(Fault(status=503, path="/v1/sims/", times=100))
    [sim] = pick(emnify, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    with Workspace({"eu": good, "lab": bad}) as workspace:
        plan = changes.plan(workspace)
    [line] = plan.changes
    assert line.decision is Decision.ERROR
    assert line.reasons[0].code == "lookup_failed"
    assert line.reasons[0].message.startswith("found in eu, but other accounts failed (lab: ")


# -- decisions --------------------------------------------------------------------------------


def test_refusals_are_decided_before_any_call() -> None:
    eu, emnify = emulated("emnify")
    us, jasper = emulated("jasper")
    ie, onence = emulated("1nce")
    lab, sandbox = emulated("sandbox")
    [issued] = pick(emnify, SimStatus.INVENTORY)  # no endpoint yet
    [active_eu] = pick(emnify, SimStatus.ACTIVE)
    [active_us] = pick(jasper, SimStatus.ACTIVE)
    [active_ie] = pick(onence, SimStatus.ACTIVE)
    [ready] = pick(sandbox, SimStatus.READY)
    changes = ChangeSet()
    changes.add(issued.iccid, tags={"vip": None})
    changes.add(active_eu.iccid, status="retired")
    changes.add(active_us.iccid, status="suspended")
    changes.add(active_ie.iccid, tags={"site": "x"})
    changes.add(ready.iccid, status="retired")
    with Workspace({"eu": eu, "us": us, "ie": ie, "lab": lab}) as workspace:
        plan = changes.plan(workspace, confirm_irreversible=True)
    reasons = [[(r.code, r.message) for r in c.reasons] for c in plan.changes]
    assert reasons == [
        [
            (
                "tags",
                "emnify: the SIM is not assigned to an endpoint (device), and emnify keeps "
                "tags on endpoints",
            )
        ],
        [("no_state", "emnify has no state for 'retired' that its API can set")],
        [("no_state", "jasper has no state for 'suspended' that its API can set")],
        [("tags", "1nce: 'site' is not a tag of this platform (keys: label)")],
        [
            (
                "transition",
                "sandbox does not move a SIM from 'activation_ready' to 'terminated' "
                "(from 'activation_ready': live, stopped)",
            )
        ],
    ]
    assert {c.decision for c in plan.changes} == {Decision.REFUSE}
    assert all(c.calls == () for c in plan.changes)
    assert writes(emnify, jasper, onence, sandbox) == 0


def test_a_retirement_needs_confirmation_and_takes_its_tags_first() -> None:
    lab, sandbox = emulated("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    sandbox.fleet.set_status(sim.iccid, SimStatus.DEACTIVATED, at=datetime.now(UTC), actor="t")
    changes = ChangeSet()
    changes.add(sim.iccid, status="retired", tags={"reason": "lost"})
    with Workspace({"lab": lab}) as workspace:
        refused = changes.plan(workspace)
        confirmed = changes.plan(workspace, confirm_irreversible=True)
    [line] = refused.changes
    assert line.decision is Decision.REFUSE
    assert [r.code for r in line.reasons] == ["confirm_irreversible"]
    [line] = confirmed.changes
    assert line.decision is Decision.APPLY
    assert [c.step for c in line.calls] == [Step.TAGS, Step.STATUS]
    assert line.calls[1].transition == "stopped -> terminated"
    assert line.calls[1].describe() == "change_status(retired): stopped -> terminated"
    assert confirmed.confirm_irreversible


def test_only_what_differs_is_called_and_a_sim_already_so_is_skipped() -> None:
    lab, sandbox = emulated("sandbox")
    first, second = pick(sandbox, SimStatus.ACTIVE, where=lambda s: "fleet" in s.tags, count=2)
    changes = ChangeSet()
    changes.add(first.iccid, status="active", tags={"fleet": first.tags["fleet"], "new": "1"})
    changes.add(second.iccid, status="active", tags={"fleet": second.tags["fleet"]}, remove=["x"])
    with Workspace({"lab": lab}) as workspace:
        plan = changes.plan(workspace)
    partial, same = plan.changes
    assert partial.decision is Decision.APPLY
    [call] = partial.calls
    assert (call.step, call.tags, call.remove) == (Step.TAGS, {"new": "1"}, ())
    assert call.describe() == "update_tags(new=1)"
    assert same.decision is Decision.SKIP
    assert same.reasons[0].code == "in_wanted_state"
    assert plan.counts == {
        Decision.APPLY: 1,
        Decision.SKIP: 1,
        Decision.REFUSE: 0,
        Decision.ERROR: 0,
    }
    assert plan.ok


def test_a_connector_that_cannot_change_statuses_is_refused(
    install_plugins: InstallPlugins,
) -> None:
    install_plugins(
        {"tagger": "tagger_plugin:Tagger"},
        modules={
            "tagger_plugin": (
                "from cdp_sdk import Capability\n"
                "from cdp_sdk.connectors.sandbox import SandboxConnector\n"
                "class Tagger(SandboxConnector):\n"
                "    name = 'tagger'\n"
                "    capabilities = SandboxConnector.capabilities - {Capability.CHANGE_STATUS}\n"
            )
        },
    )
    account, sandbox = emulated("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")
    tagger = type(account)("tagger", dict(account.settings), account.transport)
    with Workspace({"lab": tagger}) as workspace:
        plan = changes.plan(workspace)
    [line] = plan.changes
    assert [(r.code, r.message) for r in line.reasons] == [
        ("no_change_status", "tagger cannot change a SIM's status")
    ]


def test_the_plan_refuses_to_change_more_sims_than_max_changes() -> None:
    lab, sandbox = emulated("sandbox")
    changes = ChangeSet.for_subscriptions(
        [{"iccid": sim.iccid} for sim in pick(sandbox, SimStatus.ACTIVE, count=3)],
        status="suspended",
    )
    with Workspace({"lab": lab}) as workspace:
        assert len(changes.plan(workspace, max_changes=3).to_apply) == 3
        with pytest.raises(TooManyChangesError) as caught:
            changes.plan(workspace, max_changes=2)
    assert (caught.value.changes, caught.value.limit) == (3, 2)
    assert "raise max_changes" in str(caught.value)
    assert writes(sandbox) == 0
    with pytest.raises(ValueError, match="max_changes"):
        changes.plan(Workspace({"lab": lab}), max_changes=-1)


# -- the rules, pure --------------------------------------------------------------------------


def jasper_sim(status_raw: str, *, tags: tuple[Tag, ...] = ()) -> Subscription:
    return Subscription(
        connector="jasper",
        id="x",
        iccid="8988303000000000017",
        status=jasper_mapping.STATUS.get(status_raw, SimStatus.UNKNOWN),
        status_raw=status_raw,
        tags=tags,
    )


def test_a_state_missing_from_the_table_is_noted_not_refused() -> None:
    change = Change(iccid="8988303000000000017", status="deactivated")
    decided = decide(
        change,
        jasper_sim("GLOBAL_TRANSFER"),
        JasperConnector,
        jasper_mapping.ACTIVATION_MODES,
        confirm_irreversible=False,
    )
    assert decided.decision is Decision.APPLY
    assert decided.notes == (
        "the state 'GLOBAL_TRANSFER' is not in jasper's table: the move is not checked",
    )
    unknown_modes = decide(
        change, jasper_sim("ACTIVATED"), JasperConnector, None, confirm_irreversible=False
    )
    assert unknown_modes.notes == (
        "jasper's activation modes are unknown: the move is not checked",
    )
    assert unknown_modes.calls == (PlannedCall(step=Step.STATUS, status=SimStatus.DEACTIVATED),)


def test_removing_a_tag_the_platform_does_not_hold_is_refused_before_any_call() -> None:
    """A key the SIM carries in the store (from an older mapping, say) that is not one of
    the platform's custom fields cannot be removed there: refused, with no call."""
    decided = decide(
        Change(iccid="8988303000000000017", remove=("legacy",)),
        jasper_sim("ACTIVATED", tags=(Tag(key="legacy", value="x"),)),
        JasperConnector,
        jasper_mapping.ACTIVATION_MODES,
        confirm_irreversible=False,
    )
    assert decided.decision is Decision.REFUSE
    assert decided.calls == ()
    assert [reason.code for reason in decided.reasons] == ["tags"]
    assert "'legacy' is not a tag of this platform" in decided.reasons[0].message


def test_the_activation_mode_table_decides_the_move() -> None:
    modes = jasper_mapping.ACTIVATION_MODES
    back = decide(
        Change(iccid="8988303000000000017", status="test"),
        jasper_sim("ACTIVATED"),
        JasperConnector,
        modes,
        confirm_irreversible=False,
    )
    assert back.decision is Decision.REFUSE
    assert back.reasons[0].message == (
        "jasper does not move a SIM from 'ACTIVATED' to 'TEST_READY' "
        "(from 'ACTIVATED': INVENTORY, DEACTIVATED, RETIRED)"
    )
    forward = decide(
        Change(iccid="8988303000000000017", status="active"),
        jasper_sim("DEACTIVATED"),
        JasperConnector,
        modes,
        confirm_irreversible=False,
    )
    assert forward.calls[0].transition == "DEACTIVATED -> ACTIVATED"
    # A target that is not settable does not count, even where the table leads to it.
    unsettable = [m.model_copy(update={"settable": False}) if m.name == "ACTIVATED" else m
                  for m in modes]  # fmt: skip
    refused = decide(
        Change(iccid="8988303000000000017", status="active"),
        jasper_sim("DEACTIVATED"),
        JasperConnector,
        unsettable,
        confirm_irreversible=False,
    )
    assert refused.reasons[0].code == "no_state"


def test_several_settable_states_for_one_status_are_all_offered() -> None:
    modes = [
        ActivationMode(connector="x", name="A", status=SimStatus.ACTIVE, settable=True,
                       next=("B", "C")),
        ActivationMode(connector="x", name="B", status=SimStatus.SUSPENDED, settable=True),
        ActivationMode(connector="x", name="C", status=SimStatus.SUSPENDED, settable=True),
    ]  # fmt: skip
    sim = jasper_sim("A").model_copy(update={"status": SimStatus.ACTIVE})
    decided = decide(
        Change(iccid=sim.iccid, status="suspended"),
        sim,
        SandboxConnector,
        modes,
        confirm_irreversible=False,
    )
    assert decided.calls[0].transition == "A -> B or C"


def state(status: SimStatus, raw: str, **tags: str | None) -> SimState:
    return SimState(
        status=status, status_raw=raw, tags=tags, observed_at=datetime.now(UTC), source="live"
    )


def test_reached_and_changed_look_only_at_what_a_call_touches() -> None:
    status = PlannedCall(step=Step.STATUS, status=SimStatus.SUSPENDED)
    tags = PlannedCall(step=Step.TAGS, tags={"a": "1", "b": None}, remove=("c",))
    before = state(SimStatus.ACTIVE, "live", c="x", other="1")
    assert not call_reached(status, before)
    assert call_reached(status, state(SimStatus.SUSPENDED, "paused"))
    assert not call_reached(tags, before)
    assert call_reached(tags, state(SimStatus.ACTIVE, "live", a="1", b=None, other="2"))
    assert not call_reached(tags, state(SimStatus.ACTIVE, "live", a="1"))  # b missing
    assert not call_reached(tags, state(SimStatus.ACTIVE, "live", a="1", b="v"))  # b valued
    assert not call_reached(tags, state(SimStatus.ACTIVE, "live", a="1", b=None, c="x"))

    assert call_changed(status, before, state(SimStatus.ACTIVE, "live", c="y")) is None
    assert call_changed(status, before, state(SimStatus.DEACTIVATED, "stopped")) == (
        "the status was active (live) when planned and is now deactivated (stopped)"
    )
    assert call_changed(tags, before, state(SimStatus.DEACTIVATED, "stopped", c="x")) is None
    assert call_changed(tags, before, state(SimStatus.ACTIVE, "live", c="x", other="2")) is None
    assert call_changed(tags, before, state(SimStatus.ACTIVE, "live", c="x", a="0")) == (
        "the tag 'a' changed since the plan"
    )
    assert call_changed(tags, before, state(SimStatus.ACTIVE, "live")) == (
        "the tag 'c' changed since the plan"
    )
    assert call_changed(tags, None, state(SimStatus.ACTIVE, "live")) is None

    wanted = Change(iccid="8988303000000000017", status="suspended", tags={"a": "1"})
    assert wanted_reached(wanted, state(SimStatus.SUSPENDED, "paused", a="1"))
    assert not wanted_reached(wanted, state(SimStatus.ACTIVE, "live", a="1"))
    assert not wanted_reached(wanted, state(SimStatus.SUSPENDED, "paused"))


# -- from the store ---------------------------------------------------------------------------


def test_a_plan_from_the_store_shows_how_old_each_state_is(tmp_path: Path) -> None:
    eu, emnify = emulated("emnify")
    lab, sandbox = emulated("sandbox")
    database = tmp_path / "cdp.db"
    with Workspace({"eu": eu, "lab": lab}) as workspace, Store(database) as store:
        assert store.sync(workspace, entities=["subscriptions", "activation_modes"]).ok
        with store.engine.begin() as connection:  # synced three hours ago
            connection.exec_driver_sql(
                "update subscriptions set synced_at = ?",
                ((datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),),
            )
    [active] = pick(emnify, SimStatus.ACTIVE)
    [live] = pick(sandbox, SimStatus.ACTIVE)
    frame = Store(database).to_pandas("subscriptions")
    chosen = frame[frame["iccid"].isin([active.iccid, live.iccid])]
    changes = ChangeSet.for_subscriptions(chosen, status="suspended")
    changes.add("8988399000000000011", status="active")
    requests = len(emnify.requests) + len(sandbox.requests)
    with Store(database) as store:
        plan = changes.plan(store=store)  # no workspace: the store alone
    assert len(emnify.requests) + len(sandbox.requests) == requests  # not one request
    assert plan.source == "store"
    first, second, missing = plan.changes
    assert {first.account, second.account} == {"eu", "lab"}
    assert all(c.decision is Decision.APPLY for c in (first, second))
    row = first.row(plan.created_at)
    assert row["seen"] == "store, 3 h old"
    transitions = {c.calls[0].transition for c in (first, second)}
    assert transitions == {"Activated -> Suspended", "live -> paused"}
    assert missing.reasons[0].message == "not in the store: sync its account first, or plan live"


def test_a_store_account_missing_from_the_workspace_is_an_error(tmp_path: Path) -> None:
    lab, sandbox = emulated("sandbox")
    with Workspace({"lab": lab}) as workspace, Store(tmp_path / "cdp.db") as store:
        assert store.sync(workspace, entities=["subscriptions"]).ok
        [sim] = pick(sandbox, SimStatus.ACTIVE)
        changes = ChangeSet()
        changes.add(sim.iccid, status="suspended")
        other = Workspace({"elsewhere": emulated("sandbox", seed=3)[0]})
        plan = changes.plan(other, store=store)
        # Without synced activation modes, the workspace's connector gives them.
        mine = changes.plan(workspace, store=store)
    [line] = plan.changes
    assert line.reasons[0].code == "unknown_account"
    assert line.reasons[0].message == "the store's account 'lab' is not an account of the workspace"
    [line] = mine.changes
    assert line.calls[0].transition == "live -> paused"


def test_a_live_plan_needs_a_workspace() -> None:
    with pytest.raises(TypeError, match="needs a Workspace"):
        ChangeSet([Change(iccid="8988303000000000017", status="active")]).plan()


# -- plans as JSON and text -------------------------------------------------------------------


@pytest.fixture
def plan() -> Plan:
    lab, sandbox = emulated("sandbox")
    first, second = pick(sandbox, SimStatus.ACTIVE, count=2)
    changes = ChangeSet()
    changes.add(first.iccid, status="suspended", tags={"site": "paris"})
    changes.add(second.iccid, status="retired")
    changes.add("8988399000000000011", status="active")
    with Workspace({"lab": lab}) as workspace:
        return changes.plan(workspace)


def test_a_plan_survives_json_and_a_file(plan: Plan, tmp_path: Path) -> None:
    assert Plan.from_json(plan.to_json()) == plan
    file = plan.save(tmp_path / "plan.json")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # it lists ICCIDs
    loaded = Plan.load(file)
    assert loaded == plan
    assert loaded.digest == plan.digest
    data = json.loads(file.read_text())
    assert (data["format"], data["version"]) == ("cdp-changes-plan", 1)
    data["changes"][0]["change"]["status"] = "active"  # an edited plan is another plan
    assert Plan.from_json(json.dumps(data)).digest != plan.digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not a cdp changes plan"),
        ('{"format": "other"}', "not a cdp changes plan"),
        ('{"format": "cdp-changes-plan", "version": 9}', "plan format version 9"),
        ('{"format": "cdp-changes-plan", "version": 1}', "not a valid plan (id: Field required)"),
    ],
)
def test_what_is_not_a_plan_is_refused(text: str, message: str) -> None:
    with pytest.raises(PlanFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Plan.from_json(text, source="p.json")


def test_a_plan_file_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Saved and loaded again where the locale's encoding is ASCII: the same UTF-8 bytes."""
    lab, sandbox = emulated("sandbox")
    (sim,) = pick(sandbox, SimStatus.ACTIVE, count=1)
    changes = ChangeSet()
    changes.add(sim.iccid, tags={"site": "Zürich"})
    with Workspace({"lab": lab}) as workspace:
        written = changes.plan(workspace).save(tmp_path / "plan.json")
    assert "Zürich".encode() in written.read_bytes()
    again = tmp_path / "again.json"
    script = (
        "import sys; from cdp_sdk.changes import Plan; Plan.load(sys.argv[1]).save(sys.argv[2])"
    )
    env = os.environ | {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    ran = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", script, str(written), str(again)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert again.read_bytes() == written.read_bytes()


def test_a_missing_plan_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="cannot read the plan"):
        Plan.load(tmp_path / "missing.json")


def test_a_plan_prints_as_a_table_and_as_rows(plan: Plan) -> None:
    text = str(plan)
    header, columns, rule, *rows, summary = text.splitlines()
    assert header.startswith(f"Plan {plan.id} (live state, ")
    assert columns.split() == [
        "line", "account", "iccid", "current", "seen", "wanted", "calls", "decision", "why"
    ]  # fmt: skip
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(rows) == 3
    assert "change_status(suspended): live -> paused; update_tags(site=paris)" in rows[0]
    assert "retiring a SIM cannot be undone" in rows[1]
    assert summary == "3 SIMs: 1 to change, 0 already so, 1 refused, 1 in error"
    assert plan.rows()[2] == {
        "line": 3,
        "account": "",
        "connector": "",
        "iccid": "8988399000000000011",
        "current": "",
        "seen": "",
        "wanted": "active",
        "calls": "",
        "decision": "error",
        "why": "in none of the accounts searched (lab)",
    }
    assert len(plan) == 3


def install_blind(install_plugins: InstallPlugins) -> None:
    """Install the connector ``blind``: the sandbox's, without the capability to list
    SIMs (so it cannot look them up)."""
    install_plugins(
        {"blind": "blind_plugin:Blind"},
        modules={
            "blind_plugin": (
                "from cdp_sdk import Capability\n"
                "from cdp_sdk.connectors.sandbox import SandboxConnector\n"
                "class Blind(SandboxConnector):\n"
                "    name = 'blind'\n"
                "    capabilities = frozenset({Capability.CHANGE_STATUS})\n"
            )
        },
    )


def test_accounts_that_cannot_be_searched(install_plugins: InstallPlugins) -> None:
    install_blind(install_plugins)
    lab, sandbox = emulated("sandbox")
    blind = type(lab)("blind", dict(lab.settings), lab.transport)
    broken = type(lab)("sandbox", {"api_key": "env:CDP_TEST_NOT_SET"})
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add("8988399000000000011", status="active")
    with Workspace({"blind": blind}) as workspace:
        [nowhere] = changes.plan(workspace).changes
    assert nowhere.reasons[0].message == (
        "in none of the accounts searched (blind); not searched: blind: blind cannot look SIMs up"
    )
    found = ChangeSet()
    found.add(sim.iccid, status="suspended")
    with Workspace({"broken": broken}) as workspace:
        [line] = found.plan(workspace).changes
    assert line.reasons[0].code == "lookup_failed"
    assert line.reasons[0].message.startswith("could not be looked up (broken: ConfigurationError")
    assert "CDP_TEST_NOT_SET" in line.reasons[0].message


def test_a_live_plan_needs_an_async_workspace_when_awaited() -> None:
    import asyncio

    from cdp_sdk.workspace import BaseWorkspace

    changes = ChangeSet([Change(iccid="8988303000000000017", status="active")])
    with pytest.raises(TypeError, match="needs an AsyncWorkspace"):
        asyncio.run(changes.plan_async(BaseWorkspace({})))


def test_unreadable_modes_leave_the_move_to_the_platform() -> None:
    lab, sandbox = emulated("sandbox")
    [sim] = pick(sandbox, SimStatus.ACTIVE)
    changes = ChangeSet()
    changes.add(sim.iccid, status="suspended")

    async def broken_modes() -> list[ActivationMode]:
        from cdp_sdk.errors import TransientError

        raise TransientError("down")

    with Workspace({"lab": lab}) as workspace:
        workspace.run(lambda w: _patch(w, broken_modes))
        [line] = changes.plan(workspace).changes
    assert line.decision is Decision.APPLY
    assert line.notes == ("sandbox's activation modes are unknown: the move is not checked",)


async def _patch(workspace: object, modes: object) -> None:
    workspace.connector("lab").plugin.activation_modes = modes  # type: ignore[attr-defined]
