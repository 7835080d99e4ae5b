"""The command service over TLS against a store with users on (``make run-secure``'s grants):
it connects with the credentials and CA of its ``ROVER_EVENTSTORE_URI``, and a store that
refuses its user a write (a grant missing) is an outage to its clients, UNAVAILABLE, never
INTERNAL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from protos.rover.v1 import command_pb2
from services.command.bootstrap import CommandApp, build
from services.command.settings import CommandSettings
from services.common.tls import channel_credentials
from services.up.secure import grant_service_access
from standins.eventstore.access import User
from standins.eventstore.server import EventStoreServer
from tests.support.certs import CertFiles
from tests.support.secure_store import secure_store, user_uri
from tests.support.stubs import command_stub

pytestmark = pytest.mark.slow


@pytest.fixture
async def store(dev_certs: CertFiles) -> AsyncIterator[EventStoreServer]:
    async with secure_store(dev_certs, User("rover", "rover-pw")) as server:
        await grant_service_access(user_uri(server, dev_certs, "admin", "changeit"))
        yield server


@pytest.fixture
async def service(store: EventStoreServer, dev_certs: CertFiles) -> AsyncIterator[CommandApp]:
    settings = CommandSettings(
        command_address="127.0.0.1:0",
        eventstore_uri=user_uri(store, dev_certs, "rover", "rover-pw"),
        shutdown_grace_seconds=1.0,
        tls_cert_file=str(dev_certs.server),
        tls_key_file=str(dev_certs.server_key),
    )
    app = build(settings)
    await app.start()
    yield app
    await app.stop()


async def _create(service: CommandApp, certs: CertFiles, grid_id: str) -> None:
    target = f"localhost:{service.port}"
    async with grpc.aio.secure_channel(target, channel_credentials(str(certs.ca))) as channel:
        await command_stub(channel).CreateGrid(
            command_pb2.CreateGridRequest(grid_id=grid_id, width=3, height=3), timeout=10
        )


async def test_commands_over_tls_reach_a_store_with_users(
    service: CommandApp, store: EventStoreServer, dev_certs: CertFiles
) -> None:
    await _create(service, dev_certs, "g1")
    admin = AsyncEventStoreDBClient(user_uri(store, dev_certs, "admin", "changeit"))
    await admin.connect()
    try:
        assert len(await admin.get_stream("grid-g1")) == 1
    finally:
        await admin.close()


async def test_a_refused_write_is_unavailable(
    service: CommandApp, store: EventStoreServer, dev_certs: CertFiles
) -> None:
    admin = AsyncEventStoreDBClient(user_uri(store, dev_certs, "admin", "changeit"))
    await admin.connect()
    try:
        only_admins = {"$userStreamAcl": {"$w": "$admins"}}
        event = NewEvent(type="$settings", data=json.dumps(only_admins).encode())
        await admin.append_to_stream("$settings", current_version=StreamState.ANY, events=[event])
    finally:
        await admin.close()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _create(service, dev_certs, "g2")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_store_that_refuses_the_user_stops_the_start_with_one_line(
    store: EventStoreServer, dev_certs: CertFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = CommandSettings(
        command_address="127.0.0.1:0",
        eventstore_uri=user_uri(store, dev_certs, "rover", "not-the-password"),
        shutdown_grace_seconds=1.0,
    )
    app = build(settings)
    with pytest.raises(SystemExit) as stopped:
        await app.run_until_signal()
    assert stopped.value.code == 1
    line = capsys.readouterr().err.strip()
    assert line == (
        "command service: the event store refused this service (UNAUTHENTICATED: Bad "
        "credentials): check the user and password in ROVER_EVENTSTORE_URI and the user's "
        "grants (docs/security.md)"
    )
