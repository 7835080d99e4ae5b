"""Users and ACLs in our store, as EventStoreDB enforces them (through the real esdbclient, and
raw gRPC for anonymous calls, which esdbclient never makes over TLS): the publisher's
checkpoint and ``$all`` are not anyone's to read, append to, delete or tombstone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import AccessDeniedError, GrpcError
from esdbclient.protos.Grpc import (
    persistent_pb2,
    persistent_pb2_grpc,
    streams_pb2,
    streams_pb2_grpc,
)

from services.common.publisher_checkpoint import DEFAULT_CHECKPOINT_STREAM
from services.common.tls import channel_credentials
from standins.eventstore.access import User, builtin_users
from standins.eventstore.server import EventStoreServer, ServerStartError
from tests.support.certs import CertFiles
from tests.support.secure_store import secure_store, user_uri

pytestmark = pytest.mark.slow

CHECKPOINT = DEFAULT_CHECKPOINT_STREAM
Connect = Callable[[str, str], Awaitable[AsyncEventStoreDBClient]]


@pytest.fixture
async def store(dev_certs: CertFiles) -> AsyncIterator[EventStoreServer]:
    users = (User("rover", "rover-pw"), User("intruder", "intruder-pw"))
    async with secure_store(dev_certs, *users) as server:
        yield server


@pytest.fixture
async def connect(store: EventStoreServer, dev_certs: CertFiles) -> AsyncIterator[Connect]:
    clients: list[AsyncEventStoreDBClient] = []

    async def connected(user: str, password: str) -> AsyncEventStoreDBClient:
        client = AsyncEventStoreDBClient(user_uri(store, dev_certs, user, password))
        await client.connect()
        clients.append(client)
        return client

    yield connected
    for client in clients:
        await client.close()


def _event() -> list[NewEvent]:
    return [NewEvent(type="Checkpoint", data=b'{"commit_position": 1000000000000}')]


def _code(error: BaseException) -> grpc.StatusCode:
    cause = error.args[0]
    assert isinstance(cause, grpc.aio.AioRpcError)
    return cause.code()


async def _read_all(client: AsyncEventStoreDBClient) -> int:
    return len([event async for event in await client.read_all()])


@pytest.fixture
async def anonymous(
    store: EventStoreServer, dev_certs: CertFiles
) -> AsyncIterator[grpc.aio.Channel]:
    credentials = channel_credentials(str(dev_certs.ca))
    async with grpc.aio.secure_channel(f"127.0.0.1:{store.port}", credentials) as channel:
        yield channel


async def test_anonymous_reads_of_all_are_refused(anonymous: grpc.aio.Channel) -> None:
    request = streams_pb2.ReadReq()
    options = request.options
    options.all.start.SetInParent()
    options.count = 10
    options.no_filter.SetInParent()
    options.uuid_option.string.SetInParent()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in streams_pb2_grpc.StreamsStub(anonymous).Read(request):  # type: ignore[no-untyped-call]
            pass
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == "Access Denied"
    assert ("exception", "access-denied") in tuple(refused.value.trailing_metadata() or ())


async def test_anonymous_tombstones_are_refused(anonymous: grpc.aio.Channel) -> None:
    request = streams_pb2.TombstoneReq()
    request.options.stream_identifier.stream_name = CHECKPOINT.encode()
    request.options.any.SetInParent()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await streams_pb2_grpc.StreamsStub(anonymous).Tombstone(request)  # type: ignore[no-untyped-call]
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_anonymous_persistent_subscriptions_are_refused(anonymous: grpc.aio.Channel) -> None:
    stub = persistent_pb2_grpc.PersistentSubscriptionsStub(anonymous)  # type: ignore[no-untyped-call]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.List(persistent_pb2.ListReq())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_wrong_password_is_unauthenticated(connect: Connect) -> None:
    client = await connect("rover", "wrong")
    with pytest.raises(GrpcError) as refused:
        await _read_all(client)
    assert _code(refused.value) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(GrpcError) as refused:
        await client.append_to_stream(CHECKPOINT, current_version=StreamState.ANY, events=_event())
    # The store refuses the append's stream at once, as EventStoreDB does; a client still
    # writing its request then may see that end as grpc's "Internal error from Core" (a race
    # in the client, seen once under load), otherwise as the status the store sent.
    cause = refused.value.args[0]
    if isinstance(cause, grpc.aio.AioRpcError):
        assert cause.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_all_and_system_streams_are_for_admins_by_default(connect: Connect) -> None:
    rover = await connect("rover", "rover-pw")
    admin = await connect("admin", "changeit")
    await rover.append_to_stream("grid-1", current_version=StreamState.ANY, events=_event())
    with pytest.raises(GrpcError) as refused:
        await _read_all(rover)
    assert _code(refused.value) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(AccessDeniedError):
        await rover.append_to_stream("$grid-1", current_version=StreamState.ANY, events=_event())
    with pytest.raises(AccessDeniedError):
        await rover.append_to_stream("$settings", current_version=StreamState.ANY, events=_event())
    assert await _read_all(admin) == 1


async def test_stream_acls_protect_the_publisher_checkpoint(connect: Connect) -> None:
    """The least-privilege setup of docs/security.md: ``$all`` readable by rover, the
    checkpoint writable by rover only; another user is refused every write and delete."""
    admin = await connect("admin", "changeit")
    rover = await connect("rover", "rover-pw")
    intruder = await connect("intruder", "intruder-pw")
    await admin.set_stream_metadata("$all", metadata={"$acl": {"$r": ["rover"]}})
    only_rover = {"$r": "rover", "$w": "rover", "$d": "$admins", "$mr": "rover", "$mw": "$admins"}
    await admin.set_stream_metadata(CHECKPOINT, metadata={"$acl": only_rover})

    await rover.append_to_stream(CHECKPOINT, current_version=StreamState.ANY, events=_event())
    assert await _read_all(rover) == 1
    with pytest.raises(AccessDeniedError):
        await intruder.append_to_stream(
            CHECKPOINT, current_version=StreamState.ANY, events=_event()
        )
    for attempt in (intruder.delete_stream, intruder.tombstone_stream, rover.tombstone_stream):
        with pytest.raises(GrpcError) as refused:
            await attempt(CHECKPOINT, current_version=StreamState.ANY)
        assert _code(refused.value) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(GrpcError):
        await _read_all(intruder)
    with pytest.raises(AccessDeniedError):  # its metadata ($mw) too
        await rover.set_stream_metadata(CHECKPOINT, metadata={})


async def test_settings_defaults_apply_to_streams_without_their_own_acl(connect: Connect) -> None:
    admin = await connect("admin", "changeit")
    intruder = await connect("intruder", "intruder-pw")
    await intruder.append_to_stream("grid-2", current_version=StreamState.ANY, events=_event())
    acl = {"$userStreamAcl": {"$r": "rover", "$w": "rover"}}
    await admin.append_to_stream(
        "$settings",
        current_version=StreamState.ANY,
        events=[NewEvent(type="$settings", data=json.dumps(acl).encode())],
    )
    with pytest.raises(AccessDeniedError):
        await intruder.append_to_stream("grid-2", current_version=StreamState.ANY, events=_event())


def test_users_need_tls() -> None:
    with pytest.raises(ServerStartError, match="TLS"):
        EventStoreServer(db_path=None, port=0, users=builtin_users())


async def test_a_new_acl_applies_to_the_next_call(connect: Connect) -> None:
    admin = await connect("admin", "changeit")
    rover = await connect("rover", "rover-pw")
    await rover.append_to_stream("grid-3", current_version=StreamState.ANY, events=_event())
    await admin.set_stream_metadata("grid-3", metadata={"$acl": {"$w": "$admins"}})
    with pytest.raises(AccessDeniedError):
        await rover.append_to_stream("grid-3", current_version=StreamState.ANY, events=_event())
    await admin.set_stream_metadata("grid-3", metadata={})
    await rover.append_to_stream("grid-3", current_version=StreamState.ANY, events=_event())
