"""Logs: one JSON record a line, every record names its logger, a dead stderr never raises."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator

import pytest
import structlog

from services.common.logs import SafeStream, configure_logging, get_logger


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging(level="INFO", fmt="json", service="test")
    yield buffer
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    logging.getLogger().handlers.clear()


def test_every_record_names_its_logger(captured: io.StringIO) -> None:
    get_logger("services.command.bootstrap").info("ours")
    logging.getLogger("grpc._cython").warning("a library's")
    structlog.get_logger().info("unnamed")
    records = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["ours", "a library's", "unnamed"]
    assert [r["logger_name"] for r in records] == [
        "services.command.bootstrap",
        "grpc._cython",
        "root",
    ]
    assert all(r["service"] == "test" for r in records)


def test_a_write_to_a_dead_pipe_is_dropped_not_raised() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    dead = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below, by hand
    try:
        stream = SafeStream(dead)
        stream.write("x" * 100_000)  # larger than the pipe buffer: the write must fail
        stream.flush()
        assert stream.broken
        stream.write("later records are dropped")
        stream.flush()
    finally:
        with contextlib.suppress(BrokenPipeError):  # what is left in its buffer cannot go
            dead.close()


class _Disk(io.StringIO):
    """A stream that is full once, then has room again."""

    full = True

    def write(self, text: str) -> int:
        if self.full:
            self.full = False
            raise OSError(28, "No space left on device")
        return super().write(text)


def test_a_full_disk_loses_one_record_not_the_log() -> None:
    disk = _Disk()
    stream = SafeStream(disk)
    stream.write("lost\n")
    stream.write("kept\n")
    assert not stream.broken
    assert disk.getvalue() == "kept\n"


def test_a_librarys_failure_is_a_plain_traceback_in_json(captured: io.StringIO) -> None:
    try:
        raise KeyError("lost")
    except KeyError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    (record,) = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert record["exception"].endswith("KeyError: 'lost'")
    assert "exc_info" not in record


def test_a_librarys_failure_in_the_console_has_no_locals(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging(fmt="console")
    try:
        password = "hunter2"  # a rich traceback prints every frame's locals
        raise KeyError(len(password))
    except KeyError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    text = buffer.getvalue()
    assert "Traceback (most recent call last):" in text
    assert "hunter2" not in text.replace('password = "hunter2"', "")
