"""Security benchmark (``python -m bench security``): what auth and TLS cost (issue 16).

Two set-ups in the same run, each service in a child process as in production:

- plain: the store without TLS or users, the services plaintext with auth off;
- secure: the store over TLS with users on (the services connect as the ``rover`` user, with
  ``make run-secure``'s grants, so every call of theirs is checked against an ACL), the
  services over TLS with static tokens, every call sending ``authorization: Bearer``.

A round measures plain then secure (secure first in odd rounds: alternating pairs, so drift
hits both); ratios secure / plain, medians over the rounds:

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from esdbclient import AsyncEventStoreDBClient

from bench.command.timing import timed
from bench.command.workloads import command_rate
from bench.pairs import alternate
from bench.tracing.parties import Child
from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.common.tls import channel_credentials
from services.up.certs import CertFiles, make_dev_certs
from services.up.secure import SERVICE_USER, grant_service_access
from standins.eventstore.process import EventStoreProcess
from tests.integration.query.conftest import publish
from tests.support.redis_server import RedisServer
from tests.support.stubs import command_stub
from tests.unit.query.seed import rover_walk

__all__ = ["main"]

QUICK = os.environ.get("BENCH_SECURITY_QUICK", "") not in ("", "0")
ROUNDS = 3 if QUICK else 5
COMMAND_SECONDS = 3.0 if QUICK else 6.0
QUERY_SECONDS = 2.0 if QUICK else 3.0
COMMAND_CLIENTS = 16
QUERY_CLIENTS = 32
ROVERS = 100
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

    def channel(self, port: int) -> grpc.aio.Channel:
        target = f"localhost:{port}"
        if self.credentials is None:
            return grpc.aio.insecure_channel(target)
        return grpc.aio.secure_channel(target, self.credentials)


def _secure(certs: CertFiles, port: int) -> SetUp:
    uri = (
        f"esdb://{SERVICE_USER}:{PASSWORDS[SERVICE_USER]}@127.0.0.1:{port}"
        f"?Tls=true&TlsCaFile={certs.ca}"
    )
    env = {
        "ROVER_TLS_CERT_FILE": str(certs.server),
        "ROVER_TLS_KEY_FILE": str(certs.server_key),
        "ROVER_AUTH_TOKENS": json.dumps({TOKEN: "operator"}),
    }
    credentials = grpc.composite_channel_credentials(
        channel_credentials(str(certs.ca)), grpc.access_token_call_credentials(TOKEN)
    )
    return SetUp("secure", uri, env, credentials)


async def _commands(setup: SetUp) -> float:
    child = Child("command", sampled=None, env={
        "ROVER_COMMAND_ADDRESS": "127.0.0.1:0", "ROVER_EVENTSTORE_URI": setup.store_uri,
        **setup.service_env})  # fmt: skip
    try:
        async with setup.channel(child.port) as channel:
            rate, _ = await command_rate(command_stub(channel), COMMAND_CLIENTS, COMMAND_SECONDS)
    finally:
        child.stop()
    return rate


async def _queries(setup: SetUp, redis_url: str, version: int) -> float:
    child = Child("query", sampled=None, env={
        "ROVER_QUERY_ADDRESS": "127.0.0.1:0", "ROVER_EVENTSTORE_URI": setup.store_uri,
        "ROVER_REDIS_URL": redis_url, **setup.service_env})  # fmt: skip
    try:
        async with setup.channel(child.port) as channel:
            stub: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
                channel
            )
            ready = query_pb2.GetGridDetailsRequest(grid_id="bench000", min_version=version)
            await stub.GetGridDetails(ready, timeout=120)  # projected before timing
            request = query_pb2.GetGridDetailsRequest(grid_id="bench000")

            def make(_: int) -> Callable[[], Awaitable[object]]:
                return lambda: stub.GetGridDetails(request)

            rate, _ = await timed(QUERY_CLIENTS, QUERY_SECONDS, make)
    finally:
        child.stop()
    return rate


async def _seed(uri: str) -> int:
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    history = rover_walk("bench000", rovers=ROVERS, moves=400)
    for start in range(0, len(history), 500):
        await publish(client, history[start : start + 500])
    await client.close()
    return len(history)


def _report(what: str, pairs: list[tuple[float, float]]) -> str:
    ratios = [secure / plain for secure, plain in pairs]
    ratio = statistics.median(ratios)
    met = "met" if ratio >= TARGET else "MISSED"
    plain = statistics.median(p for _, p in pairs)
    secure = statistics.median(s for s, _ in pairs)
    return (
        f"{what}: plain {plain:,.0f}/s, auth+TLS {secure:,.0f}/s; auth+TLS / plain "
        f"{ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f}); cost {1 - ratio:.0%}; target "
        f">= {TARGET} (under 15%): {met}"
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
        plain = SetUp("plain", plain_store.uri, {}, None)
        secure = _secure(certs, secure_store.port)
        version = await _seed(plain.store_uri)
        assert await _seed(admin) == version

        _say(f"commands: {COMMAND_CLIENTS} clients, {COMMAND_SECONDS:.0f} s a run, {ROUNDS} "
             "pairs of plain and auth+TLS ...")  # fmt: skip
        commands = await alternate(ROUNDS, lambda: _commands(secure), lambda: _commands(plain))
        for secure_rate, plain_rate in commands:
            _say(f"  commands/s plain {plain_rate:,.0f}, auth+TLS {secure_rate:,.0f}")
        _say(f"GetGridDetails ({ROVERS} rovers): {QUERY_CLIENTS} clients, {QUERY_SECONDS:.0f} s "
             f"a run, {ROUNDS} pairs ...")  # fmt: skip
        queries = await alternate(
            ROUNDS,
            lambda: _queries(secure, secure_redis.url, version),
            lambda: _queries(plain, plain_redis.url, version),
        )
        for secure_rate, plain_rate in queries:
            _say(f"  GetGridDetails/s plain {plain_rate:,.0f}, auth+TLS {secure_rate:,.0f}")
    _say(_report("commands/s", commands))
    _say(_report("GetGridDetails/s", queries))
