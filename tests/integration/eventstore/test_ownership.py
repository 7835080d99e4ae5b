"""Exclusive ownership of a database and the command line's help and settings errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState

from standins.eventstore.server import EventStoreServer, ServerStartError
from tests.integration.eventstore.conftest import ProcessFactory

pytestmark = pytest.mark.slow


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standins.eventstore", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _append(uri: str, stream: str) -> None:
    client = EventStoreDBClient(uri)
    try:
        client.append_event(stream, current_version=StreamState.ANY, event=NewEvent("A", b"{}"))
    finally:
        client.close()


def test_a_second_process_on_the_same_database_exits_naming_path_and_owner(
    eventstore_process: ProcessFactory, tmp_path: Path
) -> None:
    db = str(tmp_path / "owned.sqlite")
    owner = eventstore_process(db)
    result = _run_cli("--db", db, "--port", "0")
    assert result.returncode == 1
    assert db in result.stderr
    assert str(owner.pid) in result.stderr
    _append(owner.uri, "still-served")  # the first keeps working
    client = EventStoreDBClient(owner.uri)
    try:
        assert [e.type for e in client.get_stream("still-served")] == ["A"]
    finally:
        client.close()


def test_a_killed_owner_leaves_no_lock_behind(
    eventstore_process: ProcessFactory, tmp_path: Path
) -> None:
    db = str(tmp_path / "crashed.sqlite")
    process = eventstore_process(db)
    _append(process.uri, "before-kill")
    process.kill()
    process.restart()
    _append(process.uri, "after-kill")


async def test_two_in_process_servers_cannot_share_a_database(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.sqlite")
    async with EventStoreServer(db_path=db, port=0):
        with pytest.raises(ServerStartError, match=str(os.getpid())):
            await EventStoreServer(db_path=db, port=0).start()
    async with EventStoreServer(db_path=db, port=0):  # released on stop
        pass


async def test_in_memory_servers_take_no_lock() -> None:
    async with EventStoreServer(port=0), EventStoreServer(port=0):
        pass


def test_help_lists_the_environment_settings_and_binds_nothing() -> None:
    result = _run_cli("--help")
    assert result.returncode == 0
    assert "usage:" in result.stdout
    for name in ("ROVER_EVENTSTORE_DB", "ROVER_EVENTSTORE_PORT", "ROVER_EVENTSTORE_LOG_LEVEL"):
        assert name in result.stdout
    assert "listening" not in result.stderr


def test_a_bad_environment_value_is_named_by_its_variable() -> None:
    result = _run_cli("--memory", "--port", "0", env={"ROVER_EVENTSTORE_PORT": "abc"})
    assert result.returncode != 0
    assert "ROVER_EVENTSTORE_PORT" in result.stderr
