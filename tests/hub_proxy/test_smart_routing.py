"""/mcp/$smart and /mcp/$smart/{group}: search_tools and call_tool through a real hub.

The upstreams are corpus servers (:mod:`tests.hub_proxy.search.corpus_server`),
each serving one file of the shared evaluation set over stdio; the client is
the MCP SDK's.  The caller here is anonymous and its AccessPolicy hides the
gitlab server and GitHub's delete and merge tools, so every search is also a
test that hidden tools never show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from mcp.shared.exceptions import MCPError

from hub_proxy.search.corpus import load_server
from tests.hub_proxy.bridge_process import only_text, until
from tests.hub_proxy.search.databases import drop_index
from tests.hub_proxy.smart_hub import EVAL_DIR, call_found, write_corpus_config
from tests.hub_proxy.test_standalone_hub import Hub, connected, start_hub
from tests.testbed.postgres import Postgres
from tests.testbed.processes import free_port

SERVERS = ("github", "gitlab", "todoist", "slack", "discord", "weather")
POLICY_AND_GROUPS = """\
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: anonymous-without-gitlab}
spec:
  subjects: [{kind: Group, name: "system:unauthenticated"}]
  rules:
    - {servers: ["*"], groups: ["*"], actions: [list, call]}
    - {effect: deny, servers: [gitlab], actions: [list, call]}
    - {effect: deny, servers: [github], tools: ["delete_*", "merge_*"], actions: [list, call]}
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: code}
spec:
  servers: [{name: github}, {name: gitlab}]
  smartRouting: {enabled: true, defaultLimit: 3, maxLimit: 5}
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: chat}
spec:
  servers: [{name: slack}, {name: discord}]
"""
TEST_SECONDS = 120


def _visible() -> int:
    """How many tools the policy lets the anonymous caller list."""
    count = 0
    for name in SERVERS:
        tools = load_server(EVAL_DIR / "tools" / f"{name}.json")["tools"]
        hidden = ("delete_", "merge_") if name == "github" else ()
        count += 0 if name == "gitlab" else sum(not t["name"].startswith(hidden) for t in tools)
    return count


VISIBLE = _visible()


def _config(folder: Path) -> Path:
    return write_corpus_config(
        folder, [EVAL_DIR / "tools" / f"{name}.json" for name in SERVERS], POLICY_AND_GROUPS
    )


@pytest.fixture(scope="module")
def smart_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = start_hub(
        tmp_path_factory.mktemp("smart"), _config, open_access=False, args=["--anonymous"]
    )
    try:
        yield hub
    finally:
        hub.process.stop()


async def search(hub: Hub, query: str, path: str = "/mcp/$smart", **more: Any) -> dict[str, Any]:
    async with connected(hub.url(path)) as client:
        result = await client.call_tool("search_tools", {"query": query, **more})
    assert not result.is_error, only_text(result.content)
    found: dict[str, Any] = json.loads(only_text(result.content))
    assert result.structured_content == found
    return found


async def indexed(hub: Hub) -> dict[str, Any]:
    """A search once the index holds every tool the caller may see."""

    async def complete() -> dict[str, Any] | None:
        async with connected(hub.url("/mcp/$smart")) as client:
            result = await client.call_tool("search_tools", {"query": "weather"})
        if result.is_error:
            return None
        found: dict[str, Any] = json.loads(only_text(result.content))
        return found if found["metadata"]["searched"] == VISIBLE else None

    return await until(complete, within=600, what="the search index to hold every tool", every=1)


async def test_exactly_two_tools_shaped_as_mcphubs(smart_hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(smart_hub.url("/mcp/$smart")) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"search_tools", "call_tool"}
    search_schema = tools["search_tools"].input_schema
    assert search_schema["required"] == ["query"]
    assert set(search_schema["properties"]) == {"query", "limit"}
    call_schema = tools["call_tool"].input_schema
    assert call_schema["required"] == ["toolName"]
    assert call_schema["properties"]["arguments"]["type"] == "object"


async def test_search_finds_and_call_tool_reaches_the_upstream(smart_hub: Hub) -> None:
    await indexed(smart_hub)
    with anyio.fail_after(TEST_SECONDS):
        found = await search(smart_hub, "mark my Todoist tasks as done", limit=5)
        top = found["tools"][0]
        assert (top["serverName"], top["name"]) == ("todoist", "todoist__complete-tasks")
        assert top["inputSchema"]["properties"]["ids"]["type"] == "array"
        assert 0 < top["score"] <= 1
        assert found["metadata"]["totalResults"] == 5
        arguments = {"ids": ["123", "456"], "nested": {"keep": [1, {"a": None}]}}
        called = await call_found(smart_hub.url("/mcp/$smart"), top["name"], arguments)
    assert called == {
        "server": "todoist",
        "tool": "complete-tasks",
        "arguments": arguments,
    }


async def test_hidden_tools_never_show_and_limit_results_still_come(smart_hub: Hub) -> None:
    await indexed(smart_hub)
    with anyio.fail_after(TEST_SECONDS):
        for query in (
            "create an issue in GitLab",
            "merge request approvals in gitlab",
            "delete a file from a GitHub repository",
            "merge the pull request",
        ):
            found = await search(smart_hub, query, limit=10)
            names = [tool["name"] for tool in found["tools"]]
            assert len(names) == 10, names
            assert not any(n.startswith("gitlab__") for n in names), names
            assert not any(n.startswith(("github__delete_", "github__merge_")) for n in names)


async def test_a_hidden_tool_answers_as_an_unknown_one(smart_hub: Hub) -> None:
    errors = []
    with anyio.fail_after(TEST_SECONDS):
        async with connected(smart_hub.url("/mcp/$smart")) as client:
            for name in ("gitlab__create_issue", "github__merge_pull_request", "github__nosuch"):
                with pytest.raises(MCPError) as refused:
                    await client.call_tool("call_tool", {"toolName": name, "arguments": {}})
                errors.append(refused.value.error)
    assert [e.code for e in errors] == [-32602] * 3
    assert [e.message for e in errors] == [
        "Unknown tool: gitlab__create_issue",
        "Unknown tool: github__merge_pull_request",
        "Unknown tool: github__nosuch",
    ]


async def test_a_smart_group_searches_its_members_only(smart_hub: Hub) -> None:
    await indexed(smart_hub)
    with anyio.fail_after(TEST_SECONDS):
        found = await search(smart_hub, "send a message to the team", path="/mcp/$smart/code")
    # defaultLimit 3; gitlab is hidden, so only github's visible tools were searched.
    assert len(found["tools"]) == 3
    assert {tool["serverName"] for tool in found["tools"]} == {"github"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for path in ("/mcp/$smart/chat", "/mcp/$smart/nosuch"):
            async with http.post(smart_hub.url(path), json={}) as response:
                assert response.status == 404, path


@pytest.mark.parametrize(
    ("tool", "arguments", "said"),
    [
        ("search_tools", {"query": ""}, "non-empty"),
        ("search_tools", {}, "non-empty"),
        ("search_tools", {"query": 42}, "non-empty"),
        ("search_tools", {"query": "x" * 10_240}, "at most 2000"),
        ("search_tools", {"query": "weather", "limit": 0}, "from 1 to 50"),
        ("search_tools", {"query": "weather", "limit": -1}, "from 1 to 50"),
        ("search_tools", {"query": "weather", "limit": 10_000}, "from 1 to 50"),
        ("search_tools", {"query": "weather", "limit": "ten"}, "from 1 to 50"),
        ("call_tool", {}, "needs toolName"),
        ("call_tool", {"toolName": "create_issue"}, "names no server"),
        ("call_tool", {"toolName": "github__create_issue", "arguments": [1]}, "JSON object"),
        ("call_tool", {"toolName": "github__create_issue", "arguments": "x"}, "JSON object"),
        ("find_tools", {"query": "weather"}, "Unknown tool: find_tools"),
    ],
)
async def test_bad_input_is_a_clear_error(
    smart_hub: Hub, tool: str, arguments: dict[str, Any], said: str
) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(smart_hub.url("/mcp/$smart")) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool(tool, arguments)
    assert refused.value.error.code == -32602
    assert said in refused.value.error.message


async def test_metrics_count_searches_and_the_index(smart_hub: Hub) -> None:
    await indexed(smart_hub)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(smart_hub.url("/metrics")) as response,
    ):
        text = await response.text()
    assert 'mcphub_search_duration_seconds_count{outcome="ok"}' in text
    tools = next(line for line in text.splitlines() if line.startswith("mcphub_search_index_tools"))
    assert float(tools.split()[1]) == sum(
        len(load_server(EVAL_DIR / "tools" / f"{name}.json")["tools"]) for name in SERVERS
    )
    assert 'mcphub_search_embeddings_total{result="computed"}' in text


async def test_a_removed_server_leaves_the_search(smart_hub: Hub) -> None:
    await indexed(smart_hub)
    config = Path(smart_hub.process.args[smart_hub.process.args.index("--config") + 1])
    (config / "todoist.yaml").unlink()

    async def gone() -> bool:
        found = await search(smart_hub, "complete my Todoist tasks", limit=20)
        return not any(tool["serverName"] == "todoist" for tool in found["tools"])

    await until(gone, within=60, what="todoist's tools to leave the search", every=0.5)


def _two_servers(folder: Path) -> Path:
    files = [EVAL_DIR / "tools" / f"{name}.json" for name in ("weather", "slack")]
    return write_corpus_config(folder, files)


async def _computed_embeddings(hub: Hub) -> float:
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(hub.url("/metrics")) as response,
    ):
        text = await response.text()
    prefix = 'mcphub_search_embeddings_total{result="computed"} '
    return sum(
        float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix)
    )


async def test_a_hub_embeds_nothing_until_searched_then_indexes_everything(
    tmp_path: Path,
) -> None:
    hub = start_hub(tmp_path, _two_servers)
    try:
        with anyio.fail_after(TEST_SECONDS):
            async with connected(hub.url()) as client:
                direct = await client.call_tool("slack__slack_list_channels", {})
            assert json.loads(only_text(direct.content))["server"] == "slack"
            # Both upstreams serve their tools; an index started with the hub would embed them now.
            for _ in range(10):
                assert await _computed_embeddings(hub) == 0
                await anyio.sleep(0.5)

        async def found() -> dict[str, Any] | None:
            async with connected(hub.url("/mcp/$smart")) as client:
                result = await client.call_tool(
                    "search_tools", {"query": "list the Slack channels", "limit": 3}
                )
            if result.is_error:
                assert "still being built" in only_text(result.content)
                return None
            answer: dict[str, Any] = json.loads(only_text(result.content))
            return answer if answer["metadata"]["searched"] == 25 else None

        answer = await until(found, within=600, what="the first search to index the hub", every=1)
        assert answer["tools"][0]["name"] == "slack__slack_list_channels"
        assert await _computed_embeddings(hub) == 25
    finally:
        hub.process.stop()


async def test_a_database_that_is_down_fails_searches_not_calls(tmp_path: Path) -> None:
    closed = f"postgresql://hub@127.0.0.1:{free_port()}/hub"
    hub = start_hub(tmp_path, _two_servers, args=["--database-url", closed])
    try:
        with anyio.fail_after(TEST_SECONDS):
            async with connected(hub.url()) as client:
                direct = await client.call_tool("slack__slack_list_channels", {})
            # Nobody searched yet, so the hub has not tried the database (the index starts
            # on first use): it would have logged that it cannot reach it.
            assert "search index unavailable" not in hub.process.log_path.read_text()
            async with connected(hub.url("/mcp/$smart")) as client:
                result = await client.call_tool("search_tools", {"query": "weather"})
        assert "search index unavailable" in hub.process.log_path.read_text()
        assert result.is_error
        assert "the search database 127.0.0.1" in only_text(result.content)
        assert "is unavailable" in only_text(result.content)
        assert json.loads(only_text(direct.content))["server"] == "slack"
    finally:
        hub.process.stop()


async def test_a_hub_on_postgres_searches_its_shared_index(
    tmp_path: Path, postgres: Postgres
) -> None:
    await drop_index(postgres.dsn)
    hub = start_hub(tmp_path, _two_servers, args=["--database-url", postgres.dsn])
    try:

        async def found() -> dict[str, Any] | None:
            async with connected(hub.url("/mcp/$smart")) as client:
                result = await client.call_tool(
                    "search_tools", {"query": "list the Slack channels", "limit": 3}
                )
            if result.is_error:
                return None
            answer: dict[str, Any] = json.loads(only_text(result.content))
            return answer if answer["metadata"]["searched"] == 25 else None

        answer = await until(found, within=600, what="the hub to index into PostgreSQL", every=1)
        assert answer["tools"][0]["name"] == "slack__slack_list_channels"
    finally:
        hub.process.stop()
