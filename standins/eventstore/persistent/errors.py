"""Why a persistent subscription operation failed, independent of how the wire reports it."""

from __future__ import annotations

from standins.eventstore.persistent.settings import GroupKey

__all__ = [
    "ConsumerRequestError",
    "GroupDroppedError",
    "GroupError",
    "GroupExistsError",
    "GroupFailedError",
    "GroupNotFoundError",
    "MaxSubscribersError",
]


class GroupError(Exception):
    """Base of every group failure; carries the group it is about."""

    def __init__(self, key: GroupKey) -> None:
        super().__init__(f"{type(self).__name__}({key.source!r}, {key.group!r})")
        self.key = key


class GroupNotFoundError(GroupError):
    """No group of that name on that source (also: the group was deleted under a consumer)."""


class GroupExistsError(GroupError):
    """Create of a group that exists."""


class GroupFailedError(GroupError):
    """Create/Update with settings the group cannot run with."""

    def __init__(self, key: GroupKey, reason: str) -> None:
        super().__init__(key)
        self.reason = reason


class MaxSubscribersError(GroupError):
    """A consumer beyond the group's ``max_subscriber_count``."""


class GroupDroppedError(GroupError):
    """A consumer was disconnected because its group was updated, restarted or shut down."""


class ConsumerRequestError(GroupError):
    """A consumer's ack or nack that cannot be taken (an id not a UUID, an unknown action).

    EventStoreDB fails the Read call then; so do we, with INVALID_ARGUMENT.
    """

    def __init__(self, key: GroupKey, reason: str) -> None:
        super().__init__(key)
        self.reason = reason
