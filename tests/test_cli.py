"""The ``cdp`` command line: connectors, help, version, errors, ``--debug``, sandbox serve.

The store commands are in ``test_cli_store.py``, the demo in ``test_cli_demo.py``. Helpers
here (``cdp``, ``table_rows``) are shared with them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import cdp_sdk
from cdp_sdk.__main__ import main as entry_point
from cdp_sdk.cli import _app
from cdp_sdk.cli._app import Emulated, app, main
from cdp_sdk.cli._platforms import PLATFORMS, platform
from conftest import InstallPlugins


def cdp(*args: str | Path) -> Result:
    """Run ``cdp args...`` in-process (typer's CliRunner); stdout and stderr apart."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def table_rows(output: str) -> list[list[str]]:
    """The body rows of every rich table in ``output``, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def table_header(output: str) -> list[str]:
    """The header cells of the first rich table in ``output``."""
    line = next(line for line in output.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip().strip("┃").split("┃")]


# -- connectors -------------------------------------------------------------------------------


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
    [soracom] = [line for line in rows if line.startswith("soracom ")]
    capabilities = header.split()[1:]
    marks = dict(zip(capabilities, soracom.split()[1:], strict=True))
    assert marks["tariffs"] == "-"
    assert marks["invoices"] == "yes"
    assert "Toy platform (tests) (cdp-sdk-test-plugins 1.0)" in out
    assert "'broken'" in err
    assert "missing dependency" in err
    assert err.startswith("warning: ")


def test_connectors_json(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    result = cdp("connectors", "--json")
    assert result.exit_code == 0
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert set(listed["toy"]["capabilities"]) >= {"subscriptions", "incremental", "usage"}
    assert {p.connector for p in PLATFORMS} <= set(listed)


# -- help, version, usage errors ----------------------------------------------------------------


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("connectors", "sync", "sims", "usage", "invoices", "events", "export"):
        assert command in out
    for command in ("tags", "purge", "sandbox", "demo"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"cdp-sdk {cdp_sdk.__version__}\n"


def test_usage_errors_are_one_line_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sims", "--bogus"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: No such option: --bogus (see 'cdp sims --help')\n"
    assert main(["sims", "--iccid", "123"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: Invalid value for --iccid: not a valid ICCID")
    assert main(["sandbox", "serve", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'nowhere' is not one of" in err


def test_without_typer_and_rich_cdp_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "typer", None)  # find_spec() answers None: not installed
    assert entry_point(["connectors"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: the cdp command needs typer: pip install 'cdp-iot-sdk[cli]'\n"


def test_python_dash_m_runs_the_same_command_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_sdk", "sims", "--db", str(tmp_path / "none.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2  # an input that cannot be used: nothing was read or written
    assert done.stdout == ""
    assert done.stderr == (
        f"error: Invalid value for --db: no store at {tmp_path / 'none.db'}: run `cdp sync` "
        "(or `cdp demo`) first, or pass --db (see 'cdp sims --help')\n"
    )
    assert not (tmp_path / "none.db").exists()  # reading never creates a store


# -- errors and --debug -------------------------------------------------------------------------


def _refuse_login(*args: object, **kwargs: object) -> list[object]:
    raise cdp_sdk.AuthenticationError("login refused", connector="sandbox")


def test_errors_are_one_line_and_exit_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_app, "available_connectors", _refuse_login)
    assert main(["connectors"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: login refused (connector=sandbox)\n"


def test_debug_shows_the_traceback_anywhere_on_the_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_app, "available_connectors", _refuse_login)
    for argv in (["--debug", "connectors"], ["connectors", "--debug"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("Traceback (most recent call last):")
        assert "in _refuse_login" in err
        assert err.endswith("\nerror: login refused (connector=sandbox)\n")


def test_unexpected_errors_name_their_type(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> list[object]:
        raise KeyError("capabilities")

    monkeypatch.setattr(_app, "available_connectors", broken)
    assert main(["connectors"]) == 1
    assert capsys.readouterr().err == (
        "error: unexpected KeyError: 'capabilities' (rerun with --debug for the traceback)\n"
    )
    assert main(["--debug", "connectors"]) == 1  # the traceback is printed: no hint
    assert capsys.readouterr().err.endswith("\nerror: unexpected KeyError: 'capabilities'\n")


def test_debug_logs_are_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    iccid = "8988303000000012345"

    def logs_an_identifier() -> list[object]:
        import logging

        logging.getLogger("cdp_sdk").debug("GET /v1/sims/%s", iccid)
        return []

    monkeypatch.setattr(_app, "available_connectors", logs_an_identifier)
    assert main(["--debug", "connectors"]) == 0
    err = capsys.readouterr().err
    assert "DEBUG cdp_sdk: GET /v1/sims/<id:" in err
    assert iccid not in err


# -- sandbox serve ------------------------------------------------------------------------------


def _settings_of(output: str) -> dict[str, str]:
    """The ``key = "value"`` lines that ``cdp sandbox serve`` prints, as settings."""
    settings = {}
    for line in output.splitlines():
        key, equals, value = line.strip().partition(" = ")
        if equals and not key.startswith("["):
            settings[key] = json.loads(value)
    settings.pop("connector")
    return settings


def test_every_built_in_emulator_can_be_served() -> None:
    assert [p.connector for p in PLATFORMS] == [e.value for e in Emulated]


@pytest.mark.parametrize("name", [p.connector for p in PLATFORMS])
def test_sandbox_serve_answers_on_loopback_with_the_printed_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[tuple[str, int]] = []

    def probe(url: str) -> None:  # runs while the emulator serves
        assert url.startswith("http://127.0.0.1:")
        settings = {**platform(name).settings(url), **platform(name).client_settings}
        served.append((url, _count_sims(name, settings)))

    monkeypatch.setattr(_app, "WAIT", probe)
    result = cdp("sandbox", "serve", name, "--port", "0", "--size", "12", "--seed", "3")
    assert result.exit_code == 0, result.output
    [(url, sims)] = served
    assert 0 < sims <= 12
    assert f"{name} emulator on {url} (12 synthetic SIMs, seed 3" in result.stdout
    assert f"[accounts.local-{name}]" in result.stdout
    assert _settings_of(result.stdout) == platform(name).settings(url)
    assert result.stdout.rstrip().endswith("stopped")


def _count_sims(name: str, settings: Mapping[str, Any]) -> int:
    with cdp_sdk.connect(name, **settings) as platform:
        return len(list(platform.subscriptions()))


def test_sandbox_serve_runs_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cdp_sdk", "sandbox", "serve", "emnify", "--port=0", "--size=7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("In Python:"):
                break
        settings = _settings_of("".join(lines))
        assert settings["base_url"].startswith("http://127.0.0.1:")
        assert _count_sims("emnify", settings) > 0
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
