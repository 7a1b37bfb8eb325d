"""The pytest plugin cdp-sdk registers through the ``pytest11`` entry point."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_live_tests_run_only_on_request(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.cdp_live
        def test_calls_a_real_platform():
            pass

        def test_offline(cdp_fake_sleep):
            assert cdp_fake_sleep.calls == []
        """
    )
    offline = pytester.runpytest()  # the plugin loads through its pytest11 entry point
    offline.assert_outcomes(passed=1, skipped=1)
    live = pytester.runpytest("--cdp-live")
    live.assert_outcomes(passed=2)
