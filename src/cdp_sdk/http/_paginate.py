"""Paginators: pure descriptions of how a vendor API pages its lists.

A paginator never does I/O. Given the request for one page and that page's response, it
returns the request for the next page, or ``None`` when the vendor signals the end. The
vendor's end signal decides, on an empty page too: an empty page ends a listing only where
nothing else says more data waits (no flag, cursor or count); an empty page that claims more
is followed where the next request can be built from the answer (a cursor, a next URL, a page
number) and raises :class:`PagingError` where it cannot (paging that continues from the last
item). :meth:`cdp_sdk.http.HttpClient.paginate` drives a paginator and adds what every style
shares: the loop guard (a page request seen before, or a page whose items repeat the previous
page's, raises :class:`~cdp_sdk.errors.UnexpectedResponseError`) and a cap on runs of empty
pages that claim more.
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
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "PagingError",
    "SinglePage",
    "StartAfterPaginator",
    "body_field",
    "header_value",
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


class PagingError(Exception):
    """A paginator cannot build the next request from a page (e.g. an empty page that claims
    more data, where the next request continues from the last item). ``HttpClient.paginate``
    raises it as :class:`~cdp_sdk.errors.UnexpectedResponseError` naming the endpoint."""


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
    ``next`` is called after every page, empty ones included, and raises
    :class:`PagingError` when the answer claims more data but gives nothing to continue
    from. Both are pure functions of their arguments.
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
    reads the count (e.g. the ``X-Total-Pages`` header of emnify and 1NCE). Either one
    decides, on an empty page too. When neither says anything, an empty page or a page
    shorter than ``page_size`` ends the list.
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
        if self.last_page is not None:
            flag = self.last_page(response, body)
            if flag is not None:
                return None if _truthy(flag) else request.with_params(**{self.page_param: page + 1})
        if self.total_pages is not None:
            total = self.total_pages(response, body)
            if total is not None:
                last = int(total) + self.first_page - 1
                return None if page >= last else request.with_params(**{self.page_param: page + 1})
        if not items or (self.page_size is not None and len(items) < self.page_size):
            return None
        return request.with_params(**{self.page_param: page + 1})


@dataclass(frozen=True)
class CursorPaginator(Paginator):
    """An opaque cursor sent back as ``param``; read from a header or the body.

    Soracom: ``CursorPaginator("last_evaluated_key", header_value("x-soracom-next-key"))``;
    Onomondo: ``CursorPaginator("next_page", body_field("next_page"))``. The list ends
    when the cursor is absent or empty; an empty page that carries a cursor is followed.
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
        return request.with_params(**{self.param: str(cursor)})


@dataclass(frozen=True)
class NextUrlPaginator(Paginator):
    """The body names the URL of the next page (Twilio ``meta.next_page_url``).

    The URL is followed as given (its query replaces ours), after an empty page too;
    :class:`HttpClient` refuses a URL on another host, so credentials never leave the
    configured platform.
    """

    next_url: ResponseReader

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        url = self.next_url(response, body)
        if not url:
            return None
        return PageRequest(url=str(response.url.join(str(url))), params={}, json=request.json)


@dataclass(frozen=True)
class StartAfterPaginator(Paginator):
    """The next page starts after the last item's id (Hologram ``startafter``).

    ``continues`` reads the vendor's more-data flag; without it, an empty page ends the list.
    An empty page whose flag claims more raises :class:`PagingError`: there is no last item
    to start after.
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
        if self.continues is not None and not _truthy(self.continues(response, body)):
            return None
        if not items:
            if self.continues is not None:
                raise PagingError("an empty page claims more data")
            return None
        return request.with_params(**{self.param: self.item_id(items[-1])})


@dataclass(frozen=True)
class HasMorePaginator(Paginator):
    """The vendor flags that more data waits; the caller says how to ask for it.

    ``has_more`` reads the flag; by default an HTTP 202 answer also means "more data"
    (Verizon ThingSpace). ``advance`` builds the next request from the current one and the
    page (e.g. ``largestDeviceIdSeen`` from the last item, or ``earliest`` moved forward).
    Only the flag (or the 202) ends the list: an empty page that claims more raises
    :class:`PagingError`, since there is nothing to advance from.
    """

    has_more: ResponseReader
    advance: Callable[[PageRequest, httpx.Response, Any, Sequence[Any]], PageRequest]
    more_on_202: bool = True

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, items: Sequence[Any]
    ) -> PageRequest | None:
        more = _truthy(self.has_more(response, body))
        if self.more_on_202 and response.status_code == 202:
            more = True
        if not more:
            return None
        if not items:
            raise PagingError("an empty page claims more data")
        return self.advance(request, response, body, items)


def _sized(request: PageRequest, size_param: str | None, page_size: int | None) -> PageRequest:
    """``request`` asking for ``page_size`` items per page, when both are given."""
    if size_param and page_size:
        return request.with_params(**{size_param: page_size})
    return request


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)
