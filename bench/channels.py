"""Client channels that each open a TCP connection of their own, so SO_REUSEPORT can spread them.

grpc shares one connection (a subchannel from a process-wide pool) between all channels that
have the same target and options, so ten plain channels to one address are one connection,
and the kernel hands that one to a single instance among those sharing the port. A channel
with its own subchannel pool connects on its own.
"""

from __future__ import annotations

import grpc

__all__ = ["OWN_CONNECTION", "connection"]

OWN_CONNECTION = ("grpc.use_local_subchannel_pool", 1)
"""The channel option that gives a channel a connection of its own."""


def connection(address: str) -> grpc.aio.Channel:
    """An insecure asyncio channel to ``address`` on a TCP connection of its own."""
    return grpc.aio.insecure_channel(address, options=[OWN_CONNECTION])
