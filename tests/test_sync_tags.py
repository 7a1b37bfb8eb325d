"""Local tags: CSV import with line-numbered errors, dry-run plans and pushes."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest

from cdp_sdk.sandbox import Fault
from cdp_sdk.sync import Store, StoredTag, TagChange, TagImport, TagImportError
from cdp_sdk.workspace import Account, AsyncWorkspace, Workspace
from conftest import InstallPlugins
from test_sync import NOW, emulator_of, in_process

READ_ONLY = (
    "from cdp_sdk import Capability\n"
    "from cdp_sdk.connectors.sandbox import SandboxConnector\n"
    "class ReadOnlySandbox(SandboxConnector):\n"
    "    name = 'readonly'\n"
    "    capabilities = SandboxConnector.capabilities - {Capability.UPDATE_TAGS}\n"
)


@pytest.fixture
def workspace() -> Workspace:
    return Workspace({"eu": in_process(6, 11)})


@pytest.fixture
def store(tmp_path: Path, workspace: Workspace) -> Store:
    store = Store(tmp_path / "cdp.db")
    store.sync(workspace, entities=["subscriptions"], now=NOW)
    return store


def sims(store: Store) -> list[str]:
    return sorted(row["iccid"] for row in store.rows("subscriptions"))


def local_tags(store: Store) -> list[tuple[str, str | None]]:
    return [(t.key, t.value) for t in store.tags() if t.source == "local"]


# -- the CSV --------------------------------------------------------------------------------


def test_bad_rows_are_listed_by_line_and_nothing_is_written(store: Store) -> None:
    first, second = sims(store)[:2]
    text = (
        "iccid,key,value\n"
        f"{first},site,paris\n"  # line 2: fine
        "12345,site,x\n"  # line 3
        f"{second},  ,x\n"  # line 4
        f"{second},site\n"  # line 5
        "\n"  # line 6: blank, skipped
        f"{first},site,rome\n"  # line 7
    )
    with pytest.raises(TagImportError) as caught:
        store.import_tags(io.StringIO(text))
    assert caught.value.problems == [
        (3, "not a valid ICCID"),
        (4, "the key is empty"),
        (5, "expected 3 fields, found 2"),
        (7, "tag 'site' repeats for this SIM (first on line 2)"),
    ]
    message = str(caught.value)
    assert "4 bad row(s), nothing imported" in message
    assert "line 3: not a valid ICCID" in message
    assert first not in message
    assert local_tags(store) == []


def test_unknown_sims_are_refused_whole(store: Store) -> None:
    known = sims(store)[0]
    stranger = "89883030000999999990"
    text = f"value,iccid,key\nparis,{known},site\nrome,{stranger},site\n"  # any column order
    with pytest.raises(TagImportError) as caught:
        store.import_tags(io.StringIO(text))
    assert caught.value.problems == [
        (3, "no SIM with this ICCID in the store (sync its account first)")
    ]
    assert str(caught.value).startswith("<stream>: 1 bad row(s)")  # the file, as for any row
    assert local_tags(store) == []  # not even the good row


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", (1, "the file is empty; a header iccid,key,value is needed")),
        (
            "89883030000000000019,site,paris\n",
            (1, "the header must name the columns iccid, key and value"),
        ),
        ("iccid,key,value,extra\n", (1, "the header must name the columns iccid, key and value")),
    ],
)
def test_the_header_is_required(store: Store, text: str, problem: tuple[int, str]) -> None:
    with pytest.raises(TagImportError) as caught:
        store.import_tags(io.StringIO(text))
    assert caught.value.problems == [problem]


def test_imports_merge_or_replace(store: Store, tmp_path: Path) -> None:
    first, second = sims(store)[:2]
    path = tmp_path / "tags.csv"
    path.write_text(
        f"\ufefficcid,key,value\n{first},site,paris\n{first},spare,\n{second},site,lyon\n"
    )
    assert store.import_tags(path) == TagImport(rows=3, added=3, updated=0, unchanged=0, removed=0)
    assert StoredTag("eu", first, "spare", None, "local") in store.tags(iccid=first)
    # Shown beside the platform's tags, each with its source.
    assert {t.source for t in store.tags()} == {"local", "platform"}

    merged = store.import_tags(io.StringIO(f"iccid,key,value\n{first},site,rome\n{first},row,7\n"))
    assert merged == TagImport(rows=2, added=1, updated=1, unchanged=0, removed=0)
    assert sorted(local_tags(store)) == [
        ("row", "7"),
        ("site", "lyon"),
        ("site", "rome"),
        ("spare", None),
    ]

    replaced = store.import_tags(io.StringIO(f"iccid,key,value\n{first},site,rome\n"), replace=True)
    assert replaced == TagImport(rows=1, added=0, updated=0, unchanged=1, removed=3)
    assert local_tags(store) == [("site", "rome")]


# -- plans and pushes -----------------------------------------------------------------------


def test_a_dry_run_plans_without_calling(tmp_path: Path, install_plugins: InstallPlugins) -> None:
    install_plugins(
        {"readonly": "readonly_sandbox:ReadOnlySandbox"}, modules={"readonly_sandbox": READ_ONLY}
    )
    workspace = Workspace(
        {"eu": in_process(6, 11), "ro": Account("readonly", {"fleet_size": 6, "seed": 11})}
    )
    with workspace, Store(tmp_path / "cdp.db") as store:
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        emulator = emulator_of(workspace, "eu")
        sim = next(s for s in emulator.fleet.sorted_sims() if s.tags)
        key, value = sorted(sim.tags.items())[0]  # a tag the platform already has
        rows = f"iccid,key,value\n{sim.iccid},site,paris\n{sim.iccid},{key},{value or ''}\n"
        store.import_tags(io.StringIO(rows))
        calls = len(emulator.requests)

        report = store.push_tags(workspace, dry_run=True)

        assert report.dry_run
        assert report.plan.changes == (TagChange("eu", sim.iccid, {"site": "paris"}, ()),)
        assert report.plan.skipped == {"ro": "connector 'readonly' does not declare update_tags"}
        assert report.pushed == ()
        assert len(emulator.requests) == calls  # nothing was called
        assert store.plan_tag_push(workspace) == report.plan
        assert [r.kind for r in store.runs()] == ["sync"]


def test_a_push_applies_the_plan_and_is_journaled(store: Store, workspace: Workspace) -> None:
    with workspace, store:
        emulator = emulator_of(workspace, "eu")
        first, second, third = (s.iccid for s in emulator.fleet.sorted_sims()[:3])
        store.import_tags(
            io.StringIO(
                f"iccid,key,value\n{first},site,paris\n{second},site,lyon\n{third},site,nice\n"
            )
        )
        emulator.faults.append(Fault(status=404, path=f"/v1/sims/{second}/tags"))
        plan = store.plan_tag_push(workspace)
        assert len(plan) == 3

        report = store.push_tags(workspace, plan)

        assert [c.iccid for c in report.pushed] == [first, third]
        [(failed, error)] = report.failed
        assert failed.iccid == second
        assert error.startswith("NotFoundError:")
        assert second not in error
        patches = emulator.requests_to("/tags$", "PATCH")
        assert len(patches) == 3
        assert emulator.fleet.sims[first].tags["site"] == "paris"
        # The store mirrors the pushed tags at once; only the failed SIM is left to do.
        assert StoredTag("eu", first, "site", "paris", "platform") in store.tags(iccid=first)
        assert [c.iccid for c in store.plan_tag_push(workspace).changes] == [second]
        # A later sync confirms it from the platform.
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        assert StoredTag("eu", third, "site", "nice", "platform") in store.tags(iccid=third)
        push_run = store.runs()[1]
        assert (push_run.run_id, push_run.kind, push_run.status) == (
            report.run_id,
            "tag_push",
            "partial",
        )
        journal = [row for row in store.rows("api_calls") if row["run_id"] == report.run_id]
        assert [(row["entity"], row["method"], row["path"]) for row in journal] == [
            ("tags", "PATCH", "/v1/sims/{iccid}/tags")
        ] * 3


def test_tags_dropped_after_a_push_are_removed_from_the_platform(
    store: Store, workspace: Workspace
) -> None:
    with workspace, store:
        emulator = emulator_of(workspace, "eu")
        sim = emulator.fleet.sorted_sims()[0]
        store.import_tags(
            io.StringIO(f"iccid,key,value\n{sim.iccid},site,paris\n{sim.iccid},row,3\n")
        )
        store.push_tags(workspace)
        assert {"site", "row"} <= set(emulator.fleet.sims[sim.iccid].tags)

        store.import_tags(io.StringIO(f"iccid,key,value\n{sim.iccid},row,3\n"), replace=True)
        assert local_tags(store) == [("row", "3")]  # the dropped tag awaits its removal
        plan = store.plan_tag_push(workspace)
        assert plan.changes == (TagChange("eu", sim.iccid, {}, ("site",)),)

        store.push_tags(workspace, plan)
        assert "site" not in emulator.fleet.sims[sim.iccid].tags
        assert "row" in emulator.fleet.sims[sim.iccid].tags
        assert not store.plan_tag_push(workspace)
        assert all(row["removed"] is False for row in store.rows("tags"))


def test_a_sync_keeps_the_local_tags_of_the_sims_it_lists_again(
    store: Store, workspace: Workspace
) -> None:
    """A sync replaces a listed SIM's platform tags; the user's local tags stay."""
    with workspace, store:
        emulator = emulator_of(workspace, "eu")
        sim, other = (s.iccid for s in emulator.fleet.sorted_sims()[:2])
        store.import_tags(
            io.StringIO(f"iccid,key,value\n{sim},site,paris\n{other},site,lyon\n{sim},spare,\n")
        )

        async def retag(async_workspace: AsyncWorkspace) -> None:
            await async_workspace.connector("eu").update_tags(sim, {"batch": "7"})

        workspace.run(retag)
        report = store.sync(workspace, entities=["subscriptions"], now=NOW + timedelta(hours=1))
        assert report.result("eu", "subscriptions").records == 1  # the retagged SIM only
        tags = store.tags(iccid=sim)
        assert StoredTag("eu", sim, "batch", "7", "platform") in tags
        assert [(t.key, t.value) for t in tags if t.source == "local"] == [
            ("site", "paris"),
            ("spare", None),
        ]
        assert local_tags(store) == [("site", "paris"), ("spare", None), ("site", "lyon")]
