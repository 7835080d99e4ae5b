"""supervised: a store outage is waited out with a warning; any other failure is an error."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from services.common.app import supervised
from services.common.store_errors import StoreUnavailableError


async def test_an_outage_is_a_warning_and_a_failure_an_error_each_restarted() -> None:
    failures: list[Exception] = [StoreUnavailableError("leader changed"), ValueError("bug")]
    runs = 0
    done = asyncio.Event()

    async def run() -> None:
        nonlocal runs
        runs += 1
        if failures:
            raise failures.pop(0)
        done.set()
        await asyncio.Future()  # the third run keeps going

    with capture_logs() as logs:
        task = asyncio.create_task(supervised("projector", run, retry_seconds=0.001))
        await done.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert runs == 3
    outage, failure = logs
    assert outage["log_level"] == "warning"
    assert outage["task"] == "projector"
    assert "exc_info" not in outage
    assert failure["log_level"] == "error"
    assert failure["exc_info"] is True
