"""The Starlette application: the page, the JSON API, the live stream, health.

Routes: ``GET /`` and ``/static/*`` (the page: plain ES modules and CSS, no build step),
``POST /api/{service}/{method}`` (services/web/rpc.py), ``GET /live/{grid_id}``
(services/web/live.py), ``GET /healthz`` (the process answers) and ``GET /readyz`` (it is
started and not stopping). Writes from another origin are refused (:func:`write_refusal`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.common.logs import get_logger
from services.common.rich_errors import error_info
from services.web.fanout import GridHubs, LiveCalls
from services.web.live import FrameCache, LiveRequestError, live_events, watch_request
from services.web.rpc import (
    HTTP_STATUS,
    Method,
    error_body,
    forwarded_metadata,
    routes,
    rpc_error_body,
    to_json,
)

__all__ = ["Backends", "create_app"]

STATIC = Path(__file__).parent / "static"
_log = get_logger(__name__)
_MAX_BODY = 1 << 20


@dataclass
class Backends:
    """The gRPC channels the app forwards to, by route, and whether it is ready."""

    channels: Mapping[str, grpc.aio.Channel]
    timeout: float
    ready: Callable[[], bool] = lambda: True
    methods: dict[str, Method] = field(default_factory=routes)
    hubs: GridHubs = field(default_factory=GridHubs)
    frames: FrameCache = field(default_factory=FrameCache)

    @property
    def live_calls(self) -> LiveCalls:
        """Every open WatchGrid call: the pages' own and the hubs' shared ones."""
        return self.hubs.calls


def _status(code: grpc.StatusCode, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=HTTP_STATUS[code])


def _refused(code: grpc.StatusCode, reason: str, message: str) -> JSONResponse:
    return _status(code, error_body(code, message, [error_info(reason)]))


def write_refusal(request: Request) -> JSONResponse | None:
    """Why a write must not run (None: it may): it comes from another site, or is not JSON.

    A browser names the page that sent a request in ``Origin`` (and ``Sec-Fetch-Site``); only
    this server's own page may write. Requiring ``application/json`` also keeps out HTML forms,
    which cannot send it without a CORS preflight that this server never grants.
    """
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site", "same-origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if site not in ("same-origin", "none") or (origin is not None and origin != own):
        return _refused(
            grpc.StatusCode.PERMISSION_DENIED,
            "CROSS_ORIGIN_WRITE",
            f"writes are taken only from this server's own page ({own}), not from {origin!r}",
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _refused(
            grpc.StatusCode.INVALID_ARGUMENT,
            "CONTENT_TYPE_NOT_JSON",
            f"the body must be application/json (protobuf's JSON mapping), not {content_type!r}",
        )
    return None


def create_app(backends: Backends) -> Starlette:
    """The app over ``backends``."""

    async def page(_request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    async def call(request: Request) -> Response:
        name = f"{request.path_params['service']}/{request.path_params['method']}"
        method = backends.methods.get(name)
        if method is None:
            return _refused(
                grpc.StatusCode.UNIMPLEMENTED,
                "METHOD_NOT_FOUND",
                f"no such method {name!r}; the page may call {', '.join(sorted(backends.methods))}",
            )
        refusal = write_refusal(request)
        if refusal is not None:
            return refusal
        body = bytearray()
        async for chunk in request.stream():  # never more than the limit in memory
            body += chunk
            if len(body) > _MAX_BODY:
                return _refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "BODY_TOO_LARGE",
                    f"the body is over {_MAX_BODY} bytes; no valid request is that large",
                )
        request_message = method.request()
        try:
            json_format.Parse(body.decode() or "{}", request_message)
        except (json_format.ParseError, UnicodeDecodeError) as error:
            return _refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                "BODY_MALFORMED",
                f"the body is not a {method.request.DESCRIPTOR.full_name} in JSON: {error}",
            )
        stub = method.callable(backends.channels[method.route])
        try:
            reply = await stub(
                request_message,
                timeout=backends.timeout,
                metadata=forwarded_metadata(request.headers.get("authorization")),
            )
        except grpc.aio.AioRpcError as error:
            _log.info("call failed", method=name, code=error.code().name)
            return _status(error.code(), rpc_error_body(error))
        return JSONResponse(to_json(reply))

    async def live(request: Request) -> Response:
        try:
            watch = watch_request(
                request.path_params["grid_id"],
                request.query_params.get("from_version"),
                request.headers.get("last-event-id"),
            )
        except LiveRequestError as error:
            invalid = HTTP_STATUS[grpc.StatusCode.INVALID_ARGUMENT]
            return JSONResponse(error.body, status_code=invalid)
        events = live_events(
            backends.channels["live"],
            watch,
            forwarded_metadata(request.headers.get("authorization")),
            backends.hubs,
            backends.frames,
        )
        # No ping of its own: the broadcaster's heartbeats keep an idle stream alive.
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "SERVING"})

    async def readyz(_request: Request) -> Response:
        ready = backends.ready()
        return JSONResponse(
            {"status": "SERVING" if ready else "NOT_SERVING"}, status_code=200 if ready else 503
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/{service}/{method}", call, methods=["POST"]),
            Route("/live/{grid_id:path}", live),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )


# The page loads only its own files: no inline script, nothing from elsewhere, no framing.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
