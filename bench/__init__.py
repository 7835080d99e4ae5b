"""Benchmarks that print figures: ``make bench`` runs them all.

The services and the event store a benchmark starts serve no metrics (no fixed ports that a
``make run`` or several instances would contend for; bench_metrics measures their cost).
"""

import os

METRICS_OFF = {
    "ROVER_COMMAND_METRICS_ADDRESS": "",
    "ROVER_QUERY_METRICS_ADDRESS": "",
    "ROVER_BROADCASTER_METRICS_ADDRESS": "",
    "ROVER_EVENTSTORE_METRICS_ADDRESS": "",
    "ROVER_WEB_METRICS_ADDRESS": "",
}
for _name, _value in METRICS_OFF.items():
    os.environ.setdefault(_name, _value)
