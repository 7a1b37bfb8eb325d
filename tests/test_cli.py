"""The ``cdp`` command line."""

from __future__ import annotations

import json

import pytest

import cdp_sdk
from cdp_sdk.__main__ import _serve, main
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
    header, *rows = out.split("\n\n")[0].splitlines()
    assert header.split()[:3] == ["connector", "subscriptions", "incremental"]
    [row] = [line for line in rows if line.startswith("toy ")]
    assert row.split()[1:].count("yes") == 6
    [sandbox] = [line for line in rows if line.startswith("sandbox ")]
    assert sandbox.split()[1:].count("yes") == 9
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


def test_demo_summarizes_the_sandbox_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--size", "60", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "SIMs by status (60 in all)" in out
    counts = out.split("SIMs by status")[1].split("Usage")[0].splitlines()[1:]
    assert sum(int(line.split()[-1]) for line in counts if line.strip()) == 60
    assert "GB" in out
    assert "messages" in out
    assert "INV-2024" in out
    assert "status:" in out


def test_sandbox_serve_answers_on_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[int] = []

    def probe(url: str) -> None:
        assert url.startswith("http://127.0.0.1:")
        with cdp_sdk.connect("sandbox", base_url=url) as sandbox:
            seen.append(len(list(sandbox.subscriptions())))

    assert _serve(12, 1, 0, wait=probe) == 0
    assert seen == [12]
    assert "Sandbox API on http://127.0.0.1:" in capsys.readouterr().out


def test_errors_are_one_line_and_exit_non_zero(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cdp_sdk.__main__ as cli

    def broken(*args: object, **kwargs: object) -> object:
        raise cdp_sdk.AuthenticationError("login refused", connector="sandbox")

    monkeypatch.setattr(cli, "connect", broken)
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: login refused (connector=sandbox)"
