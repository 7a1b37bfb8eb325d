"""What users hold: the async facade over a plugin and its synchronous twin.

Both facades check arguments and capabilities before any request, then delegate to the
plugin. The synchronous :class:`Connector` runs the very same :class:`AsyncConnector` on a
private event loop in a background thread, so it behaves identically and also works where
an event loop is already running (Jupyter).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from types import TracebackType
from typing import Any, Self, TypeVar

from cdp_sdk._bridge import LoopThread, SyncIterator
from cdp_sdk._connector import BaseConnector
from cdp_sdk._settings import ConnectorSettings
from cdp_sdk.errors import InvalidRequestError
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

__all__ = ["AsyncConnector", "Connector"]

T = TypeVar("T")
TimeArg = date | datetime | None


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
    :meth:`aclose` when done.
    """

    def __init__(self, plugin: BaseConnector) -> None:
        self._plugin = plugin
        self._args = _Arguments(plugin.name)

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

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._plugin.aclose()

    async def check(self) -> None:
        """Authenticate now; raises :class:`~cdp_sdk.errors.AuthenticationError` etc."""
        await self._plugin.check()

    # -- the contract ---------------------------------------------------------------

    def subscriptions(self, *, modified_since: TimeArg = None) -> AsyncIterator[Subscription]:
        """Every subscription, page by page.

        With ``modified_since``, only those changed since then: server-side where the
        connector declares ``incremental``; otherwise filtered here on ``updated_at``
        (subscriptions whose platform gives no ``updated_at`` are all returned).
        """
        self._require(Capability.SUBSCRIPTIONS)
        since = self._args.to_utc(modified_since, "modified_since")
        if since is None or Capability.INCREMENTAL in self.capabilities:
            return self._plugin.subscriptions(modified_since=since)
        return _changed_since(self._plugin.subscriptions(modified_since=None), since)

    async def subscription(self, iccid: str) -> Subscription:
        """One subscription by ICCID."""
        self._require(Capability.SUBSCRIPTIONS)
        return await self._plugin.subscription(self._args.iccid(iccid))

    async def activation_modes(self) -> list[ActivationMode]:
        """The platform's lifecycle states: billable, settable, reachable states."""
        self._require(Capability.SUBSCRIPTIONS)
        return await self._plugin.activation_modes()

    async def change_status(
        self, iccid: str, status: SimStatus | str, *, confirm_irreversible: bool = False
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
        return await self._plugin.change_status(iccid, target)

    def tariffs(self) -> AsyncIterator[Tariff]:
        """The account's tariffs."""
        self._require(Capability.TARIFFS)
        return self._plugin.tariffs()

    def usage(
        self,
        iccid: str | None = None,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        granularity: Granularity | str | None = None,
    ) -> AsyncIterator[UsageRecord]:
        """Usage in ``[start, end)``, for one SIM or (``iccid=None``) the account."""
        self._require(Capability.USAGE)
        start_at, end_at = self._args.range(start, end)
        wanted = self._args.granularity(granularity)
        offered = self._plugin.usage_granularities
        if wanted is not None and wanted not in offered:
            names = ", ".join(sorted(g.value for g in offered))
            raise self._args.refuse(f"{self.name} reports usage by {names}, not {wanted.value}")
        return self._plugin.usage(
            self._sim_or_account(iccid, Capability.USAGE),
            start=start_at,
            end=end_at,
            granularity=wanted,
        )

    def invoices(self, *, start: TimeArg = None, end: TimeArg = None) -> AsyncIterator[Invoice]:
        """Invoices whose period overlaps ``[start, end)``."""
        self._require(Capability.INVOICES)
        start_at, end_at = self._args.range(start, end)
        return self._plugin.invoices(start=start_at, end=end_at)

    def audit_events(
        self, iccid: str | None = None, *, start: TimeArg = None, end: TimeArg = None
    ) -> AsyncIterator[AuditEvent]:
        """Inventory changes in ``[start, end)``, for one SIM or the account."""
        self._require(Capability.AUDIT_EVENTS)
        start_at, end_at = self._args.range(start, end)
        return self._plugin.audit_events(
            self._sim_or_account(iccid, Capability.AUDIT_EVENTS), start=start_at, end=end_at
        )

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], *, remove: Iterable[str] = ()
    ) -> None:
        """Merge ``tags`` into the SIM's tags and delete the keys in ``remove``."""
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
        if tags or removed:
            await self._plugin.update_tags(iccid, dict(tags), removed)

    def _require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise self._plugin.unsupported(capability)

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
    plain iterators and return values. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, connector: AsyncConnector) -> None:
        self._async = connector
        self._plugin = connector.plugin
        self._loop = LoopThread(f"cdp-sdk-{connector.name}")
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

    def close(self) -> None:
        """Close open iterators and HTTP connections, and stop the loop thread."""
        if self._loop.closed:
            return
        for iterator in list(self._iterators):
            iterator.close()
        try:
            self._loop.run(self._async.aclose())
        finally:
            self._loop.close()

    def check(self) -> None:
        """Authenticate now; raises :class:`~cdp_sdk.errors.AuthenticationError` etc."""
        self._loop.run(self._async.check())

    def subscriptions(self, *, modified_since: TimeArg = None) -> Iterator[Subscription]:
        """Every subscription, page by page (see :meth:`AsyncConnector.subscriptions`)."""
        return self._iterate(self._async.subscriptions(modified_since=modified_since))

    def subscription(self, iccid: str) -> Subscription:
        """One subscription by ICCID."""
        return self._loop.run(self._async.subscription(iccid))

    def activation_modes(self) -> list[ActivationMode]:
        """The platform's lifecycle states: billable, settable, reachable states."""
        return self._loop.run(self._async.activation_modes())

    def change_status(
        self, iccid: str, status: SimStatus | str, *, confirm_irreversible: bool = False
    ) -> StatusChange:
        """Move a SIM to ``status``. A move to ``retired`` needs ``confirm_irreversible``."""
        return self._loop.run(
            self._async.change_status(iccid, status, confirm_irreversible=confirm_irreversible)
        )

    def tariffs(self) -> Iterator[Tariff]:
        """The account's tariffs."""
        return self._iterate(self._async.tariffs())

    def usage(
        self,
        iccid: str | None = None,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        granularity: Granularity | str | None = None,
    ) -> Iterator[UsageRecord]:
        """Usage in ``[start, end)``, for one SIM or (``iccid=None``) the account."""
        return self._iterate(
            self._async.usage(iccid, start=start, end=end, granularity=granularity)
        )

    def invoices(self, *, start: TimeArg = None, end: TimeArg = None) -> Iterator[Invoice]:
        """Invoices whose period overlaps ``[start, end)``."""
        return self._iterate(self._async.invoices(start=start, end=end))

    def audit_events(
        self, iccid: str | None = None, *, start: TimeArg = None, end: TimeArg = None
    ) -> Iterator[AuditEvent]:
        """Inventory changes in ``[start, end)``, for one SIM or the account."""
        return self._iterate(self._async.audit_events(iccid, start=start, end=end))

    def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], *, remove: Iterable[str] = ()
    ) -> None:
        """Merge ``tags`` into the SIM's tags and delete the keys in ``remove``."""
        self._loop.run(self._async.update_tags(iccid, tags, remove=tuple(remove)))

    def _iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        sync_iterator = SyncIterator(iterator, self._loop)
        self._iterators.add(sync_iterator)
        return sync_iterator


async def _changed_since(
    subscriptions: AsyncIterator[Subscription], since: datetime
) -> AsyncIterator[Subscription]:
    async for subscription in subscriptions:
        if subscription.updated_at is None or subscription.updated_at >= since:
            yield subscription


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
