"""How much one client may take of a server: ``ROVER_*`` limit settings and the gRPC options.

Every rover server (services/common/app.py) reads these with its other settings: the
connection-level limits become gRPC core channel arguments (:func:`server_options`); the
call-level ones (deadline, rate, watchers) are enforced by services/common/call_limits.py.
docs/security.md, "Limits", says what each one protects against.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LimitSettings", "server_options"]

_MS = 1000


class LimitSettings(BaseSettings):
    """``ROVER_GRPC_*``, ``ROVER_SERVER_DEADLINE_SECONDS``, ``ROVER_RATE_LIMIT_*`` and
    ``ROVER_MAX_*_PER_CLIENT`` of every rover server."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    grpc_max_concurrent_streams: int = Field(
        default=1024,
        ge=1,
        description=(
            "Most calls one connection may have open at once (HTTP/2 "
            "SETTINGS_MAX_CONCURRENT_STREAMS); a client's further calls wait for a free stream."
        ),
    )
    grpc_handshake_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "A connection that has not completed its HTTP/2 preface and SETTINGS (or TLS "
            "handshake) within this many seconds is closed (half-open connections)."
        ),
    )
    grpc_max_connection_idle_seconds: float = Field(
        default=300.0,
        ge=0,
        description=(
            "A connection with no call in progress for this long is sent GOAWAY and closed "
            "(clients reconnect on their next call); 0: never."
        ),
    )
    grpc_max_connection_age_seconds: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Connections older than this are sent GOAWAY (spreads clients over new "
            "instances); 0: no limit. Open calls get ROVER_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS."
        ),
    )
    grpc_max_connection_age_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="After a connection's age GOAWAY, how long its open calls may still run.",
    )
    grpc_keepalive_time_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "The server pings a connection silent for this long; one whose peer is gone "
            "(no ack within ROVER_GRPC_KEEPALIVE_TIMEOUT_SECONDS) is closed."
        ),
    )
    grpc_keepalive_timeout_seconds: float = Field(
        default=20.0, gt=0, description="How long the server waits for its keepalive ping's ack."
    )
    grpc_min_client_ping_interval_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "Clients may ping at most this often (with or without calls in progress); a client "
            "that pings faster more than ROVER_GRPC_MAX_PING_STRIKES times gets GOAWAY "
            "(ENHANCE_YOUR_CALM)."
        ),
    )
    grpc_max_ping_strikes: int = Field(
        default=2,
        ge=0,
        description="Too-frequent pings tolerated before GOAWAY; 0: unlimited (not enforced).",
    )
    server_deadline_seconds: float = Field(
        default=30.0,
        ge=0,
        description=(
            "Longest a unary call may run: applied when the client sends no deadline or a "
            "longer one (DEADLINE_EXCEEDED with a message); 0: no server deadline."
        ),
    )
    rate_limit_per_second: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Calls per second each client may make (token bucket; a client is its bearer "
            "token, or its IP address when auth is off); over it: RESOURCE_EXHAUSTED with "
            "RetryInfo. 0: no rate limit (docs/security.md, Limits)."
        ),
    )
    rate_limit_burst: int = Field(
        default=200,
        ge=1,
        description="Calls a client may make at once above its rate (the bucket's size).",
    )
    rate_limit_clients: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Most clients whose rate-limit buckets are kept; the least recently seen is "
            "forgotten first, so memory stays bounded."
        ),
    )
    max_calls_in_flight_per_client: int = Field(
        default=256,
        ge=1,
        description=(
            "Most unary calls of one client this process runs at once; its further calls wait "
            "their turn behind its own calls (not other clients'). Bounds what one client "
            "holds; set low, it also spreads the query service's coalesced reads thin."
        ),
    )
    contended_calls_in_flight_per_client: int = Field(
        default=1,
        ge=0,
        description=(
            "While another client of this process has called within "
            "ROVER_CONTENTION_WINDOW_SECONDS, most unary calls one client with a bearer token "
            "runs at once (its further calls wait their turn behind its own); alone, it has "
            "ROVER_MAX_CALLS_IN_FLIGHT_PER_CLIENT. Clients known only by IP address are not "
            "held to it (one address may be many users). 0: off."
        ),
    )
    contention_window_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "How recently another client must have called for "
            "ROVER_CONTENDED_CALLS_IN_FLIGHT_PER_CLIENT to apply."
        ),
    )
    max_waiting_calls_per_client: int = Field(
        default=1000,
        ge=0,
        description=(
            "Most unary calls of one client waiting for one of its in-flight slots; one more: "
            "RESOURCE_EXHAUSTED."
        ),
    )
    max_watchers_per_client: int = Field(
        default=1024,
        ge=1,
        description=(
            "Most server-streaming calls (WatchGrid) one client may have open at once on "
            "this process; one more: RESOURCE_EXHAUSTED."
        ),
    )


def server_options(limits: LimitSettings) -> list[tuple[str, int]]:
    """The gRPC core channel arguments of a rover server: every connection-level limit."""

    def ms(seconds: float) -> int:
        return round(seconds * _MS)

    options = [
        ("grpc.max_concurrent_streams", limits.grpc_max_concurrent_streams),
        ("grpc.server_handshake_timeout_ms", ms(limits.grpc_handshake_timeout_seconds)),
        ("grpc.keepalive_time_ms", ms(limits.grpc_keepalive_time_seconds)),
        ("grpc.keepalive_timeout_ms", ms(limits.grpc_keepalive_timeout_seconds)),
        # Long-lived streams are normal here (WatchGrid): clients may ping without calls too.
        ("grpc.keepalive_permit_without_calls", 1),
        (
            "grpc.http2.min_recv_ping_interval_without_data_ms",
            ms(limits.grpc_min_client_ping_interval_seconds),
        ),
        ("grpc.http2.max_ping_strikes", limits.grpc_max_ping_strikes),
    ]
    if limits.grpc_max_connection_idle_seconds:
        options.append(("grpc.max_connection_idle_ms", ms(limits.grpc_max_connection_idle_seconds)))
    if limits.grpc_max_connection_age_seconds:
        options += [
            ("grpc.max_connection_age_ms", ms(limits.grpc_max_connection_age_seconds)),
            (
                "grpc.max_connection_age_grace_ms",
                ms(limits.grpc_max_connection_age_grace_seconds),
            ),
        ]
    return options
