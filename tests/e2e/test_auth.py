"""``make run`` with ``ROVER_AUTH_TOKENS``: every service inherits it, the banner says auth is
on, reflection stays open, and the CLI and grpcurl need a token with a strong enough role. The
shell's ``ROVER_TLS_*`` is left out of this plaintext run (the banner says so): files that do
not exist would otherwise stop every service from starting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKENS = {"dev-viewer": "viewer", "dev-operator": "operator"}


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "rover-data")
    running.env["ROVER_AUTH_TOKENS"] = json.dumps(TOKENS)
    running.env["ROVER_TLS_CERT_FILE"] = str(tmp_path / "absent.pem")  # the CLI ignores these
    running.env["ROVER_TLS_KEY_FILE"] = str(tmp_path / "absent.key")
    try:
        yield running
    finally:
        running.kill()


def test_make_run_with_tokens(system: System) -> None:
    system.start()
    assert "Auth: on: 2 static token(s) (ROVER_AUTH_TOKENS)" in system.out.read_text()
    assert "dev-viewer" not in system.out.read_text() + system.err.read_text()
    assert "Ignored (this run is plaintext, without store users): ROVER_TLS_CERT_FILE, " in (
        system.out.read_text()
    )

    listed = system.run(".venv/bin/grpcurl -plaintext localhost:50052 list")
    assert listed.returncode == 0
    assert "rover.v1.RoverQueryService" in listed.stdout

    refused = system.run(".venv/bin/rover grid create --width 3 --height 3 --id g1")
    assert refused.returncode == 1
    assert "UNAUTHENTICATED" in refused.stderr

    create = ".venv/bin/rover grid create --width 3 --height 3 --id g1 --token "
    weak = system.run(create + "dev-viewer")
    assert weak.returncode == 1
    assert "PERMISSION_DENIED" in weak.stderr
    assert system.run(create + "dev-operator").returncode == 0

    call = "localhost:50052 rover.v1.RoverQueryService/ListGrids"
    viewer = "-H 'authorization: Bearer dev-viewer'"
    assert system.run(f".venv/bin/grpcurl -plaintext {viewer} {call}").returncode == 0
    assert system.run(f".venv/bin/grpcurl -plaintext {call}").returncode != 0

    code, _ = system.stop()
    assert code == 0
