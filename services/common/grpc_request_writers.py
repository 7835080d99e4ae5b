"""A grpc.aio workaround: the task writing a call's request iterator can be left pending forever.

A call made with a request iterator (esdbclient's BatchAppend sends ``iter([request])``, its
persistent subscriptions an async iterator of acks) gets a task that writes the requests once
the call has sent its headers. grpc.aio 1.71 leaves that task pending for good when

- the call's set-up task is cancelled before it ever ran: the task that started the call was
  cancelled at once (a publisher lane its task group cancels). Nothing cancels the call; once
  its caller let go of it, it is garbage collected with the writer still waiting;
- the call ends by itself (an error, the server's end of a stream) while the writer waits for
  the headers or for the next request: grpc cancels the writer only when ``cancel()`` ends a
  call (grpc/grpc#29518; #37355 proposed the same remedy).

asyncio then logs "Task was destroyed but it is pending!" when the writer is collected.
``settle_request_writer`` cancels the call in the first case and the writer in the second.

It reads private attributes of grpc.aio's calls; ``missing_internals`` checks at start that
grpc still declares them. Without them nothing is done: only that log line can come back.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

__all__ = ["missing_internals", "settle_request_writer"]

# (class in grpc.aio._call, attribute it declares): the writer, and each call kind's set-up task
_INTERNALS = (
    ("_StreamRequestMixin", "_async_request_poller"),
    ("_StreamResponseMixin", "_preparation"),  # stream-stream calls
    ("_UnaryResponseMixin", "_call_response"),  # stream-unary calls
)


def missing_internals() -> list[str]:
    """The grpc.aio call attributes ``settle_request_writer`` relies on that grpc lacks."""
    try:
        calls = importlib.import_module("grpc.aio._call")
    except ImportError:
        return ["grpc.aio._call"]
    return [
        f"{kind}.{name}"
        for kind, name in _INTERNALS
        if name not in getattr(getattr(calls, kind, None), "__annotations__", {})
    ]


def settle_request_writer(call: Any) -> None:
    """For a call just started with a request iterator: make sure its writer task ends."""
    writer = getattr(call, "_async_request_poller", None)
    if not isinstance(writer, asyncio.Task):
        return  # no request iterator, no writer
    setup = getattr(call, "_preparation", None) or getattr(call, "_call_response", None)
    if isinstance(setup, asyncio.Task):

        def cancel_call_if_never_set_up(task: asyncio.Task[Any]) -> None:
            if task.cancelled():  # cancelled before it ran: grpc's own handler never did
                call.cancel()

        setup.add_done_callback(cancel_call_if_never_set_up)

    def stop_writer(_call: object) -> None:
        writer.cancel()  # nothing more can be written; a no-op when it has finished

    call.add_done_callback(stop_writer)
