"""Persistent-subscription failures as the status, details and trailers EventStoreDB sends."""

from __future__ import annotations

import grpc

from standins.eventstore.persistent.errors import (
    ConsumerRequestError,
    GroupDroppedError,
    GroupError,
    GroupExistsError,
    GroupFailedError,
    GroupNotFoundError,
    MaxSubscribersError,
)

__all__ = ["error_status"]


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


def error_status(error: GroupError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    """Status code, details and trailing metadata, as EventStoreDB reports ``error``."""
    stream, group = error.key.source, error.key.group
    where = f"Subscription group {group} on stream {stream}"
    names = (("stream-name", _ascii(stream)), ("group-name", _ascii(group)))
    trailers: tuple[tuple[str, str], ...]
    if isinstance(error, GroupNotFoundError):
        code, details = grpc.StatusCode.NOT_FOUND, f"{where} does not exist."
        trailers = (("exception", "persistent-subscription-does-not-exist"), *names)
    elif isinstance(error, GroupExistsError):
        code, details = grpc.StatusCode.ALREADY_EXISTS, f"{where} exists."
        trailers = (("exception", "persistent-subscription-exists"), *names)
    elif isinstance(error, GroupFailedError):
        code, details = grpc.StatusCode.INTERNAL, f"{where} failed: '{error.reason}'"
        trailers = (
            ("exception", "persistent-subscription-failed"),
            *names,
            ("reason", _ascii(error.reason)),
        )
    elif isinstance(error, MaxSubscribersError):
        code = grpc.StatusCode.FAILED_PRECONDITION
        details = (
            f"Maximum subscriptions reached for subscription group {group} on stream {stream}."
        )
        trailers = (("exception", "maximum-subscribers-reached"), *names)
    elif isinstance(error, ConsumerRequestError):
        code, details, trailers = grpc.StatusCode.INVALID_ARGUMENT, error.reason, ()  # as ESDB
    elif isinstance(error, GroupDroppedError):
        code, details = grpc.StatusCode.CANCELLED, f"{where} was dropped."
        trailers = (("exception", "persistent-subscription-dropped"), *names)
    else:
        code, details, trailers = grpc.StatusCode.UNKNOWN, str(error), ()
    return code, details, trailers
