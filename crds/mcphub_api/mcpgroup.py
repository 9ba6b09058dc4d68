"""``MCPGroup``: a named set of MCPServers, published by the hub as one endpoint.

Members are named explicitly, selected by labels, or both; the union counts.
A member that does not exist is not an error at admission -- GitOps tools
apply objects in any order -- but a condition on the group that names it,
until it appears.  Each explicit member may narrow the tools it contributes.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mcphub_api.meta import (
    APIModel,
    Conditions,
    Glob,
    KindInfo,
    LabelSelector,
    Name,
    Resource,
    age_column,
    api_config,
    cel,
    dns_label_name_rule,
    list_map,
    ready_column,
)


class ToolFilter(APIModel):
    """Which of a member's tools the group publishes."""

    include: list[Glob] | None = Field(default=None, max_length=64)
    """Glob patterns of tool names to publish; all tools when unset."""

    exclude: list[Glob] | None = Field(default=None, max_length=64)
    """Glob patterns of tool names to hide; applied after include."""


class GroupMember(APIModel):
    """An MCPServer of the group's namespace, named explicitly."""

    name: Name
    """Name of the MCPServer."""

    tools: ToolFilter | None = None
    """Narrow the tools this member contributes to the group."""


class SmartRouting(APIModel):
    """Tool search over the group: the hub serves it at /mcp/$smart/{group}.

    That endpoint has two tools, search_tools (find the group's tools that fit a
    request, ranked by meaning and by name) and call_tool (call one of them by
    the name search_tools gave), the shape MCPHub's smart routing has: a client
    sees two tools instead of every tool of every member.  Searches see only
    the tools the caller's AccessPolicies let it list.
    """

    model_config = api_config(
        cel(
            "!has(self.defaultLimit) || !has(self.maxLimit) || self.defaultLimit <= self.maxLimit",
            "defaultLimit must not exceed maxLimit",
            field_path=".defaultLimit",
        )
    )

    enabled: bool = False
    """Serve /mcp/$smart/{group}; without it, that path answers 404."""

    default_limit: int = Field(default=10, ge=1, le=100)
    """How many tools search_tools returns when the request sets no limit."""

    max_limit: int = Field(default=50, ge=1, le=100)
    """The largest limit a request may ask for; a larger one is refused with this maximum."""

    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    """Tools scoring below this (0 to 1: cosine similarity fused with name matches) are left out."""


class MCPGroupSpec(APIModel):
    """Desired state of an MCPGroup: its members and how they are published."""

    model_config = api_config(
        cel(
            "(has(self.servers) && size(self.servers) > 0) || has(self.selector)",
            "a group needs members: list spec.servers, set spec.selector, or both",
        )
    )

    servers: list[GroupMember] | None = Field(
        default=None, max_length=256, json_schema_extra=list_map("name")
    )
    """MCPServers named explicitly, each with optional tool filters."""

    selector: LabelSelector | None = None
    """Also include every MCPServer of the namespace whose labels match."""

    smart_routing: SmartRouting | None = None
    """Tool search over the group's tools, at /mcp/$smart/{group}."""


class MCPGroupStatus(APIModel):
    """Observed state of an MCPGroup."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this status describes."""

    conditions: Conditions | None = None
    """Ready, and MembersResolved naming any member that does not exist."""

    servers: list[Name] | None = Field(default=None, max_length=1024)
    """Names of the MCPServers that are members right now."""

    server_count: int | None = Field(default=None, ge=0)
    """Number of member servers."""

    tool_count: int | None = Field(default=None, ge=0)
    """Number of tools the group publishes."""

    endpoint: str | None = Field(default=None, max_length=512)
    """Path of the group's endpoint on the hub, for example /mcp/{namespace}/{group}."""


class MCPGroup(Resource):
    """A set of MCPServers that the hub publishes behind one MCP endpoint."""

    info: ClassVar[KindInfo] = KindInfo(
        kind="MCPGroup",
        plural="mcpgroups",
        singular="mcpgroup",
        short_names=("mcpg",),
        description=__doc__ or "",
        printer_columns=(
            {"name": "Servers", "type": "integer", "jsonPath": ".status.serverCount"},
            {"name": "Tools", "type": "integer", "jsonPath": ".status.toolCount"},
            ready_column(),
            {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpoint"},
            age_column(),
        ),
        root_rules=(dns_label_name_rule("the group's endpoint path on the hub"),),
    )

    kind: Literal["MCPGroup"] = "MCPGroup"
    spec: MCPGroupSpec
    """Members and publishing settings."""

    status: MCPGroupStatus | None = None
    """What the operator observed."""
