"""The MCP Inspector CLI, a client the hub did not grow up with, lists and calls tools through it.

The Inspector's CLI mode (``@modelcontextprotocol/inspector-cli``, pinned in
the test bed's ``package.json``) is the TypeScript SDK's client behind a
command line: one process per method, JSON on stdout, exit status 1 with the
error on stderr.  It runs under the test bed's Node 22 against the standalone
hub (``time`` and ``everything`` as stdio children), over streamable HTTP on
loopback.

Its ``build/index.js`` reads its own ``package.json`` through a path relative
to the *working directory* (``../package.json``), so it runs from its
``build`` folder; ``build/cli.js`` is only a launcher that spawns ``node``
from the PATH, which is why the test calls ``index.js`` directly.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.hub_proxy.test_standalone_hub import Hub
from tests.testbed.errors import TestbedError
from tests.testbed.install import node_package_entry
from tests.testbed.mcp_servers import node22

INSPECTOR_SECONDS = 120.0


def inspector_entry() -> Path:
    entry = node_package_entry("@modelcontextprotocol/inspector-cli", "build/index.js")
    if not entry.exists():
        raise TestbedError(
            f"the MCP Inspector CLI is not installed ({entry} is missing); "
            "run `python -m tests.testbed.install` to install the test bed"
        )
    return entry


def inspector(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the Inspector CLI (HTTP transport) against ``url``; bounded."""
    entry = inspector_entry()
    argv = [str(node22()), str(entry), url, "--transport", "http", *args]
    try:
        return subprocess.run(
            argv,
            cwd=entry.parent,
            capture_output=True,
            text=True,
            timeout=INSPECTOR_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"the Inspector CLI did not finish in {INSPECTOR_SECONDS} s") from exc


def inspector_json(url: str, *args: str) -> Any:
    done = inspector(url, *args)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return json.loads(done.stdout)


def test_inspector_lists_every_servers_tools_under_prefixed_names(hub: Hub) -> None:
    listed = inspector_json(hub.url(), "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert {"time__get_current_time", "time__convert_time", "everything__echo"} <= names
    assert all(name.startswith(("time__", "everything__")) for name in names)
    assert not any(name.startswith("everything__toggle-") for name in names)


def test_inspector_calls_a_tool_through_the_hub(hub: Hub) -> None:
    called = inspector_json(
        hub.url(),
        "--method",
        "tools/call",
        "--tool-name",
        "time__get_current_time",
        "--tool-arg",
        "timezone=UTC",
    )
    assert called.get("isError") is not True
    assert called["structuredContent"]["timezone"] == "UTC"
    [content] = called["content"]
    assert content["type"] == "text"
    assert json.loads(content["text"])["timezone"] == "UTC"


def test_inspector_calls_a_tool_on_a_servers_own_path(hub: Hub) -> None:
    called = inspector_json(
        hub.url("/mcp/everything"),
        "--method",
        "tools/call",
        "--tool-name",
        "echo",
        "--tool-arg",
        "message=via the inspector",
    )
    assert called["content"] == [{"type": "text", "text": "Echo: via the inspector"}]


def test_inspector_reports_an_unknown_tool_as_the_hubs_error(hub: Hub) -> None:
    done = inspector(hub.url(), "--method", "tools/call", "--tool-name", "time__no_such_tool")
    assert done.returncode == 1
    assert "-32602" in done.stderr
    assert "time__no_such_tool" in done.stderr
