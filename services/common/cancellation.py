"""Re-raise a task cancellation that a library turned into a normal ending.

esdbclient's asyncio read responses and subscriptions catch ``CancelledError`` and end the
iteration quietly (``StopAsyncIteration``), and ``get_stream`` then returns a truncated tuple.
Code that loops over them must check, after the loop or the call, whether its task is being
cancelled; otherwise a shutdown looks like "the stream ended" and the caller carries on.
"""

from __future__ import annotations

import asyncio

__all__ = ["raise_if_cancelling"]


def raise_if_cancelling() -> None:
    """Raise ``CancelledError`` if the current task has a pending cancellation request."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
