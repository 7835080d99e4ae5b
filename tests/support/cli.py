"""Run the real ``rover`` program in a child process."""

from __future__ import annotations

import asyncio
import sys

__all__ = ["run_rover"]


async def run_rover(*words: str) -> tuple[int, str, str]:
    """``rover WORDS``: exit status, stdout, stderr (60 s at most)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *words,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
