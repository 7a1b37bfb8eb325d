"""Shared fixtures: the toy platform, a way to install entry points for a test, and the
``HttpClient`` objects a test makes, closed after it."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from cdp_sdk.http import HttpClient, RetryPolicy
from toy_connector import ToyPlatform

if TYPE_CHECKING:
    from cdp_sdk.sync import Store

InstallPlugins = Callable[..., None]

REFERENCE = Path(
    os.environ.get(
        "CDP_SDK_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"
    )
)
"""The vendor reference material (official OpenAPI specs, recorded traffic) beside the
checkout, as CI lays it out; ``CDP_SDK_REFERENCE`` points elsewhere."""


@pytest.fixture
def reference() -> Path:
    """The reference folder (``openapi/``, ``recorded/``); skips when it is not there."""
    if not REFERENCE.is_dir():
        pytest.skip("vendor reference material not found; set CDP_SDK_REFERENCE")
    return REFERENCE


@pytest.fixture
def toy_platform() -> ToyPlatform:
    return ToyPlatform()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on loopback, shared by a module's tests (``pg.py``)."""
    from pg import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on SQLite, then on PostgreSQL (its tables dropped after the test)."""
    from cdp_sdk.sync import Store, schema  # here: the suite's other tests need no store

    if request.param == "sqlite":
        opened = Store(tmp_path / "cdp.db")
    else:
        opened = Store(request.getfixturevalue("postgres_url"))
    try:
        yield opened
    finally:
        if opened.dialect == "postgresql":
            with opened.engine.begin() as connection:
                schema.metadata.drop_all(connection)
        opened.close()


@pytest.fixture
def install_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallPlugins]:
    """Register ``cdp_sdk.connectors`` entry points (and optional modules) for one test.

    Writes a throw-away distribution (``*.dist-info`` with ``entry_points.txt``) into a
    temporary directory and puts it first on ``sys.path``, the way ``pip install`` would.
    """
    added: list[str] = []

    def install(
        entry_points: Mapping[str, str],
        *,
        modules: Mapping[str, str] | None = None,
        distribution: str = "cdp-sdk-test-plugins",
    ) -> None:
        root = tmp_path / distribution
        dist_info = root / f"{distribution.replace('-', '_')}-1.0.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
        )
        lines = [f"{name} = {target}" for name, target in entry_points.items()]
        (dist_info / "entry_points.txt").write_text(
            "[cdp_sdk.connectors]\n" + "\n".join(lines) + "\n"
        )
        for module, source in (modules or {}).items():
            (root / f"{module}.py").write_text(source)
            added.append(module)
        monkeypatch.syspath_prepend(str(root))
        importlib.invalidate_caches()

    yield install
    for module in added:
        sys.modules.pop(module, None)


@pytest.fixture
async def http_clients() -> AsyncIterator[list[HttpClient]]:
    """A list for the ``HttpClient`` objects a test makes; each is closed after the test."""
    made: list[HttpClient] = []
    yield made
    for client in made:
        await client.aclose()


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def mock_client(http_clients: list[HttpClient]) -> Callable[..., HttpClient]:
    """Makes ``HttpClient(connector="toy")`` objects answered by a handler (an
    ``httpx.MockTransport``) at ``https://api.example.test``, without retries or waits
    unless the test gives its own; each is closed after the test."""

    def make(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> HttpClient:
        kwargs.setdefault("retry", RetryPolicy(max_retries=0))
        kwargs.setdefault("sleep", _no_sleep)
        kwargs.setdefault("base_url", "https://api.example.test")
        client = HttpClient(connector="toy", transport=httpx.MockTransport(handler), **kwargs)
        http_clients.append(client)
        return client

    return make
