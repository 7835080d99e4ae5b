"""Small helpers shared by the conformance tests."""

from __future__ import annotations

import json

from esdbclient import NewEvent

__all__ = ["events", "types_of"]


def events(*types: str, payload: dict[str, object] | None = None) -> list[NewEvent]:
    """One JSON ``NewEvent`` per type."""
    data = json.dumps(payload or {}).encode()
    return [NewEvent(type=t, data=data) for t in types]


def types_of(recorded: object) -> list[str]:
    """The types of a sequence of recorded events."""
    return [e.type for e in recorded]  # type: ignore[attr-defined]
