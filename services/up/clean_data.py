"""``make clean-data``: delete what ``make run`` stored (events, read model, logs), after asking.

Refuses while a ``make run`` holds the folder, and refuses a folder that does not look like a
data folder of ours (so a mistyped ``ROVER_DATA_DIR=/`` deletes nothing). ``--yes`` skips the
question; without it and without a terminal to ask on, nothing is deleted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from services.up.data_lock import LOCK_NAME, DataDirBusyError, DataDirLock
from services.up.integration_key import INTEGRATION_KEY_NAME

__all__ = ["main"]

OURS = frozenset({"eventstore", "redis", "logs", "run", LOCK_NAME, INTEGRATION_KEY_NAME})
"""Entries ``make run`` creates in its data folder; a folder with anything else is refused."""


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _human(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"


def main(argv: Sequence[str] | None = None, ask: Callable[[str], str] | None = None) -> int:
    """Entry point; returns the exit status (0 deleted or nothing to do, 1 refused)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.up.clean_data", description=__doc__.splitlines()[0]
    )
    parser.add_argument("data_dir", type=Path, help="the folder (make run's ROVER_DATA_DIR)")
    parser.add_argument("--yes", action="store_true", help="delete without asking")
    args = parser.parse_args(argv)
    folder: Path = args.data_dir.expanduser().resolve()  # as make run resolves it
    if not folder.exists():
        sys.stdout.write(f"{folder}: nothing to delete\n")
        return 0
    if not folder.is_dir():
        return _refuse(f"{folder} is not a folder; deleting nothing")
    strangers = sorted(p.name for p in folder.iterdir() if p.name not in OURS)
    if strangers:
        return _refuse(
            f"{folder} does not look like a rover data folder (unexpected: "
            f"{', '.join(strangers)}); deleting nothing"
        )
    lock = DataDirLock(folder, role="make clean-data")
    try:
        lock.acquire()
    except (DataDirBusyError, OSError) as error:
        return _refuse(str(error))
    try:
        if not args.yes:
            if ask is None and not sys.stdin.isatty():
                return _refuse("no terminal to ask on; rerun with --yes")
            question = (
                f"Delete {folder} ({_human(_size(folder))}: every event, the read model and "
                "the logs)? [y/N] "
            )
            answer = (ask or input)(question)
            if answer.strip().lower() not in {"y", "yes"}:
                sys.stdout.write(f"kept {folder}\n")
                return 0
        # Out of the way first, while the lock is held: a `make run` starting now finds no
        # folder (it makes a new one) rather than one being deleted under it.
        doomed = folder.with_name(f"{folder.name}.deleting-{os.getpid()}")
        folder.rename(doomed)
    except OSError as error:
        return _refuse(f"could not delete {folder}: {error}")
    finally:
        lock.release()
    try:
        shutil.rmtree(doomed)
    except OSError as error:
        return _refuse(f"moved {folder} to {doomed} but could not delete it: {error}")
    sys.stdout.write(f"deleted {folder}\n")
    return 0


def _refuse(message: str) -> int:
    sys.stderr.write(f"clean-data: {message}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
