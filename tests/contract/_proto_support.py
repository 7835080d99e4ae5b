"""The rover.v1 contract files, package and repository root the proto tests share."""

from __future__ import annotations

from google.protobuf.descriptor import FileDescriptor

from protos import generate
from protos.rover.v1 import admin_pb2, command_pb2, common_pb2, events_pb2, live_pb2, query_pb2

__all__ = ["CONTRACT_FILES", "PACKAGE", "REPO_ROOT"]

REPO_ROOT = generate.REPO_ROOT
PACKAGE = "rover.v1"
CONTRACT_FILES: tuple[FileDescriptor, ...] = (
    common_pb2.DESCRIPTOR,
    events_pb2.DESCRIPTOR,
    command_pb2.DESCRIPTOR,
    query_pb2.DESCRIPTOR,
    live_pb2.DESCRIPTOR,
    admin_pb2.DESCRIPTOR,
)
