"""Start children in order, wait for each to be ready, watch them, stop them in reverse order.

Children run in their own process group, so a Ctrl-C in the terminal reaches the supervisor
alone and the children are stopped one by one, last started first, each with SIGTERM and
SIGKILL after a timeout. A child that dies on its own stops the others and the supervisor
exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from services.common.logs import get_logger
from services.up.launch import wrap
from services.up.plan import ChildSpec
from services.up.probes import GrpcHealthProbe, redis_pong

__all__ = ["Supervisor", "tail"]

_CLEAN_EXITS = {0, -signal.SIGTERM}


class StartupError(RuntimeError):
    """A child did not become ready: the message names it, its address and its log."""


class _StopRequestedError(Exception):
    """A stop was requested while children were still starting."""


@dataclass(slots=True)
class _Running:
    spec: ChildSpec
    process: asyncio.subprocess.Process
    exited: asyncio.Task[int] = field(init=False)

    def __post_init__(self) -> None:
        self.exited = asyncio.create_task(self.process.wait(), name=f"wait-{self.spec.name}")


def tail(path: os.PathLike[str] | str, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ('' if unreadable)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Runs a fixed list of children; :meth:`run` returns the process exit status."""

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        poll_interval: float = 0.1,
    ) -> None:
        self._children = tuple(children)
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._poll = poll_interval
        self._running: list[_Running] = []
        # Bound here, not at import: a logger bound before configure_logging keeps the defaults.
        self._log = get_logger(__name__)
        self.stopped: list[str] = []
        """Names in the order they were stopped (for callers and tests)."""

    async def run(
        self,
        stop: asyncio.Event,
        on_ready: Callable[[], Awaitable[None] | None] | None = None,
    ) -> int:
        """Start all, call ``on_ready``, wait for ``stop`` or a death, stop all; exit status."""
        status = 0
        try:
            await self._start_all(stop)
        except StartupError as error:
            self._log.error("startup failed", error=str(error))
            status = 1
        except _StopRequestedError:
            self._log.info("stop requested during startup")
        else:
            if on_ready is not None:
                result = on_ready()
                if result is not None:
                    await result
            died = await self._watch(stop)
            if died is not None:
                code = died.process.returncode
                self._log.error(
                    "child exited unexpectedly; stopping the others",
                    child=died.spec.name,
                    exit_code=code,
                    log=str(died.spec.log_path),
                    log_tail=tail(died.spec.log_path),
                )
                status = 1
        if not await self.stop_all():
            status = status or 1
        return status

    async def _start_all(self, stop: asyncio.Event) -> None:
        for spec in self._children:
            if stop.is_set():
                raise _StopRequestedError
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            with spec.log_path.open("ab") as log:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                log.write(f"\n===== {stamp} services.up starts {spec.name} =====\n".encode())
                log.flush()
                process = await asyncio.create_subprocess_exec(
                    *wrap(spec.argv, os.getpid()),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    env={**os.environ, **spec.env},
                    process_group=0,  # the terminal's Ctrl-C is ours to handle, not theirs
                )
            running = _Running(spec, process)
            self._running.append(running)
            self._log.info(
                "child started", child=spec.name, pid=process.pid, log=str(spec.log_path)
            )
            began = time.monotonic()
            await self._wait_ready(running, stop)
            self._log.info(
                "child ready",
                child=spec.name,
                address=spec.endpoint.dial,
                seconds=round(time.monotonic() - began, 2),
            )

    async def _wait_ready(self, child: _Running, stop: asyncio.Event) -> None:
        spec = child.spec
        probe = GrpcHealthProbe(spec.endpoint.dial) if spec.probe == "grpc" else None
        deadline = time.monotonic() + self._start_timeout
        what = "answer PING" if spec.probe == "redis" else "report SERVING over gRPC health"
        try:
            while True:
                if stop.is_set():
                    raise _StopRequestedError
                if child.exited.done():
                    raise StartupError(
                        f"{spec.name} exited with code {child.process.returncode} while "
                        f"starting; see its log {spec.log_path}:\n{tail(spec.log_path)}"
                    )
                if probe is not None:
                    ready = await probe()
                else:
                    ready = await redis_pong(spec.endpoint.host, spec.endpoint.port)
                if ready:
                    return
                if time.monotonic() > deadline:
                    raise StartupError(
                        f"{spec.name} did not {what} on {spec.endpoint.dial} within "
                        f"{self._start_timeout:g}s ({spec.endpoint.setting}); see its log "
                        f"{spec.log_path}:\n{tail(spec.log_path)}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)
        finally:
            if probe is not None:
                await probe.close()

    async def _watch(self, stop: asyncio.Event) -> _Running | None:
        """Wait for ``stop`` (None) or the first child to exit (that child)."""
        stopping = asyncio.create_task(stop.wait(), name="stop-requested")
        try:
            by_task = {child.exited: child for child in self._running}
            done, _ = await asyncio.wait([stopping, *by_task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping
        if stopping in done and stop.is_set():
            return None
        return next(by_task[task] for task in by_task if task in done)

    async def stop_all(self) -> bool:
        """Stop every started child, last started first; True if all exited cleanly in time."""
        clean = True
        for child in reversed(self._running):
            name = child.spec.name
            if child.exited.done():
                self._log.info(
                    "child already exited", child=name, exit_code=child.process.returncode
                )
                self.stopped.append(name)
                clean = clean and child.process.returncode in _CLEAN_EXITS
                continue
            self._log.info("stopping child", child=name, pid=child.process.pid)
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(asyncio.shield(child.exited), self._stop_timeout)
            except TimeoutError:
                self._log.warning("child did not stop in time; killing it", child=name)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                code = await child.exited
                clean = False
            clean = clean and code in _CLEAN_EXITS
            self.stopped.append(name)
            self._log.info("child stopped", child=name, exit_code=code)
        self._running.clear()
        return clean

    def kill_all(self) -> None:
        """SIGKILL every child still running (a second Ctrl-C: do not wait any longer)."""
        for child in self._running:
            if not child.exited.done():
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
