"""The stdio bridge, run as a process in front of real stdio MCP servers.

Clients are the MCP SDK's own, over streamable HTTP, exactly as the hub and
the operator's probe will connect.  Servers are the test bed's reference
servers: server-everything (Node) for the protocol's corners, mcp-server-time
(Python) for a second implementation and for FIFO mode.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    TextContent,
    ToolListChangedNotification,
)

from tests.hub_proxy.bridge_process import (
    INITIALIZE,
    Bridge,
    RawClient,
    command_of,
    only_text,
    process_is_gone,
    running_bridge,
    until,
    wait_gone,
)
from tests.testbed.mcp_servers import everything_stdio, time_stdio
from tests.testbed.processes import ManagedProcess

# Generous for a loaded two-core machine; a healthy run needs a fraction of it.
TEST_SECONDS = 90
CALL_SECONDS = 30.0


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """One bridge in front of server-everything, for the tests that leave it running."""
    log_dir = tmp_path_factory.mktemp("bridge-everything")
    with running_bridge(log_dir, command=command_of(everything_stdio())) as bridge:
        yield bridge


@asynccontextmanager
async def connected(url: str, **callbacks: Any) -> AsyncIterator[Client]:
    async with Client(url, mode="legacy", read_timeout_seconds=CALL_SECONDS, **callbacks) as client:
        yield client


async def readyz(bridge: Bridge) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(bridge.readyz)


async def test_server_everything_initializes_lists_and_calls_tools_through_the_bridge(
    everything: Bridge,
) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with connected(everything.url) as client:
            assert client.server_info is not None
            assert client.server_info.name == "mcp-servers/everything"
            tools = {tool.name for tool in (await client.list_tools()).tools}
            # Registered only for clients that can sample: the bridge declared it.
            assert {"echo", "get-sum", "trigger-sampling-request"} <= tools
            echoed = await client.call_tool("echo", {"message": "hello bridge"})
            assert only_text(echoed.content) == "Echo: hello bridge"
            summed = await client.call_tool("get-sum", {"a": 2, "b": 40})
            assert "42" in only_text(summed.content)


async def test_mcp_server_time_initializes_lists_and_calls_tools_through_the_bridge(
    tmp_path: Path,
) -> None:
    with running_bridge(tmp_path, command=command_of(time_stdio())) as bridge:
        with anyio.fail_after(TEST_SECONDS):
            async with connected(bridge.url) as client:
                await assert_tells_utc_time(client)


async def test_progress_of_a_long_running_call_reaches_the_caller(everything: Bridge) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    with anyio.fail_after(TEST_SECONDS):
        async with connected(everything.url) as client:
            result = await client.call_tool(
                "trigger-long-running-operation",
                {"duration": 1, "steps": 3},
                progress_callback=on_progress,
            )
    assert "completed" in only_text(result.content)
    assert seen == [(1, 3), (2, 3), (3, 3)]


async def test_sampling_request_of_the_server_round_trips_through_the_calling_client(
    everything: Bridge,
) -> None:
    asked: list[CreateMessageRequestParams] = []

    async def sample(
        _context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult:
        asked.append(params)
        reply = TextContent(type="text", text="a sampled reply")
        return CreateMessageResult(role="assistant", content=reply, model="bridge-test-model")

    with anyio.fail_after(TEST_SECONDS):
        async with connected(everything.url, sampling_callback=sample) as client:
            result = await client.call_tool(
                "trigger-sampling-request", {"prompt": "what is MCP?", "maxTokens": 10}
            )
    answer = only_text(result.content)
    assert "a sampled reply" in answer
    assert "bridge-test-model" in answer
    assert len(asked) == 1
    assert "what is MCP?" in asked[0].model_dump_json()


async def test_two_clients_share_one_child_without_id_or_progress_token_collisions(
    everything: Bridge,
) -> None:
    before = (await readyz(everything))[1]

    async def workload(client: Client, name: str) -> tuple[list[str], list[float]]:
        seen: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(progress)

        # Both SDK clients number their requests (and so their progress tokens)
        # from the same start: only the bridge's remapping keeps them apart.
        long_call = client.call_tool(
            "trigger-long-running-operation",
            {"duration": 1, "steps": 2},
            progress_callback=on_progress,
        )
        echoes = [client.call_tool("echo", {"message": f"{name}-{i}"}) for i in range(10)]
        results = await asyncio.gather(long_call, *echoes)
        return [only_text(result.content) for result in results[1:]], seen

    with anyio.fail_after(TEST_SECONDS):
        async with connected(everything.url) as first, connected(everything.url) as second:
            (first_echoes, first_progress), (second_echoes, second_progress) = await asyncio.gather(
                workload(first, "first"), workload(second, "second")
            )
    assert first_echoes == [f"Echo: first-{i}" for i in range(10)]
    assert second_echoes == [f"Echo: second-{i}" for i in range(10)]
    assert first_progress == [1, 2]
    assert second_progress == [1, 2]
    after = (await readyz(everything))[1]
    assert (after["pid"], after["restarts"]) == (before["pid"], before["restarts"])


async def test_sdk_client_in_auto_mode_probes_server_discover_then_falls_back_to_initialize(
    everything: Bridge,
) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with Client(everything.url, read_timeout_seconds=CALL_SECONDS) as client:
            assert client.protocol_version == "2025-11-25"
            echoed = await client.call_tool("echo", {"message": "auto"})
            assert only_text(echoed.content) == "Echo: auto"


async def test_methods_the_bridge_does_not_know_are_forwarded_to_the_child(
    everything: Bridge,
) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            raw = RawClient(http, everything.url)
            await raw.initialize()
            discover = {"jsonrpc": "2.0", "id": "probe", "method": "server/discover"}
            reply = await raw.post(discover, MCP_Protocol_Version="2025-06-18")
    # The answer is the child's own: it does not know the method.
    assert reply.status == 200
    assert reply.body["id"] == "probe"
    assert reply.body["error"]["code"] == -32601


async def test_killing_the_child_fails_the_call_in_flight_and_the_same_client_recovers(
    tmp_path: Path,
) -> None:
    with running_bridge(tmp_path, command=command_of(everything_stdio())) as bridge:
        old_child = bridge.child_pid()
        running = asyncio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            running.set()

        with anyio.fail_after(TEST_SECONDS):
            async with connected(bridge.url) as client:
                long_call = asyncio.ensure_future(
                    client.call_tool(
                        "trigger-long-running-operation",
                        {"duration": 60, "steps": 120},
                        progress_callback=on_progress,
                    )
                )
                await running.wait()
                os.kill(old_child, signal.SIGKILL)
                with pytest.raises(MCPError) as failure:
                    await long_call
                assert "MCP server process exited on SIGKILL" in failure.value.message
                # No reconnect: the session outlives the child; the call waits for the restart.
                echoed = await client.call_tool("echo", {"message": "after the restart"})
                assert only_text(echoed.content) == "Echo: after the restart"
        _, status = await readyz(bridge)
        assert status["restarts"] == 1
        assert status["pid"] != old_child
        assert process_is_gone(old_child)


async def test_sessions_hear_tools_list_changed_when_the_child_was_restarted(
    tmp_path: Path,
) -> None:
    # mcp-server-time never sends list_changed itself: this one is the bridge's.
    with running_bridge(tmp_path, command=command_of(time_stdio())) as bridge:
        old_child = bridge.child_pid()
        changed = asyncio.Event()

        async def on_message(message: IncomingMessage) -> None:
            if isinstance(message, ToolListChangedNotification):
                changed.set()

        with anyio.fail_after(TEST_SECONDS):
            async with connected(bridge.url, message_handler=on_message) as client:
                await assert_tells_utc_time(client)
                os.kill(old_child, signal.SIGKILL)
                await changed.wait()
                await assert_tells_utc_time(client)


async def test_a_garbled_answer_fails_its_call_and_the_bridge_serves_on(tmp_path: Path) -> None:
    garbled = [sys.executable, str(Path(__file__).with_name("garbled_server.py"))]
    with running_bridge(tmp_path, command=garbled) as bridge, anyio.fail_after(TEST_SECONDS):
        async with connected(bridge.url) as client:
            with pytest.raises(MCPError, match='answered with an invalid message: "result" must'):
                await client.call_tool("garble", {})
            fine = await client.call_tool("fine", {})
        log = bridge.process.log_path.read_text()
    assert only_text(fine.content) == "fine"
    assert log.count("server wrote something that is not a JSON-RPC message") == 2
    assert "this is not JSON" in log


async def test_readyz_reports_a_crash_looping_child_and_clients_get_the_reason(
    tmp_path: Path,
) -> None:
    crasher = [sys.executable, "-c", "import sys; sys.exit(3)"]
    with running_bridge(
        tmp_path, "--ready-timeout", "1", command=crasher, wait_ready=False
    ) as bridge:
        with anyio.fail_after(TEST_SECONDS):

            async def crashed() -> dict[str, Any] | None:
                status, body = await readyz(bridge)
                return body if status == 503 and "code 3" in body["reason"] else None

            body = await until(crashed, within=60, what="/readyz to report exit code 3")
            assert re.fullmatch(r"child exited with code 3, restarting in [\d.]+ s", body["reason"])
            assert body["ready"] is False
            assert body["restarts"] >= 1
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                refused = await RawClient(http, bridge.url).post(INITIALIZE)
            assert refused.status == 200
            assert refused.body["error"]["code"] == -32010
            # The reason of the moment: "child exited ..." or, briefly, "starting ...".
            assert refused.body["error"]["message"].startswith("the MCP server is not ready: ")
        # Liveness is the bridge's own, whatever the child does.
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.get(f"http://127.0.0.1:{bridge.port}/healthz") as health,
        ):
            assert health.status == 200


def test_sigkill_of_the_bridge_takes_its_child_along(tmp_path: Path) -> None:
    with running_bridge(tmp_path, command=command_of(time_stdio())) as bridge:
        child = bridge.child_pid()
        os.kill(bridge.process.pid, signal.SIGKILL)
        assert wait_gone(child, timeout=15), f"the child {child} outlived its bridge"


def test_sigterm_stops_the_child_and_the_bridge_exits_zero(tmp_path: Path) -> None:
    with running_bridge(tmp_path, command=command_of(everything_stdio())) as bridge:
        child = bridge.child_pid()
        os.kill(bridge.process.pid, signal.SIGTERM)
        assert exit_code_within(bridge.process, 30) == 0, bridge.process.log_tail()
        assert process_is_gone(child)
        events = [json.loads(line)["event"] for line in log_lines(bridge.process)]
        assert events[-3:] == ["stopping", "server ended", "bridge stopped"]


def test_fifo_bridge_still_waiting_for_its_server_stops_promptly_on_sigterm(
    tmp_path: Path,
) -> None:
    # The bridge is blocked opening a FIFO nobody opens: it must unblock itself.
    with running_bridge(tmp_path, "--fifo-dir", str(tmp_path / "run"), wait_ready=False) as bridge:
        os.kill(bridge.process.pid, signal.SIGTERM)
        assert exit_code_within(bridge.process, 15) == 0, bridge.process.log_tail()


async def test_fifo_mode_serves_a_separate_server_process_across_its_restart(
    tmp_path: Path,
) -> None:
    fifos = tmp_path / "run"
    logs = tmp_path / "logs"
    with running_bridge(logs, "--fifo-dir", str(fifos), wait_ready=False) as bridge:
        assert stat.S_ISFIFO((fifos / "stdin").stat().st_mode)
        assert stat.S_ISFIFO((fifos / "stdout").stat().st_mode)
        status, body = await readyz(bridge)
        assert status == 503
        assert body["reason"] == f"waiting for the server to open {fifos / 'stdin'}"

        async def ready() -> bool:
            return (await readyz(bridge))[0] == 200

        async def not_ready() -> bool:
            return (await readyz(bridge))[0] == 503

        first = server_container(fifos, logs, "server-first")
        try:
            with anyio.fail_after(TEST_SECONDS):
                await until(ready, within=60, what="the bridge to reach the first server")
                async with connected(bridge.url) as client:
                    await assert_tells_utc_time(client)
                    first.stop()
                    await until(not_ready, within=30, what="the bridge to notice the exit")
                    second = server_container(fifos, logs, "server-second")
                    try:
                        await until(ready, within=60, what="the bridge to reach the second server")
                        # The same session, across a restart of the server's container.
                        await assert_tells_utc_time(client)
                    finally:
                        second.stop()
        finally:
            first.stop()


def server_container(fifos: Path, log_dir: Path, name: str) -> ManagedProcess:
    """The server as the operator runs it in its own container: wrapped to use the FIFOs."""
    script = f'exec "$@" <{shlex.quote(str(fifos / "stdin"))} >{shlex.quote(str(fifos / "stdout"))}'
    return ManagedProcess(
        name, ["sh", "-c", script, "mcphub-stdio", *command_of(time_stdio())], log_dir=log_dir
    )


async def assert_tells_utc_time(client: Client) -> None:
    tools = {tool.name for tool in (await client.list_tools()).tools}
    assert "get_current_time" in tools
    result = await client.call_tool("get_current_time", {"timezone": "UTC"})
    assert not result.is_error
    assert json.loads(only_text(result.content))["timezone"] == "UTC"


def exit_code_within(process: ManagedProcess, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while process.exit_code() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return process.exit_code()


def log_lines(process: ManagedProcess) -> list[str]:
    """The bridge's own JSON log lines, without what the child wrote to stderr."""
    lines = process.log_path.read_text().splitlines()
    return [line for line in lines if line.startswith('{"time"')]
