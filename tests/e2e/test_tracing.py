"""``OTEL_TRACES_EXPORTER=console make run``: one rover command shows the same trace id in
the command, query and broadcaster logs (the console exporter writes each span there)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DRIVE_RPC = "/rover.v1.RoverCommandService/ExecuteRoverCommands"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "rover-data")
    running.env.update(OTEL_TRACES_EXPORTER="console", OTEL_BSP_SCHEDULE_DELAY="100")
    try:
        yield running
    finally:
        running.kill()


def _spans(log: Path) -> list[dict[str, Any]]:
    """The console exporter's lines of a service's log (its own records are JSON too)."""
    spans = []
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"context"' in line:
            record = json.loads(line)
            if "trace_id" in record.get("context", {}):
                spans.append(record)
    return spans


def _names_in_trace(log: Path, trace_id: str) -> set[str]:
    return {s["name"] for s in _spans(log) if s["context"]["trace_id"] == trace_id}


def test_one_rover_command_is_one_trace_in_the_three_services_logs(system: System) -> None:
    system.start()
    for command in (
        ".venv/bin/rover grid create --width 5 --height 5 --id plateau",
        ".venv/bin/rover land plateau --at 1,1 --facing N --id spirit",
        ".venv/bin/rover drive plateau spirit F",
    ):
        done = system.run(command)
        assert done.returncode == 0, done.stderr
    logs = Path(system.env["ROVER_DATA_DIR"]) / "logs"
    wanted = {
        "command": {DRIVE_RPC, "rover.grid.append", "rover.publish"},  # the grid is cached
        "query": {"rover.project"},
        "broadcaster": {"rover.broadcast"},
    }
    deadline = time.monotonic() + 60
    while True:
        drives = [s for s in _spans(logs / "command.log") if s["name"] == DRIVE_RPC]
        found = {}
        if drives:
            trace_id = drives[0]["context"]["trace_id"]
            found = {name: _names_in_trace(logs / f"{name}.log", trace_id) for name in wanted}
        if all(wanted[name] <= found.get(name, set()) for name in wanted):
            break
        assert time.monotonic() < deadline, f"not all spans of the command's trace: {found}"
        time.sleep(0.2)
