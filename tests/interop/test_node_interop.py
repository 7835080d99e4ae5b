"""Run the Node.js interoperability tests (``tests/interop/*.test.mjs``) from pytest.

Node.js (>= 20) and npm are required: every machine we use and CI have them, so a missing
``node`` FAILS with a message instead of skipping. ``npm ci`` runs once per change of
``package-lock.json`` (a stamp in ``node_modules`` records the lock's digest).

- ``test_node_clients_against_the_event_store``: our event store alone, integration events
  written the way the publisher writes them; both Node clients read and consume them.
- ``test_node_drives_the_system``: the whole system (``python -m services.up`` on free ports);
  grpc-js drives it and the KurrentDB client consumes the resulting integration events.
- ``test_node_commands_through_the_inbox_...``: the KurrentDB client appends commands to the
  command inbox; two command service instances (one replaced mid-way) apply them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest
from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound

from services.command.bootstrap import CommandApp, build
from services.command.consumer_groups import ConsumerGroupSettings, ensure_consumer_groups
from services.command.settings import CommandSettings
from services.up.probes import GrpcHealthProbe
from standins.eventstore.process import EventStoreProcess
from tests.integration.interop.publishing import grid_history, publish

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).resolve().parent
REPO_ROOT = NODE_DIR.parents[1]
_STAMP = ".rover-lock-sha256"
_NODE_TIMEOUT = 240.0
_SERVICES = {
    "services.command": "rover.v1.RoverCommandService",
    "services.query": "rover.v1.RoverQueryService",
    "services.broadcaster": "rover.v1.RoverLiveService",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. The Node.js interoperability test needs Node.js >= 20 "
            "and npm (https://nodejs.org/, or `apt-get install nodejs npm`); it does not skip.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with tests/interop/node_modules installed from the lock file."""
    node = _tool("node")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < 20:
        pytest.fail(f"Node.js >= 20 is required, found {version}", pytrace=False)
    npm = _tool("npm")
    digest = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = NODE_DIR / "node_modules" / _STAMP
    if not stamp.is_file() or stamp.read_text().strip() != digest:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
        stamp.write_text(digest)
    return node


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _run_node(node: str, test_file: str, env: Mapping[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        node,
        "--test",
        "--test-reporter=spec",
        test_file,
        cwd=NODE_DIR,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(_NODE_TIMEOUT):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"node --test {test_file} timed out:\n{output.decode(errors='replace')}")
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"node --test {test_file} failed:\n{text}"
    assert re.search(r"\bfail 0\b", text), text


@pytest.fixture
def eventstore() -> Iterator[EventStoreProcess]:
    """A private in-memory event store in a child process."""
    with EventStoreProcess(db_path=None) as process:
        yield process


async def test_node_clients_against_the_event_store(
    node: str, eventstore: EventStoreProcess
) -> None:
    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    try:
        await ensure_consumer_groups(client, [ConsumerGroupSettings(name="downstream")])
        expected: dict[str, int] = {}
        for grid_id, moves in (("nodeA", 3), ("nodeB", 1)):
            history = grid_history(grid_id, moves=moves)
            await publish(client, history)
            expected[grid_id] = len(history)
    finally:
        await client.close()
    await _run_node(
        node,
        "esdb.test.mjs",
        {
            "ROVER_INTEROP_ESDB": f"esdb://127.0.0.1:{eventstore.port}?tls=false",
            "ROVER_INTEROP_EXPECT": json.dumps(expected),
            "ROVER_INTEROP_GROUP": "downstream",
        },
    )


@contextlib.asynccontextmanager
async def _system(data_dir: Path) -> AsyncIterator[dict[str, str]]:
    """``python -m services.up`` on free ports; yields the ROVER_INTEROP_* addresses."""
    addresses = {name: f"127.0.0.1:{_free_port()}" for name in ("command", "query", "live")}
    eventstore_port = _free_port()
    env = {
        **os.environ,
        "ROVER_DATA_DIR": str(data_dir),
        "ROVER_EVENTSTORE_PORT": str(eventstore_port),
        "ROVER_REDIS_PORT": str(_free_port()),
        "ROVER_COMMAND_ADDRESS": addresses["command"],
        "ROVER_QUERY_ADDRESS": addresses["query"],
        "ROVER_BROADCASTER_ADDRESS": addresses["live"],
        "ROVER_WEB_ADDRESS": f"127.0.0.1:{_free_port()}",
        "ROVER_LOG_FORMAT": "json",
    }
    log_path = data_dir / "up.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.up",
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        targets = zip(
            (addresses["command"], addresses["query"], addresses["live"]),
            _SERVICES.values(),
            strict=True,
        )
        for target, service in targets:
            probe = GrpcHealthProbe(target, service)
            try:
                async with asyncio.timeout(90):
                    while not await probe():
                        if process.returncode is not None:
                            break
                        await asyncio.sleep(0.2)
            except TimeoutError:
                pass
            finally:
                await probe.close()
            if process.returncode is not None or not await _serving(target, service):
                pytest.fail(
                    f"the system did not start ({service} at {target} not SERVING):\n"
                    + log_path.read_text(errors="replace")[-6000:]
                )
        yield {
            "ROVER_INTEROP_COMMAND": addresses["command"],
            "ROVER_INTEROP_QUERY": addresses["query"],
            "ROVER_INTEROP_LIVE": addresses["live"],
            "ROVER_INTEROP_ESDB": f"esdb://127.0.0.1:{eventstore_port}?tls=false",
        }
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def _serving(target: str, service: str) -> bool:
    probe = GrpcHealthProbe(target, service)
    try:
        return await probe()
    finally:
        await probe.close()


async def test_node_drives_the_system(node: str, tmp_path: Path) -> None:
    async with _system(tmp_path) as addresses:
        # No provisioning here: the command service creates the "downstream" group at start-up.
        await _run_node(node, "system.test.mjs", {**addresses, "ROVER_INTEROP_GROUP": "downstream"})


async def _replied(client: AsyncEventStoreDBClient, stream: str, count: int) -> None:
    """Wait until ``stream`` holds ``count`` events (a hang guard, no timing asserted)."""
    for _ in range(3_000):
        try:
            if len(await client.get_stream(stream)) >= count:
                return
        except NotFound:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"{stream} never held {count} events")


async def test_node_commands_through_the_inbox_apply_once_across_instances_and_a_restart(
    node: str, eventstore: EventStoreProcess
) -> None:
    """The KurrentDB client appends commands to the inbox while two command service instances
    consume it and one of them is replaced mid-way; each command is applied exactly once, in
    the order of its inbox stream (the Node test checks order and answers)."""
    grids = [f"node-inbox-{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    steps = 30
    instances: list[CommandApp] = []

    async def start() -> CommandApp:
        app = build(
            CommandSettings(
                command_address="127.0.0.1:0",
                command_metrics_address="",
                eventstore_uri=eventstore.uri,
                shutdown_grace_seconds=1.0,
            )
        )
        await app.start()
        instances.append(app)
        return app

    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    try:
        first = await start()
        await start()
        plan = json.dumps({"grids": grids, "steps": steps})
        node_run = asyncio.create_task(
            _run_node(
                node,
                "inbox.test.mjs",
                {
                    "ROVER_INTEROP_ESDB": eventstore.uri.replace("Tls", "tls"),
                    "ROVER_INTEROP_INBOX": plan,
                },
            )
        )
        await _replied(client, f"node-answers-{grids[0]}", 5)
        await first.stop()  # unacknowledged commands go back to the group ...
        await start()  # ... and a new instance joins
        await node_run
        for grid_id in grids:  # every command recorded exactly once
            assert len(await client.get_stream(f"grid-{grid_id}")) == steps + 2
    finally:
        for app in instances:
            await app.stop()
        await client.close()
