"""The integration event as application code sees it: a domain event in its envelope.

Pure (domain + standard library): application layers of every service use it, while the
mapping to the public ``rover.v1.IntegrationEvent`` lives in ``services.common.integration``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from domain.events import GridEvent
from domain.values import GridId
from services.common.correlation import TraceParent

__all__ = [
    "Envelope",
    "grid_stream",
    "integration_event_id",
    "integration_stream",
    "snapshot_stream",
]

# Fixed namespace for deterministic integration event ids: the same stored domain event
# always maps to the same integration event id, which makes republishing idempotent.
INTEGRATION_NAMESPACE = uuid.UUID("6f1d3c52-8a0e-4c8e-9a55-2d1e7b0c4a10")


def grid_stream(grid_id: str) -> str:
    """The domain event stream of a grid: category ``grid`` (one dash, so ``$ce-grid`` works)."""
    return f"grid-{grid_id}"


def snapshot_stream(grid_id: str) -> str:
    """Snapshots live outside the ``grid`` category, so category readers see only facts."""
    return f"gridsnapshot-{grid_id}"


def integration_stream(grid_id: str) -> str:
    """The integration events of one grid; revision ``n`` holds sequence ``n + 1``."""
    return f"integration-{grid_id}"


def integration_event_id(source_event_id: uuid.UUID | str) -> uuid.UUID:
    """The integration event id derived from the stored domain event's id."""
    return uuid.uuid5(INTEGRATION_NAMESPACE, str(source_event_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One integration event: what happened, to which grid, at which version, and when."""

    event_id: uuid.UUID
    grid_id: GridId
    sequence: int  # the grid's version after this event: 1 for GridCreated
    occurred_at: datetime  # timezone-aware UTC
    event: GridEvent
    # Why it exists (services/common/correlation.py), stored in the event's metadata, not in
    # the public message: "" / None where unknown (an envelope decoded from the message).
    correlation_id: str = field(default="", compare=False)
    causation_id: str = field(default="", compare=False)
    trace: TraceParent | None = field(default=None, compare=False)
