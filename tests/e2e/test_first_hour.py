"""A newcomer's first hour with ``make run``: one owner per data folder, Ctrl-C that always
works (the banner's hints and the README's first commands are run by test_tour.py)."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.system import ROOT, System, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "rover-data")
    try:
        yield running
    finally:
        running.kill()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _second_env(system: System) -> dict[str, str]:
    """Same data folder as ``system``, every port different (how the corruption happened)."""
    env = dict(system.env)
    env.update(
        ROVER_EVENTSTORE_PORT=str(free_port()),
        ROVER_REDIS_PORT=str(free_port()),
        ROVER_COMMAND_ADDRESS=f"127.0.0.1:{free_port()}",
        ROVER_QUERY_ADDRESS=f"127.0.0.1:{free_port()}",
        ROVER_BROADCASTER_ADDRESS=f"127.0.0.1:{free_port()}",
        ROVER_WEB_ADDRESS=f"127.0.0.1:{free_port()}",
    )
    return env


def test_a_second_run_on_the_same_data_folder_is_refused(system: System) -> None:
    system.start()
    assert system.process is not None
    second = subprocess.run(
        [sys.executable, "-m", "services.up"],
        cwd=ROOT,
        env=_second_env(system),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1
    data_dir = Path(system.env["ROVER_DATA_DIR"]).resolve()  # as make run names it
    assert f"the data folder {data_dir} is in use" in second.stderr
    assert f"(pid {system.process.pid})" in second.stderr
    # The first keeps working: it writes and reads as before.
    made = system.run(".venv/bin/rover grid create --width 3 --height 3 --id owner-test")
    assert made.returncode == 0, made.stderr
    listed = system.run(".venv/bin/rover grids")
    assert "owner-test" in listed.stdout
    code, _ = system.stop()
    assert code == 0


def _read_until_up(stream: IO[bytes], lines: queue.Queue[bytes]) -> None:
    """Hand over each line until the banner (then stop reading, so the pipe can be closed)."""
    for line in iter(stream.readline, b""):
        lines.put(line)
        if b"Mars Rover is up" in line:
            return


def test_ctrl_c_stops_everything_when_the_output_pipe_is_gone(tmp_path: Path) -> None:
    """``make run | tee log`` and Ctrl-C: tee dies first, then the signal must still work."""
    system = System(tmp_path / "rover-data")
    # Buffered output, as under make: what is still buffered must not fail the exit either.
    system.env.pop("PYTHONUNBUFFERED", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.up"],
        cwd=ROOT,
        env=system.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        reader = threading.Thread(  # a hung services.up must fail the test, not block it
            target=_read_until_up, args=(process.stdout, lines), daemon=True
        )
        reader.start()
        seen = b""
        deadline = time.monotonic() + 120
        while b"Mars Rover is up" not in seen:
            try:
                seen += lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"not up in 120 s:\n{seen.decode(errors='replace')}") from None
            assert process.poll() is None, seen.decode(errors="replace")[-4000:]
        process.stdout.close()  # the reader is gone: every later write is EPIPE
        reader.join(timeout=5)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=90) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not [name for name, port in system.ports.items() if _listening(port)]
