"""The real grpcurl drives every RPC through server reflection (no .proto files)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from services.command.bootstrap import CommandApp
from tests.integration.command.conftest import new_id

_GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
_SERVICE = "rover.v1.RoverCommandService"


async def grpcurl(address: str, *args: str, body: str | None = None) -> tuple[int, str]:
    assert _GRPCURL is not None
    flags = ["-d", body] if body is not None else []
    process = await asyncio.create_subprocess_exec(
        _GRPCURL,
        "-plaintext",
        *flags,
        address,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def call(address: str, method: str, body: dict[str, object]) -> dict[str, object]:
    code, out = await grpcurl(address, f"{_SERVICE}/{method}", body=json.dumps(body))
    assert code == 0, out
    result: dict[str, object] = json.loads(out)
    return result


@pytest.mark.skipif(_GRPCURL is None, reason="grpcurl is not installed")
async def test_grpcurl_lists_and_calls_every_rpc(service: CommandApp) -> None:
    address = service.address
    code, listing = await grpcurl(address, "list", _SERVICE)
    assert code == 0, listing
    methods = {line.rsplit(".", 1)[-1] for line in listing.split()}
    assert methods == {
        "CreateGrid",
        "CreateRover",
        "MoveRoverForward",
        "MoveRoverBackward",
        "TurnRoverLeft",
        "TurnRoverRight",
        "ExecuteRoverCommands",
        "SubmitCommand",
        "GetCommandResult",
    }
    grid = new_id()
    created = await call(
        address,
        "CreateGrid",
        {
            "request_id": new_id(),
            "grid_id": grid,
            "width": 6,
            "height": 6,
            "obstacles": [{"x": 4, "y": 4}],
        },
    )
    assert created["version"] == "1"
    rover = {"grid_id": grid, "rover_id": "r1"}
    landed = await call(
        address,
        "CreateRover",
        {**rover, "position": {"x": 1, "y": 2}, "facing": "DIRECTION_NORTH"},
    )
    assert landed["rover"] == {
        "rover_id": "r1",
        "position": {"x": 1, "y": 2},
        "facing": "DIRECTION_NORTH",
    }
    for method, payload in [
        ("MoveRoverForward", "rover_moved_forward"),
        ("MoveRoverBackward", "rover_moved_backward"),
        ("TurnRoverLeft", "rover_turned_left"),
        ("TurnRoverRight", "rover_turned_right"),
    ]:
        result = await call(address, method, {"request_id": new_id(), **rover})
        events = result["events"]
        assert isinstance(events, list)
        assert payload in events[0]
    executed = await call(address, "ExecuteRoverCommands", {**rover, "commands": "RFFFFF"})
    assert executed["block"] == {
        "position": {"x": 5, "y": 2},
        "target": {"x": 6, "y": 2},
        "blocked_by": "BLOCKED_BY_EDGE",
        "remaining_commands": "F",
    }
    submitted = await call(
        address,
        "SubmitCommand",
        {"turn_rover_right": {"request_id": "grpcurl-turn-1", **rover}},
    )
    assert submitted["reply_stream"] == "rover-reply-grpcurl-turn-1"
    answer = await call(
        address, "GetCommandResult", {"request_id": "grpcurl-turn-1", "wait_seconds": 30}
    )
    assert answer["rover"] == {
        "rover_id": "r1",
        "position": {"x": 5, "y": 2},
        "facing": "DIRECTION_SOUTH",
    }
    code, out = await grpcurl(
        address,
        f"{_SERVICE}/TurnRoverLeft",
        body=json.dumps({"grid_id": "no-such-grid", "rover_id": "r1"}),
    )
    assert code != 0
    assert "NotFound" in out
