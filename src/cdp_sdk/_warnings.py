"""Warnings that name the user's line, however deep in cdp-sdk they are raised."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Collection
from types import CodeType

_PACKAGE = __name__.partition(".")[0]


def warn(message: str, category: type[Warning], *, skip: Collection[CodeType] = ()) -> None:
    """Issue ``message`` as ``category``, attributed to the first calling frame that is
    neither in the ``cdp_sdk`` package nor running one of the ``skip`` code objects (e.g.
    the ``__init__`` of a plugin's connector class). The stack level is counted here,
    since a fixed one is right for one call path only."""
    frame = sys._getframe(1)
    level = 2  # stacklevel=2 names the frame that called this function
    while frame.f_back is not None and (
        frame.f_code in skip or frame.f_globals.get("__name__", "").partition(".")[0] == _PACKAGE
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
