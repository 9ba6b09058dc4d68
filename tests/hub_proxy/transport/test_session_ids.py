"""Sessions that carry on in another process: two endpoints, two apps, one sealing key.

Each endpoint stands for a hub replica: its own aiohttp app on its own
loopback port, its own :class:`SealedSessionIds`, sharing only the key, as
replicas share a mounted Secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hub_proxy.auth.sealing import SealedSessionIds
from hub_proxy.transport import EndpointOptions
from tests.hub_proxy.bridge_process import RawClient
from tests.hub_proxy.transport.echo_app import (
    Served,
    delete,
    initialized,
    serving,
    stream_status,
)

KEY = bytes(range(32))
ALICE = "User:https://issuer.example:alice"
BOB = "User:https://issuer.example:bob"
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def sealed(context: bytes = b"/mcp") -> EndpointOptions:
    return EndpointOptions(session_ids=SealedSessionIds(KEY, context))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[Served, Served]]:
    async with serving(sealed()) as first, serving(sealed()) as second:
        yield first, second


def on(served: Served, client: RawClient) -> RawClient:
    """The same session, asked of another endpoint."""
    elsewhere = RawClient(client.http, served.url)
    elsewhere.session_id = client.session_id
    return elsewhere


async def test_a_session_opened_on_one_replica_carries_on_at_the_other(
    http: aiohttp.ClientSession, replicas: tuple[Served, Served]
) -> None:
    a, b = replicas
    alice = await initialized(http, a.url, ALICE)

    listed = await on(b, alice).post(LIST, X_Test_Owner=ALICE)
    assert listed.status == 200
    assert listed.headers["Mcp-Session-Id"] == alice.session_id
    assert listed.body["result"] == {"session": alice.session_id, "method": "tools/list"}
    # A new application session, which never sees the client's initialize.
    assert [session.methods for session in b.sessions] == [["tools/list"]]

    assert await stream_status(on(b, alice), ALICE) == 200
    assert (await alice.post(LIST, X_Test_Owner=ALICE)).status == 200
    assert len(a.sessions) == len(b.sessions) == 1


async def test_another_owner_is_refused_on_both_replicas(
    http: aiohttp.ClientSession, replicas: tuple[Served, Served]
) -> None:
    a, b = replicas
    alice = await initialized(http, a.url, ALICE)
    for client in (alice, on(b, alice)):
        assert (await client.post(LIST, X_Test_Owner=BOB)).status == 404
        assert await stream_status(client, BOB) == 404
        assert await delete(client, BOB) == 404
    assert b.sessions == []
    assert (await on(b, alice).post(LIST, X_Test_Owner=ALICE)).status == 200


@pytest.mark.parametrize("where", ["where it opened", "where it carried on"])
async def test_an_ended_session_is_not_restored_by_a_replay(
    http: aiohttp.ClientSession, replicas: tuple[Served, Served], where: str
) -> None:
    a, b = replicas
    alice = await initialized(http, a.url, ALICE)
    client = alice if where == "where it opened" else on(b, alice)
    assert (await client.post(LIST, X_Test_Owner=ALICE)).status == 200

    assert await delete(client, ALICE) == 204
    assert (await client.post(LIST, X_Test_Owner=ALICE)).status == 404
    assert await stream_status(client, ALICE) == 404
    assert await delete(client, ALICE) == 404
    assert all(session.closed for session in (a if client is alice else b).sessions)


async def test_concurrent_first_requests_make_one_session(
    http: aiohttp.ClientSession, replicas: tuple[Served, Served]
) -> None:
    a, b = replicas
    alice = await initialized(http, a.url, ALICE)
    there = on(b, alice)
    replies = await asyncio.gather(
        *(there.post({**LIST, "id": n}, X_Test_Owner=ALICE) for n in range(8))
    )
    assert [reply.status for reply in replies] == [200] * 8
    assert len(b.sessions) == 1


async def test_an_id_is_refused_at_another_endpoint_with_the_same_key(
    http: aiohttp.ClientSession, replicas: tuple[Served, Served]
) -> None:
    a, _ = replicas
    alice = await initialized(http, a.url, ALICE)
    async with serving(sealed(b"/mcp/other"), path="/mcp/other") as other:
        assert (await on(other, alice).post(LIST, X_Test_Owner=ALICE)).status == 404
        assert other.sessions == []


async def test_random_ids_keep_each_session_where_it_opened(
    http: aiohttp.ClientSession,
) -> None:
    async with serving() as a, serving() as b:
        alice = await initialized(http, a.url, ALICE)
        assert (await on(b, alice).post(LIST, X_Test_Owner=ALICE)).status == 404
        assert b.sessions == []
        assert (await alice.post(LIST, X_Test_Owner=ALICE)).status == 200
