"""``cdp plugin new``: the package it writes installs on its own and passes its own suite."""

from __future__ import annotations

import importlib.util
import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_sdk.cli._app import main
from cdp_sdk.cli._scaffold import Scaffold


def test_the_package_has_every_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "acme"
    assert main(["plugin", "new", "acme-iot", "--dir", str(target), "--title", "ACME IoT"]) == 0
    out, err = capsys.readouterr()
    written = {Path(line).relative_to(target).as_posix() for line in out.splitlines()}
    assert written == {
        "pyproject.toml",
        "README.md",
        "docs/acme-iot.md",
        "src/cdp_sdk_acme_iot/__init__.py",
        "src/cdp_sdk_acme_iot/py.typed",
        "src/cdp_sdk_acme_iot/connector.py",
        "src/cdp_sdk_acme_iot/mapping.py",
        "src/cdp_sdk_acme_iot/emulator.py",
        "tests/test_conformance.py",
        "tests/test_respx.py",
    }
    assert "python3 -m pip install -e '.[test]' && python3 -m pytest" in err
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points."cdp_sdk.connectors"]' in pyproject
    assert 'acme-iot = "cdp_sdk_acme_iot:AcmeIotConnector"' in pyproject
    assert 'name = "cdp-sdk-acme-iot"' in pyproject
    connector = (target / "src/cdp_sdk_acme_iot/connector.py").read_text()
    assert 'title = "ACME IoT"' in connector
    assert "OffsetPaginator" in connector


@pytest.mark.parametrize("name", ["Acme", "1acme", "acme!", "class", "a" * 41])
def test_a_name_that_cannot_be_a_connector_is_a_usage_error(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugin", "new", name, "--dir", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("error: Invalid value for NAME: ")
    assert not (tmp_path / "x").exists()


def test_an_existing_directory_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["plugin", "new", "acme", "--dir", str(tmp_path)]) == 2
    assert "is not an empty directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_names_of_the_package() -> None:
    plan = Scaffold.of("acme_iot")
    assert (plan.package, plan.distribution, plan.klass) == (
        "cdp_sdk_acme_iot",
        "cdp-sdk-acme-iot",
        "AcmeIot",
    )
    assert plan.title == "Acme Iot"


def _install(python: Path) -> list[str] | None:
    """The command that installs into ``python``'s environment: pip's, else uv's."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", "--python", str(python), "install"]
    if pip := shutil.which("pip"):
        return [pip, "--python", str(python), "install"]
    if uv := shutil.which("uv"):
        return [uv, "pip", "install", "--python", str(python)]
    return None


def test_the_package_installs_and_passes_its_own_suite(tmp_path: Path) -> None:
    """Scaffold, pip install into a throw-away virtual environment (which sees this one's
    packages, cdp-sdk included, but installs the new one in its own), run its tests."""
    assert importlib.util.find_spec("hatchling") is not None, "needs the test extra"
    assert main(["--quiet", "plugin", "new", "acme", "--dir", str(tmp_path / "pkg")]) == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = site.getsitepackages()[0]
    Path(own, "_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    install = _install(python)
    if install is None:
        pytest.skip("no pip or uv to install with")
    installed = subprocess.run(
        [
            *install,
            "--no-deps",
            "--no-build-isolation",
            str(tmp_path / "pkg"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr

    suite = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path / "pkg",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert " passed" in suite.stdout
    assert "failed" not in suite.stdout

    listed = subprocess.run(
        [str(python), "-m", "cdp_sdk", "connectors", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    [acme] = [entry for entry in json.loads(listed.stdout) if entry["name"] == "acme"]
    assert (acme["distribution"], acme["capabilities"]) == ("cdp-sdk-acme", ["subscriptions"])
    # installed in the throw-away environment only, never in this one
    assert importlib.util.find_spec("cdp_sdk_acme") is None
