"""Settings of the event store server: ``ROVER_EVENTSTORE_*`` variables, overridden by flags."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EventStoreSettings"]


class EventStoreSettings(BaseSettings):
    """Where the store lives, where it listens, what it advertises, how it logs."""

    model_config = SettingsConfigDict(env_prefix="ROVER_EVENTSTORE_", extra="ignore")

    db: str | None = Field(default=None, description="SQLite file; None with memory=True")
    memory: bool = Field(default=False, description="keep everything in memory (tests)")
    host: str = "127.0.0.1"
    port: int = Field(default=2113, ge=0, le=65535)
    advertise_host: str | None = Field(default=None, description="gossip address (localhost)")
    advertise_port: int | None = Field(default=None, ge=1, le=65535)
    tls_cert: str | None = None
    tls_key: str | None = None
    durable: bool = Field(default=True, description="fsync every commit before replying")
    max_append_size: int = Field(default=1024 * 1024, ge=1)
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_grace: float = Field(default=5.0, ge=0)
