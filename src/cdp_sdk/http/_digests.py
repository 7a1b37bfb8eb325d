"""A set of 64-bit digests in sorted flat arrays, for listings of millions of records."""

from __future__ import annotations

from array import array
from bisect import bisect_left

__all__ = ["DigestSet"]

_UNSIGNED = (1 << 64) - 1
BUCKET = 1024
"""Members a bucket holds on average before every bucket is split in two."""


class DigestSet:
    """64-bit digests (``hash()`` values, signed or not), about 8.5 bytes a member where a
    ``set`` of Python ints takes about 80 (a million ICCIDs: 8 MiB instead of 72).

    Each digest is kept as an unsigned 64-bit value in one of ``2**k`` sorted
    ``array("Q")`` buckets, chosen by its top ``k`` bits: a lookup is a binary search, an
    insertion moves part of one bucket. When the buckets hold ``BUCKET`` members on
    average, each is split in two at its middle value, one at a time, so growing never
    holds a second copy of the set (an open-addressing table would hold both tables).
    """

    __slots__ = ("_buckets", "_count", "_shift")

    def __init__(self) -> None:
        self._buckets: list[array[int]] = [array("Q")]
        self._shift = 64  # a digest's bucket is its value shifted right by this
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, digest: int) -> bool:
        value = digest & _UNSIGNED
        bucket = self._buckets[value >> self._shift]
        index = bisect_left(bucket, value)
        return index < len(bucket) and bucket[index] == value

    def add(self, digest: int) -> bool:
        """Add ``digest``; ``False`` if it was already a member."""
        value = digest & _UNSIGNED
        bucket = self._buckets[value >> self._shift]
        index = bisect_left(bucket, value)
        if index < len(bucket) and bucket[index] == value:
            return False
        bucket.insert(index, value)
        self._count += 1
        if self._count > BUCKET * len(self._buckets):
            self._split()
        return True

    def _split(self) -> None:
        """Split every bucket in two by the next bit, freeing each as it goes."""
        old = self._buckets
        old.reverse()
        buckets: list[array[int]] = []
        self._buckets = buckets
        self._shift = shift = self._shift - 1
        index = 0
        while old:
            bucket = old.pop()
            cut = bisect_left(bucket, (2 * index + 1) << shift)
            buckets += (bucket[:cut], bucket[cut:])
            index += 1
