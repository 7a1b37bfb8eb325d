"""The sets of 64-bit digests the listing guard keeps pages and records' natural keys in."""

from __future__ import annotations

import errno
import logging
import random
import tempfile
from typing import Any

import pytest

from cdp_sdk.http import _digests
from cdp_sdk.http._digests import DigestSet, SpillingDigestSet


def random_digests(rng: random.Random, count: int) -> list[int]:
    return [rng.getrandbits(64) - 2**63 for _ in range(count)]


@pytest.mark.parametrize("bucket", [_digests.BUCKET, 2])
def test_it_answers_as_a_set_of_the_same_digests_through_many_splits(
    bucket: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_digests, "BUCKET", bucket)
    rng = random.Random(7)
    digests = random_digests(rng, 20_000)
    digests += digests[:500]  # members added again
    table, reference = DigestSet(), set()
    for digest in digests:
        assert table.add(digest) is (digest not in reference)
        reference.add(digest)
    assert len(table) == len(reference) == 20_000
    assert all(digest in table for digest in reference)
    assert not any(digest in table for digest in random_digests(rng, 20_000))


def test_extreme_digests_and_digests_sharing_their_top_bits_are_members_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_digests, "BUCKET", 1)
    table = DigestSet()
    extremes = [2**63 - 1, -(2**63), -1, 0, 1]
    same_top = [2**62 + n for n in (5, 3, 4, 1)]  # one bucket however often it splits
    boundaries = [2**62, 3 * 2**62 - 2**64, 2**61, 2**62 + 2**61]  # where splits cut
    members = extremes + same_top + boundaries
    for digest in members:
        assert table.add(digest)
    assert all(digest in table for digest in members)
    assert not any(table.add(digest) for digest in members)
    assert 2**62 + 2 not in table
    assert 2 not in table
    assert len(table) == len(members)


def test_a_digest_is_its_64_bits_signed_or_not() -> None:
    table = DigestSet()
    assert table.add(-1)
    assert 2**64 - 1 in table
    assert not table.add(2**64 - 1)
    assert len(table) == 1


def test_each_member_is_kept_once_in_buckets_of_about_the_set_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The memory and the insertion cost the class promises: every member stored once
    # (about 8 bytes each), in buckets that stay near BUCKET members as the set grows.
    monkeypatch.setattr(_digests, "BUCKET", 16)
    table = DigestSet()
    for digest in random_digests(random.Random(11), 20_000):
        table.add(digest)
    buckets = table._buckets
    assert sum(len(bucket) for bucket in buckets) == len(table) == 20_000
    assert sum(bucket.itemsize * len(bucket) for bucket in buckets) == 8 * 20_000
    assert len(buckets) >= 20_000 // 16
    assert max(len(bucket) for bucket in buckets) <= 4 * 16


# --- the spilling set ---------------------------------------------------------------------


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 64 members, fences every 4, three runs of a size merged into one."""
    monkeypatch.setattr(_digests, "SPILL", 64)
    monkeypatch.setattr(_digests, "BLOCK", 4)
    monkeypatch.setattr(_digests, "FANOUT", 3)


class Files:
    """Every temporary file the sets open, to see which are closed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, fail_after: int | None = None):
        self.opened: list[Any] = []
        self.fail_after = fail_after
        real = tempfile.TemporaryFile

        def temporary_file() -> Any:
            if self.fail_after is not None and len(self.opened) >= self.fail_after:
                raise OSError(errno.ENOSPC, "No space left on device")
            file = real()
            self.opened.append(file)
            return file

        monkeypatch.setattr(tempfile, "TemporaryFile", temporary_file)

    @property
    def open(self) -> int:
        return sum(not file.closed for file in self.opened)


@pytest.mark.usefixtures("small")
def test_the_spilling_set_answers_as_a_set_through_runs_merges_and_larger_filters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = Files(monkeypatch)
    rng = random.Random(3)
    digests = random_digests(rng, 5_000)
    table, reference = SpillingDigestSet(), set()
    for number, digest in enumerate(digests):
        assert table.add(digest)
        reference.add(digest)
        if number % 97 == 0:  # members long on disk, and the latest, added again
            assert not table.add(digests[number // 2])
            assert not table.add(digest)
    assert len(table) == len(reference) == 5_000
    assert all(digest in table for digest in reference)
    strangers = random_digests(rng, 5_000)
    assert not any(digest in table for digest in strangers)
    assert all(table.add(digest) for digest in strangers)
    # 156 runs written, merged three at a time: one file a run still looked in.
    assert len(table._runs) <= 2 * 5 + 1
    assert files.open == len(table._runs)
    levels = [run.level for run in table._runs]
    assert levels == sorted(levels, reverse=True)
    assert sum(run.count for run in table._runs) + len(table._recent) == 10_000
    table.close()
    assert files.open == 0
    assert len(table) == 0
    assert digests[0] not in table
    assert table.add(digests[0])


@pytest.mark.usefixtures("small")
def test_memory_holds_the_latest_members_fences_and_a_filter_of_about_ten_bits_each() -> None:
    table = SpillingDigestSet()
    for digest in random_digests(random.Random(5), 20_000):
        table.add(digest)
    on_disk = sum(run.count for run in table._runs)
    assert len(table._recent) < 64
    assert on_disk == table._on_disk > 19_900
    assert on_disk <= table._capacity < 2 * on_disk
    assert len(table._filter) == table._capacity * _digests.FILTER_BITS // 64
    assert sum(len(run.fences) for run in table._runs) <= on_disk // 4 + len(table._runs)
    table.close()


@pytest.mark.usefixtures("small")
def test_the_filter_sends_few_strangers_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    table = SpillingDigestSet()
    for digest in random_digests(random.Random(9), 20_000):
        table.add(digest)
    reads = 0
    holds = _digests._Run.holds

    def counted(run: Any, value: int) -> bool:
        nonlocal reads
        reads += 1
        return holds(run, value)

    monkeypatch.setattr(_digests._Run, "holds", counted)
    strangers = random_digests(random.Random(10), 10_000)
    assert not any(digest in table for digest in strangers)
    looked = reads / len(table._runs)
    assert 0 < looked < 0.05 * len(strangers)
    table.close()


def test_extreme_digests_are_found_on_disk(small: None, monkeypatch: pytest.MonkeyPatch) -> None:
    table = SpillingDigestSet()
    extremes = [2**63 - 1, -(2**63), -1, 0, 1]
    for digest in extremes + random_digests(random.Random(1), 200):
        table.add(digest)
    assert not table._recent or all(d & (2**64 - 1) not in table._recent for d in extremes)
    assert all(digest in table for digest in extremes)
    assert not table.add(2**64 - 1)  # -1's 64 bits
    table.close()


@pytest.mark.usefixtures("small")
def test_without_a_writable_temporary_directory_the_members_stay_in_memory(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    Files(monkeypatch, fail_after=0)
    digests = random_digests(random.Random(4), 1_000)
    table = SpillingDigestSet()
    with caplog.at_level(logging.WARNING, logger="cdp_sdk"):
        assert all(table.add(digest) for digest in digests)
    assert not table._runs
    assert len(table._recent) == len(table) == 1_000
    assert not any(table.add(digest) for digest in digests)
    [record] = caplog.records
    assert "keeping them in memory" in record.getMessage()
    assert "No space left on device" in record.getMessage()


@pytest.mark.usefixtures("small")
def test_runs_that_cannot_be_merged_are_looked_in_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = Files(monkeypatch, fail_after=3)  # three runs written, then no more files
    digests = random_digests(random.Random(6), 1_000)
    table = SpillingDigestSet()
    assert all(table.add(digest) for digest in digests)
    assert [run.level for run in table._runs] == [0, 0, 0]
    assert files.open == 3
    assert len(table) == 1_000
    assert not any(table.add(digest) for digest in digests)
    table.close()
