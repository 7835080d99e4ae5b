"""Security benchmark (``python -m bench security``): what auth and TLS cost (issue 16).

Two set-ups in the same run, each service in a child process as in production:

- plain: the store without TLS or users, the services plaintext with auth off;
- secure: the store over TLS with users on (the services connect as the ``rover`` user, with
  ``make run-secure``'s grants, so every call of theirs is checked against an ACL), the
  services over TLS with static tokens, every call sending ``authorization: Bearer``.

A round measures plain then secure (secure first in odd rounds: alternating pairs, so drift
hits both); ratios secure / plain, medians over the rounds, of the rate and of the CPU time
per call of the service and its store together (/proc; steadier than a rate on a machine
whose cores the clients, Redis and other work share):

- commands/s, 16 clients of MoveRoverForward, one grid each (bench/command/workloads.py), the
  command service's publisher included (target: >= 0.85, i.e. under 15%);
- GetGridDetails/s on a 100-rover grid, 32 clients (target: >= 0.85).

``BENCH_SECURITY_QUICK=1``: 3 rounds of shorter runs.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bench.broadcaster.measure import cpu_seconds
from bench.command.workloads import command_rate
from bench.pairs import alternate
from bench.service_load import (
    COMMAND_CLIENTS,
    QUERY_CLIENTS,
    ROVERS,
    projected,
    query_load,
    run_lengths,
    seed_grid,
)
from bench.tracing.parties import Child
from protos.rover.v1 import query_pb2_grpc
from services.common.tls import channel_credentials
from services.up.certs import CertFiles, make_dev_certs
from services.up.secure import SERVICE_USER, grant_service_access
from standins.eventstore.process import EventStoreProcess
from tests.support.redis_server import RedisServer
from tests.support.stubs import command_stub

__all__ = ["main"]

ROUNDS, COMMAND_SECONDS, QUERY_SECONDS = run_lengths("BENCH_SECURITY_QUICK")
TARGET = 0.85  # secure costs under 15%
TOKEN = "bench-operator-token"
PASSWORDS = {"admin": "bench-admin", SERVICE_USER: "bench-rover"}


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class SetUp:
    """How the services reach the store, and how clients reach the services."""

    name: str
    store_uri: str
    service_env: dict[str, str]
    credentials: grpc.ChannelCredentials | None
    store_pid: int

    def channel(self, port: int) -> grpc.aio.Channel:
        target = f"localhost:{port}"
        if self.credentials is None:
            return grpc.aio.insecure_channel(target)
        return grpc.aio.secure_channel(target, self.credentials, interceptors=[_Token(TOKEN)])


class _Token(grpc.aio.UnaryUnaryClientInterceptor):
    """Sends ``authorization: Bearer <token>`` as call metadata, as the CLI and the example
    client do. (grpc's ``access_token_call_credentials`` sends the same header through a
    credentials plugin; measured here it cost the query service some 15% more CPU per call
    than the metadata, so clients should prefer metadata.)"""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()), self._header)
        return await continuation(client_call_details._replace(metadata=metadata), request)


@dataclass(frozen=True)
class Run:
    """One run: calls/s, and CPU microseconds per call of the service and its store."""

    rate: float
    cpu_us: float


def _secure(certs: CertFiles, port: int, pid: int) -> SetUp:
    uri = (
        f"esdb://{SERVICE_USER}:{PASSWORDS[SERVICE_USER]}@127.0.0.1:{port}"
        f"?Tls=true&TlsCaFile={certs.ca}"
    )
    env = {
        "ROVER_TLS_CERT_FILE": str(certs.server),
        "ROVER_TLS_KEY_FILE": str(certs.server_key),
        "ROVER_AUTH_TOKENS": json.dumps({TOKEN: "operator"}),
    }
    return SetUp("secure", uri, env, channel_credentials(str(certs.ca)), pid)


def _cpu(*pids: int) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


async def _commands(setup: SetUp) -> Run:
    child = Child("command", sampled=None, env={
        "ROVER_COMMAND_ADDRESS": "127.0.0.1:0", "ROVER_EVENTSTORE_URI": setup.store_uri,
        **setup.service_env})  # fmt: skip
    pids = (child.process.pid, setup.store_pid)
    try:
        async with setup.channel(child.port) as channel:
            before = _cpu(*pids)
            rate, latencies = await command_rate(
                command_stub(channel), COMMAND_CLIENTS, COMMAND_SECONDS
            )
            used = _cpu(*pids) - before
    finally:
        child.stop()
    return Run(rate, used * 1e6 / len(latencies))


async def _queries(setup: SetUp, redis_url: str, version: int) -> Run:
    child = Child("query", sampled=None, env={
        "ROVER_QUERY_ADDRESS": "127.0.0.1:0", "ROVER_EVENTSTORE_URI": setup.store_uri,
        "ROVER_REDIS_URL": redis_url, **setup.service_env})  # fmt: skip
    try:
        async with setup.channel(child.port) as channel:
            stub: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
                channel
            )
            await projected(stub, version)
            before = cpu_seconds(child.process.pid)
            rate, latencies = await query_load(stub, QUERY_SECONDS)
            used = cpu_seconds(child.process.pid) - before
    finally:
        child.stop()
    return Run(rate, used * 1e6 / len(latencies))


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _report(what: str, pairs: list[tuple[Run, Run]]) -> list[str]:
    rates = [secure.rate / plain.rate for secure, plain in pairs]
    cpus = [plain.cpu_us / secure.cpu_us for secure, plain in pairs]
    plain = statistics.median(p.rate for _, p in pairs)
    secure = statistics.median(s.rate for s, _ in pairs)
    met = "met" if statistics.median(cpus) >= TARGET else "MISSED"
    return [
        f"{what}: plain {plain:,.0f}/s, auth+TLS {secure:,.0f}/s; rate auth+TLS / plain "
        f"{_spread(rates)}",
        f"{what}: CPU per call plain / auth+TLS {_spread(cpus)} (the calls/s the same CPU "
        f"would serve); target >= {TARGET} (under 15%): {met}",
    ]


def _say_pairs(what: str, pairs: list[tuple[Run, Run]]) -> None:
    for secure, plain in pairs:
        _say(
            f"  {what} plain {plain.rate:,.0f}/s ({plain.cpu_us:,.0f} us CPU per call), "
            f"auth+TLS {secure.rate:,.0f}/s ({secure.cpu_us:,.0f} us)"
        )


async def main() -> None:
    certs, _ = make_dev_certs(Path(tempfile.mkdtemp(prefix="bench-certs-")))
    users = {
        "admin": {"password": PASSWORDS["admin"], "groups": ["$admins"]},
        SERVICE_USER: {"password": PASSWORDS[SERVICE_USER], "groups": []},
    }
    os.environ["ROVER_EVENTSTORE_USERS"] = json.dumps(users)  # the secure store's child reads it
    tls = ("--tls-cert", str(certs.server), "--tls-key", str(certs.server_key), "--auth")
    with (
        EventStoreProcess(db_path=None) as plain_store,
        EventStoreProcess(db_path=None, extra_args=tls) as secure_store,
        RedisServer() as plain_redis,
        RedisServer() as secure_redis,
    ):
        admin = (
            f"esdb://admin:{PASSWORDS['admin']}@127.0.0.1:{secure_store.port}"
            f"?Tls=true&TlsCaFile={certs.ca}"
        )
        await grant_service_access(admin)
        plain = SetUp("plain", plain_store.uri, {}, None, plain_store.pid)
        secure = _secure(certs, secure_store.port, secure_store.pid)
        version = await seed_grid(plain.store_uri)
        assert await seed_grid(admin) == version

        _say(f"commands: {COMMAND_CLIENTS} clients, {COMMAND_SECONDS:.0f} s a run, {ROUNDS} "
             "pairs of plain and auth+TLS ...")  # fmt: skip
        commands = await alternate(ROUNDS, lambda: _commands(secure), lambda: _commands(plain))
        _say_pairs("commands", commands)
        _say(f"GetGridDetails ({ROVERS} rovers): {QUERY_CLIENTS} clients, {QUERY_SECONDS:.0f} s "
             f"a run, {ROUNDS} pairs ...")  # fmt: skip
        queries = await alternate(
            ROUNDS,
            lambda: _queries(secure, secure_redis.url, version),
            lambda: _queries(plain, plain_redis.url, version),
        )
        _say_pairs("GetGridDetails", queries)
    for line in [*_report("commands/s", commands), *_report("GetGridDetails/s", queries)]:
        _say(line)
