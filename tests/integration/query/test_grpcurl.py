"""grpcurl (the real binary, through server reflection) calls every RPC of the query service."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from esdbclient import AsyncEventStoreDBClient

from tests.integration.query.conftest import ServiceFactory, publish
from tests.unit.query.seed import seed_history

_VENV_GRPCURL = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "grpcurl"
GRPCURL = str(_VENV_GRPCURL) if _VENV_GRPCURL.exists() else shutil.which("grpcurl")


async def grpcurl(port: int, *args: str) -> tuple[int, str]:
    assert GRPCURL is not None
    process = await asyncio.create_subprocess_exec(
        GRPCURL, "-plaintext", "-max-time", "20", *args[:-1], f"127.0.0.1:{port}", args[-1],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def call(port: int, method: str, body: dict[str, Any]) -> dict[str, Any]:
    code, out = await grpcurl(port, "-d", json.dumps(body), f"rover.v1.RoverQueryService/{method}")
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl is not installed")
async def test_grpcurl_lists_and_calls_every_rpc(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory
) -> None:
    await publish(esdb, seed_history("plateau"))
    async with query_service() as running:
        port = running.port
        code, services = await grpcurl(port, "list")
        assert code == 0
        assert "rover.v1.RoverQueryService" in services
        grid = await call(port, "GetGridDetails", {"grid_id": "plateau", "min_version": "7"})
        assert grid["version"] == "7"
        assert grid["rovers"] == [
            {"rover_id": "r1", "position": {"x": 1, "y": 4}, "facing": "DIRECTION_EAST"}
        ]
        rover = await call(port, "GetRover", {"grid_id": "plateau", "rover_id": "r1"})
        assert rover["version"] == "7"
        assert rover["grid_id"] == "plateau"
        listed = await call(port, "ListGrids", {"page_size": 20})
        assert [g["grid_id"] for g in listed["grids"]] == ["plateau"]
        code, out = await grpcurl(
            port, "-d", '{"grid_id": "nope"}', "rover.v1.RoverQueryService/GetGridDetails"
        )
        assert code != 0
        assert "NotFound" in out
        code, out = await grpcurl(port, "grpc.health.v1.Health/Check")
        assert code == 0
        assert "SERVING" in out
