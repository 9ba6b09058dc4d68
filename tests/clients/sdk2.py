"""A plan run by the MCP Python SDK 2.x client, in this process.

The transports: streamable HTTP with a session (the SDK's ``mode="legacy"``),
legacy SSE, and MCP 2026-07-28 (``"modern"``: ``mode="auto"``, opted in to
log messages at ``debug``), where ``subscribe`` opens a
``subscriptions/listen`` stream for the URI instead, whose events count as
``notifications/resources/updated``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp.types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestParams,
    ElicitResult,
    ListRootsResult,
    Root,
    ServerNotification,
    TextContent,
)

from tests.clients.plans import Plan, Report

CALL_SECONDS = 30.0


class _InProcess:
    """The plan's steps in a task of this process; ``wait`` steps wait for :meth:`go`."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._results: list[Any] = []
        self._notifications: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []
        self._waiting: asyncio.Queue[str] = asyncio.Queue()
        self._going = asyncio.Event()
        self._listens: list[asyncio.Task[None]] = []
        self.task: asyncio.Task[None] | None = None

    async def reached(self, label: str) -> Report:
        waiting = asyncio.create_task(self._waiting.get())
        assert self.task is not None
        await asyncio.wait({waiting, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            waiting.cancel()
            self.task.result()  # raises what ended the plan early
            raise AssertionError(f"the plan ended before reaching {label!r}")
        assert waiting.result() == label, (waiting.result(), label)
        return Report(list(self._results), list(self._notifications), list(self._requests))

    def go(self, given: str = "") -> None:
        # Task steps, the only ones that take what is handed over, are not the SDK 2.x's.
        del given
        self._going.set()

    async def report(self) -> Report:
        assert self.task is not None
        await self.task
        return Report(self._results, self._notifications, self._requests)

    def client(self) -> Client:
        plan = self._plan
        http = create_mcp_http_client(headers=dict(plan.headers))
        callbacks: dict[str, Any] = {"message_handler": self._on_message}
        if plan.roots is not None:
            callbacks["list_roots_callback"] = self._list_roots
        if plan.sampling is not None:
            callbacks["sampling_callback"] = self._sample
        if plan.elicitation is not None:
            callbacks["elicitation_callback"] = self._elicit
        if plan.transport == "sse":
            server: Any = sse_client(plan.url, headers=dict(plan.headers))
        else:
            server = streamable_http_client(plan.url, http_client=http)
        if plan.transport == "modern":
            return Client(
                server,
                mode="auto",
                log_level="debug",
                read_timeout_seconds=CALL_SECONDS,
                **callbacks,
            )
        return Client(server, mode="legacy", read_timeout_seconds=CALL_SECONDS, **callbacks)

    async def run(self, client: Client) -> None:
        try:
            for step in self._plan.steps:
                self._results.append(await self._step(client, step))
        finally:
            for listen in self._listens:
                listen.cancel()
            await asyncio.gather(*self._listens, return_exceptions=True)

    async def _step(self, client: Client, step: Any) -> Any:  # noqa: PLR0911 - one per kind
        match step["do"]:
            case "call":
                return await _attempt(client.call_tool(step["name"], step.get("arguments", {})))
            case "subscribe" if self._plan.transport == "modern":
                return await self._listen(client, step["uri"])
            case "subscribe":
                return await _attempt(client.subscribe_resource(step["uri"]))
            case "unsubscribe":
                return await _attempt(client.unsubscribe_resource(step["uri"]))
            case "roots_changed":
                await client.send_roots_list_changed()
                return {"result": {}}
            case "sleep":
                await asyncio.sleep(step["seconds"])
                return None
            case "wait":
                self._going.clear()
                self._waiting.put_nowait(step["label"])
                await self._going.wait()
                return None
        raise ValueError(f"unknown step {step}")

    async def _listen(self, client: Client, uri: str) -> Any:
        acknowledged = asyncio.get_running_loop().create_future()

        async def listen() -> None:
            async with client.listen(resource_subscriptions=[uri]) as subscription:
                honored = subscription.honored.model_dump(mode="json", exclude_none=True)
                acknowledged.set_result(honored)
                async for event in subscription:
                    if isinstance(event, ResourceUpdated):
                        params = {"uri": event.uri}
                        self._notifications.append(
                            {"method": "notifications/resources/updated", "params": params}
                        )

        self._listens.append(asyncio.create_task(listen()))
        return {"result": await acknowledged}

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, ServerNotification):
            dumped = message.model_dump(mode="json", by_alias=True, exclude_none=True)
            self._notifications.append(
                {"method": dumped["method"], "params": dumped.get("params") or {}}
            )

    async def _list_roots(self, _context: ClientRequestContext) -> ListRootsResult:
        self._requests.append({"method": "roots/list", "params": {}})
        assert self._plan.roots is not None
        return ListRootsResult(roots=[Root.model_validate(root) for root in self._plan.roots])

    async def _sample(
        self, _context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult:
        dumped = params.model_dump(mode="json", by_alias=True, exclude_none=True)
        self._requests.append({"method": "sampling/createMessage", "params": dumped})
        text = self._plan.sampling or ""
        reply = TextContent(type="text", text=text)
        return CreateMessageResult(role="assistant", content=reply, model=f"{text}-model")

    async def _elicit(
        self, _context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        dumped = params.model_dump(mode="json", by_alias=True, exclude_none=True)
        self._requests.append({"method": "elicitation/create", "params": dumped})
        return ElicitResult(action="accept", content=dict(self._plan.elicitation or {}))


async def _attempt(work: Any) -> Any:
    try:
        result = await work
    except MCPError as exc:
        return {"error": {"code": exc.error.code, "message": exc.error.message}}
    return {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True)}


@asynccontextmanager
async def driving_sdk2(plan: Plan) -> AsyncIterator[_InProcess]:
    """Run ``plan`` with the SDK 2.x client in a task, cancelled if it still runs at the end."""
    driven = _InProcess(plan)

    async def connected_run() -> None:
        async with driven.client() as client:
            await driven.run(client)

    driven.task = asyncio.create_task(connected_run())
    try:
        yield driven
    finally:
        driven.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await driven.task
