"""Commands in the README and docs/ work as printed on a fresh clone: nothing assumes the
venv is active, so grpcurl, rover and python are called by their path in ``.venv/bin``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV_PROGRAMS = ("grpcurl", "rover", "python", "python3", "pytest")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def shell_lines(text: str) -> list[str]:
    """The first line of every command in the sh/bash/shell blocks of ``text``."""
    lines: list[str] = []
    for match in FENCE.finditer(text):
        if match.group(1) not in ("sh", "bash", "shell", "console"):
            continue
        continued = False
        for line in match.group(2).splitlines():
            if not continued and line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip().removeprefix("$ "))
            continued = line.rstrip().endswith("\\")
    return lines


def bare_commands(text: str) -> list[str]:
    """Commands that call a venv program without its path (they fail outside `make shell`)."""
    return [
        command.strip()
        for line in shell_lines(text)
        for command in re.split(r"&&|\|\||;|\|", line)
        if command.split() and command.split()[0] in VENV_PROGRAMS
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_commands_call_the_venvs_programs_by_path(doc: Path) -> None:
    bare = bare_commands(doc.read_text(encoding="utf-8"))
    assert bare == [], f"{doc.name}: use .venv/bin/<program> (or `make shell`)"


def test_the_checker_sees_a_bare_command() -> None:
    text = (
        "```sh\ngrpcurl -plaintext x list\n.venv/bin/rover grids && rover show mars\n"
        "make run  # fine\n```\n```json\nrover\n```\n"
    )
    assert bare_commands(text) == ["grpcurl -plaintext x list", "rover show mars"]
