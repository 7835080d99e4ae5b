"""Settings of the event store server: ``ROVER_EVENTSTORE_*`` variables, overridden by flags."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EventStoreSettings"]


class UserSpec(BaseModel):
    """One user of ``ROVER_EVENTSTORE_USERS``: its password and groups."""

    password: str = Field(min_length=1, repr=False)
    groups: list[str] = Field(default_factory=list)


class EventStoreSettings(BaseSettings):
    """Where the store lives, where it listens, what it advertises, how it logs."""

    model_config = SettingsConfigDict(env_prefix="ROVER_EVENTSTORE_", extra="ignore")

    db: str | None = Field(
        default=None, description="SQLite database file (--db); required unless memory is set."
    )
    memory: bool = Field(default=False, description="Keep everything in memory (--memory).")
    host: str = Field(default="127.0.0.1", description="Interface to listen on (--host).")
    port: int = Field(default=2113, ge=0, le=65535, description="Port to listen on; 0 = any.")
    advertise_host: str | None = Field(
        default=None, description="Host announced by gossip (default localhost)."
    )
    advertise_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port announced by gossip (default: port)."
    )
    metrics_address: str = Field(
        default="127.0.0.1:9104",
        description=(
            "host:port of the Prometheus /metrics endpoint (--metrics-address); port 0: any "
            "free port; empty: none."
        ),
    )
    tls_cert: str | None = Field(default=None, description="PEM certificate: serve TLS.")
    tls_key: str | None = Field(default=None, description="PEM private key of tls_cert.")
    auth: bool = Field(
        default=False,
        description=(
            "Enforce users and stream ACLs as EventStoreDB does (--auth; needs TLS: clients "
            "send credentials only over TLS). Built-in users admin ($admins) and ops ($ops), "
            "password changeit unless ROVER_EVENTSTORE_USERS says otherwise (docs/eventstore.md)."
        ),
    )
    users: dict[str, UserSpec] = Field(
        default_factory=dict,
        repr=False,
        description=(
            'More users, a JSON object: {"rover": {"password": "...", "groups": []}}; '
            "admin or ops here replaces the built-in one. Used with auth on."
        ),
    )
    durable: bool = Field(
        default=True, description="fsync every commit before replying (--no-fsync turns off)."
    )
    max_append_size: int = Field(
        default=1024 * 1024, ge=1, description="Largest append in bytes (EventStoreDB: 1 MiB)."
    )
    log_format: Literal["console", "json"] = Field(
        default="console", description="console: for people; json: one object a line."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Minimum level of log records."
    )
    shutdown_grace: float = Field(
        default=5.0, ge=0, description="Seconds in-flight calls get on SIGTERM/SIGINT."
    )

    @model_validator(mode="after")
    def _auth_needs_tls(self) -> EventStoreSettings:
        if self.auth and not (self.tls_cert and self.tls_key):
            raise ValueError(
                "auth needs TLS (--tls-cert and --tls-key): clients send credentials only over "
                "TLS, as with EventStoreDB"
            )
        return self
