"""Rover services with auth on, and tokens for them: static ones per role and signed JWTs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.auth import ROLES
from services.query.bootstrap import build as build_query
from services.query.settings import QuerySettings

__all__ = ["KEY", "OTHER_KEY", "secured_services", "signed"]

TOKENS = {f"{role}-token": role for role in ROLES}
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
AUTH: dict[str, Any] = {
    "auth_tokens": TOKENS,
    "auth_jwt_key": PUBLIC_PEM,
    "auth_jwt_issuer": "mission-control",
    "auth_jwt_audience": "rover",
}


def signed(key: ec.EllipticCurvePrivateKey = KEY, **claims: Any) -> str:
    """A JWT of KEY (or ``key``) for the services' issuer and audience, valid 5 minutes."""
    base = {"iss": "mission-control", "aud": "rover", "exp": int(time.time()) + 300}
    return jwt.encode({**base, **claims}, key, "ES256")


@contextlib.asynccontextmanager
async def secured_services(store: str, redis: str) -> AsyncIterator[dict[str, str]]:
    """The three services with auth on; yields service name -> target (query hosts admin)."""
    command = build_command(
        CommandSettings(
            command_address="127.0.0.1:0",
            command_metrics_address="127.0.0.1:0",
            eventstore_uri=store,
            **AUTH,
        )
    )
    broadcaster = build_broadcaster(
        BroadcasterSettings(broadcaster_address="127.0.0.1:0", eventstore_uri=store, **AUTH)
    )
    query_settings = QuerySettings(
        query_address="127.0.0.1:0", eventstore_uri=store, redis_url=redis, **AUTH
    )
    await command.start()
    await broadcaster.start()
    try:
        await broadcaster.parts.hub.wait_live()
        async with build_query(query_settings) as query:
            yield {
                "rover.v1.RoverCommandService": command.address,
                "rover.v1.RoverQueryService": f"127.0.0.1:{query.port}",
                "rover.v1.RoverAdminService": f"127.0.0.1:{query.port}",
                "rover.v1.RoverLiveService": f"127.0.0.1:{broadcaster.port}",
                "metrics": command.metrics.url,
            }
    finally:
        await broadcaster.stop(grace=0.5)
        await command.stop(grace=0.5)
