"""Event store figures, each a ratio against a bare grpc.aio server measured in the same run.

Both servers run as child processes and are driven by the SAME esdbclient calls, so a ratio
isolates what our server costs per call: the baseline is a grpc.aio Streams servicer that
answers every call with a prebuilt message (no storage). Each ratio is the median of >= 5
alternating (ours, baseline) pairs. Run: ``python -m bench eventstore``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.protos.Grpc import shared_pb2, streams_pb2, streams_pb2_grpc

from standins.eventstore import convert
from standins.eventstore.log import RecordedEvent
from standins.eventstore.positions import record_size
from standins.eventstore.process import EventStoreProcess
from standins.eventstore.storage import SqliteEventLog

__all__ = ["main"]

PAIRS = 5
WINDOW = 1.0  # seconds per measurement
READ_COUNT = 20_000
BIG = 1_000_000
_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- baseline server
def serve_baseline() -> None:
    """Child process: a bare grpc.aio Streams servicer with prebuilt answers."""
    position = streams_pb2.AppendResp.Position(commit_position=7, prepare_position=7)
    append = streams_pb2.AppendResp(
        success=streams_pb2.AppendResp.Success(current_revision=1, position=position)
    )
    batch_success = streams_pb2.BatchAppendResp.Success(current_revision=1)
    batch_success.position.commit_position = 7
    event = RecordedEvent(
        7, "bench", 1, str(uuid.uuid4()), "Bench", True, b'{"n": 1}', b"", time.time_ns() // 100
    )
    reads = [convert.read_event(event, structured=False) for _ in range(READ_COUNT)]

    class Bare(streams_pb2_grpc.StreamsServicer):
        async def Append(self, requests: Any, context: Any) -> Any:  # noqa: N802
            async for _ in requests:
                pass
            return append

        async def BatchAppend(self, requests: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
            async for request in requests:
                yield streams_pb2.BatchAppendResp(
                    correlation_id=request.correlation_id,
                    stream_identifier=shared_pb2.StreamIdentifier(stream_name=b"bench"),
                    success=batch_success,
                )

        async def Read(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
            for message in reads[: request.options.count]:
                yield message

    async def run() -> None:
        server = grpc.aio.server()
        streams_pb2_grpc.add_StreamsServicer_to_server(Bare(), server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"PORT {port}", flush=True)
        await server.wait_for_termination()

    asyncio.run(run())


class Baseline:
    """The baseline server child process."""

    def __enter__(self) -> Baseline:
        code = "from bench.bench_eventstore import serve_baseline; serve_baseline()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=_ROOT, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.uri = f"esdb://127.0.0.1:{int(line.split()[1])}?Tls=false"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait()


# --------------------------------------------------------------------------- measurement
def _rate(
    uri: str, writers: int, make_call: Callable[[EventStoreDBClient], Callable[[], int]]
) -> float:
    """Calls per second of ``writers`` threads sharing one client, over ``WINDOW`` seconds."""
    client = EventStoreDBClient(uri)
    counts = [0] * writers
    start = threading.Barrier(writers + 1)

    def work(index: int) -> None:
        call = make_call(client)
        call()  # warm the channel
        start.wait()
        deadline = time.perf_counter() + WINDOW
        while time.perf_counter() < deadline:
            counts[index] += call()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    client.close()
    return sum(counts) / elapsed


def _single_append(client: EventStoreDBClient) -> Callable[[], int]:
    stream = f"bench-{uuid.uuid4().hex}"

    def call() -> int:
        event = NewEvent(type="Bench", data=b'{"n": 1}')
        client.append_event(stream, current_version=StreamState.ANY, event=event)
        return 1

    return call


def _batch_append(client: EventStoreDBClient) -> Callable[[], int]:
    stream = f"bench-{uuid.uuid4().hex}"

    def call() -> int:
        batch = [NewEvent(type="Bench", data=b'{"n": 1}') for _ in range(100)]
        client.append_to_stream(stream, current_version=StreamState.ANY, events=batch)
        return 100

    return call


def _read_all(client: EventStoreDBClient) -> Callable[[], int]:
    def call() -> int:
        return sum(1 for _ in client.read_all(limit=READ_COUNT))

    return call


def _pairs(
    label: str,
    ours: Callable[[], float],
    bare: Callable[[], float],
    unit: str,
    names: tuple[str, str] = ("ours", "bare"),
) -> float:
    ratios, our_rates, bare_rates = [], [], []
    for index in range(PAIRS):
        first, second = (ours, bare) if index % 2 == 0 else (bare, ours)
        a, b = first(), second()
        mine, base = (a, b) if index % 2 == 0 else (b, a)
        our_rates.append(mine)
        bare_rates.append(base)
        ratios.append(mine / base)
    ratio = statistics.median(ratios)
    print(
        f"  {label:<36} {names[0]} {statistics.median(our_rates):>9,.0f} {unit}  "
        f"{names[1]} {statistics.median(bare_rates):>9,.0f} {unit}  ratio {ratio:.2f}x",
        flush=True,
    )
    return ratio


# --------------------------------------------------------------------------- stores
def _build_store(path: str, events: int) -> None:
    """Fill a store by direct SQLite insertion (100 events per stream), at log offsets."""
    log = SqliteEventLog(path, durable=False)  # schema and seed event
    position = log.end
    log.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    created = time.time_ns() // 100
    chunk = 100_000
    for base in range(0, events, chunk):
        rows = []
        for n in range(min(chunk, events - base)):
            stream = f"filler-{(base + n) // 100}"
            rows.append(
                (
                    position,
                    stream,
                    (base + n) % 100,
                    str(uuid.uuid4()),
                    "Filler",
                    1,
                    b'{"n": 1}',
                    b"",
                    created,
                )
            )
            position += record_size(stream, "Filler", b'{"n": 1}', b"")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
        if events >= chunk:
            print(f"    built {base + len(rows):,} / {events:,} events", flush=True)
    conn.close()


def _latency(uri: str, seconds: float = 5.0, rate: int = 200) -> tuple[float, float]:
    """p50/p99 in ms from an append's acknowledgement to its delivery to a live subscriber."""
    appender, subscriber = EventStoreDBClient(uri), EventStoreDBClient(uri)
    stream = f"latency-{uuid.uuid4().hex}"
    acked: dict[uuid.UUID, float] = {}
    received: dict[uuid.UUID, float] = {}
    total = int(seconds * rate)
    subscription = subscriber.subscribe_to_stream(stream, timeout=seconds + 30)

    def listen() -> None:
        for event in subscription:
            received[event.id] = time.perf_counter()
            if len(received) == total:
                break

    listener = threading.Thread(target=listen)
    listener.start()
    began = time.perf_counter()
    for n in range(total):
        time.sleep(max(0.0, began + n / rate - time.perf_counter()))
        event = NewEvent(type="Latency", data=b"{}")
        appender.append_event(stream, current_version=StreamState.ANY, event=event)
        acked[event.id] = time.perf_counter()
    listener.join()
    subscription.stop()
    appender.close()
    subscriber.close()
    delays = sorted(max(0.0, received[i] - acked[i]) * 1000 for i in acked)
    return delays[len(delays) // 2], delays[int(len(delays) * 0.99)]


def main() -> None:
    """Run every figure and print it."""
    print(f"ratios: median of {PAIRS} alternating pairs of {WINDOW:.0f} s windows", flush=True)
    with tempfile.TemporaryDirectory() as tmp, Baseline() as bare:
        small = os.path.join(tmp, "small.sqlite")
        _build_store(small, 1_000)
        with EventStoreProcess(small) as ours:
            print("single-event appends (Append, fsync'd before the reply):", flush=True)
            for writers in (1, 32):
                _pairs(
                    f"{writers} concurrent writer(s)",
                    functools.partial(_rate, ours.uri, writers, _single_append),
                    functools.partial(_rate, bare.uri, writers, _single_append),
                    "appends/s",
                )
            print("BatchAppend, 100-event batches:", flush=True)
            _pairs(
                "4 concurrent writers",
                lambda: _rate(ours.uri, 4, _batch_append),
                lambda: _rate(bare.uri, 4, _batch_append),
                "events/s",
            )
            p50, p99 = _latency(ours.uri)
            print(
                f"live delivery, 200 appends/s: ack -> received p50 {p50:.2f} ms, p99 {p99:.2f} ms"
                " (target p99 < 20 ms; 0 = delivered before the ack returned)",
                flush=True,
            )
        print(f"building a {BIG:,}-event store by direct SQLite insertion ...", flush=True)
        big = os.path.join(tmp, "big.sqlite")
        _build_store(big, BIG)
        small_fresh = os.path.join(tmp, "small2.sqlite")
        _build_store(small_fresh, 1_000)
        with EventStoreProcess(big) as large, EventStoreProcess(small_fresh) as little:
            print("catch-up read of $all (20,000 events per read):", flush=True)
            _pairs(
                "read_all",
                lambda: _rate(large.uri, 1, _read_all),
                lambda: _rate(bare.uri, 1, _read_all),
                "events/s",
            )
            print(
                "store size: 8 writers of single-event appends, 1,000,000 vs 1,000 events:",
                flush=True,
            )
            ratio = _pairs(
                "1M-event store / 1k-event store",
                lambda: _rate(large.uri, 8, _single_append),
                lambda: _rate(little.uri, 8, _single_append),
                "appends/s",
                names=("1M", "1k"),
            )
            print(
                f"  appends/s at 1M events are {(1 - ratio) * 100:+.0f}% lower (target <= 20%)",
                flush=True,
            )


if __name__ == "__main__":
    main()
