"""Where the ``rover`` CLI finds the services: the same ``ROVER_*`` variables they listen on."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.tls import TlsClientSettings

__all__ = ["CliSettings", "dial"]


class CliSettings(TlsClientSettings):
    """The CLI's ``ROVER_*`` variables: the services' addresses, TLS (``ROVER_TLS_CA_FILE``,
    services/common/tls.py) and its own time limits."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    command_address: str = Field(
        default="127.0.0.1:50051", description="Command service (--command-address)."
    )
    query_address: str = Field(
        default="127.0.0.1:50052", description="Query service (--query-address)."
    )
    broadcaster_address: str = Field(
        default="127.0.0.1:50053", description="Live service, for watch (--live-address)."
    )
    token: str = Field(
        default="",
        repr=False,
        description=(
            "Bearer token sent with every call (authorization metadata) when the services "
            "have auth on (--token; docs/security.md). Empty: none."
        ),
    )
    cli_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of each call, in seconds (--timeout)."
    )
    cli_watch_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How long watch keeps trying to resume after losing the live service before it "
            "gives up with exit status 3 (--retry-for)."
        ),
    )


def dial(address: str) -> str:
    """A listen address as a client target: a wildcard host means this machine."""
    host, sep, port = address.rpartition(":")
    if sep and host in {"", "0.0.0.0", "[::]", "::"}:  # noqa: S104 - comparing names
        return f"127.0.0.1:{port}"
    return address
