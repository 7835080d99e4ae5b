"""An error that echoes a huge input stays small: every text of it is clipped."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from services.common.rich_errors import (
    MAX_ERROR_TEXT,
    bad_request,
    error_info,
    resource_info,
    rich_status,
)


def test_every_text_of_an_error_is_clipped() -> None:
    huge = "x" * 100_000
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"grid_id {huge} is malformed",
        bad_request([("grid_id", huge), ("rover_id", "short")]),
        error_info("ID_INVALID", {"value": huge}),
        resource_info("rover.v1.Grid", huge, huge),
    )
    assert len(status.details) <= MAX_ERROR_TEXT + 40
    trailer = dict(status.trailing_metadata)["grpc-status-details-bin"]
    assert len(trailer) < 8 * 1024
    proto = status_pb2.Status.FromString(trailer)
    request, info, resource = (
        error_details_pb2.BadRequest(),
        error_details_pb2.ErrorInfo(),
        error_details_pb2.ResourceInfo(),
    )
    for packed, message in zip(proto.details, (request, info, resource), strict=True):
        packed.Unpack(message)
    assert request.field_violations[0].description.startswith("x" * MAX_ERROR_TEXT + "...")
    assert "(100000 characters)" in request.field_violations[0].description
    assert request.field_violations[1].description == "short"
    assert len(info.metadata["value"]) <= MAX_ERROR_TEXT + 40
    assert len(resource.resource_name) <= MAX_ERROR_TEXT + 40


def test_short_errors_are_unchanged() -> None:
    status = rich_status(grpc.StatusCode.NOT_FOUND, "grid 'g' does not exist")
    assert status.details == "grid 'g' does not exist"
