"""A rover client in a few lines: create a grid, land a rover, drive it, read the grid back.

Run it from a checkout against a running system (``make run``); with auth on, give it a token
with the operator role from the environment (docs/security.md)::

    python examples/client.py
    ROVER_TOKEN=dev-operator python examples/client.py

``ROVER_COMMAND_ADDRESS`` and ``ROVER_QUERY_ADDRESS`` say where the services are (defaults:
``127.0.0.1:50051`` and ``127.0.0.1:50052``). The token goes with every call as the metadata
``authorization: Bearer <token>``. Against services serving TLS (``make run-secure``), name
the CA to trust::

    ROVER_TLS_CA_FILE=.certs/ca.pem ROVER_TOKEN=<operator token> python examples/client.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

# A real client depends on stubs generated from protos/rover/v1/*.proto; from a checkout,
# `python examples/client.py` finds ours at the repository root.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import grpc  # noqa: E402

from protos.rover.v1 import (  # noqa: E402
    command_pb2,
    command_pb2_grpc,
    common_pb2,
    query_pb2,
    query_pb2_grpc,
)


def token_metadata() -> tuple[tuple[str, str], ...]:
    """``authorization: Bearer $ROVER_TOKEN``, or nothing when ROVER_TOKEN is unset."""
    token = os.environ.get("ROVER_TOKEN", "")
    return (("authorization", f"Bearer {token}"),) if token else ()


def open_channel(address: str) -> grpc.aio.Channel:
    """Plaintext, or TLS trusting ``$ROVER_TLS_CA_FILE`` when it is set."""
    ca_file = os.environ.get("ROVER_TLS_CA_FILE", "")
    if not ca_file:
        return grpc.aio.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(Path(ca_file).read_bytes())
    return grpc.aio.secure_channel(address, credentials)


async def main() -> int:
    """Create, land, drive, read; print the rover's final place. Exit status 1 on a refusal."""
    metadata = token_metadata()
    command_address = os.environ.get("ROVER_COMMAND_ADDRESS", "127.0.0.1:50051")
    query_address = os.environ.get("ROVER_QUERY_ADDRESS", "127.0.0.1:50052")
    grid_id = f"example-{uuid.uuid4().hex[:8]}"
    async with (
        open_channel(command_address) as command_channel,
        open_channel(query_address) as query_channel,
    ):
        commands = command_pb2_grpc.RoverCommandServiceStub(command_channel)
        queries = query_pb2_grpc.RoverQueryServiceStub(query_channel)
        try:
            await commands.CreateGrid(
                command_pb2.CreateGridRequest(
                    request_id=str(uuid.uuid4()), grid_id=grid_id, width=5, height=5
                ),
                metadata=metadata,
                timeout=10,
            )
            await commands.CreateRover(
                command_pb2.CreateRoverRequest(
                    request_id=str(uuid.uuid4()),
                    grid_id=grid_id,
                    rover_id="spirit",
                    position=common_pb2.Position(x=1, y=2),
                    facing=common_pb2.DIRECTION_NORTH,
                ),
                metadata=metadata,
                timeout=10,
            )
            result = await commands.ExecuteRoverCommands(
                command_pb2.ExecuteRoverCommandsRequest(
                    request_id=str(uuid.uuid4()),
                    grid_id=grid_id,
                    rover_id="spirit",
                    commands="LMLMLMLMM",
                ),
                metadata=metadata,
                timeout=10,
            )
            details = await queries.GetGridDetails(
                query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=result.version),
                metadata=metadata,
                timeout=10,
            )
        except grpc.aio.AioRpcError as error:
            sys.stderr.write(f"client: {error.code().name}: {error.details()}\n")
            return 1
    for rover in details.rovers:
        position = rover.position
        print(f"{grid_id}: {rover.rover_id} at {position.x},{position.y}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
