"""``rover watch`` (the real program) across a restart of a real broadcaster on the same port."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tests.integration.broadcaster.commands import CommandStub, GridDriver
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import SAFETY, new_grid_id

pytestmark = pytest.mark.slow


class _Rover:
    """``python -m services.cli watch`` in a child process, its output read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def watch(cls, grid_id: str, port: int, retry_seconds: float) -> _Rover:
        env = {**os.environ, "ROVER_CLI_WATCH_RETRY_SECONDS": str(retry_seconds)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "watch", grid_id,
            "--live-address", f"127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        return cls(process)

    async def until(self, wanted: str) -> None:
        """Read lines until one starts with ``wanted`` (a hang fails after SAFETY seconds)."""

        async def read() -> None:
            assert self.process.stdout is not None
            while not self.lines or not self.lines[-1].startswith(wanted):
                raw = await self.process.stdout.readline()
                assert raw, f"rover watch ended before {wanted!r}: {self.lines[-20:]}"
                self.lines.append(raw.decode().rstrip("\n"))

        await asyncio.wait_for(read(), SAFETY)

    def events(self) -> list[int]:
        return [int(line.split()[1][1:]) for line in self.lines if line.startswith("last: #")]


async def test_rover_watch_resumes_after_a_broadcaster_restart_and_misses_nothing(
    commands: CommandStub, start_broadcaster: StartBroadcaster
) -> None:
    first = await start_broadcaster()
    driver = GridDriver(commands, new_grid_id("cli"), rovers=2)
    await driver.run(5)
    rover = await _Rover.watch(driver.grid_id, first.port, retry_seconds=60)
    try:
        await rover.until("last: snapshot")
        snapshot = driver.version
        assert f"{driver.grid_id}  8x8 toroidal (edges wrap)  version {snapshot}" in rover.lines
        await driver.run(5)
        await rover.until(f"last: #{driver.version} ")
        before_stop = driver.version

        await first.stop(grace=1.0)
        await rover.until("broadcaster unavailable; retrying for up to 60s")
        await driver.run(5)  # while no broadcaster runs
        await start_broadcaster(broadcaster_address=f"127.0.0.1:{first.port}")
        await rover.until(f"broadcaster restarted; resuming from version {before_stop}")
        await driver.run(5)
        await rover.until(f"last: #{driver.version} ")
    finally:
        rover.process.send_signal(signal.SIGINT)
        status = await asyncio.wait_for(rover.process.wait(), SAFETY)
    assert status == 130
    assert rover.events() == list(range(snapshot + 1, driver.version + 1))
    legend = {line.split(" at ")[0] for line in rover.lines if " at (" in line[:12]}
    assert legend == {"  R r0", "  1 r1"}  # each rover its own label


async def test_rover_watch_gives_up_with_exit_3_when_the_broadcaster_stays_away(
    commands: CommandStub, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster()
    driver = GridDriver(commands, new_grid_id("cli"), rovers=1)
    await driver.run(3)
    rover = await _Rover.watch(driver.grid_id, broadcaster.port, retry_seconds=1)
    await rover.until("last: snapshot")
    await broadcaster.stop(grace=1.0)
    status = await asyncio.wait_for(rover.process.wait(), SAFETY)
    assert rover.process.stderr is not None
    err = (await rover.process.stderr.read()).decode()
    assert status == 3
    assert "the live service did not come back within 1s" in err
    assert f"rover watch {driver.grid_id} --from-version {driver.version})" in err
