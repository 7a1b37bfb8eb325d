"""The small pieces behind per-call options, TLS settings and read-only stores."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from cdp_sdk import ClosedError, ConfigurationError, NotFoundError
from cdp_sdk._facade import about_sim, name_sim
from cdp_sdk.http import HttpClient, call_timeout, current_timeout, tls_verification
from cdp_sdk.http._timeout import http_timeout
from cdp_sdk.sync._db import database_url, is_permission_problem, location_writable
from test_network import self_signed


def test_call_timeout_overrides_within_its_block_only() -> None:
    assert current_timeout(30.0) == 30.0
    with call_timeout(2):
        assert current_timeout(30.0) == 2.0
        with call_timeout(None):  # None keeps what is in force
            assert current_timeout(30.0) == 2.0
        with call_timeout(0.5):
            assert current_timeout(30.0) == 0.5
        assert current_timeout(30.0) == 2.0
    assert current_timeout(30.0) == 30.0


@pytest.mark.parametrize("seconds", [0, -1.5, True, "3", float("nan")])
def test_call_timeout_refuses_what_is_not_seconds(seconds: object) -> None:
    with pytest.raises(ValueError, match="above 0"), call_timeout(seconds):  # type: ignore[arg-type]
        pass


async def test_call_timeout_does_not_reach_other_tasks() -> None:
    seen: list[float] = []

    async def other() -> None:
        await asyncio.sleep(0)
        seen.append(current_timeout(30.0))

    with call_timeout(1):
        task = asyncio.get_running_loop().create_task(other())
    await task
    assert seen == [1.0]  # a task started inside the block inherits it ...

    async def started_outside() -> None:
        seen.append(current_timeout(30.0))

    outside = asyncio.get_running_loop().create_task(started_outside())
    with call_timeout(1):
        await outside
    assert seen[-1] == 30.0  # ... one started outside does not see it


def test_http_timeout_caps_the_connect() -> None:
    assert http_timeout(30) == httpx.Timeout(30, connect=10)
    assert http_timeout(4) == httpx.Timeout(4, connect=4)


async def test_requests_carry_the_call_timeout() -> None:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=[])

    client = HttpClient(
        connector="t",
        base_url="https://api.test",
        timeout=30,
        transport=httpx.MockTransport(handler),
    )
    await client.request("GET", "/a")
    with call_timeout(3):
        await client.request("GET", "/b")
    await client.aclose()
    assert (seen[0]["read"], seen[0]["connect"]) == (30, 10)
    assert seen[1] == {"connect": 3, "read": 3, "write": 3, "pool": 3}
    assert client.closed
    with pytest.raises(ClosedError, match="the t connector is closed"):
        await client.request("GET", "/c")
    with pytest.raises(ClosedError):
        await client.authenticate()


def test_tls_verification(tmp_path: Path) -> None:
    default, off = tls_verification(True), tls_verification(False)
    assert default.verify_mode is ssl.CERT_REQUIRED
    assert default.check_hostname
    assert off.verify_mode is ssl.CERT_NONE
    assert not off.check_hostname
    assert tls_verification(True) is default  # one context per setting, shared
    cert, _ = self_signed(tmp_path)
    context = tls_verification(str(cert))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1
    directory = tmp_path / "certs"
    directory.mkdir()
    assert isinstance(tls_verification(str(directory)), ssl.SSLContext)  # a capath
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(ConfigurationError, match="the CA bundle cannot be read") as caught:
        tls_verification(str(empty), connector="c")
    assert caught.value.connector == "c"


def test_not_found_names_the_sim_once() -> None:
    error = NotFoundError("no SIM with this ICCID", connector="x")
    name_sim(error, "89883030000000004973")
    name_sim(error, "89883030000000004973")
    assert error.message == "ICCID …4973: no SIM with this ICCID"
    assert str(error) == "ICCID …4973: no SIM with this ICCID (connector=x)"
    with pytest.raises(NotFoundError) as caught, about_sim(None):
        raise NotFoundError("gone")
    assert caught.value.message == "gone"  # no SIM to name: left as it is


def test_permission_problems_are_recognized() -> None:
    class Denied(Exception):
        sqlstate = "42501"

    class Wrapped(Exception):
        orig = Denied("permission denied for table cursors")

    assert is_permission_problem(Wrapped())
    assert is_permission_problem(Exception("attempt to write a readonly database"))
    assert is_permission_problem(Exception("[Errno 30] Read-only file system"))
    assert not is_permission_problem(Exception("database is locked"))
    assert location_writable(database_url("sqlite://"))
    assert location_writable(database_url("postgresql://u@h/db"))
