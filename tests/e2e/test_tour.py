"""docs/tour.md, word for word, against ``python -m services.up`` started as a user would.

Every ``sh`` block of the tour is run (grpcurl is the real binary; ``.venv/bin/rover`` is the
CLI) with the ports swapped for free ones, and its output must equal the block that follows,
apart from event ids and timestamps. Then SIGTERM must stop everything cleanly in reverse
order, and a second start must find the same grids.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.system import ROOT, START_ORDER, System

TOUR = ROOT / "docs" / "tour.md"
README = ROOT / "README.md"
VOLATILE = {"event_id", "occurred_at", "sent_at"}
WATCH_MARK = "<!-- tour: watch output -->"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass(frozen=True, slots=True)
class Step:
    """One command of the tour and the reply it documents (None: not checked)."""

    command: str
    kind: str = ""
    expected: str | None = None


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


def banner_hints(banner: str) -> list[str]:
    """The commands under "Try:" in the banner ``make run`` printed."""
    hints = []
    for line in banner.split("Try:", 1)[1].splitlines()[1:]:
        if not line.strip():
            break
        hints.append(line.strip())
    return hints


def readme_first_commands() -> list[str]:
    """The README's "A first command to try" block, one command each."""
    block = re.search(r"A first command to try:\n\n```bash\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "README lost its 'A first command to try' block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line]


def _first_tries(system: System) -> None:
    """What a newcomer runs before the tour: the banner's hints exactly as printed, then the
    README's first commands. They must work and must not change what the tour shows."""
    hints = banner_hints(system.out.read_text())
    assert any(hint.startswith(".venv/bin/rover") for hint in hints), hints
    for hint in hints:
        done = subprocess.run(
            shlex.split(hint), cwd=ROOT, env=system.env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{hint}\n{done.stdout}\n{done.stderr}"
    commands = readme_first_commands()
    assert len(commands) >= 2
    for command in commands:
        done = system.run(command)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"


def test_the_tour_word_for_word_then_restart_keeps_the_grids(system: System) -> None:
    steps, watch_expected = parse_tour(TOUR.read_text())
    assert len(steps) >= 15
    assert watch_expected, "the tour documents the watcher's output"
    system.start()
    _first_tries(system)
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
    logs = Path(system.env["ROVER_DATA_DIR"]) / "logs"
    for service in ("command", "query", "broadcaster"):  # make run's key: signed, verified
        assert "integration events are signed and verified" in (logs / f"{service}.log").read_text()

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
