"""The loop guard of one listing: what it has seen, so that a vendor paging loop raises."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from cdp_sdk.errors import UnexpectedResponseError
from cdp_sdk.http._digests import DigestSet, SpillingDigestSet
from cdp_sdk.http._paginate import PageRequest

__all__ = ["ItemKey", "ListingGuard"]

ItemKey = Callable[[Any], Hashable | None]
"""The natural key of a vendor record in a listing (e.g. ``operator.itemgetter("iccid")``);
``None``, or an error, for a record it cannot read (the mapping reports that record)."""

_KEY_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class ListingGuard:
    """Everything one listing has seen, so a server that pages in a loop is stopped.

    - every page request (URL, query and body): one asked for twice raises;
    - every non-empty page (its items): a page served again anywhere in the listing raises,
      not only right after itself;
    - with a ``key`` function, every record's natural key: a record listed twice raises.

    A page is known by its records' natural keys, in order, when ``key`` reads one from
    each of them (hashing the keys costs far less than re-encoding the page); otherwise by
    its items encoded as canonical JSON.

    Memory: a 64-bit digest per page request and per page (O(pages)), about 8.5 bytes each
    in ``DigestSet``s, plus one per record only when ``key`` is given, in a
    ``SpillingDigestSet`` (beyond 65,536 records, in temporary files, with 1.25 to 2.5
    bytes a record left in memory: 1.8 MiB for a million); never the records or
    identifiers themselves. A collision of two digests is about as likely as one in 10^19
    per pair. :meth:`close` drops the files.
    """

    def __init__(self, *, connector: str, endpoint: str, key: ItemKey | None = None) -> None:
        self.connector = connector
        self.endpoint = endpoint
        self.key = key
        self._requests = DigestSet()
        self._pages = DigestSet()
        self._keys = SpillingDigestSet()

    @property
    def requests(self) -> int:
        """Page requests seen so far."""
        return len(self._requests)

    def close(self) -> None:
        """Forget the records' keys (and close the files they went to)."""
        self._keys.close()

    def check_request(self, request: PageRequest) -> None:
        """Record a page request about to be sent; raise if the listing asked for it before."""
        if not self._requests.add(_digest(request.key())):
            raise self._error("the platform repeated a page")

    def check_page(self, items: Sequence[Any]) -> None:
        """Record a page's items before they are handed on; raise if the page, or one of
        its records (by natural key), was seen before in this listing."""
        if not items:
            return  # empty pages look alike; the request guard still applies to them
        keys = self._record_keys(items) if self.key is not None else None
        if keys is not None and None not in keys:
            digest = hash(tuple(keys))
        else:
            digest = self._items_digest(items)
        if not self._pages.add(digest):
            raise self._error("the platform repeated a page")
        if keys is not None:
            self._check_keys(keys)

    def _items_digest(self, items: Sequence[Any]) -> int:
        try:
            text = json.dumps(items, sort_keys=True, separators=(",", ":"), default=repr)
        except RecursionError:
            raise self._error("a page is nested too deeply to read") from None
        return _digest(text)

    def _record_keys(self, items: Sequence[Any]) -> list[int | None]:
        """Each record's natural key as a digest; ``None`` for a record without one (the
        mapping reports it)."""
        assert self.key is not None
        keys: list[int | None] = []
        for item in items:
            try:
                value = self.key(item)
                keys.append(None if value is None else hash((type(value), value)))
            except _KEY_ERRORS:
                keys.append(None)
        return keys

    def _check_keys(self, keys: list[int | None]) -> None:
        add = self._keys.add
        for digest in keys:
            if digest is not None and not add(digest):
                raise self._error("the platform listed the same record twice")

    def _error(self, reason: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"{self.endpoint}: {reason}; stopping rather than return a listing with "
            "duplicates or gaps",
            connector=self.connector,
        )
