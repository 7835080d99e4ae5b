"""Exclusive ownership of a database file: an OS advisory lock on ``<db>.lock`` holding our pid."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["DatabaseLock", "DatabaseLockedError"]


class DatabaseLockedError(RuntimeError):
    """Another process (or another server in this one) owns the database."""

    def __init__(self, db_path: str, owner: str) -> None:
        super().__init__(f"database {db_path!r} is in use by process {owner}")
        self.db_path = db_path
        self.owner = owner


def lock_path_of(db_path: str) -> Path:
    """The lock file that guards ``db_path``."""
    return Path(db_path + ".lock")


class DatabaseLock:
    """``flock`` on a file beside the database, like EventStoreDB's exclusive lock on its data.

    The kernel releases the lock when its holder exits, however it exits (kill -9 included), so a
    crashed server never leaves a stale lock behind; the pid in the file only names the owner in
    the error a second server gets.
    """

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.path = lock_path_of(db_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``DatabaseLockedError`` at once (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseLockedError(self.db_path, owner) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays: removing it could race a new owner)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
