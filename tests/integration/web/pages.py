"""What a person does on the page, as Playwright steps (forms filled, buttons pressed)."""

from __future__ import annotations

from playwright.async_api import Page, expect

__all__ = ["create_grid", "land", "rover", "send_commands"]


async def create_grid(page: Page, grid_id: str, width: int, height: int, obstacles: str) -> None:
    form = page.locator("#create-grid")
    await form.locator("[name=gridId]").fill(grid_id)
    await form.locator("[name=width]").fill(str(width))
    await form.locator("[name=height]").fill(str(height))
    await form.locator("[name=obstacles]").fill(obstacles)
    await form.locator("button[type=submit]").click()


async def land(page: Page, rover_id: str, x: int, y: int, facing: str) -> None:
    form = page.locator("#land")
    await form.locator("[name=roverId]").fill(rover_id)
    await form.locator("[name=x]").fill(str(x))
    await form.locator("[name=y]").fill(str(y))
    await form.locator("[name=facing]").select_option(facing)
    await form.locator("button[type=submit]").click()
    await expect(rover(page, rover_id)).to_have_count(1)


async def send_commands(page: Page, rover_id: str, commands: str) -> None:
    form = page.locator("#drive")
    await form.locator("[name=roverId]").select_option(rover_id)
    await form.locator("[name=commands]").fill(commands)
    await form.locator("button[type=submit]").click()


def rover(page: Page, rover_id: str):  # type: ignore[no-untyped-def]
    """The rover's mark on the map."""
    return page.locator(f'#map [data-rover="{rover_id}"]')
