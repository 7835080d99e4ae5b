"""Settings base: every service reads ``ROVER_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EventStoreClientSettings", "ServiceSettings"]


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


class EventStoreClientSettings(ServiceSettings):
    """Settings of a service that talks to the event store (``ROVER_EVENTSTORE_URI``)."""

    eventstore_uri: str = Field(
        default="esdb://127.0.0.1:2113?Tls=false",
        description=(
            "esdbclient connection string of the event store "
            "(esdb+discover://... or several hosts for a cluster)."
        ),
    )
