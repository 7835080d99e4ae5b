"""One health-check name of a server, reported SERVING or NOT_SERVING, sent on change only."""

from __future__ import annotations

from grpc_health.v1 import health_pb2

from services.common.grpc_server import GrpcServer

__all__ = ["HealthFlag"]


class HealthFlag:
    """A health-check name (e.g. ``rover.v1.RoverQueryService/parked``) of ``server``."""

    def __init__(self, server: GrpcServer, name: str) -> None:
        self._server = server
        self.name = name
        self.healthy: bool | None = None  # None until first reported

    async def report(self, healthy: bool) -> None:
        """Report ``healthy``; the health servicer is told only when it changed."""
        if healthy == self.healthy:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if healthy
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self._server.health.set(self.name, status)
        self.healthy = healthy
