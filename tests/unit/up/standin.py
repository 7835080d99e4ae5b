"""A stand-in child for the supervisor's tests: a gRPC health server that misbehaves on demand."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, help="append '<name>' here on SIGTERM")
    parser.add_argument("--not-serving", action="store_true")
    parser.add_argument("--serve-when", type=Path, help="NOT_SERVING until this file exists")
    parser.add_argument("--exit-after", type=float, default=0.0)
    parser.add_argument("--exit-when", type=Path, help="exit (with --exit-code) once this exists")
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--fail-at-start", action="store_true")
    parser.add_argument("--print-env", action="append", default=[], help="print NAME=value")
    args = parser.parse_args()
    for name in args.print_env:
        print(f"{name}={os.environ.get(name, '<unset>')}", flush=True)
    if args.fail_at_start:
        print(f"{args.name}: cannot open the frobnicator", flush=True)
        return 3
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    status = health_pb2.HealthCheckResponse
    waits = args.not_serving or args.serve_when is not None
    servicer.set("", status.NOT_SERVING if waits else status.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"{args.name}: serving on {args.port}", flush=True)
    terminated = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        if args.record is not None:
            with args.record.open("a") as record:
                record.write(f"{args.name}\n")
        if not args.ignore_term:
            terminated.set()

    signal.signal(signal.SIGTERM, on_term)
    waited = 0.0
    while not terminated.wait(0.05):
        waited += 0.05
        if args.serve_when is not None and args.serve_when.exists():
            servicer.set("", status.SERVING)
        due = args.exit_after and waited >= args.exit_after
        if due or (args.exit_when is not None and args.exit_when.exists()):
            print(f"{args.name}: giving up", flush=True)
            server.stop(0)
            return int(args.exit_code)
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
