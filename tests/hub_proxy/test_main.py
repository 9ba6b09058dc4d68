"""The hub process starts and answers its probes, and the README's example runs."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from mcp import Client

from tests.testbed.install import server_path
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import ManagedProcess, free_port, port_is_open


def test_hub_process_serves_healthz(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config"
    config.mkdir()
    argv = [sys.executable, "-m", "hub_proxy", "--config", str(config), "--port", str(port)]
    hub = ManagedProcess("hub", argv, log_dir=tmp_path)
    try:
        hub.wait_until(lambda: port_is_open(port), timeout=30, what="listening")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert response.status == 200
    finally:
        hub.stop()


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


async def test_the_example_that_make_run_serves_is_ready_with_both_servers(tmp_path: Path) -> None:
    port = free_port()
    hub = ManagedProcess(
        "hub",
        # As make run starts it.
        [sys.executable, "-m", "hub_proxy", "--port", str(port), "--anonymous"],
        env={"PATH": f"{server_path()}{os.pathsep}{os.environ['PATH']}"},
        cwd=REPO_ROOT,
        log_dir=tmp_path,
    )
    try:
        hub.wait_until(lambda: ready(port), timeout=60, what="/readyz with both servers up")
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"time__get_current_time", "everything__echo"} <= names
            echoed = await client.call_tool("everything__echo", {"message": "hub"})
            assert not echoed.is_error
    finally:
        hub.stop()
