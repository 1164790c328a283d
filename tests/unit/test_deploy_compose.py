"""docker-compose.yml against the Compose specification (its JSON schema, vendored from
compose-spec/compose-spec) and against the worker it runs: every setting of app.settings
reaches every worker with the worker's own default, the resolved environments validate, the
healthchecks and Prometheus' targets use the port the workers listen on, and .env.example
is what devtools.env_example renders."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from app.settings import Settings
from devtools.env_example import PATH as ENV_EXAMPLE
from devtools.env_example import STACK_ONLY, render, setting_default
from tests.deploy_files import DEPLOY, ROOT, interpolate, load_yaml, read_env_file, reference_defaults

COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "schemas" / "compose-spec.json"
WORKERS = ("worker-1", "worker-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)  # type: ignore[no-any-return]


def stack_env() -> dict[str, str]:
    """.env.example with the two values an operator must set."""
    return {**read_env_file(ENV_EXAMPLE), "POSTGRES_PASSWORD": "secret", "GRAFANA_ADMIN_PASSWORD": "admin"}


def resolved(environment: dict[str, Any]) -> dict[str, str]:
    env = stack_env()
    return {name: interpolate(str(value), env) for name, value in environment.items()}


def test_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(compose)


def test_the_schema_check_catches_a_malformed_service() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = {"services": {"w": {"image": "x", "depends_on": {"db": {"condition": "service_finished"}}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_env_example_lists_every_setting_as_rendered() -> None:
    assert ENV_EXAMPLE.read_text() == render(), "run `python -m devtools.env_example`"
    listed = read_env_file(ENV_EXAMPLE)
    assert {name.upper() for name in Settings.model_fields} | set(STACK_ONLY) == set(listed)


@pytest.mark.parametrize("service", [*WORKERS, "migrate", "topics"])
def test_every_setting_reaches_the_service_with_the_workers_default(
    compose: dict[str, Any], service: str
) -> None:
    environment = compose["services"][service]["environment"]
    expected = {name.upper() for name in Settings.model_fields}
    if service not in WORKERS:  # one-shot commands serve no one
        expected.discard("WEB_CANONICAL_URL")
    assert expected <= set(environment), f"{service} misses {sorted(expected - set(environment))}"
    assert set(environment) == expected
    for name, value in environment.items():
        for referenced, default in reference_defaults(str(value)).items():
            if referenced.lower() in Settings.model_fields:
                assert referenced == name, f"{name} reads ${{{referenced}}}"
                assert default == setting_default(name.lower()), f"{name}: compose says {default!r}"
    # The resolved environment is one the worker accepts.
    values = {k.lower(): v for k, v in resolved(environment).items() if k.lower() in Settings.model_fields}
    settings = Settings.model_validate(values)
    assert settings.timescaledb == "on"
    assert settings.web_bind == "0.0.0.0" and str(settings.data_dir) == "/data"


def test_workers_wait_for_migrations_and_topics_and_keep_their_own_state(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["topics"]["command"] == ["faust", "-A", "app", "topics", "create"]
    volumes = set()
    for name in WORKERS:
        worker = services[name]
        assert worker["command"][:4] == ["faust", "-A", "app", "worker"]
        assert worker["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert worker["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
        env = resolved(worker["environment"])
        (mount,) = worker["volumes"]
        volume, _, target = mount.partition(":")
        assert target == env["DATA_DIR"] and volume in compose["volumes"]
        volumes.add(volume)
        probe = " ".join(worker["healthcheck"]["test"])
        assert f"http://127.0.0.1:{env['WEB_PORT']}/health/ready" in probe
        assert env["WEB_CANONICAL_URL"] == f"http://{name}:{env['WEB_PORT']}"
    assert len(volumes) == len(WORKERS)  # RocksDB locks its directory: one volume per worker
    # The views the probes call exist.
    views = (ROOT / "app" / "views" / "service.py").read_text()
    assert '@app.page("/health/ready")' in views and '@app.page("/health/live")' in views
    for service in ("kafka", "timescaledb", "redis"):
        assert "healthcheck" in services[service]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")


def test_prometheus_scrapes_every_worker_and_grafana_is_provisioned(compose: dict[str, Any]) -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {
        f"{name}:{resolved(compose['services'][name]['environment'])['WEB_PORT']}" for name in WORKERS
    }
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert (DEPLOY / "prometheus" / "alerts.yml").is_file()
    grafana = compose["services"]["grafana"]
    mounts = {m.split(":")[1] for m in grafana["volumes"]}
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards"} <= mounts
    sources = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yml")[
        "datasources"
    ]
    assert {s["uid"] for s in sources} == {"prometheus", "timescaledb"}
    timescale = next(s for s in sources if s["uid"] == "timescaledb")
    url = resolved(compose["services"]["migrate"]["environment"])["TIMESCALE_URL"]
    assert re.search(r"@(.+)/(\w+)$", url).groups() == (timescale["url"], timescale["jsonData"]["database"])  # type: ignore[union-attr]


def test_the_image_holds_every_shipped_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    include = re.search(r"include = \[([^\]]+)\]", (ROOT / "pyproject.toml").read_text())
    assert include is not None
    for package in re.findall(r'"(\w+)\*"', include[1]):
        assert f"COPY {package} ./{package}" in dockerfile, f"the image lacks {package}/"
