"""Change sets: CSV files, subscriptions and DataFrames, code; every bad entry listed."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from cdp_sdk import SimStatus, Subscription, Tag
from cdp_sdk.changes import NO_VALUE, REMOVE, Change, ChangeSet, ChangeSetError, iccid_forms
from cdp_sdk.models import luhn_check_digit

PAYLOAD = "898830300000000001"  # 18 digits, no check digit
FULL = PAYLOAD + str(luhn_check_digit(PAYLOAD))
OTHER = "8988303000000000025"


def read(text: str) -> ChangeSet:
    return ChangeSet.from_csv(io.StringIO(text))


def problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(ChangeSetError) as caught:
        read(text)
    return caught.value.problems


# -- CSV ------------------------------------------------------------------------------------


def test_a_csv_gives_statuses_tags_and_removals() -> None:
    changes = read(
        f"ICCID, Status ,tag:customer,tag:vip,account\n"
        f"{FULL},Suspended,acme,{NO_VALUE},eu\n"
        f"\n"
        f"{PAYLOAD},,{REMOVE},,\n"
    )
    first, second = changes
    assert first == Change(
        iccid=FULL,
        status=SimStatus.SUSPENDED,
        tags={"customer": "acme", "vip": None},
        account="eu",
        line=2,
    )
    # An empty cell leaves a status or tag alone; the blank line is skipped.
    assert second == Change(iccid=PAYLOAD, remove=("customer",), line=4)
    assert len(changes) == 2
    assert first.describe() == "suspended; customer=acme; vip"
    assert second.describe() == "-customer"


def test_tag_keys_keep_their_case_and_a_file_on_disk_is_read(tmp_path: Path) -> None:
    file = tmp_path / "changes.csv"
    file.write_text(f"iccid,TAG:Customer Name\n{FULL}, ACME Corp \n", encoding="utf-8-sig")
    [change] = ChangeSet.from_csv(file)
    assert change.tags == {"Customer Name": "ACME Corp"}
    assert ChangeSet.from_csv(file).source == str(file)


def test_every_bad_line_is_listed_and_nothing_is_read() -> None:
    found = problems(
        "iccid,status,tag:site\n"
        "123,active,\n"  # 2: not an ICCID
        f"{FULL},sleeping,\n"  # 3: unknown status
        f"{FULL},unknown,\n"  # 4: the status 'unknown' cannot be asked for
        f"{OTHER},,\n"  # 5: nothing to change
        f"{OTHER},active\n"  # 6: a field short
        f"{FULL},active,x\n"  # 7: fine
        f"{FULL},suspended,\n"  # 8: the ICCID again
    )
    lines = [line for line, _ in found]
    assert lines == [2, 3, 4, 5, 6, 8]
    reasons = dict(found)
    assert reasons[2] == "iccid: not a valid ICCID (18 to 22 digits)"
    assert reasons[3].startswith("unknown status; valid: inventory, test, ready, active")
    assert "unknown" not in reasons[3].removeprefix("unknown status")
    assert reasons[4].startswith("unknown status")
    assert "nothing to change" in reasons[5]
    assert reasons[6] == "expected 3 fields, found 2"
    assert reasons[8] == "the ICCID repeats (first on line 7)"


def test_problems_never_repeat_the_identifier() -> None:
    with pytest.raises(ChangeSetError) as caught:
        read(f"iccid,status\n{FULL}9999,active\n")
    assert FULL not in str(caught.value)
    assert "line 2" in str(caught.value)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("status,tag:a", "the header must name an iccid column"),
        ("iccid,account", "the header must name a status column or tag:<key> columns"),
        ("iccid,status,colour", "unknown column 'colour'"),
        ("iccid,tag:", "unknown column 'tag:'"),
        ("iccid,tag:a,TAG:a", "the column 'TAG:a' repeats"),
        ("iccid,status,Status", "the column 'Status' repeats"),
    ],
)
def test_a_header_that_cannot_be_read_is_refused(header: str, reason: str) -> None:
    [(line, found)] = problems(f"{header}\n{FULL},x\n")
    assert line == 1
    assert found.startswith(reason)


def test_an_empty_file_and_an_unreadable_one_are_refused(tmp_path: Path) -> None:
    assert problems("") == [(1, "the file is empty; a header is needed")]
    with pytest.raises(ChangeSetError, match="cannot read the file"):
        ChangeSet.from_csv(tmp_path / "missing.csv")


def test_a_tag_both_set_and_removed_is_refused() -> None:
    with pytest.raises(ChangeSetError, match="line 1: tags both set and removed: a"):
        ChangeSet().add(FULL, tags={"a": "1"}, remove=["a"])


# -- code -----------------------------------------------------------------------------------


def test_add_checks_and_numbers_the_changes() -> None:
    changes = ChangeSet()
    first = changes.add(FULL, status="Active")
    second = changes.add(OTHER, tags={"a": None}, remove="b")
    assert (first.status, first.line) == (SimStatus.ACTIVE, 1)
    assert (second.remove, second.line) == (("b",), 2)
    with pytest.raises(ChangeSetError, match=r"line 3: the ICCID repeats \(first on line 1\)"):
        changes.add(FULL, status="suspended")
    with pytest.raises(ChangeSetError, match="tag keys must be non-empty"):
        changes.add("8988303000000000033", tags={" ": "x"})
    assert len(changes) == 2
    assert changes.changes == (first, second)
    assert repr(changes) == "<ChangeSet <changes>: 2 SIMs>"


def test_changes_given_whole_are_checked_together() -> None:
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet([Change(iccid=FULL, status="active"), Change(iccid=FULL, tags={"a": "b"})])
    assert caught.value.problems == [(2, "the ICCID repeats (first on line 1)")]


# -- subscriptions and frames -----------------------------------------------------------------


def sim(iccid: str, account: str | None) -> Subscription:
    return Subscription(
        connector="sandbox",
        account=account,
        id=iccid,
        iccid=iccid,
        status=SimStatus.ACTIVE,
        status_raw="live",
        tags=(Tag(key="site"),),
    )


def test_the_same_change_for_subscriptions_pinned_to_their_accounts() -> None:
    changes = ChangeSet.for_subscriptions(
        [sim(FULL, "eu"), {"iccid": OTHER, "account": "us"}],
        status="suspended",
        tags={"reason": "silent"},
        remove=["site"],
    )
    assert [(c.iccid, c.account, c.status, c.line) for c in changes] == [
        (FULL, "eu", SimStatus.SUSPENDED, 1),
        (OTHER, "us", SimStatus.SUSPENDED, 2),
    ]
    assert all(c.tags == {"reason": "silent"} and c.remove == ("site",) for c in changes)
    unpinned = ChangeSet.for_subscriptions(
        [sim(FULL, "100020620")], status="active", use_account=False
    )
    assert [c.account for c in unpinned] == [None]


def test_a_dataframe_filter_is_a_change_set() -> None:
    frame = pd.DataFrame(
        {
            "account": ["eu", "eu", "us"],
            "iccid": [FULL, OTHER, "8988303000000000033"],
            "status": ["active", "suspended", "active"],
        }
    )
    changes = ChangeSet.for_subscriptions(frame[frame["status"] == "active"], status="suspended")
    assert [(c.iccid, c.account) for c in changes] == [
        (FULL, "eu"),
        ("8988303000000000033", "us"),
    ]
    no_account = frame.drop(columns="account").astype({"iccid": "string"})
    assert {c.account for c in ChangeSet.for_subscriptions(no_account, status="active")} == {None}
    with pytest.raises(ChangeSetError, match="the frame has no iccid column"):
        ChangeSet.for_subscriptions(frame.drop(columns="iccid"), status="active")


def test_bad_subscriptions_are_listed_by_position() -> None:
    with pytest.raises(ChangeSetError) as caught:
        ChangeSet.for_subscriptions([{"iccid": "12"}, 42, {"account": "eu"}], status="active")
    assert [line for line, _ in caught.value.problems] == [1, 2, 3]
    assert caught.value.problems[1][1] == "expected a Subscription or a mapping with an iccid"
    with pytest.raises(ChangeSetError, match="nothing to change"):
        ChangeSet.for_subscriptions([sim(FULL, "eu")])
    with pytest.raises(TypeError):
        ChangeSet.for_subscriptions("8988303000000000017", status="active")


# -- ICCID forms ------------------------------------------------------------------------------


def test_iccid_forms_try_the_likeliest_first() -> None:
    assert iccid_forms(FULL) == (FULL, FULL + str(luhn_check_digit(FULL)))
    assert iccid_forms(PAYLOAD) == (FULL, PAYLOAD)
    assert iccid_forms("8" * 22) == ("8" * 22,)  # no room for a check digit


def test_text_that_is_not_csv_is_refused_by_line() -> None:
    with pytest.raises(ChangeSetError) as caught:
        read("ic\rcid,status\n")
    [(line, reason)] = caught.value.problems
    assert line == 1
    assert reason.startswith("not valid CSV")
    assert problems(f"iccid,status\n{FULL},active\n1\r2,active\n") == [
        (3, problems("iccid,status\n1\r2,active\n")[0][1])
    ]
