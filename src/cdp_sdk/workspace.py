"""Workspaces: the CDP accounts of one organisation, used together.

A workspace names each account and says which connector reaches it with which settings.
Build one in code or load it from a TOML file (``cdp.toml``)::

    database = "cdp.db"            # optional: where `cdp sync` mirrors the accounts

    [accounts.eu]
    connector = "emnify"
    application_token = "env:EMNIFY_EU_TOKEN"

    [accounts.us]
    connector = "jasper"
    base_url = "https://rws.example.com"
    username = "ops"
    api_key = "env:JASPER_API_KEY"

Every key of an account table but ``connector`` is a connector setting. A ``[celery]``
table, for running the sync on Celery workers, is read by :mod:`cdp_sdk.sync.celery`. A string value
``env:NAME`` is read from the environment variable ``NAME`` when the account is connected,
so no secret has to live in the file; a file that other users may read and that holds a
plain value for a secret setting earns an :class:`InsecureConfigWarning`.

:class:`Workspace` (synchronous) and :class:`AsyncWorkspace` list any entity across all
accounts at once: each account is read by its own task on one event loop, within that
account's own rate limit, so the wall time is close to that of the slowest account, not
the sum. Records carry the name of their account:

- :class:`~cdp_sdk.Subscription` and :class:`~cdp_sdk.Invoice` have an ``account`` field;
  it is set to the workspace account name (a different value the platform gave is kept in
  ``extra["platform_account"]``);
- the other models have no such field, and come wrapped in an :class:`AccountRecord`, a
  named tuple ``(account, record)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import stat
import tomllib
import weakref
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Generic, NamedTuple, Self, TypeVar

import httpx

from cdp_sdk._bridge import LoopThread, SyncIterator
from cdp_sdk._facade import AsyncConnector, Connector, StatusFilter, TimeArg
from cdp_sdk._registry import connect_async, load_connector
from cdp_sdk._settings import settings_problems
from cdp_sdk._warnings import warn
from cdp_sdk.errors import CdpError, ClosedError, ConfigurationError
from cdp_sdk.http import CallRecord, tls_verification
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Capability,
    Granularity,
    Invoice,
    Subscription,
    Tariff,
    UsageRecord,
)

__all__ = [
    "Account",
    "AccountRecord",
    "AsyncWorkspace",
    "BaseWorkspace",
    "CallListener",
    "InsecureConfigWarning",
    "Workspace",
]

T = TypeVar("T")
R = TypeVar("R")

CallListener = Callable[[str, CallRecord], None]
"""Called with ``(account, record)`` after every HTTP attempt of a workspace connector."""

ENV_PREFIX = "env:"
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Settings that look like secrets, for connectors whose settings model cannot be read.
_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|credential|auth", re.IGNORECASE)
_TOP_LEVEL_KEYS = ("accounts", "database", "celery")
# Tables read by optional modules, not by the workspace: `celery` by cdp_sdk.sync.celery.
_MODULE_TABLES = ("celery",)
_QUEUE_SIZE = 512


class InsecureConfigWarning(UserWarning):
    """A workspace file readable by other users holds a plain value for a secret setting."""


class AccountRecord(NamedTuple, Generic[T]):
    """A record of a model without an ``account`` field, with the account it came from.

    A named tuple, so ``for account, usage in workspace.usage(): ...`` works too.
    """

    account: str
    record: T


@dataclass(frozen=True, repr=False)
class Account:
    """One CDP account: the connector that reaches it and that connector's settings.

    Args:
        connector: the connector's name, e.g. ``"emnify"``.
        settings: the connector's settings; a string ``"env:NAME"`` stands for the value
            of the environment variable ``NAME``, read when the account is connected.
        transport: an ``httpx`` transport to send through instead of the network (an
            emulator's, for tests and demos); never read from a file.
    """

    connector: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    transport: httpx.AsyncBaseTransport | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.connector, str) or not self.connector.strip():
            raise ConfigurationError("an account's connector must be a non-empty string")
        if not isinstance(self.settings, Mapping):
            raise ConfigurationError("an account's settings must be a mapping")
        for key in self.settings:
            if not isinstance(key, str):
                raise ConfigurationError("setting names must be strings")
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))

    def __repr__(self) -> str:
        # Settings may hold plain secrets: show their names only.
        return f"Account(connector={self.connector!r}, settings={sorted(self.settings)!r})"

    def environment_references(self) -> dict[str, str]:
        """The settings given as ``env:NAME``, mapped to the variable names."""
        return {
            key: value.removeprefix(ENV_PREFIX)
            for key, value in self.settings.items()
            if isinstance(value, str) and value.startswith(ENV_PREFIX)
        }

    def resolve(self, name: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The settings with every ``env:NAME`` replaced by the variable's value.

        Args:
            name: the account's name, for error messages.
            environ: where to read variables (default: ``os.environ``).

        Raises:
            ConfigurationError: a variable is not set or its name is not valid; the
                message names the account, the setting and the variable, never a value.
        """
        environ = os.environ if environ is None else environ
        resolved = dict(self.settings)
        for setting, variable in self.environment_references().items():
            if not _ENV_NAME.fullmatch(variable):
                raise ConfigurationError(
                    f"account {name!r}: setting {setting!r}: {variable!r} is not a valid "
                    "environment variable name (expected env:NAME)",
                    connector=self.connector,
                )
            if variable not in environ:
                raise ConfigurationError(
                    f"account {name!r}: setting {setting!r} reads the environment variable "
                    f"{variable!r}, which is not set",
                    connector=self.connector,
                )
            resolved[setting] = environ[variable]
        return resolved

    def secret_settings(self) -> frozenset[str]:
        """The names of this account's settings that hold secrets.

        Read from the connector's settings model when the connector can be loaded, and
        from the setting names (``*key*``, ``*token*``, ``*secret*``, ...) in any case.
        """
        return self._secret_settings(_connector_secrets(self.connector))

    def _secret_settings(self, connector_secrets: frozenset[str]) -> frozenset[str]:
        return frozenset({key for key in self.settings if _SECRET_NAME.search(key)}).union(
            connector_secrets
        )


class BaseWorkspace:
    """What :class:`Workspace` and :class:`AsyncWorkspace` share: the accounts and where
    to mirror them. Loading and building are the same for both."""

    def __init__(
        self,
        accounts: Mapping[str, Account | Mapping[str, Any]] | None = None,
        *,
        database: str | None = None,
    ) -> None:
        """A workspace of ``accounts``.

        Args:
            accounts: account name -> :class:`Account`, or a mapping with a
                ``connector`` key and the settings (the shape of a TOML account table).
                Names are 1-64 characters: letters, digits, ``_``, ``.``, ``-``.
            database: the store URL or SQLite path the workspace syncs into, if it says.

        Raises:
            ConfigurationError: a name or an account is not valid.
        """
        built: dict[str, Account] = {}
        for name, account in (accounts or {}).items():
            if not isinstance(name, str) or not _ACCOUNT_NAME.fullmatch(name):
                raise ConfigurationError(
                    f"invalid account name {name!r}: use 1-64 letters, digits, '_', '.' or '-'"
                )
            built[name] = account if isinstance(account, Account) else _account(name, account)
        self._accounts: Mapping[str, Account] = MappingProxyType(built)
        self.database = database
        """The store URL or SQLite path from the workspace file (``None``: not set)."""

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> Self:
        """The workspace in a TOML file.

        Args:
            path: the file, e.g. ``"cdp.toml"``.
            transports: account name -> ``httpx`` transport to use for that account
                (emulators for tests and demos).

        Raises:
            ConfigurationError: the file cannot be read, is not valid TOML, or describes
                an invalid workspace.

        Warns:
            InsecureConfigWarning: the file is readable by group or others and holds a
                plain value for a secret setting.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
            mode = file.stat().st_mode
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read workspace file {str(file)!r}: {exc}") from None
        workspace = cls.from_toml(text, source=str(file), transports=transports)
        if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
            workspace._warn_plain_secrets(str(file))
        return workspace

    @classmethod
    def from_toml(
        cls,
        text: str,
        *,
        source: str = "<string>",
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> Self:
        """The workspace described by TOML ``text`` (see :meth:`load`)."""
        problem: str | None = None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problem = str(exc)
        if problem is not None:  # raised outside the handler: the error may hold the text
            raise ConfigurationError(f"{source}: not valid TOML: {problem}")
        unknown = sorted(set(data) - set(_TOP_LEVEL_KEYS))
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown key {unknown[0]!r} (valid: {', '.join(_TOP_LEVEL_KEYS)})"
            )
        accounts = data.get("accounts")
        if not isinstance(accounts, dict) or not accounts:
            raise ConfigurationError(f"{source}: no [accounts.<name>] table")
        database = data.get("database")
        if database is not None and not isinstance(database, str):
            raise ConfigurationError(f"{source}: 'database' must be a string")
        for key in _MODULE_TABLES:
            if key in data and not isinstance(data[key], dict):
                raise ConfigurationError(f"{source}: '{key}' must be a table ([{key}])")
        built: dict[str, Account] = {}
        for name, table in accounts.items():
            if not isinstance(table, dict):
                raise ConfigurationError(f"{source}: accounts.{name} must be a table")
            try:
                built[name] = _account(name, table)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{source}: {exc.message}") from None
        for name, transport in (transports or {}).items():
            if name not in built:
                raise ConfigurationError(f"{source}: a transport for unknown account {name!r}")
            built[name] = Account(built[name].connector, built[name].settings, transport)
        return cls(built, database=database)

    # -- the accounts -----------------------------------------------------------------

    @property
    def accounts(self) -> Mapping[str, Account]:
        """Account name -> :class:`Account` (read-only)."""
        return self._accounts

    @property
    def names(self) -> list[str]:
        """The account names, sorted."""
        return sorted(self._accounts)

    def account(self, name: str) -> Account:
        """The account called ``name``; :class:`ConfigurationError` naming the valid ones."""
        try:
            return self._accounts[name]
        except KeyError:
            valid = ", ".join(self.names) or "none"
            raise ConfigurationError(f"unknown account {name!r} (accounts: {valid})") from None

    def problems(
        self,
        accounts: Iterable[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> list[str]:
        """What stops the accounts from connecting, found without any request: unknown
        connectors, ``env:`` variables that are not set (or not valid names), and
        settings the connector refuses. Each problem is one message, naming the account
        and the setting, never a value; an empty list when every account can connect.

        Args:
            accounts: the accounts to check (default: all).
            environ: where ``env:`` variables are read (default: ``os.environ``).
        """
        environ = os.environ if environ is None else environ
        found: list[str] = []
        for name in self.select(accounts):
            account = self.account(name)
            try:
                connector = load_connector(account.connector)
            except CdpError as exc:
                found.append(f"account {name!r}: {exc.message}")
                continue
            values = dict(account.settings)
            unknown: set[str] = set()
            for setting, variable in account.environment_references().items():
                if not _ENV_NAME.fullmatch(variable):
                    found.append(
                        f"account {name!r}: setting {setting!r}: {variable!r} is not a valid "
                        "environment variable name (expected env:NAME)"
                    )
                    unknown.add(setting)
                elif variable not in environ:
                    found.append(
                        f"account {name!r}: setting {setting!r} reads the environment "
                        f"variable {variable!r}, which is not set"
                    )
                    unknown.add(setting)
                else:
                    values[setting] = environ[variable]
            model = connector.settings_model
            problems = settings_problems(model, values, unknown_values=frozenset(unknown))
            found += [f"account {name!r}: {problem}" for problem in problems]
            verify = values.get("verify")
            if not problems and isinstance(verify, str) and "verify" not in unknown:
                try:
                    tls_verification(verify)
                except CdpError as exc:
                    found.append(f"account {name!r}: {exc.message}")
        return found

    def capabilities(self, name: str) -> frozenset[Capability]:
        """What the connector of account ``name`` can do (loads the plugin; no request)."""
        return load_connector(self.account(name).connector).capabilities

    def select(self, accounts: Iterable[str] | None = None) -> list[str]:
        """``accounts`` checked against the workspace (``None``: all of them), sorted."""
        if accounts is None:
            return self.names
        chosen = list(accounts) if not isinstance(accounts, str) else [accounts]
        for name in chosen:
            self.account(name)
        return sorted(set(chosen))

    def to_toml(self) -> str:
        """The workspace as a TOML document :meth:`load` reads back.

        Settings are written as given (``env:`` references stay references); transports
        are not written. Only strings, numbers and booleans can be written.
        """
        lines: list[str] = []
        if self.database is not None:
            lines += [f"database = {_toml_value(self.database)}", ""]
        for name in self.names:
            account = self._accounts[name]
            lines.append(f"[accounts.{_toml_key(name)}]")
            lines.append(f"connector = {_toml_value(account.connector)}")
            for key in sorted(account.settings):
                lines.append(f"{_toml_key(key)} = {_toml_value(account.settings[key])}")
            lines.append("")
        return "\n".join(lines)

    def _warn_plain_secrets(self, source: str) -> None:
        # Each connector's secret fields are read once: a file may hold thousands of accounts.
        connectors = {account.connector for account in self._accounts.values()}
        secret_fields = {connector: _connector_secrets(connector) for connector in connectors}
        exposed = [
            f"{setting!r} of account {name!r}"
            for name in self.names
            for setting in sorted(
                self._accounts[name]._secret_settings(secret_fields[self._accounts[name].connector])
            )
            if setting in self._accounts[name].settings
            and not str(self._accounts[name].settings[setting]).startswith(ENV_PREFIX)
        ]
        if exposed:
            warn(
                f"{source} is readable by other users and holds a plain value for the secret "
                f"setting {', '.join(exposed)}; use env:NAME references or chmod 600 {source}",
                InsecureConfigWarning,
            )

    def _connect_async(self, name: str) -> AsyncConnector:
        account = self.account(name)
        try:
            return connect_async(
                account.connector, transport=account.transport, **account.resolve(name)
            )
        except ConfigurationError as exc:
            if exc.message.startswith(f"account {name!r}"):
                raise
            raise ConfigurationError(
                f"account {name!r}: {exc.message}", connector=account.connector
            ) from None


class AsyncWorkspace(BaseWorkspace):
    """The accounts of a workspace, for ``async`` code.

    Connectors are created on first use, one per account, and kept (with their rate
    limiters and login tokens) until :meth:`aclose`; use the workspace as an async context
    manager. Listing methods return async iterators over every selected account whose
    connector declares the capability (the others are left out); an error in one account
    stops the listing and is raised with a note naming the account.
    """

    def __init__(
        self,
        accounts: Mapping[str, Account | Mapping[str, Any]] | None = None,
        *,
        database: str | None = None,
    ) -> None:
        super().__init__(accounts, database=database)
        self._connectors: dict[str, AsyncConnector] = {}
        self._listeners: list[CallListener] = []
        self._closed = False

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
        """Whether :meth:`aclose` was called: any call after it raises
        :class:`~cdp_sdk.errors.ClosedError`."""
        return self._closed

    async def aclose(self) -> None:
        """Close every connector opened so far; later calls raise
        :class:`~cdp_sdk.errors.ClosedError`."""
        self._closed = True
        connectors, self._connectors = list(self._connectors.values()), {}
        for connector in connectors:
            await connector.aclose()

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError("the workspace is closed; load it again")

    def connector(self, name: str) -> AsyncConnector:
        """The connector of account ``name``, created on first use (no request is made).

        Raises:
            ConfigurationError: unknown account, missing environment variable or invalid
                settings; the message names the account.
        """
        self._require_open()
        connector = self._connectors.get(name)
        if connector is None:
            connector = self._connect_async(name)
            connector.plugin.http.add_observer(self._observer(name))
            self._connectors[name] = connector
        return connector

    def add_call_listener(self, listener: CallListener) -> Callable[[], None]:
        """Call ``listener(account, record)`` after every HTTP attempt of any account.

        Records carry the method, the path template, the status, the duration and the
        (redacted) request id, never identifiers or secrets. Returns a function that
        removes the listener.
        """
        self._require_open()
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # -- listings across accounts -----------------------------------------------------

    def subscriptions(
        self,
        *,
        modified_since: TimeArg = None,
        status: StatusFilter = None,
        accounts: Iterable[str] | None = None,
    ) -> AsyncIterator[Subscription]:
        """Every subscription of every account, ``account`` set to the account name
        (``status``: only those in these normalized statuses)."""

        def produce(name: str, connector: AsyncConnector) -> AsyncIterator[Subscription]:
            listing = connector.subscriptions(modified_since=modified_since, status=status)
            return _stamped(name, listing)

        return self._fan_in(Capability.SUBSCRIPTIONS, accounts, produce)

    def activation_modes(
        self, *, accounts: Iterable[str] | None = None
    ) -> AsyncIterator[AccountRecord[ActivationMode]]:
        """The lifecycle states of every account's platform."""

        async def produce(
            name: str, connector: AsyncConnector
        ) -> AsyncIterator[AccountRecord[ActivationMode]]:
            for mode in await connector.activation_modes():
                yield AccountRecord(name, mode)

        return self._fan_in(Capability.SUBSCRIPTIONS, accounts, produce)

    def tariffs(
        self, *, accounts: Iterable[str] | None = None
    ) -> AsyncIterator[AccountRecord[Tariff]]:
        """The tariffs of every account."""
        return self._fan_in(
            Capability.TARIFFS, accounts, lambda name, c: _wrapped(name, c.tariffs())
        )

    def usage(
        self,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        granularity: Granularity | str | None = None,
        accounts: Iterable[str] | None = None,
    ) -> AsyncIterator[AccountRecord[UsageRecord]]:
        """Account-level usage in ``[start, end)`` of every account.

        For one SIM, ask its account's connector: ``workspace.connector(name).usage(iccid)``.
        """

        def produce(name: str, c: AsyncConnector) -> AsyncIterator[AccountRecord[UsageRecord]]:
            return _wrapped(name, c.usage(None, start=start, end=end, granularity=granularity))

        return self._fan_in(Capability.USAGE, accounts, produce)

    def invoices(
        self,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        accounts: Iterable[str] | None = None,
    ) -> AsyncIterator[Invoice]:
        """Invoices of every account whose period overlaps ``[start, end)``."""
        return self._fan_in(
            Capability.INVOICES,
            accounts,
            lambda name, c: _stamped(name, c.invoices(start=start, end=end)),
        )

    def audit_events(
        self,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        accounts: Iterable[str] | None = None,
    ) -> AsyncIterator[AccountRecord[AuditEvent]]:
        """Audit events of every account in ``[start, end)``."""
        return self._fan_in(
            Capability.AUDIT_EVENTS,
            accounts,
            lambda name, c: _wrapped(name, c.audit_events(None, start=start, end=end)),
        )

    # -- machinery --------------------------------------------------------------------

    def _observer(self, name: str) -> Callable[[CallRecord], None]:
        def observe(record: CallRecord) -> None:
            for listener in list(self._listeners):
                listener(name, record)

        return observe

    def _fan_in(
        self,
        capability: Capability,
        accounts: Iterable[str] | None,
        produce: Callable[[str, AsyncConnector], AsyncIterator[T]],
    ) -> AsyncIterator[T]:
        """Merge the listings of the selected accounts, each read by its own task (a
        closed workspace, or an unknown account, is refused at once)."""
        self._require_open()
        return self._merged(capability, self.select(accounts), produce)

    async def _merged(
        self,
        capability: Capability,
        accounts: list[str],
        produce: Callable[[str, AsyncConnector], AsyncIterator[T]],
    ) -> AsyncIterator[T]:
        """:meth:`_fan_in`'s listing. A bounded queue carries records to the consumer, so
        a slow consumer holds the producers back instead of buffering whole listings."""
        selected = {name: self.connector(name) for name in accounts}
        readers = {
            name: connector
            for name, connector in selected.items()
            if capability in connector.capabilities
        }
        # Each reader puts its records, then None when done, or the exception it met.
        queue: asyncio.Queue[_Record[T] | Exception | None] = asyncio.Queue(maxsize=_QUEUE_SIZE)

        async def read(name: str, connector: AsyncConnector) -> None:
            try:
                async for record in produce(name, connector):
                    await queue.put(_Record(record))
            except Exception as exc:
                exc.add_note(f"while listing account {name!r}")
                await queue.put(exc)
            else:
                await queue.put(None)

        tasks = [asyncio.create_task(read(name, c)) for name, c in readers.items()]
        remaining = len(tasks)
        try:
            while remaining:
                item = await queue.get()
                if isinstance(item, Exception):
                    raise item
                if item is None:
                    remaining -= 1
                else:
                    yield item.value
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class Workspace(BaseWorkspace):
    """The accounts of a workspace, for synchronous code, scripts and notebooks.

    The same listings as :class:`AsyncWorkspace`, as plain iterators: the accounts are still
    read concurrently, on a private event loop in a background thread. Use the workspace
    as a context manager, or call :meth:`close`.

    >>> with Workspace.load("cdp.toml") as workspace:  # doctest: +SKIP
    ...     for sim in workspace.subscriptions():
    ...         print(sim.account, sim.status)
    """

    def __init__(
        self,
        accounts: Mapping[str, Account | Mapping[str, Any]] | None = None,
        *,
        database: str | None = None,
    ) -> None:
        super().__init__(accounts, database=database)
        self._async = AsyncWorkspace(self._accounts, database=database)
        self._loop: LoopThread | None = None
        self._iterators: weakref.WeakSet[SyncIterator[Any]] = weakref.WeakSet()
        self._closed = False

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
        """Whether :meth:`close` was called: any call after it raises
        :class:`~cdp_sdk.errors.ClosedError`."""
        return self._closed

    def close(self) -> None:
        """Close open iterators and connectors, and stop the loop thread; later calls
        raise :class:`~cdp_sdk.errors.ClosedError`."""
        self._closed = True
        loop, self._loop = self._loop, None
        if loop is None:
            return
        for iterator in list(self._iterators):
            iterator.close(_closed())
        try:
            loop.run(self._async.aclose())
        finally:
            loop.close()

    def run(self, function: Callable[[AsyncWorkspace], Coroutine[Any, Any, R]]) -> R:
        """Run ``function(async_workspace)`` on the workspace's event loop; its result.

        The bridge for async-first helpers (the sync store, a command line) serving
        synchronous callers: the async twin shares this workspace's connectors.
        """
        return self._portal().run(function(self._async))

    def connect(self, name: str) -> Connector:
        """A new synchronous connector for account ``name``; close it when done."""
        if self._closed:
            raise _closed()
        return Connector(self._connect_async(name))

    def add_call_listener(self, listener: CallListener) -> Callable[[], None]:
        """See :meth:`AsyncWorkspace.add_call_listener`."""
        if self._closed:
            raise _closed()
        return self._async.add_call_listener(listener)

    # -- listings across accounts -----------------------------------------------------

    def subscriptions(
        self,
        *,
        modified_since: TimeArg = None,
        status: StatusFilter = None,
        accounts: Iterable[str] | None = None,
    ) -> Iterator[Subscription]:
        """Every subscription of every account, ``account`` set to the account name
        (``status``: only those in these normalized statuses)."""
        return self._iterate(
            lambda w: w.subscriptions(
                modified_since=modified_since, status=status, accounts=accounts
            )
        )

    def activation_modes(
        self, *, accounts: Iterable[str] | None = None
    ) -> Iterator[AccountRecord[ActivationMode]]:
        """The lifecycle states of every account's platform."""
        return self._iterate(lambda w: w.activation_modes(accounts=accounts))

    def tariffs(self, *, accounts: Iterable[str] | None = None) -> Iterator[AccountRecord[Tariff]]:
        """The tariffs of every account."""
        return self._iterate(lambda w: w.tariffs(accounts=accounts))

    def usage(
        self,
        *,
        start: TimeArg = None,
        end: TimeArg = None,
        granularity: Granularity | str | None = None,
        accounts: Iterable[str] | None = None,
    ) -> Iterator[AccountRecord[UsageRecord]]:
        """Account-level usage in ``[start, end)`` of every account."""
        return self._iterate(
            lambda w: w.usage(start=start, end=end, granularity=granularity, accounts=accounts)
        )

    def invoices(
        self, *, start: TimeArg = None, end: TimeArg = None, accounts: Iterable[str] | None = None
    ) -> Iterator[Invoice]:
        """Invoices of every account whose period overlaps ``[start, end)``."""
        return self._iterate(lambda w: w.invoices(start=start, end=end, accounts=accounts))

    def audit_events(
        self, *, start: TimeArg = None, end: TimeArg = None, accounts: Iterable[str] | None = None
    ) -> Iterator[AccountRecord[AuditEvent]]:
        """Audit events of every account in ``[start, end)``."""
        return self._iterate(lambda w: w.audit_events(start=start, end=end, accounts=accounts))

    def _portal(self) -> LoopThread:
        if self._closed:
            raise _closed()
        if self._loop is None:
            self._loop = LoopThread("cdp-sdk-workspace", closed=_closed)
        return self._loop

    def _iterate(self, listing: Callable[[AsyncWorkspace], AsyncIterator[T]]) -> Iterator[T]:
        # The listing's body (connectors included) runs on the loop thread from its first step.
        loop = self._portal()
        iterator = SyncIterator(listing(self._async), loop)
        self._iterators.add(iterator)
        return iterator


def _closed() -> ClosedError:
    return ClosedError("the workspace is closed; load it again")


@dataclass(frozen=True, slots=True)
class _Record(Generic[T]):
    """A record on its way from a reader task to the consumer."""

    value: T


ModelWithAccount = TypeVar("ModelWithAccount", Subscription, Invoice)


async def _stamped(
    name: str, records: AsyncIterator[ModelWithAccount]
) -> AsyncIterator[ModelWithAccount]:
    async for record in records:
        yield _stamp_account(record, name)


async def _wrapped(name: str, records: AsyncIterator[T]) -> AsyncIterator[AccountRecord[T]]:
    async for record in records:
        yield AccountRecord(name, record)


def _stamp_account(record: ModelWithAccount, name: str) -> ModelWithAccount:
    """``record`` with ``account`` set to ``name``; a different platform account moves to
    ``extra["platform_account"]``."""
    update: dict[str, Any] = {"account": name}
    if record.account is not None and record.account != name:
        update["extra"] = {**record.extra, "platform_account": record.account}
    return record.model_copy(update=update)


def _connector_secrets(connector: str) -> frozenset[str]:
    """The secret settings of ``connector``'s settings model (none if it cannot be loaded)."""
    with contextlib.suppress(CdpError):  # not installed: the setting names must do
        return frozenset(load_connector(connector).settings_model.secret_fields())
    return frozenset()


def _account(name: str, table: Mapping[str, Any]) -> Account:
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"account {name!r}: expected a table of settings")
    settings = dict(table)
    connector = settings.pop("connector", None)
    if not isinstance(connector, str) or not connector.strip():
        raise ConfigurationError(f"account {name!r}: 'connector' (a connector name) is required")
    return Account(connector, settings)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise ConfigurationError(f"cannot write a {type(value).__name__} setting to TOML")
