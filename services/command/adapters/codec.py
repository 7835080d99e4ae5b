"""The one registry of wire names: domain events to versioned JSON and back, with upcasters."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from enum import Enum
from types import NoneType, UnionType
from typing import Any

from domain.errors import DomainError, SnapshotCorruptError
from domain.events import (
    GridCreated,
    GridEvent,
    RoverBlocked,
    RoverCreated,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
)
from domain.snapshot import GridSnapshot
from domain.values import GridId, Position, RoverId

__all__ = [
    "SNAPSHOT_TYPE",
    "EncodedEvent",
    "MalformedEventError",
    "UnknownEventTypeError",
    "current_versions",
    "decode",
    "decode_snapshot",
    "encode",
    "encode_snapshot",
    "from_payload",
    "to_payload",
    "upcast",
    "wire_name",
]

Payload = dict[str, Any]

# --- the registry ------------------------------------------------------------------------------
# Wire names never derive from class names at run time: renaming a class must not orphan the
# events already stored under its old name. Bump a version when a stored shape changes, and add
# an upcaster from the previous version below.
_REGISTRY: dict[type[GridEvent], tuple[str, int]] = {
    GridCreated: ("GridCreated", 2),
    RoverCreated: ("RoverCreated", 1),
    RoverMovedForward: ("RoverMovedForward", 1),
    RoverMovedBackward: ("RoverMovedBackward", 1),
    RoverTurnedLeft: ("RoverTurnedLeft", 1),
    RoverTurnedRight: ("RoverTurnedRight", 1),
    RoverBlocked: ("RoverBlocked", 1),
}

SNAPSHOT_TYPE = "GridSnapshot"  # its schema version travels inside the data


def _grid_created_v1_to_v2(old: Payload) -> Payload:
    # v1 predates toroidal grids (every grid was bounded) and wrote obstacles as [x, y] pairs;
    # v2 names the topology and writes obstacles as {"x", "y"} objects like every position.
    new = {key: value for key, value in old.items() if key != "obstacles"}
    new["topology"] = "BOUNDED"
    new["obstacles"] = [{"x": x, "y": y} for x, y in old.get("obstacles", [])]
    return new


_UPCASTERS: dict[tuple[str, int], Callable[[Payload], Payload]] = {
    ("GridCreated", 1): _grid_created_v1_to_v2,
}


class CodecError(Exception):
    """Stored bytes that cannot become a domain event."""


class UnknownEventTypeError(CodecError):
    """A wire name that is not registered, or a version newer than this code knows."""


class MalformedEventError(CodecError):
    """A registered wire name whose data does not fit the event's shape."""


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event as the store keeps it: its wire name and JSON bytes."""

    type: str
    data: bytes


# --- field codecs, derived once from the event classes' annotations ----------------------------

_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any], Any]


def _decode_int(value: Any) -> int:
    # type() rather than isinstance: bool is an int subclass and must not pass.
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _decode_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _encode_position(value: Position) -> dict[str, int]:
    return {"x": value.x, "y": value.y}


def _decode_position(value: Any) -> Position:
    x, y = value["x"], value["y"]
    if type(x) is not int or type(y) is not int:
        raise TypeError(f"expected integer x and y, got {value!r}")
    return Position(x, y)


def _encode_cells(value: frozenset[Position]) -> list[dict[str, int]]:
    return [{"x": p.x, "y": p.y} for p in sorted(value)]  # sorted: equal events, equal bytes


def _decode_cells(value: Any) -> frozenset[Position]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of positions, got {value!r}")
    return frozenset(_decode_position(item) for item in value)


def _cached(build: Callable[[Any], Any]) -> _Decoder:
    # Ids and enum members repeat across a stream's events; validating each once per process
    # keeps decoding a long history cheap. Bounded so that hostile input cannot grow it.
    cache: dict[str, Any] = {}

    def decode_cached(value: Any) -> Any:
        if type(value) is not str:
            return build(value)  # let the constructor report the wrong type
        found = cache.get(value)
        if found is None:
            found = build(value)
            if len(cache) >= 100_000:
                cache.clear()
            cache[value] = found
        return found

    return decode_cached


def _field_codec(hint: Any) -> tuple[_Encoder, _Decoder]:
    if isinstance(hint, UnionType) and NoneType in typing.get_args(hint):
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not NoneType]
        enc, dec = _field_codec(inner)
        return (lambda v: None if v is None else enc(v)), (lambda v: None if v is None else dec(v))
    if hint is GridId or hint is RoverId:
        return str, _cached(hint)
    if hint is str:
        return str, _decode_str
    if hint is int:
        return int, _decode_int
    if hint is Position:
        return _encode_position, _decode_position
    if hint == frozenset[Position]:
        return _encode_cells, _decode_cells
    if isinstance(hint, type) and issubclass(hint, Enum):
        return (lambda v: v.value), _cached(hint)
    # Fail at import, not at run time, when an event gains a field type the wire cannot carry.
    raise TypeError(f"no wire codec for field type {hint!r}")


@dataclass(frozen=True, slots=True)
class _Schema:
    cls: type[GridEvent]
    name: str
    version: int
    encoders: tuple[tuple[str, _Encoder], ...]
    required: tuple[tuple[str, _Decoder], ...]
    optional: tuple[tuple[str, _Decoder], ...]  # fields with a default, which may be absent


def _schema(cls: type[GridEvent], name: str, version: int) -> _Schema:
    hints = typing.get_type_hints(cls)
    encoders: list[tuple[str, _Encoder]] = []
    required: list[tuple[str, _Decoder]] = []
    optional: list[tuple[str, _Decoder]] = []
    for f in fields(cls):
        enc, dec = _field_codec(hints[f.name])
        encoders.append((f.name, enc))
        (required if f.default is MISSING else optional).append((f.name, dec))
    return _Schema(cls, name, version, tuple(encoders), tuple(required), tuple(optional))


_BY_CLASS: dict[type[GridEvent], _Schema] = {
    cls: _schema(cls, name, version) for cls, (name, version) in _REGISTRY.items()
}
_BY_NAME: dict[str, _Schema] = {schema.name: schema for schema in _BY_CLASS.values()}
_CURRENT: dict[str, _Schema] = {f"{s.name}.v{s.version}": s for s in _BY_CLASS.values()}
_WIRE_NAME = re.compile(r"([A-Za-z][A-Za-z0-9]*)\.v([1-9][0-9]*)")


# --- the API -----------------------------------------------------------------------------------


def current_versions() -> Mapping[type[GridEvent], str]:
    """Every registered event class and the wire name it is written under today."""
    return {cls: f"{s.name}.v{s.version}" for cls, s in _BY_CLASS.items()}


def wire_name(event: GridEvent | type[GridEvent]) -> str:
    """The versioned name an event is written under, such as ``"RoverMovedForward.v1"``."""
    cls = event if isinstance(event, type) else type(event)
    schema = _BY_CLASS.get(cls)
    if schema is None:
        raise UnknownEventTypeError(f"{cls.__name__} has no wire name")
    return f"{schema.name}.v{schema.version}"


def to_payload(event: GridEvent) -> Payload:
    """The event's current-version payload as plain JSON-able data."""
    schema = _BY_CLASS.get(type(event))
    if schema is None:
        raise UnknownEventTypeError(f"{type(event).__name__} has no wire name")
    return {name: enc(getattr(event, name)) for name, enc in schema.encoders}


def encode(event: GridEvent) -> EncodedEvent:
    """The wire name and compact JSON bytes of an event."""
    payload = to_payload(event)
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return EncodedEvent(wire_name(event), data)


def upcast(name: str, version: int, payload: Payload) -> Payload:
    """Bring a stored payload of ``name`` at ``version`` up to the current version."""
    schema = _BY_NAME.get(name)
    if schema is None:
        raise UnknownEventTypeError(f"unknown event type {name!r}")
    if version > schema.version:
        raise UnknownEventTypeError(
            f"{name}.v{version} is newer than this code (it reads up to v{schema.version})"
        )
    while version < schema.version:
        step = _UPCASTERS.get((name, version))
        if step is None:
            raise UnknownEventTypeError(f"no upcaster from {name}.v{version}")
        payload = step(payload)
        version += 1
    return payload


def _upcast_named(type_name: str, payload: Payload) -> tuple[_Schema, Payload]:
    match = _WIRE_NAME.fullmatch(type_name)
    if match is None:
        raise UnknownEventTypeError(f"{type_name!r} is not a versioned wire name (Name.vN)")
    name, version = match.group(1), int(match.group(2))
    upcast_payload = upcast(name, version, payload)
    return _BY_NAME[name], upcast_payload


def from_payload(type_name: str, payload: Payload) -> GridEvent:
    """Build the current domain event from a stored payload of any known version."""
    if not isinstance(payload, dict):
        raise MalformedEventError(f"{type_name} data must be a JSON object")
    schema = _CURRENT.get(type_name)
    try:
        if schema is None:  # an older version, or an unknown name: the slow path
            schema, payload = _upcast_named(type_name, payload)
        kwargs = {name: dec(payload[name]) for name, dec in schema.required}
        for name, dec in schema.optional:
            if name in payload:
                kwargs[name] = dec(payload[name])
        return schema.cls(**kwargs)
    except (KeyError, TypeError, ValueError, DomainError) as error:
        raise MalformedEventError(f"{type_name} data does not fit: {error!r}") from error


def decode(type_name: str, data: bytes) -> GridEvent:
    """The domain event for stored ``(type, data)``, upcast to its current class."""
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedEventError(f"{type_name} data is not JSON: {error}") from error
    return from_payload(type_name, payload)


def encode_snapshot(snapshot: GridSnapshot) -> bytes:
    """A snapshot as compact JSON bytes (stored under SNAPSHOT_TYPE)."""
    return json.dumps(snapshot.to_data(), separators=(",", ":"), ensure_ascii=False).encode()


def decode_snapshot(data: bytes) -> GridSnapshot:
    """Parse ``encode_snapshot``'s bytes; SnapshotUnusableError means replay in full instead."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise SnapshotCorruptError(f"snapshot is not JSON: {error}") from error
    return GridSnapshot.from_data(raw)
