"""AccessPolicy changes under a connected client: its lists change, and it is told so.

A standalone hub serves mcp-server-time from a folder that also holds one
AccessPolicy for an HS256 user; the MCP SDK's client stays connected, with
that user's bearer token, while the policy file is widened, given a deny,
deleted, and broken.  After each valid change the client gets
``notifications/tools/list_changed`` and the very next listing is the new
one; a broken edit changes nothing but the hub's log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import ToolListChangedNotification

from tests.hub_proxy.auth.issuer import (
    AUDIENCE,
    HS_ISSUER,
    claims,
    sign_hs,
)
from tests.hub_proxy.bridge_process import command_of, only_text
from tests.hub_proxy.test_access_control import credentials, guarded_hub
from tests.hub_proxy.test_standalone_hub import (
    CALL_SECONDS,
    TEST_SECONDS,
    Hub,
    server_yaml,
    tool_names,
)
from tests.testbed.mcp_servers import time_stdio
from tests.testbed.waiting import eventually

# A poll of the folder (every second) and a reload, with room for a slow machine.
CHANGE_SECONDS = 30.0
TOKEN_SECONDS = 600
POLICY_FILE = "policies.yaml"


def policy(*rules: str) -> str:
    """One AccessPolicy for the HS256 user alice, with ``rules`` in flow style."""
    return (
        "apiVersion: mcphub.dev/v1alpha1\n"
        "kind: AccessPolicy\n"
        "metadata: {name: alice-time}\n"
        "spec:\n"
        '  subjects: [{kind: User, name: "hs:alice"}]\n'
        "  rules:\n" + "".join(f"    - {rule}\n" for rule in rules)
    )


NOW_ONLY = policy("{servers: [time], tools: [get_current_time], actions: [list, call]}")
BOTH = policy("{servers: [time], tools: [get_current_time, convert_time], actions: [list, call]}")
BOTH_BUT_CONVERT = policy(
    "{servers: [time], tools: [get_current_time, convert_time], actions: [list, call]}",
    "{effect: deny, servers: [time], tools: [convert_time], actions: [list, call]}",
)
# A widening the loader refuses (no action "delete"): none of it may apply.
INVALID_WIDENING = policy(
    "{servers: [time], tools: [get_current_time, convert_time], actions: [list, call, delete]}"
)
CONVERT_ARGUMENTS = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "UTC"}


def write_policed_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
    (folder / POLICY_FILE).write_text(NOW_ONLY)
    return folder


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` in one step, so that no poll of the folder reads half of it."""
    partial = path.with_name(path.name + ".partial")  # not .yaml: the watch ignores it
    partial.write_text(text)
    partial.replace(path)


@dataclass(frozen=True)
class Policed:
    hub: Hub
    folder: Path

    @property
    def policies(self) -> Path:
        return self.folder / POLICY_FILE


@pytest.fixture
async def policed(tmp_path: Path) -> AsyncIterator[Policed]:
    async with guarded_hub(tmp_path, write_policed_config) as hub:
        yield Policed(hub, tmp_path / "config")


class Told:
    """The client's ``tools/list_changed`` notifications, as its message handler hears them."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    async def __call__(self, message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            self.count += 1
            self._event.set()

    async def wait(self) -> None:
        """Until told since the last wait; bounded by a poll and a reload."""
        with anyio.fail_after(CHANGE_SECONDS):
            await self._event.wait()
        self._event.clear()


@asynccontextmanager
async def alice_connected(hub: Hub, told: Told) -> AsyncIterator[Client]:
    """The SDK's client on ``/mcp/time`` with alice's bearer token."""
    now = int(time.time())
    token = sign_hs(claims(HS_ISSUER, AUDIENCE, exp=now + TOKEN_SECONDS))
    async with httpx2.AsyncClient(
        headers=credentials(token), timeout=httpx2.Timeout(CALL_SECONDS, read=CALL_SECONDS * 10)
    ) as http:
        transport = streamable_http_client(hub.url("/mcp/time"), http_client=http)
        client = Client(
            transport, mode="legacy", read_timeout_seconds=CALL_SECONDS, message_handler=told
        )
        async with client:
            yield client


async def refusal_of(client: Client, name: str) -> MCPError:
    with pytest.raises(MCPError) as refused:
        await client.call_tool(name, CONVERT_ARGUMENTS)
    return refused.value


async def assert_unknown(client: Client, name: str) -> None:
    """Calling ``name`` is answered exactly as calling a tool that does not exist."""
    refused = await refusal_of(client, name)
    missing = await refusal_of(client, f"{name}_does_not_exist")
    assert refused.error.code == missing.error.code == -32602
    assert refused.error.message == f"Unknown tool: {name}"
    assert missing.error.message == f"Unknown tool: {name}_does_not_exist"


async def test_policy_changes_reach_a_connected_client(policed: Policed) -> None:
    told = Told()
    with anyio.fail_after(TEST_SECONDS + 3 * CHANGE_SECONDS):
        async with alice_connected(policed.hub, told) as client:
            assert await tool_names(client) == {"get_current_time"}
            await assert_unknown(client, "convert_time")

            # (a) Widened: the new tool is listed and callable.
            replace_file(policed.policies, BOTH)
            await told.wait()
            assert await tool_names(client) == {"get_current_time", "convert_time"}
            converted = await client.call_tool("convert_time", CONVERT_ARGUMENTS)
            assert converted.is_error is False, only_text(converted.content)

            # (b) A deny: the tool is gone, and calling it is calling nothing.
            replace_file(policed.policies, BOTH_BUT_CONVERT)
            await told.wait()
            assert await tool_names(client) == {"get_current_time"}
            await assert_unknown(client, "convert_time")
            now = await client.call_tool("get_current_time", {"timezone": "UTC"})
            assert now.is_error is False

            # (c) No policy at all: nothing is open, and time itself is unknown to alice,
            # as a name the hub does not serve is.
            policed.policies.unlink()
            await told.wait()
            with pytest.raises(MCPError) as gone:
                await tool_names(client)
            assert "no MCP server or group named 'time'" in gone.value.error.message
    # One notification per change, none for the reloads in between.
    assert told.count == 3


async def test_an_invalid_policy_edit_keeps_the_last_good_policies(policed: Policed) -> None:
    told = Told()
    log = policed.hub.process.log_tail
    with anyio.fail_after(TEST_SECONDS + 2 * CHANGE_SECONDS):
        async with alice_connected(policed.hub, told) as client:
            assert await tool_names(client) == {"get_current_time"}

            replace_file(policed.policies, INVALID_WIDENING)
            await asyncio.to_thread(
                eventually,
                lambda: "configuration change refused" in log() and POLICY_FILE in log(),
                timeout=CHANGE_SECONDS,
                what="the refused policy edit in the hub's log",
            )
            assert "spec.rules[0].actions" in log()
            # The old policy is in force: no notification, the same list, the same grants.
            assert told.count == 0
            assert await tool_names(client) == {"get_current_time"}
            now = await client.call_tool("get_current_time", {"timezone": "UTC"})
            assert now.is_error is False
            await assert_unknown(client, "convert_time")

            # The watch goes on: the edit fixed is applied.
            replace_file(policed.policies, BOTH)
            await told.wait()
            assert await tool_names(client) == {"get_current_time", "convert_time"}
    assert told.count == 1
