"""Where the ``rover`` CLI finds the services: the same ``ROVER_*`` variables they listen on."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings

__all__ = ["CliSettings", "dial"]


class CliSettings(ServiceSettings):
    """``ROVER_COMMAND_ADDRESS``, ``ROVER_QUERY_ADDRESS``, ``ROVER_BROADCASTER_ADDRESS``."""

    command_address: str = Field(default="127.0.0.1:50051", description="Command service.")
    query_address: str = Field(default="127.0.0.1:50052", description="Query service.")
    broadcaster_address: str = Field(default="127.0.0.1:50053", description="Live service.")
    cli_timeout_seconds: float = Field(default=10.0, gt=0, description="Per call deadline.")


def dial(address: str) -> str:
    """A listen address as a client target: a wildcard host means this machine."""
    host, sep, port = address.rpartition(":")
    if sep and host in {"", "0.0.0.0", "[::]", "::"}:  # noqa: S104 - comparing names
        return f"127.0.0.1:{port}"
    return address
