"""Network failures, named: what went wrong below HTTP, as a typed error with a plain cause.

A DNS failure, a refused connection and an untrusted certificate all reach the client as
``httpx.ConnectError``; the real cause sits in the exception chain. :func:`network_error`
reads it and says it in the message (the host, never a path or a secret), keeps a copy of
the exception chain (types and redacted messages) as ``__cause__`` for debugging, and
picks the class: an untrusted
certificate is a :class:`~cdp_sdk.errors.CertificateError` (not retried), an answer lost
after a write was sent an :class:`~cdp_sdk.errors.OutcomeUnknownError`, anything else a
:class:`~cdp_sdk.errors.TransientError`.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

from cdp_sdk._redact import redact_text
from cdp_sdk.errors import CdpError, CertificateError, OutcomeUnknownError, TransientError

__all__ = ["CA_BUNDLE_HINT", "network_error"]

CA_BUNDLE_HINT = (
    "if a proxy or a private CA signs this platform's certificates, trust that CA: set the "
    "connector's verify setting to the path of a PEM bundle that holds it, or set "
    "SSL_CERT_FILE (or SSL_CERT_DIR) for every connector"
)
"""How to trust another CA, as the certificate error says it (kept in this one place)."""

_MAX_CAUSES = 5

_DNS_TEXTS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated",
    "getaddrinfo failed",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes and contexts, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _cause(exc: httpx.HTTPError, host: str) -> tuple[str, bool]:
    """What happened, in words, and whether it is a certificate that was not trusted."""
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            detail = getattr(link, "verify_message", None) or "certificate verify failed"
            return f"the TLS certificate of {host} is not trusted ({detail})", True
        if isinstance(link, socket.gaierror):
            return f"the host name {host} could not be resolved (DNS lookup failed)", False
        if isinstance(link, ConnectionRefusedError):
            return f"{host} refused the connection", False
        if isinstance(link, ConnectionResetError):
            return f"{host} reset the connection", False
    text = str(exc).lower()
    if "certificate verify failed" in text:
        return f"the TLS certificate of {host} is not trusted", True
    if any(marker in text for marker in _DNS_TEXTS):
        return f"the host name {host} could not be resolved (DNS lookup failed)", False
    if "connection refused" in text:
        return f"{host} refused the connection", False
    named: list[tuple[type[httpx.HTTPError], str]] = [
        (httpx.ConnectTimeout, f"connecting to {host} timed out"),
        (httpx.ReadTimeout, f"{host} sent no answer within the timeout"),
        (httpx.WriteTimeout, f"sending the request to {host} timed out"),
        (httpx.PoolTimeout, "no connection was free within the timeout"),
        (httpx.RemoteProtocolError, f"{host} closed the connection before the answer was complete"),
        (httpx.ReadError, f"the connection to {host} broke while reading the answer"),
        (httpx.WriteError, f"the connection to {host} broke while sending the request"),
        (httpx.ConnectError, f"could not connect to {host}"),
    ]
    for kind, words in named:
        if isinstance(exc, kind):
            return words, False
    return f"a network error ({type(exc).__name__})", False


def network_error(
    exc: httpx.HTTPError,
    *,
    where: str,
    host: str,
    connector: str,
    outcome_unknown: bool = False,
) -> CdpError:
    """The typed error for a failed exchange with ``host`` (``where``: ``"GET /v1/sims"``).

    ``outcome_unknown``: the request was a write not safe to repeat and had been sent, so
    a lost answer leaves its effect unknown.
    """
    cause, untrusted = _cause(exc, host)
    error: CdpError
    if untrusted:
        error = CertificateError(f"{where} failed: {cause}; {CA_BUNDLE_HINT}", connector=connector)
    elif outcome_unknown:
        error = OutcomeUnknownError(
            f"{where} failed: {cause}; the change may have been applied, so check before "
            "sending it again",
            connector=connector,
        )
    else:
        error = TransientError(f"{where} failed: {cause}", connector=connector)
    error.__cause__ = _sanitized(exc)
    return error


def _sanitized(exc: BaseException, depth: int = 0) -> BaseException:
    """A copy of ``exc`` and its causes (types kept, messages redacted, no frames): what a
    debug traceback shows, without a secret or identifier a transport put in a message."""
    text = redact_text(str(exc))
    try:
        copy = type(exc)(text)
    except Exception:  # an exception type that needs other arguments
        copy = RuntimeError(f"{type(exc).__name__}: {text}")
    inner = exc.__cause__ or exc.__context__
    if inner is not None and depth < _MAX_CAUSES:
        copy.__cause__ = _sanitized(inner, depth + 1)
    return copy
