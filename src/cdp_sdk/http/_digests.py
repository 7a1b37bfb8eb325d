"""Sets of 64-bit digests for listings of millions of records: sorted flat arrays in
memory (:class:`DigestSet`), and beyond a bound, sorted runs in a temporary file
(:class:`SpillingDigestSet`)."""

from __future__ import annotations

import heapq
import logging
import tempfile
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["DigestSet", "SpillingDigestSet"]

logger = logging.getLogger("cdp_sdk")

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

    def values(self) -> array[int]:
        """Every member as an unsigned value, in ascending order."""
        ordered = array("Q")
        for bucket in self._buckets:
            ordered.extend(bucket)
        return ordered

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


SPILL = 1 << 16
"""Members a :class:`SpillingDigestSet` keeps in memory (about 0.5 MiB) before it writes
them to a temporary file as one sorted run."""
FANOUT = 16
"""Runs of one size merged into one run of the next size."""
BLOCK = 512
"""Members between two fences of a run: finding a digest in a run reads 4 KiB."""
FILTER_BITS = 10
"""Bits of the Bloom filter per member on disk, at least: at most about 1 in 50 digests
that are not on disk is looked for there all the same."""
FIRST_CAPACITY = 16
"""The filter's first size, in runs: a million members at the default :data:`SPILL`, so
memory does not grow from the first run written to the sixteenth (1.25 MiB)."""
_CHUNK = 16 * BLOCK
"""Members read or written at a time when runs are merged or the filter rebuilt."""


@dataclass(frozen=True, slots=True)
class _Run:
    """Sorted unsigned digests in an anonymous temporary file of their own, with every
    ``BLOCK``-th one (its fences); ``level``: merged that many times over."""

    file: BinaryIO
    count: int
    level: int
    fences: array[int]

    @classmethod
    def write(cls, chunks: Iterable[array[int]], level: int) -> _Run:
        """A run of the ascending ``chunks`` (each a multiple of ``BLOCK`` long but the last).

        Raises:
            OSError: the file could not be made or written (nothing is left of it).
        """
        file = tempfile.TemporaryFile()  # noqa: SIM115 - the run holds it open
        fences = array("Q")
        count = 0
        try:
            for chunk in chunks:
                file.write(chunk.tobytes())
                fences.extend(chunk[::BLOCK])
                count += len(chunk)
            file.flush()
        except BaseException:
            file.close()
            raise
        return cls(file, count, level, fences)

    def holds(self, value: int) -> bool:
        block = bisect_right(self.fences, value) - 1
        if block < 0:
            return False
        start = block * BLOCK
        values = self._read(start, min(BLOCK, self.count - start))
        index = bisect_left(values, value)
        return index < len(values) and values[index] == value

    def values(self) -> Iterator[int]:
        for start in range(0, self.count, _CHUNK):
            yield from self._read(start, min(_CHUNK, self.count - start))

    def _read(self, start: int, count: int) -> array[int]:
        self.file.seek(8 * start)
        values = array("Q")
        values.frombytes(self.file.read(8 * count))
        return values


def _chunks(values: Iterable[int]) -> Iterator[array[int]]:
    chunk = array("Q")
    for value in values:
        chunk.append(value)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = array("Q")
    if chunk:
        yield chunk


def _bits(value: int) -> int:
    """The four bits of a filter word that stand for ``value``."""
    return (
        (1 << (value & 63))
        | (1 << ((value >> 6) & 63))
        | (1 << ((value >> 12) & 63))
        | (1 << ((value >> 18) & 63))
    )


class SpillingDigestSet:
    """A :class:`DigestSet` that keeps about 1.8 MiB in memory from its :data:`SPILL`-th
    member to its millionth (a ``DigestSet`` of a million takes 8.1), and 1.25 to 2.5
    bytes a member beyond.

    At most :data:`SPILL` members are kept in memory. When that many have come, they are
    written, sorted, as a run to an anonymous temporary file (it has no name, and is gone
    when the set is closed or collected, or the process ends). Memory keeps every
    :data:`BLOCK`-th digest of each run and a Bloom filter of every member on disk: one
    64-bit word per digest, four bits in it. A digest the filter rules out (the usual
    case) is answered from memory; one it may hold is looked for in each run with one
    read of 4 KiB. :data:`FANOUT` runs of one size are merged into one (so there are
    fewer than ``FANOUT`` of each size), and the filter is rebuilt twice as large, from
    the runs, when the members on disk outgrow it (so it holds at least
    :data:`FILTER_BITS` bits a member).

    The files hold only digests. If one cannot be written (no space, no temporary
    directory), the set keeps its members in memory from then on, as a ``DigestSet``.
    """

    __slots__ = ("_capacity", "_filter", "_on_disk", "_recent", "_runs", "_size", "_spill")

    def __init__(self, *, spill: int | None = None) -> None:
        self._spill = SPILL if spill is None else spill
        self._recent = DigestSet()
        self._runs: list[_Run] = []  # oldest (largest) first
        self._on_disk = 0
        self._capacity = 0  # members on disk the filter is sized for
        self._filter = array("Q")  # empty while nothing is on disk
        self._size = 0  # its words

    def __len__(self) -> int:
        return len(self._recent) + self._on_disk

    def __contains__(self, digest: int) -> bool:
        value = digest & _UNSIGNED
        return value in self._recent or self._disk_holds(value)

    def add(self, digest: int) -> bool:
        """Add ``digest``; ``False`` if it was already a member."""
        value = digest & _UNSIGNED
        words = self._filter
        if words:  # _disk_holds(value), its usual case written out (a call a record saved)
            bits = (
                (1 << (value & 63))
                | (1 << ((value >> 6) & 63))
                | (1 << ((value >> 12) & 63))
                | (1 << ((value >> 18) & 63))
            )
            if words[((value >> 32) * self._size) >> 32] & bits == bits and any(
                run.holds(value) for run in self._runs
            ):
                return False
        recent = self._recent
        if not recent.add(value):
            return False
        if recent._count >= self._spill:
            self._spill_recent()
        return True

    def close(self) -> None:
        """Close the files; the set is empty afterwards."""
        for run in self._runs:
            run.file.close()
        self._runs = []
        self._recent = DigestSet()
        self._on_disk = self._capacity = self._size = 0
        self._filter = array("Q")

    def _disk_holds(self, value: int) -> bool:
        words = self._filter
        if not words:
            return False
        bits = _bits(value)
        if words[((value >> 32) * self._size) >> 32] & bits != bits:
            return False
        return any(run.holds(value) for run in self._runs)

    def _spill_recent(self) -> None:
        values = self._recent.values()
        try:
            run = _Run.write([values], level=0)
        except OSError as exc:
            logger.warning(
                "cdp-sdk could not write a listing's digests to a temporary file (%s); "
                "keeping them in memory",
                exc.strerror or type(exc).__name__,
            )
            self._spill = 1 << 62  # from now on, a DigestSet
            return
        self._runs.append(run)
        self._recent = DigestSet()
        self._on_disk += run.count
        if self._on_disk > self._capacity:
            self._capacity = max(2 * self._capacity, FIRST_CAPACITY * self._spill, self._on_disk)
            self._size = max(1, self._capacity * FILTER_BITS // 64)
            self._filter = array("Q")  # the old filter goes before the new one is made,
            self._filter = array("Q", [0]) * self._size  # which copies in no zeroed bytes
            for each in self._runs:
                self._fill_filter(each.values())
        else:
            self._fill_filter(values)
        self._merge_runs()

    def _fill_filter(self, values: Iterable[int]) -> None:
        words = self._filter
        size = len(words)
        for value in values:  # _bits(value), written out
            words[((value >> 32) * size) >> 32] |= (
                (1 << (value & 63))
                | (1 << ((value >> 6) & 63))
                | (1 << ((value >> 12) & 63))
                | (1 << ((value >> 18) & 63))
            )

    def _merge_runs(self) -> None:
        """While the last ``FANOUT`` runs are of one level, merge them into one run of
        the next level (their files are closed)."""
        runs = self._runs
        while len(runs) >= FANOUT and len({run.level for run in runs[-FANOUT:]}) == 1:
            merged = runs[-FANOUT:]
            try:
                run = _Run.write(
                    _chunks(heapq.merge(*(each.values() for each in merged))),
                    level=merged[0].level + 1,
                )
            except OSError:
                return  # looked up as they are: one read more per run
            for each in merged:
                each.file.close()
            runs[-FANOUT:] = [run]
