"""Names of the command inbox that more than one service knows: the command service consumes
it, the query service's admin status reports on its consumer group (docs/command.md)."""

from __future__ import annotations

__all__ = ["INBOX_CONSUMER", "INBOX_GROUP", "INBOX_STREAM_FILTER", "INBOX_STREAM_PREFIX"]

INBOX_STREAM_PREFIX = "rover-inbox-"
"""Every inbox stream's name starts so: ``rover-inbox-{grid_id}``."""

INBOX_STREAM_FILTER = f"{INBOX_STREAM_PREFIX}.*"
"""The inbox streams as an esdbclient stream-name regex (it anchors it: ``^(rover-inbox-.*)$``)."""

INBOX_GROUP = "rover-inbox"
"""The persistent subscription group's default name (``ROVER_COMMAND_INBOX_GROUP``)."""

INBOX_CONSUMER = "inbox"
"""The inbox's consumer as metrics (``rover_parked_events{consumer}``) and admin status name it."""
