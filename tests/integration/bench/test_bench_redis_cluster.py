"""Smoke test of the Redis Cluster benchmark (bench/bench_redis_cluster.py): a tiny run ends
cleanly and prints every figure. No speed is asserted: speed claims live only in the
benchmark's output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def test_a_tiny_run_prints_both_ratios_and_the_key_spread() -> None:
    env = os.environ | {
        "BENCH_REDIS_CLUSTER_EVENTS": "600",
        "BENCH_REDIS_CLUSTER_PAIRS": "1",
        "BENCH_REDIS_CLUSTER_SECONDS": "0.3",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "redis_cluster"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = completed.stdout[-4000:] + completed.stderr[-4000:]
    assert completed.returncode == 0, output
    assert re.search(r"catch-up projection: .* cluster / single = \d+\.\d\dx", output), output
    assert re.search(r"GetGridDetails .* cluster / single = \d+\.\d\dx", output), output
    spread = re.search(r"key spread over its 3 masters: (.*)", output)
    assert spread is not None, output
    counts = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) \(", spread.group(1))]
    assert len(counts) == 3
    assert all(counts), f"a master holds no key: {counts}"
