"""RedisClusterReadModel: the read model on Redis Cluster, in the tagged key layout.

A grid's keys share the hash tag ``{<grid id>}``, so each grid sits in one slot and the grids
spread over the nodes; the bookkeeping (active generation, counters, leases, checkpoints, the
grid index) shares ``{meta}`` (redis_keys.py). No script spans two slots, so:

- a commit is checked against the bookkeeping first (lease, generation, lost writes), then
  written grid by grid (each grid's updates atomically; one pipeline per node), then its
  checkpoint, new grids and commit count in one bookkeeping step. A crash between leaves
  grids ahead of the checkpoint: their events come again and are skipped as duplicates. A
  batch checked just before a swap writes its grids into the generation being replaced; the
  bookkeeping step then refuses it (GEN) and those grids' keys are deleted again, since the
  drop that follows the swap may already have passed them.
- a read takes the active generation (cached for 50 ms: it lives on one node), then reads
  the grid's keys in that generation; a read during a swap reads the generation it
  replaced, still whole (a grid missing there is looked up again in the new one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, ResponseError

from services.common import tracing
from services.query.adapters import redis_cluster_scripts as scripts
from services.query.adapters import redis_wire
from services.query.adapters.details_codec import DetailsState
from services.query.adapters.redis_keys import KeyLayout
from services.query.adapters.redis_lease import RedisLease
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.errors import GenerationChangedError, VersionConflictError
from services.query.application.ports import (
    Checkpoint,
    GridSummaryView,
    GridView,
    HashUpdate,
    RoverView,
)
from services.query.application.projection import grid_summary

__all__ = ["RedisClusterReadModel"]

_ACTIVE_FOR_READS_SECONDS = 0.05


class RedisClusterReadModel(RedisReadModel):
    """The read model on a Redis Cluster (per-grid atomicity; see the module docstring)."""

    def __init__(
        self,
        redis: RedisCluster,
        prefix: str = "rover:query",
        *,
        raw: RedisCluster,
        coalesce_reads: bool = True,
        lease: RedisLease | None = None,
    ) -> None:
        # The inherited methods use commands both clients have (GET, INCR, HGET, pipelines).
        super().__init__(
            cast(Redis, redis),
            prefix,
            coalesce_reads=coalesce_reads,
            lease=lease,
            raw=cast(Redis, raw),
            tagged=True,
        )
        self._cluster = redis
        self._commit_grid = redis.register_script(scripts.COMMIT_GRID)
        self._commit_meta = redis.register_script(scripts.COMMIT_META)
        self._grid_of = redis.register_script(scripts.GRID_OF)
        self._rover_of = redis.register_script(scripts.ROVER_OF)
        self._replace_of = redis.register_script(scripts.REPLACE_GRID_OF)
        self._raw_cluster = raw
        self._read_generation: int | None = None
        self._read_at = 0.0

    @property
    def keys(self) -> KeyLayout:
        """The key layout (tagged)."""
        return self._keys

    @redis_wire.unavailable_as_port_error
    async def instance(self) -> str:
        """The ``run_id`` of every primary, joined: a restart or failover of any changes it."""
        try:
            with tracing.untraced():
                found: Any = await self._cluster.info("server", target_nodes=RedisCluster.PRIMARIES)
        except ResponseError:
            return ""
        if "run_id" in found:  # one primary: redis-py answers with its reply alone
            return str(found["run_id"])
        return ",".join(str(found[node].get("run_id", "")) for node in sorted(found))

    def _meta_keys(self, generation: int) -> list[str]:
        return [
            self._active_key,
            self._commits_key,
            self._lease_key,
            self._keys.generation_meta(generation, "checkpoint"),
            self._keys.generation_meta(generation, "grids"),
        ]

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
        meta = self._meta_keys(generation)
        head = [generation, "1" if must_be_active else "0", not_before or "", fence]
        checked = await self._commit_meta(keys=meta, args=[*head, "0"])
        if checked[0] != "OK":
            return checked
        by_grid: dict[str, list[HashUpdate]] = {}
        for update in updates:
            by_grid.setdefault(update.grid_id, []).append(update)
        replies = await self._each_grid(
            self._commit_grid,
            [
                (
                    self._grid_write_keys(generation, grid_id, grid_updates),
                    [redis_wire.encode_updates(grid_updates), states[grid_id].render()],
                )
                for grid_id, grid_updates in by_grid.items()
            ],
        )
        failed = next((reply for reply in replies if reply[0] != "OK"), None)
        if failed is None:
            new = [u.grid_id for u in updates if u.new_grid]
            position = [checkpoint.position, checkpoint.recorded_at_ms, checkpoint.events]
            result = await self._commit_meta(keys=meta, args=[*head, "1", *position, *new])
        else:  # the other grids' writes stand (their events are duplicates now), unless...
            result = await self._commit_meta(keys=meta, args=[*head, "0"])
            result = failed if result[0] == "OK" else result
        if result[0] == "GEN":  # ...swapped away since the check: its drop may have passed them
            written = [g for g, reply in zip(by_grid, replies, strict=True) if reply[0] == "OK"]
            await self._forget(generation, written)
        return result

    async def _each_grid(self, script: Any, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """``script`` once per (keys, args), pipelined: one round trip per node, the nodes at
        once. A node without the script (new, restarted) gets it and runs only its calls
        again, so no call runs twice."""
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            async with self._cluster.pipeline(transaction=False) as pipe:
                for index in pending:
                    keys, args = calls[index]
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                found: list[Any] = await pipe.execute(raise_on_error=False)
            for index, reply in zip(pending, found, strict=True):
                replies[index] = reply
            pending = [i for i in pending if isinstance(replies[i], NoScriptError)]
            if not pending or attempt:
                break
            await self._cluster.script_load(script.script)  # on every primary
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _forget(self, generation: int, grid_ids: list[str]) -> None:
        """Delete the grids' keys in a generation no longer active (never active again)."""
        for grid_id in grid_ids:
            keys = self._keys.grid_keys(generation, grid_id)
            rovers: list[Any] = await self._cluster.zrange(keys[2], 0, -1)
            await self._cluster.unlink(*keys, *(KeyLayout.rover(keys[0], r) for r in rovers))

    def _grid_write_keys(
        self, generation: int, grid_id: str, updates: Sequence[HashUpdate], held: Sequence[str] = ()
    ) -> list[str]:
        """A grid's keys, the hashes of ``held`` rovers, then those of the updates' rovers."""
        keys = self._keys.grid_keys(generation, grid_id)
        rovers = [*held, *dict.fromkeys(u.rover_id for u in updates if u.rover_id)]
        return keys + [KeyLayout.rover(keys[0], rover) for rover in rovers]

    @redis_wire.unavailable_as_port_error
    async def replace_grid(
        self,
        generation: int,
        grid_id: str,
        updates: Sequence[HashUpdate],
        *,
        expected_version: int,
    ) -> int:
        if await self._active() != generation:
            raise GenerationChangedError(f"generation {generation} is no longer active")
        state = DetailsState()
        for update in updates:
            state.apply(update)
        self._states.get(generation, {}).pop(grid_id, None)  # the commits' next fold re-reads
        rovers_key = self._keys.grid_keys(generation, grid_id)[2]
        while True:
            held: list[Any] = await self._cluster.zrange(rovers_key, 0, -1)
            reply = await self._replace_of(
                keys=self._grid_write_keys(generation, grid_id, updates, held),
                args=[
                    expected_version,
                    redis_wire.encode_updates(updates),
                    state.render(),
                    len(held),
                    *held,
                ],
            )
            if reply[0] != "RETRY":  # else a rover came between: read them again
                break
        if reply[0] == "CONFLICT":
            raise VersionConflictError(grid_id, int(reply[2]))
        index = self._keys.generation_meta(generation, "grids")
        if updates:
            await self._cluster.zadd(index, {grid_id: 0})
        else:
            await self._cluster.zrem(index, grid_id)
        return int(await self._cluster.incr(self._commits_key))

    async def _active(self) -> int | None:
        active = await self._cluster.get(self._active_key)
        return int(active) if active is not None else None

    async def swap(self, generation: int) -> int | None:
        replaced = await super().swap(generation)
        self._read_generation = None  # this instance's reads see its own swap at once
        return replaced

    async def _reading(self) -> int | None:
        """The active generation for a read: read again when older than
        ``_ACTIVE_FOR_READS_SECONDS`` (the bookkeeping lives on one node; asking it on every
        read would add a round trip to each). A swap is seen that much later by reads."""
        now = time.monotonic()
        if self._read_generation is None or now - self._read_at > _ACTIVE_FOR_READS_SECONDS:
            self._read_generation, self._read_at = await self._active(), now
        return self._read_generation

    async def _grid_at(self, generation: int, grid_id: str) -> GridView | None:
        keys = self._keys.grid_keys(generation, grid_id)
        while True:
            rovers: list[Any] = await self._cluster.zrange(keys[2], 0, -1)
            found = await self._grid_of(
                keys=keys + [KeyLayout.rover(keys[0], r) for r in rovers], args=rovers
            )
            if found != ["RETRY"]:  # else a rover came between: read them again
                return redis_wire.grid_reply(found)

    async def _read_grids(self, generation: int, grid_ids: list[str]) -> list[GridView | None]:
        return list(await asyncio.gather(*(self._grid_at(generation, g) for g in grid_ids)))

    @redis_wire.unavailable_as_port_error
    async def grid(self, grid_id: str) -> GridView | None:
        generation = await self._reading()
        return None if generation is None else await self._grid_at(generation, grid_id)

    async def _documents(self, grid_ids: Sequence[str]) -> list[Any]:
        """Each grid's [version, details] (or None): per node one round trip, the nodes at
        once. The version is read first, so it is never ahead of the details."""
        generation = await self._reading()
        if generation is None:
            return [None] * len(grid_ids)
        async with self._raw_cluster.pipeline(transaction=False) as pipe:
            for grid_id in grid_ids:
                key = self._keys.grid(generation, grid_id)
                pipe.hget(key, "version")
                pipe.get(key + ":details")
            replies: list[Any] = await pipe.execute()
        found = [
            [version, details] if version is not None and details is not None else None
            for version, details in zip(replies[::2], replies[1::2], strict=True)
        ]
        if None in found and await self._active() != generation:  # swapped meanwhile
            self._read_generation = None
            return await self._documents(grid_ids)
        return found

    @redis_wire.unavailable_as_port_error
    async def rover(self, grid_id: str, rover_id: str) -> tuple[RoverView | None, int] | None:
        generation = await self._reading()
        if generation is None:
            return None
        key = self._keys.grid(generation, grid_id)
        found = await self._rover_of(keys=[key, KeyLayout.rover(key, rover_id)])
        return redis_wire.rover_reply(rover_id, found)

    async def generation_rows(self, generation: int) -> dict[str, dict[str, str]]:
        """As RedisReadModel's, named as in the flat layout (redis_keys.KeyLayout.plain)."""
        rows = await super().generation_rows(generation)
        return {self._keys.plain(name): row for name, row in rows.items()}

    @redis_wire.unavailable_as_port_error
    async def list_grids(self, after: str, limit: int) -> list[GridSummaryView]:
        generation = await self._reading()
        if generation is None:
            return []
        ids: list[Any] = await self._cluster.zrange(
            self._keys.generation_meta(generation, "grids"),
            f"({after}" if after else "-",
            "+",
            bylex=True,
            offset=0,
            num=limit,
        )
        rows: list[Any] = await asyncio.gather(
            *(self._cluster.hgetall(self._keys.grid(generation, g)) for g in ids)
        )
        return [grid_summary(dict(row)) for row in rows if row]
