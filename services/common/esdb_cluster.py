"""At start: one warning when the event store is a cluster but the URI cannot follow its leader."""

from __future__ import annotations

from typing import Any

import grpc
from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import EventStoreDBClientException

from services.common.logs import get_logger
from services.common.settings import follows_leader

__all__ = ["warn_if_leader_unfollowable"]

_log = get_logger(__name__)
_GOSSIP_TIMEOUT = 2.0  # a check at start: never holds a start up for long


async def warn_if_leader_unfollowable(client: AsyncEventStoreDBClient) -> None:
    """After ``client.connect()``: if gossip lists several members and the URI cannot follow a
    new leader (one ``esdb://`` host, or a NodePreference other than leader), log one warning.

    The async client has no public gossip read, so this one uses its connection's gossip
    service; if an esdbclient upgrade moved it, or the store cannot answer now, nothing is
    checked (the connection's own errors surface in the service's first reads and writes).
    """
    if follows_leader(client.connection_spec.uri):
        return
    handle: Any = client
    try:
        members = await handle._connection.gossip.read(
            timeout=_GOSSIP_TIMEOUT,
            metadata=handle._call_metadata,
            credentials=handle._call_credentials,
        )
    except (AttributeError, TypeError) as error:
        _log.debug("cluster check skipped: esdbclient internals moved", error=repr(error))
        return
    except (EventStoreDBClientException, grpc.RpcError, OSError) as error:
        _log.debug("cluster check skipped: gossip unanswered", error=repr(error))
        return
    if len(members) > 1:
        _log.warning(
            "the event store is a cluster but ROVER_EVENTSTORE_URI cannot follow a new leader: "
            "use esdb+discover:// or several esdb:// seeds, with NodePreference=leader",
            members=len(members),
            node_preference=client.connection_spec.options.NodePreference,
        )
