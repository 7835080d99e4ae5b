"""One service skeleton: ``build(settings, **overrides)`` returns an App; start/stop live here."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

from services.common.auth import auth_interceptors, is_local_address
from services.common.call_limits import CallLimitsInterceptor
from services.common.esdb_client import store_refusal
from services.common.grpc_server import GrpcServer, Service, wait_for_shutdown_signal
from services.common.lease import LeaseLostError
from services.common.logs import failure_fields, get_logger
from services.common.metrics import Metrics, MetricsAddressError
from services.common.settings import ServerSettings
from services.common.store_errors import StoreUnavailableError

__all__ = ["App", "Lifecycle", "supervised"]

P = TypeVar("P")
Step = Callable[[], Awaitable[None]]
Loop = Callable[[], Coroutine[Any, Any, None]]
_log = get_logger(__name__)


@dataclass
class Lifecycle:
    """What a service does around its server, each list run in order (``close`` in reverse).

    ``open``: connect dependencies (also for a one-shot command that never serves).
    ``background``: named loops that run while serving; cancelled at stop.
    ``before_stop``: before the server drains (e.g. end live streams).
    ``close``: release what ``open`` or ``build`` acquired, after the server and loops stopped.
    """

    open: list[Step] = field(default_factory=list)
    background: list[tuple[str, Loop]] = field(default_factory=list)
    before_stop: list[Step] = field(default_factory=list)
    close: list[Step] = field(default_factory=list)
    serving_at_start: Callable[[], bool] = lambda: True


class App(Generic[P]):
    """A built service: ``parts`` (its wired use cases and adapters), its gRPC server, its steps.

    Nothing connects until :meth:`open` or :meth:`start`; :meth:`stop` undoes whatever ran.
    """

    def __init__(
        self,
        name: str,
        settings: ServerSettings,
        *,
        address: str,
        services: Sequence[Service],
        parts: P,
        lifecycle: Lifecycle | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.parts = parts
        # Its own registry and endpoint (services/common/metrics.py); off when not given.
        self.metrics = metrics or Metrics("", setting="")
        self.server = GrpcServer(
            address,
            services,
            share_port=settings.share_port,
            instance_address=settings.instance_address,
            limits=settings,
            # Metrics outermost, so refused calls are counted with their status; then auth,
            # then the per-client limits (only authenticated calls count against them).
            interceptors=[
                *self.metrics.interceptors(),
                *auth_interceptors(settings),
                CallLimitsInterceptor(settings),
            ],
            credentials=settings.server_credentials(),
        )
        self.lifecycle = lifecycle or Lifecycle()
        self._host = address.rsplit(":", 1)[0]
        self._listen = address
        self._tasks: list[asyncio.Task[None]] = []
        self._opened = False
        self._closed = False

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self.server.port

    @property
    def address(self) -> str:
        """``host:port`` for clients (after :meth:`start`)."""
        return f"{self._host}:{self.port}"

    async def open(self) -> None:
        """Connect the dependencies (idempotent); :meth:`stop` closes them."""
        if not self._opened:
            self._opened = True
            for step in self.lifecycle.open:
                await step()

    async def start(self) -> int:
        """Serve metrics, open, serve, run the background loops; returns the bound port.

        The metrics endpoint comes first: a busy metrics port fails start-up before anything
        connects (MetricsAddressError, one line naming the setting).
        """
        self.metrics.start()
        try:
            await self.open()
            port = await self.server.start(serving=self.lifecycle.serving_at_start())
        except BaseException:
            self.metrics.stop()  # the caller will not stop what did not start
            raise
        for name, run in self.lifecycle.background:
            self._tasks.append(asyncio.create_task(run(), name=f"{self.name}-{name}"))
        _log.info(
            f"{self.name} service listening",
            port=port,
            address=self.address,
            metrics=self.metrics.url or None,
            auth=self.settings.describe_auth(),
            tls=self.settings.describe_tls(),
        )
        if not self.settings.auth_enabled and not is_local_address(self._listen):
            _log.warning(
                "auth is off on a non-loopback address: anyone who reaches it may call "
                "every RPC (docs/security.md)",
                address=self.address,
            )
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Drain calls for ``grace`` seconds (default from settings), stop loops, close."""
        if self._closed:
            return
        self._closed = True
        for step in self.lifecycle.before_stop:
            await step()
        await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await _stopped(tasks, self.settings.shutdown_grace_seconds)
        for step in reversed(self.lifecycle.close):
            await step()
        await asyncio.to_thread(self.metrics.stop)  # joins the endpoint's thread
        _log.info("service stopped", service=self.name)

    async def run_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully (what ``__main__`` does).

        A metrics address it cannot listen on, or an event store that refuses its user, exits
        1 with one line naming what to change.
        """
        try:
            await self.start()
        except Exception as error:
            refused = store_refusal(error)
            if not isinstance(error, MetricsAddressError) and refused is None:
                raise
            problem = (
                str(error)
                if refused is None
                else (
                    f"the event store refused this service ({refused}): check the user and "
                    "password in ROVER_EVENTSTORE_URI and the user's grants (docs/security.md)"
                )
            )
            _log.error("cannot start", service=self.name, error=problem)
            sys.stderr.write(f"{self.name} service: {problem}\n")
            raise SystemExit(1) from None
        try:
            await wait_for_shutdown_signal()
        finally:
            await self.stop()

    async def __aenter__(self) -> App[P]:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.stop()


async def _stopped(tasks: list[asyncio.Task[None]], within: float) -> None:
    """Wait up to ``within`` seconds for cancelled ``tasks`` to end. One that does not (it
    waits on something that ignores cancellation) is logged with where it waits, and left
    behind: the stop goes on to close what the service opened (the process's own exit may
    still wait for it; the log says where)."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=within)
    for task in tasks:
        failure = task.exception() if task.done() and not task.cancelled() else None
        if failure is not None:
            _log.error(
                "background task failed while stopping",
                task=task.get_name(),
                **failure_fields(failure),
            )
    for task in pending:
        where = io.StringIO()
        task.print_stack(file=where)
        _log.error(
            "background task did not stop within the shutdown grace; leaving it",
            task=task.get_name(),
            seconds=within,
            stack=where.getvalue(),
        )


async def supervised(name: str, run: Step, retry_seconds: float) -> None:
    """Keep a background loop alive: log a failure, pause, start it again.

    An event store that cannot be reached (a leader change, a node restarting) is an outage
    to wait out, logged as a warning; any other failure is logged as one error record with
    its type, message and plain traceback (``services.common.logs.failure_fields``).
    A lost lease is not a failure to retry here: it ends the loop for the lease's runner
    (``services.common.lease.hold_and_run``) to stand by.
    """
    while True:
        try:
            await run()
        except (asyncio.CancelledError, LeaseLostError):
            raise
        except StoreUnavailableError as error:
            _log.warning(
                "background task lost the event store; restarting",
                task=name,
                error=str(error),
                retry_in=retry_seconds,
            )
            await asyncio.sleep(retry_seconds)
        except Exception as error:
            _log.error(
                "background task failed; restarting",
                task=name,
                retry_in=retry_seconds,
                **failure_fields(error),
            )
            await asyncio.sleep(retry_seconds)
