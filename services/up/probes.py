"""Readiness probes: gRPC health ``SERVING`` for our servers, ``+PONG`` for Redis, HTTP 200 from
the web front-end's ``/readyz``."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.tls import channel_credentials

__all__ = ["GrpcHealthProbe", "http_ready", "redis_pong"]


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


async def _first_line(
    host: str, port: int, request: bytes, seconds: float, tls: ssl.SSLContext | None = None
) -> bytes | None:
    """The first line ``host:port`` answers to ``request`` (None: no answer in ``seconds``,
    or with ``tls``, no TLS connection whose certificate it trusts)."""
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(host, port, ssl=tls)
            try:
                writer.write(request)
                await writer.drain()
                return await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):  # ssl.SSLError is an OSError
        return None


async def redis_pong(host: str, port: int, seconds: float = 1.0) -> bool:
    """Whether Redis at ``host:port`` answers PING with PONG (not LOADING, not an error)."""
    line = await _first_line(host, port, b"PING\r\n", seconds)
    return line is not None and line.strip() == b"+PONG"


async def http_ready(host: str, port: int, seconds: float = 1.0, *, ca_file: str = "") -> bool:
    """Whether ``GET /readyz`` at ``host:port`` answers ``200`` (the web front-end is ready);
    over HTTPS, trusting only ``ca_file`` and checking the certificate names ``host``, when
    ``ca_file`` is given."""
    tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
    request = f"GET /readyz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    status = await _first_line(host, port, request.encode(), seconds, tls)
    return status is not None and status.split(b" ")[1:2] == [b"200"]
