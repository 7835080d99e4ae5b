"""Persistent subscriptions (competing consumers) of the embedded EventStoreDB-compatible server.

``PersistentSubscriptions`` is the gRPC servicer the server registers; the delivery algorithm
(``group``) with its consumers (``consumers``), settings (``settings``), durable state
(``store``) and runtime (``runtime``) are its siblings.
"""

from __future__ import annotations

from standins.eventstore.persistent.servicer import PersistentSubscriptions

__all__ = ["PersistentSubscriptions"]
