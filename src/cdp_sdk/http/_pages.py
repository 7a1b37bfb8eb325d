"""Streams of pages built from other streams of pages: chained, or each page made over.

An ``async for page in pages: yield page`` generator keeps its last page (in ``page``)
while the next one is fetched and decoded, two pages alive at once. These are iterator
classes instead: a page is handed on and not kept, so a listing of any length holds one
page at a time, as :meth:`HttpClient.paginate <cdp_sdk.http.HttpClient.paginate>` does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["chain_pages", "map_pages"]

T = TypeVar("T")
R = TypeVar("R")

PageSource = AsyncIterator[T] | Callable[[], AsyncIterator[T]]
"""A stream of pages, or a function that starts one (called when its turn comes)."""

_NONE: Any = object()


def chain_pages(*sources: PageSource[T], first: T = _NONE) -> AsyncIterator[T]:
    """The pages of ``sources``, one stream after the other; ``first``, when given, comes
    before them (a page already fetched). A source given as a function is started only
    once the streams before it end. No page is kept while the next is fetched."""
    return _Chained(sources, first)


def map_pages(pages: AsyncIterator[T], each: Callable[[T], Awaitable[R]]) -> AsyncIterator[R]:
    """``each`` of every page of ``pages`` (e.g. a page joined with a look-up of its
    items). Neither a page nor what ``each`` made of it is kept while the next is
    fetched; an error of ``each`` closes ``pages``."""
    return _Mapped(pages, each)


class _Chained(AsyncIterator[T]):
    def __init__(self, sources: tuple[PageSource[T], ...], first: T) -> None:
        self._sources: deque[PageSource[T]] = deque(sources)
        self._first = first
        self._current: AsyncIterator[T] | None = None

    async def __anext__(self) -> T:
        if self._first is not _NONE:
            first, self._first = self._first, _NONE
            return first
        while True:
            if self._current is None:
                if not self._sources:
                    raise StopAsyncIteration
                source = self._sources.popleft()
                self._current = source() if callable(source) else source
            try:
                return await anext(self._current)
            except StopAsyncIteration:
                self._current = None

    async def aclose(self) -> None:
        """Stop early: closes the stream being read and those not started."""
        self._first = _NONE
        streams = [self._current, *self._sources]
        self._current = None
        self._sources.clear()
        for stream in streams:
            await _close(stream)


class _Mapped(AsyncIterator[R]):
    def __init__(self, pages: AsyncIterator[T], each: Callable[[T], Awaitable[R]]) -> None:
        self._pages = pages
        self._each = each

    async def __anext__(self) -> R:
        page = await anext(self._pages)
        try:
            return await self._each(page)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop early: closes ``pages``."""
        await _close(self._pages)


async def _close(stream: object) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
