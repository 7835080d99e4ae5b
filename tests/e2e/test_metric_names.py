"""metric_names.py: reading the metric names out of PromQL, and which series a metric owns."""

from __future__ import annotations

import pytest

from tests.e2e.metric_names import defined, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        (
            'sum by (job, grpc_method) (rate(grpc_server_handled_total{grpc_code!="OK"}[5m]))',
            {"grpc_server_handled_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[$__rate_interval])))",
            {"x_seconds_bucket"},
        ),
        (
            'a_total{k=~"v|w"} / ignoring (k) b and on (i) c offset 5m > bool 1e3',
            {"a_total", "b", "c"},
        ),
    ],
)
def test_metric_names_reads_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_defined_knows_histogram_series_and_nothing_else() -> None:
    assert defined("grpc_server_handling_seconds_bucket") == "grpc_server_handling_seconds"
    assert defined("rover_command_appends_total") == "rover_command_appends_total"
    assert defined("rover_command_appends_total_bucket") is None
    assert defined("rover_command_appends") is None  # the counter is exposed with _total
