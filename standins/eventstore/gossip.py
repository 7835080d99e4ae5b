"""Gossip.Read: a one-member cluster whose only member is the live leader.

The advertised address is configurable, so ``esdb://`` (several targets) and
``esdb+discover://`` URIs resolve to this node exactly as they would to a real single node.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import grpc
from esdbclient.protos.Grpc import gossip_pb2, gossip_pb2_grpc, shared_pb2

__all__ = ["GossipService"]

_EPOCH_TICKS_OFFSET = 621_355_968_000_000_000  # .NET ticks at the Unix epoch


class GossipService(gossip_pb2_grpc.GossipServicer):
    """EventStoreDB's ``event_store.client.gossip.Gossip`` for a single leader node."""

    def __init__(self, advertise_host: str, advertise_port: int) -> None:
        self.advertise_host = advertise_host
        self.advertise_port = advertise_port
        self._instance_id = str(uuid.uuid4())

    async def Read(  # noqa: N802 - gRPC method name
        self, request: shared_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> gossip_pb2.ClusterInfo:
        member = gossip_pb2.MemberInfo(
            instance_id=shared_pb2.UUID(string=self._instance_id),
            time_stamp=_EPOCH_TICKS_OFFSET + time.time_ns() // 100,
            state=gossip_pb2.MemberInfo.VNodeState.Leader,
            is_alive=True,
            http_end_point=gossip_pb2.EndPoint(
                address=self.advertise_host, port=self.advertise_port
            ),
        )
        return gossip_pb2.ClusterInfo(members=[member])
