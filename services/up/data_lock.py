"""One owner per data folder: ``make run`` holds an OS lock on it for as long as it runs.

The lock is ``flock`` on ``<data>/up.lock``, which also holds the owner's pid for the message a
second ``make run`` prints. The kernel drops it when the owner exits, however it exits, so a
crash never leaves a stale lock behind. The event store also locks its own database; this lock
covers the whole folder (Redis files and logs too) and refuses before any port is touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

__all__ = ["LOCK_NAME", "DataDirBusyError", "DataDirLock"]

LOCK_NAME = "up.lock"


class DataDirBusyError(RuntimeError):
    """Another process holds the data folder."""


class DataDirLock:
    """An exclusive, non-blocking lock on a data folder; ``acquire`` creates the folder."""

    def __init__(self, data_dir: Path, role: str = "make run") -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self.role = role
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def owner(self) -> tuple[str, str]:
        """The holder's pid and role as it wrote them (empty when unknown)."""
        with contextlib.suppress(OSError, UnicodeDecodeError):
            pid, _, role = self.path.read_text(encoding="utf-8").strip().partition(" ")
            return pid, role
        return "", ""

    def acquire(self) -> None:
        """Take the lock or raise DataDirBusyError naming the folder and the owner's pid."""
        if self._fd is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid, role = self.owner()
            raise DataDirBusyError(
                f"the data folder {self.data_dir} is in use by {role or 'another process'} "
                f"(pid {pid or 'unknown'}). Two owners would corrupt it: wait for that one or "
                "stop it first, or give this one its own folder with ROVER_DATA_DIR."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self.role}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: deleting it would race with a new owner)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
