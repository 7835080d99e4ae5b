"""The programmatic API and the command line: in-process server, child process, exit codes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState

from standins.eventstore.process import EventStoreProcess
from standins.eventstore.server import EventStoreServer, ServerStartError

pytestmark = pytest.mark.slow


async def test_in_process_server_serves_the_asyncio_client(tmp_path: Path) -> None:
    async with EventStoreServer(db_path=str(tmp_path / "es.sqlite"), port=0) as server:
        assert server.port > 0
        assert server.uri == f"esdb://127.0.0.1:{server.port}?Tls=false"
        client = AsyncEventStoreDBClient(server.uri)
        await client.connect()
        try:
            position = await client.append_to_stream(
                "api-test",
                current_version=StreamState.NO_STREAM,
                events=[NewEvent(type="Tested", data=b"{}")],
            )
            events = await client.get_stream("api-test")
        finally:
            await client.close()
    assert position > 0
    assert [e.type for e in events] == ["Tested"]


async def test_in_process_server_refuses_a_port_in_use() -> None:
    async with EventStoreServer(port=0) as first:
        with pytest.raises(ServerStartError):
            await EventStoreServer(port=first.port).start()


def test_child_process_keeps_acknowledged_events_across_a_graceful_restart(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "es.sqlite")
    with EventStoreProcess(db) as process:
        client = EventStoreDBClient(process.uri)
        try:
            client.append_event(
                "restart",
                current_version=StreamState.NO_STREAM,
                event=NewEvent(type="A", data=b"{}"),
            )
        finally:
            client.close()
        assert process.terminate() == 0
        process.restart()
        client = EventStoreDBClient(process.uri)
        try:
            assert [e.type for e in client.get_stream("restart")] == ["A"]
        finally:
            client.close()


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standins.eventstore", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_rejects_bad_flags() -> None:
    result = _run_cli("--memory", "--port", "not-a-number")
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_cli_needs_a_store() -> None:
    result = _run_cli("--port", "0")
    assert result.returncode == 2
    assert "--db" in result.stderr


def test_cli_reports_an_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _run_cli("--db", str(blocker / "sub" / "es.sqlite"), "--port", "0")
    assert result.returncode == 1
    assert "cannot open database" in result.stderr


def test_cli_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _run_cli("--memory", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert "cannot listen" in result.stderr
