"""Fixtures of the CLI's integration tests: the broadcaster tier's store, services and starter."""

from __future__ import annotations

from tests.integration.broadcaster.conftest import commands, esdb_uri, start_broadcaster

__all__ = ["commands", "esdb_uri", "start_broadcaster"]
