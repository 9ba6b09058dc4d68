"""Two hub replicas, one session: what runs behind a Service without sticky routing.

Two hub processes serve the same folder (mcp-server-time, an AccessPolicy for
an HS256 user, an API-key Secret) with the same auth flags and the same
``--session-key``; a third has a key of its own.  The MCP SDK's client runs
over an HTTP client that sends its requests to the two replicas in turn, so a
session opened on one is carried on by the other request by request, as a
round-robin load balancer would have it.  Raw HTTP covers what no honest
client does: presenting someone else's session id to the replica that never
saw it, or a replica's id to a hub with another key, or an ended session's id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.hub_proxy.auth.issuer import (
    AUDIENCE,
    HS_ISSUER,
    claims,
    rsa_key,
    serving_issuer,
    sign_hs,
)
from tests.hub_proxy.bridge_process import command_of, only_text
from tests.hub_proxy.test_access_control import (
    credentials,
    guarded_args,
    key_secret,
    open_session,
    request,
)
from tests.hub_proxy.test_standalone_hub import (
    CALL_SECONDS,
    TEST_SECONDS,
    Hub,
    server_yaml,
    start_hub,
    tool_names,
)
from tests.testbed.mcp_servers import time_stdio

PATH = "/mcp/time"
CI_KEY = "mcphub_ci-key-of-the-replica-test-0123456789"
TOKEN_SECONDS = 600
POLICIES = """
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: alice-time}
spec:
  subjects: [{kind: User, name: "hs:alice"}]
  rules: [{servers: [time], actions: [list, call]}]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: ci-time}
spec:
  subjects: [{kind: APIKey, name: ci}]
  rules: [{servers: [time], actions: [list, call]}]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: mallory-time}
spec:
  subjects: [{kind: User, name: "hs:mallory"}]
  rules: [{servers: [time], actions: [list]}]
"""


def write_replicated_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
    (folder / "policies.yaml").write_text(POLICIES)
    (folder / "keys.yaml").write_text(key_secret("ci", "default", CI_KEY))
    return folder


@dataclass(frozen=True)
class Replicas:
    a: Hub
    b: Hub
    # Same folder and flags as a and b, but a session key of its own.
    stranger: Hub


def token(sub: str = "alice") -> str:
    """An HS256 token for ``sub`` that outlives the module's hubs."""
    now = int(time.time())
    return sign_hs(claims(HS_ISSUER, AUDIENCE, sub=sub, exp=now + TOKEN_SECONDS))


@pytest.fixture(scope="module")
async def replicas(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Replicas]:
    tmp = tmp_path_factory.mktemp("replicas")
    other_key = tmp / "other-session.key"
    other_key.write_bytes(b"o" * 32)
    started: list[Hub] = []
    async with serving_issuer(rsa_key("r1")) as issuer:
        # The same flags for every hub; for the stranger, a later --session-key wins.
        args = guarded_args(tmp, issuer)
        folder = write_replicated_config(tmp / "config")

        def start(name: str, extra: Sequence[str] = ()) -> Hub:
            # Each hub logs in a directory of its own, all read the one folder.
            hub = start_hub(
                tmp / name, lambda _unused: folder, args=[*args, *extra], open_access=False
            )
            started.append(hub)
            return hub

        try:
            a = await asyncio.to_thread(start, "a")
            b = await asyncio.to_thread(start, "b")
            stranger = await asyncio.to_thread(start, "stranger", ["--session-key", str(other_key)])
            yield Replicas(a, b, stranger)
        finally:
            for hub in started:
                await asyncio.to_thread(hub.process.stop)


@dataclass(frozen=True)
class Served:
    """One HTTP request as the round-robin sent it."""

    port: int
    http_method: str
    # The JSON-RPC method of a POSTed request or notification; None otherwise.
    rpc_method: str | None
    session: str | None
    status: int


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each HTTP method's requests to the ports in turn, as a load balancer without
    affinity would; every request is recorded in ``served``.

    Turns are kept per HTTP method so that the POSTs alternate strictly whatever the
    client's GET stream does.
    """

    def __init__(self, ports: Sequence[int]) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self._ports = tuple(ports)
        self._turns: dict[str, Iterator[int]] = {}
        self.served: list[Served] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        turns = self._turns.setdefault(request.method, itertools.cycle(self._ports))
        port = next(turns)
        request.url = request.url.copy_with(port=port)
        request.headers["Host"] = f"{request.url.host}:{port}"
        rpc_method = None
        if request.method == "POST":
            body = json.loads(await request.aread())
            rpc_method = body.get("method") if isinstance(body, dict) else None
        response = await self._inner.handle_async_request(request)
        session = request.headers.get("Mcp-Session-Id") or response.headers.get("Mcp-Session-Id")
        self.served.append(Served(port, request.method, rpc_method, session, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    def ports_of(self, rpc_method: str) -> set[int]:
        return {served.port for served in self.served if served.rpc_method == rpc_method}


def round_robin_client(
    replicas: Sequence[Hub], headers: dict[str, str]
) -> tuple[Client, RoundRobin]:
    """The SDK's client, every HTTP request of which goes to the next replica."""
    balancer = RoundRobin([hub.port for hub in replicas])
    http = httpx2.AsyncClient(
        headers=headers,
        transport=balancer,
        timeout=httpx2.Timeout(CALL_SECONDS, read=CALL_SECONDS * 10),
    )
    transport = streamable_http_client(replicas[0].url(PATH), http_client=http)
    return Client(transport, mode="legacy", read_timeout_seconds=CALL_SECONDS), balancer


async def test_a_real_client_carries_its_session_across_replicas_request_by_request(
    replicas: Replicas,
) -> None:
    client, balancer = round_robin_client([replicas.a, replicas.b], credentials(token()))
    with anyio.fail_after(TEST_SECONDS):
        async with client:
            # Three in a row each, so that both replicas answer each kind.
            listed = [await tool_names(client) for _ in range(3)]
            called = [
                await client.call_tool("get_current_time", {"timezone": "UTC"}) for _ in range(3)
            ]
    assert listed == [{"get_current_time", "convert_time"}] * 3
    for result in called:
        assert result.is_error is False
        assert json.loads(only_text(result.content))["timezone"] == "UTC"

    a, b = replicas.a.port, replicas.b.port
    served = balancer.served
    assert [s.port for s in served if s.rpc_method == "initialize"] == [a]
    assert balancer.ports_of("tools/list") == {a, b}, served
    assert balancer.ports_of("tools/call") == {a, b}, served
    # One session throughout, and every request of it answered by whichever replica got it.
    assert len({s.session for s in served}) == 1, served
    assert all(s.status < 300 for s in served), served


async def test_a_session_opened_on_one_replica_lists_and_calls_on_the_other(
    replicas: Replicas,
) -> None:
    headers = credentials(token())
    with anyio.fail_after(TEST_SECONDS):
        session = await open_session(replicas.a.url(PATH), headers)
        listed = await request(replicas.b.url(PATH), "tools/list", {}, headers, session)
        called = await request(
            replicas.b.url(PATH),
            "tools/call",
            {"name": "get_current_time", "arguments": {"timezone": "UTC"}},
            headers,
            session,
        )
    assert {tool["name"] for tool in listed.result["tools"]} == {"get_current_time", "convert_time"}
    assert called.result["isError"] is False
    assert json.loads(called.result["content"][0]["text"])["timezone"] == "UTC"


async def test_another_principal_presenting_the_id_on_the_other_replica_gets_404(
    replicas: Replicas,
) -> None:
    alice = credentials(token())
    others: list[dict[str, Any]] = [credentials(token("mallory")), credentials(api_key=CI_KEY)]
    url = replicas.b.url(PATH)
    with anyio.fail_after(TEST_SECONDS):
        session = await open_session(replicas.a.url(PATH), alice)
        # Before b holds the session: b restores the id for its owner only.
        for headers in others:
            answer = await request(url, "tools/list", {}, headers, session)
            assert answer.status == 404, answer.body
        assert (await request(url, "tools/list", {}, alice, session)).status == 200
        # Now that b holds it, still for its owner only.
        for headers in others:
            answer = await request(url, "tools/list", {}, headers, session)
            assert answer.status == 404, answer.body
        # The others are no strangers to the hub: their own sessions work on either replica.
        for headers in others:
            own = await open_session(replicas.a.url(PATH), headers)
            assert (await request(url, "tools/list", {}, headers, own)).status == 200


async def test_a_hub_with_another_session_key_refuses_the_id(replicas: Replicas) -> None:
    headers = credentials(token())
    with anyio.fail_after(TEST_SECONDS):
        session = await open_session(replicas.a.url(PATH), headers)
        refused = await request(replicas.stranger.url(PATH), "tools/list", {}, headers, session)
        # The stranger serves its own sessions, and those restore nowhere else either.
        own = await open_session(replicas.stranger.url(PATH), headers)
        served = await request(replicas.stranger.url(PATH), "tools/list", {}, headers, own)
        foreign = await request(replicas.a.url(PATH), "tools/list", {}, headers, own)
    assert refused.status == 404, refused.body
    assert "unknown or expired session" in refused.error["message"]
    assert served.status == 200, served.body
    assert foreign.status == 404, foreign.body


async def test_a_session_deleted_on_a_replica_is_refused_there(replicas: Replicas) -> None:
    headers = credentials(token())
    a, b = replicas.a.url(PATH), replicas.b.url(PATH)
    timeout = aiohttp.ClientTimeout(total=CALL_SECONDS)
    with anyio.fail_after(TEST_SECONDS):
        session = await open_session(a, headers)
        # Carried over to b first, so that a's refusal cannot be b's doing.
        assert (await request(b, "tools/list", {}, headers, session)).status == 200
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.delete(a, headers={**headers, "Mcp-Session-Id": session}) as deleted,
        ):
            assert deleted.status == 204
        # a no longer holds it, and must not restore the id it saw ended.
        after = await request(a, "tools/list", {}, headers, session)
    assert after.status == 404, after.body


async def test_a_real_clients_delete_ends_the_session_where_it_lands(replicas: Replicas) -> None:
    headers = credentials(token())
    client, balancer = round_robin_client([replicas.a, replicas.b], headers)
    with anyio.fail_after(TEST_SECONDS):
        async with client:
            assert await tool_names(client) == {"get_current_time", "convert_time"}
            assert await tool_names(client) == {"get_current_time", "convert_time"}
        # The SDK ends its session with a DELETE when it closes; the first DELETE goes to a.
        [deleted] = [s for s in balancer.served if s.http_method == "DELETE"]
        assert (deleted.port, deleted.status) == (replicas.a.port, 204)
        assert deleted.session is not None
        after = await request(replicas.a.url(PATH), "tools/list", {}, headers, deleted.session)
    assert after.status == 404, after.body
