"""One round of the multi-instance benchmark: N instances of each service, every figure.

Before each round's first window and after every window, the round waits until the store,
Redis and the instances are idle again (``settle``): the publisher, the projector and the
broadcasters catch up after the clients stop, and that work must not land in the next
window. How long it took after a contender's run is its backlog.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from bench.broadcaster.measure import Result, Target, measure
from bench.command.workloads import create_grid
from bench.instances.fanout import Fanout, cpu_by_label
from bench.instances.fleet import SERVICES, Fleet
from bench.instances.load import Clients, Job, Outcome
from bench.instances.report import Figure, Reach, Round, cores
from bench.instances.usage import Spread, settle
from bench.pairs import alternate, median_ratio
from protos.rover.v1 import command_pb2, common_pb2, query_pb2, query_pb2_grpc
from tests.support.stubs import CommandStub, command_stub

__all__ = ["CLIENTS", "Bench"]

CLIENTS = 64
T = TypeVar("T")
Run = Callable[[], Awaitable[T]]
ROVERS = 100  # on the GetGridDetails grid


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Bench:
    """What every round uses: the store, the clients, the baselines' servers, the parties."""

    seconds: float  # per window
    pairs: int
    events: int  # per broadcaster run
    store_uri: str
    clients: Clients
    echo_address: str
    fanout: Fanout
    parties: dict[str, int]  # label -> pid of all but the instances: "store", "redis", ...
    query_grid: str = field(default_factory=lambda: f"details-{uuid.uuid4().hex[:8]}")
    _rounds: int = 0

    async def round(self, fleet: Fleet) -> Round:
        """Start the fleet, measure every figure, stop it."""
        n = fleet.count
        _say(f"[{n} instance(s)] starting {n} process(es) of each of {', '.join(SERVICES)}")
        started = time.perf_counter()
        result = Round(n)
        try:
            await fleet.start()
            await settle(self._services(fleet))
            _say(f"  [{n}] all serving and idle after {time.perf_counter() - started:.1f} s")
            await self._commands(fleet, result)
            await self._details(fleet, result, first=self._rounds == 0)
            await self._deliveries(fleet, result)
        finally:
            fleet.stop()
            self._rounds += 1
        _say(f"  [{n}] round done in {time.perf_counter() - started:.0f} s")
        return result

    def _services(self, fleet: Fleet) -> dict[str, int]:
        return {"store": self.parties["store"], "redis": self.parties["redis"], **fleet.pids()}

    async def _window(self, job: Job, fleet: Fleet, label: str) -> Outcome:
        """One window of ``job`` (CPU of every process), then until the services are idle."""
        outcome = await self.clients.run(job, {**self.parties, **fleet.pids()})
        outcome.backlog = await settle(self._services(fleet))
        _say(f"  [{fleet.count}] {label:<28} {outcome.summary()}")
        _say(f"  {'':<32} cores: {cores(outcome.cpu, outcome.seconds)}{_idle(outcome.backlog)}")
        return outcome

    async def _pairs(self, name: str, contender: Job, baseline: Job, fleet: Fleet) -> Figure:
        def run(job: Job, label: str) -> Run[Outcome]:
            return lambda: self._window(job, fleet, label)

        pairs = await alternate(
            self.pairs, run(contender, name), run(baseline, f"baseline: {baseline.kind}")
        )
        figure = _figure(
            [(mine.rate, base.rate) for mine, base in pairs],
            [mine.cpu for mine, _ in pairs],
            sum(mine.seconds for mine, _ in pairs),
        )
        figure.failed = sum(mine.failed for mine, _ in pairs)
        figure.backlog = max(mine.backlog for mine, _ in pairs)
        return figure

    async def _commands(self, fleet: Fleet, result: Round) -> None:
        address = fleet.address("command")
        raw = Job("appends", self.store_uri, CLIENTS, self.seconds)
        many = Job("commands", address, CLIENTS, self.seconds)
        async with Spread(fleet.ports["command"], fleet.pids("command")) as spread:
            figure = await self._pairs("commands, 64 grids", many, raw, fleet)
            grid = f"one-{uuid.uuid4().hex[:8]}"
            async with grpc.aio.insecure_channel(address) as channel:
                await _create_grid(command_stub(channel), grid, rovers=0)
            one_job = Job("one grid", address, CLIENTS, self.seconds, grid)
            one = await self._window(one_job, fleet, "commands, one grid")
        result.figures["commands"] = figure
        result.figures["one grid"] = Figure(
            [one.rate],
            figure.baselines,
            one.rate / figure.baseline,
            one.failed,
            one.cpu,
            one.seconds,
            one.backlog,
        )
        _reach(result, "command", spread, [figure.cpu, one.cpu])

    async def _details(self, fleet: Fleet, result: Round, first: bool) -> None:
        address = fleet.address("query")
        async with grpc.aio.insecure_channel(fleet.address("command")) as channel:
            stub = command_stub(channel)
            if first:
                await _create_grid(stub, self.query_grid, rovers=ROVERS - 1)
            # A fresh version, then wait until the projector has it: caught up with the commands.
            marker = await stub.TurnRoverLeft(
                command_pb2.TurnRoverLeftRequest(grid_id=self.query_grid, rover_id="r")
            )
        await _visible(address, self.query_grid, marker.version)
        details = Job("details", address, CLIENTS, self.seconds, self.query_grid)
        echo = Job("echo", self.echo_address, CLIENTS, self.seconds, self.query_grid)
        async with Spread(fleet.ports["query"], fleet.pids("query")) as spread:
            figure = await self._pairs("GetGridDetails, 100 rovers", details, echo, fleet)
        result.figures["details"] = figure
        _reach(result, "query", spread, [figure.cpu])

    async def _deliveries(self, fleet: Fleet, result: Round) -> None:
        instances = fleet.pids("broadcaster")
        first = next(iter(instances))
        idle = ("echo", "bare fan-out", *self.clients.pids)  # the other runs' parties
        feeders = {k: v for k, v in {**self.parties, **fleet.pids()}.items() if k not in idle}
        feeders.pop(first)
        ours = self.fanout.broadcaster(fleet.address("broadcaster"), instances[first], feeders)
        bare = self.fanout.bare
        assert bare is not None
        backlogs: list[float] = []

        def run(name: str, target: Target, backlog: list[float]) -> Run[Result]:
            async def one() -> Result:
                label = f"[{fleet.count}] {name}"
                outcome = await measure(label, target, "full", self.events, other=True)
                backlog.append(await settle(self._services(fleet)))
                return outcome

            return one

        async with Spread(fleet.ports["broadcaster"], instances) as spread:
            pairs = await alternate(
                self.pairs, run("broadcaster", ours, backlogs), run("bare fan-out", bare, [])
            )
        figure = _figure(
            [(mine.rate, base.rate) for mine, base in pairs],
            [cpu_by_label(mine, first) for mine, _ in pairs],
            sum(mine.seconds for mine, _ in pairs),
        )
        figure.failed = sum(r.lost + r.duplicated for pair in pairs for r in pair)
        figure.backlog = max(backlogs)
        result.figures["deliveries"] = figure
        _reach(result, "broadcaster", spread, [figure.cpu])


def _idle(backlog: float) -> str:
    return f"; the services idle {backlog:.1f} s later" if backlog >= 0.1 else ""


def _figure(
    rates: list[tuple[float, float]], cpu: list[dict[str, float]], seconds: float
) -> Figure:
    """(contender, baseline) rates of each pair; the CPU readings of the contender's runs."""
    total: dict[str, float] = {}
    for reading in cpu:
        for label, value in reading.items():
            total[label] = total.get(label, 0.0) + value
    return Figure(
        rates=[mine for mine, _ in rates],
        baselines=[base for _, base in rates],
        ratio=median_ratio(rates, float),
        cpu=total,
        seconds=seconds,
    )


def _reach(result: Round, service: str, spread: Spread, cpu: list[dict[str, float]]) -> None:
    result.reach[service] = {
        label: Reach(spread.peak[label], sum(reading.get(label, 0.0) for reading in cpu))
        for label in spread.instances
    }


async def _create_grid(stub: CommandStub, grid: str, rovers: int) -> None:
    """bench_command's grid (1,000 x 1,000, rover "r" at 1,1) with ``rovers`` more in a row."""
    await create_grid(stub, grid)
    for n in range(2, rovers + 2):
        await stub.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid,
                rover_id=f"r{n:03d}",
                position=common_pb2.Position(x=n, y=1),
                facing=common_pb2.DIRECTION_NORTH,
            )
        )


async def _visible(address: str, grid: str, version: int) -> None:
    """Until GetGridDetails answers with ``version`` (the projector has it); at most 120 s."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
            channel
        )
        request = query_pb2.GetGridDetailsRequest(grid_id=grid, min_version=version)
        deadline = time.monotonic() + 120
        while True:
            try:
                await stub.GetGridDetails(request, timeout=10)
                return
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
