"""App.stop: background loops that do not end when cancelled cannot keep the stop from
closing what the service opened; they are logged with where they wait."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from services.common.app import App, Lifecycle
from services.common.settings import ServerSettings


class _Settings(ServerSettings):
    pass


async def test_a_loop_that_ignores_cancellation_is_logged_and_the_close_steps_still_run() -> None:
    release = asyncio.Event()
    closed: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()  # what a wait without a deadline inside a cleanup does

    async def failing() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup broke") from None

    async def close() -> None:
        closed.append("closed")

    lifecycle = Lifecycle(background=[("stubborn", stubborn), ("failing", failing)], close=[close])
    app = App(
        "test",
        _Settings(shutdown_grace_seconds=0.2),
        address="127.0.0.1:0",
        services=[],
        parts=None,
        lifecycle=lifecycle,
    )
    await app.start()
    await asyncio.sleep(0)  # the loops are running
    with capture_logs() as logs:
        await app.stop()
    assert closed == ["closed"]
    left = [r for r in logs if r["event"].startswith("background task did not stop")]
    assert [r["task"] for r in left] == ["test-stubborn"]
    assert "in stubborn" in left[0]["stack"]  # where it waits
    failed = [r for r in logs if r["event"] == "background task failed while stopping"]
    assert [(r["task"], r["error_type"], r["error"]) for r in failed] == [
        ("test-failing", "RuntimeError", "cleanup broke")
    ]
    release.set()  # let the left task end, so the test leaves nothing running
    await asyncio.sleep(0.01)
