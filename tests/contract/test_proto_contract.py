"""The public rover.v1 contract: its packages, RPCs, field numbers, enums and JSON shape.

Clients in other languages compile against these names and field numbers, and downstream
consumers read IntegrationEvent as canonical JSON, so a rename or renumbering here is a
breaking change that must be deliberate: change the .proto, this test and docs/api.md
together.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from google.protobuf import descriptor_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor

from protos.rover.v1 import common_pb2, events_pb2, live_pb2
from tests.contract._proto_support import CONTRACT_FILES, PACKAGE

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
    ("RoverCommandService", "SubmitCommand"): (
        "SubmitCommandRequest",
        "SubmitCommandResponse",
        False,
    ),
    ("RoverCommandService", "GetCommandResult"): (
        "GetCommandResultRequest",
        "CommandResult",
        False,
    ),
    ("RoverQueryService", "GetGridDetails"): ("GetGridDetailsRequest", "GridDetails", False),
    ("RoverQueryService", "ListGrids"): ("ListGridsRequest", "ListGridsResponse", False),
    ("RoverQueryService", "GetRover"): ("GetRoverRequest", "GetRoverResponse", False),
    ("RoverLiveService", "WatchGrid"): ("WatchGridRequest", "GridUpdate", True),
}

_MUTATION = {"request_id": 1, "grid_id": 2, "rover_id": 3}
# SubmitCommandRequest's oneof: one field a command RPC, in the order of COMMAND_RPCS.
_SUBMITTED = [
    "create_grid",
    "create_rover",
    "move_rover_forward",
    "move_rover_backward",
    "turn_rover_left",
    "turn_rover_right",
    "execute_rover_commands",
]

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
    "SubmitCommandRequest": {
        **{name: number for number, name in enumerate(_SUBMITTED, start=1)},
        "reply_stream": 8,
    },
    "SubmitCommandResponse": {
        "request_id": 1,
        "inbox_stream": 2,
        "inbox_commit_position": 3,
        "reply_stream": 4,
    },
    "GetCommandResultRequest": {"request_id": 1, "reply_stream": 2, "wait_seconds": 3},
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


def test_submit_command_holds_every_command_rpc_request_once() -> None:
    oneof = POOL.FindMessageTypeByName(f"{PACKAGE}.SubmitCommandRequest").oneofs_by_name["command"]
    assert [field.name for field in oneof.fields] == _SUBMITTED
    assert [field.message_type.name for field in oneof.fields] == list(COMMAND_RPCS.values())


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
