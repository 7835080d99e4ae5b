"""``make run`` with two instances of each service: each answers on its own address, the
shared addresses keep working when one instance is killed, and the killed one comes back."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.rover.v1 import command_pb2, query_pb2, query_pb2_grpc
from services.up.plan import instance_address
from services.up.probes import GrpcHealthProbe
from tests.e2e.system import ROOT, System
from tests.support.stubs import command_stub

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVICES = {
    "command": "rover.v1.RoverCommandService",
    "query": "rover.v1.RoverQueryService",
    "broadcaster": "rover.v1.RoverLiveService",
}
INSTANCES = [f"{service}-{n}" for service in SERVICES for n in (1, 2)]
# A channel with a subchannel pool of its own opens a connection of its own.
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@pytest.fixture
def system() -> Iterator[System]:
    # A data folder whose socket paths just fit sun_path (107 bytes) for command-N and
    # query-N but not for broadcaster-N, so both kinds of instance address are used.
    with tempfile.TemporaryDirectory(prefix="instances-", dir="/tmp") as base:
        padding = 107 - len("/run/command-1.sock") - len(base) - 1
        data = Path(base) / ("d" * padding)
        running = System(data)
        running.env.update(
            ROVER_COMMAND_INSTANCES="2", ROVER_QUERY_INSTANCES="2", ROVER_BROADCASTER_INSTANCES="2"
        )
        try:
            yield running
        finally:
            running.kill()


def _records(system: System) -> list[dict[str, Any]]:
    lines = system.err.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _pids(system: System, name: str) -> list[int]:
    """The pids ``name`` was started with, in order."""
    return [
        int(r["pid"])
        for r in _records(system)
        if r.get("event") == "child started" and r.get("child") == name
    ]


def _wait_for(condition: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)


async def _serving(address: str, service: str) -> bool:
    probe = GrpcHealthProbe(address, service)
    try:
        return await probe(5.0)
    finally:
        await probe.close()


async def _create_grids(address: str, count: int) -> list[command_pb2.CommandResult]:
    """``count`` grids, each over a connection of its own (the kernel spreads connections
    over the instances sharing the port)."""
    results = []
    for _ in range(count):
        async with grpc.aio.insecure_channel(address, options=_OWN_CONNECTION) as channel:
            request = command_pb2.CreateGridRequest(
                request_id=str(uuid.uuid4()), grid_id=f"g{uuid.uuid4().hex[:12]}", width=5, height=5
            )
            results.append(await command_stub(channel).CreateGrid(request, timeout=15))
    return results


async def _visible(address: str, results: list[command_pb2.CommandResult]) -> None:
    """Each grid reads back through the shared query address, at its written version."""
    for result in results:
        async with grpc.aio.insecure_channel(address, options=_OWN_CONNECTION) as channel:
            stub: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
                channel
            )
            request = query_pb2.GetGridDetailsRequest(
                grid_id=result.grid_id, min_version=result.version
            )
            details = await stub.GetGridDetails(request, timeout=15)
            assert details.grid_id == result.grid_id


def test_two_instances_of_each_service_share_an_address_and_survive_a_kill(
    system: System,
) -> None:
    system.start(timeout=180)
    data = Path(system.env["ROVER_DATA_DIR"]).resolve()
    own = {name: instance_address(data, name) for name in INSTANCES}
    assert own["command-1"].startswith("unix:/")
    assert own["broadcaster-1"].startswith("unix-abstract:")
    banner = system.out.read_text()
    for name, address in own.items():
        assert f" {name}  {address}\n" in banner

    async def every_instance_serves_its_own_service() -> None:
        for name, address in own.items():
            service = SERVICES[name.rsplit("-", 1)[0]]
            assert await _serving(address, service), name

    asyncio.run(every_instance_serves_its_own_service())
    hint = next(line.strip() for line in banner.splitlines() if " -unix " in line)
    health = subprocess.run(
        shlex.split(hint), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert health.returncode == 0, health.stderr
    assert '"status": "SERVING"' in health.stdout

    command, query = system.env["ROVER_COMMAND_ADDRESS"], system.env["ROVER_QUERY_ADDRESS"]
    asyncio.run(_visible(query, asyncio.run(_create_grids(command, 6))))

    # SIGKILL command-1: the supervisor says so, the shared address keeps taking commands
    # (command-2 answers them), and command-1 comes back on its own address.
    (killed,) = _pids(system, "command-1")
    os.kill(killed, signal.SIGKILL)
    _wait_for(
        lambda: any(
            r.get("event", "").startswith("instance exited unexpectedly")
            and r.get("child") == "command-1"
            for r in _records(system)
        ),
        "the supervisor reports command-1's death",
    )
    asyncio.run(_visible(query, asyncio.run(_create_grids(command, 6))))
    assert asyncio.run(_serving(own["command-2"], SERVICES["command"]))
    _wait_for(lambda: len(_pids(system, "command-1")) == 2, "command-1 is started again")
    restarted = _pids(system, "command-1")[1]
    assert restarted != killed
    _wait_for(
        lambda: asyncio.run(_serving(own["command-1"], SERVICES["command"])),
        "command-1 serves again on its own address",
    )
    asyncio.run(_visible(query, asyncio.run(_create_grids(command, 4))))

    assert system.process is not None
    system.process.send_signal(signal.SIGINT)
    assert system.process.wait(timeout=120) == 0
    assert not Path(f"/proc/{restarted}").exists()
    stopped = [r["child"] for r in _records(system) if r.get("event") == "child stopped"]
    assert stopped == [*reversed(["eventstore", "redis", *INSTANCES, "web"])]
