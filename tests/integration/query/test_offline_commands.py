"""``python -m services.query status|rebuild`` with a dependency down: one clear line, exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from standins.eventstore.process import EventStoreProcess
from tests.support.redis_server import free_port, redis_server, redis_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]


def _run(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROVER_")}
    return subprocess.run(
        [sys.executable, "-m", "services.query", command],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,  # a safety net only: the programs give up well before
        check=False,
    )


@pytest.mark.parametrize("command", ["status", "rebuild"])
def test_the_event_store_down_is_one_line_and_exit_1(
    command: str,
    redis_url: str,  # noqa: F811
) -> None:
    uri = f"esdb://127.0.0.1:{free_port()}?Tls=false"
    done = _run(command, ROVER_EVENTSTORE_URI=uri, ROVER_REDIS_URL=redis_url)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"query {command}: cannot reach the event store at {uri}")
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["status", "rebuild"])
def test_the_read_model_down_is_one_line_and_exit_1(command: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with EventStoreProcess(db_path=None) as store:
        done = _run(command, ROVER_EVENTSTORE_URI=store.uri, ROVER_REDIS_URL=url)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"query {command}: cannot reach the read model at {url}")
