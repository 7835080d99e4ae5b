"""ROVER_REDIS_URL's forms (one server, Sentinel, Cluster) and the key layouts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.crc import key_slot as _key_slot

from services.query.adapters.redis_connect import (
    SentinelTarget,
    connect,
    parse_cluster_url,
    parse_sentinel_url,
)
from services.query.adapters.redis_keys import KeyLayout
from services.query.settings import QuerySettings


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
        assert isinstance(clients.text, Redis)
        assert isinstance(clients.raw, Redis)
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
            assert isinstance(client, Redis)
            kwargs = client.connection_pool.connection_kwargs
            assert (kwargs["port"], kwargs["db"], kwargs["decode_responses"]) == (6390, 3, decoded)
        assert clients.sentinels == ()
    finally:
        await clients.close()


def test_a_cluster_url_names_some_nodes_and_no_database() -> None:
    assert parse_cluster_url("redis+cluster://:pw@n1:7000,n2") == (
        (("n1", 7000), ("n2", 6379)),
        "pw",
    )
    with pytest.raises(ValueError, match="no databases"):
        parse_cluster_url("redis+cluster://n1:7000/1")


async def test_a_cluster_url_gives_cluster_clients() -> None:
    clients = connect("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    try:
        assert isinstance(clients.text, RedisCluster)
        assert isinstance(clients.raw, RedisCluster)
        assert len(clients.text.startup_nodes) == 2
    finally:
        await clients.close()


def key_slot(key: str) -> int:
    """The cluster slot of ``key`` (its hash tag's when it has one)."""
    return _key_slot(key.encode())


@pytest.mark.parametrize("grid_id", ["g", "a-b_c", "meta", "x" * 64])
def test_in_the_tagged_layout_a_grids_keys_share_its_tag_and_read_as_the_flat_ones(
    grid_id: str,
) -> None:
    flat, tagged = KeyLayout("p"), KeyLayout("p", tagged=True)
    keys = [*tagged.grid_keys(3, grid_id), tagged.rover(tagged.grid(3, grid_id), "r1")]
    assert {key_slot(key) for key in keys} == {key_slot("{" + grid_id + "}")}
    plain = [*flat.grid_keys(3, grid_id), flat.rover(flat.grid(3, grid_id), "r1")]
    generation = tagged.generation(3)
    assert [tagged.plain(k.removeprefix(generation)) for k in keys] == [
        k.removeprefix(generation) for k in plain
    ]


def test_in_the_tagged_layout_the_bookkeeping_shares_one_slot() -> None:
    tagged = KeyLayout("rover:query", tagged=True)
    meta = [tagged.meta(n) for n in ("active", "generations", "commits", "lease:projector")]
    meta += [tagged.generation_meta(g, n) for g in (1, 2) for n in ("checkpoint", "grids")]
    assert len({key_slot(k) for k in meta}) == 1
    assert all(k.startswith("rover:query:") for k in meta)
    assert tagged.plain("{meta}:checkpoint") == "checkpoint"


@pytest.mark.parametrize(
    "url", ["redis+sentinel://s1:26379", "redis+cluster://n1:7000/1", "redis+cluster://n1:x"]
)
def test_a_malformed_sentinel_or_cluster_url_is_a_settings_error(url: str) -> None:
    with pytest.raises(ValidationError, match="redis_url"):
        QuerySettings(redis_url=url)


def test_every_url_form_is_a_valid_setting() -> None:
    for url in ("redis://h:6379/0", "redis+sentinel://s1,s2/m", "redis+cluster://n1,n2:7001"):
        assert QuerySettings(redis_url=url).redis_url == url
