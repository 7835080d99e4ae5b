"""RoverAdminService servicer: parse, call the admin use cases, map results and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from protos.rover.v1 import admin_pb2, admin_pb2_grpc
from services.common.parked import ParkedEvent
from services.common.request_limits import MAX_AUDIT_GRIDS, MAX_REPLAY_IDS
from services.query.application.audit import Auditor, FieldDrift, GridAudit
from services.query.application.errors import InvalidQueryError
from services.query.application.parked_replay import ParkedReplay
from services.query.application.rebuild import RebuildProgress
from services.query.application.rebuild_once import ExclusiveRebuild
from services.query.application.repair import RepairResult
from services.query.application.subscriptions import (
    Subscriptions,
    SubscriptionState,
    SubscriptionStatus,
)
from services.query.grpc.admin_errors import ADMIN_ANSWERED, ADMIN_STATUS
from services.query.grpc.servicer import Context

__all__ = ["AdminServicer", "AdminUseCases"]

_STATES = {
    SubscriptionState.UNKNOWN: admin_pb2.SUBSCRIPTION_STATE_UNSPECIFIED,
    SubscriptionState.ACTIVE: admin_pb2.SUBSCRIPTION_STATE_ACTIVE,
    SubscriptionState.STANDBY: admin_pb2.SUBSCRIPTION_STATE_STANDBY,
    SubscriptionState.CATCHING_UP: admin_pb2.SUBSCRIPTION_STATE_CATCHING_UP,
    SubscriptionState.DEGRADED: admin_pb2.SUBSCRIPTION_STATE_DEGRADED,
    SubscriptionState.STOPPED: admin_pb2.SUBSCRIPTION_STATE_STOPPED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminUseCases:
    """What the admin API calls (wired by the query service's bootstrap)."""

    subscriptions: Subscriptions
    rebuilds: ExclusiveRebuild
    auditor: Auditor
    repair: Callable[[str], Awaitable[RepairResult]]
    parked: ParkedReplay
    parse_grid_id: Callable[[str], str]


def _check_count(field: str, count: int, most: int) -> None:
    """Refuse an over-long list before any of its items is parsed."""
    if count > most:
        raise InvalidQueryError(
            f"{field} names {count} items; at most {most} are allowed",
            field=field,
            reason="TOO_MANY_IDS",
        )


def _subscription(s: SubscriptionStatus) -> admin_pb2.Subscription:
    return admin_pb2.Subscription(
        name=s.name,
        source=s.source,
        position=s.position,
        has_checkpoint=s.has_checkpoint,
        lag_events=s.lag_events,
        lag_capped=s.lag_capped,
        lag_seconds=s.lag_seconds,
        state=_STATES[s.state],
        parked=s.parked,
        holder=s.holder,
        problem=s.problem,
    )


def _drifts(fields: tuple[FieldDrift, ...]) -> list[admin_pb2.FieldDrift]:
    return [admin_pb2.FieldDrift(field=f.field, model=f.model, store=f.store) for f in fields]


def _audit(audit: GridAudit) -> admin_pb2.AuditGridsResponse:
    return admin_pb2.AuditGridsResponse(
        grid_id=audit.grid_id,
        model_version=audit.model_version,
        store_version=audit.store_version,
        drifted=audit.drifted,
        behind=audit.behind,
        fields=_drifts(audit.fields),
    )


def _parked(p: ParkedEvent) -> admin_pb2.ParkedEvent:
    e = p.event
    return admin_pb2.ParkedEvent(
        id=p.parked_id,
        consumer=p.consumer,
        stream=e.stream,
        revision=e.revision,
        commit_position=e.commit_position,
        event_id=e.event_id,
        event_type=e.event_type,
        grid_id=e.grid_id,
        reason=e.reason,
        parked_at_ms=p.parked_at_ms,
    )


def _progress(p: RebuildProgress) -> admin_pb2.RebuildResponse:
    return admin_pb2.RebuildResponse(events=p.events, position=p.position, target=p.target)


class AdminServicer(admin_pb2_grpc.RoverAdminServiceServicer):
    """The operator's API (``rover.v1.RoverAdminService``); every error goes through the
    ``ADMIN_STATUS`` table."""

    def __init__(self, use: AdminUseCases) -> None:
        self._use = use

    async def ListSubscriptions(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.ListSubscriptionsRequest, context: Context
    ) -> admin_pb2.ListSubscriptionsResponse:
        try:
            found = await self._use.subscriptions.statuses()
        except ADMIN_ANSWERED as error:
            await ADMIN_STATUS.abort(context, error)
        return admin_pb2.ListSubscriptionsResponse(subscriptions=[_subscription(s) for s in found])

    async def Rebuild(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.RebuildRequest, context: Context
    ) -> AsyncIterator[admin_pb2.RebuildResponse]:
        """Progress as the rebuild goes (the newest only, when several wait), then the
        result. The rebuild belongs to the service: a client that leaves does not stop it."""
        steps: asyncio.Queue[RebuildProgress | None] = asyncio.Queue()
        try:
            task = await self._use.rebuilds.start(steps.put_nowait)
        except ADMIN_ANSWERED as error:
            await ADMIN_STATUS.abort(context, error)
        while True:
            getter = asyncio.ensure_future(steps.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            step = getter.result()
            while not steps.empty():
                step = steps.get_nowait()
            if step is None:
                break
            yield _progress(step)
        try:
            result = await asyncio.shield(task)
        except ADMIN_ANSWERED as error:
            await ADMIN_STATUS.abort(context, error)
        yield admin_pb2.RebuildResponse(
            events=result.events,
            done=True,
            generation=result.generation,
            replaced=result.replaced,
            seconds=result.seconds,
        )

    async def AuditGrids(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.AuditGridsRequest, context: Context
    ) -> AsyncIterator[admin_pb2.AuditGridsResponse]:
        try:
            _check_count("grid_ids", len(request.grid_ids), MAX_AUDIT_GRIDS)
            ids = [self._use.parse_grid_id(g) for g in request.grid_ids]
            grids = ids or [g async for g in self._use.auditor.grid_ids()]
            for grid_id in grids:
                audit = await self._use.auditor.audit(grid_id)
                if audit.drifted or not request.drifted_only:
                    yield _audit(audit)
        except ADMIN_ANSWERED as error:
            await ADMIN_STATUS.abort(context, error)

    async def RepairGrid(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.RepairGridRequest, context: Context
    ) -> admin_pb2.RepairGridResponse:
        try:
            result = await self._use.repair(self._use.parse_grid_id(request.grid_id))
        except ADMIN_ANSWERED as error:
            await ADMIN_STATUS.abort(context, error)
        return admin_pb2.RepairGridResponse(
            grid_id=result.grid_id,
            previous_version=result.previous_version,
            version=result.version,
            fixed=_drifts(result.fixed),
        )

    async def ListParkedEvents(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.ListParkedEventsRequest, context: Context
    ) -> admin_pb2.ListParkedEventsResponse:
        try:
            found = await self._use.parked.unresolved(request.consumer)
        except ADMIN_ANSWERED as error:
            await ADMIN_STATUS.abort(context, error)
        return admin_pb2.ListParkedEventsResponse(events=[_parked(p) for p in found])

    async def ReplayParkedEvents(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.ReplayParkedEventsRequest, context: Context
    ) -> admin_pb2.ReplayParkedEventsResponse:
        try:
            _check_count("ids", len(request.ids), MAX_REPLAY_IDS)
            if bool(request.ids) == request.all:
                raise InvalidQueryError(
                    "name the parked events to replay (ids) or set all, not both or neither",
                    field="ids",
                    reason="IDS_OR_ALL",
                )
            outcomes = await self._use.parked.replay(list(request.ids))
        except ADMIN_ANSWERED as error:
            await ADMIN_STATUS.abort(context, error)
        return admin_pb2.ReplayParkedEventsResponse(
            outcomes=[
                admin_pb2.ReplayOutcome(id=o.parked_id, resolved=o.resolved, detail=o.detail)
                for o in outcomes
            ]
        )
