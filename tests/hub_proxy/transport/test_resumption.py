"""Resumable streams (SEP-1699) over real loopback HTTP: priming, ids, replay after a drop.

The echo application's sessions are carried over from "another replica" as
far as the protocol version goes (the echo ``initialize`` names none), so
each request's ``MCP-Protocol-Version`` header decides, as it does for a
session the hub carried over.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
import anyio
import pytest

from hub_proxy.transport import EndpointOptions
from tests.hub_proxy.bridge_process import RawClient
from tests.hub_proxy.transport.echo_app import NOTIFY, RELEASE, WAIT, initialized, serving

ALICE: Final = "User:https://issuer.example:alice"
BOB: Final = "User:https://issuer.example:bob"
RESUMABLE: Final = EndpointOptions(resumable_streams=True, retry_milliseconds=250)
Event = dict[str, str]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


# The conformance suite's Accept: a stream preferred, so every answer is one.
STREAM_FIRST: Final = "text/event-stream, application/json"


def headers(client: RawClient, owner: str = ALICE, **more: str) -> dict[str, str]:
    sent = {"Accept": STREAM_FIRST, **more}
    return client.headers(X_Test_Owner=owner, MCP_Protocol_Version="2025-11-25", **sent)


async def sse(response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """Each event of an SSE response as its fields (comments left out)."""
    fields: Event = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def take(events: AsyncIterator[Event], count: int) -> list[Event]:
    with anyio.fail_after(10):
        return [await anext(events) for _ in range(count)]


def request(method: str, number: int, params: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": number, "method": method, "params": params or {}}


async def dropped_call(
    http: aiohttp.ClientSession, client: RawClient, number: int, **more: str
) -> tuple[Event, Event]:
    """Start a waiting request, read its priming event and first message, and hang up."""
    call = await http.post(client.url, json=request(WAIT, number), headers=headers(client, **more))
    try:
        priming, started = await take(sse(call), 2)
    finally:
        call.close()
    return priming, started


async def answered(http: aiohttp.ClientSession, client: RawClient, message: Any) -> list[Event]:
    """The events of a request's whole stream."""
    async with http.post(client.url, json=message, headers=headers(client)) as response:
        assert response.status == 200, await response.text()
        return [event async for event in sse(response)]


async def test_a_request_stream_opens_with_a_priming_event_and_numbers_its_events(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(RESUMABLE) as served:
        client = await initialized(http, served.url, ALICE)
        async with http.post(served.url, json=request("ping", 3), headers=headers(client)) as ping:
            assert ping.headers["Content-Type"].startswith("text/event-stream")
            priming, answer = [event async for event in sse(ping)]
    assert priming == {"id": priming["id"], "retry": "250", "data": ""}
    stream, _, sequence = priming["id"].partition("-")
    assert sequence == "0"
    assert answer["id"] == f"{stream}-1"
    assert '"id":3' in answer["data"]


async def test_a_client_preferring_json_gets_it_for_a_quick_answer_and_a_stream_otherwise(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(RESUMABLE) as served:
        client = await initialized(http, served.url, ALICE)
        json_first = "application/json, text/event-stream"
        quick = headers(client, Accept=json_first)
        async with http.post(served.url, json=request("ping", 3), headers=quick) as ping:
            assert ping.headers["Content-Type"] == "application/json"
        priming, started = await dropped_call(http, client, 4, Accept=json_first)
    assert priming["data"] == ""
    assert started["id"].endswith("-1")


async def test_a_dropped_request_stream_is_resumed_with_last_event_id(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(RESUMABLE) as served:
        client = await initialized(http, served.url, ALICE)
        # The connection drops after the client saw "started".
        priming, started = await dropped_call(http, client, 7)
        await answered(http, client, request(RELEASE, 8))
        resume = headers(client, Accept="text/event-stream", Last_Event_ID=started["id"])
        async with http.get(served.url, headers=resume) as resumed:
            assert resumed.status == 200
            replayed = [event async for event in sse(resumed)]
    # The stream picks up after "started": its answer, and then it ends.
    assert [event.get("data", "") != "" for event in replayed] == [False, True]
    assert replayed[0]["retry"] == "250"
    assert '"id":7' in replayed[1]["data"]
    stream = started["id"].split("-")[0]
    assert replayed[1]["id"] == f"{stream}-2"
    assert priming["id"] == f"{stream}-0"


async def test_only_the_sessions_owner_resumes_and_finished_streams_are_gone(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(RESUMABLE) as served:
        client = await initialized(http, served.url, ALICE)
        priming, _ = await dropped_call(http, client, 7)
        resume = {"Accept": "text/event-stream", "Last-Event-ID": priming["id"]}
        async with http.get(served.url, headers=headers(client, BOB, **resume)) as stranger:
            assert stranger.status == 404
            assert "unknown or expired session" in (await stranger.json())["error"]["message"]
        for made_up in ("99-1", "not-an-id", "1-99999999999999999999999"):
            gone = headers(client, Accept="text/event-stream", Last_Event_ID=made_up)
            async with http.get(served.url, headers=gone) as refused:
                assert refused.status == 404, made_up
                assert "no stream to resume" in (await refused.json())["error"]["message"]
        # A stream written to its end is not kept: nothing is left to resume.
        done = await answered(http, client, request("ping", 4))
        again = headers(client, Accept="text/event-stream", Last_Event_ID=done[0]["id"])
        async with http.get(served.url, headers=again) as refused:
            assert refused.status == 404


async def test_the_get_stream_resumes_and_gets_what_was_said_meanwhile(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(RESUMABLE) as served:
        client = await initialized(http, served.url, ALICE)
        get = headers(client, Accept="text/event-stream")
        async with http.get(served.url, headers=get) as stream:
            events = sse(stream)
            [priming] = await take(events, 1)
            await answered(http, client, request(NOTIFY, 1, {"n": 1}))
            [first] = await take(events, 1)
            stream.close()
        # Said while no GET stream is open: kept for the next one.
        await answered(http, client, request(NOTIFY, 2, {"n": 2}))
        resume = {**get, "Last-Event-ID": first["id"]}
        async with http.get(served.url, headers=resume) as resumed:
            _, second = await take(sse(resumed), 2)
    assert priming["data"] == ""
    assert '"n":1' in first["data"]
    assert '"n":2' in second["data"]
    number = priming["id"].split("-")[0]
    assert first["id"].split("-")[0] == second["id"].split("-")[0] == number


async def test_clients_older_than_2025_11_25_get_no_ids_and_json_answers(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(RESUMABLE) as served:
        client = await initialized(http, served.url, ALICE)
        older = client.headers(X_Test_Owner=ALICE, MCP_Protocol_Version="2025-06-18")
        async with http.post(served.url, json=request("ping", 3), headers=older) as ping:
            assert ping.headers["Content-Type"] == "application/json"
        async with http.post(served.url, json=request(WAIT, 5), headers=older) as call:
            [started] = await take(sse(call), 1)
            assert "id" not in started
            call.close()


async def test_streams_answered_in_full_are_not_kept(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Only a stream a client may come back for is kept: many quick answers, JSON or streamed,
    leave nothing to forget, and a dropped stream opened after them is still resumable."""
    caplog.set_level(logging.INFO)
    async with serving(RESUMABLE) as served:
        client = await initialized(http, served.url, ALICE)
        quick = headers(client, Accept="application/json, text/event-stream")
        for number in range(20):
            async with http.post(served.url, json=request("ping", number), headers=quick) as ping:
                assert ping.headers["Content-Type"] == "application/json"
            assert len(await answered(http, client, request("ping", 100 + number))) == 2
        _, started = await dropped_call(http, client, 7)
        await answered(http, client, request(RELEASE, 8))
        resume = headers(client, Accept="text/event-stream", Last_Event_ID=started["id"])
        async with http.get(served.url, headers=resume) as resumed:
            assert resumed.status == 200
    assert not [record for record in caplog.records if "nobody resumed" in record.getMessage()]
