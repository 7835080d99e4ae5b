"""Readiness probes: gRPC health ``SERVING`` for our servers, ``+PONG`` for Redis."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.tls import channel_credentials

__all__ = ["GrpcHealthProbe", "redis_pong"]


class GrpcHealthProbe:
    """Asks a server's ``grpc.health.v1.Health/Check`` whether it is SERVING; reuses a channel
    (TLS trusting ``ca_file`` when given, presenting ``client_cert`` when given)."""

    def __init__(
        self,
        target: str,
        service: str = "",
        *,
        ca_file: str = "",
        client_cert: tuple[str, str] | None = None,
    ) -> None:
        self._target = target
        self._service = service
        self._ca_file = ca_file
        self._client_cert = client_cert or ("", "")
        self._channel: grpc.aio.Channel | None = None

    async def __call__(self, seconds: float = 1.0) -> bool:
        if self._channel is None:
            self._channel = (
                grpc.aio.secure_channel(
                    self._target, channel_credentials(self._ca_file, *self._client_cert)
                )
                if self._ca_file
                else grpc.aio.insecure_channel(self._target)
            )
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=self._service), timeout=seconds
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        """Close the channel (idempotent)."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()


async def redis_pong(host: str, port: int, seconds: float = 1.0) -> bool:
    """Whether Redis at ``host:port`` answers PING with PONG (not LOADING, not an error)."""
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
    return line.strip() == b"+PONG"
