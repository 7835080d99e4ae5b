"""``make run`` serves Prometheus metrics: the five URLs in its banner answer with their
families (the web front-end's counting the requests it answered), and the query service's
shows the projection lag."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.metric_names import ROVER_METRICS
from tests.e2e.system import System, free_port
from tests.support.metrics import Scrape, scrape_text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The stand-in's own families (EventStoreDB's real ones are metric_names.EVENTSTOREDB_METRICS).
STANDIN = frozenset(
    {
        "grpc_server_started_total",
        "grpc_server_handled_total",
        "grpc_server_handling_seconds",
        "eventstore_appends_total",
        "eventstore_appended_events_total",
        "eventstore_reads_total",
        "eventstore_subscriptions",
        "eventstore_fsync_seconds",
    }
)
EXPECTED = {**ROVER_METRICS, "eventstore": STANDIN}
# The web front-end's (HTTP, not gRPC; not in docker compose, so not in ROVER_METRICS).
WEB = frozenset(
    {"rover_web_http_requests_total", "rover_web_http_request_seconds", "rover_web_live_streams"}
)
# Shown once a rebuild ran in the serving process (none does here).
AFTER_A_REBUILD = {"rover_rebuild_events", "rover_rebuild_progress_ratio"}


def _families(scraped: Scrape) -> set[str]:
    """The families as dashboards name them: counters with ``_total``, histograms bare."""
    return {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in scraped.families.values()
        if family.name.startswith(("rover_", "grpc_server_", "eventstore_"))
    }


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "rover-data")
    running.env.update(
        {
            f"ROVER_{name.upper()}_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"
            for name in [*EXPECTED, "web"]
        }
    )
    try:
        yield running
    finally:
        running.kill()


def test_the_banner_names_five_metrics_urls_that_answer(system: System) -> None:
    system.start()
    banner = system.out.read_text()
    urls = re.findall(r"metrics: (http://\S+/metrics)", banner)
    assert len(urls) == 5
    by_service = {}
    for name in [*EXPECTED, "web"]:
        port = system.env[f"ROVER_{name.upper()}_METRICS_ADDRESS"].rsplit(":", 1)[1]
        by_service[name] = next(url for url in urls if f":{port}/" in url)
    # The lag monitors measure within their interval (2 s): scrape until all have.
    for _ in range(300):
        query = Scrape(scrape_text(by_service["query"]))
        command = Scrape(scrape_text(by_service["command"]))
        if (
            query.has("rover_projector_lag_events")
            and command.has("rover_publisher_lag_events")
            and command.has("rover_inbox_backlog_commands")  # the inbox group's, also every 2 s
        ):
            break
        time.sleep(0.1)
    assert query.value("rover_projector_lag_events") == 0
    # Exactly the names the dashboard and the alert rules are checked against, both ways.
    for name, expected in EXPECTED.items():
        families = _families(Scrape(scrape_text(by_service[name])))
        assert families == expected - AFTER_A_REBUILD, name
    web = f"http://127.0.0.1:{system.ports['web']}"
    assert httpx.get(f"{web}/healthz", timeout=30).status_code == 200
    scraped = Scrape(scrape_text(by_service["web"]))
    assert _families(scraped) == WEB
    assert (
        scraped.value("rover_web_http_requests_total", route="/healthz", method="GET", code="200")
        == 1
    )
