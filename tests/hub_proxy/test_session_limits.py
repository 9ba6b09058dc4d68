"""The hub's session limits, as an SDK client meets them.

A principal (here every anonymous caller, who are one) holds at most
``--max-sessions-per-principal`` sessions; the one over is refused at
``initialize`` with an error the SDK client shows, saying what to do, and
ending a session makes room.  The unit of the limits is the transport's
(``tests/hub_proxy/transport/test_sessions.py``); this checks the hub's flags
reach it and that legacy SSE streams count too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from tests.hub_proxy.test_standalone_hub import TEST_SECONDS, Hub, connected, start_hub

PER_PRINCIPAL = 2


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp: Path = tmp_path_factory.mktemp("limited")
    started = start_hub(tmp, args=["--max-sessions-per-principal", str(PER_PRINCIPAL)])
    try:
        yield started
    finally:
        started.process.stop()


async def test_a_principal_over_its_limit_is_told_so_and_room_comes_back(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with contextlib.AsyncExitStack() as held:
            for _ in range(PER_PRINCIPAL):
                await held.enter_async_context(connected(hub.url("/mcp/time")))
            message = await refusal(hub)
            assert "too many sessions" in message
            assert "DELETE" in message
        # The clients ended their sessions on leaving: there is room again.
        async with connected(hub.url("/mcp/time")) as client:
            assert (await client.list_tools()).tools


async def test_legacy_sse_streams_count_too(hub: Hub) -> None:
    with anyio.fail_after(TEST_SECONDS):
        async with contextlib.AsyncExitStack() as held:
            for _ in range(PER_PRINCIPAL):
                await held.enter_async_context(sse_client(hub.url("/sse/time")))
            assert "too many sessions" in await refusal(hub)


async def refusal(hub: Hub) -> str:
    """The error an SDK client gets opening one more session; the client wraps it in groups."""
    with pytest.raises((MCPError, ExceptionGroup)) as raised:
        async with connected(hub.url("/mcp/time")):
            pass
    error: BaseException = raised.value
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, MCPError), raised.value
    return error.error.message
