"""Each reference MCP server really answers: initialize, list tools, call one."""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Iterator

import pytest
from mcp import Client
from mcp.types import TextContent

from tests.testbed.mcp_servers import (
    conformance,
    everything_stdio,
    node22,
    running_everything_http,
    time_stdio,
)


@pytest.fixture(scope="module")
def everything_http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_everything_http(tmp_path_factory.mktemp("everything")) as url:
        yield url


def only_text(content: list[object]) -> str:
    assert len(content) == 1
    block = content[0]
    assert isinstance(block, TextContent)
    return block.text


async def assert_everything_echoes(client: Client) -> None:
    tools = {tool.name for tool in (await client.list_tools()).tools}
    assert {"echo", "get-sum"} <= tools
    echoed = await client.call_tool("echo", {"message": "hello hub"})
    assert not echoed.is_error
    assert only_text(list(echoed.content)) == "Echo: hello hub"
    summed = await client.call_tool("get-sum", {"a": 2, "b": 40})
    assert "42" in only_text(list(summed.content))


async def test_server_everything_over_stdio() -> None:
    async with Client(everything_stdio(), mode="legacy") as client:
        await assert_everything_echoes(client)


async def test_server_everything_over_streamable_http(everything_http_url: str) -> None:
    async with Client(everything_http_url, mode="legacy") as client:
        await assert_everything_echoes(client)


async def test_mcp_server_time_over_stdio_from_its_own_venv() -> None:
    async with Client(time_stdio(), mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert "get_current_time" in tools
        result = await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert not result.is_error
        answer = json.loads(only_text(list(result.content)))
        assert answer["timezone"] == "UTC"
        reported = datetime.datetime.fromisoformat(answer["datetime"])
        now = datetime.datetime.now(datetime.UTC)
        assert abs((reported - now).total_seconds()) < 120


def test_conformance_suite_lists_scenarios_under_node_22() -> None:
    version = node22_version()
    assert version.startswith("v22."), version
    listed = conformance("list", "--server")
    assert listed.returncode == 0, listed.stderr
    for scenario in ("server-initialize", "tools-call-with-progress", "dns-rebinding-protection"):
        assert f"- {scenario} " in listed.stdout


def node22_version() -> str:
    done = subprocess.run(
        [str(node22()), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()
