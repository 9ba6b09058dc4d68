"""What a server's tool policy and a group's tool filters mean, in one place.

The operator applies these rules when it writes ``status.tools`` and the hub
applies them when it publishes tools to clients; both import this module so
that the list a cluster admin reads with kubectl is the list an AI client sees.

Patterns are shell-style globs matched case-sensitively against the upstream
tool name (``get_*``, ``*_issue``, ``echo``).  Include narrows, exclude then
removes; overrides rename (alias), retitle or redescribe a tool by its
upstream name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from mcphub_api.mcpgroup import ToolFilter
from mcphub_api.mcpserver import ToolPolicy


def matches_any(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def passes(name: str, rules: ToolPolicy | ToolFilter | None) -> bool:
    """Whether include/exclude let ``name`` through (everything passes without rules)."""
    if rules is None:
        return True
    if rules.include is not None and not matches_any(name, rules.include):
        return False
    return not (rules.exclude is not None and matches_any(name, rules.exclude))


@dataclass(frozen=True)
class PublishedTool:
    """A tool as clients see it, and the upstream name calls are routed to."""

    name: str
    upstream_name: str
    title: str | None
    description: str


def publish(
    upstream_name: str,
    description: str,
    title: str | None,
    policy: ToolPolicy | None,
) -> PublishedTool | None:
    """Apply a server's tool policy to one upstream tool; None when it is hidden."""
    if not passes(upstream_name, policy):
        return None
    overrides = (policy.overrides if policy else None) or []
    override = next((o for o in overrides if o.name == upstream_name), None)
    if override is None:
        return PublishedTool(upstream_name, upstream_name, title, description)
    return PublishedTool(
        name=override.alias or upstream_name,
        upstream_name=upstream_name,
        title=override.title if override.title is not None else title,
        description=override.description if override.description is not None else description,
    )
