"""The page across a broadcaster restart, and with auth on (headless Chromium, real system)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.integration.web.conftest import StartSystem
from tests.integration.web.pages import create_grid, land, rover, send_commands
from tests.support.auth import AUTH

pytestmark = pytest.mark.slow


async def logged_sequences(page: Page) -> list[int]:
    sequences: list[int] = await page.locator("#log li").evaluate_all(
        "items => items.map(item => Number(item.dataset.sequence))"
    )
    return sequences


async def test_the_page_resumes_after_a_broadcaster_restart_with_no_gap(
    start_system: StartSystem, browser: Browser
) -> None:
    system = await start_system()
    driver = await browser.new_page()
    await driver.goto(system.url)
    await create_grid(driver, "gale", 5, 5, "")
    await land(driver, "curiosity", 0, 0, "DIRECTION_NORTH")
    watcher = await browser.new_page()
    await watcher.goto(f"{system.url}/#grid=gale")
    await expect(rover(watcher, "curiosity")).to_have_count(1)
    await expect(watcher.locator("#connection")).to_have_attribute("data-state", "live")
    assert await logged_sequences(watcher) == [2]  # the snapshot: created, landed

    address = await system.stop_live()
    await expect(watcher.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    # Changes made while nobody can watch: the page must get every one of them after.
    await send_commands(driver, "curiosity", "FFR")
    await expect(driver.locator("#drive .error")).to_have_text("")
    await system.restart_live(address)

    await expect(rover(watcher, "curiosity")).to_have_attribute("data-facing", "DIRECTION_EAST")
    await expect(watcher.locator("#connection")).to_have_attribute("data-state", "live")
    await send_commands(driver, "curiosity", "F")
    await expect(watcher.locator("#log li").last).to_have_attribute("data-sequence", "6")
    # Resumed from #2, not started again from a new snapshot: each change once, in order.
    assert await logged_sequences(watcher) == [2, 3, 4, 5, 6]
    await expect(rover(watcher, "curiosity")).to_have_attribute("data-x", "1")
    await expect(rover(watcher, "curiosity")).to_have_attribute("data-y", "2")


async def test_with_auth_on_a_viewer_watches_but_cannot_drive(
    start_system: StartSystem, browser: Browser
) -> None:
    system = await start_system(auth=AUTH)
    page = await browser.new_page()
    await page.goto(system.url)
    await expect(page.locator("#grids-error")).to_contain_text("UNAUTHENTICATED")
    await page.locator("#token").fill("operator-token")
    await page.locator("#token").dispatch_event("change")
    await create_grid(page, "jezero", 4, 4, "")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await land(page, "perseverance", 1, 1, "DIRECTION_NORTH")

    await page.locator("#token").fill("viewer-token")
    await page.locator("#token").dispatch_event("change")
    await page.reload()
    await expect(rover(page, "perseverance")).to_have_count(1)
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await send_commands(page, "perseverance", "F")
    await expect(page.locator("#drive .error")).to_contain_text("PERMISSION_DENIED")
    await expect(page.locator("#drive .error")).to_contain_text("needs the role operator")
    await expect(rover(page, "perseverance")).to_have_attribute("data-y", "1")
