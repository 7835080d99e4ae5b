"""A fake EventStoreDB cluster for tests: several nodes on loopback in front of ONE event store.

Each node is a ``grpc.aio`` server on its own port that forwards every call, as raw bytes and
whatever its kind (unary, server streaming, client or bidi streaming), to the real store behind
it, except where a cluster answers differently:

- ``Gossip/Read`` is answered by the node: every node as a member, the leader in state
  ``Leader`` and the others ``Follower`` (during an election: ``PreLeader`` and ``PreReplica``,
  so that no member is the leader).
- A call that requires the leader (esdbclient sends ``requires-leader: true`` for every call
  when its NodePreference is leader) reaching a node that is not the leader is refused after its
  first request is read, as EventStoreDB does: NOT_FOUND "Leader info available" with the
  leader's address in the trailers (esdbclient's NodeIsNotLeader, which reconnects to it).
  While there is no leader (``change_leader(no_leader_for=...)``), a BatchAppend request is
  answered in-band with "No leader info available in response" on a call that stays open,
  other writes with UNKNOWN and the same message, reads with UNAVAILABLE "Server Is Not Ready".
- ``change_leader()`` makes another node the leader and ends every call in flight on the old
  one (subscriptions and kept-open BatchAppends included) with UNAVAILABLE, as a node that
  steps down does.

Usage, in the test's event loop (gRPC's asyncio poller serves one loop per process)::

    async with LeaderProxy(upstream="127.0.0.1:2113", nodes=3) as cluster:
        client = AsyncEventStoreDBClient(cluster.uri)   # esdb://n1,n2,n3?Tls=false
        ...
        await cluster.change_leader()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import grpc
from esdbclient.protos.Grpc import gossip_pb2, shared_pb2, status_pb2, streams_pb2
from google.protobuf import any_pb2, empty_pb2

__all__ = ["LeaderProxy", "ProxyNode"]

GOSSIP_READ = "/event_store.client.gossip.Gossip/Read"
BATCH_APPEND = "/event_store.client.streams.Streams/BatchAppend"
_WRITES = frozenset(
    f"/event_store.client.streams.Streams/{name}" for name in ("Append", "Delete", "Tombstone")
)
NO_LEADER = "No leader info available in response"
_EPOCH_TICKS = 621_355_968_000_000_000  # .NET ticks at the Unix epoch
_MIB = 1024 * 1024
_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 17 * _MIB),
    ("grpc.max_send_message_length", 17 * _MIB),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.so_reuseport", 0),
]
_State = gossip_pb2.MemberInfo.VNodeState
Metadata = tuple[tuple[str, str | bytes], ...]
_DETAILS = "grpc-status-details-bin"
_TRANSPORT = frozenset(("user-agent", "content-type", "te"))


def _forwardable(metadata: Sequence[tuple[str, str | bytes]] | None) -> Metadata:
    """Metadata a proxy passes on: neither HTTP/2 pseudo-headers nor gRPC's own (its rich
    status details excepted)."""
    return tuple(
        (key, value)
        for key, value in metadata or ()
        if key == _DETAILS or not (key.startswith((":", "grpc-")) or key in _TRANSPORT)
    )


@dataclass(eq=False)
class _Call:
    """One call a node is serving; ``dropped`` ends it with UNAVAILABLE."""

    method: str
    requires_leader: bool
    dropped: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class ProxyNode:
    """One fake node: its port, the calls in flight, and what it refused (for tests)."""

    index: int
    port: int = 0
    calls: set[_Call] = field(default_factory=set)
    refused_not_leader: int = 0
    refused_no_leader: int = 0
    dropped: int = 0
    forwarded: int = 0
    server: grpc.aio.Server | None = None

    @property
    def target(self) -> str:
        """``host:port`` as gossip advertises it and a seed names it."""
        return f"127.0.0.1:{self.port}"


class LeaderProxy:
    """``nodes`` fake nodes in front of the store at ``upstream``; node 0 leads at first."""

    def __init__(self, upstream: str, *, nodes: int = 3) -> None:
        if nodes < 2:
            raise ValueError("a cluster has at least two nodes")
        self.upstream = upstream
        self.nodes = [ProxyNode(i) for i in range(nodes)]
        self.leader: int | None = 0
        """The leading node's index; None during an election."""
        self._channel: grpc.aio.Channel | None = None
        self._ids = [str(uuid.uuid4()) for _ in range(nodes)]
        self._next: int | None = None  # the node an election in progress will make leader

    @property
    def uri(self) -> str:
        """Every node as a seed: esdbclient rediscovers the leader through gossip."""
        return f"esdb://{','.join(node.target for node in self.nodes)}?Tls=false"

    async def start(self) -> Self:
        self._channel = grpc.aio.insecure_channel(self.upstream, options=_OPTIONS[:2])
        for node in self.nodes:
            server = grpc.aio.server(options=_OPTIONS)
            server.add_generic_rpc_handlers((_Handler(self, node),))
            node.port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            node.server = server
        return self

    async def stop(self) -> None:
        for node in self.nodes:
            self._drop(node)
            if node.server is not None:
                await node.server.stop(grace=None)
                node.server = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.stop()

    async def change_leader(self, to: int | None = None, *, no_leader_for: float = 0.0) -> int:
        """Make node ``to`` (default: the next one) the leader, after an election without one
        lasting ``no_leader_for`` seconds if given; returns the new leader's index."""
        old = self.leader
        new = (((old if old is not None else -1) + 1) % len(self.nodes)) if to is None else to
        if new == old:
            raise ValueError(f"node {new} already leads")
        if no_leader_for > 0:
            self.step_down(next_leader=new)
            await asyncio.sleep(no_leader_for)
        self.elect(new)
        return new

    def step_down(self, next_leader: int | None = None) -> None:
        """The leader steps down and an election starts: gossip lists no leader, and the old
        leader's calls end with UNAVAILABLE. ``next_leader`` is shown as PreLeader."""
        old, self.leader, self._next = self.leader, None, next_leader
        if old is not None:
            self._drop(self.nodes[old])

    def elect(self, index: int) -> None:
        """Node ``index`` leads. The calls of a node that led, and those answered "no leader"
        during an election, end with UNAVAILABLE."""
        old, self.leader, self._next = self.leader, index, None
        for node in self.nodes:
            if old is None or (node.index == old != index):
                self._drop(node)

    def _drop(self, node: ProxyNode) -> None:
        """End the node's calls that need a leader (a read of a follower is not one)."""
        for call in node.calls:
            if call.requires_leader and not call.dropped.done():
                call.dropped.set_result(None)
                node.dropped += 1

    def gossip(self) -> gossip_pb2.ClusterInfo:
        """The cluster as every node describes it."""
        ticks = _EPOCH_TICKS + time.time_ns() // 100
        members = []
        for node in self.nodes:
            if self.leader is not None:
                state = _State.Leader if node.index == self.leader else _State.Follower
            else:
                state = _State.PreLeader if node.index == self._next else _State.PreReplica
            members.append(
                gossip_pb2.MemberInfo(
                    instance_id=shared_pb2.UUID(string=self._ids[node.index]),
                    time_stamp=ticks,
                    state=state,
                    is_alive=True,
                    http_end_point=gossip_pb2.EndPoint(address="127.0.0.1", port=node.port),
                )
            )
        return gossip_pb2.ClusterInfo(members=members)

    async def serve(
        self,
        node: ProxyNode,
        method: str,
        requests: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext[bytes, bytes],
    ) -> None:
        """One call on ``node``: answered here (gossip, refusals) or forwarded."""
        if method == GOSSIP_READ:
            await context.write(self.gossip().SerializeToString())
            return
        metadata = _forwardable(tuple(context.invocation_metadata() or ()))
        requires_leader = ("requires-leader", "true") in metadata
        if requires_leader and self.leader != node.index:
            await self._refuse(node, method, requests, context)
            return
        call = _Call(method, requires_leader)
        node.calls.add(call)
        node.forwarded += 1
        try:
            await self._forward(call, metadata, requests, context)
        finally:
            node.calls.discard(call)

    async def _refuse(
        self,
        node: ProxyNode,
        method: str,
        requests: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext[bytes, bytes],
    ) -> None:
        """What a node that is not the leader answers a call that requires one."""
        first = await anext(requests, None)  # EventStoreDB refuses a request it has read
        leader = self.leader
        if leader is not None:
            node.refused_not_leader += 1
            target = self.nodes[leader]
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "Leader info available",
                (
                    ("exception", "not-leader"),
                    ("leader-endpoint-host", "127.0.0.1"),
                    ("leader-endpoint-port", str(target.port)),
                ),
            )
        node.refused_no_leader += 1
        if method == BATCH_APPEND:
            call = _Call(method, requires_leader=True)
            node.calls.add(call)
            try:
                await self._no_leader_batches(call, first, requests, context)
            finally:
                node.calls.discard(call)
            return
        if method in _WRITES:
            await context.abort(grpc.StatusCode.UNKNOWN, NO_LEADER)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "Server Is Not Ready")

    async def _no_leader_batches(
        self,
        call: _Call,
        first: bytes | None,
        requests: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext[bytes, bytes],
    ) -> None:
        """BatchAppend without a leader: each request answered in-band, the call kept open
        until the election ends (then UNAVAILABLE, as the node changes state)."""
        # A write cancelled half done still holds gRPC core's send: the abort's status would
        # overlap it (ExecuteBatchError, GRPC_CALL_ERROR_TOO_MANY_OPERATIONS).
        writing = asyncio.Lock()

        async def answer() -> None:
            request = first
            while request is not None:
                batch = streams_pb2.BatchAppendReq.FromString(request)
                detail = any_pb2.Any()
                detail.Pack(empty_pb2.Empty())
                response = streams_pb2.BatchAppendResp(
                    correlation_id=batch.correlation_id,
                    stream_identifier=batch.options.stream_identifier,
                    error=status_pb2.Status(message=NO_LEADER, details=detail),
                )
                async with writing:
                    await context.write(response.SerializeToString())
                request = await anext(requests, None)
            await asyncio.Future()  # the client half-closed: wait for the end of the election

        answering = asyncio.ensure_future(answer())
        try:
            await asyncio.wait((answering, call.dropped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            async with writing:  # cancelled between writes, never in one
                answering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await answering
        await context.abort(grpc.StatusCode.UNAVAILABLE, "Server Is Not Ready")

    async def _forward(
        self,
        call: _Call,
        metadata: Metadata,
        requests: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext[bytes, bytes],
    ) -> None:
        """Relay the call to the store, requests one way and responses the other, until it
        ends (its status and trailers relayed) or the node drops it (UNAVAILABLE)."""
        assert self._channel is not None, "proxy not started"
        upstream: Any = self._channel.stream_stream(call.method)(
            metadata=metadata, timeout=context.time_remaining()
        )

        async def send() -> None:
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                async for request in requests:
                    if call.dropped.done():  # a node that stepped down takes no more requests
                        return
                    await upstream.write(request)
                await upstream.done_writing()

        sending = asyncio.ensure_future(send())
        reading: asyncio.Future[Any] | None = None
        try:
            while True:
                reading = asyncio.ensure_future(upstream.read())
                await asyncio.wait((reading, call.dropped), return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "Server Is Not Ready")
                try:
                    response = reading.result()
                except grpc.aio.AioRpcError as error:
                    await context.abort(
                        error.code(),
                        error.details() or "",
                        _forwardable(tuple(error.trailing_metadata() or ())),
                    )
                if response is grpc.aio.EOF:
                    trailers = await upstream.trailing_metadata()
                    context.set_trailing_metadata(_forwardable(tuple(trailers or ())))
                    return
                await context.write(response)
        finally:
            upstream.cancel()
            for task in (sending, reading):
                if task is not None:
                    task.cancel()
            await asyncio.gather(
                *(t for t in (sending, reading) if t is not None), return_exceptions=True
            )


class _Handler(grpc.GenericRpcHandler):
    """Every method of one node, as a bidi stream of raw bytes (no per-method code)."""

    def __init__(self, proxy: LeaderProxy, node: ProxyNode) -> None:
        self._proxy = proxy
        self._node = node

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        method: str = handler_call_details.method
        proxy, node = self._proxy, self._node

        async def behavior(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
        ) -> None:
            await proxy.serve(node, method, requests, context)

        return grpc.stream_stream_rpc_method_handler(behavior)
