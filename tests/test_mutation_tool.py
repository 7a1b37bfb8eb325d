"""``tools/mutation.py``: which code each target mutates and which tests it runs.

The mutation runs themselves are too slow for the suite (see docs/development.md); these
tests keep the targets right as connectors and test files come and go.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("cdp_mutation_tool", ROOT / "tools/mutation.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_every_connector_mapping_is_a_target(tool: ModuleType) -> None:
    targets = tool.targets()
    mappings = sorted(p.parent.name for p in (ROOT / "src/cdp_sdk/connectors").glob("*/mapping.py"))
    assert mappings
    for folder in mappings:
        target = targets[folder]
        assert target.mutate == (f"src/cdp_sdk/connectors/{folder}/mapping.py",)
        assert "tests/test_mapping.py" in target.test_files()
        assert any(name.startswith(f"tests/test_{folder}_") for name in target.test_files()) or (
            folder == "onence"
        )
    assert [t.name for t in tool.resolve(["mappings"], [])] == mappings


def test_a_connector_is_found_by_its_entry_point_name_too(tool: ModuleType) -> None:
    onence = tool.targets()["onence"]
    assert "tests/test_1nce_mapping.py" in onence.test_files()
    assert "tests/test_1nce_respx.py" in onence.test_files()


def test_the_sync_and_http_targets(tool: ModuleType) -> None:
    targets = tool.targets()
    sync = targets["sync"].test_files()
    assert "tests/test_sync_resume.py" in sync
    assert "tests/test_sync_crash.py" not in sync  # its sync runs in a child process
    assert targets["sync"].mutate == ("src/cdp_sdk/sync/*",)
    http = set(targets["http"].test_files())
    assert {"tests/test_http_client.py", "tests/test_paginate.py"} <= http
    assert "tests/test_tls_settings.py" in http


def test_a_path_target_needs_its_tests(tool: ModuleType) -> None:
    [target] = tool.resolve(["src/cdp_sdk/http/_retry.py"], ["tests/test_retry.py"])
    assert (target.name, target.mutate, target.test_files()) == (
        "http._retry",
        ("src/cdp_sdk/http/_retry.py",),
        ["tests/test_retry.py"],
    )
    [folder] = tool.resolve(["src/cdp_sdk/changes/"], ["tests/test_changes_plan.py"])
    assert folder.mutate == ("src/cdp_sdk/changes/*",)
    with pytest.raises(SystemExit, match="needs --tests"):
        tool.resolve(["src/cdp_sdk/http/_retry.py"], [])
    with pytest.raises(SystemExit, match="unknown target"):
        tool.resolve(["nowhere"], [])


def test_the_score_counts_timeouts_as_killed_and_untested_code_as_surviving(
    tool: ModuleType,
) -> None:
    counts = Counter({"killed": 6, "timeout": 2, "survived": 1, "no tests": 1, "skipped": 5})
    assert tool.score(counts) == (8, 10, 80.0)
    assert tool.score(Counter({"not checked": 3})) == (0, 0, 0.0)  # a run that did not run


def test_a_stopped_run_resumes_with_the_mutants_not_tested_yet(
    tool: ModuleType, tmp_path: Path
) -> None:
    """mutmut keeps a result per mutant as it goes; a run stopped at the time limit leaves
    the rest unchecked, and the next run (``--only``) is given exactly those."""
    pytest.importorskip("mutmut", reason="mutmut comes with the dev extra")
    meta = tmp_path / "mutants/src/cdp_sdk/http/_retry.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {
        "cdp_sdk.http._retry.x_delay__mutmut_1": 1,  # killed
        "cdp_sdk.http._retry.x_delay__mutmut_2": 0,  # survived
        "cdp_sdk.http._retry.x_delay__mutmut_3": None,  # not reached before the stop
        "cdp_sdk.http._retry.x_attempts__mutmut_1": None,
        "cdp_sdk.http._retry.x_attempts__mutmut_2": 36,  # timeout
    }
    meta.write_text(json.dumps({"exit_code_by_key": codes}))

    assert tool.unchecked(tmp_path, ["cdp_sdk.http._retry.x_delay*"]) == [
        "cdp_sdk.http._retry.x_delay__mutmut_3"
    ]
    assert sorted(tool.unchecked(tmp_path, ["cdp_sdk.http.*"])) == [
        "cdp_sdk.http._retry.x_attempts__mutmut_1",
        "cdp_sdk.http._retry.x_delay__mutmut_3",
    ]
    # Without --only, mutmut itself skips every mutant that has a result.
    assert tool.unchecked(tmp_path, []) == []
    statuses = tool.statuses(tmp_path)["src/cdp_sdk/http/_retry.py"]
    assert tool.score(Counter(statuses.values())) == (2, 3, 200 / 3)
