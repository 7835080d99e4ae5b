"""Three instances of every service under load; one of each killed with SIGKILL mid-load.

``python -m services.up`` runs 3 command, 3 query and 3 broadcaster instances sharing their
addresses. 16 clients send commands (each on its own connection, so the kernel spreads them
over the instances; UNAVAILABLE/ABORTED are retried with the same request id, as a client
should) and 12 watchers follow the grids (resuming from their last sequence when their
stream breaks). Then SIGKILL: the command instance whose publisher is active, the query
instance whose projector is active, and the broadcaster instance with the most watchers.
Afterwards every acknowledged command is stored exactly once, published exactly once, the
read model equals a rebuild, every watcher saw every event in order, and no call ever ended
with a status that blames the server (INTERNAL, UNKNOWN).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, RecordedEvent

from protos.rover.v1 import command_pb2, common_pb2, live_pb2, live_pb2_grpc
from services.common.envelope import integration_event_id
from tests.e2e.system import System, established
from tests.integration.query.test_redis_rewind import equals_a_rebuild
from tests.support.stubs import command_stub

pytestmark = pytest.mark.slow

INSTANCES = 3
GRIDS = [f"g{n}" for n in range(4)]
CLIENTS = 16  # client i drives rover r{i // 4} of grid g{i % 4}
WATCHERS_PER_GRID = 3
SILENT = 5.0  # seconds without a message (heartbeats come every second) that end a stream
RETRIED = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}
# One TCP connection per channel: channels to one address otherwise share a subchannel.
OWN_CONNECTION = (("grpc.use_local_subchannel_pool", 1),)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "data")
    running.env.update(
        ROVER_COMMAND_INSTANCES=str(INSTANCES),
        ROVER_QUERY_INSTANCES=str(INSTANCES),
        ROVER_BROADCASTER_INSTANCES=str(INSTANCES),
        ROVER_BROADCASTER_HEARTBEAT_SECONDS="1",
    )
    try:
        yield running
    finally:
        running.kill()


def active_instance(data_dir: Path, service: str, lease: str) -> str:
    """The child name of the instance whose log says it became active last for ``lease``."""
    latest: tuple[str, str] | None = None
    for log in sorted((data_dir / "logs").glob(f"{service}-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("event") == "lease acquired; this instance is active" and (
                record.get("lease") == lease
            ):
                stamp = str(record.get("timestamp", ""))
                if latest is None or stamp >= latest[0]:
                    latest = (stamp, log.stem)
    assert latest is not None, f"no {service} instance says it holds the {lease} lease"
    return latest[1]


class Load:
    """The clients' and watchers' record of what happened."""

    def __init__(self) -> None:
        self.acked: dict[str, dict[str, int]] = {g: {} for g in GRIDS}  # request id -> version
        self.bad: list[str] = []  # statuses no client should ever see
        self.stop = asyncio.Event()
        self.seen: dict[int, list[int]] = {}  # watcher -> event sequences, in arrival order
        self.resumes = 0
        self.silent = 0  # streams given up for silence (no heartbeat)


async def setup_grids(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = command_stub(channel)
        for grid in GRIDS:
            await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=9, height=9))
            for rover in range(CLIENTS // len(GRIDS)):
                await stub.CreateRover(
                    command_pb2.CreateRoverRequest(
                        grid_id=grid,
                        rover_id=f"r{rover}",
                        position=common_pb2.Position(x=rover * 2, y=rover * 2),
                        facing=common_pb2.DIRECTION_NORTH,
                    )
                )


async def client(address: str, index: int, load: Load) -> None:
    """Turns (never blocked) until told to stop; every request retried until acknowledged."""
    grid, rover = GRIDS[index % len(GRIDS)], f"r{index // len(GRIDS)}"
    async with grpc.aio.insecure_channel(address, options=OWN_CONNECTION) as channel:
        stub = command_stub(channel)
        n = 0
        while not load.stop.is_set():
            request_id = f"turn-{index}-{n}"
            request = command_pb2.TurnRoverLeftRequest(
                grid_id=grid, rover_id=rover, request_id=request_id
            )
            while True:
                try:
                    reply = await stub.TurnRoverLeft(request, timeout=10)
                except grpc.aio.AioRpcError as error:
                    if error.code() in RETRIED:
                        await asyncio.sleep(0.05)
                        continue
                    load.bad.append(f"{request_id}: {error.code().name} {error.details()}")
                    return
                load.acked[grid][request_id] = reply.version
                break
            n += 1


async def watcher(address: str, index: int, grid: str, load: Load) -> None:
    """Every event of ``grid`` from the first, resuming after the last one on a break."""
    seen = load.seen.setdefault(index, [])
    while True:
        last = seen[-1] if seen else 0
        try:
            async with grpc.aio.insecure_channel(address, options=OWN_CONNECTION) as channel:
                stub = live_pb2_grpc.RoverLiveServiceStub(channel)
                call: Any = stub.WatchGrid(
                    live_pb2.WatchGridRequest(grid_id=grid, from_version=last)
                )
                # Heartbeats every second: a stream silent for longer is dead, as any client
                # would conclude; it resumes elsewhere (and the test fails: none should be).
                async with asyncio.timeout(SILENT) as silence:
                    async for update in call:
                        silence.reschedule(asyncio.get_running_loop().time() + SILENT)
                        if update.WhichOneof("update") == "event":
                            seen.append(update.sequence)
        except TimeoutError:
            load.silent += 1
        except grpc.aio.AioRpcError as error:
            if error.code() not in (*RETRIED, grpc.StatusCode.RESOURCE_EXHAUSTED):
                load.bad.append(f"watcher {index}: {error.code().name} {error.details()}")
                return
        load.resumes += 1
        await asyncio.sleep(0.1)


async def test_sigkill_one_instance_of_each_service_under_load(system: System) -> None:
    system.start(timeout=240)
    data_dir = Path(system.env["ROVER_DATA_DIR"])
    command = system.env["ROVER_COMMAND_ADDRESS"]
    live_port = system.ports["live"]
    await setup_grids(command)
    load = Load()
    watchers = [
        asyncio.create_task(
            watcher(system.env["ROVER_BROADCASTER_ADDRESS"], w, GRIDS[w % len(GRIDS)], load)
        )
        for w in range(WATCHERS_PER_GRID * len(GRIDS))
    ]
    clients = [asyncio.create_task(client(command, i, load)) for i in range(CLIENTS)]
    await asyncio.sleep(4)

    pids = system.pids()
    broadcasters = [f"broadcaster-{n}" for n in range(1, INSTANCES + 1)]
    busiest = max(broadcasters, key=lambda name: established(pids[name], live_port))
    victims = [
        active_instance(data_dir, "command", "publisher"),
        active_instance(data_dir, "query", "projector"),
        busiest,
    ]
    for name in victims:
        os.kill(pids[name], signal.SIGKILL)
    await asyncio.sleep(8)  # the load goes on; standbys take the leases over
    load.stop.set()
    await asyncio.gather(*clients)
    assert load.bad == []
    # Another instance took each lease over (the killed one, restarted, found it held).
    assert active_instance(data_dir, "command", "publisher") != victims[0]
    assert active_instance(data_dir, "query", "projector") != victims[1]
    acked = sum(len(by_request) for by_request in load.acked.values())
    print(
        f"\nkilled {victims}; {acked} commands acknowledged; {load.resumes} watch resumes, "
        f"{load.silent} after a silence"
    )

    esdb = AsyncEventStoreDBClient(f"esdb://127.0.0.1:{system.ports['store']}?Tls=false")
    await esdb.connect()
    try:
        for grid in GRIDS:
            await stored_and_published_once(esdb, grid, load.acked[grid])
        await equals_a_rebuild(f"redis://127.0.0.1:{system.ports['redis']}/0", esdb)
        finals = {g: len(await esdb.get_stream(f"grid-{g}")) for g in GRIDS}
    finally:
        await esdb.close()
    for _ in range(300):  # the watchers catch up with the last events
        if all((load.seen[w] or [0])[-1] >= finals[GRIDS[w % len(GRIDS)]] for w in load.seen):
            break
        await asyncio.sleep(0.1)
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    assert load.bad == []
    assert load.resumes >= 1  # the killed broadcaster's watchers resumed elsewhere
    assert load.silent == 0  # no stream went quiet: every instance heartbeats or refuses
    for index, sequences in load.seen.items():
        final = finals[GRIDS[index % len(GRIDS)]]
        assert sequences == list(range(1, final + 1)), f"watcher {index} missed or repeated"


async def stored_and_published_once(
    esdb: AsyncEventStoreDBClient, grid: str, acked: dict[str, int]
) -> None:
    """Every acknowledged command stored once at its version; every event published once."""
    stored = await esdb.get_stream(f"grid-{grid}")
    turns: dict[str, list[int]] = {}
    for event in stored:
        request_id = json.loads(event.metadata).get("request_id", "")
        if request_id.startswith("turn-"):
            turns.setdefault(request_id, []).append(event.stream_position + 1)
    assert turns == {request_id: [version] for request_id, version in acked.items()}
    published: Sequence[RecordedEvent] = ()
    for _ in range(300):
        published = await esdb.get_stream(f"integration-{grid}")
        if len(published) >= len(stored):
            break
        await asyncio.sleep(0.1)
    assert [e.id for e in published] == [integration_event_id(e.id) for e in stored]
