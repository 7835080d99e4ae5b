"""The multi-instance benchmark's figures: one round per instance count, a table, JSON."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.instances.usage import group

__all__ = ["FIGURES", "Figure", "Reach", "Round", "cores", "table", "write_json"]

FIGURES = {  # key -> (what, its baseline)
    "commands": ("commands/s, 64 clients on 64 grids", "raw appends, 64 appenders"),
    "one grid": ("commands/s, 64 clients on one grid", "raw appends, 64 appenders"),
    "details": ("GetGridDetails/s, 64 clients", "bare echo"),
    "deliveries": ("deliveries/s, 1,000 watchers", "bare fan-out"),
}


@dataclass
class Figure:
    """A contender's runs against its baseline's, in one round; CPU over the contender's runs."""

    rates: list[float]
    baselines: list[float]
    ratio: float  # median of the pairs' ratios
    failed: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # label -> CPU seconds, all runs
    seconds: float = 0.0  # the runs' windows together
    backlog: float = 0.0  # the longest wait after a contender's run until the services idled

    @property
    def rate(self) -> float:
        """The median rate of the contender's runs."""
        return statistics.median(self.rates)

    @property
    def baseline(self) -> float:
        """The median rate of the baseline's runs."""
        return statistics.median(self.baselines)

    def cores(self) -> str:
        """Cores busy per party during the contender's runs, the service's instances listed."""
        return cores(self.cpu, self.seconds)


def cores(cpu: dict[str, float], seconds: float) -> str:
    """``cpu`` (label -> CPU seconds over ``seconds``) as cores busy per party, each party's
    processes in brackets when it has several; parties under 0.005 cores are left out."""
    busy: dict[str, list[float]] = defaultdict(list)
    for label, spent in cpu.items():
        busy[group(label)].append(spent / seconds)
    parts = []
    for party, each in busy.items():
        if sum(each) < 0.005:
            continue
        detail = f" [{' '.join(f'{c:.2f}' for c in each)}]" if len(each) > 1 else ""
        parts.append(f"{party} {sum(each):.2f}{detail}")
    return ", ".join(parts) + f" = {sum(cpu.values()) / seconds:.2f}"


@dataclass
class Reach:
    """How much of the load one instance got: connections held on the shared port (the most
    at once) and CPU seconds in its service's runs."""

    connections: int
    cpu: float

    @property
    def reached(self) -> bool:
        """Clients connected to it and it worked."""
        return self.connections > 0 and self.cpu > 0


@dataclass
class Round:
    """Everything measured with ``instances`` processes of each service."""

    instances: int
    figures: dict[str, Figure] = field(default_factory=dict)
    reach: dict[str, dict[str, Reach]] = field(default_factory=dict)  # service -> label -> it


def table(rounds: list[Round], cores: int) -> list[str]:
    """The figures as lines: rates and ratios per round, scaling, reach, where the cores went."""
    first = rounds[0]
    lines = [
        "",
        f"results ({cores} cores); ratio: median of the pairs' contender/baseline; scaling: "
        f"rate vs {first.instances} instance(s) (of ratios: ratio vs its ratio, which takes "
        "out what slowed the whole machine in one round)",
    ]
    for key, (what, baseline) in FIGURES.items():
        lines.append(f"  {what} (baseline: {baseline})")
        for r in rounds:
            f = r.figures[key]
            failed = f", {f.failed:,} refused" if f.failed else ""
            if key == "deliveries":
                failed = f", {f.failed:,} lost or duplicated"
            if f.backlog >= 0.1:
                failed += f"; services busy {f.backlog:.1f} s more"
            one = first.figures[key]
            lines.append(
                f"    {r.instances} instance(s): {f.rate:>9,.0f}/s  baseline {f.baseline:>9,.0f}/s"
                f"  ratio {f.ratio:4.2f}x  scaling {f.rate / one.rate:4.2f}x "
                f"(of ratios {f.ratio / one.ratio:4.2f}x){failed}"
            )
    lines.append("  load reached every instance (peak connections on the shared port, CPU-s):")
    for r in rounds:
        for service, instances in r.reach.items():
            each = ", ".join(
                f"{label} {it.connections} conn {it.cpu:.2f} s" for label, it in instances.items()
            )
            verdict = "yes" if all(it.reached for it in instances.values()) else "NO"
            lines.append(f"    {r.instances} instance(s), {service}: {verdict}: {each}")
    lines.append("  where the cores went (cores busy during the contender's runs, per party):")
    for r in rounds:
        for key, f in r.figures.items():
            lines.append(f"    {r.instances} instance(s), {key}: {f.cores()}")
    return lines


def write_json(path: Path, rounds: list[Round], settings: dict[str, object]) -> None:
    """Every figure, for tests and comparisons: settings plus one object per round."""
    document = {
        **settings,
        "rounds": [
            {
                **asdict(r),
                "figures": {
                    key: {**asdict(f), "rate": f.rate, "baseline": f.baseline}
                    for key, f in r.figures.items()
                },
                "reached": {
                    service: all(it.reached for it in instances.values())
                    for service, instances in r.reach.items()
                },
            }
            for r in rounds
        ],
    }
    path.write_text(json.dumps(document, indent=2))
