"""The event store URI: checked as esdbclient parses it; which URIs follow a new leader."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.broadcaster.settings import BroadcasterSettings
from services.command.settings import CommandSettings
from services.common.settings import EventStoreClientSettings, follows_leader
from services.query.settings import QuerySettings


@pytest.mark.parametrize(
    ("uri", "follows"),
    [
        ("esdb://127.0.0.1:2113?Tls=false", False),  # one host: the client stays on it
        ("esdb://a:2113,b:2113,c:2113?Tls=false", True),
        ("esdb+discover://user:pass@cluster.example:2113", True),
        ("esdb://a:2113,b:2113?Tls=false&NodePreference=follower", False),
        ("esdb://a:2113,b:2113?Tls=false&nodepreference=Leader", True),
    ],
)
def test_which_uris_follow_a_new_leader(uri: str, follows: bool) -> None:
    assert follows_leader(uri) is follows


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:2113", "esdb://127.0.0.1:2113?NodePreference=nearest"]
)
def test_a_uri_esdbclient_rejects_is_rejected_with_the_settings(uri: str) -> None:
    with pytest.raises(ValidationError, match="eventstore_uri"):
        EventStoreClientSettings(eventstore_uri=uri)


def test_the_writer_must_prefer_the_leader() -> None:
    follower = "esdb://a:2113,b:2113?Tls=false&NodePreference=follower"
    with pytest.raises(ValidationError, match="NodePreference=follower cannot write"):
        CommandSettings(eventstore_uri=follower)
    assert QuerySettings(eventstore_uri=follower).eventstore_uri == follower  # readers may
    assert BroadcasterSettings(eventstore_uri=follower).eventstore_uri == follower
