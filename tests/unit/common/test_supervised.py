"""supervised: a store outage is waited out with a warning; any other failure is an error."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys

import pytest
import structlog
from structlog.testing import capture_logs

from services.common.app import supervised
from services.common.logs import configure_logging
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
    assert (failure["error_type"], failure["error"]) == ("ValueError", "bug")
    assert "exc_info" not in failure  # nothing left for a renderer to format its own way


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_a_failure_is_one_record_with_a_plain_traceback(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging(fmt=fmt, service="test")
    try:
        await _fail_once_then_run()
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        logging.getLogger().handlers.clear()
    text = buffer.getvalue()
    assert text.count("background task failed; restarting") == 1
    assert "Traceback (most recent call last):" in text
    assert "raise ValueError(" in text  # the failing line
    assert "failed = True" not in text  # no locals (a rich traceback shows them)
    assert "\u256d" not in text  # no rich box
    if fmt == "json":
        (record,) = [json.loads(line) for line in text.splitlines()]
        assert record["event"] == "background task failed; restarting"
        assert (record["task"], record["level"]) == ("projector", "error")
        assert (record["error_type"], record["error"]) == ("ValueError", "bug in step 7")
        assert record["exception"].endswith("ValueError: bug in step 7")


async def _fail_once_then_run() -> None:
    done = asyncio.Event()
    failed = False

    async def run() -> None:
        nonlocal failed
        if not failed:
            failed = True
            raise ValueError("bug in step 7")
        done.set()
        await asyncio.Future()

    task = asyncio.create_task(supervised("projector", run, retry_seconds=0.001))
    await done.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
