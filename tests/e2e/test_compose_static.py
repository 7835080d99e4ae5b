"""docker-compose.yml and Dockerfile, checked statically (Docker cannot run here).

Structure, pinned images, healthchecks, depends_on on healthy services, and every ROVER_*
variable, host and port against the services' own settings classes.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from services.query.adapters.redis_connect import (
    CLUSTER_SCHEME,
    SENTINEL_SCHEME,
    parse_cluster_url,
    parse_sentinel_url,
)
from tests.e2e.compose_file import (
    COMPOSE,
    OURS,
    PINNED,
    ROOT,
    SERVICES,
    env_names,
    module,
    published,
    settings_class,
)

KNOWN_TOP_LEVEL = {"name", "services", "networks", "volumes"}
# Images with nothing inside to probe with (a scratch image: no shell, no HTTP client); each says
# why in docker-compose.yml, declares `healthcheck: {disable: true}`, and nothing waits on it.
NO_PROBE = {"otel-collector"}


def test_top_level_is_plain_compose() -> None:
    assert "version" not in COMPOSE, "the version key is obsolete"
    extra = {k for k in COMPOSE if not k.startswith("x-")} - KNOWN_TOP_LEVEL
    assert extra == set()
    assert {"eventstore", "redis", "command", "query", "broadcaster"} <= set(SERVICES)


def test_images_are_pinned_to_exact_versions() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert PINNED.match(image), f"{name}: {image} is not pinned to an exact version"
        assert ":latest" not in image
    base = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base, "Dockerfile has no FROM"
    for image in base:
        assert PINNED.match(image), f"Dockerfile: {image} is not pinned"


def test_dockerfile_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users, "no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    for folder in ("domain", "protos", "services"):
        assert f"COPY {folder} " in text


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    for name, service in SERVICES.items():
        if name in NO_PROBE:
            assert service["healthcheck"] == {"disable": True}, name
        else:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert dependency not in NO_PROBE, f"{name} waits on {dependency}, never healthy"
            assert rule == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            mine = set(service.get("profiles", []))
            theirs = set(SERVICES[dependency].get("profiles", []))
            assert not theirs or theirs & mine, f"{name} needs {dependency} from another profile"


def test_eventstore_is_insecure_with_projections_and_redis_appends() -> None:
    nodes = [s for s in SERVICES.values() if s["image"].startswith("eventstore/eventstore:24.10.")]
    assert len(nodes) == 4
    for node in nodes:
        env = node["environment"]
        assert env["EVENTSTORE_INSECURE"] == "true"
        assert env["EVENTSTORE_RUN_PROJECTIONS"] == "All"
        assert "2113" in " ".join(node["healthcheck"]["test"])
    redis = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in redis


@pytest.mark.parametrize("name", sorted(OURS))
def test_our_services_settings_match_their_settings_classes(name: str) -> None:
    service = OURS[name]
    program = module(service)
    names = env_names(settings_class(program))
    env: dict[str, str] = service["environment"]
    unknown = {key for key in env if key.startswith("ROVER_")} - names
    assert unknown == set(), f"{name}: not settings of {program}: {unknown}"
    short = program.rsplit(".", 1)[1]
    address = env[f"ROVER_{short.upper()}_ADDRESS"]
    port = address.rsplit(":", 1)[1]
    assert address.startswith("0.0.0.0:"), "listen on every interface inside the container"
    assert any(str(p).endswith(f":{port}") for p in service["ports"])
    assert service["healthcheck"]["test"][-1] == f"127.0.0.1:{port}"
    assert "HealthStub" in service["healthcheck"]["test"][3]
    assert service["image"] == SERVICES["command"]["image"], "one image for all services"


@pytest.mark.parametrize("name", sorted(OURS))
def test_uris_point_at_services_that_exist_and_are_awaited(name: str) -> None:
    service = OURS[name]
    env: dict[str, str] = service["environment"]
    uri = env["ROVER_EVENTSTORE_URI"]
    scheme, rest = uri.split("://", 1)
    hosts = [h.split(":")[0] for h in rest.split("?")[0].split(",")]
    assert all(host in SERVICES for host in hosts), uri
    assert set(hosts) <= set(service["depends_on"])
    if "cluster" in service.get("profiles", []):
        assert scheme == "esdb+discover"
        assert len(hosts) == 3
    else:
        assert scheme == "esdb"
    assert "Tls=false" in uri
    if "ROVER_REDIS_URL" in env:
        redis_hosts = _redis_hosts(env["ROVER_REDIS_URL"])
        assert redis_hosts
        assert redis_hosts <= set(SERVICES)
        assert redis_hosts <= set(service["depends_on"])


def _redis_hosts(url: str) -> set[str]:
    """The services a ROVER_REDIS_URL names: the server, the sentinels or the cluster nodes."""
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        return {host for host, _ in parse_sentinel_url(url).sentinels}
    if scheme == CLUSTER_SCHEME:
        return {host for host, _ in parse_cluster_url(url)[0]}
    assert urlsplit(url).path == "/0", f"{url}: database 0 only (a Redis Cluster has no other)"
    return {str(urlsplit(url).hostname)}


def _profile(name: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in SERVICES.items() if name in s.get("profiles", [])}


def test_sentinel_profile_watches_a_master_and_its_replica_with_three_sentinels() -> None:
    profile = _profile("sentinel")
    (query,) = [s for s in profile.values() if "build" in s]
    target = parse_sentinel_url(query["environment"]["ROVER_REDIS_URL"])
    sentinels = {host for host, _ in target.sentinels}
    assert len(sentinels) == 3
    for name in sentinels:
        script = profile[name]["command"][-1]
        monitor = re.search(r"sentinel monitor (\S+) (\S+) (\d+) (\d+)", script)
        assert monitor is not None, name
        master, host, port, quorum = monitor.groups()
        assert (master, int(port), int(quorum)) == (target.master, 6379, 2)
        assert host in profile
        assert "resolve-hostnames yes" in script  # a service name, not an address
        assert set(profile[name]["depends_on"]) >= {host}
    replicas = [s for s in profile.values() if "--replicaof" in s.get("command", [])]
    assert len(replicas) == 1
    command = replicas[0]["command"]
    assert command[command.index("--replicaof") + 1] == host


def test_redis_cluster_profile_forms_a_three_master_cluster_the_query_service_names() -> None:
    profile = _profile("redis-cluster")
    (query,) = [s for s in profile.values() if "build" in s]
    nodes, _ = parse_cluster_url(query["environment"]["ROVER_REDIS_URL"])
    names = {host for host, _ in nodes}
    assert len(names) == 3
    creates = []
    for name in names:
        command = profile[name]["command"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
        assert command[command.index("--cluster-announce-hostname") + 1] == name
        probe = " ".join(profile[name]["healthcheck"]["test"])
        assert "cluster_state:ok" in probe
        creates += re.findall(r"--cluster create (.+?) --cluster-yes", probe)
    assert len(creates) == 1, "one node's probe creates the cluster"
    # by address ($$ is compose's escape of $): CLUSTER MEET takes no host names
    assert set(re.findall(r"\$\$\(getent hosts (\S+) ", creates[0])) == names


def test_cluster_profile_has_three_gossiping_nodes() -> None:
    cluster = {n: s for n, s in SERVICES.items() if "cluster" in s.get("profiles", [])}
    nodes = {n: s for n, s in cluster.items() if "eventstore" in s["image"]}
    assert len(nodes) == 3
    addresses = {
        s["networks"]["esdb-cluster"]["ipv4_address"]: s["environment"] for s in nodes.values()
    }
    for address, env in addresses.items():
        assert env["EVENTSTORE_CLUSTER_SIZE"] == "3"
        assert env["EVENTSTORE_REPLICATION_IP"] == address
        seeds = {seed.split(":")[0] for seed in env["EVENTSTORE_GOSSIP_SEED"].split(",")}
        assert seeds == set(addresses) - {address}
    assert {"command-cluster", "query-cluster", "broadcaster-cluster"} <= set(cluster)
    assert all("cluster" not in s.get("profiles", []) for s in (SERVICES["redis"],))


def test_volumes_and_networks_are_declared_and_variables_have_defaults() -> None:
    declared_volumes = set(COMPOSE.get("volumes") or {})
    declared_networks = set(COMPOSE.get("networks") or {}) | {"default"}
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/", "~")):
                continue  # a bind mount: test_compose_observability checks the file is there
            assert source in declared_volumes, f"{name}: undeclared volume {source}"
        networks = service.get("networks", [])
        assert set(networks) <= declared_networks, name
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in re.findall(r"\$\{([^}]*)\}", text):
        assert ":-" in variable, f"${{{variable}}} needs a default"


@pytest.mark.parametrize(
    ("entry", "host_port"),
    [
        ("50051", ""),
        ("127.0.0.1::50051", ""),
        ("50051:50051", "50051"),
        ("127.0.0.1:6380:6379", "6380"),
        ("50151-50152:50051", "50151-50152"),
        ({"target": 50051}, ""),
        ({"target": 50051, "published": "8080"}, "8080"),
    ],
)
def test_published_reads_both_port_syntaxes(entry: str | dict[str, Any], host_port: str) -> None:
    assert published(entry) == host_port


def test_replicated_services_publish_no_fixed_host_port() -> None:
    # Two containers cannot publish one host port; a host port range per replica is racy in
    # Compose v2 (docker/compose#8530, #10246), so replicas get ports Docker picks.
    for name, service in SERVICES.items():
        if service.get("deploy", {}).get("replicas", 1) > 1:
            assert "container_name" not in service, name
            fixed = [e for e in service.get("ports", []) if published(e)]
            assert fixed == [], f"{name}: every replica would publish {fixed}"


def test_the_cluster_profile_runs_two_replicas_of_each_service() -> None:
    cluster = {n: s for n, s in OURS.items() if "cluster" in s.get("profiles", [])}
    assert {module(s) for s in cluster.values()} == {
        "services.command",
        "services.query",
        "services.broadcaster",
    }
    for name, service in cluster.items():
        assert service["deploy"]["replicas"] >= 2, name
        env = service["environment"]
        # A container is a network namespace of its own: replicas need not share a port.
        assert not {"ROVER_SHARE_PORT", "ROVER_INSTANCE_ADDRESS"} & set(env), name
        assert env["ROVER_EVENTSTORE_URI"].startswith("esdb+discover://"), name


def test_fixed_addresses_lie_outside_the_range_docker_hands_out() -> None:
    """A container Docker gives an address on a network must never take a node's fixed one."""
    fixed_seen = 0
    for network_name, network in (COMPOSE.get("networks") or {}).items():
        for pool in (network or {}).get("ipam", {}).get("config", []):
            subnet = ipaddress.ip_network(pool["subnet"])
            handed_out = ipaddress.ip_network(pool.get("ip_range", pool["subnet"]))
            assert handed_out.subnet_of(subnet)  # type: ignore[arg-type]
            for name, service in SERVICES.items():
                attached = service.get("networks") or {}
                if not isinstance(attached, dict) or network_name not in attached:
                    continue
                address = (attached[network_name] or {}).get("ipv4_address")
                if address is None:
                    continue
                fixed_seen += 1
                ip = ipaddress.ip_address(address)
                assert ip in subnet, f"{name}: {ip} is outside {subnet}"
                assert ip not in handed_out, f"{name}: {ip} may be handed to another container"
    assert fixed_seen == 3  # the cluster profile's three EventStoreDB nodes
