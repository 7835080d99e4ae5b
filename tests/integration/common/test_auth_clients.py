"""The rover CLI and the example client send their token; without one they are refused."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from standins.eventstore.server import EventStoreServer
from tests.support.auth import secured_services, signed
from tests.support.redis_server import redis_server, redis_url  # noqa: F401

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "client.py"


async def _rover(*words: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the ``rover`` CLI (a child process): its exit status and its stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *words, "--timeout", "30",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_the_cli_sends_its_token(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> None:
    async with secured_services(eventstore.uri, redis_url) as targets:
        command = ["--command-address", targets["rover.v1.RoverCommandService"]]
        query = ["--query-address", targets["rover.v1.RoverQueryService"]]
        create = ["grid", "create", "--width", "3", "--height", "3", "--id", "g1", *command]

        status, err = await _rover(*create)
        assert status == 1
        assert "UNAUTHENTICATED" in err
        assert "--token or ROVER_TOKEN" in err

        status, err = await _rover(*create, "--token", "viewer-token")
        assert status == 1
        assert "PERMISSION_DENIED" in err
        assert "needs the role operator" in err

        assert await _rover(*create, env={"ROVER_TOKEN": "operator-token"}) == (0, "")
        assert (await _rover("grids", *query, "--token", "viewer-token"))[0] == 0
        assert (await _rover("admin", "status", *query, "--token", signed(role="admin")))[0] == 0


async def test_the_example_client_takes_its_token_from_the_environment(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> None:
    async with secured_services(eventstore.uri, redis_url) as targets:
        env = {
            **os.environ,
            "ROVER_COMMAND_ADDRESS": targets["rover.v1.RoverCommandService"],
            "ROVER_QUERY_ADDRESS": targets["rover.v1.RoverQueryService"],
        }
        runs = []
        for token in ("", "operator-token"):
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(EXAMPLE), env={**env, "ROVER_TOKEN": token},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 60)
            runs.append((process.returncode, out.decode(), err.decode()))
        (refused, _, why), (status, printed, _) = runs
        assert refused == 1
        assert why.startswith("client: UNAUTHENTICATED")
        assert status == 0
        assert printed.endswith(": spirit at 1,3\n")
