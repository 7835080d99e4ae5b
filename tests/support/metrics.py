"""Scraping a /metrics endpoint over HTTP, as Prometheus does, parsed with prometheus-client."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "scrape", "scrape_text", "scrape_until"]

Labels = tuple[tuple[str, str], ...]


class Scrape:
    """One scrape: its families and samples, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples: dict[tuple[str, Labels], float] = {}
        for family in self.families.values():
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                self.samples[key] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels`` (0 when absent: counters start there)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        """Whether the sample is present."""
        return (name, tuple(sorted(labels.items()))) in self.samples

    def family_type(self, name: str) -> str:
        """The declared type of a family (its name without _total for counters)."""
        return str(self.families[name].type)


def scrape_text(url: str) -> str:
    """GET ``url`` (blocking)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return str(response.read().decode())


async def scrape(url: str) -> Scrape:
    """GET and parse ``url`` without blocking the event loop (the servers share it)."""
    return Scrape(await asyncio.to_thread(scrape_text, url))


async def scrape_until(url: str, ready: Callable[[Scrape], bool], rounds: int = 1_500) -> Scrape:
    """Scrape every 20 ms until ``ready`` holds (what a background measurement or a stream's
    end takes to show); AssertionError after ``rounds`` scrapes."""
    for _ in range(rounds):
        scraped = await scrape(url)
        if ready(scraped):
            return scraped
        await asyncio.sleep(0.02)
    raise AssertionError(f"{url} never showed what was expected")
