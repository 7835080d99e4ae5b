"""``make run`` serves Prometheus metrics: the four URLs in its banner answer with their
families, and the query service's shows the projection lag."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.system import System, free_port
from tests.support.metrics import Scrape, scrape_text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RPC = {"grpc_server_started", "grpc_server_handled", "grpc_server_handling_seconds"}
EXPECTED = {
    "command": RPC
    | {
        "rover_command_appends",
        "rover_command_append_conflicts",
        "rover_command_retries",
        "rover_command_aborted",
        "rover_publisher_active",
        "rover_publisher_published",
    },
    "query": RPC
    | {
        "rover_projector_active",
        "rover_projector_events_applied",
        "rover_projector_lag_events",
        "rover_projector_lag_seconds",
        "rover_parked_events",
    },
    "broadcaster": RPC
    | {
        "rover_watchers_connected",
        "rover_watch_updates_sent",
        "rover_watchers_cut_off",
        "rover_watch_heartbeats",
        "rover_broadcaster_feed_live",
        "rover_parked_events",
    },
    "eventstore": RPC
    | {
        "eventstore_appends",
        "eventstore_appended_events",
        "eventstore_reads",
        "eventstore_subscriptions",
        "eventstore_fsync_seconds",
    },
}


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "rover-data")
    running.env.update(
        {f"ROVER_{name.upper()}_METRICS_ADDRESS": f"127.0.0.1:{free_port()}" for name in EXPECTED}
    )
    try:
        yield running
    finally:
        running.kill()


def test_the_banner_names_four_metrics_urls_that_answer(system: System) -> None:
    system.start()
    banner = system.out.read_text()
    urls = re.findall(r"metrics: (http://\S+/metrics)", banner)
    assert len(urls) == 4
    by_service = {}
    for name in EXPECTED:
        port = system.env[f"ROVER_{name.upper()}_METRICS_ADDRESS"].rsplit(":", 1)[1]
        by_service[name] = next(url for url in urls if f":{port}/" in url)
    # The query service's lag monitor measures within its interval (2 s): scrape until it has.
    for _ in range(300):
        query = Scrape(scrape_text(by_service["query"]))
        if query.has("rover_projector_lag_events"):
            break
        time.sleep(0.1)
    assert query.value("rover_projector_lag_events") == 0
    for name, expected in EXPECTED.items():
        scraped = Scrape(scrape_text(by_service[name]))
        assert expected <= set(scraped.families), f"{name}: {expected - set(scraped.families)}"
