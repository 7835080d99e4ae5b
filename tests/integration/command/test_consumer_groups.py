"""The command service provisions the downstream consumer groups on integration-* at start-up."""

from __future__ import annotations

import pytest
from esdbclient import AsyncEventStoreDBClient

from tests.integration.command.conftest import ServiceFactory

pytestmark = pytest.mark.slow


async def test_start_up_creates_the_configured_groups_once(
    start_service: ServiceFactory,
    esdb: AsyncEventStoreDBClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROVER_CONSUMER_GROUPS", '["billing", "analytics"]')
    await start_service()
    await start_service()  # a second instance (or a restart) must not duplicate anything
    # The command inbox's own group (services/command/bootstrap_inbox.py) is not downstream.
    groups = [g for g in await esdb.list_subscriptions() if g.group_name != "rover-inbox"]
    names = sorted(g.group_name for g in groups)
    assert names == ["analytics", "billing"]
    for group in groups:
        assert group.event_source == "$all"
