"""Settings base: every service reads ``ROVER_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from esdbclient.connection_spec import NODE_PREFERENCE_LEADER, URI_SCHEME_ESDB, ConnectionSpec
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.auth import AuthSettings
from services.common.limits import LimitSettings
from services.common.tls import TlsServerSettings

__all__ = [
    "EventStoreClientSettings",
    "ServerSettings",
    "ServiceSettings",
    "follows_leader",
    "metrics_address_field",
]


def follows_leader(uri: str) -> bool:
    """Whether esdbclient, connected with ``uri``, moves to a new leader after a leader change.

    It does when it can rediscover the cluster (``esdb+discover://`` or several ``esdb://``
    seeds) and prefers the leader (``NodePreference=leader``, the default). With one
    ``esdb://`` host it stays on that node, and a node that became a follower refuses writes.
    """
    spec = ConnectionSpec(uri)
    single_host = spec.scheme == URI_SCHEME_ESDB and len(spec.targets) == 1
    return spec.options.NodePreference == NODE_PREFERENCE_LEADER and not single_host


def metrics_address_field(default: str) -> Any:
    """The field of a service's Prometheus endpoint (``ROVER_<SERVICE>_METRICS_ADDRESS``)."""
    return Field(
        default=default,
        description=(
            "host:port of this instance's Prometheus /metrics endpoint (HTTP); port 0: any "
            "free port; empty: no endpoint and no RPC metrics (docs/operations.md, Metrics)."
        ),
    )


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses add their own ``ROVER_<SERVICE>_*`` fields."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of log records written to stderr."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", description="json: one JSON object a line; console: for people."
    )
    shutdown_grace_seconds: float = Field(
        default=5.0,
        gt=0,
        description="On SIGTERM/SIGINT, how long in-flight calls get to finish before cancel.",
    )


class ServerSettings(TlsServerSettings, LimitSettings, AuthSettings, ServiceSettings):
    """Settings of a service that serves gRPC: who may call it (``ROVER_AUTH_*``,
    services/common/auth.py), over what (``ROVER_TLS_*``, services/common/tls.py), how much one
    client may take (services/common/limits.py) and how it shares its address with other
    instances."""

    share_port: bool = Field(
        default=False,
        description=(
            "Let several instances of this service listen on its one address (SO_REUSEPORT; "
            "the kernel spreads new connections over them). Off: a second server on a busy "
            "port fails to start."
        ),
    )
    instance_address: str = Field(
        default="",
        description=(
            "A second address only this process listens on (e.g. "
            "unix:/run/rover/command-2.sock), to reach one instance among several sharing a "
            "port: health checks, status. Empty: none."
        ),
    )


class EventStoreClientSettings(ServerSettings):
    """Settings of a service that talks to the event store (``ROVER_EVENTSTORE_URI``)."""

    eventstore_uri: str = Field(
        default="esdb://127.0.0.1:2113?Tls=false",
        description=(
            "esdbclient connection string of the event store. A cluster needs "
            "esdb+discover://... or several esdb:// seeds, and NodePreference=leader "
            "(the default) for the command service, so the client follows a new leader."
        ),
    )

    writes_events: ClassVar[bool] = False
    """A writer's URI must prefer the leader: only the leader of a cluster takes appends."""

    @field_validator("eventstore_uri")
    @classmethod
    def _parsed_as_esdbclient_does(cls, uri: str) -> str:
        spec = ConnectionSpec(uri)  # raises ValueError naming what is wrong, as the client would
        preference = spec.options.NodePreference
        if cls.writes_events and preference != NODE_PREFERENCE_LEADER:
            raise ValueError(
                f"NodePreference={preference} cannot write to a cluster (only its leader takes "
                "appends): leave NodePreference=leader (the default)"
            )
        return uri
