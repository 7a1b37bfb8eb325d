"""Tag files that cannot be read: every problem named by its line and the file's name,
and nothing imported."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import IO

import pytest

from cdp_sdk.sync import Store, TagImport, TagImportError
from cdp_sdk.workspace import Workspace
from test_sync import NOW, in_process

SIM = "8988303000000000010"  # in every sandbox fleet
OTHER = "8988303000000000028"
TOO_LONG = "v" * 200_000  # past the csv module's field limit


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Workspace({"eu": in_process(6, 11)}) as workspace:
        store = Store(tmp_path / "cdp.db")
        store.sync(workspace, entities=["subscriptions"], now=NOW)
        return store


class Undecodable(io.StringIO):
    """A text file whose line ``bad`` does not decode, as a file opened as UTF-8 fails."""

    def __init__(self, text: str, bad: int) -> None:
        super().__init__(text)
        self.name = "tags.csv"
        self.bad = bad
        self.lines = 0

    def __next__(self) -> str:  # type: ignore[override]  # typeshed's StringIO lines
        self.lines += 1
        if self.lines == self.bad:
            raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")
        return super().__next__()


def problems(store: Store, source: IO[str] | Path) -> tuple[str, list[tuple[int, str]]]:
    with pytest.raises(TagImportError) as caught:
        store.import_tags(source)
    assert store.tags() == [t for t in store.tags() if t.source == "platform"]  # none imported
    return caught.value.source, caught.value.problems


UNDECODABLE = "not valid UTF-8 (on this line or a later one)"


@pytest.mark.parametrize("bad", [1, 2, 4])
def test_a_stream_that_does_not_decode_names_the_first_line_it_could_not_read(
    store: Store, bad: int
) -> None:
    rows = f"iccid,key,value\n{SIM},a,1\n{SIM},b,2\n{SIM},c,3\n"
    assert problems(store, Undecodable(rows, bad)) == ("tags.csv", [(bad, UNDECODABLE)])


def test_a_file_opened_as_utf8_that_does_not_decode_is_refused(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "tags.csv"
    path.write_bytes(b"iccid,key,value\n" + f"{SIM},site,caf".encode() + b"\xe9\n")
    with path.open(encoding="utf-8") as stream:
        # A small file decodes at once, before its header is read.
        assert problems(store, stream) == (str(path), [(1, UNDECODABLE)])


def test_a_file_path_that_is_not_utf8_names_the_exact_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_bytes(b"iccid,key,value\n" + f"{SIM},site,x\n{OTHER},site,caf".encode() + b"\xe9\n")
    assert problems(store, path) == (str(path), [(3, "not valid UTF-8")])


def test_a_line_that_is_not_csv_stops_the_reading_after_the_problems_before_it(
    store: Store,
) -> None:
    rows = f"iccid,key,value\n12345,a,1\n{SIM},b,{TOO_LONG}\n12345,c,3\n"
    source, found = problems(store, io.StringIO(rows))
    assert source == "<stream>"
    assert found == [
        (2, "not a valid ICCID"),
        (3, "not valid CSV (field larger than field limit (131072))"),
    ]


def test_a_header_that_is_not_csv_is_line_one(store: Store) -> None:
    assert problems(store, io.StringIO(f"iccid,key,{TOO_LONG}\n")) == (
        "<stream>",
        [(1, "not valid CSV (field larger than field limit (131072))")],
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", (1, "the file is empty; a header iccid,key,value is needed")),
        ("iccid,key\n", (1, "the header must name the columns iccid, key and value")),
    ],
)
def test_header_problems_name_the_file(
    store: Store, tmp_path: Path, text: str, problem: tuple[int, str]
) -> None:
    path = tmp_path / "tags.csv"
    path.write_text(text)
    assert problems(store, path) == (str(path), [problem])


def test_keys_and_values_beyond_ascii_are_imported(store: Store) -> None:
    rows = f"iccid,key,value\n{SIM},région,café 😀\n"
    assert store.import_tags(io.StringIO(rows)).added == 1
    assert [(t.key, t.value) for t in store.tags() if t.source == "local"] == [
        ("région", "café 😀")
    ]


def test_rows_after_a_repeated_tag_are_still_checked(store: Store) -> None:
    rows = f"iccid,key,value\n{SIM},a,1\n{SIM},a,2\n12345,b,3\n"
    assert problems(store, io.StringIO(rows))[1] == [
        (3, "tag 'a' repeats for this SIM (first on line 2)"),
        (4, "not a valid ICCID"),
    ]


def test_an_import_counts_each_update_and_stamps_what_it_writes(store: Store) -> None:
    first = f"iccid,key,value\n{SIM},a,1\n{SIM},b,2\n{SIM},c,3\n{OTHER},a,1\n"
    store.import_tags(io.StringIO(first))
    stamped = {(r["iccid"], r["key"]): r["synced_at"] for r in store.rows("tags")}
    assert all(stamped[SIM, key] is not None for key in "abc")

    changed = f"iccid,key,value\n{SIM},a,9\n{SIM},b,9\n{SIM},c,3\n"
    assert store.import_tags(io.StringIO(changed), replace=True) == TagImport(
        rows=3, added=0, updated=2, unchanged=1, removed=1
    )


def test_a_pushed_tag_dropped_by_a_replace_is_stamped_when_marked(
    store: Store, tmp_path: Path
) -> None:
    with Workspace({"eu": in_process(6, 11)}) as workspace:
        store.import_tags(io.StringIO(f"iccid,key,value\n{SIM},site,paris\n"))
        store.push_tags(workspace)
        [pushed] = [r for r in store.rows("tags") if r["source"] == "local"]

        store.import_tags(io.StringIO("iccid,key,value\n"), replace=True)

        [marked] = [r for r in store.rows("tags") if r["source"] == "local"]
        assert marked["removed"] is True
        assert marked["synced_at"] > pushed["synced_at"]
        assert marked["synced_at"] - pushed["synced_at"] < timedelta(minutes=1)
