"""The plan: order, arguments, ROVER_* variables, skipped services."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.grpc_server import GrpcServer
from services.common.settings_text import SettingsError, load_settings
from services.up.plan import Plan, build_plan, instance_address, module_available, parse_address
from services.up.probes import GrpcHealthProbe
from services.up.settings import ENV_NAMES, UpSettings


def _settings(tmp_path: Path, **overrides: object) -> UpSettings:
    return UpSettings.model_validate({"data_dir": tmp_path / "data", **overrides})


def test_defaults_are_the_documented_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    settings = UpSettings()
    assert settings.data_dir == Path(".rover-data")
    assert (settings.eventstore_host, settings.eventstore_port) == ("127.0.0.1", 2113)
    assert settings.redis_port == 6380
    assert settings.command_address == "127.0.0.1:50051"
    assert settings.query_address == "127.0.0.1:50052"
    assert settings.broadcaster_address == "127.0.0.1:50053"


def test_settings_come_from_rover_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROVER_DATA_DIR", "/srv/rover")
    monkeypatch.setenv("ROVER_EVENTSTORE_PORT", "3113")
    monkeypatch.setenv("ROVER_REDIS_PORT", "7380")
    monkeypatch.setenv("ROVER_QUERY_ADDRESS", "0.0.0.0:6000")
    settings = UpSettings()
    assert (settings.data_dir, settings.eventstore_port, settings.redis_port) == (
        Path("/srv/rover"),
        3113,
        7380,
    )
    assert settings.query_address == "0.0.0.0:6000"
    assert ENV_NAMES["data_dir"] == "ROVER_DATA_DIR"
    assert ENV_NAMES["command_address"] == "ROVER_COMMAND_ADDRESS"


def test_everything_in_order_when_every_service_exists(tmp_path: Path) -> None:
    plan = build_plan(
        _settings(tmp_path, redis_port=7000, query_address="0.0.0.0:7001"),
        redis_server="/usr/bin/redis-server",
        python="/py",
        available=lambda module: True,
    )
    assert [c.name for c in plan.children] == [
        "eventstore",
        "redis",
        "command",
        "query",
        "broadcaster",
        "web",
    ]
    assert plan.skipped == ()
    data = (tmp_path / "data").resolve()
    store, redis, command, query, broadcaster, web = plan.children
    assert store.argv[:3] == ("/py", "-m", "standins.eventstore")
    assert str(data / "eventstore" / "rover.db") in store.argv
    assert redis.argv[0] == "/usr/bin/redis-server"
    argv = " ".join(redis.argv)
    assert "--appendonly yes" in argv
    assert f"--dir {data / 'redis'}" in argv
    assert "--port 7000" in argv
    assert command.argv == ("/py", "-m", "services.command")
    assert command.env["ROVER_EVENTSTORE_URI"] == "esdb://127.0.0.1:2113?Tls=false"
    assert query.env["ROVER_REDIS_URL"] == "redis://127.0.0.1:7000/0"
    assert query.env["ROVER_QUERY_ADDRESS"] == "0.0.0.0:7001"
    assert query.endpoint.dial == "127.0.0.1:7001"
    assert query.endpoint.setting == "ROVER_QUERY_ADDRESS"
    assert broadcaster.grpc_service == "rover.v1.RoverLiveService"
    assert (web.argv, web.probe) == (("/py", "-m", "services.web"), "http")
    assert web.env["ROVER_WEB_ADDRESS"] == "127.0.0.1:8080"
    assert web.env["ROVER_BROADCASTER_ADDRESS"] == "127.0.0.1:50053"
    # one key file per data folder, for every service: they sign and verify with the same key
    assert {c.env["ROVER_INTEGRATION_KEY_FILE"] for c in (command, query, broadcaster)} == {
        str(data / "integration.key")
    }
    assert "ROVER_INTEGRATION_KEY_FILE" not in store.env
    assert {c.log_path for c in plan.children} == {
        data / "logs" / f"{c.name}.log" for c in plan.children
    }


def test_missing_services_are_skipped_and_named(tmp_path: Path) -> None:
    plan = build_plan(
        _settings(tmp_path),
        redis_server="redis-server",
        available=lambda module: module == "services.query",
    )
    assert [c.name for c in plan.children] == ["eventstore", "redis", "query"]
    assert plan.skipped == ("command", "broadcaster", "web")


def test_module_available() -> None:
    assert module_available("standins.eventstore")
    assert module_available("services.up")
    assert not module_available("services.no_such_service")


@pytest.mark.parametrize(
    ("text", "host", "port", "dial"),
    [
        ("127.0.0.1:50051", "127.0.0.1", 50051, "127.0.0.1:50051"),
        ("0.0.0.0:50051", "0.0.0.0", 50051, "127.0.0.1:50051"),
        ("[::1]:50051", "::1", 50051, "[::1]:50051"),
        ("[::]:50051", "::", 50051, "127.0.0.1:50051"),
        (":50051", "0.0.0.0", 50051, "127.0.0.1:50051"),
        ("localhost:1", "localhost", 1, "localhost:1"),
    ],
)
def test_parse_address(text: str, host: str, port: int, dial: str) -> None:
    endpoint = parse_address(text, "ROVER_X")
    assert (endpoint.host, endpoint.port, endpoint.dial) == (host, port, dial)


@pytest.mark.parametrize("text", ["50051", "host:", "host:http", "host:70000", "host:0"])
def test_parse_address_names_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match="ROVER_COMMAND_ADDRESS"):
        parse_address(text, "ROVER_COMMAND_ADDRESS")


def _plan(tmp_path: Path, **overrides: object) -> Plan:
    return build_plan(
        _settings(tmp_path, **overrides),
        redis_server="redis-server",
        python="/py",
        available=lambda module: True,
    )


def test_several_instances_share_the_address_and_each_has_its_own(tmp_path: Path) -> None:
    plan = _plan(tmp_path, command_instances=3, broadcaster_instances=2)
    assert [c.name for c in plan.children] == [
        "eventstore",
        "redis",
        "command-1",
        "command-2",
        "command-3",
        "query",
        "broadcaster-1",
        "broadcaster-2",
        "web",
    ]
    data = (tmp_path / "data").resolve()
    commands = [c for c in plan.children if c.group == "command"]
    assert {c.endpoint for c in commands} == {commands[0].endpoint}
    assert commands[0].endpoint.dial == "127.0.0.1:50051"
    for number, child in enumerate(commands, start=1):
        own = f"unix:{data / 'run' / f'command-{number}.sock'}"
        assert child.instance_address == own
        assert child.probe_address == own  # readiness is asked of this instance alone
        assert child.env["ROVER_INSTANCE_ADDRESS"] == own
        assert child.env["ROVER_SHARE_PORT"] == "true"
        assert child.env["ROVER_COMMAND_ADDRESS"] == "127.0.0.1:50051"
        assert child.log_path == data / "logs" / f"command-{number}.log"
        assert child.argv == ("/py", "-m", "services.command")
        assert child.restart
        assert child.grpc_service == "rover.v1.RoverCommandService"
    query = next(c for c in plan.children if c.group == "query")
    assert (query.name, query.log_path) == ("query", data / "logs" / "query.log")
    assert "ROVER_SHARE_PORT" not in query.env
    assert "ROVER_INSTANCE_ADDRESS" not in query.env
    assert query.probe_address == "127.0.0.1:50052"
    assert not query.restart
    assert not any(c.restart for c in plan.children[:2])  # the store and Redis


def test_one_instance_is_planned_as_before(tmp_path: Path) -> None:
    plan = _plan(tmp_path, command_instances=1, query_instances=1, broadcaster_instances=1)
    assert [c.name for c in plan.children][2:] == ["command", "query", "broadcaster", "web"]
    assert all(not c.instance_address and not c.restart for c in plan.children)


def _data_dir_for(socket_path_length: int, base: Path) -> Path:
    """A data folder whose command-2 socket path is exactly ``socket_path_length`` bytes."""
    tail = len("/run/command-2.sock")
    folder = base / ("d" * (socket_path_length - tail - len(str(base)) - 1))
    assert len(str(folder / "run" / "command-2.sock")) == socket_path_length
    return folder


@pytest.fixture
def short_base() -> Iterator[Path]:
    """A folder with a short path (pytest's own may be near the socket limit already)."""
    with tempfile.TemporaryDirectory(prefix="up-", dir="/tmp") as folder:
        yield Path(folder)


def test_a_socket_path_too_long_for_sun_path_becomes_an_abstract_socket(
    short_base: Path,
) -> None:
    fits = _data_dir_for(107, short_base)
    assert instance_address(fits, "command-2") == f"unix:{fits}/run/command-2.sock"
    too_long = _data_dir_for(108, short_base)
    abstract = instance_address(too_long, "command-2")
    assert abstract.startswith("unix-abstract:rover-")
    assert abstract.endswith("-command-2")
    assert len(abstract.removeprefix("unix-abstract:")) < 40
    other = instance_address(too_long.with_name(too_long.name[:-1] + "e"), "command-2")
    assert other != abstract  # named after the data folder: two make runs never collide
    assert instance_address(too_long, "command-2") == abstract  # the same on every start
    assert instance_address(too_long, "command-2", platform="darwin").startswith("unix:/")


def test_a_long_data_folder_plans_abstract_sockets(short_base: Path) -> None:
    data = _data_dir_for(150, short_base)
    plan = build_plan(
        UpSettings.model_validate({"data_dir": data, "query_instances": 2}),
        redis_server="redis-server",
        available=lambda module: True,
    )
    queries = [c for c in plan.children if c.group == "query"]
    assert [c.instance_address.split("-")[-2:] for c in queries] == [["query", "1"], ["query", "2"]]
    assert all(c.instance_address.startswith("unix-abstract:rover-") for c in queries)
    assert all(c.env["ROVER_INSTANCE_ADDRESS"] == c.instance_address for c in queries)


@pytest.mark.parametrize("length", [107, 108, 150])
async def test_grpc_listens_where_the_plan_says(short_base: Path, length: int) -> None:
    address = instance_address(_data_dir_for(length, short_base), "command-2")
    if address.startswith("unix:"):
        Path(address.removeprefix("unix:")).parent.mkdir(parents=True)
    server = GrpcServer("127.0.0.1:0", [], share_port=True, instance_address=address)
    await server.start()
    probe = GrpcHealthProbe(address)
    try:
        assert await probe(2.0)
    finally:
        await probe.close()
        await server.stop(0)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1", 1), ("4", 4), (" 2 ", 2), ("auto", os.cpu_count()), ("AUTO", os.cpu_count())],
)
def test_instance_counts_are_whole_numbers_or_auto(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: int
) -> None:
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROVER_QUERY_INSTANCES", given)
    settings = load_settings(UpSettings)
    assert settings.query_instances == expected
    assert (settings.command_instances, settings.broadcaster_instances) == (1, 1)


@pytest.mark.parametrize("given", ["0", "-1", "two", "1.5", "", "true"])
def test_a_bad_instance_count_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("ROVER_BROADCASTER_INSTANCES", given)
    with pytest.raises(SettingsError) as caught:
        load_settings(UpSettings)
    assert str(caught.value) == (
        f"ROVER_BROADCASTER_INSTANCES={given!r}: "
        "Value error, expected a whole number >= 1, or auto (one per CPU)"
    )


def test_web_instances_listen_each_on_the_port_plus_100_times_its_number(tmp_path: Path) -> None:
    plan = _plan(tmp_path, web_instances=2, web_address="127.0.0.1:8000")
    web = [c for c in plan.children if c.group == "web"]
    assert [(c.name, c.endpoint.port, c.restart) for c in web] == [
        ("web-1", 8100, True),
        ("web-2", 8200, True),
    ]
    assert [c.env["ROVER_WEB_ADDRESS"] for c in web] == ["127.0.0.1:8100", "127.0.0.1:8200"]
