"""``MCPServer``: one MCP server, run in a pod or reached at a remote URL.

A server either runs from a container image (``spec.container``; the operator
makes a Deployment and a Service) or already runs elsewhere
(``spec.remote``; no pod).  Exactly one of the two is set, and CEL rules say
so at admission, with a message that tells which field to fix.

A ``stdio`` server runs from its own image unchanged: the operator puts a
bridge in the pod that serves it over streamable HTTP, so the hub always talks
HTTP to a Service.  A remote server therefore cannot be ``stdio``.

The status is what the operator saw, not what the spec hopes for: the
``serverInfo`` and ``tools`` come from a real MCP ``initialize`` and
``tools/list`` against the running server.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from mcphub_api.meta import (
    APIModel,
    Conditions,
    ConfigMapKeySelector,
    Glob,
    KindInfo,
    Name,
    Resource,
    SecretKeySelector,
    age_column,
    api_config,
    cel,
    dns_label_name_rule,
    list_map,
    ready_column,
)

Transport = Literal["stdio", "streamable-http", "sse"]
ToolName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
HeaderName = Annotated[
    str, Field(min_length=1, max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
]
EnvName = Annotated[
    str, Field(min_length=1, max_length=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
]
Quantity = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]


class EnvVarSource(APIModel):
    """Where an environment variable's value comes from: a Secret or a ConfigMap key."""

    model_config = api_config(
        cel(
            "has(self.secretKeyRef) != has(self.configMapKeyRef)",
            "set exactly one of secretKeyRef or configMapKeyRef",
        )
    )

    secret_key_ref: SecretKeySelector | None = None
    """Take the value from a key of a Secret."""

    config_map_key_ref: ConfigMapKeySelector | None = None
    """Take the value from a key of a ConfigMap."""


class EnvVar(APIModel):
    """An environment variable of the server's process."""

    model_config = api_config(
        cel(
            "!(has(self.value) && has(self.valueFrom))",
            "set value or valueFrom, not both",
        )
    )

    name: EnvName
    """Name of the variable."""

    value: str | None = Field(default=None, max_length=32768)
    """A literal value."""

    value_from: EnvVarSource | None = None
    """Take the value from a Secret or ConfigMap key instead of a literal."""


class LocalObjectReference(APIModel):
    """A reference to an object in the same namespace, by name."""

    name: Name
    """Name of the referenced object."""


class EnvFromSource(APIModel):
    """Every key of a Secret or ConfigMap, as environment variables."""

    model_config = api_config(
        cel(
            "has(self.secretRef) != has(self.configMapRef)",
            "set exactly one of secretRef or configMapRef",
        )
    )

    prefix: str | None = Field(default=None, max_length=256)
    """Prepended to every key to form the variable name."""

    secret_ref: LocalObjectReference | None = None
    """The Secret whose keys become variables."""

    config_map_ref: LocalObjectReference | None = None
    """The ConfigMap whose keys become variables."""


class ResourceRequirements(APIModel):
    """Compute resources of the server container, as in a Pod's container."""

    requests: dict[str, Quantity] | None = Field(default=None, max_length=8)
    """Minimum resources, for example cpu: 50m, memory: 64Mi."""

    limits: dict[str, Quantity] | None = Field(default=None, max_length=8)
    """Maximum resources, for example memory: 256Mi."""


class Container(APIModel):
    """Run the server in pods from this image; the operator makes a Deployment and a Service."""

    image: str = Field(min_length=1, max_length=512)
    """Container image of the MCP server, for example ghcr.io/org/server:1.2.3."""

    command: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, max_length=32
    )
    """Entrypoint override; the image's own entrypoint when unset."""

    args: list[Annotated[str, Field(max_length=4096)]] | None = Field(default=None, max_length=128)
    """Arguments to the entrypoint."""

    env: list[EnvVar] | None = Field(
        default=None, max_length=128, json_schema_extra=list_map("name")
    )
    """Environment variables, literal or from Secret and ConfigMap keys."""

    env_from: list[EnvFromSource] | None = Field(default=None, max_length=16)
    """Secrets and ConfigMaps whose keys all become environment variables."""

    port: int = Field(default=8080, ge=1, le=65535)
    """TCP port the server listens on (streamable-http, sse) or the stdio bridge serves."""

    path: str = Field(default="/mcp", max_length=512, pattern=r"^/[^\s?#]*$")
    """HTTP path of the MCP endpoint inside the pod."""

    replicas: int = Field(default=1, ge=0, le=100)
    """Number of pods. perClient servers keep state per session: use 1 unless it is shared."""

    resources: ResourceRequirements | None = None
    """CPU and memory requests and limits of the server container."""

    service_account_name: Name | None = None
    """ServiceAccount the pods run as; none is mounted unless this is set."""

    pod_template: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    """A partial PodTemplateSpec merged over the generated one, for what this API does not cover."""


class HeaderSource(APIModel):
    """Where a header's value comes from."""

    secret_key_ref: SecretKeySelector
    """Take the value from a key of a Secret in the same namespace."""


class Header(APIModel):
    """An HTTP header the hub sends to the remote server with every request."""

    model_config = api_config(
        cel(
            "has(self.value) != has(self.valueFrom)",
            "set exactly one of value or valueFrom; credentials belong in valueFrom.secretKeyRef",
        )
    )

    name: HeaderName
    """Header name, for example Authorization."""

    value: str | None = Field(default=None, max_length=8192)
    """A literal value, for headers that are not secret."""

    value_from: HeaderSource | None = None
    """Take the value from a Secret key; use this for credentials."""


class Remote(APIModel):
    """Reach a server that already runs elsewhere; no pod is created."""

    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://[^\s]+$")
    """URL of the server's MCP endpoint, http:// or https://."""

    headers: list[Header] | None = Field(
        default=None, max_length=32, json_schema_extra=list_map("name")
    )
    """Headers sent with every request, for example an API key from a Secret."""


class ToolOverride(APIModel):
    """How one upstream tool is presented to clients."""

    name: ToolName
    """The tool's name as the upstream server reports it."""

    alias: ToolName | None = None
    """A name to publish instead, unique within this server."""

    title: str | None = Field(default=None, max_length=256)
    """A human-readable title to publish instead of the upstream one."""

    description: str | None = Field(default=None, max_length=8192)
    """A description to publish instead of the upstream one."""


class ToolPolicy(APIModel):
    """Which of the server's tools are published, and how."""

    model_config = api_config(
        cel(
            "!has(self.overrides) || self.overrides.all(o, !has(o.alias) || "
            "self.overrides.exists_one(p, has(p.alias) && p.alias == o.alias))",
            "tool aliases must be unique within the server",
            field_path=".overrides",
        )
    )

    include: list[Glob] | None = Field(default=None, max_length=64)
    """Glob patterns of tool names to publish; all tools when unset."""

    exclude: list[Glob] | None = Field(default=None, max_length=64)
    """Glob patterns of tool names to hide; applied after include."""

    overrides: list[ToolOverride] | None = Field(
        default=None, max_length=64, json_schema_extra=list_map("name")
    )
    """Per-tool description, title or alias, keyed by the upstream tool name."""


class MCPServerSpec(APIModel):
    """Desired state of an MCPServer: where it runs and what of it is published."""

    model_config = api_config(
        cel(
            "has(self.container) != has(self.remote)",
            "set exactly one of spec.container (run the server in a pod) "
            "or spec.remote (reach a server that runs elsewhere)",
        ),
        cel(
            "self.transport != 'stdio' || has(self.container)",
            "transport stdio needs spec.container: a stdio server runs in a pod "
            "behind a bridge; a remote server must use streamable-http or sse",
            field_path=".transport",
        ),
        cel(
            "self.transport != 'stdio' || !has(self.container) || has(self.container.command)",
            "transport stdio needs spec.container.command, the server's entrypoint: the bridge "
            "starts it through named pipes and cannot read it from the image",
            field_path=".container.command",
        ),
    )

    transport: Transport = "streamable-http"
    """How the server speaks MCP: stdio (bridged to HTTP in the pod), streamable-http or sse."""

    container: Container | None = None
    """Run the server in pods from a container image. Exclusive with remote."""

    remote: Remote | None = None
    """Reach a server that already runs at a URL. Exclusive with container."""

    tools: ToolPolicy | None = None
    """Which tools to publish, and per-tool overrides."""

    session_mode: Literal["shared", "perClient"] = "shared"
    """shared: one upstream session serves every client. perClient: one per client session."""


class ServerInfo(APIModel):
    """What the server said about itself in the MCP initialize handshake."""

    name: str = Field(max_length=256)
    """Server implementation name."""

    version: str = Field(default="", max_length=256)
    """Server implementation version."""

    protocol_version: str = Field(max_length=64)
    """MCP protocol version agreed in the handshake."""

    capabilities: list[Annotated[str, Field(max_length=64)]] = Field(default=[], max_length=32)
    """Capabilities the server declared: tools, prompts, resources, logging, completions, ..."""


class ToolStatus(APIModel):
    """One tool as listed by the running server."""

    name: ToolName
    """Tool name as published (after aliases)."""

    description: str = Field(default="", max_length=8192)
    """Tool description as published."""

    description_hash: str = Field(max_length=80)
    """sha256 of the description; changes when the upstream rewrites it."""

    input_schema_hash: str = Field(max_length=80)
    """sha256 of the canonical JSON of the input schema."""


class MCPServerStatus(APIModel):
    """Observed state of an MCPServer, from the cluster and from MCP itself."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this status describes."""

    conditions: Conditions | None = None
    """Ready, Available, Verified and Degraded, with reasons."""

    url: str | None = Field(default=None, max_length=2048)
    """Where the hub reaches the server's MCP endpoint."""

    server_info: ServerInfo | None = None
    """Name, version, protocol version and capabilities from the handshake."""

    tools: list[ToolStatus] | None = Field(default=None, max_length=1024)
    """Tools from a real tools/list against the server, filters applied."""

    tool_count: int | None = Field(default=None, ge=0)
    """Number of published tools."""


class MCPServer(Resource):
    """An MCP server run by the operator in pods, or reached at a remote URL."""

    info: ClassVar[KindInfo] = KindInfo(
        kind="MCPServer",
        plural="mcpservers",
        singular="mcpserver",
        short_names=("mcps",),
        description=__doc__ or "",
        printer_columns=(
            {"name": "Transport", "type": "string", "jsonPath": ".spec.transport"},
            ready_column(),
            {"name": "Tools", "type": "integer", "jsonPath": ".status.toolCount"},
            {"name": "URL", "type": "string", "jsonPath": ".status.url"},
            age_column(),
        ),
        root_rules=(dns_label_name_rule("the server's Service and the prefix of its tools"),),
    )

    kind: Literal["MCPServer"] = "MCPServer"
    spec: MCPServerSpec
    """Where the server runs and what of it is published."""

    status: MCPServerStatus | None = None
    """What the operator observed."""
