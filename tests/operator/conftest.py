"""Fixtures of the operator's tests: an MCP server for MCPServers to point at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.testbed.mcp_servers import running_everything_http


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """server-everything over streamable HTTP, one per test module; its URL."""
    with running_everything_http(tmp_path_factory.mktemp("everything")) as url:
        yield url
