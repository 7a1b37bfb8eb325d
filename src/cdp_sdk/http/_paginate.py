"""Paginators: pure descriptions of how a vendor API pages its lists.

A paginator never does I/O. Given the request for one page and that page's response, it
returns the request for the next page, or ``None`` when the vendor signals the end. The
vendor's end signal decides, not an empty page: an empty page that the vendor says is not
the last is followed, or, where the style cannot go on from it (nothing to start after),
the paginator raises ``ValueError``. :meth:`cdp_sdk.http.HttpClient.paginate` drives it,
turns an unreadable paging signal into :class:`~cdp_sdk.errors.UnexpectedResponseError`,
and adds the loop guard over the whole listing (see :class:`ListingGuard`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

__all__ = [
    "CursorPaginator",
    "HasMorePaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "SinglePage",
    "StartAfterPaginator",
    "body_field",
    "header_value",
    "read_count",
    "read_flag",
]

ResponseReader = Callable[[httpx.Response, Any], Any]
"""Reads one value from a page: called with the response and its decoded JSON body."""


def body_field(path: str) -> ResponseReader:
    """A reader of a dotted path in the JSON body, e.g. ``"meta.next_page_url"``."""
    keys = path.split(".")

    def read(response: httpx.Response, body: Any) -> Any:
        value = body
        for key in keys:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    return read


def header_value(name: str) -> ResponseReader:
    """A reader of a response header (case-insensitive), ``None`` when absent."""

    def read(response: httpx.Response, body: Any) -> Any:
        return response.headers.get(name)

    return read


@dataclass(frozen=True)
class PageRequest:
    """The parts of a page request a paginator may change: URL, query and JSON body."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None

    def with_params(self, **params: Any) -> PageRequest:
        """This request with ``params`` added to (or replacing) its query."""
        return replace(self, params={**self.params, **params})

    def key(self) -> str:
        """A fingerprint of the request, used by the loop guard."""
        return repr((self.url, sorted(self.params.items()), self.json))


class Paginator(ABC):
    """How one vendor endpoint pages a list.

    ``first`` completes the initial request (page size, first page number); ``next``
    returns the request for the following page, or ``None`` on the vendor's end signal.
    Both are pure functions of their arguments.
    """

    def first(self, request: PageRequest) -> PageRequest:
        return request

    @abstractmethod
    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        """The request for the page after ``request``, or ``None`` at the end."""


@dataclass(frozen=True)
class SinglePage(Paginator):
    """An endpoint that answers with the whole list at once."""

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        return None


@dataclass(frozen=True)
class PageNumberPaginator(Paginator):
    """``page=1,2,...`` with a page size; ends on a last-page flag or a total-pages count.

    ``last_page`` reads the vendor's flag (e.g. Jasper's ``lastPage``); ``total_pages``
    reads the count (e.g. the ``X-Total-Pages`` header of emnify and 1NCE). Whichever
    speaks decides, also for an empty page: one that the flag or the count says is not the
    last is followed by the next page number, up to the announced total. When neither says
    anything, an empty page or a page shorter than ``page_size`` ends the list. A flag
    that is not a boolean, or a count that is not a whole number, raises ``ValueError``.
    """

    page_param: str = "page"
    size_param: str | None = "per_page"
    page_size: int | None = None
    first_page: int = 1
    last_page: ResponseReader | None = None
    total_pages: ResponseReader | None = None

    def first(self, request: PageRequest) -> PageRequest:
        first = request.with_params(**{self.page_param: self.first_page})
        return _sized(first, self.size_param, self.page_size)

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        page = int(request.params[self.page_param])
        following = request.with_params(**{self.page_param: page + 1})
        if self.last_page is not None:
            flag = self.last_page(response, body)
            if flag is not None:
                return None if read_flag(flag, "last-page flag") else following
        if self.total_pages is not None:
            total = self.total_pages(response, body)
            if total is not None:
                last = read_count(total, "total-pages count") + self.first_page - 1
                return None if page >= last else following
        if not items or (self.page_size is not None and len(items) < self.page_size):
            return None
        return following


@dataclass(frozen=True)
class OffsetPaginator(Paginator):
    """``offset`` and ``limit``: each page starts where the items seen so far end.

    ``total`` reads the vendor's count of all items (e.g. ``body_field("total")`` or
    ``header_value("X-Total-Count")``): the list ends once ``offset`` plus the page's items
    reaches it, whatever the page's length, and an empty page before that raises
    ``ValueError`` (it cannot be followed: the offset would not move, and skipping ahead
    could miss items). When the vendor gives no total, an empty page or a page shorter
    than ``page_size`` ends the list. The next offset counts the items actually received,
    so a vendor that returns fewer than asked loses nothing. A total that is not a whole
    number raises ``ValueError``.
    """

    offset_param: str = "offset"
    limit_param: str | None = "limit"
    page_size: int | None = None
    start: int = 0
    total: ResponseReader | None = None

    def first(self, request: PageRequest) -> PageRequest:
        first = request.with_params(**{self.offset_param: self.start})
        return _sized(first, self.limit_param, self.page_size)

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        offset = read_count(request.params[self.offset_param], "offset")
        following = request.with_params(**{self.offset_param: offset + len(items)})
        if self.total is not None:
            announced = self.total(response, body)
            if announced is not None:
                total = read_count(announced, "total count") + self.start
                if offset + len(items) >= total:
                    return None
                if not items:
                    raise ValueError(
                        "an empty page before the end the total count announces "
                        "(the offset cannot move on from it)"
                    )
                return following
        if not items or (self.page_size is not None and len(items) < self.page_size):
            return None
        return following


@dataclass(frozen=True)
class CursorPaginator(Paginator):
    """An opaque cursor sent back as ``param``; read from a header or the body.

    Soracom: ``CursorPaginator("last_evaluated_key", header_value("x-soracom-next-key"))``;
    Onomondo: ``CursorPaginator("next_page", body_field("next_page"))``. The list ends
    when the cursor is absent or empty. An empty page that carries a cursor is followed
    (a scan may return an empty page before more data); a cursor that does not advance is
    caught by the loop guard.
    """

    param: str
    cursor: ResponseReader
    size_param: str | None = None
    page_size: int | None = None

    def first(self, request: PageRequest) -> PageRequest:
        return _sized(request, self.size_param, self.page_size)

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        cursor = self.cursor(response, body)
        if cursor in (None, ""):
            return None
        if not isinstance(cursor, str | int) or isinstance(cursor, bool):
            raise ValueError("the next-page cursor is not a string")
        return request.with_params(**{self.param: str(cursor)})


@dataclass(frozen=True)
class NextUrlPaginator(Paginator):
    """The body names the URL of the next page (Twilio ``meta.next_page_url``).

    The URL is followed as given (its query replaces ours), also after an empty page; the
    list ends when it is absent. :class:`HttpClient` refuses a URL on another host, so
    credentials never leave the configured platform.
    """

    next_url: ResponseReader

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        url = self.next_url(response, body)
        if not url:
            return None
        if not isinstance(url, str):
            raise ValueError("the next-page URL is not a string")
        return PageRequest(url=str(response.url.join(url)), params={}, json=request.json)


@dataclass(frozen=True)
class StartAfterPaginator(Paginator):
    """The next page starts after the last item's id (Hologram ``startafter``).

    ``continues`` reads the vendor's more-data flag (absent means no more); without a
    reader, an empty page ends the list. An empty page whose flag says more cannot be
    followed (there is no last item to start after) and raises ``ValueError``.
    """

    param: str
    item_id: Callable[[Any], Any]
    continues: ResponseReader | None = None
    size_param: str | None = None
    page_size: int | None = None

    def first(self, request: PageRequest) -> PageRequest:
        return _sized(request, self.size_param, self.page_size)

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        if self.continues is not None:
            if not read_flag(self.continues(response, body), "more-data flag", absent=False):
                return None
            if not items:
                raise ValueError(
                    "an empty page says more data follows, with no item to start after"
                )
        if not items:
            return None
        return request.with_params(**{self.param: self.item_id(items[-1])})


@dataclass(frozen=True)
class HasMorePaginator(Paginator):
    """The vendor flags that more data waits; the caller says how to ask for it.

    ``has_more`` reads the flag (absent means no more); by default an HTTP 202 answer also
    means "more data" (Verizon ThingSpace). ``advance`` builds the next request from the
    current one and the page (e.g. ``largestDeviceIdSeen`` from the last item, or
    ``earliest`` moved forward). It is called for an empty page too; when it cannot go on
    from one it raises ``ValueError`` (or ``IndexError``), and a request it repeats is
    caught by the loop guard.
    """

    has_more: ResponseReader
    advance: Callable[[PageRequest, httpx.Response, Any, Sequence[Any]], PageRequest]
    more_on_202: bool = True

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        more = read_flag(self.has_more(response, body), "more-data flag", absent=False)
        if self.more_on_202 and response.status_code == 202:
            more = True
        return self.advance(request, response, body, items) if more else None


def _sized(request: PageRequest, size_param: str | None, page_size: int | None) -> PageRequest:
    """``request`` asking for ``page_size`` items per page, when both are given."""
    if size_param and page_size:
        return request.with_params(**{size_param: page_size})
    return request


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def read_flag(value: Any, name: str, *, absent: bool | None = None) -> bool:
    """A vendor's boolean paging flag: a JSON boolean, ``0``/``1``, or ``"true"``/``"false"``
    (also ``"yes"``/``"no"``, any case). ``None`` gives ``absent`` when that is set; any
    other value raises ``ValueError`` naming the flag (never its value)."""
    if value is None and absent is not None:
        return absent
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"the {name} is not a boolean")


def read_count(value: Any, name: str) -> int:
    """A vendor's page or item count: a non-negative whole number, as a number or as
    decimal digits (a header). Anything else raises ``ValueError`` naming the count."""
    if isinstance(value, bool):
        raise ValueError(f"the {name} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"the {name} is not a whole number")
    if number < 0:
        raise ValueError(f"the {name} is negative")
    return number
