"""Tool corpus files (the format of the shared evaluation set), as documents.

One JSON file per server: ``{"server", "description", "tools": [{"name",
"title", "description", "inputSchema"}]}``.  The evaluate command indexes
them; the tests' MCP server serves one of them over stdio.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub_proxy.search.texts import ToolDocument, ToolKey


def load_server(path: Path) -> Mapping[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("tools"), list):
        raise ValueError(f"{path}: not a corpus file (an object with a 'tools' list)")
    return data


def documents(server: Mapping[str, Any]) -> list[ToolDocument]:
    name = str(server.get("server") or "")
    description = str(server.get("description") or "")
    return [
        ToolDocument(
            ToolKey(name, str(tool["name"])),
            description=str(tool.get("description") or ""),
            title=tool.get("title") if isinstance(tool.get("title"), str) else None,
            input_schema=tool.get("inputSchema") or {},
            server_description=description,
        )
        for tool in server["tools"]
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str)
    ]


def load_folder(folder: Path) -> list[ToolDocument]:
    """Every tool of every ``*.json`` corpus file in ``folder``, in file order."""
    return [
        document
        for path in sorted(folder.glob("*.json"))
        for document in documents(load_server(path))
    ]
