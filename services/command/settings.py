"""Settings of the command service, from ``ROVER_*`` environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from services.common.inbox_names import INBOX_GROUP
from services.common.integration_key_settings import IntegrationKeySettings
from services.common.settings import EventStoreClientSettings, metrics_address_field

__all__ = ["CommandSettings"]


class CommandSettings(IntegrationKeySettings, EventStoreClientSettings):
    """Where to listen, which store to use, and the knobs of retries, cache and publication."""

    writes_events: ClassVar[bool] = True

    command_address: str = Field(default="127.0.0.1:50051", description="host:port to listen on.")
    command_metrics_address: str = metrics_address_field("127.0.0.1:9101")
    eventstore_timeout_seconds: float = Field(default=5.0, gt=0, description="per store call.")
    snapshot_interval: int = Field(
        default=100, ge=0, description="events between snapshots (0 off)."
    )
    command_max_attempts: int = Field(default=16, ge=1, description="decisions before ABORTED.")
    command_retry_base_ms: float = Field(default=2.0, ge=0, description="first backoff (jittered).")
    command_retry_max_ms: float = Field(default=1000.0, ge=0, description="backoff ceiling.")
    command_cache_size: int = Field(default=10_000, ge=0, description="grids kept warm (0 off).")
    command_cache_footprint: int = Field(
        default=200_000,
        ge=1,
        description=(
            "Most obstacles and rovers of all warm grids together: the least recently used "
            "grids go first (the grid in use stays, however large). Bounds the cache's memory "
            "and the garbage collector's passes over it when grids are large."
        ),
    )
    command_request_window: int = Field(
        default=1_000,
        ge=1,
        description="recent request ids remembered per grid.",
    )
    command_request_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "How long a request_id is remembered however busy its grid (docs/command.md, "
            "Idempotency): a retry within it returns the original result. The request log's "
            "streams carry it as $maxAge, so the store frees them after it."
        ),
    )
    command_pooled_appends: bool = Field(
        default=True,
        description=(
            "keep BatchAppend calls open between appends (false: esdbclient's "
            "append_to_stream, one call per append)."
        ),
    )
    publisher_enabled: bool = Field(default=True, description="run the integration publisher.")
    publisher_checkpoint_stream: str = Field(
        default="rover-publisher",
        description="where the publisher's position lives.",
    )
    publisher_lease_seconds: float = Field(
        default=5.0,
        ge=0.5,
        description=(
            "with several instances, one publishes at a time: a standby takes over after the "
            "active one has not renewed its lease (in the checkpoint stream) for this long."
        ),
    )
    publisher_checkpoint_every: int = Field(default=1_000, ge=1, description="events per save.")
    publisher_checkpoint_seconds: float = Field(default=1.0, gt=0, description="max time per save.")
    publisher_max_batch: int = Field(
        default=500, ge=1, description="events of one grid per append."
    )
    publisher_concurrency: int = Field(default=16, ge=1, description="grids appended at once.")
    publisher_max_pending: int = Field(
        default=10_000,
        ge=1,
        description="events read ahead of the checkpoint position.",
    )
    publisher_lag_interval_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often the active publisher measures its lag (metrics endpoint on).",
    )
    publisher_lag_count_cap: int = Field(
        default=1_000, ge=1, description="counting unpublished events stops here."
    )
    publisher_append_attempts: int = Field(
        default=5,
        ge=1,
        description="tries of one append before a restart.",
    )
    command_inbox_enabled: bool = Field(
        default=True,
        description=(
            "consume the command inbox (rover-inbox-* streams) and serve SubmitCommand and "
            "GetCommandResult."
        ),
    )
    command_inbox_group: str = Field(
        default=INBOX_GROUP,
        min_length=1,
        description="persistent subscription group the instances share the inbox through.",
    )
    command_inbox_concurrency: int = Field(
        default=64, ge=1, description="inbox streams (grids) worked on at once per instance."
    )
    command_inbox_buffer_size: int = Field(
        default=256, ge=1, description="inbox commands delivered to an instance ahead of acks."
    )
    command_inbox_max_attempts: int = Field(
        default=5,
        ge=1,
        description=(
            "deliveries of a command that meets an outage or endless conflicts before its "
            "reply is that UNAVAILABLE or ABORTED status."
        ),
    )
    command_inbox_message_timeout_seconds: float = Field(
        default=30.0, gt=0, description="an unacknowledged inbox command is redelivered after it."
    )
    command_inbox_reply_max_age_seconds: int = Field(
        default=86_400, ge=1, description="$maxAge of reply streams: how long replies are kept."
    )
