"""Query use cases: grid details (with read-your-writes), rovers, and paged grid listings."""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass

from domain.errors import DomainError, GridNotFoundError, RoverNotFoundError
from domain.values import GridId, RoverId
from services.query.application.errors import (
    InvalidQueryError,
    VersionNotReachedError,
)
from services.query.application.ports import GridDocument, GridSummaryView, ReadModel, RoverView
from services.query.application.watch import VersionWatch

__all__ = ["Queries", "decode_page_token", "encode_page_token", "parse_grid_id"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1_000
_TOKEN_PREFIX = b"grids.v1:"


def encode_page_token(last_grid_id: str) -> str:
    """An opaque token meaning "after this grid id"."""
    return base64.urlsafe_b64encode(_TOKEN_PREFIX + last_grid_id.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The grid id a token continues after; InvalidQueryError when it is not one of ours."""
    invalid = InvalidQueryError(
        "page_token is not a token returned by ListGrids", field="page_token", reason="PAGE_TOKEN"
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not raw.startswith(_TOKEN_PREFIX):
        raise invalid
    try:
        return str(GridId(raw[len(_TOKEN_PREFIX) :].decode()))
    except (UnicodeDecodeError, DomainError):
        raise invalid from None


def parse_grid_id(value: str) -> str:
    """A grid id argument, checked; InvalidQueryError (field grid_id) when malformed."""
    try:
        return str(GridId(value))
    except DomainError as error:
        raise InvalidQueryError(str(error), field="grid_id", reason="GRID_ID") from None


def _rover_id(value: str) -> str:
    try:
        return str(RoverId(value))
    except DomainError as error:
        raise InvalidQueryError(str(error), field="rover_id", reason="ROVER_ID") from None


@dataclass(frozen=True, slots=True)
class GridPage:
    """One page of ListGrids."""

    grids: list[GridSummaryView]
    next_page_token: str


class Queries:
    """Answers from the active read model; never with data older than asked for."""

    def __init__(
        self,
        read_model: ReadModel,
        *,
        watch: VersionWatch | None = None,
        max_wait_seconds: float = 5.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self._model = read_model
        self._watch = watch or VersionWatch()
        self._max_wait = max_wait_seconds
        self._poll = poll_seconds

    async def grid_details(
        self, grid_id: str, min_version: int = 0, *, deadline_seconds: float | None = None
    ) -> GridDocument:
        """The grid at version >= ``min_version``, waiting for the projection if needed.

        Waits at most the setting, or the call's remaining time when that is shorter;
        VersionNotReachedError says which of the two ran out.
        """
        grid_id = parse_grid_id(grid_id)
        if min_version < 0:
            raise InvalidQueryError(
                "min_version must not be negative", field="min_version", reason="MIN_VERSION"
            )
        found = await self._model.grid_document(grid_id)
        if min_version == 0 or (found is not None and found.version >= min_version):
            if found is None:
                raise GridNotFoundError(grid_id)
            return found
        by_deadline = deadline_seconds is not None and deadline_seconds < self._max_wait
        budget = self._max_wait
        if by_deadline and deadline_seconds is not None:
            budget = deadline_seconds
        give_up = time.monotonic() + budget
        while True:
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                raise VersionNotReachedError(
                    grid_id, min_version, found.version if found else 0, by_deadline=by_deadline
                )
            woken = self._watch.waiter(grid_id)  # before reading: no lost wake-up
            found = await self._model.grid_document(grid_id)
            if found is not None and found.version >= min_version:
                return found
            await self._watch.wait(woken, min(remaining, self._poll))

    async def rover(self, grid_id: str, rover_id: str) -> tuple[RoverView, int]:
        """A rover and the version of its grid."""
        grid_id, rover_id = parse_grid_id(grid_id), _rover_id(rover_id)
        found = await self._model.rover(grid_id, rover_id)
        if found is None:
            raise GridNotFoundError(grid_id)
        rover, version = found
        if rover is None:
            raise RoverNotFoundError(grid_id, rover_id)
        return rover, version

    async def list_grids(self, page_size: int, page_token: str) -> GridPage:
        """One page of grids ordered by id; an empty next token on the last page."""
        if page_size < 0:
            raise InvalidQueryError(
                "page_size must not be negative", field="page_size", reason="PAGE_SIZE"
            )
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = decode_page_token(page_token) if page_token else ""
        grids = await self._model.list_grids(after, size + 1)
        more = len(grids) > size
        grids = grids[:size]
        return GridPage(grids, encode_page_token(grids[-1].grid_id) if more else "")
