"""Objects the operator's tests apply."""

from __future__ import annotations

from typing import Any


def remote_server(name: str, url: str, **spec: Any) -> dict[str, Any]:
    """An MCPServer reached at ``url`` over streamable HTTP; ``spec`` adds fields."""
    return {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"transport": "streamable-http", "remote": {"url": url}, **spec},
    }
