"""What a platform lets a client write as tags, declared on the connector.

A connector's :attr:`~cdp_sdk.BaseConnector.tag_rules` say which keys exist, whether keys
hold values, and which characters a key may not contain. A plan of changes
(:mod:`cdp_sdk.changes`) checks a wanted tag change against them before any request, so a
tag the platform cannot store is refused in the plan rather than half-written on the
platform.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["TagRules", "TagValues"]

TagValues = Literal["optional", "required", "none"]
"""Whether a tag key holds a value: ``optional`` (key/value platforms, where a key may go
without one), ``required`` (each key holds text; clearing it is a removal) or ``none``
(labels: the platform keeps keys only)."""


@dataclass(frozen=True)
class TagRules:
    """The tags a platform stores, as far as they can be known without a request.

    Attributes:
        keys: the only keys the platform has (fixed custom-field slots, a single label
            field); ``None``: any key.
        values: see :data:`TagValues`.
        forbidden: characters a key may not contain (e.g. the separator of a label list).
        max_length: the longest value the platform stores, in characters; ``None``: no
            documented limit.
        allowed: a regular expression that every value must match in full (the characters
            the platform accepts in a value); ``None``: any text.
        allowed_text: ``allowed`` in words, for the messages.
    """

    keys: frozenset[str] | None = None
    values: TagValues = "optional"
    forbidden: str = ""
    max_length: int | None = None
    allowed: str | None = None
    allowed_text: str = ""

    def problems(self, tags: Mapping[str, str | None], remove: Iterable[str] = ()) -> list[str]:
        """Why setting ``tags`` and removing the keys in ``remove`` cannot be stored as
        asked; an empty list when it can. Messages name keys, never values."""
        problems: list[str] = []
        removed = list(remove)
        for key in [*tags, *removed]:
            if not isinstance(key, str) or not key.strip():
                problems.append("tag keys must be non-empty text")
            elif self.keys is not None and key not in self.keys:
                problems.append(f"{key!r} is not a tag of this platform (keys: {self._keys()})")
            elif clash := sorted({char for char in self.forbidden if char in key}):
                problems.append(f"{key!r} contains {', '.join(map(repr, clash))}")
        for key, value in tags.items():
            text: object = value  # callers without type checks may pass anything
            if not isinstance(key, str) or not key.strip():
                continue
            if text is not None and not isinstance(text, str):
                problems.append(f"{key!r}: a tag value must be text")
            elif self.values == "none" and value is not None:
                problems.append(f"{key!r} cannot hold a value: the platform keeps labels only")
            elif self.values == "required" and (value is None or not value.strip()):
                problems.append(
                    f"{key!r} needs a value: the platform's tags hold text (remove it instead)"
                )
            elif (
                value is not None and (limit := self.max_length) is not None and len(value) > limit
            ):
                problems.append(f"{key!r}: a value holds at most {limit} characters")
            elif (
                value is not None
                and self.allowed is not None
                and not re.fullmatch(self.allowed, value)
            ):
                words = f" ({self.allowed_text})" if self.allowed_text else ""
                problems.append(f"{key!r}: the value holds characters the platform refuses{words}")
        if clash := sorted(set(tags) & set(removed)):
            problems.append(f"tags both set and removed: {', '.join(clash)}")
        return problems

    def _keys(self) -> str:
        keys = sorted(self.keys or (), key=_natural)
        if len(keys) <= 4:
            return ", ".join(keys)
        return f"{', '.join(keys[:3])}, ... ({len(keys)} in all)"


def _natural(key: str) -> tuple[str, int]:
    """``slot2`` before ``slot10``."""
    stem = key.rstrip("0123456789")
    return stem, int(key[len(stem) :] or 0)
