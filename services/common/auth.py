"""Who may call what: bearer tokens in gRPC metadata, roles per RPC, and the server interceptor.

Every call but health checking and reflection needs ``authorization: Bearer <token>`` when
auth is on (``ROVER_AUTH_TOKENS`` or a JWT key or JWKS file is set). The token names a role
(:data:`ROLES`, weakest first); :data:`METHOD_ROLES` names the weakest role each RPC takes,
keyed by full method name (a test holds it equal to every RPC in protos/rover/v1, so a new RPC
cannot be left open). A refusal is UNAUTHENTICATED (no good token) or PERMISSION_DENIED (a
good token whose role is too weak) with google.rpc ErrorInfo. See docs/security.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection
from jwt.algorithms import get_default_algorithms
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.auth_tokens import (
    ROLES,
    JwtVerifier,
    Role,
    StaticTokens,
    TokenRejectedError,
    TokenVerifier,
    Verifiers,
    load_jwks,
    load_public_key,
)
from services.common.handler_wrapping import refusing
from services.common.rich_errors import abort, error_info

__all__ = [
    "METHOD_ROLES",
    "OPEN_SERVICES",
    "ROLES",
    "AuthInterceptor",
    "AuthSettings",
    "auth_interceptors",
    "build_verifier",
    "is_local_address",
]

_COMMAND = "/rover.v1.RoverCommandService/"
_QUERY = "/rover.v1.RoverQueryService/"
_LIVE = "/rover.v1.RoverLiveService/"
_ADMIN = "/rover.v1.RoverAdminService/"

METHOD_ROLES: Mapping[str, Role] = {
    f"{_QUERY}GetGridDetails": "viewer",
    f"{_QUERY}ListGrids": "viewer",
    f"{_QUERY}GetRover": "viewer",
    f"{_LIVE}WatchGrid": "viewer",
    f"{_COMMAND}CreateGrid": "operator",
    f"{_COMMAND}CreateRover": "operator",
    f"{_COMMAND}MoveRoverForward": "operator",
    f"{_COMMAND}MoveRoverBackward": "operator",
    f"{_COMMAND}TurnRoverLeft": "operator",
    f"{_COMMAND}TurnRoverRight": "operator",
    f"{_COMMAND}ExecuteRoverCommands": "operator",
    f"{_COMMAND}SubmitCommand": "operator",
    f"{_COMMAND}GetCommandResult": "operator",  # the outcome is its submitter's
    f"{_ADMIN}ListSubscriptions": "admin",
    f"{_ADMIN}Rebuild": "admin",
    f"{_ADMIN}AuditGrids": "admin",
    f"{_ADMIN}RepairGrid": "admin",
    f"{_ADMIN}ListParkedEvents": "admin",
    f"{_ADMIN}ReplayParkedEvents": "admin",
}
"""The weakest role that may call each RPC. An RPC missing here is refused to every role."""

OPEN_SERVICES: frozenset[str] = frozenset(
    {health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME}
)
"""Services anyone may call: load balancers check health, and grpcurl lists without a token."""

_RANK = {role: rank for rank, role in enumerate(ROLES)}
_BEARER = "bearer "


class AuthSettings(BaseSettings):
    """``ROVER_AUTH_*`` of every rover service: auth is on when tokens, a key or JWKS is set."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    auth_tokens: dict[str, Role] = Field(
        default_factory=dict,
        repr=False,
        description=(
            'Development tokens: a JSON object of token -> role, e.g. {"s3cret": "admin"} '
            "(roles: viewer, operator, admin). Set: auth is on (docs/security.md)."
        ),
    )
    auth_jwt_key: str = Field(
        default="",
        repr=False,
        description=(
            "Key that verifies JWT bearer tokens: a PEM public key or certificate "
            "(RS256/ES256), or a shared secret when ROVER_AUTH_JWT_ALGORITHMS allows HS256. "
            "Set: auth is on."
        ),
    )
    auth_jwks_file: str = Field(
        default="",
        description=(
            "Path of a local JWKS file (JSON) whose keys verify JWTs, chosen by the token's "
            "kid; looked at again at most once a second and read again when it changed. "
            "Set: auth is on."
        ),
    )
    auth_jwt_algorithms: list[str] = Field(
        default=["RS256", "ES256"],
        description="JSON list of the JWT signature algorithms accepted (any other is refused).",
    )
    auth_jwt_issuer: str = Field(
        default="", description="Required JWT issuer (iss); empty: the issuer is not checked."
    )
    auth_jwt_audience: str = Field(
        default="", description="Required JWT audience (aud); empty: the audience is not checked."
    )
    auth_jwt_leeway_seconds: float = Field(
        default=30.0, ge=0, description="Clock skew allowed when checking exp, nbf and iat."
    )
    auth_role_claims: list[str] = Field(
        default=["role", "roles"],
        description=(
            "JSON list of JWT claims read for the role, first present wins; its value is a "
            "role or a list of roles (the strongest counts)."
        ),
    )

    @field_validator("auth_tokens")
    @classmethod
    def _plain_tokens(cls, tokens: dict[str, Role]) -> dict[str, Role]:
        for token in tokens:
            if not token or token != token.strip() or any(c.isspace() for c in token):
                raise ValueError("a token must be non-empty and contain no white space")
        return tokens

    @field_validator("auth_jwt_algorithms")
    @classmethod
    def _signing_algorithms(cls, names: list[str]) -> list[str]:
        known = sorted(set(get_default_algorithms()) - {"none"})  # unsigned tokens: never
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise ValueError(f"{unknown or 'none given'}: expected one or more of {known}")
        return names

    @field_validator("auth_jwt_key")
    @classmethod
    def _readable_key(cls, key: str) -> str:
        if key.lstrip().startswith("-----BEGIN"):
            load_public_key(key)  # ValueError from cryptography when the PEM does not parse
        return key

    @field_validator("auth_jwks_file")
    @classmethod
    def _readable_jwks(cls, path: str) -> str:
        if path:
            load_jwks(Path(path))  # ValueError naming the file, reported with the variable
        return path

    @property
    def auth_enabled(self) -> bool:
        """Whether calls need a token."""
        return bool(self.auth_tokens or self.auth_jwt_key or self.auth_jwks_file)

    def describe_auth(self) -> str:
        """One line for people: how calls are authenticated (never the secrets)."""
        if not self.auth_enabled:
            return "off (anyone who reaches a port may call every RPC)"
        ways = []
        if self.auth_tokens:
            ways.append(f"{len(self.auth_tokens)} static token(s) (ROVER_AUTH_TOKENS)")
        if self.auth_jwt_key or self.auth_jwks_file:
            ways.append(f"JWT ({', '.join(self.auth_jwt_algorithms)})")
        return "on: " + " and ".join(ways)


def is_local_address(address: str) -> bool:
    """Whether a listen address (``host:port``, ``[v6]:port``, ``unix:...``) is reachable only
    from this machine: a unix socket, ``localhost`` or a loopback IP (not a wildcard)."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, or a wildcard ("", "0.0.0.0" is an address but not loopback)
        return False


def build_verifier(settings: AuthSettings) -> TokenVerifier | None:
    """The verifier the settings describe (None: auth is off); ValueError for a bad JWKS file."""
    if not settings.auth_enabled:
        return None
    static = StaticTokens(settings.auth_tokens) if settings.auth_tokens else None
    jwt_verifier = None
    if settings.auth_jwt_key or settings.auth_jwks_file:
        jwt_verifier = JwtVerifier(
            key=settings.auth_jwt_key,
            jwks_file=Path(settings.auth_jwks_file) if settings.auth_jwks_file else None,
            algorithms=settings.auth_jwt_algorithms,
            issuer=settings.auth_jwt_issuer,
            audience=settings.auth_jwt_audience,
            leeway=settings.auth_jwt_leeway_seconds,
            role_claims=settings.auth_role_claims,
        )
    return Verifiers(static, jwt_verifier)


def auth_interceptors(settings: AuthSettings) -> list[grpc.aio.ServerInterceptor]:
    """The auth interceptor the settings ask for ([] when auth is off)."""
    verifier = build_verifier(settings)
    return [] if verifier is None else [AuthInterceptor(verifier)]


class _Refusal:
    """Why a call is refused: its status, message and ErrorInfo reason and metadata."""

    __slots__ = ("code", "message", "metadata", "reason")

    def __init__(self, code: grpc.StatusCode, reason: str, message: str, **metadata: str) -> None:
        self.code, self.reason, self.message, self.metadata = code, reason, message, metadata

    async def abort(self, _request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await abort(context, self.code, self.message, error_info(self.reason, self.metadata))


def _unauthenticated(reason: str, message: str) -> _Refusal:
    return _Refusal(grpc.StatusCode.UNAUTHENTICATED, reason, message)


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def _refusing(handler: Handler, refusal: _Refusal) -> Handler:
    """A handler of ``handler``'s kind that refuses without reading the request's body."""
    return refusing(handler, refusal.abort)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Checks each call's bearer token and role before its handler runs.

    Placed inside the metrics interceptor (refused calls are counted with their status) and
    outside tracing. Health checking and reflection pass untouched.
    """

    def __init__(self, verifier: TokenVerifier, roles: Mapping[str, Role] = METHOD_ROLES) -> None:
        self._verifier = verifier
        self._roles = roles

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.lstrip("/").rpartition("/")[0] in OPEN_SERVICES:
            return handler  # an unknown method stays UNIMPLEMENTED
        refusal = self.check(method, handler_call_details.invocation_metadata or ())
        return handler if refusal is None else _refusing(handler, refusal)

    def check(self, method: str, metadata: Sequence[tuple[str, str | bytes]]) -> _Refusal | None:
        """Why a call to ``method`` with ``metadata`` is refused (None: it may go on)."""
        values = [value for key, value in metadata if key == "authorization"]
        if not values:
            return _unauthenticated(
                "TOKEN_MISSING",
                f"{method.lstrip('/')} needs a bearer token: send the metadata "
                "'authorization: Bearer <token>'",
            )
        value = values[0] if isinstance(values[0], str) else ""
        token = value[len(_BEARER) :].strip()
        if len(values) > 1 or value[: len(_BEARER)].lower() != _BEARER or not token:
            return _unauthenticated(
                "AUTHORIZATION_MALFORMED",
                "the authorization metadata must be one value 'Bearer <token>'",
            )
        try:
            role = self._verifier.role_of(token)
        except TokenRejectedError as error:
            return _unauthenticated(error.reason, str(error))
        needed = self._roles.get(method)
        if needed is None:
            return _Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                "METHOD_NOT_GRANTED",
                f"no role may call {method.lstrip('/')}",
                method=method,
            )
        if role is None or _RANK[role] < _RANK[needed]:
            held = role or "none"
            return _Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                "ROLE_INSUFFICIENT",
                f"{method.lstrip('/')} needs the role {needed} or stronger; the token's role "
                f"is {held}",
                method=method,
                required_role=needed,
                role=held,
            )
        return None
