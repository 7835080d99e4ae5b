"""Persistent subscription groups for downstream consumers of the integration events.

A downstream consumer only needs a group name: the groups are declared in settings
(``ROVER_CONSUMER_GROUPS``, a JSON list) and created at start-up by
``ensure_consumer_groups``, on ``$all`` filtered by stream name to the ``integration-{grid_id}``
streams. Creation is idempotent: a missing group is created, a group whose settings differ is
updated in place (its checkpoint and parked messages are kept), an identical one is left alone.

Example value of ``ROVER_CONSUMER_GROUPS``::

    [{"name": "billing", "consumer_strategy": "RoundRobin", "max_retry_count": 5},
     "audit"]

A bare string is a group with default settings. The default is one group, ``downstream``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import AlreadyExists, NotFound
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.logs import get_logger

__all__ = [
    "ConsumerGroupSettings",
    "ConsumerGroupsSettings",
    "ensure_consumer_groups",
    "ensure_group",
    "load_consumer_groups",
]

_log = get_logger(__name__)

# esdbclient wraps include patterns as ``^(p1|p2)$``; this yields the stream-name regex
# ``^integration-.*$``, i.e. every stream whose name starts with ``integration-``.
_INCLUDE_PATTERN = "integration-.*"
INTEGRATION_STREAM_FILTER = f"^{_INCLUDE_PATTERN}$"

ConsumerStrategy = Literal["DispatchToSingle", "RoundRobin", "Pinned", "PinnedByCorrelation"]

# start_from as GetInfo reports it for $all groups (see esdb-protocol.md 5.6).
_START_FROM = {"start": "C:0/P:0", "end": "C:-1/P:-1"}


class ConsumerGroupSettings(BaseModel):
    """One persistent subscription group on the integration events (``$all``, filtered)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="Group name consumers connect with.",
    )
    consumer_strategy: ConsumerStrategy = Field(
        default="DispatchToSingle",
        description=(
            "How events are shared between the group's connected consumers: DispatchToSingle "
            "fills one consumer then the next, RoundRobin rotates, Pinned keeps a stream on one "
            "consumer (when the server supports it)."
        ),
    )
    start_from: Literal["start", "end"] = Field(
        default="start",
        description="Where a NEW group starts: the first integration event, or the next one.",
    )
    max_retry_count: int = Field(
        default=5, ge=0, description="Redeliveries after a nack or timeout before parking."
    )
    message_timeout: float = Field(
        default=30.0, gt=0, description="Seconds an unacked event waits before redelivery."
    )
    max_subscriber_count: int = Field(
        default=0, ge=0, description="Maximum connected consumers; 0 means no limit."
    )
    checkpoint_after: float = Field(
        default=2.0, gt=0, description="Seconds between checkpoints of the group's progress."
    )
    min_checkpoint_count: int = Field(default=10, ge=1)
    max_checkpoint_count: int = Field(default=1000, ge=1)
    live_buffer_size: int = Field(default=500, ge=1)
    read_batch_size: int = Field(default=200, ge=1)
    history_buffer_size: int = Field(default=500, ge=1)
    extra_statistics: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ConsumerGroupSettings:
        # EventStoreDB rejects these combinations with an opaque "failed" error; say why here.
        if self.read_batch_size >= self.history_buffer_size:
            raise ValueError("read_batch_size must be smaller than history_buffer_size")
        if self.min_checkpoint_count > self.max_checkpoint_count:
            raise ValueError("min_checkpoint_count must not exceed max_checkpoint_count")
        return self

    def _wanted(self) -> dict[str, Any]:
        """The settings as esdbclient's create/update keyword arguments (without start)."""
        return {
            "consumer_strategy": self.consumer_strategy,
            "message_timeout": self.message_timeout,
            "max_retry_count": self.max_retry_count,
            "min_checkpoint_count": self.min_checkpoint_count,
            "max_checkpoint_count": self.max_checkpoint_count,
            "checkpoint_after": self.checkpoint_after,
            "max_subscriber_count": self.max_subscriber_count,
            "live_buffer_size": self.live_buffer_size,
            "read_batch_size": self.read_batch_size,
            "history_buffer_size": self.history_buffer_size,
            "extra_statistics": self.extra_statistics,
        }


def _default_groups() -> list[ConsumerGroupSettings]:
    return [ConsumerGroupSettings(name="downstream")]


class ConsumerGroupsSettings(BaseSettings):
    """``ROVER_CONSUMER_GROUPS``: the groups to ensure, a JSON list of objects or names."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    consumer_groups: list[ConsumerGroupSettings] = Field(
        default_factory=_default_groups,
        description="Persistent subscription groups on the integration events.",
    )

    @field_validator("consumer_groups", mode="before")
    @classmethod
    def _names_are_groups(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("consumer_groups")
    @classmethod
    def _unique(cls, groups: list[ConsumerGroupSettings]) -> list[ConsumerGroupSettings]:
        names = [group.name for group in groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate consumer group names: {', '.join(duplicates)}")
        return groups


def load_consumer_groups() -> tuple[ConsumerGroupSettings, ...]:
    """The groups from ``ROVER_CONSUMER_GROUPS`` (default: one group ``downstream``)."""
    return tuple(ConsumerGroupsSettings().consumer_groups)


def _differences(info: Any, group: ConsumerGroupSettings) -> dict[str, tuple[Any, Any]]:
    """Settings where the existing group (esdbclient ``SubscriptionInfo``) differs."""
    found: dict[str, tuple[Any, Any]] = {}
    for key, wanted in group._wanted().items():
        actual = getattr(info, key)
        same = (
            abs(float(actual) - float(wanted)) < 1e-3
            if isinstance(wanted, float)
            else actual == wanted
        )
        if not same:
            found[key] = (actual, wanted)
    if info.resolve_links:
        found["resolve_links"] = (True, False)
    wanted_start = _START_FROM[group.start_from]
    if info.start_from != wanted_start:
        found["start_from"] = (info.start_from, wanted_start)
    return found


async def ensure_group(
    client: AsyncEventStoreDBClient,
    group: ConsumerGroupSettings,
    include_pattern: str = _INCLUDE_PATTERN,
) -> str:
    """Create ``group`` on ``$all`` filtered to stream names matching ``^include_pattern$``,
    or update its settings; ``created``, ``updated`` or ``unchanged``."""
    try:
        info = await client.get_subscription_info(group.name)
    except NotFound:
        try:
            await client.create_subscription_to_all(
                group.name,
                from_end=group.start_from == "end",
                filter_include=(include_pattern,),
                filter_by_stream_name=True,
                resolve_links=False,
                **group._wanted(),
            )
        except AlreadyExists:
            # Another instance created it between our GetInfo and Create: reconcile below.
            info = await client.get_subscription_info(group.name)
        else:
            _log.info("consumer group created", group=group.name, filter=f"^{include_pattern}$")
            return "created"
    differences = _differences(info, group)
    if not differences:
        return "unchanged"
    # esdbclient sends the start point with every update: ``start{}`` or ``end{}``.
    options = {"from_end": group.start_from == "end", "resolve_links": False, **group._wanted()}
    await client.update_subscription_to_all(group.name, **options)
    _log.info(
        "consumer group updated",
        group=group.name,
        changed={key: {"was": old, "now": new} for key, (old, new) in differences.items()},
    )
    return "updated"


async def ensure_consumer_groups(
    client: AsyncEventStoreDBClient, groups: Iterable[ConsumerGroupSettings]
) -> None:
    """Create missing groups and update changed ones; never duplicates, never deletes.

    Groups not listed are left alone (removing a group is an operator's decision: it drops
    the group's checkpoint and parked events). The stream filter of an existing group cannot
    be changed by an update; every group this function creates has ``^integration-.*$``.
    """
    for group in groups:
        await ensure_group(client, group)
