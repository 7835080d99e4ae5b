"""The commit position in a persistent subscription group's reported position
(services/query/adapters/esdb_inbox_group.py)."""

from __future__ import annotations

import pytest

from services.query.adapters.esdb_inbox_group import commit_position


@pytest.mark.parametrize(
    ("reported", "position"),
    [("C:1234/P:1234", 1234), ("C:0/P:0", 0), ("", None), ("17", None), ("C:x/P:1", None)],
)
def test_the_commit_position_is_read_from_an_all_position(
    reported: str, position: int | None
) -> None:
    assert commit_position(reported) == position
