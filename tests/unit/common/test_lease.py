"""hold_and_run: work runs on one holder at a time, stops when the lease is lost, hands over."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable

import pytest

from services.common.lease import LeaseLostError, LeaseTiming, hold_and_run, holder_is_gone
from services.common.memory_lease import InMemoryLease, LeaseCell

FAST = LeaseTiming(ttl=0.4, renew_every=0.05, retry_every=0.05)


class Worker:
    """Work that records whether it is running."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0
        self.changes: list[bool] = []

    async def __call__(self) -> None:
        self.running = True
        self.starts += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(round(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition()


@contextlib.asynccontextmanager
async def instance(lease: InMemoryLease, worker: Worker):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(
        hold_and_run("test", lease, worker, FAST, on_change=worker.changes.append)
    )
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_one_of_two_instances_works_and_the_other_takes_over_when_it_stops() -> None:
    cell = LeaseCell()
    first, second = Worker(), Worker()
    async with instance(InMemoryLease(cell, ttl=FAST.ttl), first):
        await until(lambda: first.running)
        async with instance(InMemoryLease(cell, ttl=FAST.ttl), second):
            await asyncio.sleep(FAST.ttl * 2)  # renewals keep the first one active
            assert first.running
            assert not second.running
    assert not first.running
    assert first.changes == [True, False]
    # the first released on stop: nobody holds it now
    assert cell.holder == ""


async def test_a_stopped_holder_hands_over_at_once() -> None:
    cell = LeaseCell()
    first, second = Worker(), Worker()
    async with instance(InMemoryLease(cell, ttl=60), second) as standby:
        await until(lambda: second.running)
        del standby
    async with instance(InMemoryLease(cell, ttl=60), first):
        await until(lambda: first.running, within=1.0)  # not after the 60 s ttl


async def test_a_holder_that_cannot_renew_stops_working_within_its_ttl() -> None:
    cell = LeaseCell()
    lease = InMemoryLease(cell, ttl=FAST.ttl)
    worker = Worker()
    async with instance(lease, worker):
        await until(lambda: worker.running)

        async def broken() -> bool:
            raise OSError("store unreachable")

        lease.renew = broken  # type: ignore[method-assign]
        await until(lambda: len(worker.changes) >= 2, within=FAST.ttl * 4)
        assert worker.changes[:2] == [True, False]  # (then re-acquired: the store answers)


async def test_a_lease_taken_over_cancels_the_work() -> None:
    cell = LeaseCell()
    worker = Worker()
    async with instance(InMemoryLease(cell, ttl=FAST.ttl), worker):
        await until(lambda: worker.running)
        thief = InMemoryLease(cell, ttl=0.0)  # sees every lease as expired
        assert await thief.acquire()
        await until(lambda: not worker.running)
        assert worker.changes[:2] == [True, False]
        await thief.release()
        await until(lambda: worker.running)  # free again: it becomes active once more
        assert worker.starts == 2


async def test_work_refused_a_fenced_write_stands_by_and_tries_again() -> None:
    cell = LeaseCell()
    lease = InMemoryLease(cell, ttl=FAST.ttl)
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LeaseLostError("refused")
        await asyncio.Event().wait()

    task = asyncio.create_task(hold_and_run("test", lease, work, FAST))
    try:
        await until(lambda: calls == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_any_other_failure_of_the_work_propagates_and_releases() -> None:
    cell = LeaseCell()
    lease = InMemoryLease(cell, ttl=60)

    async def work() -> None:
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        await hold_and_run("test", lease, work, FAST)
    assert cell.holder == ""


def test_timing_is_checked() -> None:
    with pytest.raises(ValueError, match="renew_every"):
        LeaseTiming(ttl=1.0, renew_every=1.0)
    assert LeaseTiming.for_ttl(5.0).renew_every == 1.0
    assert LeaseTiming.for_ttl(0.5).renew_every == 0.125


def test_only_a_dead_process_of_this_host_is_gone() -> None:
    host = socket.gethostname()
    assert not holder_is_gone(f"{host}:{os.getpid()}:x")
    assert not holder_is_gone("elsewhere:1:x")
    assert not holder_is_gone("")
    assert holder_is_gone(f"{host}:{2**22 + 12345}:x")  # above Linux's pid_max: no such pid
