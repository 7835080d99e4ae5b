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

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def owner(self) -> str:
        """The pid written by the holder ('' when unknown)."""
        with contextlib.suppress(OSError):
            return self.path.read_text(encoding="ascii").strip()
        return ""

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
            pid = self.owner() or "unknown"
            raise DataDirBusyError(
                f"the data folder {self.data_dir} is in use by another `make run` (pid {pid}). "
                "Two owners would corrupt it: stop that one first, or give this one its own "
                "folder with ROVER_DATA_DIR."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
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
