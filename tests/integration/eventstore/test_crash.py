"""Crash safety: appends while the server is SIGKILLed and restarted lose and split nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState

from tests.integration.eventstore.conftest import ProcessFactory

pytestmark = pytest.mark.slow
BATCH = 3


class Writer(threading.Thread):
    """Appends 3-event batches until stopped or the server goes away."""

    def __init__(self, uri: str, stream: str) -> None:
        super().__init__(daemon=True)
        self.uri = uri
        self.stream = stream
        self.acked: list[list[str]] = []
        self.attempted: list[list[str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        client = EventStoreDBClient(self.uri)
        try:
            while not self.halt.is_set():
                batch = [NewEvent(type="Crash", data=b"{}", id=uuid.uuid4()) for _ in range(BATCH)]
                ids = [str(e.id) for e in batch]
                self.attempted.append(ids)
                try:
                    client.append_to_stream(
                        self.stream, current_version=StreamState.ANY, events=batch
                    )
                except Exception:
                    return  # the server died: this batch's outcome is unknown
                self.acked.append(ids)
        finally:
            client.close()


def _wait_for_acks(writers: list[Writer], at_least: int) -> None:
    while sum(len(w.acked) for w in writers) < at_least and any(w.is_alive() for w in writers):
        time.sleep(0.01)


def test_kill_9_keeps_every_acknowledged_append_exactly_once(
    eventstore_process: ProcessFactory, tmp_path: Path
) -> None:
    process = eventstore_process(str(tmp_path / "crash.sqlite"))
    writers: list[Writer] = []
    for _cycle in range(3):
        cycle = [Writer(process.uri, f"crash-{uuid.uuid4().hex}") for _ in range(3)]
        writers += cycle
        for writer in cycle:
            writer.start()
        _wait_for_acks(cycle, at_least=150)
        process.kill()
        for writer in cycle:
            writer.halt.set()
            writer.join()
        process.restart()

    client = EventStoreDBClient(process.uri)
    try:
        for writer in writers:
            stored = [str(e.id) for e in client.get_stream(writer.stream)]
            counts = Counter(stored)
            assert all(n == 1 for n in counts.values()), "an event was stored twice"
            for ids in writer.acked:
                assert all(counts[i] == 1 for i in ids), "an acknowledged event was lost"
            for ids in writer.attempted:
                present = [i in counts for i in ids]
                assert all(present) or not any(present), "a partial append is visible"
                if all(present):
                    start = stored.index(ids[0])
                    assert stored[start : start + BATCH] == ids, "an append was split"
            assert len(stored) % BATCH == 0
    finally:
        client.close()
