"""The pytest plugin cdp-sdk registers (entry point ``pytest11``): fixtures for plugin tests.

Loaded by pytest wherever cdp-sdk is installed; it imports nothing beyond pytest and the
core until a fixture is used.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cdp_live: a test that calls a real platform (opt-in; never in CI)"
    )


@pytest.fixture
def cdp_fake_sleep() -> Any:
    """An async sleep that returns at once and records the waits (for retry tests)."""
    from cdp_sdk.testing._suite import FakeSleep

    return FakeSleep()
