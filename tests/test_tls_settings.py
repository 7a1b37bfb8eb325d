"""The transport's safety settings: plain HTTP, credentials in the URL, redacted request ids.

(A real TLS handshake with an untrusted certificate is refused in ``test_network.py``.)
"""

from __future__ import annotations

import logging

import httpx
import pytest

from cdp_sdk.errors import ConfigurationError
from cdp_sdk.http import CallRecord, HttpClient, check_base_url

ICCID = "8988216716970004975"


@pytest.mark.parametrize(
    "url",
    ["http://api.example.test", "http://10.0.0.5:8080", "http://localhost.example.test"],
)
def test_plain_http_to_a_remote_host_is_refused_by_default(url: str) -> None:
    with pytest.raises(ValueError, match="plain http to a non-loopback host"):
        check_base_url(url)
    assert check_base_url(url, allow_insecure_http=True) == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:9000", "https://a.test"]
)
def test_https_and_loopback_http_are_accepted_by_default(url: str) -> None:
    assert check_base_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://user@api.example.test",
        "https://:secret@api.example.test",
        "https://user:secret@api.example.test",
        "http://user@127.0.0.1:8080",
    ],
)
def test_a_base_url_with_any_credential_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="must not carry credentials"):
        check_base_url(url)
    with pytest.raises(ConfigurationError, match="must not carry credentials") as caught:
        HttpClient(connector="acme", base_url=url, transport=httpx.MockTransport(_ok))
    assert "secret" not in str(caught.value)


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={}, headers={"X-Request-Id": f"req-{ICCID}-7"})


async def test_a_request_id_echoing_an_iccid_is_redacted_in_call_records_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cdp_sdk")
    client = HttpClient(
        connector="acme", base_url="https://api.example.test", transport=httpx.MockTransport(_ok)
    )
    records: list[CallRecord] = []
    client.add_observer(records.append)
    try:
        await client.request("GET", "/v1/sims/{iccid}", path_params={"iccid": ICCID})
        await client.request("GET", f"/v1/sims/{ICCID}/usage")  # a concrete path
    finally:
        await client.aclose()

    assert [record.status_code for record in records] == [200, 200]
    assert records[0].path == "/v1/sims/{iccid}"
    for record in records:
        assert record.request_id is not None
        assert record.request_id.startswith("req-")
        assert record.request_id.endswith("-7")
        assert ICCID not in record.request_id
        assert ICCID[:-1] not in f"{record.path} {record.request_id}"
    assert ICCID[:-1] not in caplog.text
    assert "/v1/sims/{iccid} -> 200" in caplog.text
