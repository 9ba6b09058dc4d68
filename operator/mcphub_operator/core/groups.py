"""Resolve an ``MCPGroup``'s members from the servers that exist right now.

Members are the union of the names in ``spec.servers`` and the MCPServers
whose labels match ``spec.selector``.  A named member that does not exist is
reported, not fatal: GitOps tools apply objects in any order, and the group
becomes Ready on its own once the server appears.  The resolution is a pure
function of the group and a snapshot of the namespace's servers, which the
handlers keep in a kopf index, so following a label change costs no API call.

A group is Ready when it has members, all of them exist and all of them are
Ready: a client of its endpoint can then use every tool it lists.  Otherwise
``Ready=False`` says why -- no member at all, a missing one, or which members
are not Ready and why each is not -- and kstatus' conditions follow the
members: the group is Reconciling while a member not Ready is still on its
way up, and Stalled when waiting will not help (a member missing, none
selected, or a member Stalled or idle without being Ready).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcphub_api import MCPGroup
from mcphub_api.toolpolicy import passes
from mcphub_operator.core.conditions import (
    Observed,
    Progress,
    Resolution,
    Transition,
    progress,
    settle,
)

MEMBERSHIP = Resolution("MembersResolved", "AllMembersFound", "MemberNotFound")


@dataclass(frozen=True)
class ServerSnapshot:
    """What a group needs to know about one MCPServer."""

    name: str
    labels: Mapping[str, str]
    tools: tuple[str, ...]
    ready: bool
    # Why it is (not) Ready -- its Ready reason -- and whether it is getting there.
    why: str
    progress: Progress


def endpoint(group: MCPGroup) -> str:
    """Where the hub serves the group: unambiguous whichever namespaces a hub serves."""
    return f"/mcp/{group.metadata.namespace}/{group.metadata.name}"


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _readiness(members: Sequence[ServerSnapshot], namespace: str) -> list[Observed]:
    """MembersReady, Ready, Reconciling and Stalled for resolved ``members``."""
    if not members:
        message = f"no MCPServer in {namespace} is a member: spec.selector matches none"
        return [
            Observed("MembersReady", "False", "NoMembers", message),
            Observed("Ready", "False", "NoMembers", message),
            *progress("Failed", "NoMembers", message),
        ]
    waiting = [member for member in members if not member.ready]
    if not waiting:
        message = f"all {len(members)} members are Ready"
        return [
            Observed("MembersReady", "True", "AllMembersReady", message),
            Observed("Ready", "True", "AllMembersReady", message),
            *progress("Current", "AllMembersReady", message),
        ]
    reason = "NoMemberReady" if len(waiting) == len(members) else "MembersNotReady"
    listed = ", ".join(f"{member.name!r} ({member.why})" for member in waiting)
    message = f"{len(members) - len(waiting)} of {len(members)} members Ready; not Ready: {listed}"
    state: Progress = "InProgress" if any(m.progress == "InProgress" for m in waiting) else "Failed"
    return [
        Observed("MembersReady", "False", reason, message),
        Observed("Ready", "False", reason, message),
        *progress(state, reason, message),
    ]


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
    namespace = group.metadata.namespace
    summary = f"{len(members)} member servers, {tool_count} tools"
    if missing:
        problem = (
            f"MCPServer {_quoted(missing)} named in spec.servers does not exist in {namespace}"
        )
        observed = [
            *MEMBERSHIP.conclude(problem, summary),
            Observed("MembersReady", "Unknown", MEMBERSHIP.broken_reason, problem),
        ]
    else:
        observed = [
            MEMBERSHIP.observe(None, summary),
            *_readiness([by_name[name] for name in sorted(members)], namespace),
        ]
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
