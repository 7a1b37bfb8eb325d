"""The example deployment files (``deploy/``): valid YAML, consistent with each other and
with ``cdp_sdk.sync.celery``. There is no container engine here to run them; this is what
can be checked without one."""

from __future__ import annotations

import re
import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_sdk.workspace import BaseWorkspace

celery = pytest.importorskip("cdp_sdk.sync.celery")

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
APP = ["-A", "cdp_sdk.sync.celery"]


def documents(path: Path) -> list[dict[str, Any]]:
    found = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert found, path
    return found


def kubernetes() -> dict[tuple[str, str], dict[str, Any]]:
    """Every Kubernetes object of deploy/kubernetes by (kind, name)."""
    objects = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in documents(path):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, key
            objects[key] = doc
    return objects


def environment_of(toml_text: str) -> dict[str, str]:
    """A value for every env: reference of a workspace file (as a deployment provides)."""
    names = re.findall(r'"env:([A-Za-z_][A-Za-z0-9_]*)"', toml_text)
    values = dict.fromkeys(names, "x")
    values["CDP_BROKER_URL"] = "redis://:pw@cdp-redis:6379/0"
    return values


def check_workspace(text: str, tmp_path: Path) -> Any:
    config = tmp_path / "cdp.toml"
    config.write_text(text)
    config.chmod(0o600)
    settings = celery.load_settings(config, environ=environment_of(text))
    workspace = BaseWorkspace.load(config)
    assert settings.broker.startswith("redis://")
    assert settings.database.startswith("postgresql://")
    assert "@" in settings.database
    assert ":" not in settings.database.split("//", 1)[1].split("@", 1)[0]  # no password
    for account in workspace.accounts.values():  # every secret setting is an env: reference
        for setting in account.secret_settings():
            if setting in account.settings:
                assert str(account.settings[setting]).startswith("env:"), setting
    assert settings.schedule
    return settings


def test_the_example_workspace_file_is_valid(tmp_path: Path) -> None:
    settings = check_workspace((DEPLOY / "cdp.toml").read_text(), tmp_path)
    every = {entry.name: entry.every for entry in settings.schedule}
    assert every == {
        "cdp-sync acme-eu usage+audit_events": timedelta(hours=1),
        "cdp-sync acme-eu subscriptions+activation_modes+tariffs+invoices": timedelta(hours=6),
        "cdp-sync acme-us": timedelta(hours=2),  # its own interval, for every entity
        "cdp-sync globex usage+audit_events": timedelta(hours=1),
        "cdp-sync globex subscriptions+activation_modes+tariffs+invoices": timedelta(hours=6),
    }
    assert settings.lease < settings.visibility_timeout


def test_compose_runs_workers_and_one_beat_on_the_same_workspace_file() -> None:
    [compose] = documents(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"redis", "postgres", "worker", "beat", "worker-cli"}
    for name in ("worker", "beat"):
        service = services[name]
        assert service["volumes"] == ["./cdp.toml:/etc/cdp/cdp.toml:ro"]
        assert service["environment"]["CDP_CONFIG"] == "/etc/cdp/cdp.toml"
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
        # Secrets come from .env, never written in the file.
        for key, value in service["environment"].items():
            if key != "CDP_CONFIG":
                assert "${" in value, key
    assert services["worker"]["command"][0] == "worker"
    assert services["beat"]["command"][0] == "beat"
    assert "replicas" not in services["beat"].get("deploy", {})
    assert services["worker-cli"]["entrypoint"] == ["cdp"]
    assert services["worker-cli"]["command"] == ["sync", "--on", "celery"]
    env_example = (DEPLOY / "env.example").read_text()
    for variable in re.findall(r"\$\{([A-Z_]+)", (DEPLOY / "compose.yaml").read_text()):
        assert f"\n{variable}=" in f"\n{env_example}", variable
    for variable in environment_of((DEPLOY / "cdp.toml").read_text()):
        if variable != "CDP_BROKER_URL":
            assert f"\n{variable}=" in f"\n{env_example}", variable


def test_the_image_runs_celery_on_the_app_of_cdp_config() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert '"cdp-iot-sdk[celery,postgres,cli]"' in dockerfile
    assert 'ENTRYPOINT ["celery", "-A", "cdp_sdk.sync.celery"]' in dockerfile
    assert "ENV CDP_CONFIG=/etc/cdp/cdp.toml" in dockerfile
    assert "USER cdp" in dockerfile


def test_kubernetes_manifests_hang_together(tmp_path: Path) -> None:
    objects = kubernetes()
    assert set(objects) == {
        ("ConfigMap", "cdp-config"),
        ("Secret", "cdp-secrets"),
        ("Deployment", "cdp-worker"),
        ("Deployment", "cdp-beat"),
        ("PodDisruptionBudget", "cdp-worker"),
    }
    config = objects["ConfigMap", "cdp-config"]["data"]["cdp.toml"]
    check_workspace(config, tmp_path)
    secret = objects["Secret", "cdp-secrets"]["stringData"]
    assert set(secret.values()) <= {"CHANGE-ME", "redis://:CHANGE-ME@cdp-redis:6379/0"}
    needed = set(environment_of(config)) | {"PGPASSWORD"}
    assert needed <= set(secret)
    for name in ("cdp-worker", "cdp-beat"):
        deployment = objects["Deployment", name]
        spec = deployment["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        [container] = pod["containers"]
        env = {item["name"]: item for item in container["env"]}
        assert env["CDP_CONFIG"]["value"] == "/etc/cdp/cdp.toml"
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["config"] == {"name": "config", "mountPath": "/etc/cdp", "readOnly": True}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["config"]["configMap"]["name"] == "cdp-config"
        assert "memory" in container["resources"]["limits"]
    worker = objects["Deployment", "cdp-worker"]["spec"]
    [container] = worker["template"]["spec"]["containers"]
    assert container["args"][0] == "worker"
    assert container["envFrom"] == [{"secretRef": {"name": "cdp-secrets"}}]
    assert worker["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    beat = objects["Deployment", "cdp-beat"]["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}
    [container] = beat["template"]["spec"]["containers"]
    assert container["args"][0] == "beat"
    assert "envFrom" not in container  # beat gets the broker only, no account secret
    assert {e["name"] for e in container["env"]} == {"CDP_CONFIG", "CDP_BROKER_URL"}
    pdb = objects["PodDisruptionBudget", "cdp-worker"]["spec"]
    assert pdb["selector"]["matchLabels"] == worker["selector"]["matchLabels"]


def test_worker_arguments_are_ones_celery_accepts() -> None:
    """The worker and beat arguments of every file parse with Celery's own command line."""
    from celery.bin.celery import celery as command

    objects = kubernetes()
    [compose] = documents(DEPLOY / "compose.yaml")
    lines = [
        objects["Deployment", "cdp-worker"]["spec"]["template"]["spec"]["containers"][0]["args"],
        objects["Deployment", "cdp-beat"]["spec"]["template"]["spec"]["containers"][0]["args"],
        compose["services"]["worker"]["command"],
        compose["services"]["beat"]["command"],
    ]
    for args in lines:
        sub = command.commands[args[0]]
        options = {name: param for param in sub.params for name in param.opts}
        rest = list(args[1:])
        while rest:
            name = rest.pop(0)
            assert name in options, shlex.join(args)
            param = options[name]
            if getattr(param, "is_flag", False):
                continue
            value = rest.pop(0)
            choices = getattr(param.type, "choices", None)
            assert choices is None or value in choices, shlex.join(args)
            if param.type.name == "integer":
                assert int(value) > 0
