"""Fixtures of the web front-end's tests: the whole system in this test's loop, and a browser."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from standins.eventstore.server import EventStoreServer
from tests.integration.web.system import WebSystem
from tests.support.redis_server import redis_server, redis_url  # noqa: F401

StartSystem = Callable[..., Awaitable[WebSystem]]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def start_system(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> AsyncIterator[StartSystem]:
    """``await start_system(auth=..., broadcaster_overrides=...)``: a started WebSystem."""
    started: list[WebSystem] = []

    async def start(**options: Any) -> WebSystem:
        system = WebSystem(eventstore.uri, redis_url, **options)
        started.append(system)
        return await system.start()

    yield start
    for system in started:
        await system.stop()


def chromium_path() -> str:
    """Debian's chromium; a clear failure (never a skip) when it is missing."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        pytest.fail(
            "the browser tests need Debian's chromium at /usr/bin/chromium: "
            "apt-get install chromium (.ci/run does); never `playwright install`"
        )
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium driven by Playwright."""
    path = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield launched
        finally:
            await launched.close()
