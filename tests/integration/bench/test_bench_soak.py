"""Smoke test of the memory soak (bench/bench_soak.py) and its levelling-off rule.

A 15-second run of the whole system: it ends cleanly with no failed call and reports every
process. No memory figure is asserted: a real soak is 30 minutes (docs/operations.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_soak import MiB, levels_off
from tests.e2e.system import START_ORDER

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def test_growth_that_slows_levels_off_and_steady_growth_does_not() -> None:
    slowing = [(minute, (100 + 10 * min(minute, 5)) * MiB) for minute in range(15)]
    steady = [(minute, (100 + 3 * minute) * MiB) for minute in range(15)]
    flat = [(minute, 100 * MiB) for minute in range(15)]
    assert levels_off(slowing)[2]
    assert not levels_off(steady)[2]
    assert levels_off(flat) == (0.0, 0.0, True)


def test_a_short_soak_drives_the_whole_system_and_reports_every_process() -> None:
    command = [sys.executable, "-m", "bench", "soak", "--minutes", "0.25"]
    completed = subprocess.run(
        [*command, "--sample-seconds", "5", "--rate", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = completed.stdout
    assert ", 0 failures" in report, report
    for name in ["services.up", *START_ORDER]:
        assert any(line.strip().startswith(f"{name} ") and "MiB/min" in line
                   for line in report.splitlines()), report  # fmt: skip
