"""The errors of bulk changes: bad input, a plan over its limit, a plan file that cannot
be used."""

from __future__ import annotations

from collections.abc import Sequence

from cdp_sdk.errors import ConfigurationError, InvalidRequestError

__all__ = ["ChangeSetError", "PlanFileError", "TooManyChangesError"]

_SHOWN_PROBLEMS = 20


class ChangeSetError(InvalidRequestError):
    """A change set has bad entries; nothing was read.

    ``problems`` holds every ``(line, reason)`` (``line`` is the CSV line, or the position
    of the entry counted from 1); the message shows the first ones. Identifiers are never
    repeated: the line says where.
    """

    def __init__(self, source: str, problems: Sequence[tuple[int, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(f"line {line}: {reason}" for line, reason in problems[:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        super().__init__(
            f"{source}: {len(problems)} bad entr{'y' if len(problems) == 1 else 'ies'}, "
            f"nothing read: {shown}" + (f"; and {more} more" if more > 0 else "")
        )


class TooManyChangesError(InvalidRequestError):
    """A plan would change more SIMs than ``max_changes`` allows; nothing was called."""

    def __init__(self, changes: int, limit: int) -> None:
        self.changes = changes
        self.limit = limit
        super().__init__(
            f"the plan changes {changes:,} SIMs, more than max_changes={limit:,}; "
            "raise max_changes (--max-changes) to go ahead"
        )


class PlanFileError(ConfigurationError):
    """A saved plan cannot be read, or is not the plan it claims to be."""
