"""The live map in a real browser (headless Chromium through Playwright) on the real system."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.integration.web.conftest import StartSystem
from tests.integration.web.pages import create_grid, land, rover, send_commands

pytestmark = pytest.mark.slow

# `WEB_SCREENSHOT=docs/web-grid.png` makes the first test write the README's screenshot there.
SCREENSHOT = os.environ.get("WEB_SCREENSHOT", "")


async def test_drive_from_one_page_and_watch_live_in_another(
    start_system: StartSystem, browser: Browser, tmp_path: Path
) -> None:
    system = await start_system()
    driver = await browser.new_page()
    await driver.goto(system.url)
    await create_grid(driver, "mars", 6, 5, "2,2 4,1")
    await expect(driver.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(driver.locator("#map .obstacle")).to_have_count(2)

    watcher = await browser.new_page()
    await watcher.goto(f"{system.url}/#grid=mars")
    await expect(watcher.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(watcher.locator('#grids tr[data-grid="mars"]')).to_have_count(1)

    await land(driver, "spirit", 1, 2, "DIRECTION_EAST")
    await land(driver, "opportunity", 1, 4, "DIRECTION_SOUTH")
    await expect(rover(watcher, "spirit")).to_have_attribute("data-facing", "DIRECTION_EAST")
    await expect(rover(watcher, "spirit")).to_contain_text("spirit east")

    # Into the obstacle at (2, 2): the rover stays, the block is shown and logged.
    await send_commands(driver, "spirit", "F")
    await expect(watcher.locator("#block")).to_contain_text("spirit blocked by BLOCKED_BY_OBSTACLE")
    await expect(watcher.locator("#map .hit")).to_have_count(1)
    # One step down, then into spirit: blocked by the rover.
    await send_commands(driver, "opportunity", "FF")
    await expect(watcher.locator("#block")).to_contain_text(
        "opportunity blocked by BLOCKED_BY_ROVER (spirit)"
    )
    await expect(rover(watcher, "opportunity")).to_have_attribute("data-y", "3")
    # The arrow keys drive the chosen rover: right turns spirit to face south.
    await driver.locator("#drive [name=roverId]").select_option("spirit")
    await driver.locator("#map").click()
    await driver.keyboard.press("ArrowRight")
    await expect(rover(watcher, "spirit")).to_have_attribute("data-facing", "DIRECTION_SOUTH")
    await driver.locator("#drive [data-command=F]").click()
    await expect(rover(watcher, "spirit")).to_have_attribute("data-y", "1")

    # GridCreated, 2 landings, a block, a move, a block, a turn, a move: version 8.
    await expect(watcher.locator("#log li").last).to_have_attribute("data-sequence", "8")
    await expect(driver.locator("#log li").last).to_have_attribute("data-sequence", "8")
    sequences = await watcher.locator("#log li").evaluate_all(
        "items => items.map(item => Number(item.dataset.sequence))"
    )
    assert sequences == list(range(sequences[0], 9))
    await watcher.set_viewport_size({"width": 1200, "height": 820})
    image = await watcher.screenshot(path=SCREENSHOT or tmp_path / "grid.png", full_page=True)
    assert image.startswith(b"\x89PNG")


async def test_errors_appear_next_to_their_form_in_words(
    start_system: StartSystem, browser: Browser
) -> None:
    system = await start_system()
    page = await browser.new_page()
    await page.goto(system.url)
    await create_grid(page, "rocks", 3, 3, "5,5")
    await expect(page.locator("#create-grid .error")).to_contain_text("INVALID_ARGUMENT")
    await create_grid(page, "rocks", 3, 3, "")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await land(page, "one", 0, 0, "DIRECTION_NORTH")
    await page.locator("#land [name=roverId]").fill("two")
    await page.locator("#land button[type=submit]").click()
    await expect(page.locator("#land .error")).to_contain_text("FAILED_PRECONDITION")
    await send_commands(page, "one", "FXF")
    await expect(page.locator("#drive .error")).to_contain_text("INVALID_ARGUMENT")


async def test_what_people_typed_is_shown_as_text_never_run(
    start_system: StartSystem, browser: Browser
) -> None:
    system = await start_system()
    page = await browser.new_page()
    await page.goto(system.url)
    await create_grid(page, "<img src=x onerror=window.pwned=1>", 3, 3, "")
    await expect(page.locator("#create-grid .error")).to_contain_text("grid_id has '<'")
    await create_grid(page, "plain", 3, 3, "")
    await land(page, "one", 0, 0, "DIRECTION_NORTH")
    await send_commands(page, "one", "<script>window.pwned=2</script>")
    await expect(page.locator("#drive .error")).to_contain_text("INVALID_ARGUMENT")
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("form img, form script").count() == 0


async def _blank_site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Another site on this machine: an empty page for any request."""
    await reader.readuntil(b"\r\n\r\n")
    page = b"<!doctype html><title>another site</title>"
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nconnection: close\r\n"
        + f"content-length: {len(page)}\r\n\r\n".encode()
        + page
    )
    await writer.drain()
    writer.close()


async def test_a_page_of_another_origin_cannot_write(
    start_system: StartSystem, browser: Browser
) -> None:
    system = await start_system()
    site = await asyncio.start_server(_blank_site, "127.0.0.1", 0)
    other = await browser.new_page()
    await other.goto(f"http://localhost:{site.sockets[0].getsockname()[1]}/")
    target = f"{system.url}/api/rover.v1.RoverCommandService/CreateGrid"
    body = '{"gridId": "forged", "width": 3, "height": 3}'
    # A "simple" request (no preflight) reaches the server, which refuses it by its Origin.
    sent = await other.evaluate(
        "([url, body]) => fetch(url, {method: 'POST', mode: 'no-cors', body,"
        " headers: {'content-type': 'text/plain'}}).then(reply => reply.type)",
        [target, body],
    )
    assert sent == "opaque"  # it went out; the answer is not that page's to read
    # A JSON request needs a preflight, which is never granted: the browser does not send it.
    refused = await other.evaluate(
        "([url, body]) => fetch(url, {method: 'POST', body,"
        " headers: {'content-type': 'application/json'}}).then(() => 'sent', () => 'blocked')",
        [target, body],
    )
    assert refused == "blocked"
    site.close()
    async with httpx.AsyncClient(base_url=system.url) as client:
        missing = await client.post(
            "/api/rover.v1.RoverQueryService/GetGridDetails", json={"gridId": "forged"}
        )
    assert missing.json()["code"] == "NOT_FOUND"
