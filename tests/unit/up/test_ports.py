"""Port checks before anything starts: taken or shared ports name the setting to change."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from services.up.plan import ChildSpec, Endpoint
from services.up.ports import PortInUseError, check_ports, port_is_free

from .conftest import free_port


def _child(name: str, port: int, setting: str, host: str = "127.0.0.1") -> ChildSpec:
    return ChildSpec(
        name=name,
        argv=("true",),
        endpoint=Endpoint(host, port, setting),
        probe="grpc",
        log_path=Path("/dev/null"),
    )


def test_free_ports_pass() -> None:
    check_ports([_child("a", free_port(), "ROVER_A"), _child("b", free_port(), "ROVER_B")])


def test_a_listening_port_is_taken_and_the_setting_is_named() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        assert not port_is_free("0.0.0.0", port)
        with pytest.raises(PortInUseError) as caught:
            check_ports([_child("redis", port, "ROVER_REDIS_PORT")])
    message = str(caught.value)
    assert f"port {port} on 127.0.0.1 (redis) is already in use" in message
    assert "set ROVER_REDIS_PORT to a free port" in message


def test_two_children_on_one_port_are_reported() -> None:
    port = free_port()
    with pytest.raises(PortInUseError, match="ROVER_QUERY_ADDRESS or ROVER_COMMAND_ADDRESS"):
        check_ports(
            [
                _child("command", port, "ROVER_COMMAND_ADDRESS"),
                _child("query", port, "ROVER_QUERY_ADDRESS"),
            ]
        )


def test_instances_of_one_service_share_its_port_but_services_do_not() -> None:
    port = free_port()
    shared = [
        replace(_child(f"command-{n}", port, "ROVER_COMMAND_ADDRESS"), service="command")
        for n in (1, 2, 3)
    ]
    check_ports(shared)
    with pytest.raises(PortInUseError) as caught:
        check_ports(
            [*shared, replace(_child("query", port, "ROVER_QUERY_ADDRESS"), service="query")]
        )
    assert str(caught.value) == (
        "ports in use:\n"
        f"  - query and command are both set to port {port}: "
        "change ROVER_QUERY_ADDRESS or ROVER_COMMAND_ADDRESS"
    )
