"""The MCPServer YAML of a remote server, for the hubs tests write folders for."""

from __future__ import annotations

import json


def remote_yaml(name: str, url: str, transport: str = "streamable-http", extra: str = "") -> str:
    """An MCPServer reached at ``url``; ``extra`` goes under ``spec.remote``, indented."""
    return (
        "apiVersion: mcphub.dev/v1alpha1\n"
        "kind: MCPServer\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  transport: {transport}\n"
        "  remote:\n"
        f"    url: {json.dumps(url)}\n"
        f"{extra}"
    )
