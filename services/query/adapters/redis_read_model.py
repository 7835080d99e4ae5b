"""RedisReadModel: the ReadModel port on Redis hashes, sets and Lua scripts (redis.asyncio)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.common import tracing
from services.query.adapters import redis_scripts, redis_wire
from services.query.adapters.coalesced_reads import ReadCoalescer
from services.query.adapters.details_codec import DetailsState
from services.query.adapters.redis_connect import binary_twin
from services.query.adapters.redis_keys import KeyLayout
from services.query.adapters.redis_lease import RedisLease
from services.query.application.errors import GenerationChangedError, VersionConflictError
from services.query.application.ports import (
    Checkpoint,
    GridDocument,
    GridSummaryView,
    GridView,
    HashUpdate,
    RoverView,
)
from services.query.application.projection import grid_summary
from services.query.dto import encode_view

__all__ = ["RedisReadModel", "lease_key"]

_MAX_CACHED_GRIDS = 10_000  # per generation; beyond it the cache starts over (reloads)


def lease_key(prefix: str, *, tagged: bool = False) -> str:
    """The key of the live projector's lease under a read model's prefix (``tagged``: in
    Redis Cluster's layout, beside the commit counter its commits compare it with)."""
    return KeyLayout(prefix, tagged=tagged).meta("lease:projector")


class RedisReadModel:
    """The read model in Redis; key layout in docs/read-model.md.

    Every generation lives under ``<prefix>:g<n>:``; ``<prefix>:active`` names the one
    queries read. Commits and reads are Lua scripts, so each is atomic and one round trip.

    Each commit also stores the touched grids' GridDetails, serialised (``details_codec``),
    so GetGridDetails is one small read. The parts are folded from the updates in a cache
    per generation; a grid not cached at the version the batch continues from is read back
    first. The COMMIT script's version checks make a stale cache harmless: the batch is
    refused (and the cache entry dropped) before anything is written.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str = "rover:query",
        *,
        coalesce_reads: bool = True,
        lease: RedisLease | None = None,
        raw: Redis | None = None,
        tagged: bool = False,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease = lease  # when set, live commits are fenced by it
        self._lease_key = lease.key if lease else lease_key(prefix, tagged=tagged)
        self._keys = KeyLayout(prefix, tagged=tagged)
        self._active_key = self._keys.meta("active")
        self._counter_key = self._keys.meta("generations")
        self._commits_key = self._keys.meta("commits")
        self._base = f"{prefix}:g"  # the flat layout's scripts name keys from it
        self._commit = redis.register_script(redis_scripts.COMMIT)
        self._swap = redis.register_script(redis_scripts.SWAP)
        self._grid = redis.register_script(redis_scripts.GRID)
        self._rover = redis.register_script(redis_scripts.ROVER)
        self._list = redis.register_script(redis_scripts.LIST_GRIDS)
        self._grid_in = redis.register_script(redis_scripts.GRID_IN)
        self._replace = redis.register_script(redis_scripts.REPLACE_GRID)
        # the same server, returning bytes (the serialised details); made from ``redis``'s pool
        # unless given (a Sentinel-managed pool cannot be copied so)
        self._raw = raw if raw is not None else binary_twin(redis)
        self._details = self._raw.register_script(redis_scripts.GRID_DETAILS_MANY)
        self._states: dict[int, dict[str, DetailsState]] = {}
        self.coalescer: ReadCoalescer[Any] | None = (
            ReadCoalescer(self._documents) if coalesce_reads else None
        )

    def generation_prefix(self, generation: int) -> str:
        """The key prefix of a generation: ``<prefix>:g<n>:``."""
        return self._keys.generation(generation)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
        await self._raw.aclose()

    @redis_wire.unavailable_as_port_error
    async def active_generation(self) -> int:
        active = await self._redis.get(self._active_key)
        if active is None:
            created = await self.new_generation()
            await self._redis.set(self._active_key, created, nx=True)
            active = await self._redis.get(self._active_key)
        assert active is not None
        return int(active)

    @redis_wire.unavailable_as_port_error
    async def instance(self) -> str:
        """Redis's ``run_id`` (INFO server): new at every start of a server, so a restart from
        a dump or a failover to a replica changes it."""
        try:
            with tracing.untraced():  # polled every second by an idle projector
                info: dict[str, Any] = await self._redis.info("server")
        except ResponseError:  # INFO renamed away or not granted: the projector falls back
            return ""
        return str(info.get("run_id", ""))

    @redis_wire.unavailable_as_port_error
    async def new_generation(self) -> int:
        return int(await self._redis.incr(self._counter_key))

    @redis_wire.unavailable_as_port_error
    async def checkpoint(self, generation: int) -> Checkpoint | None:
        row = await self._redis.hgetall(self._keys.generation_meta(generation, "checkpoint"))
        return redis_wire.checkpoint_row(row)

    @redis_wire.unavailable_as_port_error
    async def grid_versions(self, generation: int, grid_ids: Sequence[str]) -> dict[str, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for grid_id in grid_ids:
                pipe.hget(self._keys.grid(generation, grid_id), "version")
            versions = await pipe.execute()
        return {g: int(v or 0) for g, v in zip(grid_ids, versions, strict=True)}

    @redis_wire.unavailable_as_port_error
    async def commit(
        self,
        generation: int,
        updates: Sequence[HashUpdate],
        checkpoint: Checkpoint,
        *,
        must_be_active: bool,
        not_before: int | None = None,
    ) -> int:
        states = await self._fold(generation, updates)
        fence = self._lease.fence if self._lease and must_be_active else ""
        result = await self._write(
            generation,
            updates,
            states,
            checkpoint,
            must_be_active=must_be_active,
            not_before=not_before,
            fence=fence,
        )
        self._refused(generation, result, not_before)
        cache = self._states.setdefault(generation, {})
        if len(cache) > _MAX_CACHED_GRIDS:
            cache.clear()
        cache.update(states)
        return int(result[1])

    async def _write(
        self,
        generation: int,
        updates: Sequence[HashUpdate],
        states: dict[str, DetailsState],
        checkpoint: Checkpoint,
        *,
        must_be_active: bool,
        not_before: int | None,
        fence: str,
    ) -> Any:
        """Commit the batch: the COMMIT script's reply."""
        args = redis_wire.commit_args(
            generation,
            self.generation_prefix(generation),
            checkpoint,
            updates,
            states,
            must_be_active=must_be_active,
            not_before=not_before,
            fence=fence,
        )
        keys = [self._active_key, self._commits_key, self._lease_key]
        return await self._commit(keys=keys, args=args)

    def _refused(self, generation: int, result: Any, not_before: int | None) -> None:
        """Raise the port's error for a commit's refusal (nothing for ``result[0] == 'OK'``)."""
        error = redis_wire.refusal(generation, result, not_before)
        if error is None:
            return
        if isinstance(error, VersionConflictError):
            self._states.get(generation, {}).pop(error.grid_id, None)
        else:  # folded from writes Redis no longer has, or for a generation no longer read
            self._states.pop(generation, None)
        raise error

    @redis_wire.unavailable_as_port_error
    async def replace_grid(
        self,
        generation: int,
        grid_id: str,
        updates: Sequence[HashUpdate],
        *,
        expected_version: int,
    ) -> int:
        state = DetailsState()
        for update in updates:
            state.apply(update)
        self._states.get(generation, {}).pop(grid_id, None)  # the commits' next fold re-reads
        args: list[Any] = [
            generation,
            self.generation_prefix(generation),
            grid_id,
            expected_version,
        ]
        args += [redis_wire.encode_updates(updates), state.render()]
        result = await self._replace(keys=[self._active_key, self._commits_key], args=args)
        if result[0] == "GEN":
            raise GenerationChangedError(f"generation {generation} is no longer active")
        if result[0] == "CONFLICT":
            raise VersionConflictError(grid_id, int(result[2]))
        return int(result[1])

    @redis_wire.unavailable_as_port_error
    async def commit_count(self) -> int:
        return int(await self._redis.get(self._commits_key) or 0)

    async def _fold(
        self, generation: int, updates: Sequence[HashUpdate]
    ) -> dict[str, DetailsState]:
        """The details of every grid ``updates`` touch, with the updates applied (copies)."""
        cache = self._states.get(generation, {})
        states: dict[str, DetailsState] = {}
        missing: list[str] = []
        for update in updates:
            grid_id = update.grid_id
            if grid_id in states or grid_id in missing:
                continue
            cached = cache.get(grid_id)
            if cached is not None and cached.version == update.sequence - 1:
                states[grid_id] = cached.copy()
            elif update.sequence == 1:
                states[grid_id] = DetailsState()
            else:
                missing.append(grid_id)
        if missing:
            views = await self._read_grids(generation, missing)
            for grid_id, view in zip(missing, views, strict=True):
                states[grid_id] = DetailsState.from_view(view) if view else DetailsState()
        for update in updates:
            states[update.grid_id].apply(update)
        return states

    async def _read_grids(self, generation: int, grid_ids: list[str]) -> list[GridView | None]:
        """The grids as stored in ``generation`` (None where absent), in one round trip."""
        prefix = self.generation_prefix(generation)
        async with self._redis.pipeline(transaction=False) as pipe:
            for grid_id in grid_ids:
                await self._grid_in(keys=[], args=[prefix, grid_id], client=pipe)
            found = await pipe.execute()
        return [redis_wire.grid_reply(reply) for reply in found]

    @redis_wire.unavailable_as_port_error
    async def swap(self, generation: int) -> int | None:
        while True:
            active = await self._redis.get(self._active_key) or ""
            keys = [
                self._active_key,
                self._keys.generation_meta(int(active or generation), "checkpoint"),
                self._keys.generation_meta(generation, "checkpoint"),
            ]
            replaced = await self._swap(keys=keys, args=[generation, active])
            if replaced != ["MOVED"]:  # else another swap came between: look again
                break
        if replaced is None:
            return None
        return int(replaced) if replaced else 0

    @redis_wire.unavailable_as_port_error
    async def drop_generation(self, generation: int) -> None:
        active = await self._redis.get(self._active_key)
        if active is not None and int(active) == generation:
            raise ValueError(f"generation {generation} is active; refusing to drop it")
        batch: list[str] = []
        async for key in self._redis.scan_iter(
            match=self.generation_prefix(generation) + "*", count=1000
        ):
            batch.append(key)
            if len(batch) >= 1000:
                await self._redis.unlink(*batch)
                batch.clear()
        if batch:
            await self._redis.unlink(*batch)

    @redis_wire.unavailable_as_port_error
    async def grid(self, grid_id: str) -> GridView | None:
        found = await self._grid(keys=[self._active_key], args=[self._base, grid_id])
        return redis_wire.grid_reply(found)

    @redis_wire.unavailable_as_port_error
    async def grid_document(self, grid_id: str) -> GridDocument | None:
        """The stored GridDetails bytes; one script call (or a shared one when coalescing)."""
        if self.coalescer is not None:
            found = await self.coalescer.read(grid_id)
        else:
            found = (await self._documents([grid_id]))[0]
        if found:
            return GridDocument(int(found[0]), found[1])
        view = await self.grid(grid_id)  # a model projected before details were stored
        return GridDocument(view.version, encode_view(view)) if view else None

    async def _documents(self, grid_ids: Sequence[str]) -> list[Any]:
        """One script call: each grid's stored [version, details], or nil."""
        replies: list[Any] = await self._details(
            keys=[self._active_key], args=[self._base, *grid_ids]
        )
        return replies

    @redis_wire.unavailable_as_port_error
    async def rover(self, grid_id: str, rover_id: str) -> tuple[RoverView | None, int] | None:
        found = await self._rover(keys=[self._active_key], args=[self._base, grid_id, rover_id])
        return redis_wire.rover_reply(rover_id, found)

    @redis_wire.unavailable_as_port_error
    async def list_grids(self, after: str, limit: int) -> list[GridSummaryView]:
        rows = await self._list(keys=[self._active_key], args=[self._base, after, limit])
        return [grid_summary(redis_wire.pairs(r)) for r in rows]

    @redis_wire.unavailable_as_port_error
    async def generation_rows(self, generation: int) -> dict[str, dict[str, str]]:
        return await redis_wire.key_rows(self._redis, self._raw, self.generation_prefix(generation))
