"""docs/tour.md, word for word, against ``python -m services.up`` started as a user would.

Every ``sh`` block of the tour is run (grpcurl is the real binary; ``.venv/bin/rover`` is the
CLI) with the ports swapped for free ones, and its output must equal the block that follows,
apart from event ids and timestamps. Then SIGTERM must stop everything cleanly in reverse
order, and a second start must find the same grids.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour.md"
GRPCURL = Path(sys.executable).parent / "grpcurl"
VOLATILE = {"event_id", "occurred_at", "sent_at"}
START_ORDER = ["eventstore", "redis", "command", "query", "broadcaster"]
WATCH_MARK = "<!-- tour: watch output -->"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass(frozen=True, slots=True)
class Step:
    """One command of the tour and the reply it documents (None: not checked)."""

    command: str
    kind: str = ""
    expected: str | None = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def parse_tour(text: str) -> tuple[list[Step], str]:
    """The runnable steps in order, and the documented output of the watcher."""
    blocks = list(re.finditer(r"```(\w+)\n(.*?)```", text, re.S))
    steps: list[Step] = []
    watch_output = ""
    for index, block in enumerate(blocks):
        lang, body = block.group(1), block.group(2)
        if lang == "sh":
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            adjacent = following is not None and text[block.end() : following.start()].strip() == ""
            if adjacent and following is not None and following.group(1) in ("json", "text"):
                steps.append(Step(body.strip(), following.group(1), following.group(2)))
            else:
                steps.append(Step(body.strip()))
        elif text[: block.start()].rstrip().endswith(WATCH_MARK):
            watch_output = body
    return steps, watch_output


def json_objects(text: str) -> list[Any]:
    """Every JSON value printed one after another (grpcurl prints a stream this way)."""
    decoder, index = json.JSONDecoder(), 0
    values: list[Any] = []
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return values
        value, index = decoder.raw_decode(text, index)
        values.append(value)


def masked(value: Any) -> Any:
    """``value`` with ids and timestamps replaced, for comparison across runs."""
    if isinstance(value, dict):
        return {k: "*" if k in VOLATILE else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


class System:
    """``python -m services.up`` on free ports in a temporary data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.ports = {name: _free_port() for name in ("store", "redis", "cmd", "query", "live")}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ROVER_")}
        self.env.update(
            ROVER_DATA_DIR=str(data_dir),
            ROVER_EVENTSTORE_PORT=str(self.ports["store"]),
            ROVER_REDIS_PORT=str(self.ports["redis"]),
            ROVER_COMMAND_ADDRESS=f"127.0.0.1:{self.ports['cmd']}",
            ROVER_QUERY_ADDRESS=f"127.0.0.1:{self.ports['query']}",
            ROVER_BROADCASTER_ADDRESS=f"127.0.0.1:{self.ports['live']}",
            ROVER_LOG_FORMAT="json",
        )
        self.logs = data_dir.parent
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self, timeout: float = 120.0) -> None:
        self.runs += 1
        self.out = self.logs / f"up-{self.runs}.out"
        self.err = self.logs / f"up-{self.runs}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.up"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while "Mars Rover is up" not in self.out.read_text():
            code = self.process.poll()
            assert code is None, f"services.up exited {code}:\n{self.err.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"not up in {timeout}s:\n{self.err.read_text()}"
            time.sleep(0.2)

    def stop(self) -> tuple[int, list[str]]:
        """SIGTERM; the exit status and the children in the order they were stopped."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=120)
        self.process = None
        stopped = []
        for line in self.err.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "child stopped":
                    stopped.append(record["child"])
        return code, stopped

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def argv(self, command: str) -> list[str]:
        """A tour command as argv here: our ports, the venv's grpcurl, the CLI module."""
        swaps = {"50051": "cmd", "50052": "query", "50053": "live"}
        for default, name in swaps.items():
            command = command.replace(f"localhost:{default}", f"localhost:{self.ports[name]}")
        words = shlex.split(command)
        if words[0] == ".venv/bin/grpcurl":
            return [str(GRPCURL), *words[1:]]
        if words[0] == ".venv/bin/rover":
            return [sys.executable, "-m", "services.cli", *words[1:]]
        raise AssertionError(f"the tour runs only grpcurl and rover, not {words[0]}")

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "rover-data")
    try:
        yield running
    finally:
        running.kill()


def _check(step: Step, output: str) -> None:
    assert step.expected is not None
    if step.kind == "json":
        assert masked(json_objects(output)) == masked(json_objects(step.expected)), step.command
    else:
        assert output.strip() == step.expected.strip(), step.command


def test_the_tour_word_for_word_then_restart_keeps_the_grids(system: System) -> None:
    steps, watch_expected = parse_tour(TOUR.read_text())
    assert len(steps) >= 15
    assert watch_expected, "the tour documents the watcher's output"
    system.start()
    watcher: subprocess.Popen[str] | None = None
    for step in steps:
        if "WatchGrid" in step.command:
            argv = system.argv(step.command)
            argv.insert(2, "-max-time")
            argv.insert(3, "8")
            watcher = subprocess.Popen(
                argv, cwd=ROOT, env=system.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            time.sleep(2.0)  # the snapshot first, before the next command changes the grid
            continue
        done = system.run(step.command)
        if step.expected is not None:
            _check(step, done.stdout + done.stderr)
        else:
            assert done.returncode == 0, f"{step.command}\n{done.stderr}"
        if watcher is not None:
            streamed, _ = watcher.communicate(timeout=30)
            watcher = None
            assert masked(json_objects(streamed)) == masked(json_objects(watch_expected))
    before = system.run(".venv/bin/rover grids").stdout

    code, stopped = system.stop()
    assert stopped == list(reversed(START_ORDER))
    assert code == 0

    system.start()
    after = system.run(".venv/bin/rover grids")
    assert after.returncode == 0
    assert after.stdout == before
    assert "mars" in after.stdout
    code, stopped = system.stop()
    assert (code, stopped) == (0, list(reversed(START_ORDER)))


def test_the_tour_parses_into_checked_steps() -> None:
    steps, watch_expected = parse_tour(TOUR.read_text())
    checked = [s for s in steps if s.expected is not None]
    assert len(checked) >= 14
    assert all(s.command.startswith((".venv/bin/grpcurl", ".venv/bin/rover")) for s in steps)
    assert len(json_objects(watch_expected)) == 3
