"""Audit and repair use cases on the in-memory fakes: lag is not drift, drift is found field by
field, a repair makes the entry the replay and gives up on a grid that never stops moving."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from domain.errors import GridNotFoundError
from services.command.settings import CommandSettings
from services.common.publisher_checkpoint import DEFAULT_CHECKPOINT_STREAM
from services.query.adapters.memory import InMemoryEventFeed, InMemoryReadModel
from services.query.application.audit import Auditor, FieldDrift, replayed
from services.query.application.ports import Checkpoint, HashUpdate
from services.query.application.projection import project
from services.query.application.repair import RepairContendedError, repair_grid
from services.query.dto import decode_view, encode_view
from services.query.settings import QuerySettings
from tests.unit.query.seed import seed_history


async def _model_with(feed: InMemoryEventFeed, updates: Sequence[HashUpdate]) -> InMemoryReadModel:
    model = InMemoryReadModel()
    generation = await model.active_generation()
    await model.commit(generation, updates, Checkpoint(len(updates)), must_be_active=True)
    return model


async def test_a_model_behind_the_store_is_behind_not_drifted() -> None:
    feed = InMemoryEventFeed()
    history = seed_history("g")
    feed.append(history)
    model = await _model_with(feed, [project(e) for e in history[:4]])
    audit = await Auditor(feed, model, decode_view).audit("g")
    assert (audit.model_version, audit.store_version, audit.behind, audit.drifted) == (
        4,
        7,
        True,
        False,
    )


async def test_drift_is_reported_field_by_field_and_a_repair_removes_it() -> None:
    feed = InMemoryEventFeed()
    history = seed_history("g")
    feed.append(history)
    wrong = [project(e) for e in history]
    wrong[-1] = HashUpdate(
        grid_id="g", sequence=7, grid_fields={"version": "7", "width": "9"}, rover_id="r1",
        rover_fields={"x": "5", "y": "4", "facing": "E", "version": "7"},
    )  # fmt: skip
    model = await _model_with(feed, wrong)
    auditor = Auditor(feed, model, decode_view)
    audit = await auditor.audit("g")
    assert audit.fields == (
        FieldDrift("width", "9", "6"),
        FieldDrift("rovers/r1", "5,4 E", "1,4 E"),
        FieldDrift("details.width", "9", "6"),
        FieldDrift("details.rovers/r1", "5,4 E", "1,4 E"),
    )
    result = await repair_grid(feed, model, "g")
    assert (result.previous_version, result.version) == (7, 7)
    assert [f.field for f in result.fixed] == ["width", "rovers/r1"]
    assert not (await auditor.audit("g")).drifted
    assert await model.grid("g") == replayed([project(e) for e in history])
    with pytest.raises(GridNotFoundError):
        await auditor.audit("nowhere")
    with pytest.raises(GridNotFoundError):
        await repair_grid(feed, model, "nowhere")


class _MovingModel(InMemoryReadModel):
    """A grid that a projector moves between every read and write of the repair."""

    async def grid_versions(self, generation: int, grid_ids: Sequence[str]) -> dict[str, int]:
        found = await super().grid_versions(generation, grid_ids)
        return {g: v - 1 for g, v in found.items()}


async def test_a_repair_writes_nothing_while_the_grid_keeps_moving() -> None:
    feed = InMemoryEventFeed()
    history = seed_history("g")
    feed.append(history)
    model = _MovingModel()
    generation = await model.active_generation()
    await model.commit(
        generation, [project(e) for e in history[:3]], Checkpoint(3), must_be_active=True
    )
    before = await model.generation_rows(generation)
    with pytest.raises(RepairContendedError):
        await repair_grid(feed, model, "g", attempts=3)
    assert await model.generation_rows(generation) == before


def test_stored_details_decode_back_to_the_view_they_encode() -> None:
    view = replayed([project(e) for e in seed_history("g")])
    assert view is not None
    assert decode_view(encode_view(view)) == view


def test_both_services_read_the_same_publisher_checkpoint_stream_by_default() -> None:
    command = CommandSettings.model_fields["publisher_checkpoint_stream"].default
    query = QuerySettings.model_fields["publisher_checkpoint_stream"].default
    assert command == query == DEFAULT_CHECKPOINT_STREAM
