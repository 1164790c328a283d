"""deploy/kubernetes (kustomize; Helm is not installable from the registries this project
uses): rendered by `kubectl kustomize` (the kubectl of this machine), every object validated
against the Kubernetes JSON schemas (kubernetes-validate, strict), and checked against the
worker: probes on its health views, the state volume at DATA_DIR, the settings ConfigMap
holding every setting but the secrets, the ServiceMonitor and the PodDisruptionBudget
selecting the workers."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from app.settings import Settings
from devtools.env_example import KUBERNETES_PATH, SECRETS, render_kubernetes
from tests.deploy_files import DEPLOY, ROOT, read_env_file

KUSTOMIZE = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.32.0"
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        out = subprocess.run(
            [kubectl, "kustomize", str(KUSTOMIZE)], check=True, capture_output=True, text=True
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]
    # Without kubectl: the plain manifests (the kustomization adds labels and the ConfigMap).
    listed = yaml.safe_load((KUSTOMIZE / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in yaml.safe_load_all((KUSTOMIZE / name).read_text()) if doc]


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in rendered()}


def one(objects: dict[tuple[str, str], dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for (k, _), doc in objects.items() if k == kind]
    return found


def test_every_object_validates_against_the_kubernetes_schemas(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    kinds = {kind for kind, _ in objects}
    assert {"StatefulSet", "Service", "Job", "PodDisruptionBudget", "ServiceMonitor"} <= kinds
    for (kind, _), doc in objects.items():
        if (doc["apiVersion"], kind) in CRDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validation_catches_a_wrong_field(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(one(objects, "StatefulSet")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_workers_probe_their_health_views_and_keep_state_on_their_volume(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    settings = read_env_file(KUBERNETES_PATH)
    workers = one(objects, "StatefulSet")
    spec = workers["spec"]
    assert spec["serviceName"] == "sei-processor-headless"
    assert ("Service", spec["serviceName"]) in objects
    (worker,) = spec["template"]["spec"]["containers"]
    assert worker["command"][:4] == ["faust", "-A", "app", "worker"]
    (port,) = worker["ports"]
    assert str(port["containerPort"]) == settings["WEB_PORT"]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/health/live"
    views = (ROOT / "app" / "views" / "service.py").read_text()
    for path in ("/health/ready", "/health/live"):
        assert f'@app.page("{path}")' in views
    (mount,) = worker["volumeMounts"]
    (claim,) = spec["volumeClaimTemplates"]
    assert mount["name"] == claim["metadata"]["name"] and mount["mountPath"] == settings["DATA_DIR"]
    assert int(settings["TABLE_STANDBY_REPLICAS"]) >= 1 and spec["replicas"] > int(
        settings["TABLE_STANDBY_REPLICAS"]
    )
    assert worker["resources"]["requests"]["memory"] and worker["resources"]["limits"]["memory"]
    canonical = {e["name"]: e.get("value") for e in worker["env"]}["WEB_CANONICAL_URL"]
    assert canonical.endswith(f".{spec['serviceName']}:{settings['WEB_PORT']}")
    # The init container waits for the migration Job's result.
    (wait,) = spec["template"]["spec"]["initContainers"]
    assert "alembic current" in " ".join(wait["command"])


def test_jobs_migrate_and_create_topics(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    commands = {
        name: doc["spec"]["template"]["spec"]["containers"][0]["command"]
        for (kind, name), doc in objects.items()
        if kind == "Job"
    }
    assert commands == {
        "sei-processor-migrate": ["alembic", "upgrade", "head"],
        "sei-processor-topics": ["faust", "-A", "app", "topics", "create"],
    }


def test_monitor_and_budget_select_the_workers(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    pod_labels = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    budget = one(objects, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    monitor = one(objects, "ServiceMonitor")
    services = [
        doc for (kind, _), doc in objects.items() if kind == "Service" and not doc["spec"].get("clusterIP")
    ]
    (service,) = [
        s
        for s in services
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_settings_config_map_is_rendered_from_the_settings(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert KUBERNETES_PATH.read_text() == render_kubernetes(), "run `python -m devtools.env_example`"
    values = read_env_file(KUBERNETES_PATH)
    expected = {n.upper() for n in Settings.model_fields if n not in SECRETS and n != "web_canonical_url"}
    assert set(values) == expected
    settings = Settings.model_validate(
        {
            **{k.lower(): v for k, v in values.items() if k.lower() in Settings.model_fields},
            "timescale_url": "postgresql://x@db/sei",
        }
    )
    assert settings.web_bind == "0.0.0.0"
    if shutil.which("kubectl"):
        (config,) = [doc for (kind, _), doc in objects.items() if kind == "ConfigMap"]
        assert config["data"] == values
