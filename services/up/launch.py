"""Exec a child so that it gets SIGTERM if the supervisor dies (Linux ``PR_SET_PDEATHSIG``).

``python -m services.up.launch PARENT_PID PROGRAM ARGS...``: the supervisor runs every child
through this, so a supervisor killed with SIGKILL leaves no orphans holding the ports.
Elsewhere than Linux it simply execs the program.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence

__all__ = ["main", "wrap"]

_PR_SET_PDEATHSIG = 1


def wrap(argv: Sequence[str], parent_pid: int) -> tuple[str, ...]:
    """``argv`` run through this launcher on Linux; unchanged elsewhere."""
    if sys.platform != "linux":
        return tuple(argv)
    return (sys.executable, "-m", "services.up.launch", str(parent_pid), *argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Arm the parent-death signal, then replace this process with the program."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or not args[0].isdigit():
        sys.stderr.write("usage: python -m services.up.launch PARENT_PID PROGRAM [ARGS...]\n")
        return 2
    parent, program = int(args[0]), args[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the signal was armed
        return 1
    os.execvp(program[0], program)  # noqa: S606 - the supervisor's own plan
    return 1  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main())
