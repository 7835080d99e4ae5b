"""What a fresh machine sees while `make` sets itself up: stage lines, a line per package, no
deprecation warnings from the build, and one rule for redis (checked by `make setup`)."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(target: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_setup_says_what_it_does_and_shows_each_package() -> None:
    lines = _dry_run("setup")
    install = next(i for i, line in enumerate(lines) if "pip install" in line and "-e" in line)
    assert any("[setup 3/3]" in line for line in lines[:install]), "a stage line first"
    command = lines[install]
    assert " -q" not in command, "a quiet install is a silent minute"
    assert "Collecting" in command, "one line per package while it installs"
    assert "redis_binary" in " ".join(lines[install:]), "setup checks redis after installing"


def test_test_and_run_check_redis_the_same_way() -> None:
    for target in ("test", "run"):
        assert any("services.up.redis_binary" in line for line in _dry_run(target)), target


def test_the_license_is_an_spdx_expression() -> None:
    """PEP 639: a TOML table here makes setuptools warn on every install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
