"""Vendor JSON as text Python and every database can hold.

JSON is UTF-8 (RFC 8259), but platforms do send bytes that are not (Latin-1 accents, a
UTF-16 surrogate encoded in UTF-8) and ``\\ud800`` escapes with no partner. Python's JSON
reader takes the latter as lone surrogates, which no database stores and pydantic
refuses; the former fail the whole page. One bad character must not stop a listing on
every run, so here invalid bytes and lone surrogates become U+FFFD (the replacement
character), as any lenient UTF-8 decoder does. Valid text is returned unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["load_json"]

_LONE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def load_json(content: bytes) -> Any:
    """The JSON value of ``content``; ``ValueError`` when it is not JSON."""
    text = content.decode(json.detect_encoding(content), errors="replace")  # a BOM: utf-8-sig
    value = json.loads(text)
    if _SURROGATE_ESCAPE.search(text) is None:
        return value
    return _repaired(value)


def _repaired(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_repaired(key): _repaired(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_repaired(item) for item in value]
    return value
