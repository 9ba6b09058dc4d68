"""How many sessions a process holds, and how idle ones end, over real loopback HTTP.

The limits are the process's: every endpoint given the same table shares
them, legacy SSE streams included.  Idle sessions end by themselves; busy
ones -- a request in flight, a stream open -- never do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hub_proxy.transport import EndpointOptions, SessionLimits, Sessions, SSEEndpoint
from hub_proxy.transport.sessions import TOO_MANY_SESSIONS
from tests.hub_proxy.bridge_process import INITIALIZE, RawClient, Reply, until
from tests.hub_proxy.transport.echo_app import (
    OWNER_HEADER,
    WAIT,
    EchoSession,
    delete,
    initialized,
    serving,
)

ALICE = "User:https://issuer.example:alice"
BOB = "User:https://issuer.example:bob"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def limited(**limits: Any) -> EndpointOptions:
    # Frequent keep-alives: a stream the client dropped is noticed at once.
    return EndpointOptions(keepalive_seconds=0.05, sessions=Sessions(SessionLimits(**limits)))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def opening(http: aiohttp.ClientSession, url: str, owner: str) -> Reply:
    return await RawClient(http, url).post(INITIALIZE, X_Test_Owner=owner)


async def test_an_owner_over_its_limit_is_refused_with_429_saying_what_to_do(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(limited(per_owner=2)) as served:
        first = await initialized(http, served.url, ALICE)
        await initialized(http, served.url, ALICE)
        refused = await opening(http, served.url, ALICE)
        assert refused.status == 429, refused
        error = refused.body["error"]
        assert error["code"] == TOO_MANY_SESSIONS
        assert refused.body["id"] == INITIALIZE["id"]
        assert error["data"] == {"limit": "per-owner", "max": 2}
        assert "DELETE" in error["message"]
        # Another owner is not held back, and ending a session makes room.
        assert (await opening(http, served.url, BOB)).status == 200
        assert await delete(first, ALICE) == 204
        assert (await opening(http, served.url, ALICE)).status == 200
        # The refused one made no application session.
        assert len(served.sessions) == 4


async def test_the_process_limit_is_503_with_retry_after_across_endpoints(
    http: aiohttp.ClientSession,
) -> None:
    options = limited(total=2)
    async with (
        serving(options) as one,
        serving(options, transport=SSEEndpoint, path="/sse") as legacy,
    ):
        await initialized(http, one.url, ALICE)
        async with http.get(legacy.url, headers={OWNER_HEADER: BOB}) as stream:
            assert stream.status == 200
            refused = await opening(http, one.url, "someone else")
            assert refused.status == 503, refused
            assert refused.headers["Retry-After"].isdigit()
            assert refused.body["error"]["data"] == {"limit": "total", "max": 2}
            async with http.get(legacy.url, headers={OWNER_HEADER: "a third"}) as another:
                assert another.status == 503
        # The legacy stream is gone, and so is its session: room again.
        await until(lambda: _opens(http, one.url, "someone else"), within=10, what="a free place")


async def test_idle_sessions_end_and_busy_ones_do_not(http: aiohttp.ClientSession) -> None:
    async with serving(limited(idle_seconds=0.3)) as served:
        idle = await initialized(http, served.url, ALICE)
        streaming = await initialized(http, served.url, ALICE)
        calling = await initialized(http, served.url, ALICE)
        # Watched through the application's sessions: a request would make them active.
        ended = {
            client.session_id: session
            for client, session in zip((idle, streaming, calling), served.sessions, strict=True)
        }
        wait = {"jsonrpc": "2.0", "id": 9, "method": WAIT}
        get = streaming.headers(X_Test_Owner=ALICE, Accept="text/event-stream")
        async with (
            http.get(served.url, headers=get) as stream,
            http.post(served.url, json=wait, headers=calling.headers(X_Test_Owner=ALICE)) as call,
        ):
            assert (stream.status, call.status) == (200, 200)
            await until(
                lambda: _closed(ended[idle.session_id]), within=10, what="the idle one to end"
            )
            await asyncio.sleep(1.0)  # several idle limits: the busy ones stay
            assert not ended[streaming.session_id].closed
            assert not ended[calling.session_id].closed
            assert (await idle.post(PING, X_Test_Owner=ALICE)).status == 404
        # The GET stream closed, and the call cancelled (a client hanging up
        # does not cancel its request): now those sessions are idle too.
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
        assert (await calling.post(cancel, X_Test_Owner=ALICE)).status == 202
        await until(
            lambda: _closed(ended[streaming.session_id]), within=10, what="the stream's to end"
        )
        await until(lambda: _closed(ended[calling.session_id]), within=10, what="the call's to end")


async def test_a_reaping_pass_looks_only_at_sessions_idle_for_too_long() -> None:
    table = Sessions(SessionLimits(idle_seconds=60))
    asked: list[str] = []
    ended: list[str] = []

    def ticket(name: str) -> None:
        async def end(_reason: str) -> None:
            ended.append(name)

        def idle() -> bool:
            asked.append(name)
            return True

        table.admit(name).watch(end, idle)

    ticket("old")
    for number in range(1000):
        ticket(f"recent-{number}")
    # The first one's last activity lies beyond the limit; the rest are fresh.
    next(iter(table._activity)).active -= 120
    assert table.reap() == 1
    await asyncio.sleep(0)
    assert (asked, ended) == (["old"], ["old"])
    assert len(table) == 1000
    for left in list(table._activity):
        left.release()


async def _opens(http: aiohttp.ClientSession, url: str, owner: str) -> bool:
    return (await opening(http, url, owner)).status == 200


async def _closed(session: EchoSession) -> bool:
    return session.closed
