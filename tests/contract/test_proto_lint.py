"""`buf lint` passes on the rover.v1 protos, and its configuration would catch a violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.contract._proto_support import REPO_ROOT


def _buf() -> str:
    beside = Path(sys.executable).parent / "buf"
    found = str(beside) if beside.is_file() else shutil.which("buf")
    assert found, "buf not found next to the interpreter or on PATH (pip install buf-bin)"
    return found


def _buf_lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_buf(), "lint", "--config", "protos/buf.yaml", "--path", "protos"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_buf_lint_passes() -> None:
    result = _buf_lint(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_would_catch_a_violation(tmp_path: Path) -> None:
    """Guards the configuration itself: it must not lint nothing or ignore everything."""
    shutil.copytree(
        REPO_ROOT / "protos", tmp_path / "protos", ignore=shutil.ignore_patterns("*.py*")
    )
    common = tmp_path / "protos" / "rover" / "v1" / "common.proto"
    common.write_text(
        common.read_text() + "\nmessage undocumented_thing {\n  int32 BadName = 1;\n}\n"
    )
    result = _buf_lint(tmp_path)
    assert result.returncode != 0
    for rule_hint in ("PascalCase", "lower_snake_case", "comment"):
        assert rule_hint in result.stdout, result.stdout
