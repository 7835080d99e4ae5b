"""``rover submit ...`` and ``rover result`` (the real program, in a child process)."""

from __future__ import annotations

from services.cli.submit import EXIT_PENDING
from services.command.bootstrap import CommandApp
from tests.integration.command.conftest import new_id
from tests.support.cli import run_rover


async def _rover(service: CommandApp, *words: str) -> tuple[int, str, str]:
    """Run ``rover WORDS`` at the command service: status, stdout, stderr."""
    return await run_rover(*words, "--command-address", service.address, "--timeout", "30")


async def test_submit_wait_and_result_print_what_the_direct_command_prints(
    service: CommandApp,
) -> None:
    grid = new_id()
    code, out, err = await _rover(
        service, "submit", "grid", "create", "--width", "5", "--height", "5", "--id", grid,
        "--wait",
    )  # fmt: skip
    assert code == 0, err
    assert f"to rover-inbox-{grid} (position " in out
    assert f"grid {grid} is at version 1" in out

    code, out, err = await _rover(
        service, "submit", "land", grid, "--at", "1,1", "--facing", "N", "--id", "r1",
        "--request-id", f"land-{grid}",
    )  # fmt: skip
    assert code == 0, err
    assert f"rover result land-{grid}" in out
    code, out, err = await _rover(service, "result", f"land-{grid}", "--wait", "30")
    assert code == 0, err
    assert "r1 is at (1,1) facing N" in out

    code, out, err = await _rover(
        service, "submit", "drive", grid, "nobody", "F", "--wait", "--reply-stream", f"a-{grid}"
    )
    assert code == 1
    assert "has no rover 'nobody'" in err

    code, out, _ = await _rover(service, "result", f"never-{grid}")
    assert code == EXIT_PENDING
    assert "no outcome yet" in out
