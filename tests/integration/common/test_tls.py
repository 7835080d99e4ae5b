"""TLS on our servers (ROVER_TLS_*): a client that trusts the CA gets through, one that does
not is refused at the handshake, and with a client CA a client without a certificate signed by
it is refused too (mutual TLS). Health checking stands for every RPC: TLS is per connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.grpc_server import GrpcServer
from services.common.settings import ServerSettings
from services.common.tls import channel_credentials
from tests.support.certs import CertFiles

pytestmark = pytest.mark.slow


async def _serving(server: GrpcServer) -> AsyncIterator[int]:
    port = await server.start()
    try:
        yield port
    finally:
        await server.stop(0)


@pytest.fixture
async def tls_port(dev_certs: CertFiles) -> AsyncIterator[int]:
    settings = ServerSettings(
        tls_cert_file=str(dev_certs.server), tls_key_file=str(dev_certs.server_key)
    )
    async for port in _serving(
        GrpcServer("127.0.0.1:0", [], credentials=settings.server_credentials())
    ):
        yield port


@pytest.fixture
async def mtls_port(dev_certs: CertFiles) -> AsyncIterator[int]:
    settings = ServerSettings(
        tls_cert_file=str(dev_certs.server),
        tls_key_file=str(dev_certs.server_key),
        tls_client_ca_file=str(dev_certs.ca),
    )
    async for port in _serving(
        GrpcServer("127.0.0.1:0", [], credentials=settings.server_credentials())
    ):
        yield port


async def _check(port: int, credentials: grpc.ChannelCredentials | None) -> int:
    """The health status over a channel with ``credentials`` (None: plaintext)."""
    target = f"localhost:{port}"
    channel = (
        grpc.aio.insecure_channel(target)
        if credentials is None
        else grpc.aio.secure_channel(target, credentials)
    )
    async with channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        return int(reply.status)


async def test_a_client_that_trusts_the_ca_is_served(tls_port: int, dev_certs: CertFiles) -> None:
    status = await _check(tls_port, channel_credentials(str(dev_certs.ca)))
    assert status == health_pb2.HealthCheckResponse.SERVING


async def test_a_client_that_trusts_another_ca_is_refused_at_the_handshake(
    tls_port: int, other_certs: CertFiles
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _check(tls_port, channel_credentials(str(other_certs.ca)))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_plaintext_client_is_not_served(tls_port: int) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _check(tls_port, None)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_serves_a_client_with_a_certificate_of_the_client_ca(
    mtls_port: int, dev_certs: CertFiles
) -> None:
    credentials = channel_credentials(
        str(dev_certs.ca), str(dev_certs.client), str(dev_certs.client_key)
    )
    assert await _check(mtls_port, credentials) == health_pb2.HealthCheckResponse.SERVING


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    mtls_port: int, dev_certs: CertFiles
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _check(mtls_port, channel_credentials(str(dev_certs.ca)))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_a_certificate_of_another_ca(
    mtls_port: int, dev_certs: CertFiles, other_certs: CertFiles
) -> None:
    credentials = channel_credentials(
        str(dev_certs.ca), str(other_certs.client), str(other_certs.client_key)
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _check(mtls_port, credentials)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_settings_refuse_a_certificate_without_its_key(dev_certs: CertFiles) -> None:
    with pytest.raises(ValueError, match="go together"):
        ServerSettings(tls_cert_file=str(dev_certs.server))


def test_settings_name_an_unreadable_file(dev_certs: CertFiles) -> None:
    with pytest.raises(ValueError, match="cannot read the TLS key"):
        ServerSettings(tls_cert_file=str(dev_certs.server), tls_key_file="/nonexistent/key.pem")
