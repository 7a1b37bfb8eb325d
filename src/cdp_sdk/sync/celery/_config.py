"""The ``[celery]`` table of the workspace file: the broker, the lease and the schedules.

Read by every worker, beat and client from the same ``cdp.toml``; ``env:NAME`` values are
read from each one's own environment, so no secret has to be in the file nor ever goes
through the broker. Every key is checked, and a bad one is a :class:`ConfigurationError`
naming it (``cdp.toml: celery.schedule.accounts.eu.every: ...``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from cdp_sdk.errors import ConfigurationError
from cdp_sdk.sync._models import Entity
from cdp_sdk.workspace import ENV_PREFIX, BaseWorkspace

__all__ = [
    "DEFAULT_QUEUE",
    "CelerySettings",
    "ScheduleEntry",
    "load_settings",
    "parse_duration",
]

DEFAULT_QUEUE = "cdp-sync"
DEFAULT_VISIBILITY_TIMEOUT = timedelta(hours=2)
DEFAULT_RESTORE_INTERVAL = timedelta(seconds=10)
DEFAULT_LEASE = timedelta(seconds=60)
MIN_INTERVAL = timedelta(minutes=1)
"""The shortest schedule interval: a sync is rarely quicker, and runs would only skip."""
MIN_LEASE = timedelta(seconds=1)

_KEYS = (
    "broker",
    "result_backend",
    "queue",
    "visibility_timeout",
    "restore_interval",
    "lease",
    "schedule",
)
_SCHEDULE_KEYS = ("every", "jitter", "entities", "accounts")
_ACCOUNT_KEYS = ("every", "jitter", "entities")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
OFF = "off"


def parse_duration(value: object, where: str) -> timedelta:
    """``value`` as a duration: a number of seconds, or a string such as ``"90s"``,
    ``"15m"``, ``"1h30m"``, ``"2d"`` (units ``ms``, ``s``, ``m``, ``h``, ``d``).

    Raises:
        ConfigurationError: not a positive duration; the message names ``where``.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if parts and "".join(number + unit for number, unit in parts) == text:
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds is None or seconds != seconds or seconds <= 0 or seconds > 366 * 86400:
        raise ConfigurationError(
            f"{where}: {value!r} is not a duration (a number of seconds, or e.g. '90s', "
            "'15m', '1h30m', '2d', at most a year)"
        )
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class ScheduleEntry:
    """One Celery beat entry: some entities of one account, every ``every``."""

    name: str
    """``cdp-sync <account>``, or ``cdp-sync <account> <entity>+<entity>`` when the entry
    covers some entities only."""
    account: str
    entities: tuple[Entity, ...] | None
    """``None``: every entity."""
    every: timedelta
    offset: timedelta
    """Where the entry's runs fall within each interval: a fixed share of the jitter,
    derived from the entry's name, so that entries spread and keep their slots."""


@dataclass(frozen=True)
class CelerySettings:
    """The ``[celery]`` table of a workspace file, checked, with ``env:`` values read."""

    config: Path
    """The workspace file (absolute): workers load the accounts from it."""
    broker: str = field(repr=False)
    result_backend: str = field(repr=False)
    database: str = field(repr=False)
    """The store every worker writes to: ``CDP_DB``, else the file's ``database``."""
    queue: str = DEFAULT_QUEUE
    visibility_timeout: timedelta = DEFAULT_VISIBILITY_TIMEOUT
    restore_interval: timedelta = DEFAULT_RESTORE_INTERVAL
    lease: timedelta = DEFAULT_LEASE
    schedule: tuple[ScheduleEntry, ...] = ()


def load_settings(
    config: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> CelerySettings:
    """The ``[celery]`` table of the workspace file ``config``.

    Args:
        config: the workspace file (``cdp.toml``).
        environ: where ``env:NAME`` values and ``CDP_DB`` are read (default:
            ``os.environ``).

    Raises:
        ConfigurationError: the file cannot be read, describes an invalid workspace, has
            no ``[celery]`` table, or a key of it is missing, unknown or invalid.
    """
    environ = os.environ if environ is None else environ
    path = Path(config).expanduser().resolve()
    workspace = BaseWorkspace.load(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:  # pragma: no cover - loaded above
        raise ConfigurationError(f"cannot read workspace file {str(path)!r}: {exc}") from None
    source = path.name
    table = data.get("celery")
    if table is None:
        raise ConfigurationError(
            f'{source}: no [celery] table: add one with at least broker = "redis://..." '
            "to run the sync on Celery"
        )
    _check_keys(table, _KEYS, f"{source}: celery")
    broker = _url(table, "broker", source, environ)
    if broker is None:
        raise ConfigurationError(
            f'{source}: celery.broker is required (e.g. "redis://localhost:6379/0" or '
            '"env:CDP_BROKER_URL")'
        )
    backend = _url(table, "result_backend", source, environ) or _default_backend(broker)
    queue = table.get("queue", DEFAULT_QUEUE)
    if not isinstance(queue, str) or not _QUEUE.fullmatch(queue):
        raise ConfigurationError(
            f"{source}: celery.queue: {queue!r} is not a queue name (letters, digits, "
            "'_', '.', ':', '-')"
        )
    visibility = _duration(table, "visibility_timeout", source, DEFAULT_VISIBILITY_TIMEOUT)
    restore = _duration(table, "restore_interval", source, DEFAULT_RESTORE_INTERVAL)
    lease = _duration(table, "lease", source, DEFAULT_LEASE)
    if lease < MIN_LEASE:
        raise ConfigurationError(f"{source}: celery.lease must be at least 1s")
    if visibility <= lease:
        raise ConfigurationError(
            f"{source}: celery.visibility_timeout ({_human(visibility)}) must be longer than "
            f"celery.lease ({_human(lease)}): a task redelivered from a dead worker must find "
            "its lease expired, or it would be skipped"
        )
    if restore < timedelta(seconds=1):
        raise ConfigurationError(f"{source}: celery.restore_interval must be at least 1s")
    schedule = table.get("schedule", {})
    if not isinstance(schedule, dict):
        raise ConfigurationError(f"{source}: celery.schedule must be a table")
    return CelerySettings(
        config=path,
        broker=broker,
        result_backend=backend,
        database=_database(path, workspace.database, environ),
        queue=queue,
        visibility_timeout=visibility,
        restore_interval=restore,
        lease=lease,
        schedule=_schedule(schedule, workspace.names, f"{source}: celery.schedule"),
    )


def _check_keys(table: object, valid: tuple[str, ...], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table")
    for key in table:
        if key not in valid:
            raise ConfigurationError(f"{where}: unknown key {key!r} (valid: {', '.join(valid)})")


def _url(table: Mapping[str, Any], key: str, source: str, environ: Mapping[str, str]) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{source}: celery.{key} must be a URL or env:NAME")
    if value.startswith(ENV_PREFIX):
        variable = value.removeprefix(ENV_PREFIX)
        if variable not in environ or not environ[variable].strip():
            raise ConfigurationError(
                f"{source}: celery.{key} reads the environment variable {variable!r}, "
                "which is not set"
            )
        value = environ[variable]
    if "://" not in value:
        raise ConfigurationError(f"{source}: celery.{key} is not a URL (scheme://...)")
    return value.strip()


def _default_backend(broker: str) -> str:
    """Results go where the messages go on Redis; elsewhere back to the caller (rpc)."""
    return broker if broker.split("://", 1)[0] in ("redis", "rediss") else "rpc://"


def _duration(table: Mapping[str, Any], key: str, source: str, default: timedelta) -> timedelta:
    if key not in table:
        return default
    return parse_duration(table[key], f"{source}: celery.{key}")


def _database(path: Path, database: str | None, environ: Mapping[str, str]) -> str:
    """``CDP_DB``, else the file's ``database`` (relative to the file), else ``cdp.db``."""
    chosen = environ.get("CDP_DB") or database
    if not chosen:
        return str(path.parent / "cdp.db")
    if "://" in chosen or Path(chosen).expanduser().is_absolute():
        return chosen
    return str(path.parent / chosen)


def _human(duration: timedelta) -> str:
    seconds = duration.total_seconds()
    return f"{seconds:g}s"


# -- schedules ------------------------------------------------------------------------------


def _interval(value: object, where: str) -> timedelta | None:
    """A schedule interval: a duration of at least a minute, or ``"off"`` (``None``)."""
    if value == OFF:
        return None
    every = parse_duration(value, where)
    if every < MIN_INTERVAL:
        raise ConfigurationError(f"{where}: {value!r} is shorter than a minute")
    return every


def _jitter(value: object, where: str) -> timedelta:
    if value in (0, "0", "0s"):
        return timedelta(0)
    return parse_duration(value, where)


def _entity_intervals(table: object, where: str) -> dict[Entity, timedelta | None]:
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table of entity = interval")
    intervals: dict[Entity, timedelta | None] = {}
    for name, value in table.items():
        try:
            entity = Entity(name)
        except ValueError:
            valid = ", ".join(e.value for e in Entity)
            raise ConfigurationError(
                f"{where}: unknown entity {name!r} (entities: {valid})"
            ) from None
        intervals[entity] = _interval(value, f"{where}.{name}")
    return intervals


def _schedule(
    table: Mapping[str, Any], accounts: list[str], where: str
) -> tuple[ScheduleEntry, ...]:
    """The beat entries of every account.

    For each account and entity the interval is the first one given of
    ``accounts.<name>.entities.<entity>``, ``accounts.<name>.every``,
    ``entities.<entity>`` and ``every`` (``"off"``: not scheduled). Entities with the
    same interval share one entry.
    """
    _check_keys(table, _SCHEDULE_KEYS, where)
    every = _interval(table["every"], f"{where}.every") if "every" in table else None
    jitter = _jitter(table["jitter"], f"{where}.jitter") if "jitter" in table else None
    entities = _entity_intervals(table.get("entities", {}), f"{where}.entities")
    per_account = table.get("accounts", {})
    _check_keys(per_account, tuple(accounts), f"{where}.accounts")
    entries: list[ScheduleEntry] = []
    for account in accounts:
        own = per_account.get(account, {})
        here = f"{where}.accounts.{account}"
        _check_keys(own, _ACCOUNT_KEYS, here)
        own_entities = _entity_intervals(own.get("entities", {}), f"{here}.entities")
        own_every = _interval(own["every"], f"{here}.every") if "every" in own else None
        own_jitter = _jitter(own["jitter"], f"{here}.jitter") if "jitter" in own else jitter
        groups: dict[timedelta, list[Entity]] = {}
        for entity in Entity:
            if entity in own_entities:
                interval = own_entities[entity]
            elif "every" in own:
                interval = own_every
            elif entity in entities:
                interval = entities[entity]
            else:
                interval = every
            if interval is not None:
                groups.setdefault(interval, []).append(entity)
        for interval, chosen in sorted(groups.items()):
            whole = len(chosen) == len(Entity)
            name = f"cdp-sync {account}" + ("" if whole else " " + "+".join(chosen))
            spread = interval if own_jitter is None else min(own_jitter, interval)
            entries.append(
                ScheduleEntry(
                    name=name,
                    account=account,
                    entities=None if whole else tuple(chosen),
                    every=interval,
                    offset=spread * _share(name),
                )
            )
    return tuple(entries)


def _share(name: str) -> float:
    """A fraction in [0, 1) fixed by ``name``: where an entry falls within its jitter."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
