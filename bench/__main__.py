"""Run every benchmark under bench/ (modules named ``bench_*.py``) and print their figures.

``python -m bench`` runs all; ``python -m bench domain eventstore`` runs the named ones.
Each module exposes ``main() -> None`` (sync) or ``async def main() -> None``; options after
the names (``python -m bench soak --minutes 5``) are left in ``sys.argv`` for the module. A
module with ``ONLY_WHEN_NAMED = True`` (the 30-minute soak) runs only when named.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import sys
import time

import bench


def _discover() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")]
    return sorted(names)


def main(argv: list[str]) -> int:
    names_given = argv[: next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))]
    wanted = {f"bench_{a.removeprefix('bench_')}" for a in names_given}
    names = [n for n in _discover() if not wanted or n in wanted]
    if not names:
        print(f"no benchmark matches {sorted(wanted)}; have {_discover()}", file=sys.stderr)
        return 2
    for index, name in enumerate(names, start=1):
        print(f"\n=== [{index}/{len(names)}] {name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        if not wanted and getattr(module, "ONLY_WHEN_NAMED", False):
            print(f"skipped: run it by name (python -m bench {name.removeprefix('bench_')})")
            continue
        started = time.perf_counter()
        entry = module.main
        if inspect.iscoroutinefunction(entry):
            asyncio.run(entry())
        else:
            entry()
        print(f"--- {name} took {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
