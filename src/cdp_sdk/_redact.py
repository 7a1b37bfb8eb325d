"""Redaction of secrets and subscriber identifiers from text that leaves the library.

Identifiers (ICCID, IMSI, MSISDN, IMEI, EID) are personal data. Every log line and every
exception message cdp-sdk produces goes through :func:`redact_text`, which replaces
identifiers with a short keyed hash (``<id:3f9a1c>``): the same identifier gives the same
token within one process (whatever way it is written), so log lines can still be
correlated, but the value cannot be read back. Secret values registered with
:func:`register_secret` are replaced by ``***`` wherever they appear.

What counts as an identifier:

- a run of ten or more digits (``89883100000000000017``, ``+8823410000001``);
- digits written in groups, the way people write phone numbers and the way platforms
  print identifiers: ``+88 242 42000001``, ``(555) 123-4567``, ``0170/1234567``,
  ``35-209900-176148-1``, ``8988 3100 0000 0000 017``: eight or more digits after a
  leading ``+``, else ten or more; unless the groups read as a date (``2024-06-15 12``),
  an IPv4 address (``192.168.100.200``), a decimal number (``12345678.90``), thousands
  separated by spaces or dots (``1 073 741 824``) or a list of small numbers
  (``1 2 3 4 5 6 7 8 9 10``).

:func:`protect_loggers` puts a :class:`RedactingFilter` on the loggers of the libraries
cdp-sdk runs on (httpx, httpcore, hpack, SQLAlchemy, psycopg, tenacity, stevedore,
asyncio), so that their debug logs are redacted too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "PROTECTED_LOGGERS",
    "RedactingFilter",
    "protect_loggers",
    "redact_identifier",
    "redact_text",
    "redact_url",
    "register_secret",
    "registered_secrets",
]

_DIGIT = re.compile(r"\d")
_IDENTIFIER = re.compile(r"(?<!\d)\+?\d{10,}(?!\d)")
# Digits in two or more groups: separated by one space, dash, dot or slash, or around a
# parenthesized group ("(555) 123-4567", "+44 (0) 20 7946 0958"); not inside a word.
_SEPARATOR = r"(?:[ .\-/]|\)[ .\-]?|[ .\-]?\()"
_GROUPED = re.compile(
    rf"(?<![\w+(.\-/])(?:\+|\(\+?|\()?\d+(?:{_SEPARATOR}\d+)+\)?(?![\w(]|[.\-/]\d)"
)
_YEAR, _MONTH, _DAY = r"(?:19|20)\d\d", r"(?:0?[1-9]|1[0-2])", r"(?:0?[1-9]|[12]\d|3[01])"
_DATE = re.compile(
    rf"(?<!\d)(?:{_YEAR}([-/.]){_MONTH}\1{_DAY}|{_DAY}([-/.]){_MONTH}\2{_YEAR}"
    rf"|{_MONTH}([-/.]){_DAY}\3{_YEAR})(?!\d)"
)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DECIMAL = re.compile(r"\d+[.]\d+")
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:(?: \d{3})+(?:[.,]\d+)?|(?:\.\d{3})+(?:,\d+)?)")
_MIN_DIGITS, _MIN_DIGITS_AFTER_PLUS = 10, 8
_SENSITIVE_PARAM = re.compile(r"key|token|secret|password|auth|sig", re.IGNORECASE)
_HASH_KEY = secrets.token_bytes(16)
_MIN_SECRET_LENGTH = 6

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it would appear in a log line or an error message."""
    if len(value) >= _MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def registered_secrets() -> tuple[str, ...]:
    """The secret values registered so far (for tools that scrub recorded traffic)."""
    with _secrets_lock:
        return tuple(_secrets)


def redact_identifier(value: str) -> str:
    """The stable, irreversible token that stands for one identifier in logs.

    Only the digits count: ``+88 242 42000001`` and ``8824242000001`` give one token.
    """
    digits = "".join(character for character in value if character.isdigit()) or value
    digest = hashlib.blake2b(digits.encode(), key=_HASH_KEY, digest_size=3)
    return f"<id:{digest.hexdigest()}>"


def redact_text(text: str) -> str:
    """``text`` with registered secrets masked and identifiers replaced by tokens."""
    if _secrets:
        with _secrets_lock:
            known = sorted(_secrets, key=len, reverse=True)
        for secret in known:
            if secret in text:
                text = text.replace(secret, "***")
    if _DIGIT.search(text) is None:
        return text
    text = _GROUPED.sub(_grouped, text)
    return _IDENTIFIER.sub(lambda match: redact_identifier(match.group()), text)


def _grouped(match: re.Match[str]) -> str:
    written = match.group()
    date = _DATE.search(written)
    if date is not None:  # "2024-06-15 12:00": the date stays, the rest is looked at again
        before, after = written[: date.start()], written[date.end() :]
        return _GROUPED.sub(_grouped, before) + date.group() + _GROUPED.sub(_grouped, after)
    if not _looks_like_identifier(written):
        return written
    if written.startswith("(") and written.endswith(")") and written.count(")") == 1:
        return f"({redact_identifier(written)})"  # "(+88 242 42000001)": keep the brackets
    return redact_identifier(written)


def _looks_like_identifier(written: str) -> bool:
    """Whether digits written in groups (``+88 242 42000001``) read as an identifier
    rather than a date, an address, an amount or a list of numbers."""
    groups = re.findall(r"\d+", written)
    digits = sum(map(len, groups))
    if written.startswith(("+", "(+")):
        return digits >= _MIN_DIGITS_AFTER_PLUS
    if digits < _MIN_DIGITS:
        return False
    bare = written.strip("()")
    if _IPV4.fullmatch(bare) or _DECIMAL.fullmatch(bare) or _THOUSANDS.fullmatch(bare):
        return False
    # Numbers in a list ("1 2 3 4 5 6 7 8 9 10"): single digits inside are not a number.
    return all(len(group) >= 2 for group in groups[1:-1])


def redact_url(url: str) -> str:
    """``url`` without credentials, with sensitive query values masked and ids redacted."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal keeps its brackets
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (name, "***" if _SENSITIVE_PARAM.search(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*<>:",
    )
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record it sees: the rendered message, the
    traceback of ``exc_info`` and the ``stack_info``.

    cdp-sdk installs one on each logger of :data:`PROTECTED_LOGGERS` (a logger's filters
    see only the records logged to that very logger, so children are listed too); add one
    to a handler to redact everything that handler writes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


PROTECTED_LOGGERS: tuple[str, ...] = (
    "cdp_sdk",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack",
    "hpack.hpack",
    "hpack.table",
    "h2",
    "h2.connection",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.engine.Engine",
    "sqlalchemy.pool",
    "sqlalchemy.dialects",
    "psycopg",
    "psycopg.pool",
    "tenacity",
    "stevedore",
    "stevedore.extension",
    "stevedore.named",
    "stevedore.driver",
    "stevedore._cache",
    "asyncio",
)
"""The loggers cdp-sdk redacts: its own, and those of the libraries it runs on that can
log a URL, a header, a body, an SQL parameter or an exception (httpcore logs response
headers at DEBUG, and emnify's ``Link`` header carries an ICCID)."""

_FAMILIES = tuple(sorted({name.split(".")[0] for name in PROTECTED_LOGGERS}))


def protect_loggers() -> None:
    """Put one :class:`RedactingFilter` on every logger of :data:`PROTECTED_LOGGERS`, and
    on any logger already created under their packages (``httpcore.*``, ``sqlalchemy.*``,
    ...). Idempotent; called when :mod:`cdp_sdk.http` and :mod:`cdp_sdk.sync` load."""
    existing = [
        name for name in list(logging.root.manager.loggerDict) if name.split(".")[0] in _FAMILIES
    ]
    for name in (*PROTECTED_LOGGERS, *existing):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
