"""What the database cannot hold: records cleaned before they are written, or quarantined.

PostgreSQL refuses a NUL character in text (and ``\\u0000`` in JSON), both databases
refuse text with a lone UTF-16 surrogate (what a vendor's invalid UTF-8 or a stray
``\\ud800`` escape decodes to), and JSON has no ``NaN``. A vendor record carrying one of
them must not stop a sync at the same record on every run, so before a page is written:

- free text is cleaned: NUL characters are removed, a surrogate pair is joined into its
  character and a lone surrogate becomes U+FFFD; the record is counted as cleaned (a
  ``NaN`` or infinite number in ``extra`` is stored as its name, ``"NaN"``, by the
  store's JSON encoder);
- a record whose natural key or identifiers (``id``, ``iccid``, ``imsi``, ``msisdn``,
  ``imei``, ``eid``, a tag key, an activation mode's name, a usage zone) would need
  cleaning is quarantined instead: changing them could merge it with another record.

A record the database still refuses (a number past its range, say) is found by writing
each record of the page alone in a transaction that is rolled back, and quarantined with
the database's reason; the rest of the page is written. Quarantined records go to the
``quarantine`` table, as JSON text with the refused characters escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from pydantic_core import PydanticSerializationError
from sqlalchemy.exc import DataError, DBAPIError, StatementError

from cdp_sdk._redact import redact_text
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    Invoice,
    InvoiceLine,
    Subscription,
    Tag,
    Tariff,
    UsageRecord,
)
from cdp_sdk.sync.schema import audit_key, quarantine_key, usage_key

__all__ = [
    "KEY_FIELDS",
    "Unstorable",
    "clean_page",
    "clean_record",
    "clean_text",
    "database_reason",
    "natural_key",
    "record_json",
    "refused_by_database",
    "refused_characters",
]

M = TypeVar("M", bound=BaseModel)

KEY_FIELDS: dict[type[BaseModel], frozenset[str]] = {
    Subscription: frozenset({"id", "iccid", "imsi", "msisdn", "imei", "eid"}),
    Tag: frozenset({"key"}),
    ActivationMode: frozenset({"name"}),
    Tariff: frozenset({"id"}),
    UsageRecord: frozenset({"iccid", "zone"}),
    Invoice: frozenset({"id"}),
    InvoiceLine: frozenset({"iccid"}),
    AuditEvent: frozenset({"id", "iccid"}),
}
"""Fields that are never cleaned: a record needing it there is quarantined."""

_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LONE = re.compile("[\ud800-\udfff]")


class Unstorable(Exception):
    """A record the store cannot hold, and why (never its values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refused_characters(text: str) -> str | None:
    """What in ``text`` a database refuses (``"a NUL character"``), or ``None``."""
    if "\x00" in text:
        return "a NUL character"
    if not text.isascii() and _LONE.search(text):
        return "an invalid character (a lone UTF-16 surrogate)"
    return None


def clean_text(text: str) -> str:
    """``text`` as the database can hold it (NUL removed, surrogates repaired)."""
    if refused_characters(text) is None:
        return text
    text = text.replace("\x00", "")
    text = _PAIR.sub(_join_pair, text)
    return _LONE.sub("\ufffd", text)


def _join_pair(pair: re.Match[str]) -> str:
    return pair.group().encode("utf-16", "surrogatepass").decode("utf-16")


def _clean_json(value: Any) -> Any:
    """A JSON value cleaned (keys too); ``value`` itself when nothing changes."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        pairs = [(clean_text(k), _clean_json(v)) for k, v in value.items()]
        if all(
            k is old_k and v is old_v
            for (k, v), (old_k, old_v) in zip(pairs, value.items(), strict=True)
        ):
            return value
        return dict(pairs)
    if isinstance(value, list | tuple):
        items = [_clean_json(item) for item in value]
        if all(item is old for item, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    return value


def _clean_field(record: BaseModel, name: str, value: Any, keys: frozenset[str]) -> Any:
    """``value`` cleaned (itself when nothing changes); :class:`Unstorable` for a key."""
    if isinstance(value, BaseModel):
        cleaned, changed = clean_record(value)
        return cleaned if changed else value
    if isinstance(value, tuple) and any(isinstance(part, BaseModel) for part in value):
        parts = [_clean_field(record, name, part, keys) for part in value]
        if all(part is old for part, old in zip(parts, value, strict=True)):
            return value
        return tuple(parts)
    if isinstance(value, str) and name in keys:
        problem = refused_characters(value)
        if problem is not None:
            raise Unstorable(f"{type(record).__name__}.{name} holds {problem}")
        return value
    return _clean_json(value)


def clean_record(record: M) -> tuple[M, bool]:
    """``record`` as the database can hold it, and whether anything was cleaned.

    Raises:
        Unstorable: a key or identifier field holds what the database refuses.
    """
    if _clean_as_a_whole([record]):
        return record, False
    keys = KEY_FIELDS.get(type(record), frozenset())
    changes: dict[str, Any] = {}
    for name in type(record).model_fields:
        value = getattr(record, name)
        cleaned = _clean_field(record, name, value, keys)
        if cleaned is not value:
            changes[name] = cleaned
    if not changes:
        return record, False
    return record.model_copy(update=changes), True


def clean_page(records: Sequence[M]) -> tuple[list[M], list[tuple[M, str]], int]:
    """A page's records as the database can hold them, those it cannot with the reason
    (:class:`Unstorable`), and how many were cleaned."""
    if _clean_as_a_whole(records):
        return list(records), [], 0
    kept: list[M] = []
    held: list[tuple[M, str]] = []
    cleaned = 0
    for record in records:
        try:
            fixed, changed = clean_record(record)
        except Unstorable as problem:
            held.append((record, problem.reason))
            continue
        kept.append(fixed)
        cleaned += changed
    return kept, held, cleaned


def _clean_as_a_whole(records: Sequence[BaseModel]) -> bool:
    """Whether records of one model need no cleaning, at one look for them all: pydantic's
    JSON escapes NUL and refuses lone surrogates."""
    kinds = {type(record) for record in records}
    if len(kinds) != 1:
        return not records
    try:
        return b"\\u0000" not in _page_adapter(kinds.pop()).dump_json(list(records))
    except PydanticSerializationError:
        return False


@lru_cache(maxsize=64)
def _page_adapter(kind: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[kind])  # type: ignore[valid-type]


def natural_key(record: BaseModel) -> str:
    """The natural key of ``record`` within its account and entity, as a digest; taken
    from its cleaned text, so that the record, once the vendor repairs it, leaves the
    quarantine when it is stored."""
    if isinstance(record, UsageRecord):
        part = usage_key(record)
    elif isinstance(record, AuditEvent):
        part = audit_key(record)
    elif isinstance(record, ActivationMode):
        part = record.name
    else:
        part = str(getattr(record, "id", None))
    return quarantine_key([type(record).__name__, clean_text(part)])


def record_json(record: BaseModel) -> str:
    """``record`` as JSON text any database holds: refused characters escaped (``\\u0000``)."""
    return json.dumps(record.model_dump(mode="json"), ensure_ascii=True, sort_keys=True)


def refused_by_database(error: BaseException) -> bool:
    """Whether ``error`` is the database (or its driver) refusing a value, rather than a
    failure of the database itself (a lost connection, a lock, a full disk)."""
    if isinstance(error, DataError):
        return True
    if isinstance(error, StatementError) and not isinstance(error, DBAPIError):
        return True  # a value our column types or the driver could not convert
    return isinstance(error, ValueError | OverflowError | UnicodeError)


def database_reason(error: BaseException) -> str:
    """The first line of what the database said, redacted."""
    origin = getattr(error, "orig", None) or error
    lines = str(origin).strip().splitlines() or [type(origin).__name__]
    return redact_text(f"the database refused it: {type(origin).__name__}: {lines[0]}")
