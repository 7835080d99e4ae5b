"""The web front-end's metrics: requests by route template, method and status, and the live
streams open, counted by the middleware ``bootstrap`` puts around the real app."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
from prometheus_client import CollectorRegistry
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from services.web.bootstrap import build
from services.web.metrics import LIVE_ROUTE, UNMATCHED, HttpMetricsMiddleware
from services.web.settings import WebSettings


def _requests(registry: CollectorRegistry, route: str, method: str, code: int) -> float | None:
    labels = {"route": route, "method": method, "code": str(code)}
    return registry.get_sample_value("rover_web_http_requests_total", labels)


async def test_the_real_app_counts_requests_by_route_template_method_and_status() -> None:
    app = build(WebSettings(web_metrics_address="127.0.0.1:0"))
    paths = [route.path for route in app.asgi.routes if isinstance(route, Route)]
    assert LIVE_ROUTE in paths  # the template the live gauge looks for is the app's own
    registry = app.metrics.registry
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as client:
        for _ in range(2):
            assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/no/such/page")).status_code == 404
        refused = await client.post("/api/rover.v1.RoverQueryService/ListGrids", content=b"x")
        assert refused.status_code == 400
    assert _requests(registry, "/healthz", "GET", 200) == 2
    assert _requests(registry, UNMATCHED, "GET", 404) == 1
    assert _requests(registry, "/api/{service}/{method}", "POST", 400) == 1
    seconds = {"route": "/healthz", "method": "GET"}
    assert registry.get_sample_value("rover_web_http_request_seconds_count", seconds) == 2
    await app.stop()


async def test_without_a_metrics_address_nothing_is_counted() -> None:
    app = build(WebSettings(web_metrics_address=""))
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as client:
        assert (await client.get("/healthz")).status_code == 200
    assert _requests(app.metrics.registry, "/healthz", "GET", 200) is None
    await app.stop()


async def test_a_live_stream_is_open_from_its_200_to_its_end() -> None:
    registry = CollectorRegistry()
    started, finish = asyncio.Event(), asyncio.Event()

    async def live_stream(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = SimpleNamespace(path=LIVE_ROUTE)  # what the router records
        await send({"type": "http.response.start", "status": 200, "headers": []})
        started.set()
        await finish.wait()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    middleware = HttpMetricsMiddleware(live_stream, registry=registry)
    scope = {"type": "http", "method": "GET", "path": "/live/mars", "headers": []}
    call = asyncio.create_task(middleware(scope, receive, send))
    await started.wait()
    assert registry.get_sample_value("rover_web_live_streams") == 1
    finish.set()
    await call
    assert registry.get_sample_value("rover_web_live_streams") == 0
    assert _requests(registry, LIVE_ROUTE, "GET", 200) == 1
