"""Every program answers ``--help`` without starting, and names each bad ROVER_* value (exit 2)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from services.broadcaster.settings import BroadcasterSettings
from services.command.settings import CommandSettings
from services.common.settings_text import env_names
from services.query.settings import QuerySettings
from services.web.settings import WebSettings

ROOT = Path(__file__).resolve().parents[3]

PROGRAMS: list[tuple[list[str], type[BaseSettings], str]] = [
    (["services.command"], CommandSettings, "ROVER_COMMAND_ADDRESS"),
    (["services.query"], QuerySettings, "ROVER_QUERY_ADDRESS"),
    (["services.query", "rebuild"], QuerySettings, "ROVER_QUERY_ADDRESS"),
    (["services.broadcaster"], BroadcasterSettings, "ROVER_BROADCASTER_ADDRESS"),
    (["services.web"], WebSettings, "ROVER_WEB_ADDRESS"),
]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROVER_")}
    # The safety timeout only stops a program that started serving instead of answering.
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def taken_address() -> Iterator[str]:
    """An address already bound here: a program that tried to listen on it would fail."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(("args", "settings", "address_variable"), PROGRAMS)
def test_help_prints_usage_and_every_setting_then_exits_0(
    args: list[str], settings: type[BaseSettings], address_variable: str, taken_address: str
) -> None:
    done = _run(
        [*args, "--help"],
        **{address_variable: taken_address, "ROVER_EVENTSTORE_URI": "esdb://127.0.0.1:1?Tls=false"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m {args[0]}")
    for variable in env_names(settings).values():
        assert variable in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize(("args", "settings", "address_variable"), PROGRAMS)
def test_bad_settings_name_each_variable_on_one_line_and_exit_2(
    args: list[str], settings: type[BaseSettings], address_variable: str
) -> None:
    done = _run(args, ROVER_LOG_LEVEL="LOUD", ROVER_SHUTDOWN_GRACE_SECONDS="-1")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith(f"python -m {args[0]}: invalid setting ROVER_LOG_LEVEL='LOUD': ")
    assert lines[1].startswith(
        f"python -m {args[0]}: invalid setting ROVER_SHUTDOWN_GRACE_SECONDS='-1': "
    )
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


# The gRPC servers (the web front-end has no tracing yet: docs/web.md).
SERVERS = [
    (args, address) for args, _, address in PROGRAMS if args[-1] not in ("rebuild", "services.web")
]


@pytest.mark.parametrize(("args", "address_variable"), SERVERS)
def test_a_tracing_exporter_that_is_not_installed_is_a_bad_setting(
    args: list[str], address_variable: str, taken_address: str
) -> None:
    # On the taken address, a program that went on to serve would fail otherwise, not hang.
    done = _run(args, OTEL_TRACES_EXPORTER="console,zipkin", **{address_variable: taken_address})
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"python -m {args[0]}: invalid setting OTEL_TRACES_EXPORTER: ")
    assert "'zipkin'" in line
    assert done.stdout == ""
