"""Credentials that stop being good end what they opened: streams, sessions, listens.

A standalone hub serves mcp-server-time to an API key (its Secret in the
folder) and to HS256 JWTs.  Streams are held open over raw HTTP, because what
is checked is that the hub ends them: a GET stream of a streamable session, a
legacy SSE stream, and a 2026-07-28 ``subscriptions/listen``.  Revoking the
key -- by annotation or by deleting its Secret -- ends them within seconds;
so does a JWT reaching its expiry, unless a newer token used the session since.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp
import anyio
import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY

from hub_proxy.auth.jwt_tokens import DEFAULT_LEEWAY_SECONDS
from tests.hub_proxy.auth.issuer import (
    AUDIENCE,
    HS_ISSUER,
    claims,
    sign_hs,
)
from tests.hub_proxy.bridge_process import JSON_AND_SSE, command_of
from tests.hub_proxy.test_access_control import (
    credentials,
    guarded_hub,
    key_secret,
    open_session,
)
from tests.hub_proxy.test_policy_changes import replace_file
from tests.hub_proxy.test_standalone_hub import Hub, server_yaml
from tests.testbed.mcp_servers import time_stdio

KEY: Final = "mcphub_revocable-key-0123456789-0123456789-01"
KEYS_FILE: Final = "keys.yaml"
# Revocation reaches the hub with the next poll of the folder (every second).
ENDED_SECONDS: Final = 20.0
MODERN: Final = "2026-07-28"
POLICIES: Final = """
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: time-for-all}
spec:
  subjects: [{kind: APIKey, name: bob}, {kind: User, name: "hs:alice"}]
  rules: [{servers: [time], actions: [list, call]}]
"""


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
    (folder / "policies.yaml").write_text(POLICIES)
    (folder / KEYS_FILE).write_text(key_secret("bob", "default", KEY))
    return folder


@dataclass(frozen=True)
class Served:
    hub: Hub
    folder: Path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with guarded_hub(tmp_path, write_config) as hub:
        yield Served(hub, tmp_path / "config")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def get_stream(
    http: aiohttp.ClientSession, url: str, headers: Mapping[str, str], session: str
) -> aiohttp.ClientResponse:
    """The session's GET stream, open."""
    sent = {**headers, "Accept": "text/event-stream", "Mcp-Session-Id": session}
    response = await http.get(url, headers=sent)
    assert response.status == 200, await response.text()
    return response


async def legacy_stream(
    http: aiohttp.ClientSession, url: str, headers: Mapping[str, str]
) -> aiohttp.ClientResponse:
    response = await http.get(url, headers={**headers, "Accept": "text/event-stream"})
    assert response.status == 200, await response.text()
    return response


async def listen_stream(
    http: aiohttp.ClientSession, url: str, headers: Mapping[str, str]
) -> aiohttp.ClientResponse:
    """A 2026-07-28 ``subscriptions/listen``, open (its first event read)."""
    envelope = {PROTOCOL_VERSION_META_KEY: MODERN, CLIENT_CAPABILITIES_META_KEY: {}}
    listen = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "subscriptions/listen",
        "params": {"notifications": {"toolsListChanged": True}, "_meta": envelope},
    }
    sent = {
        **headers,
        "Accept": JSON_AND_SSE,
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "subscriptions/listen",
    }
    response = await http.post(url, json=listen, headers=sent)
    assert response.status == 200, await response.text()
    await response.content.readline()  # the acknowledgement has come
    return response


async def ended(stream: aiohttp.ClientResponse) -> None:
    """Return once the hub has ended ``stream``; fail if it has not within the bound."""
    with anyio.fail_after(ENDED_SECONDS):
        async for _ in stream.content:
            pass


async def open_streams(
    http: aiohttp.ClientSession, hub: Hub, headers: Mapping[str, str], stack: AsyncExitStack
) -> list[aiohttp.ClientResponse]:
    """One stream of each kind, opened with ``headers``."""
    url = hub.url("/mcp/time")
    session = await open_session(url, headers)
    streams = [
        await get_stream(http, url, headers, session),
        await legacy_stream(http, hub.url("/sse/time"), headers),
        await listen_stream(http, url, headers),
    ]
    for stream in streams:
        stack.callback(stream.close)
    return streams


@pytest.mark.parametrize("how", ["annotated", "deleted"])
async def test_a_revoked_api_key_loses_its_open_streams(
    served: Served, http: aiohttp.ClientSession, how: str
) -> None:
    headers = credentials(api_key=KEY)
    async with AsyncExitStack() as stack:
        streams = await open_streams(http, served.hub, headers, stack)
        keys = served.folder / KEYS_FILE
        if how == "annotated":
            replace_file(keys, key_secret("bob", "default", KEY, revoked=True))
        else:
            keys.unlink()
        await asyncio.gather(*(ended(stream) for stream in streams))
    log = served.hub.process.log_path.read_text()
    assert "its credentials were revoked" in log


async def test_an_expiring_jwt_ends_its_streams_unless_a_fresh_token_took_over(
    served: Served, http: aiohttp.ClientSession
) -> None:
    # Accepted for a few more seconds: the verifier allows its leeway past exp.
    soon = int(time.time() - DEFAULT_LEEWAY_SECONDS + 8)
    expiring = credentials(sign_hs(claims(HS_ISSUER, AUDIENCE, exp=soon)))
    fresh = credentials(sign_hs(claims(HS_ISSUER, AUDIENCE, exp=int(time.time()) + 600)))
    url = served.hub.url("/mcp/time")
    async with AsyncExitStack() as stack:
        streams = await open_streams(http, served.hub, expiring, stack)
        # A second session, used once more with a fresh token: it outlives the first one.
        kept = await open_session(url, expiring)
        kept_stream = await get_stream(http, url, fresh, kept)
        stack.callback(kept_stream.close)
        await asyncio.gather(*(ended(stream) for stream in streams))
        assert not kept_stream.content.at_eof()
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        sent = {**fresh, "Accept": JSON_AND_SSE, "Mcp-Session-Id": kept}
        async with http.post(url, json=ping, headers=sent) as answer:
            assert answer.status == 200, await answer.text()
    log = served.hub.process.log_path.read_text()
    assert "the credentials it was used with expired" in log
