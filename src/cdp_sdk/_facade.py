"""What users hold: the async facade over a plugin and its synchronous twin.

Both facades check arguments and capabilities before any request, then delegate to the
plugin. The synchronous :class:`Connector` runs the very same :class:`AsyncConnector` on a
private event loop in a background thread, so it behaves identically and also works where
an event loop is already running (Jupyter).
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, date, datetime, time
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from cdp_sdk._bridge import Batched, LoopThread, SyncIterator
from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk.errors import ClosedError, InvalidRequestError, NotFoundError
from cdp_sdk.http import call_timeout
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Capability,
    ConnectorInfo,
    Granularity,
    Invoice,
    SimStatus,
    StatusChange,
    Subscription,
    Tariff,
    UsageRecord,
    normalize_iccid,
)

__all__ = ["AsyncConnector", "Connector", "StatusFilter", "about_sim", "name_sim"]

T = TypeVar("T")
TimeArg = date | datetime | None
StatusFilter = SimStatus | str | Iterable[SimStatus | str] | None
"""One normalized status, several, or ``None`` for all."""


class _Identity:
    """What both facades say about the connector they wrap."""

    _plugin: BaseConnector

    @property
    def name(self) -> str:
        """The connector's name, e.g. ``"emnify"``."""
        return self._plugin.name

    @property
    def info(self) -> ConnectorInfo:
        """Name, title and capabilities."""
        return self._plugin.info()

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this connector can do."""
        return self._plugin.capabilities

    @property
    def settings(self) -> ConnectorSettings:
        """The validated settings (secrets stay ``SecretStr``)."""
        return self._plugin.settings

    @property
    def plugin(self) -> BaseConnector:
        """The connector implementation, for vendor-specific extras."""
        return self._plugin

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.settings.base_url}>"


class AsyncConnector(_Identity):
    """A connection to one CDP account, for ``async`` code.

    Get one from :func:`cdp_sdk.connect_async`. Listing methods return async iterators that
    fetch page by page; the rest are coroutines. Use it as an async context manager, or call
    :meth:`aclose` when done: any call after that raises :class:`~cdp_sdk.errors.ClosedError`.

    Every method takes ``timeout=``: the seconds each network operation of that call may
    take (its requests and any login they need), instead of the ``timeout`` setting.
    """

    def __init__(self, plugin: BaseConnector) -> None:
        self._plugin = plugin
        self._args = _Arguments(plugin.name)
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the HTTP connections; later calls raise :class:`~cdp_sdk.errors.ClosedError`."""
        self._closed = True
        await self._plugin.aclose()

    async def check(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Authenticate now; raises :class:`~cdp_sdk.errors.AuthenticationError` etc."""
        self._require_open()
        with self._call(timeout):
            await self._plugin.check()

    # -- the contract ---------------------------------------------------------------

    def subscriptions(
        self,
        *,
        modified_since: TimeArg = None,
        status: StatusFilter = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Subscription]:
        """Every subscription, page by page.

        With ``modified_since``, only those changed since then: server-side where the
        connector declares ``incremental``; otherwise filtered here on ``updated_at``
        (subscriptions whose platform gives no ``updated_at`` are all returned).

        With ``status`` (one status or several), only subscriptions in those normalized
        statuses: asked of the platform where its API can filter (the connector's
        ``filters_status``), and always checked here as well.
        """
        self._require(Capability.SUBSCRIPTIONS)
        since = self._args.to_utc(modified_since, "modified_since")
        wanted = self._args.statuses(status)
        self._args.timeout(timeout)
        server_since = since if Capability.INCREMENTAL in self.capabilities else None
        if wanted is not None and self._plugin.filters_status:
            # A connector with ``filters_status`` takes the argument (BaseConnector has none).
            plugin: Any = self._plugin
            listing = plugin.subscriptions(modified_since=server_since, status=wanted)
        else:
            listing = self._plugin.subscriptions(modified_since=server_since)

        def keep(sim: Subscription) -> bool:
            if wanted is not None and sim.status not in wanted:
                return False
            if since is None or server_since is not None:
                return True
            return sim.updated_at is None or sim.updated_at >= since

        filtered = wanted is not None or (since is not None and server_since is None)
        return self._listing(listing, timeout, keep=keep if filtered else None)

    async def subscription(
        self,
        iccid: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - an HTTP timeout, not a deadline
    ) -> Subscription:
        """One subscription by ICCID."""
        self._require(Capability.SUBSCRIPTIONS)
        iccid = self._args.iccid(iccid)
        with self._call(timeout, iccid):
            return await self._plugin.subscription(iccid)

    async def activation_modes(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - an HTTP timeout, not a deadline
    ) -> list[ActivationMode]:
        """The platform's lifecycle states: billable, settable, reachable states."""
        self._require(Capability.SUBSCRIPTIONS)
        with self._call(timeout):
            return await self._plugin.activation_modes()

    async def change_status(
        self,
        iccid: str,
        status: SimStatus | str,
        *,
        confirm_irreversible: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - an HTTP timeout, not a deadline
    ) -> StatusChange:
        """Move a SIM to ``status``. A move to ``retired`` needs ``confirm_irreversible``."""
        self._require(Capability.CHANGE_STATUS)
        iccid = self._args.iccid(iccid)
        target = self._args.status(status)
        if target is SimStatus.RETIRED and not confirm_irreversible:
            raise InvalidRequestError(
                "retiring a SIM cannot be undone; pass confirm_irreversible=True",
                connector=self.name,
            )
        with self._call(timeout, iccid):
            return await self._plugin.change_status(iccid, target)

    def tariffs(self, *, timeout: float | None = None) -> AsyncIterator[Tariff]:
        """The account's tariffs."""
        self._require(Capability.TARIFFS)
        self._args.timeout(timeout)
        return self._listing(self._plugin.tariffs(), timeout)

    def usage(
        self,
        iccid: str | None = None,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        granularity: Granularity | str | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[UsageRecord]:
        """Usage in ``[start, end)``, for one SIM or (``iccid=None``) the account."""
        self._require(Capability.USAGE)
        start_at, end_at = self._args.range(start, end)
        wanted = self._args.granularity(granularity)
        offered = self._plugin.usage_granularities
        if wanted is not None and wanted not in offered:
            names = ", ".join(sorted(g.value for g in offered))
            raise self._args.refuse(f"{self.name} reports usage by {names}, not {wanted.value}")
        sim = self._sim_or_account(iccid, Capability.USAGE)
        self._args.timeout(timeout)
        listing = self._plugin.usage(sim, start=start_at, end=end_at, granularity=wanted)
        return self._listing(listing, timeout, iccid=sim)

    def invoices(
        self, *, start: TimeArg = None, end: TimeArg = None, timeout: float | None = None
    ) -> AsyncIterator[Invoice]:
        """Invoices whose period overlaps ``[start, end)``."""
        self._require(Capability.INVOICES)
        start_at, end_at = self._args.range(start, end)
        self._args.timeout(timeout)
        return self._listing(self._plugin.invoices(start=start_at, end=end_at), timeout)

    def audit_events(
        self,
        iccid: str | None = None,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        timeout: float | None = None,
    ) -> AsyncIterator[AuditEvent]:
        """Inventory changes in ``[start, end)``, for one SIM or the account."""
        self._require(Capability.AUDIT_EVENTS)
        start_at, end_at = self._args.range(start, end)
        sim = self._sim_or_account(iccid, Capability.AUDIT_EVENTS)
        self._args.timeout(timeout)
        listing = self._plugin.audit_events(sim, start=start_at, end=end_at)
        return self._listing(listing, timeout, iccid=sim)

    async def update_tags(
        self,
        iccid: str,
        tags: Mapping[str, str | None],
        *,
        remove: Iterable[str] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - an HTTP timeout, not a deadline
    ) -> None:
        """Merge ``tags`` into the SIM's tags and delete the keys in ``remove``.

        Tags the platform cannot store as asked (the connector's ``tag_rules``: keys it
        lacks, values on a label-only platform, forbidden characters) are refused with
        :class:`~cdp_sdk.errors.InvalidRequestError` before any request.
        """
        self._require(Capability.UPDATE_TAGS)
        iccid = self._args.iccid(iccid)
        removed = tuple(remove)
        for key in (*tags, *removed):
            if not isinstance(key, str) or not key.strip():
                raise InvalidRequestError("tag keys must be non-empty strings", connector=self.name)
        for key, value in tags.items():
            if value is not None and not isinstance(value, str):
                raise InvalidRequestError(
                    f"tag {key!r}: value must be a string or None", connector=self.name
                )
        if clash := sorted(set(tags) & set(removed)):
            raise InvalidRequestError(
                f"tags both set and removed: {', '.join(clash)}", connector=self.name
            )
        if problems := type(self._plugin).tag_problems(tags, removed):
            raise InvalidRequestError(
                f"{self.name} cannot store these tags: {'; '.join(problems)}",
                connector=self.name,
            )
        if tags or removed:
            with self._call(timeout, iccid):
                await self._plugin.update_tags(iccid, dict(tags), removed)

    # -- helpers ----------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError(
                f"the {self.name} connector is closed; connect again", connector=self.name
            )

    def _require(self, capability: Capability) -> None:
        self._require_open()
        if capability not in self.capabilities:
            raise self._plugin.unsupported(capability)

    @contextmanager
    def _call(self, timeout: float | None, iccid: str | None = None) -> Iterator[None]:
        """The scope of one call: its timeout, and the SIM a ``NotFoundError`` is about."""
        self._args.timeout(timeout)
        with call_timeout(timeout), about_sim(iccid):
            yield

    def _listing(
        self,
        listing: AsyncIterator[T],
        timeout: float | None,
        *,
        iccid: str | None = None,
        keep: Callable[[T], bool] | None = None,
    ) -> AsyncIterator[T]:
        if timeout is None and iccid is None and keep is None:
            return _Guarded(listing, self._require_open)
        return _Guarded(
            listing, self._require_open, scope=lambda: self._call(timeout, iccid), keep=keep
        )

    def _sim_or_account(self, iccid: str | None, capability: Capability) -> str | None:
        if iccid is not None:
            return self._args.iccid(iccid)
        if capability in self._plugin.per_sim_only:
            raise self._args.refuse(
                f"{self.name} offers {capability.value} per SIM only: pass an iccid"
            )
        return None


class Connector(_Identity):
    """A connection to one CDP account, for synchronous code and notebooks.

    Get one from :func:`cdp_sdk.connect`. Same methods as :class:`AsyncConnector`, with
    plain iterators and return values, and the same ``timeout=`` on each. Use it as a
    context manager, or call :meth:`close`: any call after that, and any listing still
    being read, raises :class:`~cdp_sdk.errors.ClosedError`.
    """

    def __init__(self, connector: AsyncConnector) -> None:
        self._async = connector
        self._plugin = connector.plugin
        self._loop = LoopThread(f"cdp-sdk-{connector.name}", closed=self._closed_error)
        self._iterators: weakref.WeakSet[SyncIterator[Any]] = weakref.WeakSet()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._loop.closed

    def close(self) -> None:
        """Close open iterators and HTTP connections, and stop the loop thread."""
        if self._loop.closed:
            return
        for iterator in list(self._iterators):
            iterator.close(self._closed_error())
        try:
            self._loop.run(self._async.aclose())
        finally:
            self._loop.close()

    def check(self, *, timeout: float | None = None) -> None:
        """Authenticate now; raises :class:`~cdp_sdk.errors.AuthenticationError` etc."""
        self._loop.run(self._async.check(timeout=timeout))

    def subscriptions(
        self,
        *,
        modified_since: TimeArg = None,
        status: StatusFilter = None,
        timeout: float | None = None,
    ) -> Iterator[Subscription]:
        """Every subscription, page by page (see :meth:`AsyncConnector.subscriptions`)."""
        return self._iterate(
            lambda: self._async.subscriptions(
                modified_since=modified_since, status=status, timeout=timeout
            )
        )

    def subscription(self, iccid: str, *, timeout: float | None = None) -> Subscription:
        """One subscription by ICCID."""
        return self._loop.run(self._async.subscription(iccid, timeout=timeout))

    def activation_modes(self, *, timeout: float | None = None) -> list[ActivationMode]:
        """The platform's lifecycle states: billable, settable, reachable states."""
        return self._loop.run(self._async.activation_modes(timeout=timeout))

    def change_status(
        self,
        iccid: str,
        status: SimStatus | str,
        *,
        confirm_irreversible: bool = False,
        timeout: float | None = None,
    ) -> StatusChange:
        """Move a SIM to ``status``. A move to ``retired`` needs ``confirm_irreversible``."""
        return self._loop.run(
            self._async.change_status(
                iccid, status, confirm_irreversible=confirm_irreversible, timeout=timeout
            )
        )

    def tariffs(self, *, timeout: float | None = None) -> Iterator[Tariff]:
        """The account's tariffs."""
        return self._iterate(lambda: self._async.tariffs(timeout=timeout))

    def usage(
        self,
        iccid: str | None = None,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        granularity: Granularity | str | None = None,
        timeout: float | None = None,
    ) -> Iterator[UsageRecord]:
        """Usage in ``[start, end)``, for one SIM or (``iccid=None``) the account."""
        return self._iterate(
            lambda: self._async.usage(
                iccid, start=start, end=end, granularity=granularity, timeout=timeout
            )
        )

    def invoices(
        self, *, start: TimeArg = None, end: TimeArg = None, timeout: float | None = None
    ) -> Iterator[Invoice]:
        """Invoices whose period overlaps ``[start, end)``."""
        return self._iterate(lambda: self._async.invoices(start=start, end=end, timeout=timeout))

    def audit_events(
        self,
        iccid: str | None = None,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        timeout: float | None = None,
    ) -> Iterator[AuditEvent]:
        """Inventory changes in ``[start, end)``, for one SIM or the account."""
        return self._iterate(
            lambda: self._async.audit_events(iccid, start=start, end=end, timeout=timeout)
        )

    def update_tags(
        self,
        iccid: str,
        tags: Mapping[str, str | None],
        *,
        remove: Iterable[str] = (),
        timeout: float | None = None,
    ) -> None:
        """Merge ``tags`` into the SIM's tags and delete the keys in ``remove`` (see
        :meth:`AsyncConnector.update_tags`)."""
        self._loop.run(self._async.update_tags(iccid, tags, remove=tuple(remove), timeout=timeout))

    def _closed_error(self) -> ClosedError:
        return ClosedError(
            f"the {self.name} connector is closed; connect again", connector=self.name
        )

    def _iterate(self, listing: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        if self._loop.closed:
            raise self._closed_error()
        sync_iterator = SyncIterator(listing(), self._loop)
        self._iterators.add(sync_iterator)
        return sync_iterator


class _Guarded(AsyncIterator[T]):
    """A listing as the facade hands it out: each step checks that the connector is still
    open and runs in the call's scope (timeout, SIM), and records ``keep`` refuses are
    left out. It hands over whole pages (``next_batch``) where the listing does."""

    def __init__(
        self,
        inner: AsyncIterator[T],
        require_open: Callable[[], None],
        *,
        scope: Callable[[], AbstractContextManager[None]] | None = None,
        keep: Callable[[T], bool] | None = None,
    ) -> None:
        self._inner = inner
        self._batched = isinstance(inner, Batched)  # a protocol check: slow, so once
        self._require_open = require_open
        self._scope = scope or nullcontext
        self._keep = keep
        self._ready: deque[T] = deque()

    async def __anext__(self) -> T:
        if self._batched:  # a page at a time: the scope is entered once per page
            self._require_open()
            if not self._ready:
                self._ready.extend(await self.next_batch())
            return self._ready.popleft()
        while True:
            self._require_open()
            with self._scope():
                item = await anext(self._inner)
            if self._keep is None or self._keep(item):
                return item

    async def next_batch(self) -> list[T]:
        """The rest of the current page (or the next page), without refused records."""
        if not self._batched:
            return [await self.__anext__()]
        if self._ready:
            batch, self._ready = list(self._ready), deque()
            return batch
        inner = cast("Batched[T]", self._inner)
        while True:
            self._require_open()
            with self._scope():
                batch = await inner.next_batch()
            kept = batch if self._keep is None else [item for item in batch if self._keep(item)]
            if kept:
                return kept

    async def aclose(self) -> None:
        """Stop the listing early."""
        self._ready.clear()
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


@contextmanager
def about_sim(iccid: str | None) -> Iterator[None]:
    """Name the SIM, by the last four digits of its ICCID only (``ICCID …4973``), in a
    :class:`~cdp_sdk.errors.NotFoundError` raised inside the block."""
    try:
        yield
    except NotFoundError as error:
        if iccid is not None:
            name_sim(error, iccid)
        raise


def name_sim(error: NotFoundError, iccid: str) -> None:
    """Prefix ``error``'s message with ``ICCID …<last four digits>`` (once). Four digits
    tell a user which SIM without disclosing the identifier (the redactor leaves them)."""
    label = f"ICCID …{iccid[-4:]}"
    if not error.message.startswith(label):
        error.message = f"{label}: {error.message}"
        error.args = (error.message,)


class _Arguments:
    """Checks and normalizes method arguments; refusals name the connector."""

    def __init__(self, connector: str) -> None:
        self.connector = connector

    def refuse(self, message: str) -> InvalidRequestError:
        return InvalidRequestError(message, connector=self.connector)

    def iccid(self, value: str) -> str:
        try:
            return normalize_iccid(value)
        except (TypeError, ValueError, AttributeError):
            raise self.refuse("iccid must be 18 to 22 digits") from None

    def timeout(self, value: float | None) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
        ):
            raise self.refuse("timeout must be a number of seconds above 0")

    def statuses(self, value: StatusFilter) -> frozenset[SimStatus] | None:
        if value is None:
            return None
        values = [value] if isinstance(value, str) else list(value)
        found: set[SimStatus] = set()
        for item in values:
            try:
                found.add(SimStatus(item))
            except ValueError:
                valid = ", ".join(s.value for s in SimStatus)
                raise self.refuse(f"unknown status {item!r}; valid: {valid}") from None
        if not found:
            raise self.refuse("status: give at least one status (or None for all)")
        return frozenset(found)

    def status(self, value: SimStatus | str) -> SimStatus:
        try:
            status = SimStatus(value)
        except ValueError:
            valid = ", ".join(s.value for s in SimStatus if s is not SimStatus.UNKNOWN)
            raise self.refuse(f"unknown status {value!r}; valid: {valid}") from None
        if status is SimStatus.UNKNOWN:
            raise self.refuse("cannot request the status 'unknown'")
        return status

    def granularity(self, value: Granularity | str | None) -> Granularity | None:
        if value is None:
            return None
        try:
            return Granularity(value)
        except ValueError:
            valid = ", ".join(g.value for g in Granularity)
            raise self.refuse(f"unknown granularity {value!r}; valid: {valid}") from None

    def to_utc(self, value: TimeArg, name: str) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise self.refuse(
                    f"{name} must be timezone-aware (a naive datetime is ambiguous); "
                    "use datetime(..., tzinfo=UTC) or a date"
                )
            return value.astimezone(UTC)
        if isinstance(value, date):
            return datetime.combine(value, time.min, tzinfo=UTC)
        raise self.refuse(f"{name} must be a date or an aware datetime")

    def range(self, start: TimeArg, end: TimeArg) -> tuple[datetime | None, datetime | None]:
        start_at, end_at = self.to_utc(start, "start"), self.to_utc(end, "end")
        if start_at is not None and end_at is not None and start_at >= end_at:
            raise self.refuse("start must be before end (the range is [start, end))")
        return start_at, end_at
