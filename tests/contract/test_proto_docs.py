"""Every message, field, oneof, enum, value, service and rpc of rover.v1 has a leading comment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2

from protos import generate
from tests.contract._proto_support import CONTRACT_FILES, REPO_ROOT

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
