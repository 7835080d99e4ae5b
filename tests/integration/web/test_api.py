"""The page's JSON API and live stream over real HTTP, on the real system (no browser)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import httpx
import pytest
from httpx_sse import aconnect_sse

from services.common.auth import METHOD_ROLES
from services.web.rpc import HTTP_STATUS, routes
from tests.integration.web.conftest import StartSystem
from tests.integration.web.raw import read_until, unread_stream
from tests.integration.web.system import WebSystem

pytestmark = pytest.mark.slow

COMMAND = "/api/rover.v1.RoverCommandService"
QUERY = "/api/rover.v1.RoverQueryService"


def test_every_grpc_code_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(grpc.StatusCode)


def test_the_page_may_call_every_rpc_of_the_command_and_query_services() -> None:
    # METHOD_ROLES is held equal to every RPC of the contract (tests/unit/common/test_auth*).
    page_services = ("/rover.v1.RoverCommandService/", "/rover.v1.RoverQueryService/")
    expected = {method.lstrip("/") for method in METHOD_ROLES if method.startswith(page_services)}
    assert set(routes()) == expected


async def post(client: httpx.AsyncClient, path: str, body: Any, **headers: str) -> httpx.Response:
    return await client.post(
        path, content=json.dumps(body), headers={"content-type": "application/json", **headers}
    )


async def created(client: httpx.AsyncClient, grid_id: str, rovers: int = 1) -> None:
    reply = await post(
        client, f"{COMMAND}/CreateGrid", {"gridId": grid_id, "width": 5, "height": 5}
    )
    assert reply.status_code == 200, reply.text
    for number in range(rovers):
        reply = await post(
            client,
            f"{COMMAND}/CreateRover",
            {
                "gridId": grid_id,
                "roverId": f"r{number}",
                "position": {"x": number, "y": 0},
                "facing": "DIRECTION_NORTH",
            },
        )
        assert reply.status_code == 200, reply.text


@pytest.fixture
async def system(start_system: StartSystem) -> WebSystem:
    return await start_system()


@pytest.fixture
async def client(system: WebSystem) -> Any:
    async with httpx.AsyncClient(base_url=system.url, timeout=10) as client:
        yield client


async def test_a_command_and_its_errors_come_back_as_the_services_answer_them(
    client: httpx.AsyncClient,
) -> None:
    await created(client, "utopia")
    reply = await post(
        client,
        f"{COMMAND}/ExecuteRoverCommands",
        {"gridId": "utopia", "roverId": "r0", "commands": "FF"},
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["version"] == "4"
    assert [event["sequence"] for event in body["events"]] == ["3", "4"]

    missing = await post(client, f"{QUERY}/GetGridDetails", {"gridId": "nowhere"})
    assert missing.status_code == 404
    error = missing.json()
    assert error["code"] == "NOT_FOUND"
    assert error["message"] == "grid 'nowhere' does not exist"
    assert {detail["@type"] for detail in error["details"]} == {
        "google.rpc.ErrorInfo",
        "google.rpc.ResourceInfo",
    }
    bad = await post(client, f"{COMMAND}/CreateGrid", {"gridId": "x", "width": 0, "height": 1})
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_ARGUMENT"
    again = await post(
        client, f"{COMMAND}/CreateGrid", {"gridId": "utopia", "width": 5, "height": 5}
    )
    assert again.status_code == HTTP_STATUS[grpc.StatusCode.ALREADY_EXISTS]


async def test_requests_the_contract_does_not_have_are_refused_in_words(
    client: httpx.AsyncClient,
) -> None:
    unknown = await post(client, "/api/rover.v1.RoverAdminService/Rebuild", {})
    assert unknown.status_code == 501
    assert unknown.json()["details"][0]["reason"] == "METHOD_NOT_FOUND"
    malformed = await client.post(
        f"{QUERY}/ListGrids", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert "rover.v1.ListGridsRequest" in malformed.json()["message"]
    unknown_field = await post(client, f"{QUERY}/ListGrids", {"pageSize": 1, "colour": "red"})
    assert unknown_field.status_code == 400
    huge = await post(client, f"{QUERY}/ListGrids", {"pageToken": "x" * (1 << 20)})
    assert huge.status_code == 400
    assert huge.json()["details"][0]["reason"] == "BODY_TOO_LARGE"


async def test_writes_from_another_origin_or_not_json_are_refused(
    client: httpx.AsyncClient,
) -> None:
    body = {"gridId": "forged", "width": 3, "height": 3}
    forged = await post(client, f"{COMMAND}/CreateGrid", body, origin="http://evil.example")
    assert forged.status_code == 403
    assert forged.json()["details"][0]["reason"] == "CROSS_ORIGIN_WRITE"
    cross_site = await post(
        client, f"{COMMAND}/CreateGrid", body, **{"sec-fetch-site": "cross-site"}
    )
    assert cross_site.status_code == 403
    form = await client.post(f"{COMMAND}/CreateGrid", data={"gridId": "forged"})
    assert form.status_code == 400
    assert form.json()["details"][0]["reason"] == "CONTENT_TYPE_NOT_JSON"
    missing = await post(client, f"{QUERY}/GetGridDetails", {"gridId": "forged"})
    assert missing.status_code == 404  # none of them was carried out
    own = await post(client, f"{COMMAND}/CreateGrid", body, origin=str(client.base_url).rstrip("/"))
    assert own.status_code == 200


async def events(client: httpx.AsyncClient, path: str, count: int, **headers: str) -> list[Any]:
    out = []
    async with aconnect_sse(client, "GET", path, headers=headers) as source:
        async for event in source.aiter_sse():
            out.append((event.event, event.id, json.loads(event.data)))
            if len(out) == count or event.event == "error":
                break
    return out


async def wait_published(client: httpx.AsyncClient, path: str) -> None:
    """Until the broadcaster knows the grid (acknowledged is not yet published)."""
    for _ in range(200):
        first = await events(client, path, 1)
        if first[0][0] != "error":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never opened: {first}")


async def test_the_live_stream_starts_with_the_snapshot_and_resumes_after_the_last_event_id(
    client: httpx.AsyncClient,
) -> None:
    await created(client, "elysium", rovers=2)
    await wait_published(client, "/live/elysium")
    first = await events(client, "/live/elysium", 1)
    assert first[0][:2] == ("snapshot", "3")
    assert [rover["roverId"] for rover in first[0][2]["snapshot"]["rovers"]] == ["r0", "r1"]
    resumed = await events(client, "/live/elysium", 2, **{"last-event-id": "1"})
    assert [(kind, event_id) for kind, event_id, _ in resumed] == [("event", "2"), ("event", "3")]
    assert resumed[0][2]["event"]["rover"]["position"] == {"x": 0, "y": 0}
    by_query = await events(client, "/live/elysium?from_version=2", 1)
    assert by_query[0][1] == "3"

    bad = await client.get("/live/elysium?from_version=-1")
    assert bad.status_code == 400
    assert bad.json()["details"][1]["reason"] == "FROM_VERSION_INVALID"
    beyond = await events(client, "/live/elysium?from_version=99", 1)
    assert beyond[0][0] == "error"
    assert beyond[0][2]["code"] == "INVALID_ARGUMENT"
    missing = await events(client, "/live/nowhere", 1)
    assert missing[0][2]["code"] == "NOT_FOUND"


async def test_a_browser_that_reads_too_slowly_is_told_to_resume(
    start_system: StartSystem,
) -> None:
    system = await start_system(broadcaster_overrides={"broadcaster_queue_size": 4})
    assert system.live is not None
    async with httpx.AsyncClient(base_url=system.url, timeout=10) as client:
        await created(client, "slow")
        await wait_published(client, "/live/slow")
        reader = unread_stream(system.url, "/live/slow")
        for _ in range(200):
            if system.live.parts.hub.watcher_count:
                break
            await asyncio.sleep(0.02)
        # The page never reads: its socket and the web server fill up, then its queue in the
        # web process's hub for the grid (or, before it joined, the broadcaster's queue for its
        # own call) overflows and it is dropped; the last page gone, the shared call ends.
        hub = system.live.parts.hub
        for _ in range(30):  # batches until it is dropped: the buffers on the way hold thousands
            reply = await post(
                client,
                f"{COMMAND}/ExecuteRoverCommands",
                {"gridId": "slow", "roverId": "r0", "commands": "L" * 1000},
            )
            assert reply.status_code == 200, reply.text
            for _ in range(40):  # the publisher and the broadcaster catch up
                if not hub.watcher_count:
                    break
                await asyncio.sleep(0.05)
            if not hub.watcher_count:
                break
        assert hub.watcher_count == 0, hub.queue_sizes()
        text = await read_until(reader, b"WATCHER_FELL_BEHIND")
        assert "event: resume" in text
        assert "WATCHER_FELL_BEHIND" in text
