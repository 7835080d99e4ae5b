"""Smoke test of the command inbox benchmark (bench/bench_inbox.py): a tiny run ends cleanly
and prints every figure with its ratio. No speed is asserted (speed lives in bench/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def test_a_tiny_run_prints_throughput_and_latency_with_ratios() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.bench_inbox", "--rate", "40", "--seconds", "0.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = completed.stdout[-4000:] + completed.stderr[-4000:]
    assert completed.returncode == 0, output
    assert "ratio inbox/gRPC" in completed.stdout, output
    assert "at 40 commands/s: inbox acknowledged -> reply p50" in completed.stdout, output
