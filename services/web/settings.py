"""Settings of the web front-end, from ``ROVER_*`` environment variables."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings

__all__ = ["WebSettings"]


class WebSettings(ServiceSettings):
    """``ROVER_WEB_*`` and where the services it forwards to listen (the CLI's variables)."""

    web_address: str = Field(
        default="127.0.0.1:8080",
        description="host:port the web page, its JSON API and its live stream (HTTP) listen on.",
    )
    command_address: str = Field(
        default="127.0.0.1:50051", description="The command service the page's commands go to."
    )
    query_address: str = Field(
        default="127.0.0.1:50052", description="The query service the page's queries go to."
    )
    broadcaster_address: str = Field(
        default="127.0.0.1:50053",
        description="The broadcaster whose WatchGrid feeds the page's live stream.",
    )
    web_call_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of each command or query the page forwards."
    )
