"""``cdp init`` writes a workspace file for a connector (flags, or questions on a
terminal); ``cdp check`` reports each problem once; ``cdp sync`` checks first and
creates nothing when the workspace cannot be used."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdp_sdk.cli import _setup
from cdp_sdk.cli._app import app, main
from cdp_sdk.workspace import Workspace

Capture = pytest.CaptureFixture[str]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_with_flags_writes_env_references_readable_by_the_owner_only(
    tmp_path: Path, capsys: Capture
) -> None:
    config = tmp_path / "cdp.toml"
    argv = ["init", "--connector", "jasper", "--account", "us", "--config", str(config)]
    argv += ["--set", "base_url=https://rws.example.com", "--env", "api_key=JASPER_KEY"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "export CDP_US_USERNAME=..." in err
    assert "export JASPER_KEY=..." in err
    assert _mode(config) == 0o600
    data = tomllib.loads(config.read_text())
    assert data["accounts"]["us"] == {
        "connector": "jasper",
        "base_url": "https://rws.example.com",
        "username": "env:CDP_US_USERNAME",
        "api_key": "env:JASPER_KEY",
    }
    # Another account is added to the same file, which keeps what it held.
    assert main(["init", "--connector", "emnify", "-a", "eu", "--config", str(config)]) == 0
    workspace = Workspace.load(config)
    assert workspace.names == ["eu", "us"]
    assert workspace.account("eu").settings == {"application_token": "env:CDP_EU_APPLICATION_TOKEN"}
    assert "# A cdp-sdk workspace (written by `cdp init`)" in config.read_text()


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--connector", "nope"], "no connector named 'nope'"),
        (["--connector", "emnify", "--set", "application_token=s3cret"], "is a secret"),
        (["--connector", "emnify", "--set", "colour=red"], "no setting 'colour'"),
        (["--connector", "emnify", "--env", "token"], "is not KEY=VALUE"),
        ([], "pass --connector (no terminal to ask on)"),
    ],
)
def test_init_refuses_what_it_cannot_write(
    tmp_path: Path, capsys: Capture, argv: list[str], why: str
) -> None:
    config = tmp_path / "cdp.toml"
    assert main(["init", *argv, "--config", str(config)]) == 2
    assert why in capsys.readouterr().err
    assert not config.exists()


def test_init_never_replaces_an_account(tmp_path: Path, capsys: Capture) -> None:
    config = tmp_path / "cdp.toml"
    assert main(["init", "--connector", "sandbox", "--config", str(config)]) == 0
    before = config.read_text()
    assert main(["init", "--connector", "sandbox", "--config", str(config)]) == 2
    assert "already has an account 'sandbox'" in capsys.readouterr().err
    assert config.read_text() == before


def test_init_asks_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_setup, "INTERACTIVE", lambda: True)
    config = tmp_path / "cdp.toml"
    answers = "\n".join(
        [
            "jasper",  # connector
            "us-east",  # account
            "https://rws.example.com",  # base_url (a value)
            "",  # username: the proposed env:CDP_US_EAST_USERNAME
            "JASPER_API_KEY",  # api_key is a secret: only a variable name is asked
            "store.db",  # database
        ]
    )
    result = CliRunner().invoke(app, ["init", "--config", str(config)], input=answers + "\n")
    assert result.exit_code == 0, result.output
    assert "api_key is a secret: the environment variable to read it from" in result.stdout
    assert _mode(config) == 0o600
    data = tomllib.loads(config.read_text())
    assert data["database"] == "store.db"
    assert data["accounts"]["us-east"] == {
        "connector": "jasper",
        "base_url": "https://rws.example.com",
        "username": "env:CDP_US_EAST_USERNAME",
        "api_key": "env:JASPER_API_KEY",
    }


def _broken_workspace(tmp_path: Path) -> Path:
    config = tmp_path / "cdp.toml"
    config.write_text(
        "database = 'cdp.db'\n\n"
        "[accounts.eu]\nconnector = 'emnify'\napplication_token = 'env:CDP_TEST_UNSET_TOKEN'\n"
        "timeout = -1\n\n"
        "[accounts.x]\nconnector = 'nope'\n\n"
        "[accounts.lab]\nconnector = 'sandbox'\n"
    )
    config.chmod(0o600)
    return config


def test_check_reports_each_problem_once(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDP_TEST_UNSET_TOKEN", raising=False)
    config = _broken_workspace(tmp_path)
    assert main(["check", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: {config}: account 'eu': setting 'application_token' reads the environment "
        "variable 'CDP_TEST_UNSET_TOKEN', which is not set",
        f"error: {config}: account 'eu': setting 'timeout': Input should be greater than 0",
        f"error: {config}: account 'x': no connector named 'nope'; installed connectors: "
        + err.split("installed connectors: ")[1].splitlines()[0],
    ]
    assert main(["check", "--config", str(config), "-a", "lab"]) == 0
    assert capsys.readouterr().out == f"{config}: 1 account(s) ready to sync: lab (sandbox)\n"


def test_check_names_a_missing_file_and_bad_toml(tmp_path: Path, capsys: Capture) -> None:
    assert main(["check", "--config", str(tmp_path / "none.toml")]) == 2
    assert "no such workspace file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[accounts.eu\n")
    assert main(["check", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_sync_checks_first_and_creates_no_store_and_no_run(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDP_TEST_UNSET_TOKEN", raising=False)
    config = _broken_workspace(tmp_path)
    assert main(["sync", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("CDP_TEST_UNSET_TOKEN") == 1  # once, not once per entity
    assert len(err.splitlines()) == 3
    assert not (tmp_path / "cdp.db").exists()
    # The accounts that can be synced can still be chosen.
    assert main(["sync", "--config", str(config), "-a", "lab", "-e", "subscriptions"]) == 0
    assert (tmp_path / "cdp.db").exists()


def test_init_then_check_then_sync(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cdp.toml"
    argv = ["init", "--connector", "sandbox", "-a", "lab", "--config", str(config)]
    assert main([*argv, "--database", "lab.db"]) == 0
    assert main(["check", "--config", str(config)]) == 0
    assert main(["sync", "-q", "--config", str(config), "-e", "subscriptions"]) == 0
    assert (tmp_path / "lab.db").exists()
    capsys.readouterr()
