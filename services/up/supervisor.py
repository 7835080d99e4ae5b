"""Start children in order, wait for each to be ready, watch them, stop them in reverse order.

Children run in their own process group, so a Ctrl-C in the terminal reaches the supervisor
alone and the children are stopped one by one, last started first, each with SIGTERM and
SIGKILL after a timeout. The instances of one service start together and must all be ready
before the next service starts. A child that dies on its own stops the others and the
supervisor exits non-zero, unless it is one of several instances of a service: that one is
logged with the tail of its log and started again after a backoff (1 s, doubling up to 30 s)
while the others keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from services.common.logs import get_logger
from services.up.backoff import Backoff
from services.up.child import ChildSpec
from services.up.launch import wrap
from services.up.probes import GrpcHealthProbe, http_ready, redis_pong

__all__ = ["Supervisor", "tail"]

_CLEAN_EXITS = {0, -signal.SIGTERM}


class StartupError(RuntimeError):
    """A child did not become ready: the message names it, its address and its log."""


class _StopRequestedError(Exception):
    """A stop was requested while children were still starting."""


@dataclass(slots=True, eq=False)
class _Running:
    spec: ChildSpec
    process: asyncio.subprocess.Process
    began: float = field(default_factory=time.monotonic)
    reported: bool = False
    """Its death was logged and a restart planned: not a failure to report again at stop."""
    exited: asyncio.Task[int] = field(init=False)

    def __post_init__(self) -> None:
        self.exited = asyncio.create_task(self.process.wait(), name=f"wait-{self.spec.name}")


def _groups(children: Sequence[ChildSpec]) -> Iterator[list[ChildSpec]]:
    """The children in order, the instances of one service together."""
    for _, group in groupby(children, key=lambda spec: spec.group):
        yield list(group)


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
        restart_delay: float = 1.0,
        restart_delay_max: float = 30.0,
        after_ready: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._children = tuple(children)
        # what every child starts from, under its own variables (None: this process's
        # environment as it is at each start; services/up/environment.py filters it)
        self._environ = environ
        # group name -> a step run once that group is ready, before the next group starts
        # (e.g. granting the services' store user its access): a failure fails the start.
        self._after_ready = dict(after_ready or {})
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._poll = poll_interval
        self._restart_delays = (restart_delay, restart_delay_max)
        self._running: list[_Running] = []  # one slot per started child, in start order
        self._restarts: dict[int, asyncio.Task[None]] = {}  # slot -> its restart under way
        self._backoffs: dict[str, Backoff] = {}
        # Bound here, not at import: a logger bound before configure_logging keeps the defaults.
        self._log = get_logger(__name__)
        self.stopped: list[str] = []
        """Names in the order they were stopped (for callers and tests)."""
        self.restarted: list[str] = []
        """Names of the instances started again after they died, in that order."""

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

    async def _spawn(self, spec: ChildSpec, verb: str = "starts") -> _Running:
        """Start ``spec``'s process (through the parent-death launcher), logging to its file."""
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        if spec.instance_address.startswith("unix:"):
            Path(spec.instance_address.removeprefix("unix:")).parent.mkdir(
                parents=True, exist_ok=True
            )
        with spec.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n===== {stamp} services.up {verb} {spec.name} =====\n".encode())
            log.flush()
            process = await asyncio.create_subprocess_exec(
                *wrap(spec.argv, os.getpid()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env={**(os.environ if self._environ is None else self._environ), **spec.env},
                process_group=0,  # the terminal's Ctrl-C is ours to handle, not theirs
            )
        self._log.info("child started", child=spec.name, pid=process.pid, log=str(spec.log_path))
        return _Running(spec, process)

    async def _start_all(self, stop: asyncio.Event) -> None:
        for group in _groups(self._children):
            if stop.is_set():
                raise _StopRequestedError
            started = []
            for spec in group:
                running = await self._spawn(spec)
                self._running.append(running)
                started.append(running)
            await self._all_ready(started, stop)
            step = self._after_ready.get(group[0].group)
            if step is not None:
                try:
                    await step()
                except Exception as error:
                    raise StartupError(f"after {group[0].group} started: {error!r}") from error

    async def _all_ready(self, children: Sequence[_Running], stop: asyncio.Event) -> None:
        """Wait until every one of ``children`` is ready; the first failure is raised."""
        waits = [asyncio.create_task(self._wait_ready(child, stop)) for child in children]
        try:
            for ready in asyncio.as_completed(waits):
                await ready
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _wait_ready(self, child: _Running, stop: asyncio.Event) -> None:
        spec = child.spec
        probe = (
            GrpcHealthProbe(
                spec.probe_address, ca_file=spec.probe_ca_file, client_cert=spec.client_cert
            )
            if spec.probe == "grpc"
            else None
        )
        deadline = time.monotonic() + self._start_timeout
        what = {
            "redis": "answer PING",
            "http": "answer 200 on /readyz",
            "grpc": "report SERVING over gRPC health",
        }[spec.probe]
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
                elif spec.probe == "http":
                    ready = await http_ready(
                        spec.endpoint.dial_host, spec.endpoint.port, ca_file=spec.probe_ca_file
                    )
                else:
                    ready = await redis_pong(spec.endpoint.host, spec.endpoint.port)
                if ready:
                    self._log.info(
                        "child ready",
                        child=spec.name,
                        address=spec.probe_address,
                        seconds=round(time.monotonic() - child.began, 2),
                    )
                    return
                if time.monotonic() > deadline:
                    raise StartupError(
                        f"{spec.name} did not {what} on {spec.probe_address} within "
                        f"{self._start_timeout:g}s ({spec.endpoint.setting}); see its log "
                        f"{spec.log_path}:\n{tail(spec.log_path)}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)
        finally:
            if probe is not None:
                await probe.close()

    async def _watch(self, stop: asyncio.Event) -> _Running | None:
        """Wait for ``stop`` (None) or the death of a child that stops everything (that child);
        an instance of a service running several is started again meanwhile."""
        stopping = asyncio.create_task(stop.wait(), name="stop-requested")
        try:
            while not stop.is_set():
                watched = {
                    child.exited: (slot, child)
                    for slot, child in enumerate(self._running)
                    if slot not in self._restarts
                }
                await asyncio.wait(
                    [stopping, *watched, *self._restarts.values()],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stop.is_set():
                    break
                for slot, restart in list(self._restarts.items()):
                    if restart.done():
                        del self._restarts[slot]
                        restart.result()  # a bug in the restart itself is not swallowed
                for exited, (slot, child) in watched.items():
                    if not exited.done():
                        continue
                    if not child.spec.restart:
                        return child
                    self._restart_later(slot, child, stop)
        finally:
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping
        return None

    def _restart_later(self, slot: int, child: _Running, stop: asyncio.Event) -> None:
        """Log the death of an instance and plan its restart after its backoff."""
        spec = child.spec
        backoff = self._backoffs.setdefault(spec.name, Backoff(*self._restart_delays))
        delay = backoff.next(time.monotonic() - child.began)
        child.reported = True
        self._log.error(
            "instance exited unexpectedly; the others keep serving, restarting it",
            child=spec.name,
            exit_code=child.process.returncode,
            restart_in=delay,
            log=str(spec.log_path),
            log_tail=tail(spec.log_path),
        )
        self._restarts[slot] = asyncio.create_task(
            self._restart(slot, delay, backoff, stop), name=f"restart-{spec.name}"
        )

    async def _restart(
        self, slot: int, delay: float, backoff: Backoff, stop: asyncio.Event
    ) -> None:
        """After ``delay``, start the slot's child again and wait until it is ready; one that
        does not get ready in time is killed, so its death plans the next restart."""
        spec = self._running[slot].spec
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                child = await self._spawn(spec, "restarts")
            except OSError as error:
                delay = backoff.next(0.0)
                self._log.error(
                    "could not restart instance", child=spec.name, error=str(error), retry_in=delay
                )
                continue
            break
        self._running[slot] = child
        self.restarted.append(spec.name)
        try:
            await self._wait_ready(child, stop)
        except _StopRequestedError:
            return
        except StartupError as error:
            self._log.error(
                "restarted instance is not ready; killing it", child=spec.name, error=str(error)
            )
            if not child.exited.done():
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()

    async def stop_all(self) -> bool:
        """Stop every started child, last started first; True if all exited cleanly in time.

        An instance that died and was waiting for its restart has been reported already: it
        does not make the stop unclean.
        """
        restarts = list(self._restarts.values())
        self._restarts.clear()
        for restart in restarts:
            restart.cancel()
        await asyncio.gather(*restarts, return_exceptions=True)
        clean = True
        for child in reversed(self._running):
            name = child.spec.name
            if child.exited.done():
                self._log.info(
                    "child already exited", child=name, exit_code=child.process.returncode
                )
                self.stopped.append(name)
                clean = clean and (child.reported or child.process.returncode in _CLEAN_EXITS)
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

    def running(self) -> dict[str, int]:
        """Name -> pid of every child whose process is running now."""
        return {c.spec.name: c.process.pid for c in self._running if not c.exited.done()}

    def pending_restarts(self) -> list[str]:
        """Names of the instances that died and are waiting to be started again (or starting)."""
        return [self._running[slot].spec.name for slot in sorted(self._restarts)]

    def kill_all(self) -> None:
        """SIGKILL every child still running (a second Ctrl-C: do not wait any longer)."""
        for child in self._running:
            if not child.exited.done():
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
