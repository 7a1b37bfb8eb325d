"""The ``cdp`` command line."""

from __future__ import annotations

import json

import pytest

from cdp_sdk.__main__ import main
from conftest import InstallPlugins


def test_connectors_table_lists_capabilities(
    install_plugins: InstallPlugins, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugins(
        {"toy": "toy_connector:ToyConnector", "broken": "broken_cli:X"},
        modules={"broken_cli": "raise ImportError('missing dependency')\n"},
    )
    assert main(["connectors"]) == 0
    out, err = capsys.readouterr()
    header, row = out.splitlines()[:2]
    assert header.split() == ["connector", *header.split()[1:]]
    assert "incremental" in header
    assert row.startswith("toy")
    assert row.split()[1:].count("yes") == 6
    assert "Toy platform (tests) (cdp-sdk-test-plugins 1.0)" in out
    assert "'broken'" in err
    assert "missing dependency" in err


def test_connectors_json(
    install_plugins: InstallPlugins, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    assert main(["connectors", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert set(listed["toy"]["capabilities"]) >= {"subscriptions", "incremental", "usage"}


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "connectors" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("cdp-sdk ")
