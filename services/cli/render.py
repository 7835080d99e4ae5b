"""Pure text rendering for the ``rover`` CLI: the grid as a map, events and results as lines."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from typing import assert_never

from protos.rover.v1 import command_pb2, common_pb2, events_pb2, query_pb2

__all__ = [
    "describe_event",
    "describe_result",
    "render_grid",
    "render_grid_list",
    "rover_labels",
    "table",
]

ARROWS: dict[int, str] = {
    common_pb2.DIRECTION_NORTH: "^",
    common_pb2.DIRECTION_EAST: ">",
    common_pb2.DIRECTION_SOUTH: "v",
    common_pb2.DIRECTION_WEST: "<",
}
_LETTERS: dict[int, str] = {
    common_pb2.DIRECTION_NORTH: "N",
    common_pb2.DIRECTION_EAST: "E",
    common_pb2.DIRECTION_SOUTH: "S",
    common_pb2.DIRECTION_WEST: "W",
}
_BLOCKERS: dict[int, str] = {
    common_pb2.BLOCKED_BY_EDGE: "the edge",
    common_pb2.BLOCKED_BY_OBSTACLE: "an obstacle",
    common_pb2.BLOCKED_BY_ROVER: "rover",
}
OBSTACLE = "#"
EMPTY = "."


def direction_letter(direction: int) -> str:
    """``N``, ``E``, ``S`` or ``W`` (``?`` for an unspecified direction)."""
    return _LETTERS.get(direction, "?")


def _at(position: common_pb2.Position) -> str:
    return f"({position.x},{position.y})"


def rover_labels(rover_ids: Iterable[str], keep: Mapping[str, str] | None = None) -> dict[str, str]:
    """One distinct character per rover for the map: its id's first letter when free.

    Labels in ``keep`` stay as they are (a watched map does not relabel a rover when another
    lands); new rovers are labelled in id order with their id's letters, then any free letter.
    """
    labels = dict(keep or {})
    taken = set(labels.values())
    for rover_id in sorted(set(rover_ids) - labels.keys()):
        letters = [c.upper() for c in rover_id if c.isalnum() and c.isascii()]
        fallback = string.ascii_uppercase + string.ascii_lowercase + string.digits
        label = next((c for c in [*letters, *fallback] if c not in taken), "?")
        labels[rover_id] = label
        taken.add(label)
    return labels


def _clip(line: str, columns: int) -> str:
    return line if len(line) <= columns else line[: max(columns - 3, 0)] + "..."


def render_grid(
    details: common_pb2.GridDetails,
    *,
    labels: Mapping[str, str] | None = None,
    fit: tuple[int, int] | None = None,
    max_width: int = 200,
    max_height: int = 100,
) -> str:
    """The grid as a map, North up: rovers by label, obstacles as ``#``, edges as a frame.

    Below the map a legend gives each rover's label, id, position and facing. A toroidal
    grid's frame is drawn with ``~`` and ``:`` (its edges wrap). A grid larger than
    ``max_width`` x ``max_height`` cells is shown from the origin, with a note. With
    ``fit=(columns, lines)`` the whole text fits in that many columns and lines: the map
    and the legend are cut to fit, and a line says what is not shown.
    """
    rovers = sorted(details.rovers, key=lambda r: r.rover_id)
    labels = rover_labels((r.rover_id for r in rovers), labels)
    legend = [
        f"  {labels[r.rover_id]} {r.rover_id} at {_at(r.position)} "
        f"facing {direction_letter(r.facing)} {ARROWS.get(r.facing, '?')}"
        for r in rovers
    ] or ["  (no rovers yet)"]
    cols, rows = min(details.width, max_width), min(details.height, max_height)
    if fit is not None:
        columns, lines = fit
        room = max(lines - 5, 2)  # header, the note, two frame lines and the axis
        wanted = min(len(legend), max(1, room // 3))
        rows_fit = max(1, min(rows, room - wanted))
        legend_fit = max(1, room - rows_fit)
        cols_fit = max(1, min(cols, (columns - len(str(max(rows_fit - 1, 0))) - 4) // 2))
        cols, rows = cols_fit, rows_fit
        if len(legend) > legend_fit:
            hidden = len(legend) - (legend_fit - 1)
            legend = [*legend[: legend_fit - 1], f"  ... and {hidden} more rovers"]
    toroidal = details.topology == common_pb2.TOPOLOGY_TOROIDAL
    cells: dict[tuple[int, int], str] = {(p.x, p.y): OBSTACLE for p in details.obstacles}
    for rover in rovers:
        cells[rover.position.x, rover.position.y] = labels[rover.rover_id]
    label = len(str(max(rows - 1, 0)))
    horizontal, vertical = ("~", ":") if toroidal else ("-", "|")
    frame = f"{'':>{label}} +{horizontal * (2 * cols + 1)}+"
    kind = "toroidal (edges wrap)" if toroidal else "bounded"
    out = [f"{details.grid_id}  {details.width}x{details.height} {kind}  version {details.version}"]
    if (cols, rows) != (details.width, details.height):
        out.append(
            f"(showing x 0..{cols - 1}, y 0..{rows - 1} of {details.width}x{details.height})"
        )
    out.append(frame)
    for y in range(rows - 1, -1, -1):
        row = " ".join(cells.get((x, y), EMPTY) for x in range(cols))
        out.append(f"{y:>{label}} {vertical} {row} {vertical}")
    out.append(frame)
    out.append(f"{'':>{label}}   " + " ".join(str(x % 10) for x in range(cols)))
    out += legend
    if fit is not None:
        out = [_clip(line, fit[0]) for line in out]
    return "\n".join(out)


def describe_event(event: events_pb2.IntegrationEvent) -> str:
    """One line for one event, e.g. ``#3 spirit moved forward (2,0) -> (2,1) facing N``."""
    head = f"#{event.sequence}"
    # Exhaustive over the payloads this CLI was built with: a new event fails mypy here until
    # it has its phrase. A newer server's event unknown to this build parses as no payload.
    kind = event.WhichOneof("payload")
    match kind:
        case "grid_created":
            g = event.grid_created
            topology = "toroidal" if g.topology == common_pb2.TOPOLOGY_TOROIDAL else "bounded"
            obstacles = " ".join(_at(p) for p in g.obstacles) or "none"
            size = f"{g.width}x{g.height} {topology}"
            return f"{head} grid {event.grid_id} created: {size}, obstacles {obstacles}"
        case "rover_created":
            r = event.rover_created
            facing = direction_letter(r.facing)
            return f"{head} {r.rover_id} landed at {_at(r.position)} facing {facing}"
        case "rover_moved_forward" | "rover_moved_backward":
            m = (
                event.rover_moved_forward
                if kind == "rover_moved_forward"
                else (event.rover_moved_backward)
            )
            way = "forward" if kind == "rover_moved_forward" else "backward"
            return (
                f"{head} {m.rover_id} moved {way} {_at(m.from_position)} -> "
                f"{_at(m.to_position)} facing {direction_letter(m.facing)}"
            )
        case "rover_turned_left" | "rover_turned_right":
            t = (
                event.rover_turned_left
                if kind == "rover_turned_left"
                else (event.rover_turned_right)
            )
            way = "left" if kind == "rover_turned_left" else "right"
            return (
                f"{head} {t.rover_id} turned {way} at {_at(t.position)}: "
                f"{direction_letter(t.from_facing)} -> {direction_letter(t.to_facing)}"
            )
        case "rover_blocked":
            b = event.rover_blocked
            by = _BLOCKERS.get(b.blocked_by, "something")
            if b.blocked_by == common_pb2.BLOCKED_BY_ROVER:
                by = f"rover {b.blocking_rover_id}"
            rest = f", not run: {b.remaining_commands}" if b.remaining_commands else ""
            where = f"{_at(b.position)} blocked by {by} at {_at(b.target)}"
            return f"{head} {b.rover_id} at {where}{rest}"
        case None:
            return f"{head} (an event this version of rover does not know)"
        case _:
            assert_never(kind)


def describe_result(result: command_pb2.CommandResult) -> str:
    """Every recorded event, then where the rover ended up and whether it was blocked."""
    lines = [describe_event(event) for event in result.events]
    if result.HasField("rover"):
        rover = result.rover
        lines.append(
            f"{rover.rover_id} is at {_at(rover.position)} facing "
            f"{direction_letter(rover.facing)} (grid {result.grid_id}, version {result.version})"
        )
    else:
        lines.append(f"grid {result.grid_id} is at version {result.version}")
    if result.HasField("block"):
        block = result.block
        by = _BLOCKERS.get(block.blocked_by, "something")
        if block.blocked_by == common_pb2.BLOCKED_BY_ROVER:
            by = f"rover {block.blocking_rover_id}"
        lines.append(f"BLOCKED by {by} at {_at(block.target)}; not run: {block.remaining_commands}")
    return "\n".join(lines)


def render_grid_list(grids: Sequence[query_pb2.GridSummary]) -> str:
    """``rover grids``: one row per grid, each column as wide as its widest value."""
    if not grids:
        return "no grids yet: create one with `rover grid create`"
    rows = [("GRID", "SIZE", "TOPOLOGY", "ROVERS", "VERSION")]
    for g in grids:
        topology = "toroidal" if g.topology == common_pb2.TOPOLOGY_TOROIDAL else "bounded"
        rows.append(
            (g.grid_id, f"{g.width}x{g.height}", topology, str(g.rover_count), str(g.version))
        )
    return table(rows, left=(True, False, True, False, False))


def table(rows: Sequence[Sequence[str]], *, left: Sequence[bool]) -> str:
    """Rows as columns as wide as their widest cell; ``left[i]``: column i flush left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        " ".join(
            cell.ljust(width) if flush else cell.rjust(width)
            for cell, width, flush in zip(row, widths, left, strict=True)
        ).rstrip()
        for row in rows
    )
