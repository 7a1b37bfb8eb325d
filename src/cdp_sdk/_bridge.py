"""Running async code from synchronous callers: an event loop in a background thread.

The synchronous facades (:class:`cdp_sdk.Connector`, :class:`cdp_sdk.Workspace`) drive
their async twins here, so they behave identically and also work where an event loop is
already running (Jupyter).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from cdp_sdk._warnings import ORIGIN, Origin, caller

__all__ = ["Batched", "LoopThread", "SyncIterator"]

T = TypeVar("T")


@runtime_checkable
class Batched(Protocol[T]):
    """An async iterator that can also hand over everything it has ready at once."""

    def __aiter__(self) -> AsyncIterator[T]: ...

    async def __anext__(self) -> T: ...

    async def next_batch(self) -> list[T]:
        """The items of the current page (fetching the next page if none is left)."""
        ...


class SyncIterator(Iterator[T]):
    """Drives an async iterator on the loop thread: a page at a time where the iterator
    is :class:`Batched` (one thread hop per page), else an item at a time."""

    def __init__(self, iterator: AsyncIterator[T], loop: LoopThread) -> None:
        self._iterator = iterator
        self._batched = isinstance(iterator, Batched)  # a protocol check: slow, so once
        self._loop = loop
        self._ready: deque[T] = deque()
        self._done = False
        self._error: BaseException | None = None

    def __next__(self) -> T:
        if self._error is not None:
            raise self._error
        if self._ready:
            return self._ready.popleft()
        if self._done:
            raise StopIteration
        try:
            if self._batched:
                batched = cast("Batched[T]", self._iterator)
                self._ready.extend(self._loop.run(batched.next_batch()))
                return self._ready.popleft()
            return self._loop.run(_anext(self._iterator))
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None
        except BaseException:
            self._done = True
            raise

    def close(self, error: BaseException | None = None) -> None:
        """Stop early and release what the underlying iterator holds.

        ``error``: what reading on raises (its owner was closed while it was read);
        without one, the iterator just ends.
        """
        self._ready.clear()
        if self._done:
            return
        self._done = True
        self._error = error
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None and not self._loop.closed:
            self._loop.run(aclose())


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


_UNWIND_SECONDS = 10.0
"""How long an interrupted caller waits for its cancelled coroutine to finish."""


async def _tracked(
    coroutine: Coroutine[Any, Any, T], finished: threading.Event, origin: Origin
) -> T:
    ORIGIN.set(origin)  # this task's context (and its child tasks') only
    try:
        return await coroutine
    finally:
        finished.set()


class LoopThread:
    """An event loop running in a daemon thread, for the synchronous facade."""

    def __init__(self, name: str, *, closed: Callable[[], BaseException] | None = None) -> None:
        self._closed_error = closed or (lambda: RuntimeError(f"{name} is closed"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self.closed = False

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result in the calling thread
        (a warning it raises names the calling thread's line)."""
        if self.closed:
            coroutine.close()
            raise self._closed_error()
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a synchronous connector cannot be called from its own loop")
        finished = threading.Event()
        future = asyncio.run_coroutine_threadsafe(
            _tracked(coroutine, finished, caller()), self._loop
        )
        try:
            return future.result()
        except BaseException:  # Ctrl-C in the caller: cancel the coroutine, let it unwind
            future.cancel()  # (a sync marks its run interrupted) before the caller goes on
            finished.wait(_UNWIND_SECONDS)
            raise

    def close(self) -> None:
        """Cancel what still runs on the loop and let it unwind, stop the loop, join the
        thread. (A caller interrupted mid-call can leave tasks behind, a sync's page
        writers say: closing the loop under them would drop their ``finally`` blocks.)"""
        if self.closed:
            return
        self.closed = True
        leftovers = asyncio.run_coroutine_threadsafe(_cancel_remaining(), self._loop)
        with contextlib.suppress(Exception):  # what does not unwind in time is dropped
            leftovers.result(_UNWIND_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _cancel_remaining() -> None:
    """Cancel every other task of the running loop and wait until they have unwound.

    What one of them raised while unwinding (a page writer finding its lease released by
    the interrupted run, say) belongs to the call that was interrupted: it is taken here,
    not left for asyncio to print as never retrieved."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()
