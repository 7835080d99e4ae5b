"""``rover admin ...`` (the real program, in a child process) against a running query service."""

from __future__ import annotations

from esdbclient import AsyncEventStoreDBClient

from services.query.settings import QuerySettings
from tests.integration.query.admin_support import admin_stub, plant_drift, projected
from tests.integration.query.conftest import ServiceFactory, publish
from tests.support.cli import run_rover
from tests.unit.query.seed import seed_history


async def _rover(port: int, *words: str) -> tuple[int, str, str]:
    """Run ``rover admin WORDS`` at the query service on ``port``: status, stdout, stderr."""
    return await run_rover(
        "admin", *words, "--query-address", f"127.0.0.1:{port}", "--timeout", "30"
    )


async def test_rover_admin_audits_repairs_rebuilds_and_reports(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, settings: QuerySettings
) -> None:
    await publish(esdb, seed_history("g"))
    async with query_service() as running, admin_stub(running) as (_, queries):
        port = running.port
        await projected(queries, "g", 7)
        code, out, _ = await _rover(port, "status")
        assert code == 0
        rows = {line.split()[0]: line for line in out.splitlines()[1:]}
        assert set(rows) == {"publisher", "projector", "broadcaster"}
        assert " active " in rows["projector"]
        assert " standby " in rows["publisher"]  # no command service wrote a checkpoint

        await plant_drift(running, settings, "g")
        code, out, _ = await _rover(port, "audit")
        assert code == 4
        assert out.splitlines()[0] == "g: DRIFT (model v7, store v7)"
        assert "  width: model '99', store '6'" in out.splitlines()

        code, out, _ = await _rover(port, "repair", "g")
        assert code == 0
        assert out.startswith("g: repaired at version 7 (was 7); fixed: width, rovers/ghost")
        code, out, _ = await _rover(port, "audit", "g")
        assert (code, out.strip()) == (0, "no drift: the read model agrees with the store")

        code, out, err = await _rover(port, "rebuild")
        assert code == 0
        assert out.startswith("rebuilt: generation ")
        assert "rebuild [" in err
        assert "100.0%" in err

        code, out, _ = await _rover(port, "parked", "list")
        assert (code, out.strip()) == (0, "no parked events")
        code, _, err = await _rover(port, "parked", "replay")
        assert code == 1
        assert err.startswith("rover: INVALID_ARGUMENT: name the parked events to replay")

        code, _, err = await _rover(port, "repair", "bad/id")
        assert code == 1
        assert "INVALID_ARGUMENT" in err
