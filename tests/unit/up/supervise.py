"""A supervisor in a process of its own, for tests that kill it: runs the children given as
JSON (``ChildSpec`` fields) and, once all are ready, keeps ``--state`` holding the pid of
each running child."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from services.up.plan import ChildSpec, Endpoint
from services.up.supervisor import Supervisor


def _spec(fields: dict[str, Any]) -> ChildSpec:
    host, port, setting = fields["endpoint"]
    return ChildSpec(
        name=fields["name"],
        argv=tuple(fields["argv"]),
        endpoint=Endpoint(host, port, setting),
        probe=fields["probe"],
        log_path=Path(fields["log_path"]),
        service=fields["service"],
        restart=fields["restart"],
    )


async def _main(children: list[ChildSpec], state: Path) -> int:
    supervisor = Supervisor(children, start_timeout=20, restart_delay=0.2)

    async def publish() -> None:
        while True:
            partial = state.with_suffix(".partial")
            partial.write_text(json.dumps(supervisor.running()))
            os.replace(partial, state)
            await asyncio.sleep(0.05)

    publishers: list[asyncio.Task[None]] = []

    def ready() -> None:  # written from then on: every child named there was ready once
        publishers.append(asyncio.create_task(publish()))

    try:
        return await supervisor.run(asyncio.Event(), ready)
    finally:
        for publisher in publishers:
            publisher.cancel()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("children", help="JSON list of ChildSpec fields")
    args = parser.parse_args()
    children = [_spec(fields) for fields in json.loads(args.children)]
    return asyncio.run(_main(children, args.state))


if __name__ == "__main__":
    sys.exit(main())
