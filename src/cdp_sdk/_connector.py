"""The base class a platform plugin implements."""

from __future__ import annotations

import decimal
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import ValidationError

from cdp_sdk._redact import register_secret
from cdp_sdk._settings import ConnectorSettings, InsecureTLSWarning
from cdp_sdk._tag_rules import TagRules
from cdp_sdk._warnings import warn
from cdp_sdk.errors import CdpError, UnexpectedResponseError, UnsupportedCapabilityError
from cdp_sdk.http import (
    ErrorTable,
    HttpClient,
    ItemKey,
    Page,
    Paginator,
    RateLimiter,
    RetryPolicy,
)
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
)

__all__ = ["BaseConnector", "Listing"]

logger = logging.getLogger("cdp_sdk")

T = TypeVar("T")


class BaseConnector:
    """A platform plugin: subclass it once, async, and register it as an entry point.

    The protocol:

    - Class attributes say who the connector is: ``name`` (its entry-point name),
      ``title``, ``capabilities`` (what it implements), ``settings_model`` (a
      :class:`~cdp_sdk.ConnectorSettings` subclass with the platform's credentials and
      defaults) and ``error_table`` (the default table extended with the vendor's codes);
      ``per_sim_only`` and ``usage_granularities`` narrow what ``usage()`` and
      ``audit_events()`` accept; ``tag_rules`` say what ``update_tags()`` can store;
      ``filters_status`` says that ``subscriptions()`` takes a ``status`` filter;
      ``full_listing_reason`` says why a connector is not ``incremental``.
    - :meth:`authentication` returns the ``httpx.Auth`` flow built from the settings.
    - Each declared capability overrides its method below. Listing methods stream page
      by page: most are one :meth:`listing` call (an endpoint, its paginator and a mapping
      function); others combine ``self.http`` calls with :meth:`map_records`. Arguments
      arrive already checked and normalized by the facade: identifiers stripped, times as
      aware UTC datetimes, a status change to ``retired`` only when confirmed.
    - Methods of undeclared capabilities keep the default, which raises
      :class:`~cdp_sdk.errors.UnsupportedCapabilityError`.

    Constructing a connector makes no network call.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    error_table: ClassVar[ErrorTable] = ErrorTable()
    burst: ClassVar[int] = 1
    per_sim_only: ClassVar[frozenset[Capability]] = frozenset()
    """Capabilities the platform offers per SIM only (``usage``, ``audit_events``): a call
    without an ICCID is refused before any request."""
    usage_granularities: ClassVar[frozenset[Granularity]] = frozenset(Granularity)
    """The granularities ``usage()`` answers; others are refused before any request."""
    filters_status: ClassVar[bool] = False
    """Whether :meth:`subscriptions` takes ``status`` (a frozenset of the wanted
    :class:`~cdp_sdk.SimStatus`) and asks the platform for those only, where its API can
    filter. The facade filters the records again either way; without this, it alone does."""
    tag_rules: ClassVar[TagRules] = TagRules()
    """The tags ``update_tags()`` can store (keys, values, forbidden characters); plans of
    changes check them before any request (see :meth:`tag_problems`)."""
    full_listing_reason: ClassVar[str | None] = None
    """For a connector without ``incremental``: why the platform cannot list only the
    subscriptions changed since a moment, in a few words (``"no change filter on
    /v1/sims"``): sync reports show "full listing (<reason>)". The evidence belongs on
    the connector's docs page."""

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        for field in settings.secret_fields():
            secret = getattr(settings, field)
            if secret is not None:
                register_secret(secret.get_secret_value())
        self.skipped_records = 0
        if settings.verify is False:
            _warn_unverified(self)
        proxy = settings.proxy.get_secret_value() if settings.proxy is not None else None
        self.http = HttpClient(
            connector=self.name,
            base_url=settings.base_url,
            auth=self.authentication(),
            timeout=settings.timeout,
            retry=RetryPolicy(max_retries=settings.max_retries),
            limiter=RateLimiter(
                settings.rate_limit, burst=self.burst, max_concurrency=settings.max_concurrency
            ),
            errors=self.error_table,
            transport=transport,
            allow_insecure_http=settings.allow_insecure_http,
            max_response_bytes=settings.max_response_bytes,
            verify=settings.verify,
            proxy=proxy,
        )

    @classmethod
    def info(cls) -> ConnectorInfo:
        """Name, title and capabilities of this connector."""
        return ConnectorInfo(name=cls.name, title=cls.title, capabilities=cls.capabilities)

    @classmethod
    def tag_problems(
        cls,
        tags: Mapping[str, str | None],
        remove: Iterable[str] = (),
        *,
        sim: Subscription | None = None,
    ) -> list[str]:
        """Why ``update_tags`` cannot give a SIM these tags, known without a request; an
        empty list when it can.

        The default checks the capability and :attr:`tag_rules`; a connector whose
        platform also refuses tags on SIMs in some state overrides this and looks at
        ``sim`` (the SIM as last seen, when known).
        """
        if Capability.UPDATE_TAGS not in cls.capabilities:
            return [f"{cls.name} does not support update_tags"]
        return cls.tag_rules.problems(tags, remove)

    def authentication(self) -> httpx.Auth | None:
        """The auth flow for this connector's settings (``None``: no authentication)."""
        return None

    async def aclose(self) -> None:
        """Release the HTTP connections."""
        await self.http.aclose()

    async def check(self) -> None:
        """Prove the settings work: log in afresh, or else read the first subscription.

        A connector with neither a login flow nor the ``subscriptions`` capability
        overrides this with its cheapest authenticated call.
        """
        if await self.http.authenticate():
            return
        if Capability.SUBSCRIPTIONS not in self.capabilities:
            raise NotImplementedError(f"{type(self).__name__} must override check()")
        async for _ in self.subscriptions(modified_since=None):
            break

    # -- capabilities: override the ones the connector declares --------------------------

    def subscriptions(self, *, modified_since: datetime | None) -> AsyncIterator[Subscription]:
        """Every subscription, or those changed since ``modified_since`` (incremental)."""
        raise self.unsupported(Capability.SUBSCRIPTIONS)

    async def subscription(self, iccid: str) -> Subscription:
        """One subscription by ICCID; :class:`~cdp_sdk.errors.NotFoundError` if unknown."""
        raise self.unsupported(Capability.SUBSCRIPTIONS)

    async def activation_modes(self) -> list[ActivationMode]:
        """The platform's lifecycle states and the moves between them."""
        raise self.unsupported(Capability.SUBSCRIPTIONS)

    async def change_status(self, iccid: str, status: SimStatus) -> StatusChange:
        """Request a status change; illegal moves raise :class:`~cdp_sdk.errors.ConflictError`."""
        raise self.unsupported(Capability.CHANGE_STATUS)

    def tariffs(self) -> AsyncIterator[Tariff]:
        """The tariffs (rate plans, price plans) of the account."""
        raise self.unsupported(Capability.TARIFFS)

    def usage(
        self,
        iccid: str | None,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: Granularity | None,
    ) -> AsyncIterator[UsageRecord]:
        """Usage records in ``[start, end)`` for one SIM, or for the account when ``None``."""
        raise self.unsupported(Capability.USAGE)

    def invoices(self, *, start: datetime | None, end: datetime | None) -> AsyncIterator[Invoice]:
        """Invoices whose period overlaps ``[start, end)``."""
        raise self.unsupported(Capability.INVOICES)

    def audit_events(
        self, iccid: str | None, *, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditEvent]:
        """Inventory changes in ``[start, end)``, for one SIM or the whole account."""
        raise self.unsupported(Capability.AUDIT_EVENTS)

    async def update_tags(
        self, iccid: str, tags: Mapping[str, str | None], remove: tuple[str, ...]
    ) -> None:
        """Merge ``tags`` into the SIM's tags and delete the keys in ``remove``."""
        raise self.unsupported(Capability.UPDATE_TAGS)

    # -- helpers for implementations --------------------------------------------------

    def unsupported(self, capability: Capability) -> UnsupportedCapabilityError:
        """The error for a capability this connector does not offer."""
        return UnsupportedCapabilityError(
            f"{self.name} does not support {capability.value}", connector=self.name
        )

    @staticmethod
    def empty() -> AsyncIterator[Any]:
        """A listing without records, asked of nobody: for a filter that no record of
        the platform can match (e.g. a status none of its states maps to)."""
        return _Empty()

    def listing(
        self,
        paginator: Paginator,
        path: str,
        mapper: Callable[[Any], T],
        *,
        items: str | Callable[[Any], Sequence[Any]] | None = None,
        method: str = "GET",
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        key: ItemKey | None = None,
    ) -> Listing[T]:
        """The mapped records of a paged listing, streamed page by page.

        ``self.http.paginate`` and :meth:`map_records` in one: a connector method that
        lists an endpoint is ``return self.listing(PAGINATOR, "/v1/sims", to_subscription)``.
        ``key`` reads a vendor record's natural key (``operator.itemgetter("iccid")``): a
        record listed twice then raises :class:`UnexpectedResponseError` (the guard keeps
        a small digest per record, so memory grows with the listing only when it is given).
        """
        pages = self.http.paginate(
            paginator,
            path,
            items=items,
            method=method,
            path_params=path_params,
            params=params,
            json=json,
            key=key,
        )
        return self.records(pages, mapper, endpoint=f"{method} {path}")

    def records(
        self, pages: AsyncIterator[Page], mapper: Callable[[Any], T], *, endpoint: str
    ) -> Listing[T]:
        """The mapped records of ``pages`` (from ``self.http.paginate``,
        :func:`~cdp_sdk.http.chain_pages` or :func:`~cdp_sdk.http.map_pages`), a page at a
        time: a page is let go before the next is fetched, which a generator looping over
        the pages (``async for page in pages: ... yield``) does not do."""
        return Listing(pages, lambda page: self.map_records(page.items, mapper, endpoint=endpoint))

    def map_records(
        self, records: Iterable[Any], mapper: Callable[[Any], T], *, endpoint: str
    ) -> Iterator[T]:
        """``mapper`` applied to each vendor record from ``endpoint``.

        A record that cannot be mapped raises :class:`UnexpectedResponseError` naming the
        endpoint and the field; with ``strict=False`` it is logged (redacted) and skipped.
        """
        for record in records:
            try:
                mapped = mapper(record)
            except _MAPPING_ERRORS as exc:
                error: UnexpectedResponseError | None = self.mapping_error(exc, endpoint=endpoint)
            else:
                error = None
            # Raised outside the handler: the mapping error may quote the record (its
            # identifiers) and must not stay behind as the new error's __context__.
            if error is None:
                yield mapped
            elif self.settings.strict:
                raise error
            else:
                self.skipped_records += 1
                logger.warning("%s: skipped a record: %s", self.name, error.message)

    def map_one(self, record: Any, mapper: Callable[[Any], T], *, endpoint: str) -> T:
        """``mapper(record)`` for a single-record answer; always strict."""
        try:
            return mapper(record)
        except _MAPPING_ERRORS as exc:
            error = self.mapping_error(exc, endpoint=endpoint)
        raise error  # outside the handler, as in map_records

    def mapping_error(self, exc: Exception, *, endpoint: str) -> UnexpectedResponseError:
        """An :class:`UnexpectedResponseError` describing why a record did not map."""
        if isinstance(exc, CdpError):
            reason = exc.message
        elif isinstance(exc, ValidationError):
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
        elif isinstance(exc, KeyError):
            reason = f"missing field {exc.args[0]!r}"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return UnexpectedResponseError(
            f"{endpoint}: a record could not be mapped ({reason})", connector=self.name
        )


def _warn_unverified(connector: BaseConnector) -> None:
    name = connector.name
    message = (
        f"{name}: TLS certificate verification is OFF (verify=False): anyone on the network "
        "path can read and change this connector's traffic, credentials included. To trust "
        "a private or proxy CA instead, set verify to the path of its PEM bundle."
    )
    # At the line that made the connector: past the __init__ of its class and its bases
    # (a plugin's own among them), however it was made (connect, a workspace, directly).
    constructors = {
        code
        for cls in type(connector).__mro__
        if (code := getattr(cls.__dict__.get("__init__"), "__code__", None)) is not None
    }
    warn(message, InsecureTLSWarning, skip=constructors)


_MAPPING_ERRORS: tuple[type[Exception], ...] = (
    UnexpectedResponseError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    decimal.InvalidOperation,
    RecursionError,
)


class _Empty(AsyncIterator[Any]):
    async def __anext__(self) -> Any:
        raise StopAsyncIteration


class Listing(AsyncIterator[T]):
    """The records of a paged listing: an async iterator that also hands over a whole
    page at a time (``next_batch``), which the synchronous facade uses to cross from its
    loop thread once per page rather than once per record."""

    def __init__(
        self, pages: AsyncIterator[Page], records_of: Callable[[Page], Iterator[T]]
    ) -> None:
        self._pages = pages
        self._records_of = records_of
        self._current: Iterator[T] = iter(())
        self._pending: BaseException | None = None

    async def __anext__(self) -> T:
        while True:
            self._raise_pending()
            for record in self._current:
                return record
            self._current = self._records_of(await anext(self._pages))

    async def next_batch(self) -> list[T]:
        """The rest of the current page, else the next page's records."""
        while True:
            self._raise_pending()
            batch: list[T] = []
            try:
                batch.extend(self._current)
            except Exception as error:  # a record that did not map: after what came before
                self._pending = error
            if batch:
                return batch
            self._raise_pending()
            self._current = self._records_of(await anext(self._pages))

    async def aclose(self) -> None:
        """Stop the listing early (closes the HTTP paging)."""
        close = getattr(self._pages, "aclose", None)
        if close is not None:
            await close()

    def _raise_pending(self) -> None:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
