"""A stdio MCP server written without the SDK, for the dashboard's tests, in two characters.

``shapes``: one tool, ``shape``, whose input schema has every shape the
dashboard's form generator handles (strings, numbers, integers, booleans,
enums, arrays, a nested object, required fields); a call sends two progress
notifications (when the request asks for progress) and answers with the
arguments it got as JSON text, a small PNG, an embedded resource and a
resource link.  A tool ``fails`` answers with ``isError``.

``evil``: an untrusted server as an attacker would write it.  Its tool names,
titles, descriptions, schema property names, titles, descriptions, enum values
and defaults, its prompts and resources, and every part of its results carry
HTML and script that would set ``window.pwned`` or request the canary URL
given as the second argument, if a browser ever ran them.  The SDK would
refuse to send some of this, which is why the server is written raw.

Run it as ``python tests/hub_proxy/dashboard/raw_server.py shapes|evil [CANARY_URL]``.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any

CANARY = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:9/canary"


def payload(tag: str) -> str:
    """Markup that would run script, marked with ``tag`` so that a test can find it as text."""
    return (
        f"{tag}<script>window.pwned='{tag} script'</script>"
        f"<img src=x onerror=\"window.pwned='{tag} img';fetch('{CANARY}/{tag}')\">"
        f"<svg onload=\"window.pwned='{tag} svg'\"></svg>"
        f'"><a href="javascript:window.pwned=\'{tag} link\'">click</a>'
    )


# A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d1c2"
        "3a0000000049454e44ae426082"
    )
).decode()

SHAPE_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "title": "Some text", "description": "Any words."},
        "count": {"type": "integer", "description": "How many."},
        "ratio": {"type": "number", "default": 0.5},
        "loud": {"type": "boolean"},
        "colour": {"type": "string", "enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "where": {
            "type": "object",
            "description": "A nested object.",
            "properties": {
                "city": {"type": "string"},
                "floor": {"type": "integer"},
            },
            "required": ["city"],
        },
        "extra": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["text", "count"],
}

SHAPES_TOOLS = [
    {
        "name": "shape",
        "description": "Echoes its arguments, with progress.",
        "inputSchema": SHAPE_SCHEMA,
    },
    {"name": "fails", "description": "Always reports an error.", "inputSchema": {"type": "object"}},
]


def name_payload(tag: str) -> str:
    """:func:`payload` for a name: markup without whitespace, which no hub would publish."""
    return (
        f"{tag}<script>window.pwned='{tag}-script'</script>"
        f"<svg/onload=window.pwned='{tag}-svg'>"
        f"<img/src=x/onerror=fetch('{CANARY}/{tag}')>"
    )


def evil_tools() -> list[dict[str, Any]]:
    return [
        {
            "name": f"evil{name_payload('name')}",
            "title": payload("title"),
            "description": payload("description"),
            "inputSchema": {
                "type": "object",
                "properties": {
                    payload("property"): {
                        "type": "string",
                        "title": payload("field-title"),
                        "description": payload("field-description"),
                        "default": payload("default"),
                    },
                    "choice": {"type": "string", "enum": [payload("enum"), "plain"]},
                    "nested": {
                        "type": "object",
                        "title": payload("legend"),
                        "properties": {"inner": {"type": "string", "title": payload("inner")}},
                    },
                },
            },
        },
        {
            "name": "plain",
            "description": "An innocent-looking tool.",
            "inputSchema": {"type": "object"},
        },
        # Whitespace: no client could call it, so the hub publishes it nowhere.
        {"name": payload("uncallable"), "inputSchema": {"type": "object"}},
    ]


def evil_result() -> dict[str, Any]:
    svg = base64.b64encode(
        b"<svg xmlns='http://www.w3.org/2000/svg' onload=\"window.pwned='svg image'\"/>"
    ).decode()
    return {
        "content": [
            {"type": "text", "text": payload("result-text")},
            {"type": "image", "mimeType": "image/svg+xml", "data": svg},
            {"type": "image", "mimeType": 'image/png" onerror="window.pwned=1', "data": PIXEL},
            {
                "type": "resource_link",
                "uri": "javascript:window.pwned='resource link'",
                "name": payload("link-name"),
                "description": payload("link-description"),
            },
            {
                "type": "resource",
                "resource": {"uri": payload("resource-uri"), "text": payload("resource-text")},
            },
        ],
        "structuredContent": {payload("structured-key"): payload("structured-value")},
    }


def shapes_result(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("name") == "fails":
        return {"content": [{"type": "text", "text": "this tool always fails"}], "isError": True}
    arguments = params.get("arguments") or {}
    return {
        "content": [
            {"type": "text", "text": json.dumps(arguments, sort_keys=True)},
            {"type": "image", "mimeType": "image/png", "data": PIXEL},
            {"type": "resource", "resource": {"uri": "memo://shape", "text": "a memo"}},
            {"type": "resource_link", "uri": "memo://elsewhere", "name": "elsewhere"},
        ]
    }


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def answer(character: str, request: dict[str, Any]) -> dict[str, Any] | None:  # noqa: PLR0911
    method, params = request["method"], request.get("params") or {}
    evil = character == "evil"
    match method:
        case "initialize":
            kinds = ("tools", "prompts", "resources") if evil else ("tools",)
            capabilities: dict[str, Any] = {kind: {} for kind in kinds}
            return {
                "protocolVersion": params["protocolVersion"],
                "capabilities": capabilities,
                "serverInfo": {"name": payload("server") if evil else "shapes", "version": "1"},
            }
        case "tools/list":
            return {"tools": evil_tools() if evil else SHAPES_TOOLS}
        case "prompts/list":
            return {
                "prompts": [{"name": name_payload("prompt"), "description": payload("prompt-d")}]
            }
        case "resources/list":
            uri = f"memo://{payload('resource')}"
            return {"resources": [{"uri": uri, "name": "r", "description": payload("resource-d")}]}
        case "resources/templates/list":
            return {"resourceTemplates": []}
        case "tools/call":
            token = (params.get("_meta") or {}).get("progressToken")
            if token is not None:
                for step in (1, 2):
                    message = payload("progress") if evil else f"step {step} of 2"
                    progress = {"progressToken": token, "progress": step, "total": 2}
                    send(
                        {
                            "method": "notifications/progress",
                            "params": {**progress, "message": message},
                        }
                    )
                    time.sleep(0.2)
            return evil_result() if evil else shapes_result(params)
        case "ping":
            return {}
    return None


def main() -> None:
    character = sys.argv[1]
    for line in sys.stdin:
        request = json.loads(line)
        if "id" not in request:
            continue
        result = answer(character, request)
        if result is None:
            send({"id": request["id"], "error": {"code": -32601, "message": "method not found"}})
        else:
            send({"id": request["id"], "result": result})


if __name__ == "__main__":
    main()
