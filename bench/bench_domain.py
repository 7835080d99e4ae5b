"""Domain benchmark: command throughput, replay of 1,000,000 events, snapshot load cost."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterator

from domain import Direction, Grid, GridEvent, GridSnapshot, Position, RoverId, Topology
from services.command.adapters import codec

__all__ = ["main"]

HISTORY = 1_000_000
SMALL_HISTORY = 1_000
ROVERS = 100
SEQUENCE = 1_000  # the longest sequence one command may carry
CODEC_SAMPLE = 200_000
TARGET_REPLAY = 200_000  # events/s


def _say(text: str) -> None:
    print(text, flush=True)


def _rate(count: float, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}"


def _new_grid() -> tuple[Grid, list[RoverId]]:
    grid = Grid.create("bench", 1_000, 1_000, Topology.TOROIDAL)
    rovers = [RoverId(f"rover-{i}") for i in range(ROVERS)]
    for i, rover in enumerate(rovers):
        grid.create_rover(rover, Position(i * 10, i * 7), Direction.N)
    return grid, rovers


def _programs(count: int) -> list[str]:
    # Mostly moves, some turns: a rover wanders and now and then meets another one.
    rng = random.Random(2024)
    return ["".join(rng.choices("FFFFFBLR", k=SEQUENCE)) for _ in range(count)]


def _single_commands() -> None:
    grid, rovers = _new_grid()
    calls = (grid.move_forward, grid.turn_right, grid.move_backward, grid.turn_left)
    count = 50_000
    started = time.perf_counter()
    for i in range(count):
        calls[i % 4](rovers[i % ROVERS])
    elapsed = time.perf_counter() - started
    _say(f"  single-command calls      {_rate(count, elapsed)} commands/s  ({count:,} calls)")


def _build_history() -> tuple[list[GridEvent], GridSnapshot, float]:
    """Run sequences until the grid holds HISTORY events; snapshot it at SMALL_HISTORY."""
    grid, rovers = _new_grid()
    programs = _programs(64)
    small: GridSnapshot | None = None
    commands = 0
    next_report = 100_000
    started = time.perf_counter()
    turn = 0
    while grid.current_version < HISTORY:
        # Sequences are cut short at the two marks, so the snapshot sits at exactly
        # SMALL_HISTORY events and the history ends at exactly HISTORY.
        mark = SMALL_HISTORY if small is None else HISTORY
        program = programs[turn % len(programs)][: mark - grid.current_version]
        outcome = grid.execute(rovers[turn % ROVERS], program)
        if small is None and grid.current_version == SMALL_HISTORY:
            small = GridSnapshot(grid.state, grid.current_version)
        commands += len(outcome.events)
        turn += 1
        if grid.current_version >= next_report:
            elapsed = time.perf_counter() - started
            _say(f"  building history: {grid.current_version:>9,} events  ({elapsed:4.1f} s)")
            next_report += 100_000
    elapsed = time.perf_counter() - started
    _say(
        f"  sequences of {SEQUENCE:,} commands {_rate(commands, elapsed)} commands/s  "
        f"({turn:,} sequences, blocks included)"
    )
    assert small is not None
    return list(grid.changes), small, elapsed


def _best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _replay(history: list[GridEvent]) -> None:
    seconds = _best(lambda: Grid.from_events(history), repeat=3)
    verdict = "meets" if len(history) / seconds >= TARGET_REPLAY else "MISSES"
    _say(
        f"  from scratch, domain fold    {_rate(len(history), seconds)} events/s  "
        f"({len(history):,} events in {seconds:.2f} s; {verdict} the {TARGET_REPLAY:,}/s target)"
    )


def _decode_and_replay(stored: list[codec.EncodedEvent]) -> None:
    def decode_and_fold() -> None:
        # Streamed, as a store read hands events over: no list of decoded events is kept.
        stream: Iterator[GridEvent] = (codec.decode(e.type, e.data) for e in stored)
        Grid.from_events(stream)

    seconds = _best(decode_and_fold, repeat=3)
    _say(
        f"  from scratch, JSON + fold    {_rate(len(stored), seconds)} events/s  "
        f"(first {len(stored):,} events as stored bytes: codec.decode then fold)"
    )


def _snapshot_loads(small: GridSnapshot, big: GridSnapshot) -> None:
    stored = {snapshot.version: codec.encode_snapshot(snapshot) for snapshot in (small, big)}
    timings: dict[int, list[float]] = {version: [] for version in stored}
    loads = 200
    # Interleaved rounds, so that drift in the machine's speed hits both sizes alike.
    for _ in range(9):
        for version, data in stored.items():
            started = time.perf_counter()
            for _ in range(loads):
                Grid.from_snapshot(codec.decode_snapshot(data))
            timings[version].append((time.perf_counter() - started) / loads)
    for version, data in stored.items():
        _say(
            f"  from snapshot at {version:>9,} events  "
            f"{statistics.median(timings[version]) * 1e6:8.1f} us per load  "
            f"({len(data):,} bytes, {ROVERS} rovers; decode + rehydrate)"
        )
    ratio = statistics.median(timings[big.version]) / statistics.median(timings[small.version])
    _say(
        f"  snapshot load cost ratio, {big.version:,} vs {small.version:,} events of history: "
        f"{ratio:.2f}x (the cost follows the grid's size, not its history)"
    )


def main() -> None:
    """Print the domain's figures; about half a minute on a 2-core machine."""
    _say(
        f"Grid 1,000x1,000 TOROIDAL, {ROVERS} rovers; in-process, one thread "
        "(best of several runs where repeated)"
    )
    _say("[commands]")
    _single_commands()
    history, small, _ = _build_history()
    _say("[rehydration]")
    _replay(history)
    stored = [codec.encode(event) for event in history[:CODEC_SAMPLE]]
    big = Grid.from_events(history).snapshot()
    assert big.version == HISTORY
    loaded = Grid.from_snapshot(small, history[SMALL_HISTORY:])
    assert loaded.state == big.state, "snapshot + tail must equal full replay"
    # Free the big history first: a million live objects would make every garbage
    # collection in the measurements below slower, which no store read would suffer.
    del history, loaded
    gc.collect()
    _decode_and_replay(stored)
    _snapshot_loads(small, big)
    _say(f"  check: snapshot at {SMALL_HISTORY:,} + the rest of the history == full replay")


if __name__ == "__main__":
    main()
