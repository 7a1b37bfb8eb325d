"""Redaction of secrets and subscriber identifiers from text that leaves the library.

Identifiers (ICCID, IMSI, MSISDN, IMEI, EID) are personal data. Every log line and every
exception message cdp-sdk produces goes through :func:`redact_text`, which replaces runs of
ten or more digits with a short keyed hash (``<id:3f9a1c>``): the same identifier gives the
same token within one process, so log lines can still be correlated, but the value cannot
be read back. Secret values registered with :func:`register_secret` are replaced by
``***`` wherever they appear.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "RedactingFilter",
    "redact_identifier",
    "redact_text",
    "redact_url",
    "register_secret",
    "registered_secrets",
]

_IDENTIFIER = re.compile(r"(?<!\d)\+?\d{10,}(?!\d)")
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
    """The stable, irreversible token that stands for one identifier in logs."""
    digest = hashlib.blake2b(value.lstrip("+").encode(), key=_HASH_KEY, digest_size=3)
    return f"<id:{digest.hexdigest()}>"


def redact_text(text: str) -> str:
    """``text`` with registered secrets masked and long digit runs replaced by tokens."""
    if _secrets:
        with _secrets_lock:
            known = sorted(_secrets, key=len, reverse=True)
        for secret in known:
            if secret in text:
                text = text.replace(secret, "***")
    return _IDENTIFIER.sub(lambda match: redact_identifier(match.group()), text)


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
    """A logging filter that redacts the rendered message of every record it sees.

    cdp-sdk installs one on the ``httpx`` logger, whose INFO lines carry full request URLs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
