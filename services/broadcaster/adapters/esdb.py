"""EventStoreDB adapters (esdbclient asyncio): the integration feed and the grid history."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial

from esdbclient import AsyncEventStoreDBClient, RecordedEvent
from esdbclient.exceptions import EventStoreDBClientException, NotFound

from domain.errors import GridNotFoundError
from domain.values import GridId
from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.broadcaster.application.ports import (
    FeedEvent,
    StoreUnavailableError,
    UntrustedEventError,
)
from services.common import tracing
from services.common.cancellation import raise_if_cancelling
from services.common.envelope import integration_stream
from services.common.esdb_parked import poison_of
from services.common.esdb_reads import whole_read
from services.common.esdb_signing import verify_recorded
from services.common.integration import IntegrationDecodeError
from services.common.integration_signing import IntegrationKeys, SignatureError
from services.common.logs import get_logger
from services.common.parked import PoisonEvent

__all__ = ["INTEGRATION_STREAM_FILTER", "EsdbGridHistory", "EsdbIntegrationFeed"]

_log = get_logger(__name__)

# The one $all subscription of a broadcaster sees the integration streams and nothing else.
# esdbclient anchors include patterns itself ("^(p1|p2)$"), so this reads as ^integration-.*$.
INTEGRATION_STREAM_FILTER = r"integration-.*"


class EsdbIntegrationFeed:
    """The integration events of every grid, through ONE filtered catch-up subscription to $all.

    It starts at the current end of $all and remembers the commit position of each event it
    delivers: after a dropped connection it subscribes again from there, so it never skips an
    event (the subscription is exclusive of the position, so it repeats none either).
    """

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        *,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        keys: IntegrationKeys | None = None,
    ) -> None:
        self._client = client
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._keys = keys or IntegrationKeys()

    async def run(
        self,
        on_event: Callable[[FeedEvent], None],
        on_live: Callable[[], None],
        on_down: Callable[[], None],
        on_poison: Callable[[PoisonEvent], None],
    ) -> None:
        """Deliver every integration event stored from now on, until cancelled.

        ``on_down`` is called when a subscription attempt fails or a subscription is lost,
        ``on_live`` each time one is in place; an event that cannot be decoded goes to
        ``on_poison``, and the feed goes on.
        """
        position: int | None = None
        started = False
        delay = self._retry_initial
        while True:
            try:
                if not started:
                    # Start at the end: older events are read from the streams on demand.
                    position = await self._client.get_commit_position() or None
                    started = True
                subscription = await self._client.subscribe_to_all(
                    commit_position=position,
                    filter_include=(INTEGRATION_STREAM_FILTER,),
                    filter_by_stream_name=True,
                )
                on_live()
                delay = self._retry_initial
                _log.info("integration feed subscribed", commit_position=position)
                try:
                    async for recorded in subscription:
                        if recorded.commit_position is not None:
                            position = recorded.commit_position
                        try:
                            event = _trusted(recorded, self._keys)
                        except (IntegrationDecodeError, SignatureError) as error:
                            on_poison(poison_of(recorded, str(error)))
                            continue
                        _deliver(on_event, event, recorded.metadata)
                finally:
                    with contextlib.suppress(Exception):
                        await subscription.stop()
                raise_if_cancelling()  # esdbclient ends the iteration quietly when cancelled
                _log.warning("integration feed ended by the server; resubscribing")
                on_down()
            except EventStoreDBClientException as error:
                on_down()
                _log.warning(
                    "integration feed interrupted; resubscribing",
                    error=repr(error),
                    commit_position=position,
                    retry_in=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)


def _trusted(recorded: RecordedEvent, keys: IntegrationKeys) -> StoredIntegrationEvent:
    """The stored event, once its signature verified (services/common/integration_signing.py):
    SignatureError for one our publisher did not write, IntegrationDecodeError for garbage."""
    verify_recorded(keys, recorded)
    return StoredIntegrationEvent(recorded.data)


def _deliver(on_event: Callable[[FeedEvent], None], event: FeedEvent, metadata: bytes) -> None:
    """Hand one event to the hub; with tracing on, in a span continuing its command's trace
    (one span per event fanned out, whatever the number of watchers)."""
    if not tracing.enabled():
        on_event(event)
        return
    with tracing.consumer_span(
        "rover.broadcast",
        (tracing.parent_in(metadata),),
        {"rover.grid_id": event.grid_id, "rover.sequence": event.sequence},
    ):
        on_event(event)


class EsdbGridHistory:
    """Reads ``integration-{grid_id}`` (revision n holds sequence n + 1) page by page."""

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        *,
        page_size: int = 500,
        keys: IntegrationKeys | None = None,
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._keys = keys or IntegrationKeys()

    async def events(self, grid_id: GridId, *, after: int) -> AsyncIterator[FeedEvent]:
        """The grid's events with sequence > ``after``; GridNotFoundError if it has none."""
        stream = integration_stream(grid_id)
        revision = after  # the revision of sequence after + 1
        while True:
            try:
                page = await whole_read(  # a page another task's reconnect cut is read again
                    self._client,
                    partial(
                        self._client.get_stream,
                        stream,
                        stream_position=revision,
                        limit=self._page_size,
                    ),
                )
            except NotFound:
                raise GridNotFoundError(grid_id) from None
            except EventStoreDBClientException as error:
                raise StoreUnavailableError(f"reading {stream}: {error!r}") from error
            for recorded in page:
                try:
                    yield _trusted(recorded, self._keys)
                except SignatureError as error:  # the live feed parks it; no watcher sees it
                    raise UntrustedEventError(
                        grid_id, recorded.stream_position + 1, str(error)
                    ) from None
            if len(page) < self._page_size:
                return
            revision += len(page)

    async def last_sequence(self, grid_id: GridId) -> int:
        """The grid's version: the revision of its last integration event plus one."""
        read = partial(
            self._client.get_stream, integration_stream(grid_id), backwards=True, limit=1
        )
        try:
            last = await whole_read(self._client, read)  # cut short, it could read as no grid
        except NotFound:
            raise GridNotFoundError(grid_id) from None
        except EventStoreDBClientException as error:
            raise StoreUnavailableError(f"reading {grid_id!r}: {error!r}") from error
        if not last:
            raise GridNotFoundError(grid_id)
        return last[0].stream_position + 1
