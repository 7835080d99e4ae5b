"""The integration key of a ``make run`` data directory: made once, readable by its owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["INTEGRATION_KEY_NAME", "ensure_integration_key", "integration_key_path"]

INTEGRATION_KEY_NAME = "integration.key"
"""The key file's name in a data directory."""


def integration_key_path(data_dir: Path) -> Path:
    """The data directory's integration key file (written at the first start, kept after)."""
    return data_dir / INTEGRATION_KEY_NAME


def ensure_integration_key(path: Path) -> bool:
    """Write a fresh random key to ``path`` unless it exists; True when one was written.

    The services read it through ``ROVER_INTEGRATION_KEY_FILE`` (services/up/plan.py), so the
    events a data directory holds stay verifiable across restarts.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return True
