"""The standalone hub, run as a process in front of real stdio MCP servers.

The hub reads a folder written here, pointing at the test bed's installed
servers (never ``npx``: no network), and is driven with the MCP SDK's own
client over streamable HTTP.  Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import aiohttp
import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import ToolListChangedNotification

from tests.hub_proxy.bridge_process import command_of, only_text, wait_gone
from tests.hub_proxy.remote_server_yaml import remote_yaml
from tests.testbed.conformance_server import (
    ScenarioOutcome,
    conformance_stdio,
    run_server_suite,
    running_conformance_server,
)
from tests.testbed.mcp_servers import everything_stdio, time_stdio
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open
from tests.testbed.waiting import eventually

START_SECONDS = 60.0
READY_SECONDS = 90.0
TEST_SECONDS = 90
CALL_SECONDS = 30.0
ENV_MARKER = "MCPHUB_TEST_MARKER"


def server_yaml(name: str, argv: list[str], extra: str = "") -> str:
    return (
        "apiVersion: mcphub.dev/v1alpha1\n"
        "kind: MCPServer\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        "  transport: stdio\n"
        "  container:\n"
        "    image: unused-standalone\n"
        f"    command: [{json.dumps(argv[0])}]\n"
        f"    args: {json.dumps(argv[1:])}\n"
        f"{extra}"
    )


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
    everything = server_yaml(
        "everything",
        command_of(everything_stdio()),
        f"    env: [{{name: {ENV_MARKER}, value: passed-by-the-hub}}]\n"
        "  tools:\n"
        '    exclude: ["toggle-*"]\n',
    )
    (folder / "everything.yaml").write_text(everything)
    (folder / "group.yaml").write_text(
        "apiVersion: mcphub.dev/v1alpha1\n"
        "kind: MCPGroup\n"
        "metadata: {name: basics}\n"
        "spec:\n"
        "  servers:\n"
        "    - name: time\n"
        '      tools: {exclude: ["convert_*"]}\n'
        "    - name: everything\n"
        '      tools: {include: ["echo", "get-sum"]}\n'
    )
    return folder


@dataclass(frozen=True)
class Hub:
    process: ManagedProcess
    port: int

    def url(self, path: str = "/mcp") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def readyz(self) -> tuple[int, dict[str, Any]]:
        return self.get("/readyz")

    def status(self, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """``/status``: the servers the caller (anonymous, without ``headers``) may see."""
        return self.get("/status", headers)

    def servers(self) -> dict[str, dict[str, Any]]:
        """Each server's state, as ``/status`` shows it to a caller who may see everything."""
        code, body = self.status()
        assert code == 200, body
        servers: dict[str, dict[str, Any]] = body["servers"]
        return servers

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """Status and body (parsed if JSON) of a GET of ``path``."""
        request = urllib.request.Request(self.url(path), headers=dict(headers or {}))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, _parsed(response.read())
        except urllib.error.HTTPError as failed:
            return failed.code, _parsed(failed.read())

    def child_pids(self) -> list[int]:
        return [server["pid"] for server in self.servers().values()]


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


# What --anonymous callers may do in the hubs of tests that are not about access control.
OPEN_ACCESS = """\
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: open-to-anonymous}
spec:
  subjects: [{kind: Group, name: "system:unauthenticated"}]
  rules: [{servers: ["*"], groups: ["*"], actions: [list, call, read, get]}]
"""


def start_hub(
    tmp: Path,
    write: Callable[[Path], Path] = write_config,
    *,
    args: Sequence[str] = (),
    open_access: bool = True,
    env: Mapping[str, str] | None = None,
) -> Hub:
    """A hub serving the folder ``write`` makes, with ``args`` and ``env``; ready on return.

    With ``open_access``, anonymous callers may see and do everything (``--anonymous``
    and :data:`OPEN_ACCESS`), as tests of anything but access control want.
    """
    config = write(tmp / "config")
    port = free_port()
    argv = [sys.executable, "-m", "hub_proxy", "--config", str(config), "--port", str(port), *args]
    if open_access:
        (config / "open-access.yaml").write_text(OPEN_ACCESS)
        argv.append("--anonymous")
    # From the repository root: the conformance server runs as ``python -m tests...``.
    process = ManagedProcess("hub", argv, log_dir=tmp, cwd=REPO_ROOT, env=env)
    hub = Hub(process, port)
    process.wait_until(lambda: port_is_open(port), timeout=START_SECONDS, what="listening")
    process.wait_until(lambda: hub.readyz()[0] == 200, timeout=READY_SECONDS, what="/readyz 200")
    return hub


def serving(tmp: Path, write: Callable[[Path], Path] = write_config) -> Iterator[Hub]:
    """:func:`start_hub` for a fixture: the hub, stopped when the fixture ends."""
    started = start_hub(tmp, write)
    try:
        yield started
    finally:
        started.process.stop()


# How SDK clients connect, and the protocol each settles on with the hub: a
# handshake and a session ("legacy"), or probing for the newest revision ("auto").
NEGOTIATED: Final = {"legacy": "2025-11-25", "auto": "2026-07-28"}


def connected(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    mode: Literal["legacy", "auto"] = "legacy",
    **callbacks: Any,
) -> Client:
    """The SDK client for ``url``, sending ``headers`` (credentials) with every request."""
    server: Any = url
    if headers is not None:
        http = create_mcp_http_client(headers=dict(headers))
        server = streamable_http_client(url, http_client=http)
    return Client(server, mode=mode, read_timeout_seconds=CALL_SECONDS, **callbacks)


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def test_mcp_lists_every_servers_tools_under_stable_prefixed_names(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url()) as client:
            assert client.server_info is not None
            assert client.server_info.name == "mcphub"
            names = await tool_names(client)
    assert {"time__get_current_time", "time__convert_time", "everything__echo"} <= names
    # The server's own tool policy applies everywhere.
    assert not any(name.startswith("everything__toggle-") for name in names)


async def test_mcp_calls_tools_of_both_servers(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url()) as client:
            now = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            echoed = await client.call_tool("everything__echo", {"message": "through the hub"})
            env = await client.call_tool("everything__get-env", {})
    assert json.loads(only_text(now.content))["timezone"] == "UTC"
    assert only_text(echoed.content) == "Echo: through the hub"
    assert "passed-by-the-hub" in only_text(env.content)


async def test_server_path_serves_its_own_unprefixed_names(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url("/mcp/time")) as client:
            assert await tool_names(client) == {"get_current_time", "convert_time"}
            now = await client.call_tool("get_current_time", {"timezone": "UTC"})
    assert json.loads(only_text(now.content))["timezone"] == "UTC"


@pytest.mark.parametrize("mode", list(NEGOTIATED))
async def test_group_path_applies_member_filters(hub: Hub, mode: Literal["legacy", "auto"]) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url("/mcp/basics"), mode=mode) as client:
            assert client.protocol_version == NEGOTIATED[mode]
            names = await tool_names(client)
            summed = await client.call_tool("everything__get-sum", {"a": 2, "b": 40})
            with pytest.raises(MCPError) as hidden:
                await client.call_tool("time__convert_time", {})
    assert names == {"time__get_current_time", "everything__echo", "everything__get-sum"}
    assert "42" in only_text(summed.content)
    assert hidden.value.error.code == -32602


@pytest.mark.parametrize("mode", list(NEGOTIATED))
async def test_progress_of_an_upstream_call_reaches_the_caller(
    hub: Hub, mode: Literal["legacy", "auto"]
) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url(), mode=mode) as client:
            assert client.protocol_version == NEGOTIATED[mode]
            result = await client.call_tool(
                "everything__trigger-long-running-operation",
                {"duration": 1, "steps": 3},
                progress_callback=on_progress,
            )
    assert "completed" in only_text(result.content)
    assert seen == [(1, 3), (2, 3), (3, 3)]


async def test_unknown_tool_is_an_invalid_params_error(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url()) as client:
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("time__no_such_tool", {})
    assert unknown.value.error.code == -32602
    assert "time__no_such_tool" in unknown.value.error.message


def write_changing_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    changing = [sys.executable, str(Path(__file__).with_name("changing_server.py"))]
    (folder / "changing.yaml").write_text(server_yaml("changing", changing))
    (folder / "time.yaml").write_text(server_yaml("time", command_of(time_stdio())))
    return folder


async def test_an_upstreams_list_changed_reaches_the_sessions_that_see_it(tmp_path: Path) -> None:
    hub = await asyncio.to_thread(start_hub, tmp_path, write_changing_config)
    told = asyncio.Event()
    unrelated: list[object] = []

    async def on_message(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            told.set()

    async def on_unrelated(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            unrelated.append(message)

    try:
        with anyio.fail_after(TEST_SECONDS):
            async with (
                connected(hub.url(), message_handler=on_message) as client,
                connected(hub.url("/mcp/time"), message_handler=on_unrelated) as bystander,
            ):
                assert "changing__grow" in await tool_names(client)
                grown = await client.call_tool("changing__grow", {})
                added = only_text(grown.content)
                await told.wait()
                assert f"changing__{added}" in await tool_names(client)
                assert await tool_names(bystander) == {"get_current_time", "convert_time"}
                await asyncio.sleep(0.5)  # time for a wrongly sent notification to arrive
        assert unrelated == []
    finally:
        await asyncio.to_thread(hub.process.stop)


def conformance_config(definition: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "conformance.yaml").write_text(definition)
        return folder

    return write


@contextmanager
def conformance_upstream(how: str, tmp_path: Path) -> Iterator[str]:
    """The conformance server's MCPServer definition: a stdio child, or a remote HTTP server."""
    if how == "stdio":
        yield server_yaml("conformance", command_of(conformance_stdio()))
        return
    with running_conformance_server(tmp_path / "upstream") as url:
        yield remote_yaml("conformance", url)


@pytest.mark.parametrize("upstream", ["stdio", "remote"])
def test_a_lone_servers_path_passes_the_official_conformance_suite(
    tmp_path: Path, upstream: str
) -> None:
    """The suite's server scenarios, against the hub's /mcp/{server} in front of a server that
    passes them on its own -- a stdio child, or a remote streamable-HTTP server whose streams
    the hub resumes: whatever fails here is the hub's doing."""
    with conformance_upstream(upstream, tmp_path) as definition:
        hub = start_hub(tmp_path, conformance_config(definition))
        try:
            outcomes = run_server_suite(hub.url("/mcp/conformance"), tmp_path / "results")
        finally:
            hub.process.stop()
    assert len(outcomes) >= 30
    # Every one, the server's known failures included: the hub's own streams are
    # resumable whatever the version header of a request in the session says.
    failed = {name: outcome.problems for name, outcome in outcomes.items() if not outcome.passed}
    assert failed == {}
    # On their merits: the answers were SSE streams, primed and with a retry delay.
    assert (
        sse_checks(outcomes["server-sse-polling"])
        >= {
            "server-sse-priming-event": "SUCCESS",
            "server-sse-retry-field": "SUCCESS",
        }.items()
    )
    assert (
        sse_checks(outcomes["server-sse-multiple-streams"])
        >= {
            "server-accepts-multiple-post-streams": "SUCCESS",
            "server-sse-streams-functional": "SUCCESS",
        }.items()
    )


def sse_checks(outcome: ScenarioOutcome) -> set[tuple[str, str]]:
    """(check, status) of a scenario's checks."""
    return {(check["id"], check["status"]) for check in outcome.checks}


async def test_prompts_and_resources_are_aggregated(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(hub.url()) as client:
            prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
            got = await client.get_prompt("everything__simple-prompt")
            resources = (await client.list_resources()).resources
            read = await client.read_resource(resources[0].uri)
    assert "everything__simple-prompt" in prompts
    assert got.messages
    assert read.contents


async def test_unknown_path_is_404_with_a_json_rpc_error(hub: Hub) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for path in ("/mcp/nosuch", "/mcp/nosuch/deeper"):
            async with http.post(hub.url(path), json={}) as response:
                assert response.status == 404
                body = await response.json()
            assert "nosuch" in body["error"]["message"]


async def test_status_names_every_upstream_the_caller_may_see(hub: Hub) -> None:
    servers = await asyncio.to_thread(hub.servers)
    assert set(servers) == {"time", "everything"}
    assert all(server["tools"] > 0 for server in servers.values())


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_children_do_not_outlive_the_hub(tmp_path: Path, how: str) -> None:
    hub = start_hub(tmp_path)
    pids = hub.child_pids()
    assert len(pids) == 2
    if how == "stop":
        hub.process.stop()
    else:
        hub.process.kill()
    for pid in pids:
        assert wait_gone(pid, timeout=15), f"child {pid} outlived the hub ({how})"


def test_invalid_config_exits_2_naming_file_document_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: mcphub.dev/v1alpha1\nkind: MCPServer\nmetadata: {name: bad}\n"
        "spec: {transport: stdio, container: {image: x, port: 99999}}\n"
    )
    argv = [sys.executable, "-m", "hub_proxy", "--config", str(tmp_path), "--port", "1"]
    process = ManagedProcess("hub-bad-config", argv, log_dir=tmp_path / "logs")
    eventually(lambda: process.exit_code() is not None, timeout=30, what="the hub to exit")
    code, log = process.exit_code(), process.log_tail()
    process.stop()
    assert code == 2, log
    assert "bad.yaml" in log
    assert "document 1" in log
    assert "spec.container.port" in log
