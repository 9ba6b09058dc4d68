"""A stdio MCP server that answers one tool with garbage, to see the bridge survive it.

Written without the SDK, which would never send what this sends: for the tool
``garble`` a line that is no JSON, then an answer whose ``result`` is no
object.  Every other call is answered properly.  Run it as
``python tests/hub_proxy/garbled_server.py``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

TOOLS = [
    {"name": name, "inputSchema": {"type": "object"}, "description": what}
    for name, what in (("garble", "answers with garbage"), ("fine", "answers properly"))
]


def answer(request: dict[str, Any]) -> dict[str, Any]:
    method, params = request["method"], request.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": params["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "garbled", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        return {"content": [{"type": "text", "text": "fine"}]}
    return {}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if "id" not in request:
            continue
        if request["method"] == "tools/call" and request["params"]["name"] == "garble":
            sys.stdout.write("this is not JSON\n")
            garbage = {"jsonrpc": "2.0", "id": request["id"], "result": "not an object"}
            sys.stdout.write(json.dumps(garbage) + "\n")
        else:
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer(request)}
            sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
