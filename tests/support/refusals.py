"""What a refused call must carry: its status, the setting named in its message, its reason."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from services.common.rich_errors import details_of

__all__ = ["assert_refusal"]


def assert_refusal(
    error: grpc.aio.AioRpcError, code: grpc.StatusCode, setting: str, reason: str
) -> None:
    """``error`` is ``code``, its message names ``setting``, its one ErrorInfo is ``reason``."""
    assert error.code() == code
    assert setting in (error.details() or "")
    reasons = [d.reason for d in details_of(error) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert reasons == [reason]
