"""Server-side $all filters: stream name or event type, by regex or prefixes (ESDB semantics).

A regex matches with search semantics (like .NET ``Regex.IsMatch``); prefixes are used only
when the regex is empty. Filters look at the recorded event itself, never a resolved target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from esdbclient.protos.Grpc import streams_pb2

from standins.eventstore.log import RecordedEvent

__all__ = ["EventFilter"]

DEFAULT_WINDOW = 32  # ESDB's window when the client sends `count{}` instead of `max`
FilterOptions = streams_pb2.ReadReq.Options.FilterOptions


@dataclass(frozen=True, slots=True)
class EventFilter:
    """One compiled filter plus its checkpoint interval (in considered events)."""

    on_stream: bool
    regex: re.Pattern[str] | None
    prefixes: tuple[str, ...]
    checkpoint_interval: int

    @classmethod
    def from_options(cls, options: FilterOptions) -> EventFilter:
        """Compile ``FilterOptions``; raise ``ValueError`` for an invalid one."""
        which = options.WhichOneof("filter")
        if which is None:
            raise ValueError("filter has neither stream_identifier nor event_type")
        expression = (
            options.stream_identifier if which == "stream_identifier" else options.event_type
        )
        try:
            regex = re.compile(expression.regex) if expression.regex else None
        except re.error as error:
            raise ValueError(f"invalid filter regex {expression.regex!r}: {error}") from None
        window = options.max if options.WhichOneof("window") == "max" else DEFAULT_WINDOW
        multiplier = options.checkpointIntervalMultiplier
        if multiplier <= 0:
            raise ValueError("checkpointIntervalMultiplier must be greater than 0")
        return cls(
            on_stream=which == "stream_identifier",
            regex=regex,
            prefixes=tuple(expression.prefix),
            checkpoint_interval=max(1, window) * multiplier,
        )

    def matches(self, event: RecordedEvent) -> bool:
        """Whether ``event`` passes the filter."""
        value = event.stream if self.on_stream else event.type
        if self.regex is not None:
            return self.regex.search(value) is not None
        return value.startswith(self.prefixes) if self.prefixes else True
