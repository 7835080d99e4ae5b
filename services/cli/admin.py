"""``rover admin ...``: the operator's toolbox over rover.v1.RoverAdminService.

status (a table of subscriptions), rebuild (a progress bar on stderr, then a summary), audit
(drift per grid; exit status 4 when any drifted), repair GRID, parked list, parked replay.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from protos.rover.v1 import admin_pb2, admin_pb2_grpc
from services.cli.errors import EXIT_FOUND_PROBLEMS, EXIT_OK
from services.cli.render import table
from services.common.parked import CONSUMERS
from services.common.progress import ProgressBar

__all__ = ["add_admin_commands", "render_audit", "render_subscriptions", "run_admin"]

Out = Callable[[str], None]
Sub = Callable[..., argparse.ArgumentParser]  # parser.build_parser's sub(group, name, text)


def state_word(state: int) -> str:
    """A SubscriptionState in words, from the contract's own names (UNSPECIFIED: unknown)."""
    try:
        name = admin_pb2.SubscriptionState.Name(state)  # type: ignore[arg-type]
    except ValueError:  # a state newer than this CLI
        return "unknown"
    word = name.removeprefix("SUBSCRIPTION_STATE_").lower().replace("_", " ")
    return "unknown" if word == "unspecified" else word


def add_admin_commands(admin: argparse.ArgumentParser, sub: Sub) -> None:
    """The ``admin`` command's subcommands, made with the parser's ``sub(group, name, text)``."""
    group = admin.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    sub(group, "status", "every subscription: position, lag, state, parked events")
    sub(group, "rebuild", "replay every event into a new read model and swap it in")
    audit = sub(group, "audit", "compare the read model with a replay of the store (exit 4: drift)")
    audit.add_argument("grids", nargs="*", metavar="GRID", help="grid ids (default: every grid)")
    audit.add_argument("--all-grids", action="store_true", help="list clean grids too")
    repair = sub(group, "repair", "replace one grid's read model entry with a replay")
    repair.add_argument("grid", help="grid id")
    parked = sub(group, "parked", "events a consumer could not decode or apply")
    what = parked.add_subparsers(dest="parked_command", required=True, metavar="list|replay")
    listing = sub(what, "list", "list the unresolved parked events")
    listing.add_argument("--consumer", choices=CONSUMERS, default="", help="only this one")
    replay = sub(what, "replay", "replay parked events after a fix (exit 4: some stay parked)")
    replay.add_argument("ids", nargs="*", metavar="ID", help="parked event ids")
    replay.add_argument("--all", action="store_true", help="every unresolved parked event")


def render_subscriptions(subscriptions: Sequence[admin_pb2.Subscription]) -> str:
    """``rover admin status``: one row per subscription."""
    rows = [("SUBSCRIPTION", "STATE", "POSITION", "LAG", "LAG(S)", "PARKED", "HOLDER")]
    for s in subscriptions:
        position = str(s.position) if s.has_checkpoint else "-"
        lag = f">={s.lag_events}" if s.lag_capped else str(s.lag_events)
        seconds = f"{s.lag_seconds:.1f}" if s.has_checkpoint else "-"
        if not s.has_checkpoint and s.name == "broadcaster":
            lag = "-"
        rows.append(
            (s.name, state_word(s.state), position, lag, seconds, str(s.parked), s.holder or "-")
        )
    text = table(rows, left=(True, True, False, False, False, False, True))
    problems = [f"{s.name}: {s.problem}" for s in subscriptions if s.problem]
    return "\n".join([text, *problems])


def render_audit(audits: Sequence[admin_pb2.AuditGridsResponse]) -> str:
    """``rover admin audit``: a line per grid, then one per drifted field."""
    if not audits:
        return "no drift: the read model agrees with the store"
    lines = []
    for a in audits:
        word = "DRIFT" if a.drifted else ("behind" if a.behind else "ok")
        lines.append(f"{a.grid_id}: {word} (model v{a.model_version}, store v{a.store_version})")
        lines += [
            f"  {f.field}: model {f.model or '-'!r}, store {f.store or '-'!r}" for f in a.fields
        ]
    drifted = sum(1 for a in audits if a.drifted)
    lines.append(f"{drifted} of {len(audits)} grid(s) drifted")
    return "\n".join(lines)


def run_admin(
    args: argparse.Namespace, stub: admin_pb2_grpc.RoverAdminServiceStub, timeout: float, out: Out
) -> int:
    """Run one admin command; its exit status."""
    command = args.admin_command
    if command == "status":
        reply = stub.ListSubscriptions(admin_pb2.ListSubscriptionsRequest(), timeout=timeout)
        out(render_subscriptions(reply.subscriptions))
    elif command == "rebuild":
        bar = ProgressBar()
        for step in stub.Rebuild(admin_pb2.RebuildRequest()):  # no deadline: it takes long
            if step.done:
                sys.stderr.write("\n")
                out(
                    f"rebuilt: generation {step.generation} replaced {step.replaced}, "
                    f"{step.events:,} events in {step.seconds:.1f}s"
                )
            else:
                bar.show(step.events, step.position, step.target)
    elif command == "audit":
        request = admin_pb2.AuditGridsRequest(grid_ids=args.grids, drifted_only=not args.all_grids)
        audits = list(stub.AuditGrids(request))
        out(render_audit(audits))
        return EXIT_FOUND_PROBLEMS if any(a.drifted for a in audits) else EXIT_OK
    elif command == "repair":
        repaired = stub.RepairGrid(admin_pb2.RepairGridRequest(grid_id=args.grid), timeout=timeout)
        fixed = ", ".join(f.field for f in repaired.fixed) or "nothing (it was right)"
        out(
            f"{repaired.grid_id}: repaired at version {repaired.version} "
            f"(was {repaired.previous_version}); fixed: {fixed}"
        )
    elif args.parked_command == "list":
        found = stub.ListParkedEvents(
            admin_pb2.ListParkedEventsRequest(consumer=args.consumer), timeout=timeout
        ).events
        rows = [("ID", "CONSUMER", "EVENT", "GRID", "REASON")]
        rows += [
            (p.id, p.consumer, f"{p.stream}@{p.revision}", p.grid_id or "-", p.reason)
            for p in found
        ]
        out(table(rows, left=(True,) * 5) if found else "no parked events")
    else:
        replay = admin_pb2.ReplayParkedEventsRequest(ids=args.ids, all=args.all)
        outcomes = stub.ReplayParkedEvents(replay, timeout=timeout).outcomes
        for o in outcomes:
            out(f"{o.id}: {'resolved' if o.resolved else 'still parked'}: {o.detail}")
        if not outcomes:
            out("no parked events")
        return EXIT_FOUND_PROBLEMS if any(not o.resolved for o in outcomes) else EXIT_OK
    return EXIT_OK
