"""The ``PersistentSubscriptions`` gRPC service: thin parsing and error mapping over the runtime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import NoReturn

import grpc
import structlog
from esdbclient.protos.Grpc import persistent_pb2, persistent_pb2_grpc, shared_pb2

from standins.eventstore.log import EventLog
from standins.eventstore.metrics import StoreMetrics
from standins.eventstore.persistent import codec
from standins.eventstore.persistent.errors import ConsumerRequestError, GroupError
from standins.eventstore.persistent.messages import NackAction
from standins.eventstore.persistent.runtime import ConsumerSession, SubscriptionRuntime
from standins.eventstore.persistent.settings import ALL, GroupKey

__all__ = ["PersistentSubscriptions"]

_log = structlog.get_logger(__name__)

Context = grpc.aio.ServicerContext


async def _abort(context: Context[object, object], error: GroupError) -> NoReturn:
    code, details, trailers = codec.error_status(error)
    await context.abort(code, details, trailing_metadata=trailers)


def _event_ids(ids: Iterable[shared_pb2.UUID], session: ConsumerSession) -> list[str]:
    """The acked or nacked ids; ConsumerRequestError if one is not a UUID."""
    try:
        return [codec.event_id(value) for value in ids]
    except ValueError as error:
        raise ConsumerRequestError(session.key, f"An event id is not a UUID: {error}.") from None


def _header(context: Context[object, object], name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return ""


class PersistentSubscriptions(persistent_pb2_grpc.PersistentSubscriptionsServicer):
    """EventStoreDB's persistent subscriptions (competing consumers) over our event log.

    ``db_path=None`` keeps groups in memory; otherwise they live in our own tables of that
    SQLite file. Call ``start()`` before serving and ``stop()`` after.
    """

    def __init__(
        self, log: EventLog, db_path: str | None, metrics: StoreMetrics | None = None
    ) -> None:
        self.runtime = SubscriptionRuntime(log, db_path)
        self._metrics = metrics

    async def start(self) -> None:
        """Load groups and checkpoints; start the log watcher and the timeout tick."""
        await self.runtime.start()

    async def stop(self) -> None:
        """Drop every consumer and persist every group's checkpoint."""
        await self.runtime.stop()

    # ------------------------------------------------------------------ administration
    async def Create(  # noqa: N802
        self, request: persistent_pb2.CreateReq, context: Context[object, object]
    ) -> persistent_pb2.CreateResp:
        try:
            key, settings, start, event_filter = codec.parse_create(request)
            self.runtime.create(key, settings, start, event_filter)
        except GroupError as error:
            await _abort(context, error)
        return persistent_pb2.CreateResp()

    async def Update(  # noqa: N802
        self, request: persistent_pb2.UpdateReq, context: Context[object, object]
    ) -> persistent_pb2.UpdateResp:
        try:
            self.runtime.update(*codec.parse_update(request))
        except GroupError as error:
            await _abort(context, error)
        return persistent_pb2.UpdateResp()

    async def Delete(  # noqa: N802
        self, request: persistent_pb2.DeleteReq, context: Context[object, object]
    ) -> persistent_pb2.DeleteResp:
        key = GroupKey(codec.source_of(request.options), request.options.group_name)
        try:
            self.runtime.delete(key)
        except GroupError as error:
            await _abort(context, error)
        return persistent_pb2.DeleteResp()

    async def GetInfo(  # noqa: N802
        self, request: persistent_pb2.GetInfoReq, context: Context[object, object]
    ) -> persistent_pb2.GetInfoResp:
        key = GroupKey(codec.source_of(request.options), request.options.group_name)
        try:
            entry = self.runtime.entry(key)
        except GroupError as error:
            await _abort(context, error)
        return persistent_pb2.GetInfoResp(subscription_info=codec.subscription_info(entry))

    async def List(  # noqa: N802
        self, request: persistent_pb2.ListReq, context: Context[object, object]
    ) -> persistent_pb2.ListResp:
        source: str | None = None
        if request.options.WhichOneof("list_option") == "list_for_stream":
            option = request.options.list_for_stream
            source = (
                ALL
                if option.WhichOneof("stream_option") == "all"
                else (option.stream.stream_name.decode("utf-8"))
            )
        entries = self.runtime.entries(source)
        return persistent_pb2.ListResp(subscriptions=[codec.subscription_info(e) for e in entries])

    async def ReplayParked(  # noqa: N802
        self, request: persistent_pb2.ReplayParkedReq, context: Context[object, object]
    ) -> persistent_pb2.ReplayParkedResp:
        options = request.options
        key = GroupKey(codec.source_of(options), options.group_name)
        limit = options.stop_at if options.WhichOneof("stop_at_option") == "stop_at" else None
        try:
            self.runtime.replay_parked(key, limit)
        except GroupError as error:
            await _abort(context, error)
        return persistent_pb2.ReplayParkedResp()

    async def RestartSubsystem(  # noqa: N802
        self, request: shared_pb2.Empty, context: Context[object, object]
    ) -> shared_pb2.Empty:
        self.runtime.restart()
        return shared_pb2.Empty()

    # ------------------------------------------------------------------ consumers
    async def Read(  # noqa: N802
        self,
        request_iterator: AsyncIterator[persistent_pb2.ReadReq],
        context: Context[object, object],
    ) -> AsyncIterator[persistent_pb2.ReadResp]:
        first = await anext(request_iterator, None)
        if first is None:
            return
        if first.WhichOneof("content") != "options":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Expected options first.")
        options = first.options
        key = GroupKey(codec.source_of(options), options.group_name)
        structured = options.uuid_option.WhichOneof("content") != "string"
        try:
            session = self.runtime.connect(
                key, options.buffer_size, _header(context, "connection-name"), context.peer()
            )
        except GroupError as error:
            await _abort(context, error)
        acks = asyncio.create_task(self._consume(request_iterator, session))
        if self._metrics is not None:
            self._metrics.subscribed("persistent", 1)
        try:
            yield persistent_pb2.ReadResp(
                subscription_confirmation=persistent_pb2.ReadResp.SubscriptionConfirmation(
                    subscription_id=key.subscription_id
                )
            )
            while True:
                item = await session.queue.get()
                if session.dropped is not None:  # even with deliveries still queued before it
                    await _abort(context, session.dropped)
                if isinstance(item, GroupError):
                    await _abort(context, item)
                yield codec.read_event(item, structured)
        finally:
            acks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acks
            self.runtime.disconnect(session)
            if self._metrics is not None:
                self._metrics.subscribed("persistent", -1)

    async def _consume(
        self, requests: AsyncIterator[persistent_pb2.ReadReq], session: ConsumerSession
    ) -> None:
        """Apply the consumer's acks and nacks as they come, until it half-closes."""
        try:
            async for request in requests:
                try:
                    self._apply(request, session)
                except ConsumerRequestError as error:
                    session.drop(error)  # the response side ends the call: INVALID_ARGUMENT
                    return
                except Exception:  # keep serving the consumer; a later ack may succeed
                    _log.exception("persistent ack failed", group=session.key)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the call is ending under us; the response side cleans up
            _log.info("persistent consumer requests ended", error=repr(error))

    def _apply(self, request: persistent_pb2.ReadReq, session: ConsumerSession) -> None:
        which = request.WhichOneof("content")
        if which == "ack":
            self.runtime.ack(session, _event_ids(request.ack.ids, session))
        elif which == "nack":
            ids = _event_ids(request.nack.ids, session)
            try:
                action = NackAction(request.nack.action)
            except ValueError:
                raise ConsumerRequestError(
                    session.key, f"'{request.nack.action}' is not a valid nack action."
                ) from None
            self.runtime.nack(session, ids, action)
