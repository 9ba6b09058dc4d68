"""An MCP client on the Python SDK 1.x, driven by a plan: see ``tests/clients/driver.py``.

Run with the test bed's SDK 1.x interpreter (``<cache>/mcp-sdk1-venv``), which
has ``mcp<2`` and nothing of this project's: ``python sdk1_client.py PLAN_JSON``.
One JSON object per line on stdout: at a ``wait`` step, ``{"event": "waiting",
"label", ...}`` with what the client saw so far (a line on stdin lets it go
on), and ``{"event": "report", ...}`` last.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

plan: dict[str, Any] = json.loads(sys.argv[1])
notifications: list[dict[str, Any]] = []
requests: list[dict[str, Any]] = []
results: list[Any] = []
# What the test handed over when it let a "wait" step go on, by the step's label.
given: dict[str, str] = {}


def task_id(ref: dict[str, Any]) -> str:
    if "step" in ref:
        created: str = results[ref["step"]]["result"]["task"]["taskId"]
        return created
    return given[ref["given"]]


def say(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def on_message(message: Any) -> None:
    if isinstance(message, types.ServerNotification):
        notification = message.root
        params = dump(notification.params) if notification.params is not None else {}
        notifications.append({"method": notification.method, "params": params})


async def list_roots(_context: Any) -> types.ListRootsResult:
    requests.append({"method": "roots/list", "params": {}})
    return types.ListRootsResult(roots=[types.Root(**root) for root in plan["roots"]])


async def sample(
    _context: Any, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    requests.append({"method": "sampling/createMessage", "params": dump(params)})
    reply = types.TextContent(type="text", text=plan["sampling"])
    return types.CreateMessageResult(
        role="assistant", content=reply, model=f"{plan['sampling']}-model"
    )


async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    requests.append({"method": "elicitation/create", "params": dump(params)})
    return types.ElicitResult(action="accept", content=plan["elicitation"])


async def attempt(work: Any) -> dict[str, Any]:
    try:
        return {"result": dump(await work)}
    except McpError as exc:
        return {"error": {"code": exc.error.code, "message": exc.error.message}}


def request_of(session: ClientSession, step: dict[str, Any]) -> Any:
    """The request a step sends, not yet awaited; None for the steps that send none."""
    tasks = session.experimental
    requests_of = {
        "call": lambda: session.call_tool(step["name"], step.get("arguments", {})),
        "subscribe": lambda: session.subscribe_resource(step["uri"]),
        "unsubscribe": lambda: session.unsubscribe_resource(step["uri"]),
        "call_task": lambda: tasks.call_tool_as_task(step["name"], step.get("arguments", {})),
        "get_task": lambda: tasks.get_task(task_id(step["task"])),
        "task_result": lambda: tasks.get_task_result(task_id(step["task"]), types.CallToolResult),
        "cancel_task": lambda: tasks.cancel_task(task_id(step["task"])),
        "list_tasks": tasks.list_tasks,
    }
    make = requests_of.get(step["do"])
    return make() if make is not None else None


async def run(session: ClientSession) -> None:
    await session.initialize()
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    for step in plan["steps"]:
        request = request_of(session, step)
        if request is not None:
            results.append(await attempt(request))
            continue
        match step["do"]:
            case "roots_changed":
                await session.send_roots_list_changed()
                results.append({"result": {}})
            case "sleep":
                await asyncio.sleep(step["seconds"])
                results.append(None)
            case "wait":
                report = {"results": results, "notifications": notifications, "requests": requests}
                say({"event": "waiting", "label": step["label"], **report})
                given[step["label"]] = (await stdin.readline()).decode().strip()
                results.append(None)
            case other:
                raise ValueError(f"unknown step {other}")


async def main() -> None:
    headers = plan["headers"]
    if plan["transport"] == "sse":
        transport = sse_client(plan["url"], headers=headers)
    else:
        transport = streamablehttp_client(plan["url"], headers=headers)
    async with transport as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(
            read,
            write,
            sampling_callback=sample if plan["sampling"] is not None else None,
            elicitation_callback=elicit if plan["elicitation"] is not None else None,
            list_roots_callback=list_roots if plan["roots"] is not None else None,
            message_handler=on_message,
        ) as session:
            await run(session)
    say(
        {
            "event": "report",
            "results": results,
            "notifications": notifications,
            "requests": requests,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
