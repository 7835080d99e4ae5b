"""Generate the Python code of every .proto file in the repository.

Run from the repository root (``make protos`` does)::

    python -m protos.generate [OUTPUT_DIR]

It compiles every ``.proto`` under ``protos/`` and under ``standins/eventstore/wire/`` (when
that directory exists) with the protoc bundled in grpcio-tools, in-process, into messages
(``_pb2.py``), gRPC stubs (``_pb2_grpc.py``) and mypy-protobuf type stubs (``.pyi``). Import
paths are written from the repository root, so the output imports as
``from protos.rover.v1 import command_pb2``.

OUTPUT_DIR defaults to the repository root, which is where the committed code lives; a test
regenerates into a temporary directory and compares the two byte for byte. Any protoc error
ends the run with a non-zero status.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "SOURCE_DIRS",
    "GenerationError",
    "bundled_include_dir",
    "generate",
    "main",
    "proto_files",
    "protoc_arguments",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

# Directories (relative to the repository root) whose .proto files are compiled.
SOURCE_DIRS: tuple[str, ...] = ("protos", "standins/eventstore/wire")


class GenerationError(RuntimeError):
    """protoc failed, or a plugin it needs is missing."""


def proto_files(root: Path = REPO_ROOT) -> list[str]:
    """Every .proto file to compile, as sorted POSIX paths relative to ``root``.

    A source directory that is absent or holds no .proto file contributes nothing.
    """
    found: list[str] = []
    for source in SOURCE_DIRS:
        directory = root / source
        if directory.is_dir():
            found.extend(path.relative_to(root).as_posix() for path in directory.rglob("*.proto"))
    return sorted(found)


def _plugin(name: str) -> str:
    """Path of a protoc plugin executable: next to the interpreter, else on PATH.

    Looking next to ``sys.executable`` first makes ``.venv/bin/python -m protos.generate``
    work without an activated venv.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    on_path = shutil.which(name)
    if on_path is None:
        raise GenerationError(f"protoc plugin {name!r} not found; install mypy-protobuf")
    return on_path


def bundled_include_dir() -> str:
    """The directory of the .proto files shipped with grpcio-tools (google/protobuf/...)."""
    return str(resources.files("grpc_tools") / "_proto")


def protoc_arguments(out_dir: Path, files: Sequence[str]) -> list[str]:
    """The protoc command line (argv[0] included) that generates ``files`` into ``out_dir``."""
    out = str(out_dir)
    return [
        "grpc_tools.protoc",
        "-I.",
        f"-I{bundled_include_dir()}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out=quiet:{out}",
        f"--mypy_grpc_out=quiet:{out}",
        *files,
    ]


def generate(out_dir: Path = REPO_ROOT, root: Path = REPO_ROOT) -> list[str]:
    """Compile every .proto under ``root`` into ``out_dir``; return the files compiled.

    protoc resolves imports relative to ``root``, so it runs with ``root`` as the working
    directory. Raises GenerationError when protoc reports an error (protoc has already
    printed the details to stderr).
    """
    # Imported here: grpc_tools is a build-time tool, needless for importing this module.
    from grpc_tools import protoc  # noqa: PLC0415

    files = proto_files(root)
    if not files:
        raise GenerationError(f"no .proto files found under {root}")
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    arguments = protoc_arguments(out_dir, files)
    with contextlib.chdir(root):
        status = protoc.main(arguments)
    if status != 0:
        raise GenerationError(f"protoc failed with status {status}: {' '.join(arguments)}")
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m protos.generate", description=__doc__)
    parser.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=REPO_ROOT,
        help="where to write the generated code (default: the repository root)",
    )
    args = parser.parse_args(argv)
    try:
        files = generate(args.out_dir)
    except GenerationError as error:
        sys.stderr.write(f"protos.generate: {error}\n")
        return 1
    sys.stdout.write(f"protos.generate: compiled {len(files)} file(s) into {args.out_dir}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
