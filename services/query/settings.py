"""Settings of the query service and its projector (``ROVER_*`` environment variables)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from services.common.inbox_names import INBOX_GROUP
from services.common.integration_key_settings import IntegrationKeySettings
from services.common.publisher_checkpoint import DEFAULT_CHECKPOINT_STREAM
from services.common.settings import EventStoreClientSettings, metrics_address_field
from services.query.adapters.redis_connect import (
    CLUSTER_SCHEME,
    SENTINEL_SCHEME,
    parse_cluster_url,
    parse_sentinel_url,
)

__all__ = ["QuerySettings"]


class QuerySettings(IntegrationKeySettings, EventStoreClientSettings):
    """Where the query service listens, what it reads from, and how its projector batches."""

    query_address: str = Field(
        default="127.0.0.1:50052", description="host:port the RoverQueryService listens on."
    )
    query_metrics_address: str = metrics_address_field("127.0.0.1:9102")
    redis_url: str = Field(
        default="redis://127.0.0.1:6380/0",
        description="Redis holding the read model: redis://host:port/db (one server), "
        "redis+sentinel://host:26379,host2:26379/master-name[/db] (the master the sentinels "
        "name, followed through failovers), or redis+cluster://host:6379,host2:6379 (a Redis "
        "Cluster: keys hash-tagged per grid; see docs/read-model.md).",
    )
    redis_key_prefix: str = Field(
        default="rover:query",
        description="Prefix of every read model key (see read-model.md); no braces on a "
        "Redis Cluster (they would change the hash tags).",
    )
    query_min_version_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest a GetGridDetails(min_version) waits when its deadline is longer.",
    )
    query_min_version_poll_seconds: float = Field(
        default=0.05,
        gt=0,
        description="Re-read interval while waiting for min_version (a local projector wakes "
        "waiters at once; this covers a projector in another process).",
    )
    query_projector_enabled: bool = Field(
        default=True, description="Run the projector as a background task of the server."
    )
    query_projector_lease_seconds: float = Field(
        default=5.0,
        ge=0.5,
        description="With several instances, one projects at a time: it holds a Redis key "
        "(<prefix>:lease:projector) with this expiry, renewed every second, and every commit "
        "checks it; a standby takes over once the key expired or was released.",
    )
    query_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Most events written in one Redis round trip."
    )
    query_feed_buffer: int = Field(
        default=4_000, ge=1, description="Events read ahead of the Redis writes (pipelining)."
    )
    query_catchup_linger_seconds: float = Field(
        default=0.005,
        ge=0,
        description="While catching up, a short batch waits this long once for more events "
        "(fewer, larger Redis commits); live events never wait. 0 disables.",
    )
    query_lag_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often projection lag is measured."
    )
    query_lag_log_seconds: float = Field(
        default=300.0,
        gt=0,
        description="The lag is logged when it changes, and at least this often when not.",
    )
    query_lag_count_cap: int = Field(
        default=1_000, ge=1, description="Counting events behind stops here (reported as >=)."
    )
    query_lag_unhealthy_events: int = Field(
        default=1_000,
        ge=1,
        description="Health service rover.v1.RoverQueryService/projection is NOT_SERVING "
        "while this far behind.",
    )
    query_rewind_check_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often an idle projector checks whether Redis came back without some "
        "of its writes (a new run_id, and fewer commits counted than it saw); it then "
        "re-projects from the stored checkpoint.",
    )
    publisher_checkpoint_stream: str = Field(
        default=DEFAULT_CHECKPOINT_STREAM,
        description="The command service's publisher checkpoint stream, read by "
        "`rover admin status` (the same variable as the command service's).",
    )
    command_inbox_group: str = Field(
        default=INBOX_GROUP,
        min_length=1,
        description="The command inbox's persistent subscription group, reported by "
        "`rover admin status` (the same variable as the command service's).",
    )
    query_retry_seconds: float = Field(
        default=1.0, gt=0, description="Pause before the projector resubscribes after an error."
    )

    @field_validator("redis_url")
    @classmethod
    def _sentinels_or_nodes_named(cls, url: str) -> str:
        scheme = urlsplit(url).scheme
        if scheme == SENTINEL_SCHEME:
            parse_sentinel_url(url)  # raises ValueError naming what is wrong
        elif scheme == CLUSTER_SCHEME:
            parse_cluster_url(url)
        return url
