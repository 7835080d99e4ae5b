"""The committed generated code is exactly what ``make protos`` produces from the .proto files.

If a test here fails, run ``make protos`` (or ``python -m protos.generate``) and commit the
result together with the .proto change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protos import generate
from protos.rover.v1 import command_pb2, common_pb2, events_pb2, live_pb2, query_pb2

GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def _committed_generated_files() -> set[str]:
    found: set[str] = set()
    for source in generate.SOURCE_DIRS:
        directory = generate.REPO_ROOT / source
        if directory.is_dir():
            found.update(
                path.relative_to(generate.REPO_ROOT).as_posix()
                for path in directory.rglob("*")
                if path.is_file() and path.name.endswith(GENERATED_SUFFIXES)
            )
    return found


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    generate.generate(out)
    return out


def test_every_generated_file_matches_the_committed_one(regenerated: Path) -> None:
    missing: list[str] = []
    stale: list[str] = []
    for relative in sorted(_files_under(regenerated)):
        committed = generate.REPO_ROOT / relative
        if not committed.is_file():
            missing.append(relative)
        elif committed.read_bytes() != (regenerated / relative).read_bytes():
            stale.append(relative)
    assert not missing, f"generated files not committed (run `make protos`): {missing}"
    assert not stale, f"stale generated files (run `make protos` and commit): {stale}"


def test_no_generated_file_is_left_over_from_a_removed_proto(regenerated: Path) -> None:
    leftovers = sorted(_committed_generated_files() - _files_under(regenerated))
    assert not leftovers, f"generated files without a .proto (delete them): {leftovers}"


def test_generation_covers_every_proto_of_the_contract() -> None:
    files = generate.proto_files()
    for name in ("common", "events", "command", "query", "live"):
        assert f"protos/rover/v1/{name}.proto" in files


def test_an_absent_or_empty_wire_directory_contributes_nothing(tmp_path: Path) -> None:
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "a.proto").write_text('syntax = "proto3";\npackage a.v1;\n')
    assert generate.proto_files(tmp_path) == ["protos/a.proto"]
    (tmp_path / "standins" / "eventstore" / "wire").mkdir(parents=True)
    assert generate.proto_files(tmp_path) == ["protos/a.proto"]
    (tmp_path / "standins" / "eventstore" / "wire" / "w.proto").write_text('syntax = "proto3";\n')
    assert generate.proto_files(tmp_path) == ["protos/a.proto", "standins/eventstore/wire/w.proto"]


def test_a_protoc_error_fails_loudly(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "broken.proto").write_text(
        'syntax = "proto3";\npackage broken.v1;\nmessage Broken { Missing field = 1; }\n'
    )
    with pytest.raises(generate.GenerationError, match="protoc failed"):
        generate.generate(tmp_path / "out", root=tmp_path)
    assert "Missing" in capfd.readouterr().err
    assert generate.main([str(tmp_path / "out")]) == 0  # the real tree still compiles


def test_generated_modules_import_from_the_repository_root() -> None:
    rover = common_pb2.Rover(
        rover_id="r1",
        position=common_pb2.Position(x=1, y=2),
        facing=common_pb2.DIRECTION_NORTH,
    )
    result = command_pb2.CommandResult(grid_id="g1", version=2, rover=rover)
    event = events_pb2.IntegrationEvent(grid_id="g1", sequence=2)
    event.rover_created.rover_id = "r1"
    result.events.append(event)
    assert result.events[0].WhichOneof("payload") == "rover_created"
    assert query_pb2.GetRoverResponse(rover=rover).rover.position.y == 2
    assert live_pb2.GridUpdate(sequence=2).WhichOneof("update") is None
    assert command_pb2.DESCRIPTOR.name == "protos/rover/v1/command.proto"
