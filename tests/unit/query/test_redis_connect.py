"""ROVER_REDIS_URL's two forms: one server, or the sentinels and the master name they watch."""

from __future__ import annotations

import pytest
from redis.asyncio.sentinel import SentinelConnectionPool

from services.query.adapters.redis_connect import SentinelTarget, connect, parse_sentinel_url


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_database() -> None:
    assert parse_sentinel_url("redis+sentinel://s1:26380,s2,10.0.0.3:5000/mymaster/2") == (
        SentinelTarget((("s1", 26380), ("s2", 26379), ("10.0.0.3", 5000)), "mymaster", 2)
    )


def test_the_password_of_a_sentinel_url_is_the_masters() -> None:
    target = parse_sentinel_url("redis+sentinel://:p%40ss@s1:26379/m")
    assert (target.password, target.db, target.master) == ("p@ss", 0, "m")


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel://s1:26379", "master-name"),
        ("redis+sentinel://s1:26379/m/0/extra", "master-name"),
        ("redis+sentinel://s1:port/m", r"is not host\[:port\]"),
        ("redis+sentinel://s1,,s2/m", r"is not host\[:port\]"),
        ("redis+sentinel://s1/m/zero", "not a number"),
        ("redis://s1:6379/0", r"not a redis\+sentinel"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_with_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_sentinel_url(url)


async def test_a_sentinel_url_gives_clients_that_ask_the_sentinels_for_the_master() -> None:
    clients = connect("redis+sentinel://127.0.0.1:1,127.0.0.1:2/m")
    try:
        assert isinstance(clients.text.connection_pool, SentinelConnectionPool)
        assert isinstance(clients.raw.connection_pool, SentinelConnectionPool)
        assert clients.text.connection_pool.service_name == "m"
        assert len(clients.sentinels) == 2
    finally:
        await clients.close()


async def test_a_plain_url_gives_a_text_and_a_bytes_client_on_one_server() -> None:
    clients = connect("redis://127.0.0.1:6390/3")
    try:
        for client, decoded in ((clients.text, True), (clients.raw, False)):
            kwargs = client.connection_pool.connection_kwargs
            assert (kwargs["port"], kwargs["db"], kwargs["decode_responses"]) == (6390, 3, decoded)
        assert clients.sentinels == ()
    finally:
        await clients.close()
