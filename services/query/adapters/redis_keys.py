"""The names of the read model's Redis keys, in its two layouts (docs/read-model.md).

- ``flat`` (one server, Sentinel): ``<prefix>:active``, ``<prefix>:g<n>:checkpoint``,
  ``<prefix>:g<n>:grid:<grid id>...``.
- ``tagged`` (Redis Cluster): the same names with hash tags, so that what one script touches
  sits in one slot: a grid's keys share ``{<grid id>}`` (``<prefix>:g<n>:grid:{<grid id>}...``),
  so grids spread over the nodes; the bookkeeping (active generation, counters, leases, each
  generation's checkpoint and grid index) shares ``{meta}`` (``<prefix>:{meta}:active``,
  ``<prefix>:g<n>:{meta}:checkpoint``).

Every key of generation n starts with ``<prefix>:g<n>:`` in both, so one SCAN pattern finds
them (and drops them). A grid's other keys are its key plus a suffix (``_GRID_PARTS``, and
``:rover:<rover id>``), so they share its hash tag.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KeyLayout"]

_META_TAG = "{meta}"
_GRID_PARTS = (":obstacles", ":rovers", ":details")
"""Suffixes of a grid's fixed keys after its hash (set, sorted set, serialised details)."""


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Key names under ``prefix``; ``tagged`` for Redis Cluster."""

    prefix: str
    tagged: bool = False

    def meta(self, name: str) -> str:
        """A bookkeeping key: ``active``, ``generations``, ``commits``, ``lease:projector``..."""
        return f"{self.prefix}:{_META_TAG}:{name}" if self.tagged else f"{self.prefix}:{name}"

    def generation(self, generation: int) -> str:
        """The prefix every key of ``generation`` starts with: ``<prefix>:g<n>:``."""
        return f"{self.prefix}:g{generation}:"

    def generation_meta(self, generation: int, name: str) -> str:
        """A generation's bookkeeping key: ``checkpoint`` or ``grids`` (the index)."""
        tag = f"{_META_TAG}:" if self.tagged else ""
        return f"{self.generation(generation)}{tag}{name}"

    def grid(self, generation: int, grid_id: str) -> str:
        """The hash of a grid; its other keys are this plus a suffix."""
        name = f"{{{grid_id}}}" if self.tagged else grid_id
        return f"{self.generation(generation)}grid:{name}"

    def grid_keys(self, generation: int, grid_id: str) -> list[str]:
        """The grid's hash and its fixed keys (``_GRID_PARTS``), in that order."""
        key = self.grid(generation, grid_id)
        return [key, *(key + part for part in _GRID_PARTS)]

    def plain(self, name: str) -> str:
        """A key name relative to its generation's prefix, as the flat layout spells it (ids
        are ``[A-Za-z0-9_-]``, so every brace is a tag's): rows compare across layouts."""
        if not self.tagged:
            return name
        return name.removeprefix(f"{_META_TAG}:").replace("{", "").replace("}", "")

    @staticmethod
    def rover(grid_key: str, rover_id: str) -> str:
        """The hash of a rover of the grid whose hash is ``grid_key``."""
        return f"{grid_key}:rover:{rover_id}"
