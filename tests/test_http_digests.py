"""The flat set of 64-bit digests the listing guard keeps a record's natural key in."""

from __future__ import annotations

import random

from cdp_sdk.http._digests import DigestSet


def test_it_answers_as_a_set_of_the_same_digests_through_many_growths() -> None:
    rng = random.Random(7)
    digests = [rng.getrandbits(64) - 2**63 for _ in range(20_000)]
    digests += digests[:500]  # members added again
    table, reference = DigestSet(capacity=1), set()
    for digest in digests:
        assert table.add(digest) is (digest not in reference)
        reference.add(digest)
    assert len(table) == len(reference) == 20_000
    assert all(digest in table for digest in reference)
    assert not any(rng.getrandbits(64) - 2**63 in table for _ in range(20_000))


def test_extreme_digests_and_colliding_slots_are_members_of_their_own() -> None:
    table = DigestSet(capacity=4)
    size = 16  # the smallest table: digests equal modulo 16 probe the same slots
    same_slot = [3, 3 + size, 3 - size, 3 + 2**40 * size]
    extremes = [2**63 - 1, -(2**63), -1]
    for digest in same_slot + extremes:
        assert table.add(digest)
    assert all(digest in table for digest in same_slot + extremes)
    assert 3 + 3 * size not in table
    assert len(table) == 7


def test_zero_is_kept_as_one() -> None:
    table = DigestSet()
    assert 0 not in table
    assert table.add(0)
    assert 0 in table
    assert 1 in table
    assert not table.add(1)
    assert len(table) == 1
