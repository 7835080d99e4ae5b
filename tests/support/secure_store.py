"""Our event store over TLS with users on (``--auth``), in the test's loop, and its URIs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from standins.eventstore.access import User, builtin_users
from standins.eventstore.server import EventStoreServer
from tests.support.certs import CertFiles

__all__ = ["secure_store", "user_uri"]


@contextlib.asynccontextmanager
async def secure_store(certs: CertFiles, *users: User) -> AsyncIterator[EventStoreServer]:
    """In memory, TLS with ``certs``' server certificate; admin/changeit, ops and ``users``."""
    async with EventStoreServer(
        db_path=None,
        port=0,
        tls_cert=str(certs.server),
        tls_key=str(certs.server_key),
        users=builtin_users(users),
    ) as server:
        yield server


def user_uri(store: EventStoreServer, certs: CertFiles, user: str, password: str) -> str:
    """esdbclient's URI of ``store`` as ``user``, over TLS trusting ``certs``' CA."""
    return f"esdb://{user}:{password}@127.0.0.1:{store.port}?Tls=true&TlsCaFile={certs.ca}"
