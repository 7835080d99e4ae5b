"""Settings of the broadcaster, from ``ROVER_*`` environment variables."""

from __future__ import annotations

from pydantic import Field

from services.common.integration_key_settings import IntegrationKeySettings
from services.common.settings import EventStoreClientSettings, metrics_address_field

__all__ = ["BroadcasterSettings"]


class BroadcasterSettings(IntegrationKeySettings, EventStoreClientSettings):
    """``ROVER_BROADCASTER_*`` and ``ROVER_EVENTSTORE_URI`` (plus the common ``ROVER_*``)."""

    broadcaster_address: str = Field(
        default="127.0.0.1:50053", description="host:port the RoverLiveService listens on."
    )
    broadcaster_metrics_address: str = metrics_address_field("127.0.0.1:9103")
    broadcaster_queue_size: int = Field(
        default=1024,
        ge=1,
        description="Updates a watcher may have pending; one more and it is told to resume.",
    )
    broadcaster_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="A stream idle this long gets a heartbeat."
    )
    broadcaster_cache_grids: int = Field(
        default=10_000,
        ge=0,
        description="Folded grids kept for snapshots (least recently watched go first).",
    )
    broadcaster_history_page_size: int = Field(
        default=500, ge=1, description="Events per read when replaying a grid's history."
    )
