"""The supervisor with stand-in children: start order, readiness, reverse stop, deaths."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from services.up.plan import ChildSpec, Endpoint
from services.up.probes import GrpcHealthProbe, redis_pong
from services.up.redis_binary import find_redis_server
from services.up.supervisor import Supervisor, tail

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[3]
SUPERVISE = Path(__file__).with_name("supervise.py")

Standin = Callable[..., ChildSpec]


def _text(path: Path) -> str:
    return path.read_text()


def _names(record: Path) -> list[str]:
    return _text(record).split()


async def _run_until_ready_then_stop(supervisor: Supervisor) -> tuple[int, bool]:
    stop = asyncio.Event()
    became_ready = False

    def ready() -> None:
        nonlocal became_ready
        became_ready = True
        stop.set()

    status = await asyncio.wait_for(supervisor.run(stop, ready), 60)
    return status, became_ready


async def test_starts_in_order_and_stops_in_reverse(standin: Standin, record: Path) -> None:
    children = [standin("first"), standin("second"), standin("third")]
    supervisor = Supervisor(children, start_timeout=20)
    status, ready = await _run_until_ready_then_stop(supervisor)
    assert (status, ready) == (0, True)
    assert supervisor.stopped == ["third", "second", "first"]
    assert _names(record) == ["third", "second", "first"]
    assert "first: serving on" in _text(children[0].log_path)


async def test_a_child_that_never_serves_fails_startup_by_name(
    standin: Standin, record: Path
) -> None:
    children = [standin("store"), standin("stuck", "--not-serving"), standin("never")]
    supervisor = Supervisor(children, start_timeout=1.5)
    status, ready = await _run_until_ready_then_stop(supervisor)
    assert (status, ready) == (1, False)
    assert supervisor.stopped == ["stuck", "store"]  # "never" was never started
    assert _names(record) == ["stuck", "store"]


async def test_a_child_that_exits_while_starting_is_reported_with_its_log(
    standin: Standin,
) -> None:
    children = [standin("store"), standin("broken", "--fail-at-start")]
    supervisor = Supervisor(children, start_timeout=20)
    errors: list[str] = []
    original = supervisor._wait_ready

    async def spy(child: object, stop: asyncio.Event) -> None:
        try:
            await original(child, stop)  # type: ignore[arg-type]
        except Exception as error:
            errors.append(str(error))
            raise

    supervisor._wait_ready = spy  # type: ignore[method-assign]
    status, ready = await _run_until_ready_then_stop(supervisor)
    assert (status, ready) == (1, False)
    assert len(errors) == 1
    assert "broken exited with code 3 while starting" in errors[0]
    assert str(children[1].log_path) in errors[0]
    assert "cannot open the frobnicator" in errors[0]
    assert supervisor.stopped == ["broken", "store"]


async def test_a_child_dying_stops_the_others_and_fails(
    standin: Standin, record: Path, tmp_path: Path
) -> None:
    # flaky dies only once everything is up (not after a delay, which a slow box can outrun).
    everyone_ready = tmp_path / "everyone-ready"
    children = [
        standin("store"),
        standin("flaky", "--exit-when", str(everyone_ready), "--exit-code", "4"),
        standin("last"),
    ]
    supervisor = Supervisor(children, start_timeout=20)
    stop = asyncio.Event()
    status = await asyncio.wait_for(supervisor.run(stop, on_ready=everyone_ready.touch), 60)
    assert status == 1
    assert not stop.is_set()
    assert supervisor.stopped == ["last", "flaky", "store"]
    assert _names(record) == ["last", "store"]  # flaky was already gone


async def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(
    standin: Standin, record: Path
) -> None:
    children = [standin("store"), standin("stubborn", "--ignore-term")]
    supervisor = Supervisor(children, start_timeout=20, stop_timeout=0.5)
    status, ready = await _run_until_ready_then_stop(supervisor)
    assert (status, ready) == (1, True)
    assert supervisor.stopped == ["stubborn", "store"]


async def test_stop_requested_during_startup_stops_what_started(standin: Standin) -> None:
    children = [standin("store"), standin("slow", "--not-serving")]
    supervisor = Supervisor(children, start_timeout=30)
    stop = asyncio.Event()

    async def stop_once_slow_is_up_but_not_ready() -> None:
        # Wait for the event, not a delay: on a loaded box "slow" may start late.
        log = children[1].log_path
        while not (log.exists() and "slow: serving on" in _text(log)):  # noqa: ASYNC110 - a file
            await asyncio.sleep(0.05)
        stop.set()

    stopper = asyncio.create_task(stop_once_slow_is_up_but_not_ready())
    status = await asyncio.wait_for(supervisor.run(stop), 30)
    await stopper
    assert status == 0
    assert supervisor.stopped == ["slow", "store"]


async def test_redis_child_is_ready_when_it_answers_ping(tmp_path: Path) -> None:
    port = free_port()
    redis = ChildSpec(
        name="redis",
        argv=(find_redis_server(), "--port", str(port), "--save", "", "--appendonly", "no"),
        endpoint=Endpoint("127.0.0.1", port, "ROVER_REDIS_PORT"),
        probe="redis",
        log_path=tmp_path / "redis.log",
    )
    supervisor = Supervisor([redis], start_timeout=20)
    status, ready = await _run_until_ready_then_stop(supervisor)
    assert (status, ready) == (0, True)
    assert "Ready to accept connections" in _text(redis.log_path)


async def test_probes_say_no_when_nothing_listens() -> None:
    port = free_port()
    assert not await redis_pong("127.0.0.1", port, 0.5)
    probe = GrpcHealthProbe(f"127.0.0.1:{port}")
    try:
        assert not await probe(0.3)
    finally:
        await probe.close()


def test_tail_reads_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 2) == "line 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""


def _instances(standin: Standin, service: str, count: int, *flags: str) -> list[ChildSpec]:
    """``count`` stand-ins planned as instances of one service (each on a port of its own)."""
    return [
        replace(standin(f"{service}-{n}", *flags), service=service, restart=True)
        for n in range(1, count + 1)
    ]


async def _until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _serving(spec: ChildSpec) -> bool:
    probe = GrpcHealthProbe(spec.probe_address)
    try:
        return await probe(2.0)
    finally:
        await probe.close()


async def test_an_instance_that_dies_is_restarted_while_the_others_serve(
    standin: Standin, record: Path
) -> None:
    store = standin("store")
    first, second = _instances(standin, "svc", 2)
    supervisor = Supervisor([store, first, second], start_timeout=20, restart_delay=0.3)
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop, ready.set))
    await asyncio.wait_for(ready.wait(), 60)
    killed = supervisor.running()["svc-1"]
    os.kill(killed, signal.SIGKILL)
    await _until(lambda: supervisor.pending_restarts() == ["svc-1"])
    assert await _serving(second)
    await _until(lambda: supervisor.running().get("svc-1", killed) != killed)
    await _until(lambda: supervisor.pending_restarts() == [])  # ready again
    assert await _serving(first)
    assert supervisor.restarted == ["svc-1"]
    assert not running.done()
    assert _text(first.log_path).count("services.up restarts svc-1") == 1
    stop.set()
    assert await asyncio.wait_for(running, 60) == 0
    assert supervisor.stopped == ["svc-2", "svc-1", "store"]
    assert _names(record) == ["svc-2", "svc-1", "store"]


async def test_a_crash_looping_instance_is_retried_until_it_serves(
    standin: Standin, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    flaky, steady = _instances(standin, "svc", 2, "--exit-when", str(broken), "--exit-code", "4")
    supervisor = Supervisor(
        [flaky, replace(steady, argv=steady.argv[:-4])],  # steady never looks at the file
        start_timeout=20,
        restart_delay=0.1,
        restart_delay_max=0.4,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop, ready.set))
    await asyncio.wait_for(ready.wait(), 60)
    broken.touch()
    await _until(lambda: len(supervisor.restarted) >= 3)
    assert set(supervisor.restarted) == {"svc-1"}
    assert await _serving(steady)
    broken.unlink()
    await _until(lambda: "svc-1" in supervisor.running() and not supervisor.pending_restarts())
    assert await _serving(flaky)
    stop.set()
    assert await asyncio.wait_for(running, 60) == 0


async def test_a_stop_while_an_instance_waits_for_its_restart_is_clean(
    standin: Standin,
) -> None:
    first, second = _instances(standin, "svc", 2)
    supervisor = Supervisor([first, second], start_timeout=20, restart_delay=30)
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop, ready.set))
    await asyncio.wait_for(ready.wait(), 60)
    os.kill(supervisor.running()["svc-2"], signal.SIGKILL)
    await _until(lambda: supervisor.pending_restarts() == ["svc-2"])
    stop.set()
    assert await asyncio.wait_for(running, 20) == 0  # not after the 30 s backoff
    assert supervisor.restarted == []
    assert supervisor.stopped == ["svc-2", "svc-1"]


async def test_a_single_service_dying_still_stops_everything(
    standin: Standin, tmp_path: Path
) -> None:
    everyone_ready = tmp_path / "everyone-ready"
    children = [
        *_instances(standin, "svc", 2),
        standin("single", "--exit-when", str(everyone_ready), "--exit-code", "4"),
    ]
    supervisor = Supervisor(children, start_timeout=20, restart_delay=0.1)
    status = await asyncio.wait_for(
        supervisor.run(asyncio.Event(), on_ready=everyone_ready.touch), 60
    )
    assert status == 1
    assert supervisor.restarted == []
    assert supervisor.stopped == ["single", "svc-2", "svc-1"]


async def test_instances_of_one_service_start_together(standin: Standin, tmp_path: Path) -> None:
    go = tmp_path / "go"
    children = [*_instances(standin, "svc", 3, "--serve-when", str(go)), standin("next")]
    supervisor = Supervisor(children, start_timeout=30)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop, stop.set))
    # All three run before any is ready; the next service waits for all three.
    await _until(lambda: set(supervisor.running()) == {"svc-1", "svc-2", "svc-3"})
    go.touch()
    assert await asyncio.wait_for(running, 60) == 0
    assert supervisor.stopped == ["next", "svc-3", "svc-2", "svc-1"]


def test_a_restarted_instance_still_dies_with_the_supervisor(
    standin: Standin, tmp_path: Path
) -> None:
    """A restart goes through the parent-death launcher too: no orphan holds the port."""
    state = tmp_path / "running.json"
    children = [
        {
            "name": spec.name,
            "argv": list(spec.argv),
            "endpoint": [spec.endpoint.host, spec.endpoint.port, spec.endpoint.setting],
            "probe": spec.probe,
            "log_path": str(spec.log_path),
            "service": spec.service,
            "restart": spec.restart,
        }
        for spec in _instances(standin, "svc", 2)
    ]
    supervisor = subprocess.Popen(
        [sys.executable, str(SUPERVISE), "--state", str(state), json.dumps(children)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    def running() -> dict[str, int]:
        assert supervisor.poll() is None
        return json.loads(state.read_text()) if state.exists() else {}

    orphans: dict[str, int] = {}
    try:
        _wait(lambda: set(running()) == {"svc-1", "svc-2"})
        first = running()["svc-1"]
        os.kill(first, signal.SIGKILL)
        _wait(lambda: running().get("svc-1", first) != first)
        orphans = running()  # svc-2 as first started, svc-1 restarted
        supervisor.kill()
        supervisor.wait(timeout=10)
        # The launcher armed SIGTERM on the supervisor's death, in the restart too.
        _wait(lambda: all(_gone(pid) for pid in orphans.values()))
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
        for pid in orphans.values():  # only if the test failed: none may outlive it
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def _wait(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its new parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError):
        return True


async def test_children_start_from_the_environment_it_is_given(
    standin: Standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROVER_TLS_CERT_FILE", "/from/the/shell.pem")
    child = standin("only", "--print-env", "ROVER_TLS_CERT_FILE", "--print-env", "KEPT")
    given = {k: v for k, v in os.environ.items() if k != "ROVER_TLS_CERT_FILE"}
    supervisor = Supervisor([child], start_timeout=20, environ={**given, "KEPT": "yes"})
    status, ready = await _run_until_ready_then_stop(supervisor)
    assert (status, ready) == (0, True)
    log = _text(child.log_path)
    assert "ROVER_TLS_CERT_FILE=<unset>" in log
    assert "KEPT=yes" in log
