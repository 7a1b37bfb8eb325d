"""A failed exchange in words: the error class and the exact message a user reads."""

from __future__ import annotations

import ssl

import httpx
import pytest

from cdp_sdk.errors import CertificateError, OutcomeUnknownError, TransientError
from cdp_sdk.http._network import CA_BUNDLE_HINT, network_error

HOST = "api.example.test"


def chained(outer: httpx.HTTPError, inner: BaseException) -> httpx.HTTPError:
    outer.__cause__ = inner
    return outer


def untrusted(verify_message: str | None) -> ssl.SSLCertVerificationError:
    failure = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")
    failure.verify_message = verify_message  # type: ignore[assignment]
    return failure


@pytest.mark.parametrize(
    ("exc", "kind", "cause"),
    [
        (
            chained(httpx.ReadError("reset"), ConnectionResetError(104, "reset")),
            TransientError,
            f"{HOST} reset the connection",
        ),
        (
            chained(httpx.ConnectError("handshake"), untrusted(None)),
            CertificateError,
            f"the TLS certificate of {HOST} is not trusted (certificate verify failed)",
        ),
        (
            chained(httpx.ConnectError("handshake"), untrusted("self-signed certificate")),
            CertificateError,
            f"the TLS certificate of {HOST} is not trusted (self-signed certificate)",
        ),
        (
            httpx.ConnectError("[SSL] certificate verify failed: unable to get issuer"),
            CertificateError,
            f"the TLS certificate of {HOST} is not trusted",
        ),
        (
            httpx.UnsupportedProtocol("no such scheme"),
            TransientError,
            "a network error (UnsupportedProtocol)",
        ),
    ],
)
def test_a_network_failure_is_named(exc: httpx.HTTPError, kind: type, cause: str) -> None:
    error = network_error(exc, where="GET /v1/sims", host=HOST, connector="acme")
    assert type(error) is kind
    expected = f"GET /v1/sims failed: {cause}"
    if kind is CertificateError:
        expected += f"; {CA_BUNDLE_HINT}"
    assert error.message == expected
    assert error.connector == "acme"


def test_a_sent_write_whose_answer_was_lost_says_to_check_first() -> None:
    lost = httpx.ReadTimeout("timed out")
    error = network_error(
        lost,
        where="POST /v1/sims/{iccid}/status",
        host=HOST,
        connector="acme",
        outcome_unknown=True,
    )
    assert type(error) is OutcomeUnknownError
    assert error.message == (
        f"POST /v1/sims/{{iccid}}/status failed: {HOST} sent no answer within the timeout; "
        "the change may have been applied, so check before sending it again"
    )
    # By default the outcome is known (nothing was sent, or a read is repeated safely).
    plain = network_error(lost, where="GET /v1/sims", host=HOST, connector="acme")
    assert type(plain) is TransientError


@pytest.mark.timeout(10)
def test_a_cause_chain_that_loops_is_read_once() -> None:
    outer = httpx.ConnectError("could not connect")
    inner = OSError("socket trouble")
    outer.__context__ = inner
    inner.__context__ = outer
    error = network_error(outer, where="GET /v1/sims", host=HOST, connector="acme")
    assert error.message == f"GET /v1/sims failed: could not connect to {HOST}"
