"""One SSL context per process and ``verify`` setting, shared by every client.

Building an SSL context (reading a CA bundle) costs tens of milliseconds: most of a first
``connect()``. An ``ssl.SSLContext`` is safe to share between clients and threads, so each
distinct verification setting gets one context, built on first use under a lock.
"""

from __future__ import annotations

import os
import ssl
import threading

import httpx

__all__ = ["shared_ssl_context"]

_contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
_lock = threading.Lock()


def shared_ssl_context(verify: bool | str | os.PathLike[str] = True) -> ssl.SSLContext:
    """The process-wide SSL context for ``verify``, built once (thread-safe, lazily).

    ``True`` verifies against the bundle ``httpx`` uses (``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR`` when set, else certifi's), read again when those variables change; a
    path verifies against that CA bundle file or certificate directory; ``False`` turns
    verification off. Contexts are shared: never change one that this returns.
    """
    key = _key(verify)
    context = _contexts.get(key)
    if context is not None:
        return context
    with _lock:
        context = _contexts.get(key)
        if context is None:
            context = _build(verify)
            _contexts[key] = context
    return context


def _key(verify: bool | str | os.PathLike[str]) -> tuple[str, ...]:
    if verify is True:
        return (
            "default",
            os.environ.get("SSL_CERT_FILE", ""),
            os.environ.get("SSL_CERT_DIR", ""),
        )
    if verify is False:
        return ("off",)
    return ("bundle", os.fspath(verify))


def _build(verify: bool | str | os.PathLike[str]) -> ssl.SSLContext:
    if isinstance(verify, bool):
        return httpx.create_ssl_context(verify=verify)
    path = os.fspath(verify)
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)
