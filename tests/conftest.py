"""Settings every test process starts from: no fixed metrics ports.

The services' metrics endpoints default to 127.0.0.1:9101-9104 (``make run``); tests that run
services in this process or as children would collide there with each other and with a
developer's ``make run``, so they start with the endpoints off. Tests of metrics ask for
port 0; tests/e2e/system.py gives ``make run`` free ports of its own.
"""

from __future__ import annotations

import os

for _variable in (
    "ROVER_COMMAND_METRICS_ADDRESS",
    "ROVER_QUERY_METRICS_ADDRESS",
    "ROVER_BROADCASTER_METRICS_ADDRESS",
    "ROVER_EVENTSTORE_METRICS_ADDRESS",
):
    os.environ.setdefault(_variable, "")
