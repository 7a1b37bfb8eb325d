"""The set of 64-bit digests the listing guard keeps a record's natural key in."""

from __future__ import annotations

import random

import pytest

from cdp_sdk.http import _digests
from cdp_sdk.http._digests import DigestSet


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
