"""A session belongs to whoever opened it, on both transports, over real HTTP.

Another owner naming the session is answered exactly as if the session did
not exist, so the answer cannot be used to learn that it does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from hub_proxy.transport import SSEEndpoint
from tests.hub_proxy.bridge_process import RawClient, events
from tests.hub_proxy.transport.echo_app import (
    Served,
    delete,
    endpoint_of,
    initialized,
    serving,
    stream_status,
)

ALICE = "User:https://issuer.example:alice"
BOB = "User:https://issuer.example:bob"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving() as endpoint:
        yield endpoint


async def test_another_owner_gets_the_answer_an_unknown_session_gets(
    http: aiohttp.ClientSession, served: Served
) -> None:
    alice = await initialized(http, served.url, ALICE)
    refused = await alice.post(PING, X_Test_Owner=BOB)
    assert refused.status == 404
    assert (await alice.post(PING, X_Test_Owner=ALICE)).status == 200

    assert await delete(alice, ALICE) == 204
    unknown = await alice.post(PING, X_Test_Owner=ALICE)
    assert (unknown.status, unknown.body) == (refused.status, refused.body)
    assert "unknown or expired session" in refused.body["error"]["message"]


async def test_another_owner_can_neither_stream_nor_end_the_session(
    http: aiohttp.ClientSession, served: Served
) -> None:
    alice = await initialized(http, served.url, ALICE)
    assert await stream_status(alice, BOB) == 404
    assert await delete(alice, BOB) == 404
    assert await stream_status(alice, ALICE) == 200
    assert (await alice.post(PING, X_Test_Owner=ALICE)).status == 200
    assert [session.closed for session in served.sessions] == [False]


async def test_without_an_owner_set_every_request_is_the_same_owner(
    http: aiohttp.ClientSession, served: Served
) -> None:
    # The stdio bridge sets no owner: its sessions behave as they always did.
    anyone = await initialized(http, served.url, None)
    assert (await anyone.post(PING)).status == 200
    assert (await anyone.post(PING, X_Test_Owner="")).status == 200
    assert (await anyone.post(PING, X_Test_Owner=ALICE)).status == 404


async def test_a_mismatch_is_logged_with_an_id_prefix_and_no_owner(
    http: aiohttp.ClientSession, served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await initialized(http, served.url, ALICE)
    assert alice.session_id is not None
    with caplog.at_level("WARNING", logger="hub_proxy.transport.base"):
        await alice.post(PING, X_Test_Owner=BOB)
    (record,) = [r for r in caplog.records if "another owner" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert alice.session_id.startswith(record.session)  # type: ignore[attr-defined]
    assert record.session != alice.session_id  # type: ignore[attr-defined]
    logged = json.dumps(record.__dict__, default=str)
    assert "alice" not in logged
    assert "bob" not in logged


async def test_a_legacy_sse_session_takes_posts_from_its_owner_only(
    http: aiohttp.ClientSession,
) -> None:
    async with (
        serving(transport=SSEEndpoint, path="/sse") as served,
        http.get(
            served.url, headers={"Accept": "text/event-stream", "X-Test-Owner": ALICE}
        ) as stream,
    ):
        assert stream.status == 200
        endpoint = await endpoint_of(stream)
        post_url = str(stream.url.join(URL(endpoint)))
        client = RawClient(http, post_url)

        refused = await client.post(PING, X_Test_Owner=BOB)
        assert refused.status == 404
        assert "unknown or closed session" in refused.body["error"]["message"]

        assert (await client.post(PING, X_Test_Owner=ALICE)).status == 202
        answer = await anext(events(stream))
        assert answer["id"] == PING["id"]
        assert answer["result"]["method"] == "ping"
