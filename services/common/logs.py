"""Structured logging: structlog for our records, stdlib logging (grpc, esdbclient) routed alike."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from services.common.tracing import add_trace_ids

__all__ = ["SafeStream", "configure_logging", "failure_fields", "get_logger"]


# The reader is gone for good: nothing written from now on can reach anyone.
_GONE = (BrokenPipeError, ConnectionResetError)


class SafeStream:
    """A text stream whose writes never raise: logging must not fail the caller.

    When stderr is a pipe whose reader died (``make run | tee log`` and tee killed by
    Ctrl-C), a log write raises BrokenPipeError; inside a signal handler that would lose the
    signal. After that the stream drops everything, as there is no one to read it; any other
    failure (a full disk) loses one record only.
    """

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self.broken = False

    def write(self, text: str) -> int:
        """Write ``text``; a dead reader breaks the stream, any other failure drops this write."""
        if not self.broken:
            try:
                self._target.write(text)
            except _GONE:
                self._break()
            except (OSError, ValueError):
                pass  # a full disk or an unencodable character: lose this record, keep logging
        return len(text)

    def flush(self) -> None:
        """Flush; a dead reader breaks the stream, any other failure is retried next time."""
        if not self.broken:
            try:
                self._target.flush()
            except _GONE:
                self._break()
            except (OSError, ValueError):
                pass

    def _break(self) -> None:
        # What the target still buffers would fail again when the interpreter flushes it at
        # exit (exit status 120 after a clean stop): point its descriptor at /dev/null.
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._target.fileno())
            finally:
                os.close(devnull)


def _logger_name(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """Every record names its logger: stdlib records (grpc, asyncio) by their logger's name."""
    if "logger_name" not in event_dict:
        record = event_dict.get("_record")
        event_dict["logger_name"] = record.name if record is not None else "root"
    return event_dict


def failure_fields(error: BaseException) -> dict[str, str]:
    """A failure as a record's fields, cheap to render: ``error_type`` (its class),
    ``error`` (its message) and ``exception`` (a plain traceback: no locals, no colours, no
    boxes, so logging it never holds the event loop up for long).

    Every background failure is logged with these (``services.common.app.supervised``)."""
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return {
        "error_type": name,
        "error": str(error),
        "exception": "".join(traceback.format_exception(error)).rstrip("\n"),
    }


def configure_logging(*, level: str = "INFO", fmt: str = "json", service: str = "") -> None:
    """Configure structlog and the stdlib root logger to write one record a line to stderr."""
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _logger_name,
        add_trace_ids,  # inside a span (tracing on): its trace_id and span_id
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    stream = SafeStream(sys.stderr)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # plain tracebacks: the default (rich, with every frame's locals) takes milliseconds
        # per record in the event loop, and prints whatever secrets the locals hold
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    if service:
        structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # a library's record with exc_info (asyncio's "exception was never
                # retrieved"): its traceback as plain text, in JSON too (not a repr)
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A structured logger; ``name`` becomes the ``logger_name`` field of every record."""
    if name == "__main__":  # `python -m services.up`: name the module, not "__main__"
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        name = spec.name.removesuffix(".__main__") if spec is not None else name
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(logger_name=name)
    return logger
