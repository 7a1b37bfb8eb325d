"""Bulk changes: what a user reads when a change set or a plan is refused, and the edges
the other change tests leave open (found by mutation testing)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pytest

from cdp_sdk import SimStatus, UnexpectedResponseError
from cdp_sdk.changes import (
    ApplyReport,
    Change,
    ChangeSet,
    ChangeSetError,
    Decision,
    Outcome,
    Plan,
    PlanFileError,
    PlannedCall,
    PlannedChange,
    SimOutcome,
    SimState,
    Step,
    StepOutcome,
    TooManyChangesError,
)
from cdp_sdk.changes._planner import describe_error
from cdp_sdk.models import luhn_check_digit
from cdp_sdk.workspace import Workspace

PAYLOAD = "898830300000000001"
FULL = PAYLOAD + str(luhn_check_digit(PAYLOAD))


def unreadable(rows: int) -> ChangeSetError:
    """The error of a CSV whose ``rows`` lines all name an unknown status."""
    lines = "".join(f"{PAYLOAD}{n:02d},asleep\n" for n in range(rows))
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet.from_csv(io.StringIO("iccid,status\n" + lines))
    return caught.value


def test_one_bad_entry_is_one_entry_and_names_the_source() -> None:
    error = unreadable(1)
    assert error.source == "<stream>"
    assert error.message.startswith("<stream>: 1 bad entry, nothing read: line 2: ")
    assert "more" not in error.message


def test_several_bad_entries_are_listed_one_after_the_other() -> None:
    error = unreadable(2)
    assert "<stream>: 2 bad entries, nothing read: line 2: " in error.message
    assert "; line 3: " in error.message


def test_the_message_shows_twenty_entries_and_counts_the_rest() -> None:
    exactly = unreadable(20)
    assert "line 21: " in exactly.message
    assert "more" not in exactly.message
    over = unreadable(22)
    assert len(over.problems) == 22
    assert "line 21: " in over.message
    assert "line 22: " not in over.message
    assert over.message.endswith("; and 2 more")


def test_a_plan_over_its_limit_says_how_to_go_ahead() -> None:
    error = TooManyChangesError(12345, 1000)
    assert error.message == (
        "the plan changes 12,345 SIMs, more than max_changes=1,000; "
        "raise max_changes (--max-changes) to go ahead"
    )


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"tags": {"customer": 5}}, "tags: Input should be a valid string"),
        ({"remove": [5]}, "remove: Input should be a valid string"),
        ({"status": "active", "account": 5}, "account: Input should be a valid string"),
    ],
)
def test_a_value_of_the_wrong_type_names_its_field(given: dict[str, Any], reason: str) -> None:
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet().add(FULL, **given)
    assert caught.value.problems == [(1, reason)]


def test_subscriptions_that_cannot_be_changed_are_reported_as_subscriptions() -> None:
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet.for_subscriptions([{"account": "eu"}], status="active")
    assert caught.value.source == "<subscriptions>"
    assert caught.value.problems == [(1, "iccid: not a valid ICCID (18 to 22 digits)")]
    assert caught.value.message.startswith("<subscriptions>: 1 bad entry, nothing read: line 1: ")
    changes = ChangeSet.for_subscriptions([{"iccid": FULL}], status="active")
    assert repr(changes) == "<ChangeSet <subscriptions>: 1 SIMs>"


def test_a_frame_without_iccids_is_refused_as_a_whole() -> None:
    frame = pd.DataFrame({"account": ["eu"], "status": ["active"]})
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet.for_subscriptions(frame, status="suspended")
    assert caught.value.source == "<subscriptions>"
    assert caught.value.problems == [(0, "the frame has no iccid column")]


def test_a_series_of_mappings_is_read_as_subscriptions() -> None:
    [change] = ChangeSet.for_subscriptions(
        pd.Series([{"iccid": FULL, "account": "eu"}]), status="active"
    )
    assert (change.iccid, change.account) == (FULL, "eu")


def test_an_empty_account_pins_nothing() -> None:
    [change] = ChangeSet.for_subscriptions([{"iccid": FULL, "account": ""}], status="active")
    assert change.account is None


@pytest.mark.parametrize("sims", ["8988303000000000017", {"iccid": FULL}, 42])
def test_something_that_is_no_list_of_subscriptions_is_a_type_error(sims: Any) -> None:
    with pytest.raises(TypeError) as caught:
        ChangeSet.for_subscriptions(sims, status="active")
    assert str(caught.value) == "expected subscriptions (an iterable) or a DataFrame"


# -- a plan as the user reads it ---------------------------------------------------------------

CREATED = datetime(2024, 6, 15, 12, tzinfo=UTC)
OTHER = "8988303000000000025"


def planned(
    *,
    observed: timedelta | None = None,
    source: Literal["live", "store"] = "store",
    line: int | None = 1,
) -> PlannedChange:
    current = None
    if observed is not None:
        current = SimState(
            status=SimStatus.ACTIVE,
            status_raw="ACTIVATED",
            observed_at=CREATED - observed,
            source=source,
        )
    return PlannedChange(
        change=Change(iccid=FULL, status="suspended", tags={"site": "paris"}, line=line),
        decision=Decision.APPLY,
        iccid=FULL,
        account="eu",
        connector="jasper",
        current=current,
        calls=(
            PlannedCall(
                step=Step.STATUS, status=SimStatus.SUSPENDED, transition="ACTIVATED -> DEACTIVATED"
            ),
            PlannedCall(step=Step.TAGS, tags={"site": "paris", "vip": None}, remove=("old", "x")),
        ),
        notes=("state not in the table", "checked twice"),
    )


def plan_of(*changes: PlannedChange) -> Plan:
    return Plan(id="p-1", created_at=CREATED, source="store", max_changes=10, changes=changes)


@pytest.mark.parametrize(
    ("observed", "seen"),
    [
        (timedelta(seconds=-5), "store, 0 s old"),  # a clock a little ahead
        (timedelta(0), "store, 0 s old"),
        (timedelta(seconds=59), "store, 59 s old"),
        (timedelta(seconds=60), "store, 1 min old"),
        (timedelta(seconds=119), "store, 1 min old"),
        (timedelta(seconds=3599), "store, 59 min old"),
        (timedelta(seconds=3600), "store, 1 h old"),
        (timedelta(days=2, seconds=-1), "store, 47 h old"),
        (timedelta(days=2), "store, 2 d old"),
        (timedelta(days=3, seconds=-1), "store, 2 d old"),
    ],
)
def test_a_stored_state_says_how_old_it_is(observed: timedelta, seen: str) -> None:
    assert planned(observed=observed).row(CREATED)["seen"] == seen


def test_a_planned_row_reads_as_the_calls_and_reasons_in_order() -> None:
    row = planned(observed=timedelta(0), source="live").row(CREATED)
    assert row == {
        "line": 1,
        "account": "eu",
        "connector": "jasper",
        "iccid": FULL,
        "current": "active (ACTIVATED)",
        "seen": "live",
        "wanted": "suspended; site=paris",
        "calls": "change_status(suspended): ACTIVATED -> DEACTIVATED; "
        "update_tags(site=paris, vip, -old, -x)",
        "decision": "apply",
        "why": "state not in the table; checked twice",
    }
    assert PlannedCall(step=Step.STATUS).describe() == "change_status(?)"
    assert PlannedCall(step=Step.STATUS, status=SimStatus.ACTIVE).describe() == (
        "change_status(active)"
    )


def test_a_plan_prints_as_a_left_aligned_table() -> None:
    text = str(plan_of(planned(line=None)))
    header, columns, rule, row, summary = text.splitlines()
    assert header == "Plan p-1 (store state, 2024-06-15 12:00 UTC)"
    widths = [len(cell) for cell in rule.split("  ")]
    assert (
        columns
        == "  ".join(
            name.ljust(width)
            for name, width in zip(
                [
                    "line",
                    "account",
                    "iccid",
                    "current",
                    "seen",
                    "wanted",
                    "calls",
                    "decision",
                    "why",
                ],
                widths,
                strict=True,
            )
        ).rstrip()
    )
    assert row.startswith("      eu       " + FULL + "  ")  # no line: an empty cell
    assert "None" not in row
    assert row.endswith("apply     state not in the table; checked twice")
    assert summary == "1 SIMs: 1 to change, 0 already so, 0 refused, 0 in error"


def test_a_plan_that_is_not_valid_says_where(tmp_path: Path) -> None:
    data = json.loads(plan_of(planned()).to_json())
    data["changes"][0]["decision"] = "maybe"
    with pytest.raises(PlanFileError) as caught:
        Plan.from_json(json.dumps(data))
    assert caught.value.message.startswith("<string>: not a valid plan (changes.0.decision: ")
    file = tmp_path / "plan.json"
    file.write_text("{", encoding="utf-8")
    with pytest.raises(PlanFileError) as caught:
        Plan.load(file)
    assert caught.value.message == f"{file}: not JSON"


def test_a_report_has_no_outcome_for_a_sim_it_did_not_touch() -> None:
    report = ApplyReport(plan_id="p-1", started_at=CREATED, finished_at=CREATED)
    with pytest.raises(KeyError) as caught:
        report.outcome(FULL)
    assert caught.value.args == (FULL,)


def test_an_error_reads_as_its_class_and_message() -> None:
    assert describe_error(UnexpectedResponseError("bad page", connector="jasper")) == (
        "UnexpectedResponseError: bad page"
    )
    assert describe_error(ValueError("no")) == "ValueError: no"


def test_sims_in_no_account_say_which_were_searched() -> None:
    changes = ChangeSet()
    changes.add(FULL, status="active", account="x")
    changes.add(OTHER, status="active")
    with Workspace({}) as workspace:
        plan = changes.plan(workspace)
    assert [row["why"] for row in plan.rows()] == [
        "pinned to 'x', which is not an account here (none)",
        "in none of the accounts searched (none)",
    ]


def test_the_deciding_step_gives_the_code_and_message() -> None:
    done = StepOutcome(step=Step.STATUS, outcome=Outcome.DONE, code="completed", message="ok")
    failed = StepOutcome(step=Step.TAGS, outcome=Outcome.FAILED, code="emulated_503", message="no")
    outcome = SimOutcome(account="eu", iccid=FULL, outcome=Outcome.FAILED, steps=(done, failed))
    assert (outcome.code, outcome.message) == ("emulated_503", "no")
    # No step with the SIM's outcome (a hand-made report): the last step speaks.
    odd = SimOutcome(account="eu", iccid=FULL, outcome=Outcome.REFUSED, steps=(failed, done))
    assert (odd.code, odd.message) == ("completed", "ok")


def test_a_state_named_like_its_status_is_shown_once() -> None:
    state = SimState(
        status=SimStatus.ACTIVE, status_raw="Active", observed_at=CREATED, source="live"
    )
    assert state.describe() == "active"


def test_a_saved_plan_is_indented_json() -> None:
    text = plan_of(planned()).to_json()
    assert text.splitlines()[1] == '  "format": "cdp-changes-plan",'


def test_a_csv_names_its_file_in_errors(tmp_path: Path) -> None:
    file = tmp_path / "changes.csv"
    file.write_text(f"iccid,status\n{FULL},asleep\n", encoding="utf-8")
    for source in (file, str(file)):
        with pytest.raises(ChangeSetError) as caught:
            ChangeSet.from_csv(source)
        assert caught.value.source == str(file)
    with file.open(encoding="utf-8") as stream, pytest.raises(ChangeSetError) as caught:
        ChangeSet.from_csv(stream)
    assert caught.value.source == str(file)
    for text, line in (("", 1), ("iccid,colour\n", 1), ('"iccid\n', 1)):
        file.write_text(text, encoding="utf-8")
        with pytest.raises(ChangeSetError) as caught:
            ChangeSet.from_csv(file)
        assert caught.value.source == str(file)
        assert caught.value.problems[0][0] == line
    missing = tmp_path / "missing.csv"
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet.from_csv(missing)
    assert caught.value.source == str(missing)
    assert caught.value.problems[0][0] == 0


def test_a_key_to_remove_given_as_text_is_one_key() -> None:
    change = ChangeSet().add(FULL, remove="old")
    assert change.remove == ("old",)
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet(source="mine").add(FULL)
    assert caught.value.source == "mine"
