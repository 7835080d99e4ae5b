"""The Streams service: Append, BatchAppend, Read (reads and catch-up subscriptions), Delete,
Tombstone. Thin: parse the request, call the writer or the reader, map outcomes to the wire.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from esdbclient.protos.Grpc import shared_pb2, streams_pb2, streams_pb2_grpc
from google.protobuf import empty_pb2

from standins.eventstore import errors
from standins.eventstore.access import AccessControl, Principal
from standins.eventstore.convert import parse_uuid
from standins.eventstore.metrics import StoreMetrics
from standins.eventstore.reads import (
    InvalidPositionError,
    Reader,
    ReadRequest,
    StreamDeletedOnReadError,
)
from standins.eventstore.storage import SqliteEventLog
from standins.eventstore.versioning import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    StreamDeletedError,
    WrongExpectedVersionError,
)
from standins.eventstore.writer import NewEvent, StoreWriter, WriteResult

__all__ = ["DEFAULT_MAX_APPEND_SIZE", "StreamsService"]

DEFAULT_MAX_APPEND_SIZE = 1024 * 1024  # ESDB's default MaxAppendSize
Context = grpc.aio.ServicerContext[Any, Any]
_JSON = "application/json"
_Proposed = streams_pb2.AppendReq.ProposedMessage | streams_pb2.BatchAppendReq.ProposedMessage


class _MissingMetadataError(ValueError):
    def __init__(self, prop: str) -> None:
        super().__init__(f"Required Metadata Property '{prop}' is missing")
        self.prop = prop


def _expected(options: Any, exact_field: str) -> int:
    oneof = (
        "expected_stream_position"
        if exact_field == "stream_position"
        else ("expected_stream_revision")
    )
    which = options.WhichOneof(oneof)
    if which == "no_stream":
        return NO_STREAM
    if which == "stream_exists":
        return STREAM_EXISTS
    if which == exact_field:
        return int(getattr(options, exact_field))
    return ANY


def _new_event(message: _Proposed) -> NewEvent:
    metadata = message.metadata
    if "type" not in metadata:
        raise _MissingMetadataError("type")
    if "content-type" not in metadata:
        raise _MissingMetadataError("content-type")
    return NewEvent(
        event_id=parse_uuid(message.id),
        type=metadata["type"],
        is_json=metadata["content-type"] == _JSON,
        data=message.data,
        metadata=message.custom_metadata,
    )


@dataclass(slots=True)
class _Batch:
    correlation_id: shared_pb2.UUID
    options: streams_pb2.BatchAppendReq.Options
    events: list[NewEvent] = field(default_factory=list)
    size: int = 0
    problem: ValueError | None = None
    who: Principal | None = None


class StreamsService(streams_pb2_grpc.StreamsServicer):
    """EventStoreDB's ``event_store.client.streams.Streams`` over the SQLite store."""

    def __init__(
        self,
        log: SqliteEventLog,
        writer: StoreWriter,
        *,
        max_append_size: int,
        metrics: StoreMetrics | None = None,
        access: AccessControl | None = None,
    ) -> None:
        self._access = access or AccessControl(log, None)
        self._writer = writer
        self._metrics = metrics
        self._reader = Reader(log)
        self._max_append_size = max_append_size

    # ----------------------------------------------------------------- Append
    async def Append(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[streams_pb2.AppendReq], context: Context
    ) -> streams_pb2.AppendResp:
        self._writer.enter()  # from its first request: a concurrent write may share our commit
        try:
            return await self._append(request_iterator, context)
        finally:
            self._writer.leave()

    async def _append(
        self, request_iterator: AsyncIterator[streams_pb2.AppendReq], context: Context
    ) -> streams_pb2.AppendResp:
        options: streams_pb2.AppendReq.Options | None = None
        events: list[NewEvent] = []
        size = 0
        async for request in request_iterator:
            which = request.WhichOneof("content")
            if options is None:
                if which != "options":
                    await errors.abort_bad_request(context, "Options expected first.")
                options = request.options
                stream = options.stream_identifier.stream_name.decode()
                await self._access.check(context, stream, "w")
            elif which != "proposed_message":
                await errors.abort_bad_request(context, "Proposed message expected.")
            else:
                proposed = request.proposed_message
                try:
                    events.append(_new_event(proposed))
                except _MissingMetadataError as missing:
                    await errors.abort_missing_metadata(context, missing.prop)
                size += len(proposed.data) + len(proposed.custom_metadata)
        if options is None:
            await errors.abort_bad_request(context, "Options expected.")
        if size > self._max_append_size:
            await errors.abort_max_append_size(context, self._max_append_size)
        stream = options.stream_identifier.stream_name.decode()
        try:
            result = await self._writer.append(stream, _expected(options, "revision"), events)
        except WrongExpectedVersionError as error:
            return errors.append_wrong_version(error)
        except StreamDeletedError:
            await errors.abort_stream_deleted(context, stream)
        finally:
            self._access.written(stream)
        response = streams_pb2.AppendResp()
        success = response.success
        success.position.commit_position = result.position
        success.position.prepare_position = result.position
        if result.revision >= 0:
            success.current_revision = result.revision
        else:
            success.no_stream.SetInParent()
        return response

    # ----------------------------------------------------------------- BatchAppend
    async def BatchAppend(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[streams_pb2.BatchAppendReq], context: Context
    ) -> AsyncIterator[streams_pb2.BatchAppendResp]:
        pending: dict[bytes, _Batch] = {}
        who = await self._access.authenticate(context)
        try:
            async for request in request_iterator:
                key = request.correlation_id.SerializeToString()
                batch = pending.get(key)
                if batch is None:
                    batch = _Batch(request.correlation_id, request.options, who=who)
                    pending[key] = batch
                    self._writer.enter()  # until its commit (see StoreWriter.enter)
                    if not request.HasField("options"):
                        batch.problem = ValueError("Options are required on the first request.")
                for message in request.proposed_messages:
                    try:
                        batch.events.append(_new_event(message))
                    except _MissingMetadataError as missing:
                        batch.problem = missing
                    batch.size += len(message.data) + len(message.custom_metadata)
                if request.is_final:
                    del pending[key]
                    try:
                        response = await self._commit_batch(batch)
                    finally:
                        self._writer.leave()
                    yield response
        finally:
            self._writer.leave(len(pending))

    async def _commit_batch(self, batch: _Batch) -> streams_pb2.BatchAppendResp:
        options = batch.options
        response = streams_pb2.BatchAppendResp(
            correlation_id=batch.correlation_id, stream_identifier=options.stream_identifier
        )
        try:
            if batch.problem is not None:
                raise batch.problem
            if batch.size > self._max_append_size:
                raise OverflowError(batch.size)
            if _deadline_passed(options):
                raise TimeoutError
            stream = options.stream_identifier.stream_name.decode()
            if not stream:
                raise ValueError("A stream name is required.")
            if not self._access.permits(batch.who, stream, "w"):
                raise PermissionError(stream)
            try:
                result = await self._writer.append(
                    stream, _expected(options, "stream_position"), batch.events
                )
            finally:
                self._access.written(stream)
        except Exception as error:
            response.error.CopyFrom(
                errors.batch_error(error, max_append_size=self._max_append_size)
            )
            return response
        success = response.success
        success.position.commit_position = result.position
        success.position.prepare_position = result.position
        if result.revision >= 0:
            success.current_revision = result.revision
        else:
            success.no_stream.CopyFrom(empty_pb2.Empty())
        return response

    # ----------------------------------------------------------------- Delete / Tombstone
    async def Delete(  # noqa: N802 - gRPC method name
        self, request: streams_pb2.DeleteReq, context: Context
    ) -> streams_pb2.DeleteResp:
        stream = request.options.stream_identifier.stream_name.decode()
        await self._access.check(context, stream, "d")
        expected = _expected(request.options, "revision")
        result = await self._delete(context, stream, expected, tombstone=False)
        position = streams_pb2.DeleteResp.Position(
            commit_position=result.position, prepare_position=result.position
        )
        return streams_pb2.DeleteResp(position=position)

    async def Tombstone(  # noqa: N802 - gRPC method name
        self, request: streams_pb2.TombstoneReq, context: Context
    ) -> streams_pb2.TombstoneResp:
        stream = request.options.stream_identifier.stream_name.decode()
        await self._access.check(context, stream, "d")
        expected = _expected(request.options, "revision")
        result = await self._delete(context, stream, expected, tombstone=True)
        position = streams_pb2.TombstoneResp.Position(
            commit_position=result.position, prepare_position=result.position
        )
        return streams_pb2.TombstoneResp(position=position)

    async def _delete(
        self, context: Context, stream: str, expected: int, *, tombstone: bool
    ) -> WriteResult:
        try:
            if tombstone:
                return await self._writer.tombstone(stream, expected)
            return await self._writer.delete(stream, expected)
        except WrongExpectedVersionError as error:
            await errors.abort_delete_wrong_version(context, error)
        except StreamDeletedError:
            await errors.abort_stream_deleted(context, stream)
        finally:
            self._access.written(stream, deleted=True)

    # ----------------------------------------------------------------- Read
    async def Read(  # noqa: N802 - gRPC method name
        self, request: streams_pb2.ReadReq, context: Context
    ) -> AsyncIterator[streams_pb2.ReadResp]:
        try:
            read = ReadRequest(request.options)
        except ValueError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        options = request.options
        on_all = options.WhichOneof("stream_option") == "all"
        target = "$all" if on_all else options.stream.stream_identifier.stream_name.decode()
        await self._access.check(context, target, "r")
        subscribe = options.WhichOneof("count_option") == "subscription"
        metrics = self._metrics
        if subscribe:
            messages = (
                self._reader.subscribe_all(read) if on_all else self._reader.subscribe_stream(read)
            )
            if metrics is not None:
                metrics.subscribed("catch-up", 1)
        else:
            messages = self._reader.read_all(read) if on_all else self._reader.read_stream(read)
            if metrics is not None:
                metrics.read("all" if on_all else "stream")
        try:
            async for message in messages:
                yield message
        except StreamDeletedOnReadError as deleted:
            await errors.abort_stream_deleted(context, deleted.stream)
        except InvalidPositionError:
            await errors.abort_invalid_position(
                context, subscription=subscribe, filtered=read.filter is not None
            )
        finally:
            if subscribe and metrics is not None:
                metrics.subscribed("catch-up", -1)


def _deadline_passed(options: streams_pb2.BatchAppendReq.Options) -> bool:
    which = options.WhichOneof("deadline_option")
    if which == "deadline":
        return options.deadline.seconds <= 0 and options.deadline.nanos <= 0
    if which == "deadline_21_10_0":
        return options.deadline_21_10_0.ToNanoseconds() <= time.time_ns()
    return False
