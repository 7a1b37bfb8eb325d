"""Warnings that name the user's line, however deep in cdp-sdk they are raised.

Code the synchronous facades run on their loop thread has no user frame on its stack:
:class:`~cdp_sdk._bridge.LoopThread` notes the calling thread's line (:func:`caller`) in
a context variable, and a warning raised below the loop's own frames names that line.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Collection
from contextvars import ContextVar
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

__all__ = ["ORIGIN", "Origin", "caller", "warn"]

_PACKAGE = __name__.partition(".")[0]
_LOOP = "asyncio"
"""The package of an event loop's own frames: a warning whose first frame outside
``cdp_sdk`` is one of them was raised for the caller :data:`ORIGIN` names, if any."""


@dataclass(frozen=True, slots=True)
class Origin:
    """A line of the user's code: what ``warnings.warn_explicit`` needs to name it."""

    filename: str
    lineno: int
    module: str
    globals: dict[str, Any]


ORIGIN: ContextVar[Origin | None] = ContextVar("cdp_sdk_warning_origin", default=None)
"""The synchronous caller a loop thread's task runs for (set by ``LoopThread.run``)."""


def _inside(frame: FrameType, skip: Collection[CodeType] = ()) -> bool:
    """Whether ``frame`` runs cdp_sdk's code, or one of the ``skip`` code objects."""
    module = frame.f_globals.get("__name__", "")
    return frame.f_code in skip or module.partition(".")[0] == _PACKAGE


def _outside(frame: FrameType, skip: Collection[CodeType] = ()) -> tuple[FrameType, int]:
    """The first frame from ``frame`` outwards that is not :func:`_inside` (the outermost
    one if all are), and how many frames out from ``frame`` it is."""
    steps = 0
    while frame.f_back is not None and _inside(frame, skip):
        frame = frame.f_back
        steps += 1
    return frame, steps


def caller() -> Origin:
    """The first line on the calling thread's stack that is outside ``cdp_sdk``."""
    frame, _ = _outside(sys._getframe(1))
    return Origin(
        frame.f_code.co_filename,
        frame.f_lineno,
        frame.f_globals.get("__name__", "<string>"),
        frame.f_globals,
    )


def warn(message: str, category: type[Warning], *, skip: Collection[CodeType] = ()) -> None:
    """Issue ``message`` as ``category``, attributed to the first calling frame that is
    neither in the ``cdp_sdk`` package nor running one of the ``skip`` code objects (e.g.
    the ``__init__`` of a plugin's connector class). The stack level is counted here,
    since a fixed one is right for one call path only. On a synchronous facade's loop
    thread, where that frame is the event loop's, the facade's caller is named instead."""
    frame, steps = _outside(sys._getframe(1), skip)
    origin = ORIGIN.get()
    module = frame.f_globals.get("__name__", "")
    if origin is not None and module.partition(".")[0] == _LOOP:
        warnings.warn_explicit(
            message,
            category,
            origin.filename,
            origin.lineno,
            module=origin.module,
            registry=origin.globals.setdefault("__warningregistry__", {}),
            module_globals=origin.globals,
        )
        return
    warnings.warn(message, category, stacklevel=2 + steps)  # 2: the frame calling warn()
