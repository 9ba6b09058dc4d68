"""The stdio bridge as the tests run it: a real process on a free loopback port.

Shared by the bridge tests and the transport tests, which reach the transport
through the bridge because that is the program that serves it.  Waits are
bounded; the blocking ones are meant for fixtures, before any client runs on
the event loop, and :func:`until` is the one for inside tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from mcp.client.stdio import StdioServerParameters
from mcp.types import TextContent

from tests.testbed.errors import TestbedError
from tests.testbed.processes import ManagedProcess, free_port, port_is_open

START_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class Bridge:
    process: ManagedProcess
    port: int
    path: str = "/mcp"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """Status code and JSON body of /readyz."""
        url = f"http://127.0.0.1:{self.port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as failed:
            return failed.code, json.loads(failed.read())

    def is_ready(self) -> bool:
        return self.readyz()[0] == 200

    def child_pid(self) -> int:
        status, body = self.readyz()
        assert status == 200, body
        pid = body["pid"]
        assert isinstance(pid, int)
        return pid


def command_of(server: StdioServerParameters) -> list[str]:
    return [server.command, *server.args]


@contextmanager
def running_bridge(
    log_dir: Path,
    *args: str,
    command: Sequence[str] = (),
    wait_ready: bool = True,
    env: Mapping[str, str] | None = None,
) -> Iterator[Bridge]:
    """Start ``python -m hub_proxy.bridge`` with ``args``, ``-- command`` (if any) and ``env``."""
    port = free_port()
    argv = [sys.executable, "-m", "hub_proxy.bridge", "--host", "127.0.0.1", "--port", str(port)]
    argv += [*args, "--stop-timeout", "5"]
    if command:
        argv += ["--", *command]
    process = ManagedProcess("bridge", argv, log_dir=log_dir, env=env)
    bridge = Bridge(process, port)
    try:
        process.wait_until(lambda: port_is_open(port), timeout=START_TIMEOUT_SECONDS, what="port")
        if wait_ready:
            process.wait_until(bridge.is_ready, timeout=START_TIMEOUT_SECONDS, what="/readyz 200")
        yield bridge
    finally:
        process.stop()


async def until(
    check: Callable[[], Awaitable[T | None]], *, within: float, what: str, every: float = 0.1
) -> T:
    """Await ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = await check()
        except Exception as exc:  # "not yet"; quoted if it never succeeds
            last = exc
        else:
            if result:
                return result
            last = result
        await asyncio.sleep(every)
    raise TestbedError(f"timed out after {within} s waiting for {what}; last: {last!r}")


def process_is_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not process_is_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def only_text(content: Sequence[object]) -> str:
    assert len(content) == 1, content
    block = content[0]
    assert isinstance(block, TextContent)
    return block.text


JSON_AND_SSE = "application/json, text/event-stream"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test-client", "version": "1"},
    },
}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any


class RawClient:
    """Streamable HTTP by hand, for what the SDK client never sends (bad input, raw ids)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id: str | None = None

    def headers(self, **overrides: str | None) -> dict[str, str]:
        headers: dict[str, str | None] = {
            "Accept": JSON_AND_SSE,
            "Content-Type": "application/json",
            "Mcp-Session-Id": self.session_id,
            **{name.replace("_", "-"): value for name, value in overrides.items()},
        }
        return {name: value for name, value in headers.items() if value is not None}

    async def post(self, body: object, **headers: str | None) -> Reply:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(
            self.url, data=data, headers=self.headers(**headers), skip_auto_headers=["Accept"]
        ) as response:
            payload = await response.read()
            parsed = json.loads(payload) if payload else None
            return Reply(response.status, response.headers, parsed)

    async def initialize(self) -> str:
        reply = await self.post(INITIALIZE)
        assert reply.status == 200, reply
        self.session_id = reply.headers["Mcp-Session-Id"]
        initialized = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert initialized.status == 202, initialized
        return self.session_id


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The JSON-RPC messages of an SSE response, one per ``message`` event."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            yield json.loads("\n".join(data))
            data = []
