"""The plan: order, arguments, ROVER_* variables, skipped services."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.up.plan import build_plan, module_available, parse_address
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
    ]
    assert plan.skipped == ()
    data = (tmp_path / "data").resolve()
    store, redis, command, query, broadcaster = plan.children
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
    assert plan.skipped == ("command", "broadcaster")


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
