"""``cdp changes``: plan from a CSV file (a dry run that saves the plan), apply the plan with
progress per account, show it, read its journal; exit statuses 0, 1 and 2.

An emnify and a Soracom emulator are served on loopback for each test (applying changes
them), named by a ``cdp.toml``; ``cdp sync`` fills the store plans are made from.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp_sdk import SimStatus
from cdp_sdk.changes import Plan
from cdp_sdk.cli._platforms import platform, serve
from cdp_sdk.sandbox import Emulator
from cdp_sdk.workspace import BaseWorkspace
from emulated import TODAY, pick
from test_cli import cdp, table_header, table_rows

ACCOUNTS = {"eu": "emnify", "jp": "soracom"}


@dataclass(frozen=True)
class Served:
    root: Path
    config: Path
    database: Path
    emulators: dict[str, Emulator]

    def args(self, *args: str | Path) -> list[str | Path]:
        return [*args, "--config", self.config, "--db", self.database]

    def writes(self) -> int:
        return sum(
            1
            for emulator in self.emulators.values()
            for request in emulator.requests
            if request.method != "GET" and "auth" not in request.url.path
        )

    def csv(self, text: str) -> Path:
        file = self.root / "changes.csv"
        file.write_text(text)
        return file


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with ExitStack() as stack:
        emulators: dict[str, Emulator] = {}
        accounts = {}
        for account, connector in ACCOUNTS.items():
            built_in = platform(connector)
            emulators[account] = built_in.start(built_in.fleet(12, today=TODAY), unlimited=True)
            server = stack.enter_context(serve(emulators[account]))
            accounts[account] = {
                "connector": connector,
                **built_in.settings(server.url),
                **built_in.client_settings,
            }
        config = tmp_path / "cdp.toml"
        config.write_text(BaseWorkspace(accounts).to_toml())
        config.chmod(0o600)
        database = tmp_path / "cdp.db"
        synced = cdp(
            "sync", "-e", "subscriptions", "-e", "activation_modes", "--config", config,
            "--db", database,
        )  # fmt: skip
        assert synced.exit_code == 0, synced.output
        yield Served(tmp_path, config, database, emulators)


def good_csv(served: Served) -> Path:
    eu, jp = served.emulators["eu"], served.emulators["jp"]
    [one] = pick(eu, SimStatus.ACTIVE)
    [two] = pick(jp, SimStatus.ACTIVE)
    return served.csv(f"iccid,status,tag:campaign\n{one.iccid},suspended,\n{two.iccid},,q3\n")


def test_plan_prints_and_saves_the_plan_and_changes_nothing(served: Served) -> None:
    file = good_csv(served)
    result = cdp("changes", "plan", file, *served.args())
    assert result.exit_code == 0, result.output
    assert table_header(result.stdout)[:4] == ["line", "account", "iccid", "current"]
    rows = table_rows(result.stdout)
    assert [row[1] for row in rows if row[1]] == ["eu", "jp"]
    assert "2 SIMs: 2 to change, 0 already so, 0 refused, 0 in error" in result.stdout
    saved = served.root / "changes.plan.json"
    assert f"Dry run: nothing was changed. Plan saved to {saved}" in result.stderr
    assert f"cdp changes apply {saved}" in result.stderr
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    plan = Plan.load(saved)
    assert (plan.source, len(plan.to_apply)) == ("store", 2)
    assert served.writes() == 0


def test_plan_json_live_and_its_own_output_file(served: Served) -> None:
    file = good_csv(served)
    out = served.root / "mine.json"
    result = cdp("changes", "plan", file, "--live", "--json", "--out", out, *served.args())
    assert result.exit_code == 0, result.output
    printed = Plan.from_json(result.stdout)
    assert printed == Plan.load(out)
    assert printed.source == "live"


def test_a_plan_with_refusals_exits_1(served: Served) -> None:
    [sim] = pick(served.emulators["eu"], SimStatus.ACTIVE)
    file = served.csv(f"iccid,status\n{sim.iccid},deactivated\n8988399000000000011,active\n")
    result = cdp("changes", "plan", file, *served.args())
    assert result.exit_code == 1
    assert "error: 2 of 2 SIMs cannot be changed (see the plan)" in result.stderr
    assert (served.root / "changes.plan.json").exists()  # saved all the same, to review


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("iccid,colour\n", "unknown column 'colour'"),
        ("iccid,status\n12,active\n", "line 2: iccid: not a valid ICCID"),
    ],
)
def test_a_bad_change_file_exits_2(served: Served, text: str, message: str) -> None:
    result = cdp("changes", "plan", served.csv(text), *served.args())
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


def test_more_changes_than_allowed_exits_2(served: Served) -> None:
    result = cdp("changes", "plan", good_csv(served), "--max-changes", "1", *served.args())
    assert result.exit_code == 2
    assert "the plan changes 2 SIMs, more than max_changes=1" in result.stderr
    assert not (served.root / "changes.plan.json").exists()


def test_apply_changes_the_sims_with_progress_per_account(served: Served) -> None:
    file = good_csv(served)
    assert cdp("changes", "plan", file, *served.args()).exit_code == 0
    plan_file = served.root / "changes.plan.json"
    result = cdp("changes", "apply", plan_file, *served.args())
    assert result.exit_code == 0, result.output
    assert "2 SIMs: 2 done, 0 skipped, 0 pending, 0 refused, 0 failed" in result.stdout
    progress = [line for line in result.stderr.splitlines() if "━" in line]
    assert sorted(line.split()[0] for line in progress) == ["eu", "jp"]
    assert all("1/1" in line and "1 done" in line for line in progress)
    plan = Plan.load(plan_file)
    assert f"Journaled as run 2 of plan {plan.id}." in result.stderr  # run 1 was the sync
    assert served.writes() == 2

    again = cdp("changes", "apply", plan_file, *served.args())
    assert again.exit_code == 0
    assert "2 SIMs: 0 done, 2 skipped" in again.stdout
    assert served.writes() == 2

    log = cdp("changes", "log", plan_file, *served.args())
    assert log.exit_code == 0, log.output
    events = [(row[4], row[5], row[6], row[7]) for row in table_rows(log.stdout) if row[0]]
    assert events.count(("status", "intent", "", "")) == 1
    assert ("tags", "outcome", "done", "") in events
    assert events.count(("status", "outcome", "skipped", "done_earlier")) == 1
    as_json = json.loads(cdp("changes", "log", plan.id, "--json", *served.args()).stdout)
    assert len(as_json) == len(events)
    assert {entry["run_id"] for entry in as_json} == {2, 3}


def test_apply_reports_what_is_not_done_and_exits_1(served: Served) -> None:
    eu = served.emulators["eu"]
    fine, moved = pick(eu, SimStatus.ACTIVE, count=2)
    file = served.csv(f"iccid,status\n{fine.iccid},suspended\n{moved.iccid},suspended\n")
    assert cdp("changes", "plan", file, "--live", *served.args()).exit_code == 0
    eu.fleet.set_status(moved.iccid, SimStatus.TEST, at=datetime.now(UTC), actor="ops")
    result = cdp("changes", "apply", served.root / "changes.plan.json", *served.args())
    assert result.exit_code == 1
    [row] = [row for row in table_rows(result.stdout) if row[0]]
    assert row[1:5] == ["eu", moved.iccid, "refused", "changed_since_plan"]
    assert "error: not every SIM is in its wanted state: 1 refused" in result.stderr


def test_a_retirement_needs_confirmation_when_applied_too(served: Served) -> None:
    jp = served.emulators["jp"]
    [sim] = pick(jp, SimStatus.ACTIVE)
    file = served.csv(f"iccid,status\n{sim.iccid},retired\n")
    planned = cdp("changes", "plan", file, "--confirm-irreversible", *served.args())
    assert planned.exit_code == 0, planned.output
    plan_file = served.root / "changes.plan.json"
    refused = cdp("changes", "apply", plan_file, *served.args())
    assert refused.exit_code == 1
    assert "retirements need --confirm-irreversible" in refused.stderr
    assert jp.fleet.sims[sim.iccid].status is SimStatus.ACTIVE
    done = cdp("changes", "apply", plan_file, "--confirm-irreversible", *served.args())
    assert done.exit_code == 0, done.output
    assert jp.fleet.sims[sim.iccid].status is SimStatus.RETIRED


def test_show_prints_a_saved_plan(served: Served) -> None:
    assert cdp("changes", "plan", good_csv(served), *served.args()).exit_code == 0
    plan_file = served.root / "changes.plan.json"
    shown = cdp("changes", "show", plan_file)
    assert shown.exit_code == 0
    assert len([row for row in table_rows(shown.stdout) if row[0]]) == 2
    assert Plan.from_json(cdp("changes", "show", plan_file, "--json").stdout) == Plan.load(
        plan_file
    )


def test_a_file_that_is_not_a_plan_exits_2(served: Served) -> None:
    bogus = served.root / "bogus.json"
    bogus.write_text("{}")
    for command in ("apply", "show"):
        result = cdp("changes", command, bogus)
        assert result.exit_code == 2
        assert "not a cdp changes plan" in result.stderr
    assert served.writes() == 0


def test_the_log_of_an_unknown_plan_is_an_error(served: Served) -> None:
    result = cdp("changes", "log", "no-such-plan", *served.args())
    assert result.exit_code == 1
    assert "the store holds no journal for plan 'no-such-plan'" in result.stderr
