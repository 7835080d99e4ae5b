"""The web front-end's Prometheus metrics: HTTP requests by route, and the live streams open.

An ASGI middleware around the Starlette app (added by ``bootstrap`` when
``ROVER_WEB_METRICS_ADDRESS`` is set) counts each request by its route's template (``/api/
{service}/{method}``, ``/live/{grid_id:path}``, ...: a bounded set; a path no route matches is
``unmatched``), method and HTTP status, with a latency histogram (a live stream: its whole
life), and keeps a gauge of the live streams open. The RPCs a request forwards are counted by
the services that answer them. The registry and its endpoint are services/common/metrics.py's.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LIVE_ROUTE", "UNMATCHED", "HttpMetricsMiddleware"]

LIVE_ROUTE = "/live/{grid_id:path}"
"""The live stream's route template (services/web/http_app.py; a test holds them equal)."""
UNMATCHED = "unmatched"
# Seconds: a page or an API call takes milliseconds; a live stream lasts as long as the tab.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600, 3600)


def _route(scope: MutableMapping[str, Any]) -> str:
    """The template of the route Starlette's router matched (it records it in the scope)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class _Families:
    """The metric families, made once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("route", "method")
        self.requests = Counter(
            "rover_web_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            (*labels, "code"),
            registry=registry,
        )
        self.seconds = Histogram(
            "rover_web_http_request_seconds",
            "Time from a request to the end of its response (a live stream: its whole life).",
            labels,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.live = Gauge(
            "rover_web_live_streams",
            "Live streams (GET /live/{grid}) open now.",
            registry=registry,
        )


class HttpMetricsMiddleware:
    """Counts every HTTP request (not the lifespan or websockets: the app has neither)."""

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry) -> None:
        self._app = app
        self._families = _Families(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the client gets when the app fails before it starts a response
        live = False

        async def send_counted(message: Message) -> None:
            nonlocal status, live
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if _route(scope) == LIVE_ROUTE and status == 200:
                    live = True
                    self._families.live.inc()
            await send(message)

        try:
            await self._app(scope, receive, send_counted)
        finally:
            if live:
                self._families.live.dec()
            route, method = _route(scope), str(scope["method"])
            self._families.requests.labels(route, method, str(status)).inc()
            self._families.seconds.labels(route, method).observe(time.perf_counter() - began)
