"""The pytest plugin cdp-sdk registers (entry point ``pytest11``): fixtures for plugin tests.

Loaded by pytest wherever cdp-sdk is installed; it imports nothing beyond pytest and the
core until a fixture is used.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cdp-live",
        action="store_true",
        default=False,
        help="run tests marked cdp_live, which call a real platform",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cdp_live: a test that calls a real platform (runs only with --cdp-live)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--cdp-live"):
        return
    skip = pytest.mark.skip(reason="calls a real platform: run with --cdp-live")
    for item in items:
        if "cdp_live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cdp_fake_sleep() -> Any:
    """An async sleep that returns at once and records the waits (for retry tests)."""
    from cdp_sdk.testing._suite import FakeSleep

    return FakeSleep()
