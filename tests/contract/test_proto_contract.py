"""The public rover.v1 contract: its names, numbers and documentation, and `buf lint`.

Clients in other languages compile against these names and field numbers, and downstream
consumers read IntegrationEvent as canonical JSON, so a rename or renumbering here is a
breaking change that must be deliberate: change the .proto, this test and docs/api.md
together.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor

from protos import generate
from protos.rover.v1 import command_pb2, common_pb2, events_pb2, live_pb2, query_pb2

REPO_ROOT = generate.REPO_ROOT
PACKAGE = "rover.v1"
CONTRACT_FILES: tuple[FileDescriptor, ...] = (
    common_pb2.DESCRIPTOR,
    events_pb2.DESCRIPTOR,
    command_pb2.DESCRIPTOR,
    query_pb2.DESCRIPTOR,
    live_pb2.DESCRIPTOR,
)
POOL = common_pb2.DESCRIPTOR.pool

COMMAND_RPCS = {
    "CreateGrid": "CreateGridRequest",
    "CreateRover": "CreateRoverRequest",
    "MoveRoverForward": "MoveRoverForwardRequest",
    "MoveRoverBackward": "MoveRoverBackwardRequest",
    "TurnRoverLeft": "TurnRoverLeftRequest",
    "TurnRoverRight": "TurnRoverRightRequest",
    "ExecuteRoverCommands": "ExecuteRoverCommandsRequest",
}

# (service, method) -> (request, response, server streaming)
RPCS: dict[tuple[str, str], tuple[str, str, bool]] = {
    **{
        ("RoverCommandService", rpc): (request, "CommandResult", False)
        for rpc, request in COMMAND_RPCS.items()
    },
    ("RoverQueryService", "GetGridDetails"): ("GetGridDetailsRequest", "GridDetails", False),
    ("RoverQueryService", "ListGrids"): ("ListGridsRequest", "ListGridsResponse", False),
    ("RoverQueryService", "GetRover"): ("GetRoverRequest", "GetRoverResponse", False),
    ("RoverLiveService", "WatchGrid"): ("WatchGridRequest", "GridUpdate", True),
}

_MUTATION = {"request_id": 1, "grid_id": 2, "rover_id": 3}

# message -> {field name: field number}; the fields clients rely on by name and number.
FIELDS: dict[str, dict[str, int]] = {
    "Position": {"x": 1, "y": 2},
    "Rover": {"rover_id": 1, "position": 2, "facing": 3},
    "Block": {
        "position": 1,
        "target": 2,
        "blocked_by": 3,
        "blocking_rover_id": 4,
        "remaining_commands": 5,
    },
    "GridDetails": {
        "grid_id": 1,
        "width": 2,
        "height": 3,
        "topology": 4,
        "obstacles": 5,
        "rovers": 6,
        "version": 7,
    },
    "IntegrationEvent": {
        "event_id": 1,
        "grid_id": 2,
        "sequence": 3,
        "occurred_at": 4,
        "grid_created": 10,
        "rover_created": 11,
        "rover_moved_forward": 12,
        "rover_moved_backward": 13,
        "rover_turned_left": 14,
        "rover_turned_right": 15,
        "rover_blocked": 16,
    },
    "GridCreated": {"width": 1, "height": 2, "topology": 3, "obstacles": 4},
    "RoverCreated": {"rover_id": 1, "position": 2, "facing": 3},
    "RoverMovedForward": {"rover_id": 1, "from_position": 2, "to_position": 3, "facing": 4},
    "RoverMovedBackward": {"rover_id": 1, "from_position": 2, "to_position": 3, "facing": 4},
    "RoverTurnedLeft": {"rover_id": 1, "position": 2, "from_facing": 3, "to_facing": 4},
    "RoverTurnedRight": {"rover_id": 1, "position": 2, "from_facing": 3, "to_facing": 4},
    "RoverBlocked": {
        "rover_id": 1,
        "position": 2,
        "facing": 3,
        "target": 4,
        "blocked_by": 5,
        "blocking_rover_id": 6,
        "remaining_commands": 7,
    },
    "CreateGridRequest": {
        "request_id": 1,
        "grid_id": 2,
        "width": 3,
        "height": 4,
        "topology": 5,
        "obstacles": 6,
    },
    "CreateRoverRequest": {**_MUTATION, "position": 4, "facing": 5},
    "MoveRoverForwardRequest": _MUTATION,
    "MoveRoverBackwardRequest": _MUTATION,
    "TurnRoverLeftRequest": _MUTATION,
    "TurnRoverRightRequest": _MUTATION,
    "ExecuteRoverCommandsRequest": {**_MUTATION, "commands": 4},
    "CommandResult": {"grid_id": 1, "version": 2, "events": 3, "rover": 4, "block": 5},
    "GetGridDetailsRequest": {"grid_id": 1, "min_version": 2},
    "ListGridsRequest": {"page_size": 1, "page_token": 2},
    "ListGridsResponse": {"grids": 1, "next_page_token": 2},
    "GridSummary": {
        "grid_id": 1,
        "width": 2,
        "height": 3,
        "topology": 4,
        "rover_count": 5,
        "version": 6,
    },
    "GetRoverRequest": {"grid_id": 1, "rover_id": 2},
    "GetRoverResponse": {"rover": 1, "grid_id": 2, "version": 3},
    "WatchGridRequest": {"grid_id": 1, "from_version": 2},
    "GridUpdate": {"sequence": 1, "snapshot": 2, "event": 3, "heartbeat": 4, "resume": 5},
    "GridChange": {"event": 1, "rover": 2},
    "Heartbeat": {"sent_at": 1},
    "Resume": {"from_version": 1, "reason": 2},
}

ENUMS: dict[str, list[str]] = {
    "Direction": ["NORTH", "EAST", "SOUTH", "WEST"],
    "Topology": ["BOUNDED", "TOROIDAL"],
    "BlockedBy": ["EDGE", "OBSTACLE", "ROVER"],
}

EVENT_PAYLOADS = [
    "GridCreated",
    "RoverCreated",
    "RoverMovedForward",
    "RoverMovedBackward",
    "RoverTurnedLeft",
    "RoverTurnedRight",
    "RoverBlocked",
]


def _messages(descriptors: Iterator[Descriptor] | list[Descriptor]) -> Iterator[Descriptor]:
    for message in descriptors:
        yield message
        yield from _messages(list(message.nested_types))


def _all_messages() -> Iterator[Descriptor]:
    for file in CONTRACT_FILES:
        yield from _messages(list(file.message_types_by_name.values()))


def _all_enums() -> Iterator[EnumDescriptor]:
    for file in CONTRACT_FILES:
        yield from file.enum_types_by_name.values()
    for message in _all_messages():
        yield from message.enum_types


def test_every_file_is_package_rover_v1_imported_from_the_repository_root() -> None:
    for file in CONTRACT_FILES:
        assert file.package == PACKAGE
        assert file.name.startswith("protos/rover/v1/")
        proto = descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb)
        assert proto.syntax == "proto3"


@pytest.mark.parametrize(("service", "method"), sorted(RPCS))
def test_rpc_exists_with_its_types_and_streaming_kind(service: str, method: str) -> None:
    request, response, server_streaming = RPCS[(service, method)]
    found = POOL.FindServiceByName(f"{PACKAGE}.{service}").methods_by_name[method]
    assert found.input_type.full_name == f"{PACKAGE}.{request}"
    assert found.output_type.full_name == f"{PACKAGE}.{response}"
    assert found.client_streaming is False
    assert found.server_streaming is server_streaming


def test_services_have_exactly_the_contract_rpcs() -> None:
    for service in {service for service, _ in RPCS}:
        methods = set(POOL.FindServiceByName(f"{PACKAGE}.{service}").methods_by_name)
        assert methods == {method for name, method in RPCS if name == service}


@pytest.mark.parametrize("message", sorted(FIELDS))
def test_message_has_its_fields_with_their_numbers(message: str) -> None:
    descriptor = POOL.FindMessageTypeByName(f"{PACKAGE}.{message}")
    numbers = {field.name: field.number for field in descriptor.fields}
    assert numbers == FIELDS[message]


def test_every_mutating_request_carries_a_request_id() -> None:
    for request in COMMAND_RPCS.values():
        descriptor = POOL.FindMessageTypeByName(f"{PACKAGE}.{request}")
        assert descriptor.fields_by_name["request_id"].type == descriptor.fields[0].TYPE_STRING


def test_integration_event_payload_is_a_oneof_of_the_seven_events() -> None:
    payload = events_pb2.IntegrationEvent.DESCRIPTOR.oneofs_by_name["payload"]
    assert [field.message_type.name for field in payload.fields] == EVENT_PAYLOADS
    occurred_at = events_pb2.IntegrationEvent.DESCRIPTOR.fields_by_name["occurred_at"]
    assert occurred_at.message_type.full_name == "google.protobuf.Timestamp"


def test_grid_update_is_a_oneof_of_snapshot_event_heartbeat_resume() -> None:
    update = live_pb2.GridUpdate.DESCRIPTOR.oneofs_by_name["update"]
    assert [field.name for field in update.fields] == ["snapshot", "event", "heartbeat", "resume"]


def test_from_version_has_presence_so_unset_differs_from_zero() -> None:
    request = live_pb2.WatchGridRequest(grid_id="g1")
    assert not request.HasField("from_version")
    request.from_version = 0
    assert request.HasField("from_version")


@pytest.mark.parametrize("enum", sorted(ENUMS))
def test_enum_values(enum: str) -> None:
    descriptor = POOL.FindEnumTypeByName(f"{PACKAGE}.{enum}")
    prefix = "BLOCKED_BY" if enum == "BlockedBy" else enum.upper()
    expected = [f"{prefix}_{name}" for name in ["UNSPECIFIED", *ENUMS[enum]]]
    assert [(value.name, value.number) for value in descriptor.values] == [
        (name, number) for number, name in enumerate(expected)
    ]


def test_every_enum_starts_with_an_unspecified_zero() -> None:
    enums = list(_all_enums())
    assert {enum.name for enum in enums} >= set(ENUMS)
    for enum in enums:
        zero = enum.values_by_number[0]
        assert zero.name.endswith("_UNSPECIFIED"), enum.full_name
        assert enum.values[0] is zero, enum.full_name


def test_integration_event_canonical_json_shape() -> None:
    """What downstream consumers in other languages parse; see docs/api.md."""
    event = events_pb2.IntegrationEvent(
        event_id="8f0c7a52-2d8e-4c3b-9a59-1f0d5e3b6a11",
        grid_id="g1",
        sequence=7,
        occurred_at=timestamp_pb2.Timestamp(seconds=1_700_000_000),
        rover_moved_backward=events_pb2.RoverMovedBackward(
            rover_id="r1",
            from_position=common_pb2.Position(x=2, y=3),
            to_position=common_pb2.Position(x=1, y=3),
            facing=common_pb2.DIRECTION_EAST,
        ),
    )
    document = json.loads(json_format.MessageToJson(event))
    assert document == {
        "eventId": "8f0c7a52-2d8e-4c3b-9a59-1f0d5e3b6a11",
        "gridId": "g1",
        "sequence": "7",
        "occurredAt": "2023-11-14T22:13:20Z",
        "roverMovedBackward": {
            "roverId": "r1",
            "fromPosition": {"x": 2, "y": 3},
            "toPosition": {"x": 1, "y": 3},
            "facing": "DIRECTION_EAST",
        },
    }
    assert json_format.Parse(json.dumps(document), events_pb2.IntegrationEvent()) == event


# --- documentation: every element of the contract has a leading comment ----------------------

# Field numbers of descriptor.proto used in SourceCodeInfo paths.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM, _MESSAGE_ONEOF = 2, 3, 4, 8
_ENUM_VALUE = 2
_SERVICE_METHOD = 2


def _source_descriptors(tmp_path: Path) -> descriptor_pb2.FileDescriptorSet:
    from grpc_tools import protoc  # noqa: PLC0415

    out = tmp_path / "contract.pb"
    files = [name for name in generate.proto_files() if name.startswith("protos/")]
    arguments = [
        "grpc_tools.protoc",
        f"-I{REPO_ROOT}",
        f"-I{generate.bundled_include_dir()}",
        "--include_source_info",
        f"--descriptor_set_out={out}",
        *(str(REPO_ROOT / name) for name in files),
    ]
    assert protoc.main(arguments) == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _elements(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[tuple[int, ...], str]]:
    """(source path, readable name) of every documentable element of a file."""

    def enum(
        path: tuple[int, ...], descriptor: descriptor_pb2.EnumDescriptorProto
    ) -> Iterator[tuple[tuple[int, ...], str]]:
        yield path, f"enum {descriptor.name}"
        for index, value in enumerate(descriptor.value):
            yield (*path, _ENUM_VALUE, index), f"enum value {value.name}"

    def message(
        path: tuple[int, ...], descriptor: descriptor_pb2.DescriptorProto
    ) -> Iterator[tuple[tuple[int, ...], str]]:
        yield path, f"message {descriptor.name}"
        for index, field in enumerate(descriptor.field):
            yield (*path, _MESSAGE_FIELD, index), f"field {descriptor.name}.{field.name}"
        for index, oneof in enumerate(descriptor.oneof_decl):
            if not oneof.name.startswith("_"):  # synthetic oneof of a proto3 `optional`
                yield (*path, _MESSAGE_ONEOF, index), f"oneof {descriptor.name}.{oneof.name}"
        for index, nested in enumerate(descriptor.nested_type):
            yield from message((*path, _MESSAGE_NESTED, index), nested)
        for index, nested_enum in enumerate(descriptor.enum_type):
            yield from enum((*path, _MESSAGE_ENUM, index), nested_enum)

    for index, descriptor in enumerate(file.message_type):
        yield from message((_FILE_MESSAGE, index), descriptor)
    for index, enum_descriptor in enumerate(file.enum_type):
        yield from enum((_FILE_ENUM, index), enum_descriptor)
    for index, service in enumerate(file.service):
        yield (_FILE_SERVICE, index), f"service {service.name}"
        for method_index, method in enumerate(service.method):
            yield (
                (_FILE_SERVICE, index, _SERVICE_METHOD, method_index),
                f"rpc {service.name}.{method.name}",
            )


def test_every_element_has_a_leading_comment(tmp_path: Path) -> None:
    descriptor_set = _source_descriptors(tmp_path)
    ours = [file for file in descriptor_set.file if file.name.startswith("protos/")]
    assert {file.name for file in ours} >= {file.name for file in CONTRACT_FILES}
    undocumented: list[str] = []
    checked = 0
    for file in ours:
        comments = {
            tuple(location.path): location.leading_comments.strip()
            for location in file.source_code_info.location
        }
        for path, name in _elements(file):
            checked += 1
            if not comments.get(path):
                undocumented.append(f"{file.name}: {name}")
    assert checked > 100
    assert not undocumented, f"elements without a leading comment: {undocumented}"


# --- buf lint ---------------------------------------------------------------------------------


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
