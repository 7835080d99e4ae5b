"""``make run``'s metrics endpoints: one per service, port + 100 * i per instance, in the
banner, checked before anything starts, and the same defaults as the services' own."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench import METRICS_OFF
from services.broadcaster.settings import BroadcasterSettings
from services.command.settings import CommandSettings
from services.common.settings_text import env_name
from services.query.settings import QuerySettings
from services.up.banner import render_banner
from services.up.plan import Endpoint, build_plan, instance_metrics
from services.up.ports import PortInUseError, check_ports
from services.up.settings import UpSettings
from services.web.settings import WebSettings
from standins.eventstore.settings import EventStoreSettings

from .conftest import free_port

DEFAULTS = {
    "command_metrics_address": "127.0.0.1:9101",
    "query_metrics_address": "127.0.0.1:9102",
    "broadcaster_metrics_address": "127.0.0.1:9103",
    "eventstore_metrics_address": "127.0.0.1:9104",
    "web_metrics_address": "127.0.0.1:9105",
}


def test_make_run_defaults_are_the_services_own() -> None:
    own = {
        "command_metrics_address": CommandSettings.model_fields["command_metrics_address"],
        "query_metrics_address": QuerySettings.model_fields["query_metrics_address"],
        "broadcaster_metrics_address": BroadcasterSettings.model_fields[
            "broadcaster_metrics_address"
        ],
        "eventstore_metrics_address": EventStoreSettings.model_fields["metrics_address"],
        "web_metrics_address": WebSettings.model_fields["web_metrics_address"],
    }
    for name, field in own.items():
        assert UpSettings.model_fields[name].default == field.default == DEFAULTS[name]


def test_benchmarks_and_tests_turn_off_every_metrics_endpoint() -> None:
    assert set(METRICS_OFF) == {
        env_name(CommandSettings, "command_metrics_address"),
        env_name(QuerySettings, "query_metrics_address"),
        env_name(BroadcasterSettings, "broadcaster_metrics_address"),
        env_name(EventStoreSettings, "metrics_address"),
        env_name(WebSettings, "web_metrics_address"),
        *(env_name(UpSettings, name) for name in DEFAULTS),
    }
    assert set(METRICS_OFF.values()) == {""}


def test_one_instance_each_serves_the_base_ports_named_in_the_banner(tmp_path: Path) -> None:
    settings = UpSettings.model_validate({"data_dir": tmp_path, **DEFAULTS})
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    children = {child.name: child for child in plan.children}
    assert children["command"].env["ROVER_COMMAND_METRICS_ADDRESS"] == "127.0.0.1:9101"
    assert children["query"].env["ROVER_QUERY_METRICS_ADDRESS"] == "127.0.0.1:9102"
    assert children["broadcaster"].env["ROVER_BROADCASTER_METRICS_ADDRESS"] == "127.0.0.1:9103"
    assert children["web"].env["ROVER_WEB_METRICS_ADDRESS"] == "127.0.0.1:9105"
    store = children["eventstore"].argv
    assert store[store.index("--metrics-address") + 1] == "127.0.0.1:9104"
    assert children["redis"].metrics is None
    text = render_banner(plan)
    for port in (9101, 9102, 9103, 9104, 9105):
        assert f"metrics: http://127.0.0.1:{port}/metrics\n" in text


@pytest.mark.parametrize(("service", "digit"), [("command", 1), ("web", 5)])
def test_instance_i_serves_on_the_base_port_plus_100_i(
    tmp_path: Path, service: str, digit: int
) -> None:
    values = {"data_dir": tmp_path, f"{service}_instances": 2, **DEFAULTS}
    plan = build_plan(
        UpSettings.model_validate(values), redis_server="redis-server", available=lambda m: True
    )
    children = {child.name: child for child in plan.children}
    text = render_banner(plan)
    for number in (1, 2):
        address = f"127.0.0.1:9{number + 1}0{digit}"
        variable = f"ROVER_{service.upper()}_METRICS_ADDRESS"
        assert children[f"{service}-{number}"].env[variable] == address
        assert f"metrics: http://{address}/metrics" in text


def test_an_instance_past_port_65535_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="ROVER_X: instance 3 would listen on port 65600"):
        instance_metrics(Endpoint("127.0.0.1", 65300, "ROVER_X"), 3)


def test_empty_turns_a_service_metrics_off(tmp_path: Path) -> None:
    settings = UpSettings.model_validate(
        {"data_dir": tmp_path, **DEFAULTS, "query_metrics_address": ""}
    )
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    query = next(child for child in plan.children if child.name == "query")
    assert query.metrics is None
    assert query.env["ROVER_QUERY_METRICS_ADDRESS"] == ""
    assert "9102" not in render_banner(plan)


def test_a_taken_metrics_port_is_refused_naming_the_setting(tmp_path: Path) -> None:
    port = free_port()
    settings = UpSettings.model_validate(
        {
            "data_dir": tmp_path,
            "eventstore_port": free_port(),
            "redis_port": free_port(),
            "command_address": f"127.0.0.1:{free_port()}",
            "query_address": f"127.0.0.1:{free_port()}",
            "broadcaster_address": f"127.0.0.1:{free_port()}",
            "command_metrics_address": f"127.0.0.1:{port}",
            "query_metrics_address": f"127.0.0.1:{port}",  # the same: refused too
            "broadcaster_metrics_address": "",
            "eventstore_metrics_address": "",
            "web_metrics_address": "",
        }
    )
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(PortInUseError) as refused:
            check_ports(plan.children)
    message = str(refused.value)
    assert f"port {port} on 127.0.0.1 (command metrics) is already in use" in message
    assert "ROVER_COMMAND_METRICS_ADDRESS" in message
    assert "query metrics and command metrics are both set to port" in message
