"""Smoke test of the multi-instance benchmark (bench/bench_instances.py).

A ``--quick`` run with 1 and 2 instances of each service, tiny windows: it ends cleanly,
produces every figure for every instance count, and the clients' load reached every
instance (connections held on the shared port, CPU spent). No speed is asserted: speed
claims live only in the benchmark's output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.instances.fleet import SERVICES
from bench.instances.report import FIGURES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def test_a_quick_run_measures_every_figure_and_loads_every_instance(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    command = [sys.executable, "-m", "bench.bench_instances", "--quick", "--instances", "1,2"]
    completed = subprocess.run(
        [*command, "--seconds", "0.3", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = completed.stdout[-4000:] + completed.stderr[-4000:]
    assert completed.returncode == 0, output
    rounds = {r["instances"]: r for r in json.loads(figures.read_text())["rounds"]}
    assert sorted(rounds) == [1, 2]
    for count, measured in rounds.items():
        assert set(measured["figures"]) == set(FIGURES)
        for key, figure in measured["figures"].items():
            assert figure["rate"] > 0, (count, key, output)
            assert figure["baseline"] > 0, (count, key, output)
            assert figure["ratio"] > 0, (count, key, output)
        # correctness, not speed: every command on its own grid is accepted; no update is
        # lost or duplicated by the broadcaster instances
        assert measured["figures"]["commands"]["failed"] == 0
        assert measured["figures"]["deliveries"]["failed"] == 0
        for service in SERVICES:
            instances = measured["reach"][service]
            assert len(instances) == count, (service, instances)
            for label, reach in instances.items():
                assert reach["connections"] > 0, (count, label, reach)
                assert reach["cpu"] > 0, (count, label, reach)
        assert measured["reached"] == dict.fromkeys(SERVICES, True)
    assert "results" in completed.stdout
