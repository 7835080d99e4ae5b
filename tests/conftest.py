"""Settings every test process starts from: no fixed metrics ports.

The services' metrics endpoints default to 127.0.0.1:9101-9104 (``make run``); tests that run
services in this process or as children would collide there with each other and with a
developer's ``make run``, so they start with the endpoints off (bench.METRICS_OFF, as the
benchmarks do). Tests of metrics ask for port 0; tests/e2e/test_metrics.py gives ``make run``
free ports.
"""

from __future__ import annotations

import os

from bench import METRICS_OFF

for _name, _value in METRICS_OFF.items():
    os.environ.setdefault(_name, _value)

from tests.support.certs import dev_certs, other_certs  # noqa: E402  (session fixtures)

__all__ = ["dev_certs", "other_certs"]
