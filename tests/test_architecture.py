"""Dependency rules of STYLE.md that import-linter cannot state: checked on the source's AST."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What application code (the use cases of every service) must never import: adapters live at
# the edge, behind ports the application defines.
ADAPTER_PACKAGES = {
    "grpc",
    "grpc_health",
    "grpc_reflection",
    "grpc_status",
    "esdbclient",
    "redis",
    "protos",
    "google",
    "sqlite3",
}


def _imported_top_levels(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: stays inside its own package
                continue
            assert node.module is not None
            yield node.lineno, node.module.split(".")[0]


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_domain_imports_only_the_standard_library() -> None:
    files = _python_files(ROOT / "domain")
    assert files, "domain/ has no modules"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for line, name in _imported_top_levels(path)
        if name != "domain" and name not in sys.stdlib_module_names
    ]
    assert offenders == []


def test_application_layers_import_no_adapter_technology() -> None:
    files = [
        p
        for folder in sorted((ROOT / "services").glob("*/application"))
        for p in _python_files(folder)
    ]
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for line, name in _imported_top_levels(path)
        if name in ADAPTER_PACKAGES
    ]
    assert offenders == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """Guard against a checker that can never fail."""
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom redis import asyncio\nfrom . import sibling\n")
    names = [name for _, name in _imported_top_levels(sample)]
    assert names == ["os", "redis"]
    assert "redis" in ADAPTER_PACKAGES
    assert "redis" not in sys.stdlib_module_names
