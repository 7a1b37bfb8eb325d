"""Per-call timeouts: a context variable the facades set and :class:`HttpClient` reads.

A connector's ``timeout`` setting applies to every request it sends. A facade method
called with ``timeout=`` runs its requests (logins included) inside :func:`call_timeout`,
and :class:`~cdp_sdk.http.HttpClient` sends them with that timeout instead. The value is
carried by a :class:`contextvars.ContextVar`, so it follows the call through ``await``s
and does not leak to other tasks or to later calls.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

__all__ = ["call_timeout", "current_timeout", "http_timeout"]

MAX_CONNECT = 10.0
"""Opening a connection waits at most this long (or the timeout, when shorter)."""

_OVERRIDE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "cdp_sdk_call_timeout", default=None
)


@contextmanager
def call_timeout(seconds: float | None) -> Iterator[None]:
    """Send the requests made inside the block with a timeout of ``seconds`` (``None``:
    the connector's own ``timeout`` setting).

    Raises:
        ValueError: ``seconds`` is not a number above 0.
    """
    if seconds is None:
        yield
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError("timeout must be a number of seconds above 0")
    token = _OVERRIDE.set(float(seconds))
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def current_timeout(default: float) -> float:
    """The timeout of the call in progress: its override, else ``default``."""
    override = _OVERRIDE.get()
    return default if override is None else override


def http_timeout(seconds: float) -> httpx.Timeout:
    """The ``httpx`` timeout for ``seconds``: each read, write and pool wait, and the
    connect at most :data:`MAX_CONNECT`."""
    return httpx.Timeout(seconds, connect=min(seconds, MAX_CONNECT))
