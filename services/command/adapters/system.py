"""The real clock and id generator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

__all__ = ["SystemClock", "UuidGenerator"]


class SystemClock:
    """The Clock port on the system's wall clock, in UTC."""

    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        return datetime.now(UTC)


class UuidGenerator:
    """The IdGenerator port on random UUIDs (version 4)."""

    def event_id(self) -> uuid.UUID:
        """A random event id."""
        return uuid.uuid4()

    def entity_id(self) -> str:
        """32 lowercase hex digits: a valid grid or rover id."""
        return uuid.uuid4().hex
