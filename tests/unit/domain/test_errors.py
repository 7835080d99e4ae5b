"""Domain errors carry a category, a machine reason and a field, so transports never parse text."""

from __future__ import annotations

import pytest

from domain import errors
from domain.errors import DomainError, ErrorCategory

EXPECTED_CATEGORY = {
    "InvalidIdError": ErrorCategory.INVALID_ARGUMENT,
    "InvalidGridSizeError": ErrorCategory.INVALID_ARGUMENT,
    "InvalidObstacleError": ErrorCategory.INVALID_ARGUMENT,
    "InvalidPositionError": ErrorCategory.INVALID_ARGUMENT,
    "PositionOutsideGridError": ErrorCategory.INVALID_ARGUMENT,
    "InvalidDirectionError": ErrorCategory.INVALID_ARGUMENT,
    "InvalidTopologyError": ErrorCategory.INVALID_ARGUMENT,
    "InvalidCommandsError": ErrorCategory.INVALID_ARGUMENT,
    "InvalidCommandCharacterError": ErrorCategory.INVALID_ARGUMENT,
    "GridNotFoundError": ErrorCategory.NOT_FOUND,
    "RoverNotFoundError": ErrorCategory.NOT_FOUND,
    "GridAlreadyExistsError": ErrorCategory.ALREADY_EXISTS,
    "RoverAlreadyExistsError": ErrorCategory.ALREADY_EXISTS,
    "CellOccupiedByRoverError": ErrorCategory.FAILED_PRECONDITION,
    "CellHasObstacleError": ErrorCategory.FAILED_PRECONDITION,
    "TooManyRoversError": ErrorCategory.RESOURCE_EXHAUSTED,
    "EventHistoryInvalidError": ErrorCategory.INTERNAL,
    "SnapshotUnusableError": ErrorCategory.INTERNAL,
    "SnapshotSchemaUnsupportedError": ErrorCategory.INTERNAL,
    "SnapshotCorruptError": ErrorCategory.INTERNAL,
}


def test_every_exported_error_is_listed_here() -> None:
    exported = {name for name in errors.__all__ if name not in {"DomainError", "ErrorCategory"}}
    assert exported == set(EXPECTED_CATEGORY)


@pytest.mark.parametrize(("name", "category"), sorted(EXPECTED_CATEGORY.items()))
def test_category_and_reason(name: str, category: ErrorCategory) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, DomainError)
    assert cls.category is category
    assert cls.default_reason.replace("_", "").isalpha()
    assert cls.default_reason.isupper()


def test_reasons_are_distinct_per_class() -> None:
    reasons = [getattr(errors, name).default_reason for name in EXPECTED_CATEGORY]
    assert len(reasons) == len(set(reasons))


def test_lookup_errors_name_their_subject() -> None:
    missing = errors.GridNotFoundError("g-9")
    assert (missing.field, missing.reason, missing.grid_id) == ("grid_id", "GRID_NOT_FOUND", "g-9")
    taken = errors.GridAlreadyExistsError("g-9")
    assert (taken.field, taken.reason) == ("grid_id", "GRID_ALREADY_EXISTS")
    assert "g-9" in str(taken)
