"""Auth on the wire: command, query (with admin) and broadcaster with tokens and roles on.

Every RPC of every service in protos/rover/v1 is called with each role's token, static and JWT:
a role too weak is PERMISSION_DENIED, a strong enough one reaches the service. Bad tokens are
UNAUTHENTICATED with an ErrorInfo reason; health and reflection stay open.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import grpc
import jwt
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.auth import METHOD_ROLES, ROLES
from services.common.rich_errors import details_of
from standins.eventstore.server import EventStoreServer
from tests.support.auth import KEY, OTHER_KEY, secured_services, signed
from tests.support.metrics import scrape_until
from tests.support.redis_server import redis_server, redis_url  # noqa: F401
from tests.support.rpcs import Rpc, all_rpcs

REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
# Not a protobuf message: a call that gets past auth fails in the service's own deserializer,
# so every RPC is reached without doing anything (a Rebuild would rebuild the read model).
GARBAGE = b"\xff\xff\xff"
REACHED = "reached the service"


async def _call(target: str, rpc: Rpc, metadata: list[tuple[str, str]]) -> str:
    """Call ``rpc`` with an undecodable body: the auth refusal's code, or REACHED."""
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            if rpc.server_streaming:
                streaming: Any = channel.unary_stream(rpc.method)
                async for _ in streaming(GARBAGE, metadata=metadata, timeout=10):
                    pass
            else:
                unary: Any = channel.unary_unary(rpc.method)
                await unary(GARBAGE, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            if error.code() in REFUSED or error.code() == grpc.StatusCode.UNIMPLEMENTED:
                return error.code().name
    return REACHED


async def _refusal(target: str, method: str, value: str | None) -> tuple[grpc.StatusCode, str]:
    """Call a unary ``method`` with ``authorization: value``; its status and ErrorInfo reason."""
    metadata = [] if value is None else [("authorization", value)]
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            call: Any = channel.unary_unary(method)
            await call(b"", metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            infos = [d for d in details_of(error) if isinstance(d, error_details_pb2.ErrorInfo)]
            return error.code(), infos[0].reason if infos else ""
    return grpc.StatusCode.OK, ""


async def test_each_role_against_each_rpc(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> None:
    async with secured_services(eventstore.uri, redis_url) as targets:
        outcomes: dict[tuple[str, str], str] = {}
        expected: dict[tuple[str, str], str] = {}
        for rpc in all_rpcs():
            for rank, role in enumerate(ROLES):
                for how, token in (("static", f"{role}-token"), ("jwt", signed(role=role))):
                    key = (rpc.method, f"{role} ({how})")
                    auth = [("authorization", f"Bearer {token}")]
                    outcomes[key] = await _call(targets[rpc.service], rpc, auth)
                    allowed = rank >= ROLES.index(METHOD_ROLES[rpc.method])
                    expected[key] = REACHED if allowed else "PERMISSION_DENIED"
            key = (rpc.method, "no token")
            outcomes[key] = await _call(targets[rpc.service], rpc, [])
            expected[key] = "UNAUTHENTICATED"
        assert outcomes == expected

        # Refused calls are counted by the metrics interceptor, with their status.
        await scrape_until(
            targets["metrics"],
            lambda s: (
                s.value(
                    "grpc_server_handled_total",
                    grpc_type="unary",
                    grpc_service="rover.v1.RoverCommandService",
                    grpc_method="CreateGrid",
                    grpc_code="PERMISSION_DENIED",
                )
                == 2  # the viewer's static and JWT tokens
            ),
        )


async def test_bad_tokens_are_unauthenticated_with_a_reason(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> None:
    async with secured_services(eventstore.uri, redis_url) as targets:
        method = "/rover.v1.RoverQueryService/ListGrids"
        target = targets["rover.v1.RoverQueryService"]
        cases = {
            "missing": (None, "TOKEN_MISSING"),
            "not bearer": ("Basic YWRtaW46YWRtaW4=", "AUTHORIZATION_MALFORMED"),
            "unknown": ("Bearer guessed-token", "TOKEN_UNKNOWN"),
            "not a JWT": ("Bearer a.b.c", "TOKEN_MALFORMED"),
            "expired": (f"Bearer {signed(role='admin', exp=1)}", "TOKEN_EXPIRED"),
            "wrong signature": (
                f"Bearer {signed(OTHER_KEY, role='admin')}",
                "TOKEN_SIGNATURE_INVALID",
            ),
            "wrong audience": (f"Bearer {signed(role='admin', aud='x')}", "TOKEN_AUDIENCE_INVALID"),
        }
        answers = {
            name: await _refusal(target, method, value) for name, (value, _) in cases.items()
        }
        assert answers == {
            name: (grpc.StatusCode.UNAUTHENTICATED, reason) for name, (_, reason) in cases.items()
        }
        no_role = await _refusal(target, method, f"Bearer {signed()}")
        assert no_role == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_INSUFFICIENT")


async def test_health_and_reflection_stay_open(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> None:
    async with secured_services(eventstore.uri, redis_url) as targets:
        for service, target in targets.items():
            if service == "metrics":
                continue
            async with grpc.aio.insecure_channel(target) as channel:
                health = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=10
                )
                assert health.status == health_pb2.HealthCheckResponse.SERVING
                stream: Any = reflection_pb2_grpc.ServerReflectionStub(
                    channel
                ).ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
                )
                async for reply in stream:
                    names = {s.name for s in reply.list_services_response.service}
                    assert service in names
                    break


async def test_jwks_file_keys_by_kid(eventstore: EventStoreServer, tmp_path: Path) -> None:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "2026-12", "alg": "ES256"}]}))
    settings = CommandSettings(
        command_address="127.0.0.1:0", eventstore_uri=eventstore.uri, auth_jwks_file=str(path)
    )
    method = "/rover.v1.RoverCommandService/CreateGrid"
    async with build_command(settings) as command:
        good = jwt.encode(
            {"role": "operator", "exp": int(time.time()) + 60}, KEY, "ES256", {"kid": "2026-12"}
        )
        # Past auth: the empty request is the service's INVALID_ARGUMENT.
        code, _ = await _refusal(command.address, method, f"Bearer {good}")
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        forged = jwt.encode(
            {"role": "operator", "exp": int(time.time()) + 60},
            OTHER_KEY,
            "ES256",
            {"kid": "2026-12"},
        )
        assert await _refusal(command.address, method, f"Bearer {forged}") == (
            grpc.StatusCode.UNAUTHENTICATED,
            "TOKEN_SIGNATURE_INVALID",
        )
