"""The compose "observability" profile, checked statically (Docker cannot run here).

Its images, the configuration files it mounts, the collector the services send spans to, what
Prometheus scrapes (every rover service on its metrics setting's port, and EventStoreDB), and
the "Rover" dashboard and alert rules: every metric they name is one the system defines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.common.tracing_setup import tracer_provider_from_env
from tests.e2e.compose_file import (
    OURS,
    PINNED,
    ROOT,
    SERVICES,
    bind_mounts,
    interpolate,
    module,
)
from tests.e2e.metric_names import (
    EVENTSTOREDB_METRICS,
    ROVER_METRICS,
    defined,
    metric_names,
)

PROFILE = "observability"
DEPLOY = ROOT / "deploy" / "observability"
OFFICIAL_IMAGES = {
    "otel-collector": ("otel/opentelemetry-collector-contrib", "otel/opentelemetry-collector"),
    "jaeger": ("jaegertracing/all-in-one",),
    "prometheus": ("prom/prometheus",),
    "grafana": ("grafana/grafana", "grafana/grafana-oss"),
}


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _mounted(service: str, container_path: str) -> Path:
    mounts = bind_mounts(SERVICES[service])
    assert container_path in mounts, f"{service} mounts nothing at {container_path}"
    return mounts[container_path]


def _collector_config() -> str:
    (config,) = [a for a in SERVICES["otel-collector"]["command"] if a.startswith("--config=")]
    return str(config).removeprefix("--config=")


PROMETHEUS: dict[str, Any] = _load(_mounted("prometheus", "/etc/prometheus/prometheus.yml"))
COLLECTOR: dict[str, Any] = _load(_mounted("otel-collector", _collector_config()))
DASHBOARDS_IN_GRAFANA = "/etc/grafana/dashboards"
DASHBOARDS = _mounted("grafana", DASHBOARDS_IN_GRAFANA)
PROVISIONING = _mounted("grafana", "/etc/grafana/provisioning")
ROVER_DASHBOARD: dict[str, Any] = _load(DASHBOARDS / "rover.json")
JOBS: dict[str, dict[str, Any]] = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}


def _in_profile(name: str) -> bool:
    return PROFILE in SERVICES[name].get("profiles", [])


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(entry).rsplit(":", 1)[-1]) for entry in service.get("ports", [])}


def _host_port(address: str) -> tuple[str, int]:
    split = urlsplit(address if "://" in address else f"tcp://{address}")
    assert split.hostname is not None, address
    assert split.port is not None, address
    return split.hostname, split.port


def _under(node: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a parsed JSON or YAML document."""
    if isinstance(node, dict):
        found = [node[key]] if key in node else []
        return found + [v for value in node.values() for v in _under(value, key)]
    if isinstance(node, list):
        return [v for value in node for v in _under(value, key)]
    return []


def _exprs(document: Any) -> list[str]:
    """Every PromQL expression (``expr``) of a dashboard or a rules file."""
    return [e for e in _under(document, "expr") if isinstance(e, str)]


def _datasources(document: Any) -> list[dict[str, Any]]:
    return [d for d in _under(document, "datasource") if isinstance(d, dict)]


def _rules() -> dict[str, Any]:
    files = PROMETHEUS["rule_files"]
    assert files, "no rule files"
    rules: dict[str, Any] = {}
    for container_path in files:
        rules[container_path] = _load(_mounted("prometheus", container_path))
    return rules


def test_the_profile_runs_pinned_official_images_and_none_of_ours() -> None:
    profile = {name for name in SERVICES if _in_profile(name)}
    assert profile == set(OFFICIAL_IMAGES)
    for name, repositories in OFFICIAL_IMAGES.items():
        image = SERVICES[name]["image"]
        assert image.split(":")[0] in repositories, f"{name}: {image} is not an official image"
        assert PINNED.match(image), f"{name}: {image} is not pinned"
    for name, service in OURS.items():
        assert not _in_profile(name), f"{name} must run without the observability profile"
        assert not set(service.get("depends_on", {})) & profile, name


def test_every_mounted_file_exists_and_parses() -> None:
    checked = 0
    mounted: set[Path] = set()
    for name, service in SERVICES.items():
        for target, source in bind_mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            files = (
                sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
            )
            assert files, f"{name}: {source} is empty"
            for path in files:
                assert path.suffix in {".yml", ".yaml", ".json"}, path
                assert isinstance(_load(path), dict), f"{path} is not a mapping"
                checked += 1
                mounted.add(path)
    assert checked >= 6  # collector, prometheus + rules, two provisioning files, a dashboard
    unmounted = {p for p in DEPLOY.rglob("*") if p.is_file()} - mounted
    assert unmounted == set(), f"configuration no service mounts: {sorted(unmounted)}"


def test_dashboard_and_rules_name_only_metrics_the_system_defines() -> None:
    sources = {"dashboard rover.json": _exprs(ROVER_DASHBOARD)}
    sources.update({f"rules {path}": _exprs(doc) for path, doc in _rules().items()})
    used: set[str] = set()
    for source, exprs in sources.items():
        assert exprs, f"{source} has no expressions"
        for expr in exprs:
            for name in metric_names(expr):
                metric = defined(name)
                assert metric is not None, f"{source}: {name} in {expr!r} is defined nowhere"
                used.add(metric)
    # and the dashboard shows every metric of every rover service
    dashboard = {defined(n) for e in _exprs(ROVER_DASHBOARD) for n in metric_names(e)}
    missing = frozenset().union(*ROVER_METRICS.values()) - dashboard
    assert missing == set(), f"no panel shows {sorted(missing)}"
    assert used & EVENTSTOREDB_METRICS, "no EventStoreDB panel"


def test_prometheus_scrapes_every_instance_on_its_metrics_port() -> None:
    scraped: dict[str, str] = {}
    for job_name, job in JOBS.items():
        assert "static_configs" not in job, f"{job_name}: replicas need DNS discovery"
        for sd in job["dns_sd_configs"]:
            assert sd["type"] == "A"
            for name in sd["names"]:
                assert name in SERVICES, f"{job_name} scrapes unknown service {name}"
                assert name not in scraped, f"{name} scraped twice"
                scraped[name] = job_name
                service = SERVICES[name]
                if name in OURS:
                    short = module(service).rsplit(".", 1)[1]
                    assert job_name == short, f"{name}: job {job_name}, dashboards expect {short}"
                    address = service["environment"][f"ROVER_{short.upper()}_METRICS_ADDRESS"]
                    assert address.startswith("0.0.0.0:"), f"{name}: reachable from Prometheus"
                    assert _host_port(address)[1] == sd["port"], f"{name}: {address}"
                    assert sd["port"] in _container_ports(service), f"{name}: port unpublished"
                else:
                    assert service["image"].startswith("eventstore/eventstore:"), name
                    node_port = service["environment"].get("EVENTSTORE_NODE_PORT", "2113")
                    assert sd["port"] == int(node_port), name
                    assert job.get("metrics_path", "/metrics") == "/metrics"
                networks = set(service.get("networks", ["default"]))
                assert networks & set(SERVICES["prometheus"]["networks"]), f"{name} unreachable"
    nodes = {n for n, s in SERVICES.items() if s["image"].startswith("eventstore/eventstore:")}
    assert set(scraped) == set(OURS) | nodes, "every rover service and node is scraped"


def test_rover_services_trace_to_the_collector_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = COLLECTOR["receivers"]["otlp"]["protocols"]
    grpc_port = _host_port(receiver["grpc"]["endpoint"])[1]
    for name, service in OURS.items():
        env: dict[str, str] = service["environment"]
        host, port = _host_port(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (host, port) == ("otel-collector", grpc_port), name
        for variable in ("OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
            assert env[variable].startswith(f"${{{variable}:-"), (
                f"{name}: {variable} from the shell"
            )
    # As Compose passes it on: tracing off by default, OTLP to the collector when asked.
    sample = OURS["command"]["environment"]
    for variable in ("OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.setenv(variable, interpolate(sample[variable], {}))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sample["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert tracer_provider_from_env("command") is None
    monkeypatch.setenv(
        "OTEL_TRACES_EXPORTER",
        interpolate(sample["OTEL_TRACES_EXPORTER"], {"OTEL_TRACES_EXPORTER": "otlp"}),
    )
    provider = tracer_provider_from_env("command")
    assert provider is not None
    provider.shutdown()


def test_the_collector_pipeline_is_wired() -> None:
    service = SERVICES["otel-collector"]
    declared = {
        kind: set(COLLECTOR.get(kind) or {})
        for kind in ("receivers", "processors", "exporters", "extensions")
    }
    assert set(COLLECTOR["service"]["extensions"]) <= declared["extensions"]
    traces = COLLECTOR["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert traces[kind], kind
        assert set(traces[kind]) == declared[kind], f"{kind} declared but unused"
    assert traces["processors"][0] == "memory_limiter", "the limiter goes first"
    receiver_ports = {
        _host_port(protocol["endpoint"])[1]
        for protocol in COLLECTOR["receivers"]["otlp"]["protocols"].values()
    }
    assert _container_ports(service) == receiver_ports
    for exporter in COLLECTOR["exporters"].values():
        if exporter and "endpoint" in exporter:
            host, _ = _host_port(exporter["endpoint"])
            assert host in SERVICES, host
            assert _in_profile(host), host
            assert host in service["depends_on"], f"the collector starts after {host}"


def test_grafana_provisions_the_datasource_the_dashboard_uses() -> None:
    datasources = _load(PROVISIONING / "datasources" / "datasources.yaml")["datasources"]
    by_type = {d["type"]: d for d in datasources}
    prometheus = by_type["prometheus"]
    assert prometheus["isDefault"] is True
    for datasource in datasources:
        host, port = _host_port(datasource["url"])
        assert host in SERVICES, datasource["name"]
        assert _in_profile(host), datasource["name"]
        if host == "prometheus":
            assert port in _container_ports(SERVICES[host])
    used = _datasources(ROVER_DASHBOARD)
    assert used, "the dashboard names no datasource"
    assert {d["uid"] for d in used} == {prometheus["uid"]}
    providers = _load(PROVISIONING / "dashboards" / "dashboards.yaml")["providers"]
    assert [p["options"]["path"] for p in providers] == [DASHBOARDS_IN_GRAFANA]
    assert ROVER_DASHBOARD["title"] == "Rover"
    ids = [p["id"] for p in ROVER_DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    env = SERVICES["grafana"]["environment"]
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{DASHBOARDS_IN_GRAFANA}/rover.json"


def test_the_dashboard_service_choice_lists_the_rover_jobs() -> None:
    (choice,) = [v for v in ROVER_DASHBOARD["templating"]["list"] if v["name"] == "job"]
    rover_jobs = [job for job in JOBS if job in ROVER_METRICS]
    assert choice["query"].split(",") == rover_jobs
    assert choice["allValue"] == "|".join(rover_jobs)
    assert set(ROVER_METRICS) == set(rover_jobs)
