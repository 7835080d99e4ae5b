"""What passes between RedisReadModel and Redis, translated: script arguments, replies, errors."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from redis.exceptions import (
    ClusterDownError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.common.cancellation import raise_if_cancelling
from services.common.lease import LeaseLostError
from services.query.adapters.details_codec import DetailsState
from services.query.application.errors import (
    GenerationChangedError,
    ReadModelRewoundError,
    ReadModelUnavailableError,
    VersionConflictError,
)
from services.query.application.ports import Checkpoint, GridView, HashUpdate, RoverView
from services.query.application.projection import grid_view, rover_view

__all__ = [
    "checkpoint_row",
    "commit_args",
    "encode_updates",
    "grid_reply",
    "key_rows",
    "pairs",
    "refusal",
    "rover_reply",
    "unavailable_as_port_error",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_NEW_GRID, _NEW_ROVER = 1, 2

# Redis (or a part of a Redis Cluster) not reachable or not serving: an outage, not a fault.
# ClusterDownError includes MASTERDOWN; RedisClusterException no slot map or no node at all.
_OUTAGES = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ClusterDownError,
    TryAgainError,
    RedisClusterException,
)


def unavailable_as_port_error(
    method: Callable[_P, Coroutine[Any, Any, _T]],
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Report Redis being unreachable as the port's ReadModelUnavailableError (UNAVAILABLE),
    and re-raise a cancellation that redis-py turned into a normal return.

    redis-py's asyncio client (8.x) sometimes hands a reply to a task that is being cancelled
    and the cancellation is lost: a projector stopped during a commit would carry on, and its
    service's stop wait for it (tests/integration/query/test_redis_cancellation.py).
    """

    @functools.wraps(method)
    async def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            result = await method(*args, **kwargs)
        except _OUTAGES as error:
            raise ReadModelUnavailableError(f"the read model is unavailable: {error}") from error
        raise_if_cancelling()
        return result

    return call


def refusal(generation: int, result: Any, not_before: int | None) -> Exception | None:
    """The port's error for a commit script's refusal; None for ``{'OK', count}``."""
    kind = result[0]
    if kind == "LEASE":
        return LeaseLostError(f"the projector's lease is held by {result[1] or 'nobody'}")
    if kind == "REWOUND":
        return ReadModelRewoundError(generation, int(result[1]), not_before or 0)
    if kind == "GEN":
        return GenerationChangedError(f"generation {generation} is no longer active ({result[1]})")
    if kind == "CONFLICT":
        return VersionConflictError(result[1], int(result[2]))
    return None


def pairs(rows: list[str]) -> dict[str, str]:
    """A flat ``[field, value, ...]`` reply (HGETALL inside a script) as a dict."""
    return dict(zip(rows[::2], rows[1::2], strict=True))


def encode_updates(updates: Sequence[HashUpdate]) -> str:
    """The COMMIT script's JSON argument for ``updates`` (see redis_scripts.COMMIT)."""
    return json.dumps(
        [
            [
                u.grid_id,
                u.sequence,
                (_NEW_GRID if u.new_grid else 0) | (_NEW_ROVER if u.new_rover else 0),
                u.rover_id,
                [x for pair in u.grid_fields.items() for x in pair],
                [x for pair in u.rover_fields.items() for x in pair],
                u.obstacles,
            ]
            for u in updates
        ],
        separators=(",", ":"),
    )


def commit_args(
    generation: int,
    prefix: str,
    checkpoint: Checkpoint,
    updates: Sequence[HashUpdate],
    details: Mapping[str, DetailsState],
    *,
    must_be_active: bool,
    not_before: int | None = None,
    fence: str = "",
) -> list[Any]:
    """The COMMIT script's ARGV, in the order redis_scripts.COMMIT reads it."""
    args: list[Any] = [
        generation,
        prefix,
        1 if must_be_active else 0,
        checkpoint.position,
        checkpoint.recorded_at_ms,
        checkpoint.events,
        encode_updates(updates),
        "" if not_before is None else not_before,
        fence,
    ]
    for grid_id, state in details.items():
        args += (grid_id, state.render())
    return args


def checkpoint_row(row: Mapping[Any, Any]) -> Checkpoint | None:
    """A generation's checkpoint from its hash (HGETALL; empty when none was stored)."""
    if not row:
        return None
    return Checkpoint(int(row["position"]), int(row["recorded_at_ms"]), int(row["events"]))


def grid_reply(found: Any) -> GridView | None:
    """A grid view from the reply of the GRID / GRID_IN scripts."""
    if not found:
        return None
    fields, obstacles, ids, *rovers = found
    return grid_view(
        pairs(fields), obstacles, [(r, pairs(f)) for r, f in zip(ids, rovers, strict=True)]
    )


def rover_reply(rover_id: str, found: Any) -> tuple[RoverView | None, int] | None:
    """The rover (None if its grid has no such rover) and the grid's version from ROVER."""
    if not found:
        return None
    version, fields = found
    return (rover_view(rover_id, pairs(fields)) if fields else None), int(version)


async def key_rows(redis: Redis, raw: Redis, prefix: str) -> dict[str, dict[str, str]]:
    """Every key under ``prefix`` (named relative to it) with its fields: hashes as they are,
    sets as members -> "1", sorted sets as members -> score, strings (read through ``raw``,
    a client that returns bytes) as {"bytes": hex}."""
    rows: dict[str, dict[str, str]] = {}
    async for key in redis.scan_iter(match=prefix + "*", count=1000):
        kind = await redis.type(key)
        name = str(key)[len(prefix) :]
        if kind == "hash":
            found: dict[Any, Any] = await redis.hgetall(key)
            rows[name] = {str(k): str(v) for k, v in found.items()}
        elif kind == "set":
            members: set[Any] = await redis.smembers(key)
            rows[name] = dict.fromkeys((str(m) for m in members), "1")
        elif kind == "string":
            value = await raw.get(key)
            if isinstance(value, bytes):
                rows[name] = {"bytes": value.hex()}
        elif kind == "zset":
            scored: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
            rows[name] = {str(m): format(score, "g") for m, score in scored}
    return rows
