"""Ask a running MCP server who it is and what tools it has, over MCP itself.

A green Deployment says a process is up; it does not say the process speaks
MCP, nor which tools it offers today.  So the operator performs a real
``initialize`` and a full (paginated) ``tools/list`` against the server, at
the URL the hub will use, and writes what it heard into the status.  The
description and input schema of each tool are hashed, so a server that
quietly rewrites a tool's description (a classic prompt-injection move)
shows up as a changed hash.

Every probe is bounded by a timeout; a failure is classified into a short
reason for the ``Verified`` condition and a message for people.

While tracing is on, every HTTP request of a probe carries the current trace
context (the operator's ``verify`` span) in the W3C headers, so that the
server's spans join the operator's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation, ServerCapabilities
from opentelemetry import propagate

from mcphub_api.mcpserver import ServerInfo, ToolPolicy, ToolStatus
from mcphub_api.toolpolicy import publish
from mcphub_runtime import tracing

CLIENT_INFO = Implementation(name="mcphub-operator", version="0.1.0")
MAX_TOOL_PAGES = 50


@dataclass(frozen=True)
class Inventory:
    server_info: ServerInfo
    tools: tuple[ToolStatus, ...]


class VerificationError(Exception):
    """The server could not be verified; ``reason`` is a CamelCase word for conditions."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _capabilities(capabilities: ServerCapabilities) -> list[str]:
    declared = capabilities.model_dump(exclude_none=True, by_alias=True)
    return sorted(name for name in declared if name != "experimental")


@functools.cache
def _tls() -> ssl.SSLContext:
    """The trust store, loaded once: loading it took 0.2 s of CPU per verification."""
    return httpx2.create_ssl_context()


def _http_client(
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    """The SDK's client for MCP over HTTP (``McpHttpClientFactory``), on the shared trust store."""
    hooks = {"request": [_carry_trace_context]} if tracing.tracer() is not None else None
    return httpx2.AsyncClient(
        headers=headers, timeout=timeout, auth=auth, verify=_tls(), event_hooks=hooks
    )


async def _carry_trace_context(request: httpx2.Request) -> None:
    propagate.inject(request.headers)


@contextlib.asynccontextmanager
async def _transport(
    url: str, transport: str, headers: Mapping[str, str], seconds: float
) -> AsyncIterator[Any]:
    if transport == "sse":
        async with sse_client(
            url, headers=dict(headers), timeout=seconds, httpx_client_factory=_http_client
        ) as streams:
            yield streams
        return
    # A client handed to the transport is the caller's to close (with its connections).
    async with (
        _http_client(headers=dict(headers), timeout=httpx2.Timeout(seconds)) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


async def _inventory(client: Client, policy: ToolPolicy | None) -> Inventory:
    info = client.server_info or Implementation(name="unknown", version="")
    tools: list[ToolStatus] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            published = publish(tool.name, tool.description or "", tool.title, policy)
            if published is None:
                continue
            tools.append(
                ToolStatus(
                    name=published.name,
                    description=published.description,
                    description_hash=sha256(tool.description or ""),
                    input_schema_hash=sha256(canonical_json(tool.input_schema)),
                )
            )
        cursor = page.next_cursor
        if not cursor:
            break
    return Inventory(
        server_info=ServerInfo(
            name=info.name,
            version=info.version or "",
            protocol_version=client.protocol_version,
            capabilities=_capabilities(client.server_capabilities),
        ),
        tools=tuple(sorted(tools, key=lambda t: t.name)),
    )


async def verify(
    url: str,
    *,
    transport: str,
    headers: Mapping[str, str],
    policy: ToolPolicy | None,
    time_limit: float,
) -> Inventory:
    """Handshake with the server at ``url`` and list its tools, within ``time_limit`` seconds."""
    connection: AbstractAsyncContextManager[Client] = Client(
        _transport(url, transport, headers, time_limit),
        mode="legacy",
        client_info=CLIENT_INFO,
        read_timeout_seconds=time_limit,
    )
    try:
        async with asyncio.timeout(time_limit):
            async with connection as client:
                return await _inventory(client, policy)
    except TimeoutError:
        raise VerificationError(
            "Timeout",
            f"no complete MCP handshake and tools/list from {url} within {time_limit:.0f} s",
        ) from None
    except Exception as exc:  # any failure of a foreign server is a finding, not a crash
        cause = _innermost(exc)
        if isinstance(cause, httpx2.ConnectError | ConnectionError):
            raise VerificationError("Unreachable", f"cannot connect to {url}: {cause}") from None
        raise VerificationError(
            "HandshakeFailed",
            f"MCP handshake with {url} failed: {type(cause).__name__}: {cause}",
        ) from None


def _innermost(exc: BaseException) -> BaseException:
    """The first real error inside the exception groups that task groups wrap it in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
