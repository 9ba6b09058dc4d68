"""Resolve an ``MCPGroup``'s members from the servers that exist right now.

Members are the union of the names in ``spec.servers`` and the MCPServers
whose labels match ``spec.selector``.  A named member that does not exist is
reported, not fatal: GitOps tools apply objects in any order, and the group
becomes Ready on its own once the server appears.  The resolution is a pure
function of the group and a snapshot of the namespace's servers, which the
handlers keep in a kopf index, so following a label change costs no API call.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcphub_api import MCPGroup
from mcphub_api.toolpolicy import passes
from mcphub_operator.core.conditions import Resolution, Transition, settle

MEMBERSHIP = Resolution("MembersResolved", "AllMembersFound", "MemberNotFound")


@dataclass(frozen=True)
class ServerSnapshot:
    """What a group needs to know about one MCPServer."""

    name: str
    labels: Mapping[str, str]
    tools: tuple[str, ...]


def endpoint(group: MCPGroup) -> str:
    return f"/mcp/{group.metadata.namespace}/{group.metadata.name}"


def resolve(
    group: MCPGroup,
    servers: Sequence[ServerSnapshot],
    previous_status: Mapping[str, Any] | None,
    now: datetime.datetime,
) -> tuple[dict[str, Any], list[Transition]]:
    by_name = {server.name: server for server in servers}
    filters = {member.name: member.tools for member in group.spec.servers or []}
    missing = sorted(name for name in filters if name not in by_name)
    members = {name for name in filters if name in by_name}
    if group.spec.selector is not None:
        members |= {s.name for s in servers if group.spec.selector.matches(s.labels)}
    tool_count = sum(
        1 for name in members for tool in by_name[name].tools if passes(tool, filters.get(name))
    )
    problem = None
    if missing:
        names = ", ".join(repr(name) for name in missing)
        namespace = group.metadata.namespace
        problem = f"MCPServer {names} named in spec.servers does not exist in {namespace}"
    observed = MEMBERSHIP.observe(problem, f"{len(members)} member servers, {tool_count} tools")
    status, transitions = settle(
        previous_status, observed, generation=group.metadata.generation, now=now
    )
    status.update(
        servers=sorted(members),
        serverCount=len(members),
        toolCount=tool_count,
        endpoint=endpoint(group),
    )
    return status, transitions
