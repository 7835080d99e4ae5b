"""Each module's public surface is what others use: ``__all__`` lists exactly the names that
other code imports from it (tests and benchmarks may also reach past it), and no module of
the system imports another's private names.

In the spirit of httpx's ``tests/test_exported_members.py``: a name in ``__all__`` that
nobody outside uses is an internal advertised as API; a ``_name`` imported from elsewhere is
an internal leaking through the back door. Both fail here, so the surface stays small.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "services", "standins")
USERS = (*PACKAGES, "protos", "tests", "bench", "examples")
GENERATED = ("_pb2.py", "_pb2_grpc.py")
# Entry points are called by `python -m` and [project.scripts], not imported.
ENTRY_POINTS = {"main"}


def _files(folders: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if "node_modules" not in path.parts and not path.name.endswith(GENERATED)
    )


def module_name(path: Path) -> str:
    """``services/command/bootstrap.py`` -> ``services.command.bootstrap``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def declared(tree: ast.Module) -> list[str] | None:
    """The literal ``__all__`` of a module (None when it has none)."""
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "__all__":
            value = getattr(node, "value", None)
            assert isinstance(value, ast.List | ast.Tuple), "__all__ must be a literal list"
            names = [item.value for item in value.elts if isinstance(item, ast.Constant)]
            assert all(isinstance(name, str) for name in names), "__all__ holds names"
            return [str(name) for name in names]
    return None


def imports_by_module() -> dict[str, dict[str, set[str]]]:
    """module -> name -> the modules that use that name of it: ``from module import name``, or
    ``module.name`` where the module itself was imported (``from pkg import module``)."""
    modules = {module_name(path) for path in _files(USERS)}
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in _files(USERS):
        me = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    elif node.module != me:
                        found[node.module][alias.name].add(me)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != me
            ):
                found[aliases[node.value.id]][node.attr].add(me)
    return found


def test_all_lists_exactly_what_others_import() -> None:
    used = imports_by_module()
    unused: list[str] = []
    for path in _files(PACKAGES):
        name = module_name(path)
        listed = declared(ast.parse(path.read_text(encoding="utf-8")))
        if listed is None:
            continue
        unused += [
            f"{name}.{item}"
            for item in listed
            if item not in used[name] and item not in ENTRY_POINTS
        ]
    assert unused == [], "in __all__ but used by no other module: drop them from __all__"


def test_what_the_system_imports_from_a_module_is_in_its_all() -> None:
    used = imports_by_module()
    unlisted: list[str] = []
    for path in _files(PACKAGES):
        name = module_name(path)
        listed = declared(ast.parse(path.read_text(encoding="utf-8")))
        if listed is None:
            continue
        unlisted += [
            f"{name}.{item} (used by {sorted(importers)[0]})"
            for item, importers in used[name].items()
            if not item.startswith("_")
            and item not in listed
            and any(not i.startswith(("tests.", "bench.")) for i in importers)
        ]
    assert unlisted == [], "used by other modules but missing from __all__"


def test_no_private_name_is_imported_from_another_module() -> None:
    used = imports_by_module()
    leaks = sorted(
        f"{importer} imports {module}.{name}"
        for module, names in used.items()
        if module.startswith(PACKAGES)
        for name, importers in names.items()
        if name.startswith("_") and not name.startswith("__")
        for importer in importers
        if not importer.startswith(("tests.", "bench."))
    )
    assert leaks == []


def test_the_checker_reads_all_and_imports() -> None:
    tree = ast.parse('__all__ = ["a", "b"]\nfrom x.y import a as c, _d\n')
    assert declared(tree) == ["a", "b"]
    assert module_name(ROOT / "services" / "command" / "__init__.py") == "services.command"
    used = imports_by_module()
    # Both ways of using a name count: `from module import name` and `module.name`.
    assert "services.command.bootstrap" in used["services.command.settings"]["CommandSettings"]
    assert "services.command.grpc.servicer" in used["services.command.grpc.mapping"]["STATUS"]
