"""Pushing local tags: the plan per account, and the store's mirror of what was pushed.

A push writes what it set to the store as platform tags at once and marks the local tags
it pushed; removals take the platform tag out and end the local row awaiting them. Each
of those writes concerns one SIM of one account, and a user would notice at the next push
if it reached any other.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cdp_sdk.sandbox import Fault
from cdp_sdk.sync import Store, StoredTag, TagChange, TagImportError, TagPlan
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from conftest import InstallPlugins
from pg import create_database
from test_sync import NOW, emulator_of, in_process
from test_sync_tags import READ_ONLY

PICKY = (
    "from cdp_sdk import SimStatus, TagRules\n"
    "from cdp_sdk.connectors.sandbox import SandboxConnector\n"
    "class PickySandbox(SandboxConnector):\n"
    "    name = 'picky'\n"
    "    tag_rules = TagRules(max_length=8)\n"
    "    @classmethod\n"
    "    def tag_problems(cls, tags, remove=(), *, sim=None):\n"
    "        problems = super().tag_problems(tags, remove, sim=sim)\n"
    "        suspended = sim is not None and sim.status is SimStatus.SUSPENDED\n"
    "        if suspended and (tags or list(remove)):\n"
    "            problems.append('a suspended SIM keeps its tags')\n"
    "        return problems\n"
)
"""A platform whose tag rules look at the SIM when it is known (as emnify's do) and at the
values."""


@pytest.fixture
def workspace() -> Workspace:
    return Workspace({"eu": in_process(6, 11)})


@pytest.fixture
def store(tmp_path: Path, workspace: Workspace) -> Store:
    store = Store(tmp_path / "cdp.db")
    store.sync(workspace, entities=["subscriptions"], now=NOW)
    return store


def csv(*rows: tuple[str, str, str]) -> io.StringIO:
    return io.StringIO("iccid,key,value\n" + "".join(f"{i},{k},{v}\n" for i, k, v in rows))


def tag_rows(store: Store, source: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The store's tag rows of one source, by account, ICCID and key."""
    return {
        (row["account"], row["iccid"], row["key"]): row
        for row in store.rows("tags")
        if row["source"] == source
    }


def iccids(workspace: Workspace, account: str = "eu") -> list[str]:
    return [sim.iccid for sim in emulator_of(workspace, account).fleet.sorted_sims()]


# -- the store's mirror of a push -----------------------------------------------------------


def test_a_push_marks_and_mirrors_only_what_it_pushed(store: Store, workspace: Workspace) -> None:
    with workspace, store:
        first, second = iccids(workspace)[:2]
        store.import_tags(csv((first, "site", "paris"), (second, "site", "lyon")))
        emulator_of(workspace, "eu").faults.append(Fault(status=404, path=f"/v1/sims/{second}/"))
        plan = store.plan_tag_push(workspace)
        assert plan  # a plan with changes is true

        report = store.push_tags(workspace, plan)

        assert report.plan == plan
        assert [c.iccid for c in report.pushed] == [first]
        local = tag_rows(store, "local")
        assert local["eu", first, "site"]["pushed_at"] is not None
        assert local["eu", second, "site"]["pushed_at"] is None  # its push failed
        platform = tag_rows(store, "platform")
        assert platform["eu", first, "site"]["value"] == "paris"
        assert platform["eu", first, "site"]["run_id"] == report.run_id  # the push wrote it
        assert ("eu", second, "site") not in platform
        assert all(row["pushed_at"] is None for row in platform.values())
        # The failed SIM is all that is left to push.
        assert store.plan_tag_push(workspace).changes == (
            TagChange("eu", second, {"site": "lyon"}, ()),
        )


def test_a_tag_the_platform_already_had_stays_there_when_dropped_locally(
    store: Store, workspace: Workspace
) -> None:
    """Only tags a push set are removed from the platform when the user drops them."""
    with workspace, store:
        sim = emulator_of(workspace, "eu").fleet.sorted_sims()[0]
        [(key, value)] = sim.tags.items()  # {'region': 'west'}
        store.import_tags(csv((sim.iccid, key, value or ""), (sim.iccid, "site", "paris")))
        pushed = store.push_tags(workspace)
        assert pushed.pushed == (TagChange("eu", sim.iccid, {"site": "paris"}, ()),)

        store.import_tags(io.StringIO("iccid,key,value\n"), replace=True)

        assert store.plan_tag_push(workspace).changes == (
            TagChange("eu", sim.iccid, {}, ("site",)),
        )


def test_a_removal_takes_out_that_tag_of_that_sim_only(store: Store, workspace: Workspace) -> None:
    with workspace, store:
        emulator = emulator_of(workspace, "eu")
        first, second = iccids(workspace)[:2]
        store.import_tags(
            csv((first, "site", "paris"), (first, "row", "3"), (second, "site", "lyon"))
        )
        store.push_tags(workspace)
        store.import_tags(csv((first, "row", "3")), replace=True)
        emulator.faults.append(Fault(status=404, path=f"/v1/sims/{second}/"))
        plan = store.plan_tag_push(workspace)
        assert plan.changes == (
            TagChange("eu", first, {}, ("site",)),
            TagChange("eu", second, {}, ("site",)),
        )

        report = store.push_tags(workspace, plan)

        assert [c.iccid for c in report.pushed] == [first]
        assert "site" not in emulator.fleet.sims[first].tags
        first_tags = {(t.key, t.source) for t in store.tags(iccid=first)}
        assert ("site", "platform") not in first_tags  # removed from the mirror at once
        assert {("row", "platform"), ("row", "local"), ("region", "platform")} <= first_tags
        # The SIM whose removal failed keeps its platform tag and its pending removal.
        assert StoredTag("eu", second, "site", "lyon", "platform") in store.tags(iccid=second)
        assert store.plan_tag_push(workspace).changes == (TagChange("eu", second, {}, ("site",)),)
        pending = [key for key, row in tag_rows(store, "local").items() if row["removed"]]
        assert pending == [("eu", second, "site")]


def test_the_push_run_is_ok_or_failed_as_its_calls_were(store: Store, workspace: Workspace) -> None:
    with workspace, store:
        emulator = emulator_of(workspace, "eu")
        first, second = iccids(workspace)[:2]
        store.import_tags(csv((first, "site", "paris")))
        done = store.push_tags(workspace)
        store.import_tags(csv((second, "site", "lyon")))
        emulator.faults.append(Fault(status=404, path=f"/v1/sims/{second}/"))
        refused = store.push_tags(workspace)

        runs: dict[int | None, tuple[str, str]] = {
            run.run_id: (run.kind, run.status) for run in store.runs()
        }
        assert runs[done.run_id] == ("tag_push", "ok")
        assert runs[refused.run_id] == ("tag_push", "failed")
        assert (len(refused.pushed), len(refused.failed)) == (0, 1)


def test_a_change_for_an_account_without_a_connector_fails_alone(
    store: Store, workspace: Workspace
) -> None:
    """A hand-made plan naming an account the workspace lacks: that change fails, typed."""
    with workspace, store:
        first = iccids(workspace)[0]
        plan = TagPlan(
            (
                TagChange("gone", first, {"site": "paris"}, ()),
                TagChange("eu", first, {"site": "rome"}, ()),
            )
        )

        report = store.push_tags(workspace, plan)

        assert report.pushed == (plan.changes[1],)
        [(change, error)] = report.failed
        assert change == plan.changes[0]
        assert error.split(":")[0].endswith("Error")
        assert first not in error


# -- the plan ---------------------------------------------------------------------------------


def test_a_plan_covers_the_accounts_asked_for_and_goes_past_skipped_ones(
    tmp_path: Path, install_plugins: InstallPlugins
) -> None:
    install_plugins(
        {"readonly": "readonly_sandbox:ReadOnlySandbox"}, modules={"readonly_sandbox": READ_ONLY}
    )
    # The same six ICCIDs in every account: a local tag goes to each account holding it.
    workspace = Workspace(
        {
            "a-ro": Account("readonly", {"fleet_size": 6, "seed": 11}),
            "eu": in_process(6, 11),
            "us": in_process(6, 12),
        }
    )
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        sim = iccids(workspace)[0]
        store.import_tags(csv((sim, "site", "paris")))

        everything = store.plan_tag_push(workspace)
        some = store.plan_tag_push(workspace, accounts=["us"])

        change = {"site": "paris"}
        assert everything.changes == (TagChange("eu", sim, change), TagChange("us", sim, change))
        assert everything.skipped == {"a-ro": "connector 'readonly' does not declare update_tags"}
        assert some == TagPlan((TagChange("us", sim, change),))


def test_a_sim_without_platform_tags_is_planned(tmp_path: Path) -> None:
    workspace = Workspace({"eu": in_process(6, 11)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        emulator = emulator_of(workspace, "eu")
        sim = iccids(workspace)[0]
        emulator.fleet.set_tags(sim, {}, at=NOW - timedelta(days=1), actor="test")
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        assert store.tags(iccid=sim) == []
        store.import_tags(csv((sim, "site", "paris")))

        assert store.plan_tag_push(workspace).changes == (TagChange("eu", sim, {"site": "paris"}),)


def test_the_connectors_rules_see_each_sim_as_its_account_has_it(
    tmp_path: Path, install_plugins: InstallPlugins
) -> None:
    install_plugins({"picky": "picky_sandbox:PickySandbox"}, modules={"picky_sandbox": PICKY})
    # The same ICCIDs in both accounts, suspended in one and active in the other.
    workspace = Workspace(
        {
            "eu": Account("picky", {"fleet_size": 6, "seed": 11}),
            "us": Account("picky", {"fleet_size": 6, "seed": 12}),
        }
    )
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        status = {(r["account"], r["iccid"]): r["status"] for r in store.rows("subscriptions")}
        suspended = next(i for (a, i), s in sorted(status.items()) if s == "suspended")
        assert (status["eu", suspended], status["us", suspended]) == ("suspended", "active")
        active = next(i for (a, i), s in sorted(status.items()) if a == "eu" and s == "active")
        store.import_tags(
            csv(
                (active, "site", "paris"),
                (suspended, "site", "lyon"),
                (suspended, "n", "123456789"),
            )
        )

        plan = store.plan_tag_push(workspace)

        long_value = "'n': a value holds at most 8 characters"
        assert plan.changes == (
            TagChange("eu", active, {"site": "paris"}),
            TagChange("us", active, {"site": "paris"}),
        )
        assert plan.refused == (
            (
                TagChange("eu", suspended, {"n": "123456789", "site": "lyon"}),
                f"{long_value}; a suspended SIM keeps its tags",
            ),
            (TagChange("us", suspended, {"n": "123456789", "site": "lyon"}), long_value),
        )


def test_a_removal_is_checked_by_the_connectors_rules_too(
    tmp_path: Path, install_plugins: InstallPlugins
) -> None:
    """A tag pushed while the SIM was active, dropped once it is suspended: refused."""
    install_plugins({"picky": "picky_sandbox:PickySandbox"}, modules={"picky_sandbox": PICKY})
    workspace = Workspace({"eu": Account("picky", {"fleet_size": 6, "seed": 11})})
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        sim = iccids(workspace)[0]
        store.import_tags(csv((sim, "site", "paris")))
        assert store.push_tags(workspace).failed == ()

        async def suspend(async_workspace: AsyncWorkspace) -> None:
            await async_workspace.connector("eu").change_status(sim, "suspended")

        workspace.run(suspend)
        store.sync(workspace, entities=["subscriptions"], now=NOW + timedelta(hours=1))
        store.import_tags(io.StringIO("iccid,key,value\n"), replace=True)

        plan = store.plan_tag_push(workspace)

        assert plan.changes == ()
        assert plan.refused == (
            (TagChange("eu", sim, {}, ("site",)), "a suspended SIM keeps its tags"),
        )


def test_each_account_is_compared_with_its_own_platform_tags(tmp_path: Path) -> None:
    # The same ICCIDs: the first SIM has region=west in eu, and no region in us.
    workspace = Workspace({"eu": in_process(6, 11), "us": in_process(6, 12)})
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        sim = iccids(workspace)[0]
        assert emulator_of(workspace, "eu").fleet.sims[sim].tags == {"region": "west"}
        assert "region" not in emulator_of(workspace, "us").fleet.sims[sim].tags
        store.import_tags(csv((sim, "region", "west")))

        assert store.plan_tag_push(workspace).changes == (TagChange("us", sim, {"region": "west"}),)


def test_accounts_the_workspace_cannot_push_to_are_skipped_with_why(
    store: Store, workspace: Workspace
) -> None:
    with workspace, store:
        sim = iccids(workspace)[0]
        store.import_tags(csv((sim, "site", "paris")))
        elsewhere = Workspace({"us": in_process(6, 12)})
        unknown = Workspace({"eu": Account("no-such-connector", {})})

        assert store.plan_tag_push(elsewhere).skipped == {"eu": "not an account of the workspace"}
        [reason] = store.plan_tag_push(unknown).skipped.values()
        assert reason.startswith("ConnectorNotFoundError: ")
        assert "no-such-connector" in reason


# -- reading tags and import errors -------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_tags_are_listed_by_account_iccid_key_and_source(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    """On either database: SQLite happens to return rows in key order, PostgreSQL not."""
    target = str(tmp_path / "cdp.db")
    if database == "postgresql":
        target = create_database(request.getfixturevalue("postgres_url"), "tag_order")
    workspace = Workspace({"us": in_process(6, 12), "eu": in_process(6, 11)})
    with workspace, Store(target) as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        first, second = iccids(workspace, "eu")[:2]
        # A local tag under the platform's key, and one sorting before the platform's.
        store.import_tags(csv((first, "fleet", "vans"), (first, "aaa", "1"), (second, "zz", "")))

        listed = [(t.account, t.iccid, t.key, t.source) for t in store.tags()]

        assert listed == sorted(listed)
        assert {account for account, *_ in listed} == {"eu", "us"}
        assert ("us", first, "fleet", "local") in listed
        assert listed.index(("us", first, "fleet", "local")) < listed.index(
            ("us", first, "fleet", "platform")
        )


@pytest.mark.parametrize(("bad", "more"), [(20, ""), (21, "; and 1 more"), (23, "; and 3 more")])
def test_an_import_error_shows_twenty_problems_and_counts_the_rest(
    store: Store, tmp_path: Path, bad: int, more: str
) -> None:
    path = tmp_path / "tags.csv"
    path.write_text("iccid,key,value\n" + "".join(f"12345,k{n},v\n" for n in range(bad)))

    with pytest.raises(TagImportError) as caught:
        store.import_tags(path)

    assert caught.value.source == str(path)
    assert len(caught.value.problems) == bad
    shown = "; ".join(f"line {n}: not a valid ICCID" for n in range(2, 2 + min(bad, 20)))
    assert str(caught.value) == f"{path}: {bad} bad row(s), nothing imported: {shown}{more}"
